// qrnn-to-hlscpp: the integer/dataflow model -> hlscpp functions. One process per top-level op (input reader,
// constant, recurrence, output writers) called from the DATAFLOW top function with AXI-Stream ports.
// A recurrence whose step streams (@main: an MVAU and elementwise units on its gates) keeps its state in
// fully partitioned arrays and calls, in a constant-trip `steps` loop, a DATAFLOW step function: the MVAU
// process (one flat loop of (rows/PE) x (cols/SIMD) iterations at II=1, PE lanes unrolled, weights split by
// SIMD (dim 1) and PE (dim 2)) writes each group of gate rows to arrays of E stream lanes, with the depth
// qrnn-to-dataflow recorded; the cell process, running every elementwise unit, reads them, E lanes per
// iteration. Any other recurrence runs
// its units one after the other (@two_mvaus).
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p qrnn-to-hlscpp | filecheck %s
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-to-hlscpp{kernel=my_top}' | filecheck %s --check-prefix=KERNEL

// Every port is an AXI4-Stream of beats with TLAST (by default one 8-bit code per beat): the reader unpacks
// code 0 of each beat; the writers pack one code per beat, TLAST on the last.
// CHECK-LABEL: hlscpp.func @read_X(%{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "in", %{{.*}}: memref<3x4xsi8> "out0") {
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 3 step 1
// CHECK:           hlscpp.for %{{[a-z0-9_]+}} = 0 to 4 step 1 pipeline(1)
// CHECK:             [[BEAT:%.*]] = hlscpp.read %{{.*}} : !hlscpp.stream<!hlscpp.axis<8>> -> !hlscpp.axis<8>
// CHECK:             hlscpp.unpack [[BEAT]][%{{.*}}] : !hlscpp.axis<8> -> si8

// CHECK-LABEL: hlscpp.func @constant_h0(

// The MVAU process: PE = 2 rows of one gate (G = 1) per row fold, so E = 2 lanes; x_t read at the reversed
// step index straight from the scanned input. (`x_overlap = 0` keeps the plain schedule here; the
// x-overlapped one is qrnn-to-hlscpp-overlap.mlir.)
// CHECK-LABEL: hlscpp.func @rec_layer0_gates(
// CHECK-SAME:  [[T:%[0-9a-z_]+]]: index "t", [[XS:%[0-9a-z_]+]]: memref<3x4xsi8> "in0", [[H:%[0-9a-z_]+]]: memref<6xsi8> "in1", [[OUT:%[0-9a-z_]+]]: memref<2x!hlscpp.stream<si16>> "out0") {
// CHECK-NEXT:    [[LAST:%.*]] = hlscpp.const 2 : index
// CHECK-NEXT:    [[TREV:%.*]] = hlscpp.binary sub [[LAST]], [[T]] : (index, index) -> index
// CHECK-NEXT:    %group = hlscpp.array local partition [#hlscpp.partition<complete, 0, 1>] : memref<2xsi16>
// CHECK-NEXT:    %weights = hlscpp.array static_const partition [#hlscpp.partition<cyclic, 2, 1>, #hlscpp.partition<cyclic, 2, 2>] init dense<1> : tensor<10x6xui1> : memref<10x6xui1>
// Per-part partial sums: 4 x si8 x {0, 1} fits si10, 6 x si8 x {0, 1} fits si11.
// CHECK:         %acc0 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 1>] : memref<2xsi10>
// CHECK:         %acc1 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 1>] : memref<2xsi11>
// Row folds 6/2 = 3 times column folds 10/2 = 5: 15 iterations.
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 15 step 1 pipeline(1) label("mvau") {
// CHECK:             hlscpp.for %{{[a-z0-9_]+}} = 0 to 2 step 1 unroll(0)
// CHECK:                 hlscpp.load [[XS]]{{\[}}[[TREV]], %{{.*}}] : memref<3x4xsi8> -> si8
// CHECK:                 hlscpp.binary mul %{{.*}}, %{{.*}} : (si8, ui1) -> si8
// CHECK:                 hlscpp.load [[H]]{{\[}}%{{.*}}] : memref<6xsi8> -> si8
// The completed group leaves for the cell's FIFO lanes.
// CHECK:           hlscpp.for [[E:%[a-z0-9_]+]] = 0 to 2 step 1 unroll(0) label("lanes")
// CHECK:             hlscpp.write [[OUT]]{{\[}}[[E]]], %{{.*}} : memref<2x!hlscpp.stream<si16>>, si16

// The cell process (here one requant): 6 / 2 = 3 iterations of 2 lanes; it stores h_t and y_t itself.
// CHECK-LABEL: hlscpp.func @rec_layer0_cell(%{{.*}}: index "t", %{{.*}}: memref<2x!hlscpp.stream<si16>> "gate0", %{{.*}}: memref<6xsi8> "next0", %{{.*}}: memref<3x6xsi8> "y0") {
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 3 step 1 pipeline(1) label("cell")
// CHECK:           hlscpp.for %{{[a-z0-9_]+}} = 0 to 2 step 1 unroll(0) label("lanes")
// CHECK:             hlscpp.read %{{.*}}[%{{.*}}] : memref<2x!hlscpp.stream<si16>> -> si16
// CHECK:             hlscpp.store %{{.*}}, %{{.*}}[%{{.*}}] : si8, memref<6xsi8>
// CHECK:             hlscpp.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : si8, memref<3x6xsi8>

// The step: a DATAFLOW region of the two processes and their FIFO (depth 2: the cell reads the gate as
// soon as it leaves the MVAU).
// CHECK-LABEL: hlscpp.func @rec_layer0_step(
// CHECK-SAME:  [[ST:%[0-9a-z_]+]]: index "t", [[SX:%[0-9a-z_]+]]: memref<3x4xsi8> "x0", [[SH:%[0-9a-z_]+]]: memref<6xsi8> "state0", [[SN:%[0-9a-z_]+]]: memref<6xsi8> "next0", [[SY:%[0-9a-z_]+]]: memref<3x6xsi8> "y0") dataflow {
// CHECK-NEXT:    %gate0 = hlscpp.stream depth(2) : memref<2x!hlscpp.stream<si16>>
// CHECK-NEXT:    hlscpp.call @rec_layer0_gates([[ST]], [[SX]], [[SH]], %gate0)
// CHECK-NEXT:    hlscpp.call @rec_layer0_cell([[ST]], %gate0, [[SN]], [[SY]])
// CHECK-NEXT:  }

// CHECK-LABEL: hlscpp.func @rec_layer0(%{{.*}}: memref<6xsi8> "in0", %{{.*}}: memref<3x4xsi8> "in1", %{{.*}}: memref<6xsi8> "out0", %{{.*}}: memref<3x6xsi8> "out1") {
// CHECK:         %state0 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 0>] : memref<6xsi8>
// CHECK-NEXT:    %next_state0 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 0>] : memref<6xsi8>
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1) label("init_state0")
// CHECK:         hlscpp.for [[STEP:%[a-z0-9_]+]] = 0 to 3 step 1 label("steps") {
// CHECK-NEXT:      hlscpp.call @rec_layer0_step([[STEP]], %{{.*}}, %state0, %next_state0, %{{.*}})
// CHECK-NEXT:      hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 unroll(0) label("copy_state0")
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1) label("final_state0")

// CHECK-LABEL: hlscpp.func @write_Y(%{{.*}}: memref<3x6xsi8> "in", %{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "out") {
// CHECK:         [[W:%.*]] = hlscpp.pack %{{.*}} count %{{.*}} last %{{.*}} : si8 -> !hlscpp.axis<8>
// CHECK-NEXT:    hlscpp.write %{{.*}}, [[W]] : !hlscpp.stream<!hlscpp.axis<8>>, !hlscpp.axis<8>
// CHECK-LABEL: hlscpp.func @write_h_T(%{{.*}}: memref<6xsi8> "in", %{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "out") {

// The scanned input is split by SIMD = 2 for the MVAU, the scan output by E = 2 for the unit. The top
// function records the kernel's port list (lstmc.ports: names, order, direction, codes, quantizer), which
// lstmc.hls.project.kernel_interface reads.
// CHECK-LABEL: hlscpp.func @lstmc_kernel(
// CHECK-SAME:  [[X:%[0-9a-z_]+]]: !hlscpp.stream<!hlscpp.axis<8>> "X" axis, [[Y:%[0-9a-z_]+]]: !hlscpp.stream<!hlscpp.axis<8>> "Y" axis, [[HT:%[0-9a-z_]+]]: !hlscpp.stream<!hlscpp.axis<8>> "h_T" axis) top dataflow block_control(ap_ctrl_chain)
// CHECK-SAME:  attributes {lstmc.ports = [{name = "X", direction = "in", shape = array<i64: 3, 4>, element_type = si8, quant = #qrnn.quant<s8, scale = 0.125, zp = 0>, sequence = false, beat_bits = 8 : i64, codes_per_beat = 1 : i64},
// CHECK-SAME:  {name = "Y", direction = "out", shape = array<i64: 3, 6>, element_type = si8, quant = {{.*}}, sequence = false, beat_bits = 8 : i64, codes_per_beat = 1 : i64},
// CHECK-SAME:  {name = "h_T", direction = "out", shape = array<i64: 6>, element_type = si8, quant = {{.*}}, sequence = false, beat_bits = 8 : i64, codes_per_beat = 1 : i64}]} {
// CHECK-NEXT:    %h0 = hlscpp.array
// CHECK-NEXT:    %x = hlscpp.array local partition [#hlscpp.partition<cyclic, 2, 2>] : memref<3x4xsi8>
// CHECK-NEXT:    %ys = hlscpp.array local partition [#hlscpp.partition<cyclic, 2, 2>] : memref<3x6xsi8>
// CHECK-NEXT:    %hT = hlscpp.array
// CHECK-NEXT:    hlscpp.call @read_X([[X]], %x)
// CHECK-NEXT:    hlscpp.call @constant_h0(%h0)
// CHECK-NEXT:    hlscpp.call @rec_layer0(%h0, %x, %hT, %ys)
// CHECK-NEXT:    hlscpp.call @write_Y(%ys, [[Y]])
// CHECK-NEXT:    hlscpp.call @write_h_T(%hT, [[HT]])
// CHECK-NEXT:  }
// CHECK-NOT:   func.func
// CHECK-NOT:   qrnn.
// CHECK:       // {{[-]+}}

// KERNEL: hlscpp.func @my_top({{.*}}) top dataflow block_control(ap_ctrl_chain) attributes {lstmc.ports = [{{.*}}]{{.*}}} {
func.func @main(%X: tensor<3x4xf32>) -> (tensor<3x6xf32>, tensor<6xf32>) attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y", "h_T"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x4xf32> -> tensor<3x4xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [reverse] -> [reverse] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(2) simd(2) {x_overlap = 0 : i64} : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "layer0"}
  %y = qrnn.dequantize %ys by <s8, scale = 0.125, zp = 0> : tensor<3x6xsi8> -> tensor<3x6xf32>
  %hf = qrnn.dequantize %hT by <s8, scale = 0.125, zp = 0> : tensor<6xsi8> -> tensor<6xf32>
  func.return %y, %hf : tensor<3x6xf32>, tensor<6xf32>
}

// -----
// Not streamed: two MVAUs in one body. Each step copies x_t in, runs its units one after the other on whole
// vectors (the MVAU into an array), then writes back the state and the step's output.
// CHECK-LABEL: hlscpp.func @rec_cell(
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 3 step 1 label("steps") {
// CHECK:           hlscpp.for %{{[a-z0-9_]+}} = 0 to 4 step 1 pipeline(1) label("read_input0")
// CHECK:           hlscpp.for %{{[a-z0-9_]+}} = 0 to 60 step 1 pipeline(1) label("mvau")
// CHECK:           hlscpp.for %{{[a-z0-9_]+}} = 0 to 24 step 1 pipeline(1) label("mvau")
// CHECK:           hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1) label("scaled_sum")
// CHECK:           hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1) label("requant")
// CHECK:           hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1) label("update_state0")
// CHECK:           hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1) label("write_output0")
// CHECK-NOT:   hlscpp.stream depth
// CHECK-NOT:   ) dataflow {
// CHECK:       hlscpp.func @lstmc_kernel(
func.func @two_mvaus(%X: tensor<3x4xf32>) -> tensor<3x6xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x4xf32> -> tensor<3x4xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %a = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %b = dataflow.mvau(%xt) weights(dense<1> : tensor<4x6xsi4>) multipliers(dense<1> : tensor<1x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>) -> tensor<6xsi12>
    %s = qrnn.scaled_sum(%a, %b) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) : (tensor<6xsi16>, tensor<6xsi12>) -> tensor<6xsi17>
    %hn = qrnn.requant %s shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi17> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "cell"}
  %y = qrnn.dequantize %ys by <s8, scale = 0.125, zp = 0> : tensor<3x6xsi8> -> tensor<3x6xf32>
  func.return %y : tensor<3x6xf32>
}

// -----
// Must not convert: float ops are left (the model was not legalized).
// CHECK: qrnn-to-hlscpp: 'qrnn.quant': float ops remain; run qrnn-legalize-precision (and qrnn-to-dataflow) first
func.func @float(%X: tensor<4xf32>) -> tensor<4xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %q = qrnn.quant %X by <s8, scale = 0.125, zp = 0> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}

// -----
// CHECK: qrnn-to-hlscpp: expected one func.func, found 2
func.func @a() {
  func.return
}
func.func @b() {
  func.return
}

// -----
// A run-time sequence length (lstmc.max_seq_len = 3, the module imported at T = 3): the top function gets an
// `int seq_len` AXI-Lite port after its streams; the sequence ports' readers/writers and the `steps` loop run
// `seq_len` iterations (ub = 3 is their largest bound), and a reverse scan indexes seq_len - 1 - t. The h_T
// port, not on the time axis, keeps its static loop.
// CHECK-LABEL: hlscpp.func @read_X(
// CHECK-SAME:  %{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "in", %{{.*}}: memref<3x4xsi8> "out0", [[N:%[0-9a-z_]+]]: index "seq_len") {
// CHECK-NEXT:    hlscpp.for %{{[a-z0-9_]+}} = 0 to [[N]] max 3 step 1
// CHECK-LABEL: hlscpp.func @rec_rcell(
// CHECK-SAME:  %{{[0-9a-z_]+}}: memref<6xsi8> "in0", %{{[0-9a-z_]+}}: memref<3x4xsi8> "in1", %{{[0-9a-z_]+}}: memref<6xsi8> "out0", %{{[0-9a-z_]+}}: memref<3x6xsi8> "out1", [[LEN:%[0-9a-z_]+]]: index "seq_len") {
// CHECK:         hlscpp.for [[T:%[a-z0-9_]+]] = 0 to [[LEN]] max 3 step 1 label("steps") {
// CHECK-NEXT:      [[ONE:%.*]] = hlscpp.const 1 : index
// CHECK-NEXT:      [[LAST:%.*]] = hlscpp.binary sub [[LEN]], [[ONE]] : (index, index) -> index
// CHECK-NEXT:      hlscpp.binary sub [[LAST]], [[T]] : (index, index) -> index
// CHECK-LABEL: hlscpp.func @write_Y(%{{.*}}: memref<3x6xsi8> "in", %{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "out", %{{.*}}: index "seq_len") {
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to %{{.*}} max 3 step 1
// CHECK-LABEL: hlscpp.func @write_H(%{{.*}}: memref<6xsi8> "in", %{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "out") {
// CHECK-NEXT:    hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1)
// CHECK:       hlscpp.func @lstmc_kernel(%{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "X" axis, %{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "Y" axis, %{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "H" axis, %{{.*}}: index "seq_len" s_axilite) top dataflow block_control(ap_ctrl_chain)
// CHECK-SAME:  attributes {lstmc.ports = [{name = "X", {{.*}}, sequence = true, beat_bits = 8 : i64, codes_per_beat = 1 : i64}, {name = "Y", {{.*}}, sequence = true, beat_bits = 8 : i64, codes_per_beat = 1 : i64}, {name = "H", {{.*}}, sequence = false, beat_bits = 8 : i64, codes_per_beat = 1 : i64}], lstmc.max_seq_len = 3 : i64} {
func.func @run_time_length(%X: tensor<3x4xf32>) -> (tensor<3x6xf32>, tensor<6xf32>) attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y", "H"], lstmc.max_seq_len = 3 : i64} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x4xf32> -> tensor<3x4xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [reverse] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %a = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %b = dataflow.mvau(%xt) weights(dense<1> : tensor<4x6xsi4>) multipliers(dense<1> : tensor<1x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>) -> tensor<6xsi12>
    %s = qrnn.scaled_sum(%a, %b) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) : (tensor<6xsi16>, tensor<6xsi12>) -> tensor<6xsi17>
    %hn = qrnn.requant %s shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi17> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "rcell"}
  %y = qrnn.dequantize %ys by <s8, scale = 0.125, zp = 0> : tensor<3x6xsi8> -> tensor<3x6xf32>
  %hf = qrnn.dequantize %hT by <s8, scale = 0.125, zp = 0> : tensor<6xsi8> -> tensor<6xf32>
  func.return %y, %hf : tensor<3x6xf32>, tensor<6xf32>
}

// -----
// A run-time sequence length reaches only recurrences: an op over the whole sequence is refused.
// CHECK: qrnn-to-hlscpp: 'qrnn.requant': works on a whole sequence, which only a recurrence can do with a run-time sequence length (lstmc.max_seq_len): compile with a fixed --seq-len
func.func @whole_sequence_op(%X: tensor<3x4xf32>) -> tensor<3x4xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"], lstmc.max_seq_len = 3 : i64} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x4xf32> -> tensor<3x4xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %a = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %b = dataflow.mvau(%xt) weights(dense<1> : tensor<4x6xsi4>) multipliers(dense<1> : tensor<1x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>) -> tensor<6xsi12>
    %s = qrnn.scaled_sum(%a, %b) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) : (tensor<6xsi16>, tensor<6xsi12>) -> tensor<6xsi17>
    %hn = qrnn.requant %s shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi17> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "cell"}
  %x2 = qrnn.requant %x shift(1) clamp(-128, 127) rounding("half_even") : tensor<3x4xsi8> -> tensor<3x4xsi8>
  %y = qrnn.dequantize %x2 by <s8, scale = 0.125, zp = 0> : tensor<3x4xsi8> -> tensor<3x4xf32>
  func.return %y : tensor<3x4xf32>
}

// -----

// The streamed top level (qrnn_to_dataflow.top_streams): the input reader, the line buffer and the MVAU
// are joined by hls::stream FIFOs (depth 2), SIMD-wide words as arrays of lanes; the reshape next to the
// port is a view of the FIFO. The line buffer (FINN's ConvolutionInputGenerator,
// kernel one row high) runs H + 1 = 3 phases of max(4 words in, 2 words out) iterations: row y into one
// row buffer while it emits the patches of row y - 1 from the other. The MVAU reads a SIMD-wide word into
// its input buffer on the first row fold only, and runs one flat loop over its V = 4 patches. The ReLU
// requantizer is its fused epilogue (lstmc.schedule.fused_epilogues): no process and no accumulator FIFO of
// its own; at each row's last column fold the MVAU rounds and clamps the aligned sum and stores the code
// into the requantizer's (cyclically split) buffer.
// CHECK-LABEL: hlscpp.func @read_X(%{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "in", %{{.*}}: !hlscpp.stream<si8> "out0") {
// CHECK:             hlscpp.read %{{.*}} : !hlscpp.stream<!hlscpp.axis<8>> -> !hlscpp.axis<8>
// CHECK:             [[V:%.*]] = hlscpp.unpack
// CHECK-NEXT:        hlscpp.write %{{.*}}, [[V]] : !hlscpp.stream<si8>, si8
// CHECK-LABEL: hlscpp.func @window_win(
// CHECK-SAME:  [[IN:%[0-9a-z_]+]]: !hlscpp.stream<si8> "in0", [[OUT:%[0-9a-z_]+]]: memref<2x!hlscpp.stream<si8>> "out0") {
// CHECK-NEXT:    %line = hlscpp.array local partition [#hlscpp.partition<complete, 0, 1>, #hlscpp.partition<cyclic, 2, 2>] : memref<2x4xsi8>
// CHECK-NEXT:    hlscpp.for [[Y:%[a-z0-9_]+]] = 0 to 3 step 1 label("rows")
// CHECK-NEXT:      hlscpp.for %{{[a-z0-9_]+}} = 0 to 4 step 1 pipeline(1) label("line_buffer")
// CHECK:             hlscpp.binary mod [[Y]]
// CHECK-NEXT:        [[X:%.*]] = hlscpp.read [[IN]] : !hlscpp.stream<si8> -> si8
// CHECK-NEXT:        hlscpp.store [[X]], %line
// CHECK:             hlscpp.for [[E:%[a-z0-9_]+]] = 0 to 2 step 1 unroll(0) label("lanes")
// CHECK:               [[P:%.*]] = hlscpp.load %line
// CHECK-NEXT:          hlscpp.write [[OUT]][[[E]]], [[P]] : memref<2x!hlscpp.stream<si8>>, si8
// CHECK-LABEL: hlscpp.func @dataflow.mvau_mm_relu(%{{.*}}: memref<2x!hlscpp.stream<si8>> "in0", %{{.*}}: memref<4x2xui8> "out0") {
// CHECK:         %inbuf = hlscpp.array local partition [#hlscpp.partition<cyclic, 2, 1>] : memref<2xsi8>
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 4 step 1 pipeline(1) label("mvau")
// CHECK:           [[NF:%.*]] = hlscpp.load %nf[] : memref<index> -> index
// CHECK:           [[FIRST:%.*]] = hlscpp.binary eq [[NF]], %{{.*}} : (index, index) -> i1
// CHECK-NEXT:      hlscpp.if [[FIRST]] : i1 {
// CHECK:             hlscpp.read %{{.*}}[%{{.*}}] : memref<2x!hlscpp.stream<si8>> -> si8
// CHECK-NEXT:        hlscpp.store %{{.*}}, %inbuf
// CHECK:           hlscpp.load %inbuf
// CHECK:             [[SUM:%.*]] = hlscpp.binary add %{{.*}}, %{{.*}} : (si16, si16) -> si16
// CHECK-NEXT:        hlscpp.const 1 : index
// CHECK-NEXT:        hlscpp.binary shr [[SUM]]
// CHECK:             [[LO:%.*]] = hlscpp.binary max %{{.*}}, %{{.*}} : (si16, si16) -> si16
// CHECK:             [[HI:%.*]] = hlscpp.binary min [[LO]], %{{.*}} : (si16, si16) -> si16
// CHECK-NEXT:        [[CODE:%.*]] = hlscpp.cast [[HI]] : si16 to ui8
// CHECK-NEXT:        hlscpp.store [[CODE]], %{{[0-9a-z_]+}}[%{{.*}}, %{{.*}}] : ui8, memref<4x2xui8>
// CHECK-NOT:   hlscpp.func @requant_relu(
// CHECK-LABEL: hlscpp.func @lstmc_kernel(
// CHECK-SAME:  [[PX:%[0-9a-z_]+]]: !hlscpp.stream<!hlscpp.axis<8>> "X" axis, [[PY:%[0-9a-z_]+]]: !hlscpp.stream<!hlscpp.axis<8>> "Y" axis) top dataflow block_control(ap_ctrl_chain) attributes {lstmc.ports = [{{.*}}]{{.*}}} {
// CHECK-NEXT:    %x_fifo = hlscpp.stream depth(2) : !hlscpp.stream<si8>
// CHECK-NEXT:    %win_fifo = hlscpp.stream depth(2) : memref<2x!hlscpp.stream<si8>>
// CHECK-NEXT:    %relu = hlscpp.array local partition [#hlscpp.partition<cyclic, 2, 2>] : memref<4x2xui8>
// CHECK-NEXT:    hlscpp.call @read_X([[PX]], %x_fifo)
// CHECK-NEXT:    hlscpp.call @window_win(%x_fifo, %win_fifo)
// CHECK-NEXT:    hlscpp.call @dataflow.mvau_mm_relu(%win_fifo, %relu)
// CHECK-NEXT:    hlscpp.call @write_Y(%relu, [[PY]])
func.func @conv(%X: tensor<2x4xf32>) -> tensor<4x2xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<2x4xf32> -> tensor<2x4xsi8>
  %0 = qrnn.reshape %x : tensor<2x4xsi8> -> tensor<2x4x1xsi8>
  %win = qrnn.window %0 kernel([1, 2]) strides([1, 2]) : tensor<2x4x1xsi8> -> tensor<4x2xsi8>
  %mm = dataflow.mvau(%win) weights(dense<[[1, -2], [3, 4]]> : tensor<2x2xsi8>) multipliers(dense<1> : tensor<1x2xi64>) bias(dense<[5, -6]> : tensor<2xi64>) pe(2) simd(2) : (tensor<4x2xsi8>) -> tensor<4x2xsi16>
  %relu = qrnn.requant %mm shift(1) clamp(0, 255) rounding("half_even") : tensor<4x2xsi16> -> tensor<4x2xui8>
  %y = qrnn.dequantize %relu by <u8, scale = 0.5, zp = 0> : tensor<4x2xui8> -> tensor<4x2xf32>
  func.return %y : tensor<4x2xf32>
}

// -----

// A kernel kh = 2 rows high at row stride 2 streams too (lstmc.schedule.LineBuffer): a circular buffer of
// kh + 1 = 3 rows. Phase y of 5 (H = 5: the last window, rows 2..3, is emitted while row 4 comes in) reads
// image row y into slot y mod 3 (R = 3 words) and, in phases 2 and 4 (y >= kh and y mod sh = kh mod sh),
// emits output row (y - 2) / 2 (P = Wo * K = 8 words): kernel row ky = col / (kw * C) from slot
// ((y - kh) mod 3 + ky), wrapped by a compare, element x * sw * C + col mod (kw * C) of that row.
// CHECK-LABEL: hlscpp.func @window_win(
// CHECK-SAME:  [[IN:%[0-9a-z_]+]]: !hlscpp.stream<si8> "in0", [[OUT:%[0-9a-z_]+]]: !hlscpp.stream<si8> "out0") {
// CHECK-NEXT:    %line = hlscpp.array local partition [#hlscpp.partition<complete, 0, 1>] : memref<3x3xsi8>
// CHECK-NEXT:    hlscpp.for [[Y:%[a-z0-9_]+]] = 0 to 5 step 1 label("rows")
// CHECK-NEXT:      hlscpp.for [[I:%[a-z0-9_]+]] = 0 to 8 step 1 pipeline(1) label("line_buffer")
// CHECK-NEXT:        [[R:%.*]] = hlscpp.const 3 : index
// CHECK-NEXT:        [[READING:%.*]] = hlscpp.binary lt [[I]], [[R]]
// CHECK-NEXT:        hlscpp.if [[READING]] : i1 {
// CHECK-NEXT:          [[S:%.*]] = hlscpp.const 3 : index
// CHECK-NEXT:          [[WS:%.*]] = hlscpp.binary mod [[Y]], [[S]]
// CHECK-NEXT:          [[X:%.*]] = hlscpp.read [[IN]] : !hlscpp.stream<si8> -> si8
// CHECK-NEXT:          hlscpp.store [[X]], %line[[[WS]], [[I]]]
// CHECK-NEXT:        }
// CHECK-NEXT:        [[KH:%.*]] = hlscpp.const 2 : index
// CHECK-NEXT:        [[AFTER:%.*]] = hlscpp.binary ge [[Y]], [[KH]]
// CHECK-NEXT:        [[SH:%.*]] = hlscpp.const 2 : index
// CHECK-NEXT:        [[PHASE:%.*]] = hlscpp.binary mod [[Y]], [[SH]]
// CHECK-NEXT:        [[KH_MOD:%.*]] = hlscpp.const 0 : index
// CHECK-NEXT:        [[ON_STRIDE:%.*]] = hlscpp.binary eq [[PHASE]], [[KH_MOD]]
// CHECK-NEXT:        [[EMITS:%.*]] = hlscpp.binary and [[AFTER]], [[ON_STRIDE]]
// CHECK-NEXT:        hlscpp.if [[EMITS]] : i1 {
// CHECK-NEXT:          [[SHIFT:%.*]] = hlscpp.const 1 : index
// CHECK-NEXT:          [[YS:%.*]] = hlscpp.binary add [[Y]], [[SHIFT]]
// CHECK-NEXT:          [[S3:%.*]] = hlscpp.const 3 : index
// CHECK-NEXT:          [[FIRST:%.*]] = hlscpp.binary mod [[YS]], [[S3]]
// CHECK-NEXT:          [[K:%.*]] = hlscpp.const 4 : index
// CHECK-NEXT:          [[XO:%.*]] = hlscpp.binary div [[I]], [[K]]
// CHECK-NEXT:          [[K2:%.*]] = hlscpp.const 4 : index
// CHECK-NEXT:          [[COL:%.*]] = hlscpp.binary mod [[I]], [[K2]]
// CHECK-NEXT:          [[ROW:%.*]] = hlscpp.const 2 : index
// CHECK-NEXT:          [[KY:%.*]] = hlscpp.binary div [[COL]], [[ROW]]
// CHECK-NEXT:          [[ROW2:%.*]] = hlscpp.const 2 : index
// CHECK-NEXT:          [[AT:%.*]] = hlscpp.binary mod [[COL]], [[ROW2]]
// CHECK-NEXT:          [[SLOT:%.*]] = hlscpp.binary add [[FIRST]], [[KY]]
// CHECK-NEXT:          [[S4:%.*]] = hlscpp.const 3 : index
// CHECK-NEXT:          [[WRAP:%.*]] = hlscpp.binary ge [[SLOT]], [[S4]]
// CHECK-NEXT:          [[S5:%.*]] = hlscpp.const 3 : index
// CHECK-NEXT:          [[WRAPPED:%.*]] = hlscpp.binary sub [[SLOT]], [[S5]]
// CHECK-NEXT:          [[RS:%.*]] = hlscpp.select [[WRAP]], [[WRAPPED]], [[SLOT]]
// CHECK-NEXT:          [[SWC:%.*]] = hlscpp.const 1 : index
// CHECK-NEXT:          [[X0:%.*]] = hlscpp.binary mul [[XO]], [[SWC]]
// CHECK-NEXT:          [[C:%.*]] = hlscpp.binary add [[X0]], [[AT]]
// CHECK-NEXT:          [[P:%.*]] = hlscpp.load %line[[[RS]], [[C]]] : memref<3x3xsi8> -> si8
// CHECK-NEXT:          hlscpp.write [[OUT]], [[P]] : !hlscpp.stream<si8>, si8
// CHECK-LABEL: hlscpp.func @lstmc_kernel(
// CHECK-NEXT:    %x_fifo = hlscpp.stream depth(2) : !hlscpp.stream<si8>
// CHECK-NEXT:    %win_fifo = hlscpp.stream depth(2) : !hlscpp.stream<si8>
func.func @conv2d(%X: tensor<5x3xf32>) -> tensor<4x1xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<5x3xf32> -> tensor<5x3xsi8>
  %0 = qrnn.reshape %x : tensor<5x3xsi8> -> tensor<5x3x1xsi8>
  %win = qrnn.window %0 kernel([2, 2]) strides([2, 1]) : tensor<5x3x1xsi8> -> tensor<4x4xsi8>
  %mm = dataflow.mvau(%win) weights(dense<[[1], [-2], [3], [4]]> : tensor<4x1xsi8>) multipliers(dense<1> : tensor<1x1xi64>) bias(dense<[5]> : tensor<1xi64>) pe(1) simd(1) : (tensor<4x4xsi8>) -> tensor<4x1xsi16>
  %y = qrnn.dequantize %mm by <s16, scale = 0.5, zp = 0> : tensor<4x1xsi16> -> tensor<4x1xf32>
  func.return %y : tensor<4x1xf32>
}

// -----

// Not streamed: the image is read twice (the window and an output), so it stays a buffer and the window a
// copy in output order (one patch element per cycle) into a buffer.
// CHECK-LABEL: hlscpp.func @window_win(%{{.*}}: memref<3x3x1xsi8> "in0", %{{.*}}: memref<4x4xsi8> "out0") {
// CHECK-NEXT:    hlscpp.for %{{[a-z0-9_]+}} = 0 to 2 step 1 label("window")
// CHECK-LABEL: hlscpp.func @lstmc_kernel(
// CHECK-NOT:     hlscpp.stream depth
func.func @two_readers(%X: tensor<3x3xf32>) -> (tensor<4x4xf32>, tensor<3x3xf32>) attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y", "Z"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x3xf32> -> tensor<3x3xsi8>
  %0 = qrnn.reshape %x : tensor<3x3xsi8> -> tensor<3x3x1xsi8>
  %win = qrnn.window %0 kernel([2, 2]) strides([1, 1]) : tensor<3x3x1xsi8> -> tensor<4x4xsi8>
  %y = qrnn.dequantize %win by <s8, scale = 0.125, zp = 0> : tensor<4x4xsi8> -> tensor<4x4xf32>
  %z = qrnn.dequantize %x by <s8, scale = 0.125, zp = 0> : tensor<3x3xsi8> -> tensor<3x3xf32>
  func.return %y, %z : tensor<4x4xf32>, tensor<3x3xf32>
}

// -----

// x_t from a FIFO: a unit in front of the recurrence emits the sequence in time order, so the recurrence
// takes it from a FIFO (no [T][I] buffer): x_0 is read into a register array before the first step, and each
// step's DATAFLOW region reads x_{t+1} into a second one in a process of its own (in parallel with the MVAU,
// none after the last step), copied over after the step; the step's MVAU reads x_t without a time index
// (`x_overlap = 0`: the x-overlapped step reads two steps ahead, qrnn-to-hlscpp-overlap.mlir).
// CHECK-LABEL: hlscpp.func @rec_layer0_prefetch_x0(
// CHECK-SAME:  [[T:%[0-9a-z_]+]]: index "t", [[IN:%[0-9a-z_]+]]: !hlscpp.stream<si8> "in", [[NEXT:%[0-9a-z_]+]]: memref<4xsi8> "out") {
// CHECK-NEXT:    [[ONE:%.*]] = hlscpp.const 1 : index
// CHECK-NEXT:    [[T1:%.*]] = hlscpp.binary add [[T]], [[ONE]]
// CHECK-NEXT:    [[N:%.*]] = hlscpp.const 3 : index
// CHECK-NEXT:    [[MORE:%.*]] = hlscpp.binary lt [[T1]], [[N]]
// CHECK-NEXT:    hlscpp.if [[MORE]] : i1 {
// CHECK-NEXT:      hlscpp.for %{{[a-z0-9_]+}} = 0 to 4 step 1 pipeline(1) label("read_x0")
// CHECK-LABEL: hlscpp.func @rec_layer0_gates(%{{.*}}: memref<4xsi8> "in0", %{{.*}}: memref<6xsi8> "in1", %{{.*}}: memref<3x!hlscpp.stream<si16>> "out0") {
// CHECK-LABEL: hlscpp.func @rec_layer0_step(%{{.*}} "t", %{{.*}} "x0", %{{.*}} "state0", %{{.*}} "next0", %{{.*}} "y0", %{{.*}} "xin0", %{{.*}} "x_next0") dataflow {
// CHECK:         hlscpp.call @rec_layer0_prefetch_x0(
// CHECK-NEXT:    hlscpp.call @rec_layer0_gates(
// CHECK-LABEL: hlscpp.func @rec_layer0(
// CHECK-SAME:  [[H0:%[0-9a-z_]+]]: memref<6xsi8> "in0", [[XS:%[0-9a-z_]+]]: !hlscpp.stream<si8> "in1", [[YS:%[0-9a-z_]+]]: memref<3x!hlscpp.stream<si8>> "out0") {
// CHECK:         %x0 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 0>] : memref<4xsi8>
// CHECK-NEXT:    %x_next0 = hlscpp.array local partition [#hlscpp.partition<complete, 0, 0>] : memref<4xsi8>
// CHECK-NEXT:    hlscpp.for [[K:%[a-z0-9_]+]] = 0 to 4 step 1 pipeline(1) label("read_x0")
// CHECK-NEXT:      [[V:%.*]] = hlscpp.read [[XS]] : !hlscpp.stream<si8> -> si8
// CHECK-NEXT:      hlscpp.store [[V]], %x0[[[K]]] : si8, memref<4xsi8>
// CHECK:         hlscpp.for [[ST:%[a-z0-9_]+]] = 0 to 3 step 1 label("steps")
// CHECK-NEXT:      hlscpp.call @rec_layer0_step([[ST]], %x0, %{{.*}}, %{{.*}}, [[YS]], [[XS]], %x_next0)
// CHECK:           label("copy_x0")
// y_t leaves in words of E = 3 lanes (no [T][H] buffer); the port's writer takes one element per cycle.
// CHECK-LABEL: hlscpp.func @write_Y(%{{.*}}: memref<3x!hlscpp.stream<si8>> "in", %{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "out") {
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 3 step 1 {
// CHECK-NEXT:      hlscpp.for %{{[a-z0-9_]+}} = 0 to 2 step 1 {
// CHECK-NEXT:        hlscpp.for [[E:%[a-z0-9_]+]] = 0 to 3 step 1 pipeline(1) {
// CHECK-NEXT:          [[V:%.*]] = hlscpp.read %{{.*}}{{\[}}[[E]]] : memref<3x!hlscpp.stream<si8>> -> si8
// CHECK:               [[W:%.*]] = hlscpp.pack [[V]] count %{{.*}} last %{{.*}} : si8 -> !hlscpp.axis<8>
// CHECK-NEXT:          hlscpp.write %{{.*}}, [[W]] : !hlscpp.stream<!hlscpp.axis<8>>, !hlscpp.axis<8>
// CHECK-LABEL: hlscpp.func @lstmc_kernel(
// CHECK:         %ys_fifo = hlscpp.stream depth(2) : memref<3x!hlscpp.stream<si8>>
// CHECK:         hlscpp.call @requant_xr(%x_fifo, %xr_fifo)
// CHECK:         hlscpp.call @rec_layer0(%h0, %xr_fifo, %ys_fifo)
// CHECK-NEXT:    hlscpp.call @write_Y(%ys_fifo, %{{.*}})
func.func @xfifo(%X: tensor<3x4xf32>) -> tensor<3x6xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x4xf32> -> tensor<3x4xsi8>
  %xr = qrnn.requant %x shift(1) clamp(-128, 127) rounding("half_even") : tensor<3x4xsi8> -> tensor<3x4xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%xr) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(3) simd(2) {x_overlap = 0 : i64} : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "layer0"}
  %y = qrnn.dequantize %ys by <s8, scale = 0.125, zp = 0> : tensor<3x6xsi8> -> tensor<3x6xf32>
  func.return %y : tensor<3x6xf32>
}

// -----

// Two forward layers between the ports: x_t streams from the input port straight into layer 0 (its reader
// writes a FIFO, no [T][I] buffer), layer 0's y_t into layer 1's x_t FIFO, and layer 1's y_t (through a
// reshape, a view) to the output port's writer. No [T][N] array is left at the top level.
// CHECK-LABEL: hlscpp.func @read_X(%{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "in", %{{.*}}: !hlscpp.stream<si8> "out0") {
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 3 step 1 {
// CHECK-NEXT:      hlscpp.for %{{[a-z0-9_]+}} = 0 to 4 step 1 pipeline(1) {
// CHECK-NEXT:        [[B:%.*]] = hlscpp.read %{{.*}} : !hlscpp.stream<!hlscpp.axis<8>> -> !hlscpp.axis<8>
// CHECK:             [[V:%.*]] = hlscpp.unpack [[B]]
// CHECK-NEXT:        hlscpp.write %{{.*}}, [[V]] : !hlscpp.stream<si8>, si8
// The unit computing h_t writes y_t to the step's FIFO argument as it goes (no time index).
// CHECK-LABEL: hlscpp.func @rec_layer0_cell(%{{.*}}: !hlscpp.stream<si16> "gate0", %{{.*}}: memref<6xsi8> "next0", [[Y:%[0-9a-z_]+]]: !hlscpp.stream<si8> "y0") {
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1) label("cell")
// CHECK:           hlscpp.write [[Y]], %{{.*}} : !hlscpp.stream<si8>, si8
// CHECK-LABEL: hlscpp.func @rec_layer0(%{{.*}}: memref<6xsi8> "in0", %{{.*}}: !hlscpp.stream<si8> "in1", %{{.*}}: !hlscpp.stream<si8> "out0") {
// CHECK-LABEL: hlscpp.func @rec_layer1(%{{.*}}: memref<6xsi8> "in0", %{{.*}}: !hlscpp.stream<si8> "in1", %{{.*}}: !hlscpp.stream<si8> "out0") {
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1) label("read_x0")
// CHECK-LABEL: hlscpp.func @write_Y(%{{.*}}: !hlscpp.stream<si8> "in", %{{.*}}: !hlscpp.stream<!hlscpp.axis<8>> "out") {
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to 3 step 1 {
// CHECK-NEXT:      hlscpp.for %{{[a-z0-9_]+}} = 0 to 6 step 1 pipeline(1) {
// CHECK-LABEL: hlscpp.func @lstmc_kernel(
// CHECK-NOT:     memref<3x{{[0-9]}}
// CHECK:         %x_fifo = hlscpp.stream depth(2) : !hlscpp.stream<si8>
// CHECK:         %y0_fifo = hlscpp.stream depth(2) : !hlscpp.stream<si8>
// CHECK:         %y1_fifo = hlscpp.stream depth(2) : !hlscpp.stream<si8>
// CHECK:         hlscpp.call @read_X(%{{.*}}, %x_fifo)
// CHECK:         hlscpp.call @rec_layer0(%{{.*}}, %x_fifo, %y0_fifo)
// CHECK:         hlscpp.call @rec_layer1(%{{.*}}, %y0_fifo, %y1_fifo)
// CHECK-NEXT:    hlscpp.call @write_Y(%y1_fifo, %{{.*}})
// CHECK-NOT:     memref<3x
// CHECK:       }
func.func @two_layers(%X: tensor<3x4xf32>) -> tensor<3x1x6xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x4xf32> -> tensor<3x4xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT0, %y0 = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "layer0"}
  %h1 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT1, %y1 = qrnn.recurrence(%h1) scan(%y0) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x6xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<6xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<12x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<6xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "layer1"}
  %y1r = qrnn.reshape %y1 : tensor<3x6xsi8> -> tensor<3x1x6xsi8>
  %y = qrnn.dequantize %y1r by <s8, scale = 0.125, zp = 0> : tensor<3x1x6xsi8> -> tensor<3x1x6xf32>
  func.return %y : tensor<3x1x6xf32>
}

// -----

// Not streamed: a reverse layer reads x_{T-1-t} at step t and writes y_t at row T - 1 - t, so its input and
// its output keep their [T][N] buffers (and so does the forward layer's y_t that it reads). Only x_t into
// the forward layer streams.
// CHECK-LABEL: hlscpp.func @rec_fwd_cell(%{{.*}}: index "t", %{{.*}}: !hlscpp.stream<si16> "gate0", %{{.*}}: memref<6xsi8> "next0", %{{.*}}: memref<3x6xsi8> "y0") {
// CHECK-LABEL: hlscpp.func @rec_bwd_gates(%{{.*}}: index "t", %{{.*}}: memref<3x6xsi8> "in0", %{{.*}}: memref<6xsi8> "in1", %{{.*}}: !hlscpp.stream<si16> "out0") {
// CHECK-LABEL: hlscpp.func @rec_bwd(%{{.*}}: memref<6xsi8> "in0", %{{.*}}: memref<3x6xsi8> "in1", %{{.*}}: memref<3x6xsi8> "out0") {
// CHECK-LABEL: hlscpp.func @lstmc_kernel(
// CHECK:         %x_fifo = hlscpp.stream depth(2) : !hlscpp.stream<si8>
// CHECK-NOT:     hlscpp.stream depth
// CHECK:         %y0 = hlscpp.array local : memref<3x6xsi8>
// CHECK-NEXT:    %y1 = hlscpp.array local : memref<3x6xsi8>
// CHECK:         hlscpp.call @rec_fwd(%{{.*}}, %x_fifo, %y0)
// CHECK:         hlscpp.call @rec_bwd(%{{.*}}, %y0, %y1)
// CHECK-NEXT:    hlscpp.call @write_Y(%y1, %{{.*}})
func.func @reverse(%X: tensor<3x4xf32>) -> tensor<3x6xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x4xf32> -> tensor<3x4xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT0, %y0 = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "fwd"}
  %h1 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT1, %y1 = qrnn.recurrence(%h1) scan(%y0) directions [reverse] -> [reverse] : (tensor<6xsi8>, tensor<3x6xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<6xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<12x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<6xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "bwd"}
  %y = qrnn.dequantize %y1 by <s8, scale = 0.125, zp = 0> : tensor<3x6xsi8> -> tensor<3x6xf32>
  func.return %y : tensor<3x6xf32>
}

// -----

// A run-time sequence length streams like a fixed one: x_t goes from the port's reader (seq_len rows) into
// the forward recurrence's FIFO and y_t out to the writer, no [T][N] buffer. On the x-overlapped step x_1 is
// read before the steps only when seq_len > 1, and x_{t+2} while t + 2 < seq_len; the MVAU's loop stops
// after its h folds at t + 1 == seq_len.
// CHECK-LABEL: hlscpp.func @rec_layer0_prefetch_x0(
// CHECK-SAME:  [[T:%[0-9a-z_]+]]: index "t", [[N:%[0-9a-z_]+]]: index "seq_len", %{{.*}}: !hlscpp.stream<si8> "in", %{{.*}}: memref<4xsi8> "out") {
// CHECK-NEXT:    [[TWO:%.*]] = hlscpp.const 2 : index
// CHECK-NEXT:    [[T2:%.*]] = hlscpp.binary add [[T]], [[TWO]]
// CHECK-NEXT:    [[MORE:%.*]] = hlscpp.binary lt [[T2]], [[N]]
// CHECK-NEXT:    hlscpp.if [[MORE]] : i1 {
// CHECK-LABEL: hlscpp.func @rec_layer0_gates(
// CHECK-SAME:  [[GT:%[0-9a-z_]+]]: index "t", [[GN:%[0-9a-z_]+]]: index "seq_len",
// CHECK:         [[GT1:%.*]] = hlscpp.binary add [[GT]], %{{.*}} : (index, index) -> index
// CHECK:         hlscpp.binary eq [[GT1]], [[GN]] : (index, index) -> i1
// CHECK-LABEL: hlscpp.func @rec_layer0(
// CHECK-SAME:  %{{.*}}: !hlscpp.stream<si8> "in1", %{{.*}}: memref<3x!hlscpp.stream<si8>> "out0", [[LEN:%[0-9a-z_]+]]: index "seq_len") {
// CHECK:         label("read_x0")
// CHECK:         [[ONE:%.*]] = hlscpp.const 1 : index
// CHECK-NEXT:    [[SECOND:%.*]] = hlscpp.binary lt [[ONE]], [[LEN]]
// CHECK-NEXT:    hlscpp.if [[SECOND]] : i1 {
// CHECK-NEXT:      hlscpp.for %{{[a-z0-9_]+}} = 0 to 4 step 1 pipeline(1) label("read_x_next0")
// CHECK:         hlscpp.for %{{[a-z0-9_]+}} = 0 to [[LEN]] max 3 step 1 label("steps")
// CHECK-LABEL: hlscpp.func @lstmc_kernel(
// CHECK-NOT:     memref<3x{{[0-9]}}
// CHECK:         %x_fifo = hlscpp.stream depth(2) : !hlscpp.stream<si8>
// CHECK:         hlscpp.call @read_X(%{{.*}}, %x_fifo, %{{.*}})
// CHECK:         hlscpp.call @rec_layer0(%{{.*}}, %x_fifo, %{{.*}}, %{{.*}})
func.func @run_time_stream(%X: tensor<3x4xf32>) -> tensor<3x6xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"], lstmc.max_seq_len = 3 : i64} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x4xf32> -> tensor<3x4xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(3) simd(2) {x_overlap = 1 : i64} : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "layer0"}
  %y = qrnn.dequantize %ys by <s8, scale = 0.125, zp = 0> : tensor<3x6xsi8> -> tensor<3x6xf32>
  func.return %y : tensor<3x6xf32>
}
