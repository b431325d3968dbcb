// hlscpp-prepare-emission: every name the emitter prints becomes a legal, unique C++ identifier — function
// names (and the calls to them), argument names, array/stream names, loop labels; loop indices are i, j, ...
// by depth; temporaries lose their names (printed v<N>).
// RUN: lstmc-opt %s -p hlscpp-prepare-emission | filecheck %s
// RUN: lstmc-opt %s -p hlscpp-prepare-emission -t hls-cpp | filecheck %s --check-prefix=CPP

// Keywords get a trailing underscore, illegal characters become '_', a leading digit gets a '_' prefix,
// clashes are numbered ('in' is taken by the first argument, then by the array: in1, in2). Loop-index
// names i, j, k, ... are reserved, so a stream called 's' becomes 's1'.
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "int_", {{.*}} arg_names = ["in", "in1", "for_"]
// CHECK-NEXT:  ^bb0(%a: memref<4xsi8>, %b: memref<4xsi8>, %c: si8):
// CHECK-NEXT:    %new_ = "hlscpp.array"()
// CHECK-NEXT:    %buf = "hlscpp.array"()
// CHECK-NEXT:    %buf2 = "hlscpp.array"()
// CHECK-NEXT:    %x_y = "hlscpp.array"()
// CHECK-NEXT:    %in2 = "hlscpp.array"()
// CHECK-NEXT:    %s1 = "hlscpp.stream"()
// CHECK-NEXT:    %anon = "hlscpp.array"()
// Labels are unique per function; loop indices are named by nesting depth.
// CHECK-NEXT:    "hlscpp.for"() <{{{.*}}label = "copy"}> ({
// CHECK-NEXT:    ^bb0(%i: index):
// CHECK-NEXT:      "hlscpp.for"() <{{{.*}}label = "copy1"}> ({
// CHECK-NEXT:      ^bb0(%j: index):
// CHECK-NEXT:        %0 = hlscpp.load %a[%j]
// CHECK-NEXT:        hlscpp.store %0, %new_[%i]
// CHECK:         "hlscpp.for"() <{{{.*}}label = "new_n1"}> ({
// CHECK-NEXT:    ^bb0(%i{{.*}}: index):

// Two functions that legalize to the same name: the second is numbered, and its calls follow.
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "rec_l0", function_type = () -> ()
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "rec_l0n1", function_type = () -> ()
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "main_", {{.*}} arg_names = ["_2x", "a_b", "std_"], {{.*}} top}>
// CHECK-NEXT:  ^bb0(%a: memref<4xsi8>, %b: memref<4xsi8>, %c: si8):
// CHECK-NEXT:    hlscpp.call @int_(%a, %b, %c)
// CHECK-NEXT:    hlscpp.call @rec_l0n1()
// CHECK-NEXT:    hlscpp.call @rec_l0()

// CPP:      static void int_(ap_int<8> in[4], ap_int<8> in1[4], ap_int<8> for_) {
// CPP-NEXT:   ap_int<8> new_[4];
// CPP:        ap_int<8> x_y[4];
// CPP-NEXT:   ap_int<8> in2[4];
// CPP-NEXT:   hls::stream<ap_int<8>> s1("s1");
// CPP-NEXT:   #pragma HLS STREAM variable=s1 depth=2
// CPP:        copy: for (int i = 0; i < 4; i++) {
// CPP-NEXT:     copy1: for (int j = 0; j < 4; j++) {
// CPP-NEXT:       ap_int<8> [[V:v[0-9]+]] = in[j];
// CPP-NEXT:       new_[i] = [[V]];
// CPP:        new_n1: for (int i = 0; i < 4; i++) {
// CPP:      static void rec_l0() {
// CPP:      static void rec_l0n1() {
// CPP:      void main_(ap_int<8> _2x[4], ap_int<8> a_b[4], ap_int<8> std_) {
// CPP-NEXT:   #pragma HLS INTERFACE mode=ap_ctrl_hs port=return
// CPP-NEXT:   int_(_2x, a_b, std_);
// CPP-NEXT:   rec_l0n1();
// CPP-NEXT:   rec_l0();
// CPP-NEXT: }

"hlscpp.func"() <{sym_name = "int", function_type = (memref<4xsi8>, memref<4xsi8>, si8) -> (), arg_names = ["in", "in", "for"], interfaces = ["", "", ""]}> ({
^bb0(%a: memref<4xsi8>, %b: memref<4xsi8>, %c: si8):
  %new = "hlscpp.array"() <{storage = "local", partition = []}> : () -> memref<4xsi8>
  %buf = "hlscpp.array"() <{storage = "local", partition = []}> : () -> memref<4xsi8>
  %buf2 = "hlscpp.array"() <{storage = "local", partition = []}> : () -> memref<4xsi8>
  %x.y = "hlscpp.array"() <{storage = "local", partition = []}> : () -> memref<4xsi8>
  %in = "hlscpp.array"() <{storage = "local", partition = []}> : () -> memref<4xsi8>
  %s = "hlscpp.stream"() <{depth = 2 : i64}> : () -> !hlscpp.stream<si8>
  %anon = "hlscpp.array"() <{storage = "local", partition = []}> : () -> memref<4xsi8>
  "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, label = "copy"}> ({
  ^bb0(%outer: index):
    "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, label = "copy"}> ({
    ^bb0(%inner: index):
      %v = hlscpp.load %a[%inner] : memref<4xsi8> -> si8
      hlscpp.store %v, %new[%outer] : si8, memref<4xsi8>
    }) : () -> ()
  }) : () -> ()
  "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64, label = "new"}> ({
  ^bb0(%again: index):
  }) : () -> ()
}) : () -> ()
"hlscpp.func"() <{sym_name = "rec_l0", function_type = () -> (), arg_names = [], interfaces = []}> ({
^bb0:
}) : () -> ()
"hlscpp.func"() <{sym_name = "rec.l0", function_type = () -> (), arg_names = [], interfaces = []}> ({
^bb0:
}) : () -> ()
"hlscpp.func"() <{sym_name = "main", function_type = (memref<4xsi8>, memref<4xsi8>, si8) -> (), arg_names = ["2x", "a b", "std"], interfaces = ["", "", ""], top}> ({
^bb0(%a: memref<4xsi8>, %b: memref<4xsi8>, %c: si8):
  hlscpp.call @int(%a, %b, %c) : memref<4xsi8>, memref<4xsi8>, si8
  hlscpp.call @"rec.l0"() :
  hlscpp.call @rec_l0() :
}) : () -> ()

// Hostile names from a model (quotes, a newline, a comment opener, non-ASCII, implementation-reserved
// `__x`/`_X`, alternative tokens, macros, the emitter's own v<N> temporaries, and a name equal to a function
// the body calls) all become plain identifiers; nothing of them reaches the C++ but [A-Za-z0-9_].
// CHECK-LABEL: "hlscpp.func"() <{sym_name = "evil", {{.*}} arg_names = ["x____system__rm__", "a_b__c", "_9", "v__x", "v_X", "and_", "NULL_", "v0_", "caf_", "evil1"]
// CPP-LABEL: void evil(
// CPP-SAME: ap_int<8> x____system__rm__, ap_int<8> a_b__c, ap_int<8> _9, ap_int<8> v__x, ap_int<8> v_X, ap_int<8> and_, ap_int<8> NULL_, ap_int<8> v0_, ap_int<8> caf_, ap_int<8> evil1) {
"hlscpp.func"() <{sym_name = "evil", function_type = (si8, si8, si8, si8, si8, si8, si8, si8, si8, si8) -> (), arg_names = ["x\"); system(\"rm *", "a\0Ab/*c", "9", "__x", "_X", "and", "NULL", "v0", "café", "evil"], interfaces = ["", "", "", "", "", "", "", "", "", ""], top}> ({
^bb0(%a0: si8, %a1: si8, %a2: si8, %a3: si8, %a4: si8, %a5: si8, %a6: si8, %a7: si8, %a8: si8, %a9: si8):
}) : () -> ()
