// RUN: lstmc-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s
// One case per verifier message of the hlscpp ops, types and attributes.
"hlscpp.func"() <{sym_name = "names", function_type = (memref<4xsi8>, si8) -> (), arg_names = ["a"], interfaces = ["", ""]}> ({
^bb0(%a: memref<4xsi8>, %b: si8):
}) : () -> ()
// CHECK: 'hlscpp.func' @names needs 2 argument names and interfaces

// -----
"hlscpp.func"() <{sym_name = "iface", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = ["m_axi"]}> ({
^bb0(%a: memref<4xsi8>):
}) : () -> ()
// CHECK: unknown interface 'm_axi' (expected one of axis, ap_none, ap_memory, bram, s_axilite)

// -----
"hlscpp.func"() <{sym_name = "block_args", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<8xsi8>):
}) : () -> ()
// CHECK: 'hlscpp.func' block arguments must match the function type

// -----
"hlscpp.func"() <{sym_name = "fixed_width", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %f = "hlscpp.array"() <{storage = "local", partition = []}> : () -> memref<2x!hlscpp.fixed<0, 0>>
}) : () -> ()
// CHECK: ap_fixed width must be positive, got 0

// -----
"hlscpp.func"() <{sym_name = "partition_kind", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %b = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<diagonal, 2, 1>]}> : () -> memref<4xsi8>
}) : () -> ()
// CHECK: partition kind must be one of complete, cyclic, block, got 'diagonal'

// -----
"hlscpp.func"() <{sym_name = "partition_negative", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %b = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<cyclic, -2, 1>]}> : () -> memref<4xsi8>
}) : () -> ()
// CHECK: partition factor and dim must be >= 0

// -----
"hlscpp.func"() <{sym_name = "partition_dim", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %b = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<cyclic, 2, 3>]}> : () -> memref<4x4xsi8>
}) : () -> ()
// CHECK: partition dim 3 exceeds the array rank 2

// -----
"hlscpp.func"() <{sym_name = "storage", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %b = "hlscpp.array"() <{storage = "global", partition = []}> : () -> memref<4xsi8>
}) : () -> ()
// CHECK: array storage must be one of local, static, static_const, got 'global'

// -----
"hlscpp.func"() <{sym_name = "init_shape", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %b = "hlscpp.array"() <{storage = "static_const", partition = [], init = dense<1> : tensor<3xsi8>}> : () -> memref<4xsi8>
}) : () -> ()
// CHECK: array initializer shape [3] differs from [4]

// -----
"hlscpp.func"() <{sym_name = "const_no_init", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %b = "hlscpp.array"() <{storage = "static_const", partition = []}> : () -> memref<4xsi8>
}) : () -> ()
// CHECK: a static_const array needs an initializer

// -----
"hlscpp.func"() <{sym_name = "for_step", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 0 : i64}> ({
  ^bb0(%i: index):
  }) : () -> ()
}) : () -> ()
// CHECK: 'hlscpp.for' step must be positive

// -----
"hlscpp.func"() <{sym_name = "for_ii", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, pipeline = 0 : i64}> ({
  ^bb0(%i: index):
  }) : () -> ()
}) : () -> ()
// CHECK: 'hlscpp.for' pipeline II must be >= 1

// -----
"hlscpp.func"() <{sym_name = "for_pipeline_unroll", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, pipeline = 1 : i64, unroll = 0 : i64}> ({
  ^bb0(%i: index):
  }) : () -> ()
}) : () -> ()
// CHECK: 'hlscpp.for' cannot be both pipelined and fully unrolled

// -----
"hlscpp.func"() <{sym_name = "load_indices", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %i = hlscpp.const 0 : index : index
  %v = hlscpp.load %a[%i, %i] : memref<4xsi8> -> si8
}) : () -> ()
// CHECK: 'hlscpp.load' needs one index per array dimension

// -----
"hlscpp.func"() <{sym_name = "store_indices", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %v = hlscpp.const 1 : si8 : si8
  hlscpp.store %v, %a[] : si8, memref<4xsi8>
}) : () -> ()
// CHECK: 'hlscpp.store' needs one index per array dimension

// -----
"hlscpp.func"() <{sym_name = "binary_kind", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %v = hlscpp.const 1 : si8 : si8
  %w = hlscpp.binary "pow" %v, %v : (si8, si8) -> si8
}) : () -> ()
// CHECK: unknown binary kind 'pow' (expected one of add, sub, mul, div, mod, shr, shl, and, or, ge, gt, le, lt, eq, ne, min, max)

// -----
"hlscpp.func"() <{sym_name = "binary_scalar", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %v = hlscpp.const 1 : si8 : si8
  %w = hlscpp.binary "add" %a, %v : (memref<4xsi8>, si8) -> si8
}) : () -> ()
// CHECK: 'hlscpp.binary' works on scalars, got memref<4xsi8>

// -----
"hlscpp.func"() <{sym_name = "stream_depth", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %s = "hlscpp.stream"() <{depth = 0 : i64}> : () -> !hlscpp.stream<si8>
}) : () -> ()
// CHECK: 'hlscpp.stream' depth must be >= 1, got 0

// -----
"hlscpp.func"() <{sym_name = "stream_type", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %s = "hlscpp.stream"() <{depth = 2 : i64}> : () -> memref<2x2x!hlscpp.stream<si8>>
}) : () -> ()
// CHECK: 'hlscpp.stream' must give a stream or a 1-D array of streams, got memref<2x2x!hlscpp.stream<si8>>

// -----
"hlscpp.func"() <{sym_name = "stream_lanes", function_type = (memref<4xsi8>) -> (), arg_names = ["a"], interfaces = [""]}> ({
^bb0(%a: memref<4xsi8>):
  %s = "hlscpp.stream"() <{depth = 2 : i64}> : () -> memref<0x!hlscpp.stream<si8>>
}) : () -> ()
// CHECK: 'hlscpp.stream' needs at least one lane

// -----
"hlscpp.func"() <{sym_name = "read_lane", function_type = (memref<2x!hlscpp.stream<si8>>) -> (), arg_names = ["s"], interfaces = [""]}> ({
^bb0(%s: memref<2x!hlscpp.stream<si8>>):
  %v = hlscpp.read %s : memref<2x!hlscpp.stream<si8>> -> si8
}) : () -> ()
// CHECK: 'hlscpp.read' needs one index per dimension of the stream array (1), got 0

// -----
"hlscpp.func"() <{sym_name = "read_array", function_type = (memref<2xsi8>) -> (), arg_names = ["s"], interfaces = [""]}> ({
^bb0(%s: memref<2xsi8>):
  %i = hlscpp.const 0 : index : index
  %v = hlscpp.read %s[%i] : memref<2xsi8> -> si8
}) : () -> ()
// CHECK: 'hlscpp.read' needs a stream or an array of streams, got memref<2xsi8>

// -----
"hlscpp.func"() <{sym_name = "write_type", function_type = (!hlscpp.stream<si8>) -> (), arg_names = ["s"], interfaces = [""]}> ({
^bb0(%s: !hlscpp.stream<si8>):
  %v = hlscpp.const 1 : si16 : si16
  hlscpp.write %s, %v : !hlscpp.stream<si8>, si16
}) : () -> ()
// CHECK: 'hlscpp.write' value type si16 differs from the stream element type si8

// -----
"hlscpp.func"() <{sym_name = "dynamic_unroll", function_type = (index) -> (), arg_names = ["n"], interfaces = [""]}> ({
^bb0(%n: index):
  "hlscpp.for"(%n) <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, unroll = 0 : i64}> ({
  ^bb0(%i: index):
  }) : (index) -> ()
}) : () -> ()
// CHECK: 'hlscpp.for' with a run-time bound cannot be unrolled

// -----
"hlscpp.func"() <{sym_name = "dynamic_empty", function_type = (index) -> (), arg_names = ["n"], interfaces = [""]}> ({
^bb0(%n: index):
  "hlscpp.for"(%n) <{lb = 4 : i64, ub = 4 : i64, step = 1 : i64}> ({
  ^bb0(%i: index):
  }) : (index) -> ()
}) : () -> ()
// CHECK: 'hlscpp.for' with a run-time bound needs ub > lb (ub is its largest bound)
