// RUN: LSTMC_ROUNDTRIP | filecheck %s
// RUN: LSTMC_GENERIC_ROUNDTRIP | filecheck %s

// Every hlscpp op, type and attribute: func with interfaces/top/dataflow, call, arrays (storage, initializer,
// partition directives), stream with depth (one FIFO, or an array of lanes), for with pipeline/unroll/label,
// const, load/store, read/write (of one lane of a stream array too), binary, select, cast, ap_fixed.

// CHECK:      "hlscpp.func"() <{sym_name = "mac", function_type = (!hlscpp.stream<si8>, !hlscpp.stream<si16>, memref<4xsi8>) -> (), arg_names = ["in", "out", "buf"], interfaces = ["axis", "axis", ""]}> ({
// CHECK-NEXT: ^bb0(%in: !hlscpp.stream<si8>, %out: !hlscpp.stream<si16>, %buf: memref<4xsi8>):
"hlscpp.func"() <{sym_name = "mac", function_type = (!hlscpp.stream<si8>, !hlscpp.stream<si16>, memref<4xsi8>) -> (), arg_names = ["in", "out", "buf"], interfaces = ["axis", "axis", ""]}> ({
^bb0(%in: !hlscpp.stream<si8>, %out: !hlscpp.stream<si16>, %buf: memref<4xsi8>):
  // CHECK-NEXT: %weights = "hlscpp.array"() <{storage = "static_const", partition = [#hlscpp.partition<cyclic, 2, 1>, #hlscpp.partition<complete, 0, 2>], init = dense<{{\[\[}}1, -2], [3, -4], [5, -6], [7, -8]]> : tensor<4x2xsi4>}> : () -> memref<4x2xsi4>
  %weights = "hlscpp.array"() <{storage = "static_const", partition = [#hlscpp.partition<cyclic, 2, 1>, #hlscpp.partition<complete, 0, 2>], init = dense<[[1, -2], [3, -4], [5, -6], [7, -8]]> : tensor<4x2xsi4>}> : () -> memref<4x2xsi4>
  // CHECK-NEXT: %acc = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<block, 2, 1>]}> : () -> memref<2xsi16>
  %acc = "hlscpp.array"() <{storage = "local", partition = [#hlscpp.partition<block, 2, 1>]}> : () -> memref<2xsi16>
  // CHECK-NEXT: %count = "hlscpp.array"() <{storage = "static", partition = []}> : () -> memref<ui8>
  %count = "hlscpp.array"() <{storage = "static", partition = []}> : () -> memref<ui8>
  // CHECK-NEXT: %fifo = "hlscpp.stream"() <{depth = 16 : i64}> : () -> !hlscpp.stream<si8>
  %fifo = "hlscpp.stream"() <{depth = 16 : i64}> : () -> !hlscpp.stream<si8>
  // CHECK-NEXT: %lanes = "hlscpp.stream"() <{depth = 4 : i64}> : () -> memref<2x!hlscpp.stream<si8>>
  %lanes = "hlscpp.stream"() <{depth = 4 : i64}> : () -> memref<2x!hlscpp.stream<si8>>
  // CHECK-NEXT: %zero = hlscpp.const 0 : si16 : si16
  %zero = hlscpp.const 0 : si16 : si16
  // CHECK-NEXT: "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, pipeline = 1 : i64, label = "copy"}> ({
  "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, pipeline = 1 : i64, label = "copy"}> ({
  ^bb0(%k: index):
    // CHECK: %x = hlscpp.read %in : !hlscpp.stream<si8> -> si8
    %x = hlscpp.read %in : !hlscpp.stream<si8> -> si8
    // CHECK-NEXT: hlscpp.write %fifo, %x : !hlscpp.stream<si8>, si8
    hlscpp.write %fifo, %x : !hlscpp.stream<si8>, si8
    // CHECK-NEXT: hlscpp.store %x, %buf[%k] : si8, memref<4xsi8>
    hlscpp.store %x, %buf[%k] : si8, memref<4xsi8>
    // CHECK-NEXT: %lane = hlscpp.const 1 : index : index
    %lane = hlscpp.const 1 : index : index
    // CHECK-NEXT: hlscpp.write %lanes[%lane], %x : memref<2x!hlscpp.stream<si8>>, si8
    hlscpp.write %lanes[%lane], %x : memref<2x!hlscpp.stream<si8>>, si8
    // CHECK-NEXT: %y = hlscpp.read %lanes[%lane] : memref<2x!hlscpp.stream<si8>> -> si8
    %y = hlscpp.read %lanes[%lane] : memref<2x!hlscpp.stream<si8>> -> si8
  }) : () -> ()
  // CHECK: "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 2 : i64, unroll = 2 : i64}> ({
  // CHECK-NEXT: ^bb0([[K:%k[_0-9]*]]: index):
  "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 2 : i64, unroll = 2 : i64}> ({
  ^bb0(%k: index):
    // CHECK: "hlscpp.for"() <{lb = 0 : i64, ub = 2 : i64, step = 1 : i64, unroll = 0 : i64}> ({
    "hlscpp.for"() <{lb = 0 : i64, ub = 2 : i64, step = 1 : i64, unroll = 0 : i64}> ({
    ^bb0(%n: index):
      // CHECK: %w = hlscpp.load %weights{{\[}}[[K]], %n]  : memref<4x2xsi4> -> si4
      %w = hlscpp.load %weights[%k, %n] : memref<4x2xsi4> -> si4
      %v = hlscpp.read %fifo : !hlscpp.stream<si8> -> si8
      // CHECK: %p = hlscpp.binary "mul" %v, %w : (si8, si4) -> si12
      %p = hlscpp.binary "mul" %v, %w : (si8, si4) -> si12
      %a = hlscpp.load %acc[%n] : memref<2xsi16> -> si16
      // CHECK: %s = hlscpp.binary "add" %a, %p : (si16, si12) -> si16
      %s = hlscpp.binary "add" %a, %p : (si16, si12) -> si16
      // CHECK-NEXT: %neg = hlscpp.binary "lt" %s, %zero : (si16, si16) -> i1
      %neg = hlscpp.binary "lt" %s, %zero : (si16, si16) -> i1
      // CHECK-NEXT: %r = hlscpp.select %neg, %zero, %s : (i1, si16, si16) -> si16
      %r = hlscpp.select %neg, %zero, %s : (i1, si16, si16) -> si16
      // CHECK-NEXT: %f = hlscpp.cast %r : si16 to !hlscpp.fixed<16, 6>
      %f = hlscpp.cast %r : si16 to !hlscpp.fixed<16, 6>
      // CHECK-NEXT: %u = hlscpp.cast %f : !hlscpp.fixed<16, 6> to !hlscpp.fixed<8, 8, unsigned>
      %u = hlscpp.cast %f : !hlscpp.fixed<16, 6> to !hlscpp.fixed<8, 8, unsigned>
      hlscpp.store %r, %acc[%n] : si16, memref<2xsi16>
      %o = hlscpp.load %acc[%n] : memref<2xsi16> -> si16
      hlscpp.write %out, %o : !hlscpp.stream<si16>, si16
    }) : () -> ()
  }) : () -> ()
}) : () -> ()

// CHECK:      "hlscpp.func"() <{sym_name = "top", function_type = (!hlscpp.stream<si8>, !hlscpp.stream<si16>) -> (), arg_names = ["in", "out"], interfaces = ["axis", "axis"], top, dataflow}> ({
// CHECK-NEXT: ^bb0(%in: !hlscpp.stream<si8>, %out: !hlscpp.stream<si16>):
// CHECK-NEXT:   %buf = "hlscpp.array"() <{storage = "local", partition = []}> : () -> memref<4xsi8>
// CHECK-NEXT:   hlscpp.call @mac(%in, %out, %buf) : !hlscpp.stream<si8>, !hlscpp.stream<si16>, memref<4xsi8>
// CHECK-NEXT: }) : () -> ()
"hlscpp.func"() <{sym_name = "top", function_type = (!hlscpp.stream<si8>, !hlscpp.stream<si16>) -> (), arg_names = ["in", "out"], interfaces = ["axis", "axis"], top, dataflow}> ({
^bb0(%in: !hlscpp.stream<si8>, %out: !hlscpp.stream<si16>):
  %buf = "hlscpp.array"() <{storage = "local", partition = []}> : () -> memref<4xsi8>
  hlscpp.call @mac(%in, %out, %buf) : !hlscpp.stream<si8>, !hlscpp.stream<si16>, memref<4xsi8>
}) : () -> ()

// A loop with a run-time bound (the kernel's seq_len port, AXI-Lite): ub is its largest bound.
// CHECK:      "hlscpp.func"() <{sym_name = "steps", function_type = (index, memref<8xsi8>) -> (), arg_names = ["seq_len", "buf"], interfaces = ["s_axilite", ""]}> ({
// CHECK-NEXT: ^bb0(%seq_len: index, %buf{{.*}}: memref<8xsi8>):
// CHECK-NEXT:   "hlscpp.for"(%seq_len) <{lb = 0 : i64, ub = 8 : i64, step = 1 : i64, pipeline = 1 : i64, label = "steps"}> ({
"hlscpp.func"() <{sym_name = "steps", function_type = (index, memref<8xsi8>) -> (), arg_names = ["seq_len", "buf"], interfaces = ["s_axilite", ""]}> ({
^bb0(%seq_len: index, %buf: memref<8xsi8>):
  "hlscpp.for"(%seq_len) <{lb = 0 : i64, ub = 8 : i64, step = 1 : i64, pipeline = 1 : i64, label = "steps"}> ({
  ^bb0(%t: index):
    %z = hlscpp.const 0 : si8 : si8
    hlscpp.store %z, %buf[%t] : si8, memref<8xsi8>
  }) : (index) -> ()
}) : () -> ()
