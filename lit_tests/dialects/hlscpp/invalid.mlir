// RUN: lstmc-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s
// One case per verifier or parser message of the hlscpp ops, types and attributes.
"hlscpp.func"() <{sym_name = "names", function_type = (memref<4xsi8>, si8) -> (), arg_names = ["a"], interfaces = [#hlscpp<interface default>, #hlscpp<interface default>]}> ({
^bb0(%a: memref<4xsi8>, %b: si8):
}) : () -> ()
// CHECK: 'hlscpp.func' @names needs 2 argument names and interfaces

// -----
"hlscpp.func"() <{sym_name = "iface", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [#hlscpp<interface m_axi>]}> ({
^bb0(%a: memref<4xsi8>):
}) : () -> ()
// CHECK: unknown interface 'm_axi' (expected one of default, axis, ap_none, ap_memory, bram, s_axilite)

// -----
hlscpp.func @iface_custom(%a: memref<4xsi8> "a" m_axi) {
}
// CHECK: unknown interface 'm_axi' (expected one of default, axis, ap_none, ap_memory, bram, s_axilite)

// -----
// The pre-enum form (a string) names the attribute it wants.
"hlscpp.func"() <{sym_name = "old_iface", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = ["axis"]}> ({
^bb0(%a: memref<4xsi8>):
}) : () -> ()
// CHECK: "axis" should be of base attribute hlscpp.interface

// -----
hlscpp.func @no_name(%a: memref<4xsi8> axis) {
}
// CHECK: string literal expected (the parameter's C++ name)

// -----
"hlscpp.func"() <{sym_name = "block_args", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [#hlscpp<interface default>]}> ({
^bb0(%a: memref<8xsi8>):
}) : () -> ()
// CHECK: 'hlscpp.func' block arguments must match the function type

// -----
hlscpp.func @partition_kind(%a: memref<4xsi8> "a") {
  %b = hlscpp.array local partition [#hlscpp.partition<diagonal, 2, 1>] : memref<4xsi8>
}
// CHECK: unknown partition kind 'diagonal' (expected one of complete, cyclic, block)

// -----
hlscpp.func @partition_negative(%a: memref<4xsi8> "a") {
  %b = hlscpp.array local partition [#hlscpp.partition<cyclic, -2, 1>] : memref<4xsi8>
}
// CHECK: partition factor and dim must be >= 0

// -----
hlscpp.func @partition_dim(%a: memref<4xsi8> "a") {
  %b = hlscpp.array local partition [#hlscpp.partition<cyclic, 2, 3>] : memref<4x4xsi8>
}
// CHECK: partition dim 3 exceeds the array rank 2

// -----
hlscpp.func @storage(%a: memref<4xsi8> "a") {
  %b = hlscpp.array global : memref<4xsi8>
}
// CHECK: unknown array storage 'global' (expected one of local, static, static_const)

// -----
hlscpp.func @storage_generic(%a: memref<4xsi8> "a") {
  %b = "hlscpp.array"() <{storage = #hlscpp<storage global>, partition = []}> : () -> memref<4xsi8>
}
// CHECK: unknown array storage 'global' (expected one of local, static, static_const)

// -----
hlscpp.func @init_shape(%a: memref<4xsi8> "a") {
  %b = hlscpp.array static_const init dense<1> : tensor<3xsi8> : memref<4xsi8>
}
// CHECK: array initializer shape [3] differs from [4]

// -----
hlscpp.func @const_no_init(%a: memref<4xsi8> "a") {
  %b = hlscpp.array static_const : memref<4xsi8>
}
// CHECK: a static_const array needs an initializer

// -----
hlscpp.func @for_step(%a: memref<4xsi8> "a") {
  hlscpp.for %i = 0 to 4 step 0 {
  }
}
// CHECK: 'hlscpp.for' step must be positive

// -----
hlscpp.func @for_ii(%a: memref<4xsi8> "a") {
  hlscpp.for %i = 0 to 4 step 1 pipeline(0) {
  }
}
// CHECK: 'hlscpp.for' pipeline II must be >= 1

// -----
hlscpp.func @for_pipeline_unroll(%a: memref<4xsi8> "a") {
  hlscpp.for %i = 0 to 4 step 1 pipeline(1) unroll(0) {
  }
}
// CHECK: 'hlscpp.for' cannot be both pipelined and fully unrolled

// -----
hlscpp.func @for_index(%a: memref<4xsi8> "a") {
  "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64}> ({
  ^bb0(%i: si8):
  }) : () -> ()
}
// CHECK: 'hlscpp.for' body needs exactly one block argument, the index (of type index)

// -----
hlscpp.func @load_indices(%a: memref<4xsi8> "a") {
  %i = hlscpp.const 0 : index
  %v = hlscpp.load %a[%i, %i] : memref<4xsi8> -> si8
}
// CHECK: 'hlscpp.load' needs one index per array dimension

// -----
hlscpp.func @store_indices(%a: memref<4xsi8> "a") {
  %v = hlscpp.const 1 : si8
  hlscpp.store %v, %a[] : si8, memref<4xsi8>
}
// CHECK: 'hlscpp.store' needs one index per array dimension

// -----
hlscpp.func @const_type(%a: memref<4xsi8> "a") {
  %v = "hlscpp.const"() <{value = 1 : si16}> : () -> si8
}
// CHECK: 'hlscpp.const' value type si16 differs from the result type si8

// -----
hlscpp.func @const_memref(%a: memref<4xsi8> "a") {
  %v = hlscpp.const 1 : memref<4xsi8>
}
// CHECK: 'hlscpp.const' needs an integer or index type, got memref<4xsi8>

// -----
hlscpp.func @binary_kind(%a: memref<4xsi8> "a") {
  %v = hlscpp.const 1 : si8
  %w = hlscpp.binary pow %v, %v : (si8, si8) -> si8
}
// CHECK: unknown binary kind 'pow' (expected one of add, sub, mul, div, mod, shr, shl, and, or, ge, gt, le, lt, eq, ne, min, max)

// -----
hlscpp.func @binary_scalar(%a: memref<4xsi8> "a") {
  %v = hlscpp.const 1 : si8
  %w = hlscpp.binary add %a, %v : (memref<4xsi8>, si8) -> si8
}
// CHECK: 'hlscpp.binary' works on scalars, got memref<4xsi8>

// -----
hlscpp.func @stream_depth(%a: memref<4xsi8> "a") {
  %s = hlscpp.stream depth(0) : !hlscpp.stream<si8>
}
// CHECK: 'hlscpp.stream' depth must be >= 1, got 0

// -----
hlscpp.func @stream_type(%a: memref<4xsi8> "a") {
  %s = hlscpp.stream depth(2) : memref<2x2x!hlscpp.stream<si8>>
}
// CHECK: 'hlscpp.stream' must give a stream or a 1-D array of streams, got memref<2x2x!hlscpp.stream<si8>>

// -----
hlscpp.func @stream_lanes(%a: memref<4xsi8> "a") {
  %s = hlscpp.stream depth(2) : memref<0x!hlscpp.stream<si8>>
}
// CHECK: 'hlscpp.stream' needs at least one lane

// -----
hlscpp.func @read_lane(%s: memref<2x!hlscpp.stream<si8>> "s") {
  %v = hlscpp.read %s : memref<2x!hlscpp.stream<si8>> -> si8
}
// CHECK: 'hlscpp.read' needs one index per dimension of the stream array (1), got 0

// -----
hlscpp.func @read_array(%s: memref<2xsi8> "s") {
  %i = hlscpp.const 0 : index
  %v = hlscpp.read %s[%i] : memref<2xsi8> -> si8
}
// CHECK: 'hlscpp.read' needs a stream or an array of streams, got memref<2xsi8>

// -----
hlscpp.func @write_type(%s: !hlscpp.stream<si8> "s") {
  %v = hlscpp.const 1 : si16
  hlscpp.write %s, %v : !hlscpp.stream<si8>, si16
}
// CHECK: 'hlscpp.write' value type si16 differs from the stream element type si8

// -----
hlscpp.func @dynamic_unroll(%n: index "n") {
  hlscpp.for %i = 0 to %n max 4 step 1 unroll(0) {
  }
}
// CHECK: 'hlscpp.for' with a run-time bound cannot be unrolled

// -----
hlscpp.func @dynamic_empty(%n: index "n") {
  hlscpp.for %i = 4 to %n max 4 step 1 {
  }
}
// CHECK: 'hlscpp.for' with a run-time bound needs ub > lb (ub is its largest bound)

// -----
hlscpp.func @f() block_control(ap_ctrl_chain) {
}
// CHECK: 'hlscpp.func' @f: only the top function has a block_control

// -----
hlscpp.func @f() top block_control(ap_ctrl_fast) {
}
// CHECK: unknown block_control 'ap_ctrl_fast' (expected one of ap_ctrl_hs, ap_ctrl_chain, ap_ctrl_none)

// -----
"hlscpp.func"() <{sym_name = "beat", function_type = (!hlscpp.stream<!hlscpp.axis<12>>) -> (), arg_names = ["a"], interfaces = [#hlscpp<interface axis>]}> ({
^bb0(%a: !hlscpp.stream<!hlscpp.axis<12>>):
}) : () -> ()
// CHECK: an AXI4-Stream beat has a multiple of 8 data bits, got 12

// -----
%c = "hlscpp.const"() <{value = 1 : si8}> : () -> si8
%n = "hlscpp.const"() <{value = 1 : index}> : () -> index
%l = "hlscpp.const"() <{value = true}> : () -> i1
%w = "hlscpp.pack"(%c, %c, %c, %n, %l) : (si8, si8, si8, index, i1) -> !hlscpp.axis<16>
// CHECK: 'hlscpp.pack': 3 codes of 8 bits exceed the 16-bit beat
