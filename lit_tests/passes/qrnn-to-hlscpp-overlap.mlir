// qrnn-to-hlscpp, the x-overlapped step (lstmc.schedule.x_overlap): the columns of x_t do not depend on
// h_{t-1}, so the MVAU of step t computes its h-dependent column folds (XF = floor(I / SIMD) .. CF - 1) first,
// starting each row from the x-part the previous step left in a carried accumulator array, and then, in the
// same flat loop, the x-only folds 0 .. XF - 1 of step t + 1 from x_{t+1} into the next one (copied over with
// the state after the step). Step 0 has no carried x-part: the same loop first runs all folds of step 0
// (numbered CF .. 2CF - 1, every accumulator from 0, x_0's columns), so it runs longer (a run-time bound).
// Here I = H = 6, SIMD = 4: XF = 1, CF = 3, fold 1 straddles x (columns 4, 5) and h (6, 7); PE = 3: RF = 2.
// A reverse direction reads x_t at row T - 1 - t and x_{t+1} at row T - 2 - t (row t at the last step).
// RUN: lstmc-opt %s --verify-diagnostics -p qrnn-to-hlscpp | filecheck %s

// The MVAU process takes t, x's buffer, h, the carried x-part and the next one.
// CHECK-LABEL: hlscpp.func @rec_layer0_gates(
// CHECK-SAME:  [[T:%[0-9a-z_]+]]: index "t", [[XS:%[0-9a-z_]+]]: memref<8x6xsi8> "in0", [[H:%[0-9a-z_]+]]: memref<6xsi8> "in1", [[XACC:%[0-9a-z_]+]]: memref<6xsi11> "xacc0", [[XNEXT:%[0-9a-z_]+]]: memref<6xsi11> "xacc_next0", {{.*}} "out0") {
// CHECK:         [[ROW:%.*]] = hlscpp.binary sub %{{.*}}, [[T]] : (index, index) -> index
// CHECK:         [[T1:%.*]] = hlscpp.binary add [[T]], %{{.*}} : (index, index) -> index
// CHECK-NEXT:    [[MORE:%.*]] = hlscpp.binary lt [[T1]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:    [[TN:%.*]] = hlscpp.select [[MORE]], [[T1]], [[T]] : (i1, index, index) -> index
// CHECK:         [[ROWN:%.*]] = hlscpp.binary sub %{{.*}}, [[TN]] : (index, index) -> index
// CHECK:         [[ZERO:%.*]] = hlscpp.const 0 : index
// CHECK-NEXT:    [[STEP0:%.*]] = hlscpp.binary eq [[T]], [[ZERO]] : (index, index) -> i1
// CHECK-NEXT:    [[LASTSTEP:%.*]] = hlscpp.binary eq [[T1]], %{{.*}} : (index, index) -> i1
// The step's weight memory, the only one (no other MVAU computes step 0's x-part: see @rec_layer0).
// CHECK:         %weights = hlscpp.array static_const
// CHECK:         %acc0 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 1>] : memref<3xsi11>
// CHECK-NEXT:    %acc1 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 1>] : memref<3xsi11>
// The fold counter starts at CF = 3 at step 0 (its own folds), else at XF = 1 (the h phase); the loop runs
// 2 x 3 folds of step 0 + 2 x 1 x folds of step 1 = 8 iterations at step 0, 2 x 2 h folds + 2 x 1 after,
// and at the last step only its 2 x 2 h folds (6 at step 0 when it is the last: a run-time T of 1).
// CHECK:         [[CF:%.*]] = hlscpp.const 3 : index
// CHECK-NEXT:    [[XF:%.*]] = hlscpp.const 1 : index
// CHECK-NEXT:    [[START:%.*]] = hlscpp.select [[STEP0]], [[CF]], [[XF]] : (i1, index, index) -> index
// CHECK-NEXT:    hlscpp.store [[START]], %sf[] : index, memref<index>
// CHECK-NEXT:    [[ONLY:%.*]] = hlscpp.const 6 : index
// CHECK-NEXT:    [[STEP0TRIPS:%.*]] = hlscpp.const 8 : index
// CHECK-NEXT:    [[FIRST:%.*]] = hlscpp.select [[LASTSTEP]], [[ONLY]], [[STEP0TRIPS]] : (i1, index, index) -> index
// CHECK-NEXT:    [[HONLY:%.*]] = hlscpp.const 4 : index
// CHECK-NEXT:    [[FULL:%.*]] = hlscpp.const 6 : index
// CHECK-NEXT:    [[LATER:%.*]] = hlscpp.select [[LASTSTEP]], [[HONLY]], [[FULL]] : (i1, index, index) -> index
// CHECK-NEXT:    [[TRIPS:%.*]] = hlscpp.select [[STEP0]], [[FIRST]], [[LATER]] : (i1, index, index) -> index
// CHECK-NEXT:    hlscpp.for %{{.*}} = 0 to [[TRIPS]] max 8 step 1 pipeline(1) label("mvau") {
// CHECK:           [[SF:%.*]] = hlscpp.load %sf[] : memref<index> -> index
// CHECK-NEXT:      hlscpp.const 0 : index
// CHECK-NEXT:      [[FIRSTX:%.*]] = hlscpp.binary eq [[SF]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      hlscpp.const 0 : index
// CHECK-NEXT:      [[LASTX:%.*]] = hlscpp.binary eq [[SF]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      hlscpp.const 1 : index
// CHECK-NEXT:      [[FIRSTH:%.*]] = hlscpp.binary eq [[SF]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      hlscpp.const 3 : index
// CHECK-NEXT:      [[FIRST0:%.*]] = hlscpp.binary eq [[SF]], %{{.*}} : (index, index) -> i1
// A row's last fold: CF - 1 = 2 (steps t > 0) or 2CF - 1 = 5 (step 0).
// CHECK-NEXT:      hlscpp.const 2 : index
// CHECK-NEXT:      [[LASTH:%.*]] = hlscpp.binary eq [[SF]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      hlscpp.const 5 : index
// CHECK-NEXT:      [[LAST0:%.*]] = hlscpp.binary eq [[SF]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      [[LAST:%.*]] = hlscpp.binary or [[LASTH]], [[LAST0]] : (i1, i1) -> i1
// CHECK-NEXT:      hlscpp.const 1 : index
// CHECK-NEXT:      [[XPHASE:%.*]] = hlscpp.binary lt [[SF]], %{{.*}} : (index, index) -> i1
// The column fold: sf - CF in step 0's range, else sf.
// CHECK-NEXT:      hlscpp.const 3 : index
// CHECK-NEXT:      [[IN0:%.*]] = hlscpp.binary ge [[SF]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      hlscpp.const 3 : index
// CHECK-NEXT:      [[SHIFTED:%.*]] = hlscpp.binary sub [[SF]], %{{.*}} : (index, index) -> index
// CHECK-NEXT:      [[FOLD:%.*]] = hlscpp.select [[IN0]], [[SHIFTED]], [[SF]] : (i1, index, index) -> index
// CHECK:             [[N:%.*]] = hlscpp.binary add
// The x phase starts each row at 0; the h phase starts x's part from the carried x-part, h's from 0; step 0
// starts both from 0.
// CHECK:             hlscpp.if [[FIRSTX]] : i1 {
// CHECK-NEXT:          hlscpp.const 0 : si11
// CHECK-NEXT:          hlscpp.store %{{.*}}, %acc0[%{{.*}}] : si11, memref<3xsi11>
// CHECK:             hlscpp.if [[FIRSTH]] : i1 {
// CHECK-NEXT:          [[CARRIED:%.*]] = hlscpp.load [[XACC]][[[N]]] : memref<6xsi11> -> si11
// CHECK-NEXT:          hlscpp.store [[CARRIED]], %acc0[%{{.*}}] : si11, memref<3xsi11>
// CHECK-NEXT:          hlscpp.const 0 : si11
// CHECK-NEXT:          hlscpp.store %{{.*}}, %acc1[%{{.*}}] : si11, memref<3xsi11>
// CHECK:             hlscpp.if [[FIRST0]] : i1 {
// CHECK-NEXT:          hlscpp.const 0 : si11
// CHECK-NEXT:          hlscpp.store %{{.*}}, %acc0[%{{.*}}] : si11, memref<3xsi11>
// CHECK-NEXT:          hlscpp.const 0 : si11
// CHECK-NEXT:          hlscpp.store %{{.*}}, %acc1[%{{.*}}] : si11, memref<3xsi11>
// CHECK:             hlscpp.binary mul [[FOLD]], %{{.*}} : (index, index) -> index
// One multiplier per lane: x_{t+1} (row T - 2 - t) in the x phase, x_t (row T - 1 - t) in step 0's folds and
// a straddling fold.
// CHECK:               [[XN:%.*]] = hlscpp.load [[XS]][[[ROWN]], [[K:%.*]]] : memref<8x6xsi8> -> si8
// CHECK-NEXT:          [[XC:%.*]] = hlscpp.load [[XS]][[[ROW]], [[K]]] : memref<8x6xsi8> -> si8
// CHECK-NEXT:          [[X:%.*]] = hlscpp.select [[XPHASE]], [[XN]], [[XC]] : (i1, si8, si8) -> si8
// CHECK-NEXT:          [[W:%.*]] = hlscpp.load %weights[[[K]], [[N]]] : memref<12x6xui1> -> ui1
// CHECK-NEXT:          hlscpp.binary mul [[X]], [[W]] : (si8, ui1) -> si8
// CHECK:               hlscpp.store %{{.*}}, %acc0[%{{.*}}] : si11, memref<3xsi11>
// CHECK:               hlscpp.load [[H]][%{{.*}}] : memref<6xsi8> -> si8
// CHECK:               hlscpp.store %{{.*}}, %acc1[%{{.*}}] : si11, memref<3xsi11>
// The x-part of step t + 1 at the last x fold; the row's sum at its last fold (step 0's or after).
// CHECK:             hlscpp.if [[LASTX]] : i1 {
// CHECK-NEXT:          [[XPART:%.*]] = hlscpp.load %acc0[%{{.*}}] : memref<3xsi11> -> si11
// CHECK-NEXT:          hlscpp.store [[XPART]], [[XNEXT]][[[N]]] : si11, memref<6xsi11>
// CHECK:             hlscpp.if [[LAST]] : i1 {
// CHECK:               hlscpp.store %{{.*}}, %group[%{{.*}}] : si16, memref<3xsi16>
// The counter wraps at XF in the x phase, at CF in the h phase and at 2CF in step 0's folds; the last row
// fold of a phase of step t goes on with fold 0 (the x phase).
// CHECK:           [[NEXT:%.*]] = hlscpp.binary add [[SF]], %{{.*}} : (index, index) -> index
// CHECK-NEXT:      hlscpp.const 1 : index
// CHECK-NEXT:      [[WRAPX:%.*]] = hlscpp.binary eq [[NEXT]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      hlscpp.const 3 : index
// CHECK-NEXT:      [[WRAPH:%.*]] = hlscpp.binary eq [[NEXT]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      hlscpp.const 6 : index
// CHECK-NEXT:      [[WRAP0:%.*]] = hlscpp.binary eq [[NEXT]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      [[WRAPXH:%.*]] = hlscpp.binary or [[WRAPX]], [[WRAPH]] : (i1, i1) -> i1
// CHECK-NEXT:      hlscpp.binary or [[WRAPXH]], [[WRAP0]] : (i1, i1) -> i1

// The recurrence: the carried x-part and its next value (no MVAU loop before the steps), the steps, and the
// copies after each step.
// CHECK-LABEL: hlscpp.func @rec_layer0(
// CHECK:         %xacc0 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 0>] : memref<6xsi11>
// CHECK-NEXT:    %xacc_next0 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 0>] : memref<6xsi11>
// CHECK-NOT:     label("mvau")
// CHECK:         hlscpp.for [[STEP:%.*]] = 0 to 8 step 1 label("steps") {
// CHECK-NEXT:      hlscpp.call @rec_layer0_step([[STEP]], {{.*}}, %xacc0, %xacc_next0)
// CHECK:           hlscpp.for %{{.*}} = 0 to 6 step 1 unroll(0) label("copy_state0") {
// CHECK:           hlscpp.for [[I:%.*]] = 0 to 6 step 1 unroll(0) label("copy_xacc0") {
// CHECK-NEXT:        [[V:%.*]] = hlscpp.load %xacc_next0[[[I]]] : memref<6xsi11> -> si11
// CHECK-NEXT:        hlscpp.store [[V]], %xacc0[[[I]]] : si11, memref<6xsi11>
func.func @main(%X: tensor<8x6xf32>) -> (tensor<8x6xf32>) attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<8x6xf32> -> tensor<8x6xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [reverse] -> [reverse] : (tensor<6xsi8>, tensor<8x6xsi8>) -> (tensor<6xsi8>, tensor<8x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<6xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<12x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(3) simd(4) : (tensor<6xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "layer0"}
  %y = qrnn.dequantize %ys by <s8, scale = 0.125, zp = 0> : tensor<8x6xsi8> -> tensor<8x6xf32>
  func.return %y : tensor<8x6xf32>
}
