// qrnn-to-hlscpp: the integer/dataflow model -> hlscpp functions. One process per top-level op (input reader,
// constant, recurrence, output writers) called from the DATAFLOW top function with AXI-Stream ports.
// A recurrence whose step streams (@main: an MVAU and elementwise units on its gates) keeps its state in
// fully partitioned arrays and calls, in a constant-trip `steps` loop, a DATAFLOW step function: the MVAU
// process (one flat loop of (rows/PE) x (cols/SIMD) iterations at II=1, PE lanes unrolled, weights split by
// SIMD (dim 1) and PE (dim 2)) writes each group of gate rows to arrays of E stream lanes, with the depth
// qrnn-to-dataflow recorded; each unit process reads them, E lanes per iteration. Any other recurrence runs
// its units one after the other (@two_mvaus).
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p qrnn-to-hlscpp | filecheck %s
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-to-hlscpp{kernel=my_top}' | filecheck %s --check-prefix=KERNEL

// CHECK-LABEL: "hlscpp.func"() <{sym_name = "read_X", function_type = (!hlscpp.stream<si8>, memref<3x4xsi8>) -> (), arg_names = ["in", "out0"], interfaces = ["", ""]}>
// CHECK:         "hlscpp.for"() <{lb = 0 : i64, ub = 3 : i64, step = 1 : i64}>
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, pipeline = 1 : i64}>
// CHECK:             hlscpp.read %{{.*}} : !hlscpp.stream<si8> -> si8

// CHECK-LABEL: "hlscpp.func"() <{sym_name = "constant_h0"

// The MVAU process: PE = 3 rows of one gate (G = 1) per row fold, so E = 3 lanes; x_t read at the reversed
// step index straight from the scanned input.
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "rec_layer0_gates", function_type = (index, memref<3x4xsi8>, memref<6xsi8>, memref<3x!hlscpp.stream<si16>>) -> ()
// CHECK-NEXT:  ^bb0([[T:%.*]]: index, [[XS:%.*]]: memref<3x4xsi8>, [[H:%.*]]: memref<6xsi8>, [[OUT:%.*]]: memref<3x!hlscpp.stream<si16>>):
// CHECK-NEXT:    [[LAST:%.*]] = hlscpp.const 2 : index : index
// CHECK-NEXT:    [[TREV:%.*]] = hlscpp.binary "sub" [[LAST]], [[T]] : (index, index) -> index
// CHECK-NEXT:    %group = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<complete, 0, 1>]}> : () -> memref<3xsi16>
// CHECK-NEXT:    %weights = "hlscpp.array"() <{storage = "static_const", partition = [#hlscpp.partition<cyclic, 2, 1>, #hlscpp.partition<cyclic, 3, 2>], init = dense<1> : tensor<10x6xui1>}> : () -> memref<10x6xui1>
// Per-part partial sums: 4 x si8 x {0, 1} fits si10, 6 x si8 x {0, 1} fits si11.
// CHECK:         %acc0 = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<complete, 0, 1>]}> : () -> memref<3xsi10>
// CHECK:         %acc1 = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<complete, 0, 1>]}> : () -> memref<3xsi11>
// Row folds 6/3 = 2 times column folds 10/2 = 5: 10 iterations.
// CHECK:         "hlscpp.for"() <{lb = 0 : i64, ub = 10 : i64, step = 1 : i64, pipeline = 1 : i64, label = "mvau"}> ({
// CHECK:             "hlscpp.for"() <{lb = 0 : i64, ub = 3 : i64, step = 1 : i64, unroll = 0 : i64}>
// CHECK:                 hlscpp.load [[XS]]{{\[}}[[TREV]], %{{.*}}] : memref<3x4xsi8> -> si8
// CHECK:                 hlscpp.binary "mul" %{{.*}}, %{{.*}} : (si8, ui1) -> si8
// CHECK:                 hlscpp.load [[H]]{{\[}}%{{.*}}] : memref<6xsi8> -> si8
// The completed group leaves for the requant's FIFO lanes.
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 3 : i64, step = 1 : i64, unroll = 0 : i64, label = "lanes"}>
// CHECK-NEXT:      ^bb0([[E:%.*]]: index):
// CHECK:             hlscpp.write [[OUT]]{{\[}}[[E]]], %{{.*}} : memref<3x!hlscpp.stream<si16>>, si16

// The unit process: 6 / 3 = 2 iterations of 3 lanes; it stores h_t and y_t itself.
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "rec_layer0_hn", function_type = (index, memref<3x!hlscpp.stream<si16>>, memref<6xsi8>, memref<3x6xsi8>) -> ()
// CHECK:         "hlscpp.for"() <{lb = 0 : i64, ub = 2 : i64, step = 1 : i64, pipeline = 1 : i64, label = "requant"}>
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 3 : i64, step = 1 : i64, unroll = 0 : i64, label = "lanes"}>
// CHECK:             hlscpp.read %{{.*}}[%{{.*}}] : memref<3x!hlscpp.stream<si16>> -> si16
// CHECK:             hlscpp.store %{{.*}}, %{{.*}}[%{{.*}}] : si8, memref<6xsi8>
// CHECK:             hlscpp.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : si8, memref<3x6xsi8>

// The step: a DATAFLOW region of the two processes and their FIFO (depth 2: the requant reads the gate as
// soon as it leaves the MVAU).
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "rec_layer0_step", function_type = (index, memref<3x4xsi8>, memref<6xsi8>, memref<6xsi8>, memref<3x6xsi8>) -> (), arg_names = ["t", "x0", "state0", "next0", "y0"], interfaces = ["", "", "", "", ""], dataflow}>
// CHECK-NEXT:  ^bb0([[ST:%.*]]: index, [[SX:%.*]]: memref<3x4xsi8>, [[SH:%.*]]: memref<6xsi8>, [[SN:%.*]]: memref<6xsi8>, [[SY:%.*]]: memref<3x6xsi8>):
// CHECK-NEXT:    %gate0 = "hlscpp.stream"() <{depth = 2 : i64}> : () -> memref<3x!hlscpp.stream<si16>>
// CHECK-NEXT:    hlscpp.call @rec_layer0_gates([[ST]], [[SX]], [[SH]], %gate0)
// CHECK-NEXT:    hlscpp.call @rec_layer0_hn([[ST]], %gate0, [[SN]], [[SY]])
// CHECK-NEXT:  }) : () -> ()

// CHECK-LABEL: "hlscpp.func"() <{sym_name = "rec_layer0", function_type = (memref<6xsi8>, memref<3x4xsi8>, memref<6xsi8>, memref<3x6xsi8>) -> ()
// CHECK:         %state0 = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<complete, 0, 0>]}> : () -> memref<6xsi8>
// CHECK-NEXT:    %next_state0 = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<complete, 0, 0>]}> : () -> memref<6xsi8>
// CHECK:         "hlscpp.for"() <{lb = 0 : i64, ub = 6 : i64, step = 1 : i64, pipeline = 1 : i64, label = "init_state0"}>
// CHECK:         "hlscpp.for"() <{lb = 0 : i64, ub = 3 : i64, step = 1 : i64, label = "steps"}> ({
// CHECK-NEXT:    ^bb0([[STEP:%.*]]: index):
// CHECK-NEXT:      hlscpp.call @rec_layer0_step([[STEP]], %{{.*}}, %state0, %next_state0, %{{.*}})
// CHECK-NEXT:      "hlscpp.for"() <{lb = 0 : i64, ub = 6 : i64, step = 1 : i64, unroll = 0 : i64, label = "copy_state0"}>
// CHECK:         "hlscpp.for"() <{lb = 0 : i64, ub = 6 : i64, step = 1 : i64, pipeline = 1 : i64, label = "final_state0"}>

// CHECK-LABEL: "hlscpp.func"() <{sym_name = "write_Y", function_type = (memref<3x6xsi8>, !hlscpp.stream<si8>) -> ()
// CHECK:         hlscpp.write
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "write_h_T", function_type = (memref<6xsi8>, !hlscpp.stream<si8>) -> ()

// The scanned input is split by SIMD = 2 for the MVAU, the scan output by E = 3 for the unit.
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "lstmc_kernel", function_type = (!hlscpp.stream<si8>, !hlscpp.stream<si8>, !hlscpp.stream<si8>) -> (), arg_names = ["X", "Y", "h_T"], interfaces = ["axis", "axis", "axis"], top, dataflow}>
// CHECK-NEXT:  ^bb0([[X:%.*]]: !hlscpp.stream<si8>, [[Y:%.*]]: !hlscpp.stream<si8>, [[HT:%.*]]: !hlscpp.stream<si8>):
// CHECK-NEXT:    %h0 = "hlscpp.array"()
// CHECK-NEXT:    %x = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<cyclic, 2, 2>]}> : () -> memref<3x4xsi8>
// CHECK-NEXT:    %ys = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<cyclic, 3, 2>]}> : () -> memref<3x6xsi8>
// CHECK-NEXT:    %hT = "hlscpp.array"()
// CHECK-NEXT:    hlscpp.call @read_X([[X]], %x)
// CHECK-NEXT:    hlscpp.call @constant_h0(%h0)
// CHECK-NEXT:    hlscpp.call @rec_layer0(%h0, %x, %hT, %ys)
// CHECK-NEXT:    hlscpp.call @write_Y(%ys, [[Y]])
// CHECK-NEXT:    hlscpp.call @write_h_T(%hT, [[HT]])
// CHECK-NEXT:  }) : () -> ()
// CHECK-NOT:   func.func
// CHECK-NOT:   qrnn.
// CHECK:       // {{[-]+}}

// KERNEL: sym_name = "my_top", {{.*}} top, dataflow}>
func.func @main(%X: tensor<3x4xf32>) -> (tensor<3x6xf32>, tensor<6xf32>) attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y", "h_T"]} {
  %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<3x4xf32> -> tensor<3x4xsi8>
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [reverse] -> [reverse] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(3) simd(2) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
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
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "rec_cell"
// CHECK:         "hlscpp.for"() <{lb = 0 : i64, ub = 3 : i64, step = 1 : i64, label = "steps"}> ({
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, pipeline = 1 : i64, label = "read_input0"}>
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 60 : i64, step = 1 : i64, pipeline = 1 : i64, label = "mvau"}>
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 24 : i64, step = 1 : i64, pipeline = 1 : i64, label = "mvau"}>
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 6 : i64, step = 1 : i64, pipeline = 1 : i64, label = "scaled_sum"}>
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 6 : i64, step = 1 : i64, pipeline = 1 : i64, label = "requant"}>
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 6 : i64, step = 1 : i64, pipeline = 1 : i64, label = "update_state0"}>
// CHECK:           "hlscpp.for"() <{lb = 0 : i64, ub = 6 : i64, step = 1 : i64, pipeline = 1 : i64, label = "write_output0"}>
// CHECK-NOT:   "hlscpp.stream"
// CHECK-NOT:   dataflow}>
// CHECK:       sym_name = "lstmc_kernel"
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
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "read_X", function_type = (!hlscpp.stream<si8>, memref<3x4xsi8>, index) -> (), arg_names = ["in", "out0", "seq_len"]
// CHECK-NEXT:  ^bb0(%{{.*}}: !hlscpp.stream<si8>, %{{.*}}: memref<3x4xsi8>, [[N:%.*]]: index):
// CHECK-NEXT:    "hlscpp.for"([[N]]) <{lb = 0 : i64, ub = 3 : i64, step = 1 : i64}>
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "rec_rcell"
// CHECK-SAME:    arg_names = ["in0", "in1", "out0", "out1", "seq_len"]
// CHECK-NEXT:  ^bb0({{.*}}, [[LEN:%[0-9a-z_]+]]: index):
// CHECK:         "hlscpp.for"([[LEN]]) <{lb = 0 : i64, ub = 3 : i64, step = 1 : i64, label = "steps"}> ({
// CHECK-NEXT:    ^bb0([[T:%.*]]: index):
// CHECK-NEXT:      [[ONE:%.*]] = hlscpp.const 1 : index : index
// CHECK-NEXT:      [[LAST:%.*]] = hlscpp.binary "sub" [[LEN]], [[ONE]] : (index, index) -> index
// CHECK-NEXT:      hlscpp.binary "sub" [[LAST]], [[T]] : (index, index) -> index
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "write_Y", function_type = (memref<3x6xsi8>, !hlscpp.stream<si8>, index) -> ()
// CHECK:         "hlscpp.for"(%{{.*}}) <{lb = 0 : i64, ub = 3 : i64, step = 1 : i64}>
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "write_H", function_type = (memref<6xsi8>, !hlscpp.stream<si8>) -> ()
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    "hlscpp.for"() <{lb = 0 : i64, ub = 6 : i64, step = 1 : i64, pipeline = 1 : i64}>
// CHECK:       sym_name = "lstmc_kernel", function_type = (!hlscpp.stream<si8>, !hlscpp.stream<si8>, !hlscpp.stream<si8>, index) -> (), arg_names = ["X", "Y", "H", "seq_len"], interfaces = ["axis", "axis", "axis", "s_axilite"]
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
