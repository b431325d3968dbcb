// hlscpp-prepare-emission: every name the emitter prints becomes a legal, unique C++ identifier — function
// names (and the calls to them), argument names, array/stream names, loop labels; loop indices are i, j, ...
// by depth; temporaries lose their names (printed v<N>).
// RUN: lstmc-opt %s -p hlscpp-prepare-emission | filecheck %s
// RUN: lstmc-opt %s -p hlscpp-prepare-emission -t hls-cpp | filecheck %s --check-prefix=CPP

// Keywords get a trailing underscore, illegal characters become '_', a leading digit gets a '_' prefix,
// clashes are numbered ('in' is taken by the first argument, then by the array: in1, in2). Loop-index
// names i, j, k, ... are reserved, so a stream called 's' becomes 's1'.
// CHECK-LABEL: hlscpp.func @int_(%a: memref<4xsi8> "in", %b: memref<4xsi8> "in1", %c: si8 "for_") {
// CHECK-NEXT:    %new_ = hlscpp.array
// CHECK-NEXT:    %buf = hlscpp.array
// CHECK-NEXT:    %buf2 = hlscpp.array
// CHECK-NEXT:    %x_y = hlscpp.array
// CHECK-NEXT:    %in2 = hlscpp.array
// CHECK-NEXT:    %s1 = hlscpp.stream
// CHECK-NEXT:    %anon = hlscpp.array
// Labels are unique per function; loop indices are named by nesting depth.
// CHECK-NEXT:    hlscpp.for %i = {{.*}} label("copy") {
// CHECK-NEXT:      hlscpp.for %j = {{.*}} label("copy1") {
// CHECK-NEXT:        %0 = hlscpp.load %a[%j]
// CHECK-NEXT:        hlscpp.store %0, %new_[%i]
// CHECK:         hlscpp.for %i{{.*}} = {{.*}} label("new_n1") {

// Two functions that legalize to the same name: the second is numbered, and its calls follow.
// CHECK-LABEL: hlscpp.func @rec_l0() {
// CHECK-LABEL: hlscpp.func @rec_l0n1() {
// CHECK-LABEL: hlscpp.func @main_(%a: memref<4xsi8> "_2x", %b: memref<4xsi8> "a_b", %c: si8 "std_") top {
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

hlscpp.func @int(%a: memref<4xsi8> "in", %b: memref<4xsi8> "in", %c: si8 "for") {
  %new = hlscpp.array local : memref<4xsi8>
  %buf = hlscpp.array local : memref<4xsi8>
  %buf2 = hlscpp.array local : memref<4xsi8>
  %x.y = hlscpp.array local : memref<4xsi8>
  %in = hlscpp.array local : memref<4xsi8>
  %s = hlscpp.stream depth(2) : !hlscpp.stream<si8>
  %anon = hlscpp.array local : memref<4xsi8>
  hlscpp.for %outer = 0 to 4 step 1 label("copy") {
    hlscpp.for %inner = 0 to 4 step 1 label("copy") {
      %v = hlscpp.load %a[%inner] : memref<4xsi8> -> si8
      hlscpp.store %v, %new[%outer] : si8, memref<4xsi8>
    }
  }
  hlscpp.for %again = 0 to 4 step 1 label("new") {
  }
}
hlscpp.func @rec_l0() {
}
hlscpp.func @"rec.l0"() {
}
hlscpp.func @main(%a: memref<4xsi8> "2x", %b: memref<4xsi8> "a b", %c: si8 "std") top {
  hlscpp.call @int(%a, %b, %c) : memref<4xsi8>, memref<4xsi8>, si8
  hlscpp.call @"rec.l0"() :
  hlscpp.call @rec_l0() :
}

// Hostile names from a model (quotes, a newline, a comment opener, non-ASCII, implementation-reserved
// `__x`/`_X`, alternative tokens, macros, the emitter's own v<N> temporaries, and a name equal to a function
// the body calls) all become plain identifiers; nothing of them reaches the C++ but [A-Za-z0-9_].
// CHECK-LABEL: hlscpp.func @evil(%a0: si8 "x____system__rm__", %a1: si8 "a_b__c", %a2: si8 "_9", %a3: si8 "v__x", %a4: si8 "v_X", %a5: si8 "and_", %a6: si8 "NULL_", %a7: si8 "v0_", %a8: si8 "caf_", %a9: si8 "evil1") top {
// CPP-LABEL: void evil(
// CPP-SAME: ap_int<8> x____system__rm__, ap_int<8> a_b__c, ap_int<8> _9, ap_int<8> v__x, ap_int<8> v_X, ap_int<8> and_, ap_int<8> NULL_, ap_int<8> v0_, ap_int<8> caf_, ap_int<8> evil1) {
hlscpp.func @evil(%a0: si8 "x\"); system(\"rm *", %a1: si8 "a\0Ab/*c", %a2: si8 "9", %a3: si8 "__x", %a4: si8 "_X", %a5: si8 "and", %a6: si8 "NULL", %a7: si8 "v0", %a8: si8 "café", %a9: si8 "evil") top {
}
