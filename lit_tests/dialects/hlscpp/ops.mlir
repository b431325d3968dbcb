// RUN: LSTMC_ROUNDTRIP | filecheck %s
// RUN: LSTMC_GENERIC_ROUNDTRIP | filecheck %s
// RUN: lstmc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Every hlscpp op, type and attribute: func with parameter names/interfaces/top/dataflow/block_control, call,
// arrays (storage, initializer, partition directives), stream with depth (one FIFO, or an array of lanes), for
// with pipeline/unroll/label and a run-time bound, if, const, load/store, read/write (of one lane of a stream
// array too), binary, select, cast. Custom syntax first; the generic form of the enum attributes below.

// CHECK:      hlscpp.func @mac(%in: !hlscpp.stream<si8> "in" axis, %out: !hlscpp.stream<si16> "out" axis, %buf: memref<4xsi8> "buf") {
hlscpp.func @mac(%in: !hlscpp.stream<si8> "in" axis, %out: !hlscpp.stream<si16> "out" axis, %buf: memref<4xsi8> "buf") {
  // CHECK-NEXT: %weights = hlscpp.array static_const partition [#hlscpp.partition<cyclic, 2, 1>, #hlscpp.partition<complete, 0, 2>] init dense<{{\[\[}}1, -2], [3, -4], [5, -6], [7, -8]]> : tensor<4x2xsi4> : memref<4x2xsi4>
  %weights = hlscpp.array static_const partition [#hlscpp.partition<cyclic, 2, 1>, #hlscpp.partition<complete, 0, 2>] init dense<[[1, -2], [3, -4], [5, -6], [7, -8]]> : tensor<4x2xsi4> : memref<4x2xsi4>
  // CHECK-NEXT: %acc = hlscpp.array local partition [#hlscpp.partition<block, 2, 1>] : memref<2xsi16>
  %acc = hlscpp.array local partition [#hlscpp.partition<block, 2, 1>] : memref<2xsi16>
  // No partition directive: the list is left out.
  // CHECK-NEXT: %count = hlscpp.array static : memref<ui8>
  %count = hlscpp.array static partition [] : memref<ui8>
  // CHECK-NEXT: %fifo = hlscpp.stream depth(16) : !hlscpp.stream<si8>
  %fifo = hlscpp.stream depth(16) : !hlscpp.stream<si8>
  // CHECK-NEXT: %lanes = hlscpp.stream depth(4) : memref<2x!hlscpp.stream<si8>>
  %lanes = hlscpp.stream depth(4) : memref<2x!hlscpp.stream<si8>>
  // The constant's type is written once.
  // CHECK-NEXT: %zero = hlscpp.const 0 : si16
  %zero = hlscpp.const 0 : si16
  // CHECK-NEXT: %minus = hlscpp.const -3 : si8
  %minus = hlscpp.const -3 : si8
  // CHECK-NEXT: %yes = hlscpp.const true : i1
  %yes = hlscpp.const true : i1
  // CHECK-NEXT: hlscpp.for %k = 0 to 4 step 1 pipeline(1) label("copy") {
  hlscpp.for %k = 0 to 4 step 1 pipeline(1) label("copy") {
    // CHECK-NEXT: %x = hlscpp.read %in : !hlscpp.stream<si8> -> si8
    %x = hlscpp.read %in : !hlscpp.stream<si8> -> si8
    // CHECK-NEXT: hlscpp.write %fifo, %x : !hlscpp.stream<si8>, si8
    hlscpp.write %fifo, %x : !hlscpp.stream<si8>, si8
    // CHECK-NEXT: hlscpp.store %x, %buf[%k] : si8, memref<4xsi8>
    hlscpp.store %x, %buf[%k] : si8, memref<4xsi8>
    // CHECK-NEXT: %lane = hlscpp.const 1 : index
    %lane = hlscpp.const 1 : index
    // CHECK-NEXT: hlscpp.write %lanes[%lane], %x : memref<2x!hlscpp.stream<si8>>, si8
    hlscpp.write %lanes[%lane], %x : memref<2x!hlscpp.stream<si8>>, si8
    // CHECK-NEXT: %y = hlscpp.read %lanes[%lane] : memref<2x!hlscpp.stream<si8>> -> si8
    %y = hlscpp.read %lanes[%lane] : memref<2x!hlscpp.stream<si8>> -> si8
  // CHECK-NEXT: }
  }
  // CHECK-NEXT: hlscpp.for [[K:%k[_0-9]*]] = 0 to 4 step 2 unroll(2) {
  hlscpp.for %k = 0 to 4 step 2 unroll(2) {
    // CHECK-NEXT: hlscpp.for %n = 0 to 2 step 1 unroll(0) {
    hlscpp.for %n = 0 to 2 step 1 unroll(0) {
      // CHECK-NEXT: %w = hlscpp.load %weights{{\[}}[[K]], %n]  : memref<4x2xsi4> -> si4
      %w = hlscpp.load %weights[%k, %n] : memref<4x2xsi4> -> si4
      %v = hlscpp.read %fifo : !hlscpp.stream<si8> -> si8
      // CHECK: %p = hlscpp.binary mul %v, %w : (si8, si4) -> si12
      %p = hlscpp.binary mul %v, %w : (si8, si4) -> si12
      %a = hlscpp.load %acc[%n] : memref<2xsi16> -> si16
      // CHECK: %s = hlscpp.binary add %a, %p : (si16, si12) -> si16
      %s = hlscpp.binary add %a, %p : (si16, si12) -> si16
      // CHECK-NEXT: %neg = hlscpp.binary lt %s, %zero : (si16, si16) -> i1
      %neg = hlscpp.binary lt %s, %zero : (si16, si16) -> i1
      // CHECK-NEXT: %r = hlscpp.select %neg, %zero, %s : (i1, si16, si16) -> si16
      %r = hlscpp.select %neg, %zero, %s : (i1, si16, si16) -> si16
      // CHECK-NEXT: %u = hlscpp.cast %r : si16 to ui8
      %u = hlscpp.cast %r : si16 to ui8
      // CHECK-NEXT: hlscpp.if %neg : i1 {
      // CHECK-NEXT:   hlscpp.store %r, %acc[%n] : si16, memref<2xsi16>
      // CHECK-NEXT: }
      hlscpp.if %neg : i1 {
        hlscpp.store %r, %acc[%n] : si16, memref<2xsi16>
      }
      %o = hlscpp.load %acc[%n] : memref<2xsi16> -> si16
      hlscpp.write %out, %o : !hlscpp.stream<si16>, si16
    }
  }
}

// The top: its flags and protocol after the parameters, then other attributes. A parameter name is any string
// (the C++ identifier comes from hlscpp-prepare-emission); the SSA names are only names.
// CHECK:      hlscpp.func @top(%in: !hlscpp.stream<si8> "in" axis, %out: !hlscpp.stream<si16> "out \22quoted\22" axis) top dataflow block_control(ap_ctrl_chain) attributes {note = "kept"} {
// CHECK-NEXT:   %buf = hlscpp.array local : memref<4xsi8>
// CHECK-NEXT:   hlscpp.call @mac(%in, %out, %buf) : !hlscpp.stream<si8>, !hlscpp.stream<si16>, memref<4xsi8>
// CHECK-NEXT: }
hlscpp.func @top(%in: !hlscpp.stream<si8> "in" axis, %out: !hlscpp.stream<si16> "out \"quoted\"" axis) top dataflow block_control(ap_ctrl_chain) attributes {note = "kept"} {
  %buf = hlscpp.array local : memref<4xsi8>
  hlscpp.call @mac(%in, %out, %buf) : !hlscpp.stream<si8>, !hlscpp.stream<si16>, memref<4xsi8>
}

// A loop with a run-time bound (the kernel's seq_len port, AXI-Lite): `max` is its largest bound (ub).
// CHECK:      hlscpp.func @steps(%seq_len: index "seq_len" s_axilite, %buf{{.*}}: memref<8xsi8> "buf") top {
// CHECK-NEXT:   hlscpp.for %t = 0 to %seq_len max 8 step 1 pipeline(1) label("steps") {
// CHECK-NEXT:     %z = hlscpp.const 0 : si8
// CHECK-NEXT:     hlscpp.store %z, %buf{{.*}}[%t] : si8, memref<8xsi8>
// CHECK-NEXT:   }
// CHECK-NEXT: }
hlscpp.func @steps(%seq_len: index "seq_len" s_axilite, %buf: memref<8xsi8> "buf") top {
  hlscpp.for %t = 0 to %seq_len max 8 step 1 pipeline(1) label("steps") {
    %z = hlscpp.const 0 : si8
    hlscpp.store %z, %buf[%t] : si8, memref<8xsi8>
  }
}

// An empty function and an empty loop.
// CHECK:      hlscpp.func @empty() {
// CHECK-NEXT:   hlscpp.for %i = 0 to 1 step 1 {
// CHECK-NEXT:   }
// CHECK-NEXT: }
hlscpp.func @empty() {
  hlscpp.for %i = 0 to 1 step 1 {
  }
}

// The generic form: closed sets are enum attributes, `default` is a parameter without an INTERFACE directive.
// GENERIC:      "hlscpp.func"() <{sym_name = "mac", function_type = (!hlscpp.stream<si8>, !hlscpp.stream<si16>, memref<4xsi8>) -> (), arg_names = ["in", "out", "buf"], interfaces = [#hlscpp<interface axis>, #hlscpp<interface axis>, #hlscpp<interface default>]}> ({
// GENERIC:      "hlscpp.array"() <{storage = #hlscpp<storage static_const>, partition = [#hlscpp.partition<cyclic, 2, 1>, #hlscpp.partition<complete, 0, 2>], init = dense<
// GENERIC:      "hlscpp.stream"() <{depth = 16 : i64}> : () -> !hlscpp.stream<si8>
// GENERIC:      "hlscpp.const"() <{value = 0 : si16}> : () -> si16
// GENERIC:      "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, pipeline = 1 : i64, label = "copy"}> ({
// GENERIC-NEXT: ^bb0(%k: index):
// GENERIC:      "hlscpp.binary"(%v, %w) <{kind = #hlscpp<binary_kind mul>}> : (si8, si4) -> si12
// GENERIC:      top, dataflow, block_control = #hlscpp<block_control ap_ctrl_chain>}> ({
// GENERIC:      "hlscpp.for"(%seq_len) <{lb = 0 : i64, ub = 8 : i64, step = 1 : i64, pipeline = 1 : i64, label = "steps"}> ({
