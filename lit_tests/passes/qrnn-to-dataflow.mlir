// qrnn-to-dataflow: the gate accumulators of a recurrence body (scaled_sums of imatmuls by constant weights)
// become ONE dataflow.mvau over [x_t; h]: weights stacked along K (x rows, then h rows) and the gates side by
// side along N, per-part multipliers and biases carried column for column, each gate read back by a slice.
// The accumulator type comes from interval analysis over the input types (see @two_gates).
// A body that streams (one MVAU, elementwise units on its gates) records on each gate slice the depth of
// its FIFO into the cell from the step schedule: 2, the cell reads all gates of a group at once (see
// @skewed); the MVAU itself has none, its gates leave through the slices' FIFOs, and the units of the cell
// pass their results on in registers. Other bodies record
// the elements a unit produces per step (@imul_term).
// RUN: lstmc-opt %s --split-input-file -p qrnn-to-dataflow | filecheck %s

// Columns (x, h in [-8, 7]): gate a = 1*(x.Wxa) + 2*(h.Wha) + [1, 2], gate b = 3*(x.Wxb) + 4*(h.Whb) + [5, 6].
// Column 3 reaches 6 + 3*48 + 4*97 = 538 > 511, so si11 and not si10.
// CHECK-LABEL: func.func @two_gates(
// CHECK:         ^bb0(%h: tensor<2xsi4>, %xt: tensor<2xsi4>):
// CHECK-NEXT:      %gates = dataflow.mvau(%xt, %h) weights(dense<{{\[\[}}1, 2, -1, -2], [3, 4, -3, -4], [5, 6, -5, -6], [7, -8, -7, 7]]> : tensor<4x4xsi4>) multipliers(dense<{{\[\[}}1, 1, 3, 3], [2, 2, 4, 4]]> : tensor<2x4xi64>) bias(dense<[1, 2, 5, 6]> : tensor<4xi64>) pe(1) simd(1) : (tensor<2xsi4>, tensor<2xsi4>) -> tensor<4xsi11>
// CHECK-NEXT:      %[[A:.*]] = qrnn.slice %gates[0:2] {fifo_depth = 2 : i64} : tensor<4xsi11> -> tensor<2xsi11>
// CHECK-NEXT:      %[[B:.*]] = qrnn.slice %gates[2:4] {fifo_depth = 2 : i64} : tensor<4xsi11> -> tensor<2xsi11>
// CHECK-NEXT:      %[[S:.*]] = qrnn.scaled_sum(%[[A]], %[[B]]) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi11>, tensor<2xsi11>) -> tensor<2xsi17>
// CHECK-NEXT:      %[[HN:.*]] = qrnn.requant %[[S]] shift(8) clamp(-8, 7) rounding(half_even) : tensor<2xsi17> -> tensor<2xsi4>
// CHECK-NEXT:      qrnn.yield %[[HN]], %[[HN]]
// CHECK-NOT:     qrnn.imatmul
func.func @two_gates(%x: tensor<3x2xsi4>) -> tensor<3x2xsi4> {
  %h0 = qrnn.constant dense<0> : tensor<2xsi4>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xsi4>, tensor<3x2xsi4>) -> (tensor<2xsi4>, tensor<3x2xsi4>) {
  ^bb0(%h: tensor<2xsi4>, %xt: tensor<2xsi4>):
    %wxa = qrnn.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xsi4>
    %wha = qrnn.constant dense<[[5, 6], [7, -8]]> : tensor<2x2xsi4>
    %wxb = qrnn.constant dense<[[-1, -2], [-3, -4]]> : tensor<2x2xsi4>
    %whb = qrnn.constant dense<[[-5, -6], [-7, 7]]> : tensor<2x2xsi4>
    %xa = qrnn.imatmul %xt, %wxa : (tensor<2xsi4>, tensor<2x2xsi4>) -> tensor<2xsi10>
    %ha = qrnn.imatmul %h, %wha : (tensor<2xsi4>, tensor<2x2xsi4>) -> tensor<2xsi10>
    %a = qrnn.scaled_sum(%xa, %ha) multipliers(dense<[[1, 1], [2, 2]]> : tensor<2x2xi64>) bias(dense<[1, 2]> : tensor<2xi64>) : (tensor<2xsi10>, tensor<2xsi10>) -> tensor<2xsi16>
    %xb = qrnn.imatmul %xt, %wxb : (tensor<2xsi4>, tensor<2x2xsi4>) -> tensor<2xsi10>
    %hb = qrnn.imatmul %h, %whb : (tensor<2xsi4>, tensor<2x2xsi4>) -> tensor<2xsi10>
    %b = qrnn.scaled_sum(%xb, %hb) multipliers(dense<[[3, 3], [4, 4]]> : tensor<2x2xi64>) bias(dense<[5, 6]> : tensor<2xi64>) : (tensor<2xsi10>, tensor<2xsi10>) -> tensor<2xsi16>
    %s = qrnn.scaled_sum(%a, %b) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi16>, tensor<2xsi16>) -> tensor<2xsi17>
    %hn = qrnn.requant %s shift(8) clamp(-8, 7) rounding("half_even") : tensor<2xsi17> -> tensor<2xsi4>
    qrnn.yield %hn, %hn : tensor<2xsi4>, tensor<2xsi4>
  }
  func.return %ys : tensor<3x2xsi4>
}

// -----
// The importer's layout: one imatmul per input vector for several gates, each gate reading a slice. The
// parts keep the order of first use (h before x here), and the slices' columns are what gets stacked.
// Widest column: 2*(3+7)*(-8) - 3*7 + 9 = -172 .. 173, so si9 (narrower than the si10/si11 gate types).
// CHECK-LABEL: func.func @sliced(
// CHECK:         ^bb0(%h: tensor<2xsi4>, %xt: tensor<1xsi4>):
// CHECK-NEXT:      %gates = dataflow.mvau(%h, %xt) weights(dense<{{\[\[}}1, 2, 3, 4], [5, 6, 7, 0], [-1, -2, -3, -4]]> : tensor<3x4xsi4>) multipliers(dense<{{\[\[}}1, 1, 2, 2], [1, 1, 1, 1]]> : tensor<2x4xi64>) bias(dense<[0, 0, 9, 9]> : tensor<4xi64>) pe(1) simd(1) : (tensor<2xsi4>, tensor<1xsi4>) -> tensor<4xsi9>
// CHECK-NEXT:      %{{.*}} = qrnn.slice %gates[0:2]
// CHECK-NEXT:      %{{.*}} = qrnn.slice %gates[2:4]
// CHECK-NOT:     qrnn.imatmul
// CHECK:         qrnn.yield
func.func @sliced(%x: tensor<3x1xsi4>) -> tensor<3x2xsi4> {
  %h0 = qrnn.constant dense<0> : tensor<2xsi4>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xsi4>, tensor<3x1xsi4>) -> (tensor<2xsi4>, tensor<3x2xsi4>) {
  ^bb0(%h: tensor<2xsi4>, %xt: tensor<1xsi4>):
    %wh = qrnn.constant dense<[[1, 2, 3, 4], [5, 6, 7, 0]]> : tensor<2x4xsi4>
    %wx = qrnn.constant dense<[[-1, -2, -3, -4]]> : tensor<1x4xsi4>
    %mh = qrnn.imatmul %h, %wh : (tensor<2xsi4>, tensor<2x4xsi4>) -> tensor<4xsi9>
    %mx = qrnn.imatmul %xt, %wx : (tensor<1xsi4>, tensor<1x4xsi4>) -> tensor<4xsi7>
    %h0s = qrnn.slice %mh[0:2] : tensor<4xsi9> -> tensor<2xsi9>
    %x0s = qrnn.slice %mx[0:2] : tensor<4xsi7> -> tensor<2xsi7>
    %a = qrnn.scaled_sum(%h0s, %x0s) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi9>, tensor<2xsi7>) -> tensor<2xsi10>
    %h1s = qrnn.slice %mh[2:4] : tensor<4xsi9> -> tensor<2xsi9>
    %x1s = qrnn.slice %mx[2:4] : tensor<4xsi7> -> tensor<2xsi7>
    %b = qrnn.scaled_sum(%h1s, %x1s) multipliers(dense<[[2, 2], [1, 1]]> : tensor<2x2xi64>) bias(dense<9> : tensor<2xi64>) : (tensor<2xsi9>, tensor<2xsi7>) -> tensor<2xsi11>
    %s = qrnn.scaled_sum(%a, %b) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi10>, tensor<2xsi11>) -> tensor<2xsi12>
    %hn = qrnn.requant %s shift(4) clamp(-8, 7) rounding("half_even") : tensor<2xsi12> -> tensor<2xsi4>
    qrnn.yield %hn, %hn : tensor<2xsi4>, tensor<2xsi4>
  }
  func.return %ys : tensor<3x2xsi4>
}

// -----
// FIFO depths from the schedule: gate a goes through two requants before meeting gate b in the imul, all
// in the one cell process that reads both gates of a group at once, so neither gate FIFO waits: depth 2
// each; %t, %u, %m and %hn stay in the cell's registers: no FIFO.
// CHECK-LABEL: func.func @skewed(
// CHECK:         %gates = dataflow.mvau(%xt, %h)
// CHECK-NOT:       fifo_depth
// CHECK-SAME:      -> tensor<6xsi9>
// CHECK-NEXT:    %a = qrnn.slice %gates[0:3] {fifo_depth = 2 : i64}
// CHECK-NEXT:    %b = qrnn.slice %gates[3:6] {fifo_depth = 2 : i64}
// CHECK-NEXT:    %t = qrnn.requant %a shift(1) clamp(-64, 63) rounding(half_even) : tensor<3xsi9> -> tensor<3xsi7>
// CHECK-NEXT:    %u = qrnn.requant %t shift(1) clamp(-32, 31) rounding(half_even) : tensor<3xsi7> -> tensor<3xsi6>
// CHECK-NEXT:    %m = qrnn.imul %b, %u : (tensor<3xsi9>, tensor<3xsi6>) -> tensor<3xsi15>
// CHECK-NEXT:    %hn = qrnn.requant %m shift(11) clamp(-8, 7) rounding(half_even) : tensor<3xsi15> -> tensor<3xsi4>
func.func @skewed(%x: tensor<4x2xsi4>) -> tensor<4x3xsi15> {
  %h0 = qrnn.constant dense<0> : tensor<3xsi4>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<3xsi4>, tensor<4x2xsi4>) -> (tensor<3xsi4>, tensor<4x3xsi15>) {
  ^bb0(%h: tensor<3xsi4>, %xt: tensor<2xsi4>):
    %w = qrnn.constant dense<1> : tensor<5x6xsi2>
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<5x6xsi2>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<2xsi4>, tensor<3xsi4>) -> tensor<6xsi9>
    %a = qrnn.slice %gates[0:3] : tensor<6xsi9> -> tensor<3xsi9>
    %b = qrnn.slice %gates[3:6] : tensor<6xsi9> -> tensor<3xsi9>
    %t = qrnn.requant %a shift(1) clamp(-64, 63) rounding("half_even") : tensor<3xsi9> -> tensor<3xsi7>
    %u = qrnn.requant %t shift(1) clamp(-32, 31) rounding("half_even") : tensor<3xsi7> -> tensor<3xsi6>
    %m = qrnn.imul %b, %u : (tensor<3xsi9>, tensor<3xsi6>) -> tensor<3xsi15>
    %hn = qrnn.requant %m shift(11) clamp(-8, 7) rounding("half_even") : tensor<3xsi15> -> tensor<3xsi4>
    qrnn.yield %hn, %m : tensor<3xsi4>, tensor<3xsi15>
  }
  func.return %ys : tensor<4x3xsi15>
}

// -----
// Must not fire: a term that is not a matrix product (an elementwise imul) — nothing is fused, the
// imatmul stays; only FIFO depths are recorded.
// CHECK-LABEL: func.func @imul_term(
// CHECK-NOT:     dataflow.mvau
// CHECK:         %xa = qrnn.imatmul %xt, %w
// CHECK-NEXT:    %p = qrnn.imul %xt, %h {fifo_depth = 2 : i64}
// CHECK-NEXT:    %a = qrnn.scaled_sum(%xa, %p) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) {fifo_depth = 2 : i64}
// CHECK-NOT:     dataflow.mvau
func.func @imul_term(%x: tensor<3x2xsi4>) -> tensor<3x2xsi4> {
  %h0 = qrnn.constant dense<0> : tensor<2xsi4>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xsi4>, tensor<3x2xsi4>) -> (tensor<2xsi4>, tensor<3x2xsi4>) {
  ^bb0(%h: tensor<2xsi4>, %xt: tensor<2xsi4>):
    %w = qrnn.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xsi4>
    %xa = qrnn.imatmul %xt, %w : (tensor<2xsi4>, tensor<2x2xsi4>) -> tensor<2xsi10>
    %p = qrnn.imul %xt, %h : (tensor<2xsi4>, tensor<2xsi4>) -> tensor<2xsi8>
    %a = qrnn.scaled_sum(%xa, %p) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi10>, tensor<2xsi8>) -> tensor<2xsi11>
    %hn = qrnn.requant %a shift(4) clamp(-8, 7) rounding("half_even") : tensor<2xsi11> -> tensor<2xsi4>
    qrnn.yield %hn, %hn : tensor<2xsi4>, tensor<2xsi4>
  }
  func.return %ys : tensor<3x2xsi4>
}

// -----
// Must not fire: two terms on the same vector are not a gate accumulator over [x; h].
// CHECK-LABEL: func.func @same_vector(
// CHECK-NOT:     dataflow.mvau
// CHECK:         qrnn.imatmul %xt, %w1
// CHECK-NEXT:    qrnn.imatmul %xt, %w2
// CHECK-NOT:     dataflow.mvau
func.func @same_vector(%x: tensor<3x2xsi4>) -> tensor<3x2xsi4> {
  %h0 = qrnn.constant dense<0> : tensor<2xsi4>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xsi4>, tensor<3x2xsi4>) -> (tensor<2xsi4>, tensor<3x2xsi4>) {
  ^bb0(%h: tensor<2xsi4>, %xt: tensor<2xsi4>):
    %w1 = qrnn.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xsi4>
    %w2 = qrnn.constant dense<[[-1, 2], [3, -4]]> : tensor<2x2xsi4>
    %m1 = qrnn.imatmul %xt, %w1 : (tensor<2xsi4>, tensor<2x2xsi4>) -> tensor<2xsi10>
    %m2 = qrnn.imatmul %xt, %w2 : (tensor<2xsi4>, tensor<2x2xsi4>) -> tensor<2xsi10>
    %a = qrnn.scaled_sum(%m1, %m2) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi10>, tensor<2xsi10>) -> tensor<2xsi11>
    %hn = qrnn.requant %a shift(4) clamp(-8, 7) rounding("half_even") : tensor<2xsi11> -> tensor<2xsi4>
    qrnn.yield %hn, %hn : tensor<2xsi4>, tensor<2xsi4>
  }
  func.return %ys : tensor<3x2xsi4>
}

// -----
// Outside a recurrence body (a dense layer of the top level): one unit over both vectors, keeping the
// type of the sum it replaces.
// CHECK-LABEL: func.func @outside_recurrence(
// CHECK-NEXT:    %a = dataflow.mvau(%x, %h) weights(dense<[[1, 2], [3, 4], [-1, 2], [3, -4]]> : tensor<4x2xsi4>) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) {fifo_depth = 2 : i64} : (tensor<2xsi4>, tensor<2xsi4>) -> tensor<2xsi11>
// CHECK-NEXT:    func.return %a : tensor<2xsi11>
func.func @outside_recurrence(%x: tensor<2xsi4>, %h: tensor<2xsi4>) -> tensor<2xsi11> {
  %w1 = qrnn.constant dense<[[1, 2], [3, 4]]> : tensor<2x2xsi4>
  %w2 = qrnn.constant dense<[[-1, 2], [3, -4]]> : tensor<2x2xsi4>
  %m1 = qrnn.imatmul %x, %w1 : (tensor<2xsi4>, tensor<2x2xsi4>) -> tensor<2xsi10>
  %m2 = qrnn.imatmul %h, %w2 : (tensor<2xsi4>, tensor<2x2xsi4>) -> tensor<2xsi10>
  %a = qrnn.scaled_sum(%m1, %m2) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi10>, tensor<2xsi10>) -> tensor<2xsi11>
  func.return %a : tensor<2xsi11>
}

// -----
// A convolution at the top level: window patches [V, K] times the weight matrix -> one unit over V vectors.
// CHECK-LABEL: func.func @conv_patches(
// CHECK-NEXT:    %y = dataflow.mvau(%p) weights(dense<[[1, -2], [3, 4], [-1, 0]]> : tensor<3x2xsi4>) multipliers(dense<[[2, 1]]> : tensor<1x2xi64>) bias(dense<[5, -5]> : tensor<2xi64>) pe(1) simd(1) {fifo_depth = 8 : i64} : (tensor<4x3xui4>) -> tensor<4x2xsi10>
// CHECK-NEXT:    func.return %y : tensor<4x2xsi10>
func.func @conv_patches(%p: tensor<4x3xui4>) -> tensor<4x2xsi10> {
  %w = qrnn.constant dense<[[1, -2], [3, 4], [-1, 0]]> : tensor<3x2xsi4>
  %m = qrnn.imatmul %p, %w : (tensor<4x3xui4>, tensor<3x2xsi4>) -> tensor<4x2xsi8>
  %y = qrnn.scaled_sum(%m) multipliers(dense<[[2, 1]]> : tensor<1x2xi64>) bias(dense<[5, -5]> : tensor<2xi64>) : (tensor<4x2xsi8>) -> tensor<4x2xsi10>
  func.return %y : tensor<4x2xsi10>
}

// -----
// A product read raw by a threshold (threshold-input=accumulator absorbed its scale, as for GRU's W_hn h): it
// gets an identity scaled_sum, so it becomes an MVAU like the gates; nothing stays an imatmul.
// CHECK-LABEL: func.func @bare_product(
// CHECK-NEXT:    %m = dataflow.mvau(%x) weights(dense<{{\[\[}}1, 2], [3, 4]]> : tensor<2x2xui3>) multipliers(dense<1> : tensor<1x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) {fifo_depth = 2 : i64} : (tensor<2xsi4>) -> tensor<2xsi10>
// CHECK-NEXT:    %t = qrnn.threshold %m thresholds(dense<[-3, 0, 3]> : tensor<3xi64>) base(0) : tensor<2xsi10> -> tensor<2xui2>
func.func @bare_product(%x: tensor<2xsi4>) -> tensor<2xui2> {
  %w = qrnn.constant dense<[[1, 2, -1, 0], [3, 4, 2, 1]]> : tensor<2x4xsi4>
  %m = qrnn.imatmul %x, %w : (tensor<2xsi4>, tensor<2x4xsi4>) -> tensor<4xsi10>
  %s = qrnn.slice %m[0:2] : tensor<4xsi10> -> tensor<2xsi10>
  %t = qrnn.threshold %s thresholds(dense<[-3, 0, 3]> : tensor<3xi64>) base(0) : tensor<2xsi10> -> tensor<2xui2>
  func.return %t : tensor<2xui2>
}
