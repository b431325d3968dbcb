// qrnn-legalize-precision: float qrnn with quantizers -> integer-only qrnn. Expected integer types, shifts,
// multipliers and thresholds below are computed by hand (interval analysis over the weight codes, sigmoid
// tables from float32 sigmoid / QuantizeLinear half-to-even).
// Every RUN uses --verify-diagnostics so that the error cases at the end print their message (and exit 0)
// instead of stopping the split file; the default RUN CHECKs those messages.
// The CHECK lines pin the former default, reachable with these options (thresholds on the aligned sum, rounded
// multipliers); DEFAULT pins today's defaults on the cases at the end (threshold-input=accumulator act-impl=auto
// requant-impl=auto datapath-bits=24).
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{threshold-input=aligned act-impl=threshold requant-impl=aligned}' | filecheck %s
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{act-impl=lut threshold-input=aligned requant-impl=aligned}' | filecheck %s --check-prefix=LUT
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{error-budget=0.25 threshold-input=aligned act-impl=threshold requant-impl=aligned}' | filecheck %s --check-prefix=BUDGET
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{act-impl=exp}' | filecheck %s --check-prefix=OPT
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{error-budget=0.5}' | filecheck %s --check-prefix=OPT-BUDGET
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{threshold-input=accumulator act-impl=threshold requant-impl=aligned}' | filecheck %s --check-prefix=ACC
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{act-impl=auto threshold-input=aligned requant-impl=aligned}' | filecheck %s --check-prefix=AUTO
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{threshold-input=accumulator act-impl=auto requant-impl=aligned}' | filecheck %s --check-prefix=ACC-AUTO
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{threshold-input=raw}' | filecheck %s --check-prefix=OPT-INPUT
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p qrnn-legalize-precision | filecheck %s --check-prefix=DEFAULT
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{datapath-bits=16}' | filecheck %s --check-prefix=CAP16
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{requant-impl=exact}' | filecheck %s --check-prefix=OPT-REQUANT
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-legalize-precision{datapath-bits=63}' | filecheck %s --check-prefix=OPT-BITS

// OPT: qrnn-legalize-precision: act-impl must be one of threshold, lut, auto, got 'exp'
// OPT-BUDGET: qrnn-legalize-precision: error-budget must be in [0, 0.5) LSB, got 0.5
// OPT-INPUT: qrnn-legalize-precision: threshold-input must be one of aligned, accumulator, got 'raw'
// OPT-REQUANT: qrnn-legalize-precision: requant-impl must be one of aligned, auto, got 'exact'
// OPT-BITS: qrnn-legalize-precision: datapath-bits must be in [0, 62] (0: no limit), got 63

// A graph input quantized and returned: qrnn.quantize at the input, qrnn.dequantize at the output. The
// asymmetric u8 (zp = 128) codes are kept centred: code - 128 in [-128, 127] is an si8.
// CHECK-LABEL: func.func @io(
// CHECK-SAME:      %x: tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    [[Q:%[^ ]+]] = qrnn.quantize %x by <u8, scale = 0.25, zp = 128> : tensor<4xf32> -> tensor<4xsi8>
// CHECK-NEXT:    [[D:%[^ ]+]] = qrnn.dequantize [[Q]] by <u8, scale = 0.25, zp = 128> : tensor<4xsi8> -> tensor<4xf32>
// CHECK-NEXT:    func.return [[D]] : tensor<4xf32>
func.func @io(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <u8, scale = 0.25, zp = 128> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}

// -----

// x (s4, codes [-8, 7], scale 1/2) @ W (s4 narrow, scale 1/4, codes [[4, -2, 1], [3, 0, -4]]) + b (scale 1/8,
// codes [4, -2, 1]) -> quantizer s8 scale 1/4.
// imatmul ranges per column: [-56, 49], [-14, 16], [-36, 39] -> si7.
// Scales: x*W is 1/8 = 1/2 output LSB, b / (1/4) = [2, -1, 1/2]: all dyadic, one fractional bit -> shift 1,
// multiplier 1, bias [4, -2, 1], error_bound 0. Sum ranges [-52, 53], [-16, 14], [-35, 40] -> si7.
// CHECK-LABEL: func.func @dense_po2(
// CHECK-NEXT:    [[X:%[^ ]+]] = qrnn.quantize %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32> -> tensor<2xsi4>
// CHECK-NEXT:    [[W:%[^ ]+]] = qrnn.constant dense<{{\[}}[4, -2, 1], [3, 0, -4]]> : tensor<2x3xsi4>
// CHECK-NEXT:    [[M:%[^ ]+]] = qrnn.imatmul [[X]], [[W]] : (tensor<2xsi4>, tensor<2x3xsi4>) -> tensor<3xsi7>
// CHECK-NEXT:    [[S:%[^ ]+]] = qrnn.scaled_sum([[M]]) multipliers(dense<1> : tensor<1x3xi64>) bias(dense<[4, -2, 1]> : tensor<3xi64>) : (tensor<3xsi7>) -> tensor<3xsi7>
// CHECK-NEXT:    [[R:%[^ ]+]] = qrnn.requant [[S]] shift(1) clamp(-128, 127) rounding(half_even) {error_bound = 0.000000e+00 : f64} : tensor<3xsi7> -> tensor<3xsi8>
// CHECK-NEXT:    [[D:%[^ ]+]] = qrnn.dequantize [[R]] by <s8, scale = 0.25, zp = 0> : tensor<3xsi8> -> tensor<3xf32>
// CHECK-NEXT:    func.return [[D]] : tensor<3xf32>
func.func @dense_po2(%x: tensor<2xf32>) -> tensor<3xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %w = qrnn.constant dense<[[1.0, -0.5, 0.25], [0.75, 0.0, -1.0]]> : tensor<2x3xf32>
  %wq = qrnn.quant %w by <s4 narrow, scale = 0.25, zp = 0> : tensor<2x3xf32>
  %m = qrnn.matmul %xq, %wq : (tensor<2xf32>, tensor<2x3xf32>) -> tensor<3xf32>
  %b = qrnn.constant dense<[0.5, -0.25, 0.125]> : tensor<3xf32>
  %bq = qrnn.quant %b by <s16, scale = 0.125, zp = 0> : tensor<3xf32>
  %a = qrnn.add %m, %bq : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %aq = qrnn.quant %a by <s8, scale = 0.25, zp = 0> : tensor<3xf32>
  func.return %aq : tensor<3xf32>
}

// -----

// Same matmul, output scale 3/8 (exact in f32): ratio (1/8) / (3/8) = 1/3 is not dyadic.
// Error of multiplier round(2^F / 3) is 1 / (3 * 2^F) per unit of the term, times max |term| = 56:
// - default budget 2^-20: 56 / (3 * 2^F) <= 2^-20 -> F = 25, multiplier 11184811, bound 5.563e-07;
//   sum range 11184811 * [-56, 49] -> si31.
// - budget 1/4: F = 7, multiplier 43, bound |43/128 - 1/3| * 56 = 56/384 = 0.14583; range 43 * [-56, 49] -> si13.
// - requant-impl=auto (DEFAULT): the smallest exact multiplier. The sum is k/3 for an integer k, at least 1/6
//   from every rounding boundary; 43/128 is off by 1/384, at most 56/384 < 1/6 on the range: exact (error_bound
//   0), si13. 21/64 is off by 1/192, 56/192 > 1/6: F = 7 is the smallest. (35 thresholds of 7 bits cost more.)
// CHECK-LABEL: func.func @dense_non_dyadic(
// CHECK:         [[M:%[^ ]+]] = qrnn.imatmul {{.*}} -> tensor<3xsi7>
// CHECK-NEXT:    [[S:%[^ ]+]] = qrnn.scaled_sum([[M]]) multipliers(dense<11184811> : tensor<1x3xi64>) bias(dense<0> : tensor<3xi64>) : (tensor<3xsi7>) -> tensor<3xsi31>
// CHECK-NEXT:    [[R:%[^ ]+]] = qrnn.requant [[S]] shift(25) clamp(-128, 127) rounding(half_even) {error_bound = 5.563{{[0-9]*}}e-07 : f64} : tensor<3xsi31> -> tensor<3xsi8>
// CHECK-NEXT:    qrnn.dequantize [[R]] by <s8, scale = 0.375, zp = 0>
// DEFAULT-LABEL: func.func @dense_non_dyadic(
// DEFAULT:         [[M:%[^ ]+]] = qrnn.imatmul {{.*}} -> tensor<3xsi7>
// DEFAULT-NEXT:    [[S:%[^ ]+]] = qrnn.scaled_sum([[M]]) multipliers(dense<43> : tensor<1x3xi64>) bias(dense<0> : tensor<3xi64>) : (tensor<3xsi7>) -> tensor<3xsi13>
// DEFAULT-NEXT:    [[R:%[^ ]+]] = qrnn.requant [[S]] shift(7) clamp(-128, 127) rounding(half_even) {error_bound = 0.000000e+00 : f64} : tensor<3xsi13> -> tensor<3xsi8>
// BUDGET-LABEL: func.func @dense_non_dyadic(
// BUDGET:         [[S:%[^ ]+]] = qrnn.scaled_sum({{.*}}) multipliers(dense<43> : tensor<1x3xi64>) bias(dense<0> : tensor<3xi64>) : (tensor<3xsi7>) -> tensor<3xsi13>
// BUDGET-NEXT:    qrnn.requant [[S]] shift(7) clamp(-128, 127) rounding(half_even) {error_bound = 0.1458333{{[0-9]*}} : f64} : tensor<3xsi13> -> tensor<3xsi8>
func.func @dense_non_dyadic(%x: tensor<2xf32>) -> tensor<3xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %w = qrnn.constant dense<[[1.0, -0.5, 0.25], [0.75, 0.0, -1.0]]> : tensor<2x3xf32>
  %wq = qrnn.quant %w by <s4 narrow, scale = 0.25, zp = 0> : tensor<2x3xf32>
  %m = qrnn.matmul %xq, %wq : (tensor<2xf32>, tensor<2x3xf32>) -> tensor<3xf32>
  %mq = qrnn.quant %m by <s8, scale = 0.375, zp = 0> : tensor<3xf32>
  func.return %mq : tensor<3xf32>
}

// -----

// A product of two codes (f * c in the cell update): u4 [0, 15] * s8 [-128, 127] -> imul si12 [-1920, 1905],
// scale 1/16 * 1/32 onto 1/32: shift 4, no scaled_sum (one term, multiplier 1).
// CHECK-LABEL: func.func @gate_mul(
// CHECK-NEXT:    [[F:%[^ ]+]] = qrnn.quantize %f by <u4, scale = 0.0625, zp = 0> : tensor<2xf32> -> tensor<2xui4>
// CHECK-NEXT:    [[C:%[^ ]+]] = qrnn.quantize %c by <s8, scale = 0.03125, zp = 0> : tensor<2xf32> -> tensor<2xsi8>
// CHECK-NEXT:    [[P:%[^ ]+]] = qrnn.imul [[F]], [[C]] : (tensor<2xui4>, tensor<2xsi8>) -> tensor<2xsi12>
// CHECK-NEXT:    [[R:%[^ ]+]] = qrnn.requant [[P]] shift(4) clamp(-128, 127) rounding(half_even) {error_bound = 0.000000e+00 : f64} : tensor<2xsi12> -> tensor<2xsi8>
// CHECK-NEXT:    qrnn.dequantize [[R]]
func.func @gate_mul(%f: tensor<2xf32>, %c: tensor<2xf32>) -> tensor<2xf32> {
  %fq = qrnn.quant %f by <u4, scale = 0.0625, zp = 0> : tensor<2xf32>
  %cq = qrnn.quant %c by <s8, scale = 0.03125, zp = 0> : tensor<2xf32>
  %p = qrnn.mul %fq, %cq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %pq = qrnn.quant %p by <s8, scale = 0.03125, zp = 0> : tensor<2xf32>
  func.return %pq : tensor<2xf32>
}

// -----

// sigmoid of codes -8..7 (scale 1/2), quantized u2 scale 1/4: 4 * sigmoid(v) =
// 0.07 0.12 0.19 0.30 0.48 0.73 1.08 1.51 2.00 2.49 2.92 3.27 3.52 3.70 3.81 3.88 -> codes
// 0    0    0    0    0    1    1    2    2    2    3    3    3    3    3    3
// so output >= 1 from code -3, >= 2 from code -1, >= 3 from code 2.
// CHECK-LABEL: func.func @sig(
// CHECK-NEXT:    [[X:%[^ ]+]] = qrnn.quantize %x by <s4, scale = 0.5, zp = 0> : tensor<4xf32> -> tensor<4xsi4>
// CHECK-NEXT:    [[T:%[^ ]+]] = qrnn.threshold [[X]] thresholds(dense<[-3, -1, 2]> : tensor<3xi64>) base(0) : tensor<4xsi4> -> tensor<4xui2>
// CHECK-NEXT:    [[D:%[^ ]+]] = qrnn.dequantize [[T]] by <u2, scale = 0.25, zp = 0> : tensor<4xui2> -> tensor<4xf32>
// CHECK-NEXT:    func.return [[D]]
// LUT-LABEL: func.func @sig(
// LUT-NEXT:    [[X:%[^ ]+]] = qrnn.quantize %x
// LUT-NEXT:    [[T:%[^ ]+]] = qrnn.lut [[X]] table(dense<[0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3]> : tensor<16xi64>) offset(-8) : tensor<4xsi4> -> tensor<4xui2>
// LUT-NEXT:    qrnn.dequantize [[T]]
// act-impl=auto: 16 entries of 2 bits (2 LUTs of LUTRAM) cost less than 3 comparators of 4 bits (lstmc.qor).
// AUTO-LABEL: func.func @sig(
// AUTO-NEXT:    [[X:%[^ ]+]] = qrnn.quantize %x
// AUTO-NEXT:    qrnn.lut [[X]] table(dense<[0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3]> : tensor<16xi64>) offset(-8) : tensor<4xsi4> -> tensor<4xui2>
func.func @sig(%x: tensor<4xf32>) -> tensor<4xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<4xf32>
  %s = qrnn.sigmoid %xq : tensor<4xf32>
  %sq = qrnn.quant %s by <u2, scale = 0.25, zp = 0> : tensor<4xf32>
  func.return %sq : tensor<4xf32>
}

// -----

// The requantizer in front of a sigmoid is fused into the thresholds: x/4 + y/2 onto LSB 1/2 is
// acc = x + 2 y at shift 1; code thresholds [-3, -1, 2] become the smallest acc with
// round_half_even(acc / 2) >= c: -7 -> -3.5 -> -4 so -6; -3 -> -1.5 -> -2 so -2; 3 -> 1.5 -> 2 so 3.
// The threshold reads the scaled_sum; the requant has no use left and is erased.
// With act-impl=lut the requant stays and the table covers the s6 code range [-32, 31].
// CHECK-LABEL: func.func @sig_fused(
// CHECK-NEXT:    [[X:%[^ ]+]] = qrnn.quantize %x by <s4, scale = 0.25, zp = 0>
// CHECK-NEXT:    [[Y:%[^ ]+]] = qrnn.quantize %y by <s4, scale = 0.5, zp = 0>
// CHECK-NEXT:    [[S:%[^ ]+]] = qrnn.scaled_sum([[X]], [[Y]]) multipliers(dense<{{\[}}[1, 1], [2, 2]]> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi4>, tensor<2xsi4>) -> tensor<2xsi6>
// CHECK-NEXT:    [[T:%[^ ]+]] = qrnn.threshold [[S]] thresholds(dense<[-6, -2, 3]> : tensor<3xi64>) base(0) : tensor<2xsi6> -> tensor<2xui2>
// CHECK-NEXT:    qrnn.dequantize [[T]]
// CHECK-NOT:     qrnn.requant
// LUT-LABEL: func.func @sig_fused(
// LUT:         [[S:%[^ ]+]] = qrnn.scaled_sum
// LUT-NEXT:    [[R:%[^ ]+]] = qrnn.requant [[S]] shift(1) clamp(-32, 31) rounding(half_even) {error_bound = 0.000000e+00 : f64} : tensor<2xsi6> -> tensor<2xsi6>
// LUT-NEXT:    [[T:%[^ ]+]] = qrnn.lut [[R]] table(dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]> : tensor<64xi64>) offset(-32) : tensor<2xsi6> -> tensor<2xui2>
// act-impl=auto reads the table off the fused thresholds, over the sum's si6 type: no requantizer at all.
// AUTO-LABEL: func.func @sig_fused(
// AUTO:         [[S:%[^ ]+]] = qrnn.scaled_sum
// AUTO-NEXT:    qrnn.lut [[S]] table(dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]> : tensor<64xi64>) offset(-32) : tensor<2xsi6> -> tensor<2xui2>
// AUTO-NEXT:    qrnn.dequantize
// With dyadic scales the aligned sum is already exact and narrow: threshold-input=accumulator keeps it.
// ACC-LABEL: func.func @sig_fused(
// ACC:           qrnn.scaled_sum(%xq, %yq) multipliers(dense<{{\[}}[1, 1], [2, 2]]> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>)
// ACC-NEXT:      qrnn.threshold %{{.*}} thresholds(dense<[-6, -2, 3]> : tensor<3xi64>) base(0) : tensor<2xsi6> -> tensor<2xui2>
func.func @sig_fused(%x: tensor<2xf32>, %y: tensor<2xf32>) -> tensor<2xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.25, zp = 0> : tensor<2xf32>
  %yq = qrnn.quant %y by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %a = qrnn.add %xq, %yq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %aq = qrnn.quant %a by <s6, scale = 0.5, zp = 0> : tensor<2xf32>
  %s = qrnn.sigmoid %aq : tensor<2xf32>
  %sq = qrnn.quant %s by <u2, scale = 0.25, zp = 0> : tensor<2xf32>
  func.return %sq : tensor<2xf32>
}

// -----

// Per-channel input scales [1/2, 1]: one threshold row per channel (codes -4..3):
// channel 0: 4 sigmoid(c/2) = 0.48 0.73 1.08 1.51 2.00 2.49 2.92 3.27 -> [-3, -1, 2];
// channel 1: 4 sigmoid(c)   = 0.07 0.19 0.48 1.08 2.00 2.92 3.52 3.81 -> [-1, 0, 1].
// A per-channel table is refused with act-impl=lut.
// CHECK-LABEL: func.func @sig_per_channel(
// CHECK:         qrnn.threshold %{{.*}} thresholds(dense<{{\[}}[-3, -1, 2], [-1, 0, 1]]> : tensor<2x3xi64>) base(0) : tensor<2xsi3> -> tensor<2xui2>
// LUT: qrnn-legalize-precision: 'qrnn.quant' (%sq): per-channel activation tables are only supported with act-impl=threshold
func.func @sig_per_channel(%x: tensor<2xf32>) -> tensor<2xf32> {
  %xq = qrnn.quant %x by <s3, scale = [0.5, 1.0], zp = [0, 0], axis = 0> : tensor<2xf32>
  %s = qrnn.sigmoid %xq : tensor<2xf32>
  %sq = qrnn.quant %s by <u2, scale = 0.25, zp = 0> : tensor<2xf32>
  func.return %sq : tensor<2xf32>
}

// -----

// A recurrence whose state is quantized s6: the state becomes si6 (initial state quantized to codes), the
// scanned input keeps its si4 codes, h + x_t ranges over [-40, 38] (si7) and is clamped back to [-32, 31].
// CHECK-LABEL: func.func @rec(
// CHECK-NEXT:    [[X:%[^ ]+]] = qrnn.quantize %x by <s4, scale = 0.5, zp = 0> : tensor<3x2xf32> -> tensor<3x2xsi4>
// CHECK-NEXT:    [[H0:%[^ ]+]] = qrnn.constant dense<0> : tensor<2xsi6>
// CHECK-NEXT:    [[HT:%[^ ]+]], [[YS:%[^ ]+]] = qrnn.recurrence([[H0]]) scan([[X]]) directions [forward] -> [reverse] : (tensor<2xsi6>, tensor<3x2xsi4>) -> (tensor<2xsi6>, tensor<3x2xsi6>) {
// CHECK-NEXT:    ^bb0([[H:%[^ ]+]]: tensor<2xsi6>, [[XT:%[^ ]+]]: tensor<2xsi4>):
// CHECK-NEXT:      [[S:%[^ ]+]] = qrnn.scaled_sum([[H]], [[XT]]) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi6>, tensor<2xsi4>) -> tensor<2xsi7>
// CHECK-NEXT:      [[HQ:%[^ ]+]] = qrnn.requant [[S]] shift(0) clamp(-32, 31) rounding(half_even) {error_bound = 0.000000e+00 : f64} : tensor<2xsi7> -> tensor<2xsi6>
// CHECK-NEXT:      qrnn.yield [[HQ]], [[HQ]] : tensor<2xsi6>, tensor<2xsi6>
// CHECK-NEXT:    }
// CHECK-NEXT:    [[DH:%[^ ]+]] = qrnn.dequantize [[HT]] by <s6, scale = 0.5, zp = 0> : tensor<2xsi6> -> tensor<2xf32>
// CHECK-NEXT:    [[DY:%[^ ]+]] = qrnn.dequantize [[YS]] by <s6, scale = 0.5, zp = 0> : tensor<3x2xsi6> -> tensor<3x2xf32>
// CHECK-NEXT:    func.return [[DH]], [[DY]] : tensor<2xf32>, tensor<3x2xf32>
func.func @rec(%x: tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  %h0 = qrnn.constant dense<0.0> : tensor<2xf32>
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<3x2xf32>
  %hT, %ys = qrnn.recurrence(%h0) scan(%xq) directions [forward] -> [reverse] : (tensor<2xf32>, tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  ^bb0(%h: tensor<2xf32>, %xt: tensor<2xf32>):
    %s = qrnn.add %h, %xt : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %hq = qrnn.quant %s by <s6, scale = 0.5, zp = 0> : tensor<2xf32>
    qrnn.yield %hq, %hq : tensor<2xf32>, tensor<2xf32>
  }
  func.return %hT, %ys : tensor<2xf32>, tensor<3x2xf32>
}

// -----

// Already integer IR (no float op but the boundary quantize/dequantize): the pass must not fire.
// CHECK-LABEL: func.func @already_integer(
// CHECK-NEXT:    %xq = qrnn.quantize %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32> -> tensor<2xsi4>
// CHECK-NEXT:    %w = qrnn.constant dense<{{\[}}[4, -2, 1], [3, 0, -4]]> : tensor<2x3xsi4>
// CHECK-NEXT:    %m = qrnn.imatmul %xq, %w : (tensor<2xsi4>, tensor<2x3xsi4>) -> tensor<3xsi7>
// CHECK-NEXT:    %r = qrnn.requant %m shift(1) clamp(-128, 127) rounding(half_even) : tensor<3xsi7> -> tensor<3xsi8>
// CHECK-NEXT:    %d = qrnn.dequantize %r by <s8, scale = 0.25, zp = 0> : tensor<3xsi8> -> tensor<3xf32>
// CHECK-NEXT:    func.return %d : tensor<3xf32>
// CHECK-LABEL: func.func private @declaration(tensor<2xf32>) -> tensor<2xf32>
func.func @already_integer(%x: tensor<2xf32>) -> tensor<3xf32> {
  %xq = qrnn.quantize %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32> -> tensor<2xsi4>
  %w = qrnn.constant dense<[[4, -2, 1], [3, 0, -4]]> : tensor<2x3xsi4>
  %m = qrnn.imatmul %xq, %w : (tensor<2xsi4>, tensor<2x3xsi4>) -> tensor<3xsi7>
  %r = qrnn.requant %m shift(1) clamp(-128, 127) rounding(half_even) : tensor<3xsi7> -> tensor<3xsi8>
  %d = qrnn.dequantize %r by <s8, scale = 0.25, zp = 0> : tensor<3xsi8> -> tensor<3xf32>
  func.return %d : tensor<3xf32>
}
func.func private @declaration(tensor<2xf32>) -> tensor<2xf32>

// -----

// FINN-GL's column form MatMul(W [3, 2], x [2, 1]) (after qrnn-canonicalize: a reshape on each side) is the
// integer row-vector product x^T W^T: the transposed codes, no float rounding order to keep.
// CHECK-LABEL: func.func @column_product(
// CHECK-NEXT:    %xq = qrnn.quantize %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32> -> tensor<2xsi4>
// CHECK-NEXT:    %[[WT:.*]] = qrnn.constant dense<{{\[}}[1, 3, -5], [-2, 4, 6]]> : tensor<2x3xsi4>
// CHECK-NEXT:    %m = qrnn.imatmul %xq, %[[WT]] : (tensor<2xsi4>, tensor<2x3xsi4>) -> tensor<3xsi8>
// CHECK-NEXT:    %mq = qrnn.dequantize %m by <s8, scale = 0.125, zp = 0> : tensor<3xsi8> -> tensor<3xf32>
func.func @column_product(%x: tensor<2xf32>) -> tensor<3xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %xc = qrnn.reshape %xq : tensor<2xf32> -> tensor<2x1xf32>
  %w = qrnn.qconstant dense<[[1, -2], [3, 4], [-5, 6]]> : tensor<3x2xsi4> by <s4 narrow, scale = 0.25, zp = 0>
  %m = qrnn.matmul %w, %xc : (tensor<3x2xf32>, tensor<2x1xf32>) -> tensor<3x1xf32>
  %v = qrnn.reshape %m : tensor<3x1xf32> -> tensor<3xf32>
  %mq = qrnn.quant %v by <s8, scale = 0.125, zp = 0> : tensor<3xf32>
  func.return %mq : tensor<3xf32>
}

// -----

// A state carried unquantized (FINN-GL's c_t = DQ(Q(f c)) + DQ(Q(i g))): the sum of two s4 codes of scale 0.25
// is on that grid in [-16, 14], so the state is an si5 (grid analysis, fixpoint over the recurrence); the graph
// input c0 is quantized onto that grid (the smallest integer range holding it, s5) at the boundary, and the
// final state dequantizes with it.
// CHECK-LABEL: func.func @carried_sum(
// CHECK-NEXT:    %xq = qrnn.quantize %x by <s4, scale = 0.5, zp = 0> : tensor<3x2xf32> -> tensor<3x2xsi4>
// CHECK-NEXT:    %[[C0:.*]] = qrnn.quantize %c0 by <s5, scale = 0.25, zp = 0> : tensor<2xf32> -> tensor<2xsi5>
// CHECK-NEXT:    %cT, %ys = qrnn.recurrence(%[[C0]]) scan(%xq) directions [forward] -> [forward] : (tensor<2xsi5>, tensor<3x2xsi4>) -> (tensor<2xsi5>, tensor<3x2xsi4>) {
// CHECK-NEXT:    ^bb0(%c: tensor<2xsi5>, %xt: tensor<2xsi4>):
// CHECK-NEXT:      %fcq = qrnn.requant %c shift(1) clamp(-8, 7)
// CHECK:           %xs = qrnn.requant
// CHECK-NEXT:      %[[SUM:.*]] = qrnn.scaled_sum(%fcq, %xs) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi4>, tensor<2xsi4>) -> tensor<2xsi5>
// CHECK-NEXT:      %y = qrnn.requant %[[SUM]] shift(0) clamp(-8, 7)
// CHECK-NEXT:      qrnn.yield %[[SUM]], %y : tensor<2xsi5>, tensor<2xsi4>
// CHECK-NEXT:    }
// CHECK-NEXT:    %{{.*}} = qrnn.dequantize %cT by <s5, scale = 0.25, zp = 0> : tensor<2xsi5> -> tensor<2xf32>
func.func @carried_sum(%c0: tensor<2xf32>, %x: tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<3x2xf32>
  %cT, %ys = qrnn.recurrence(%c0) scan(%xq) directions [forward] -> [forward] : (tensor<2xf32>, tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  ^bb0(%c: tensor<2xf32>, %xt: tensor<2xf32>):
    %half = qrnn.constant dense<0.5> : tensor<2xf32>
    %fc = qrnn.mul %c, %half : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %fcq = qrnn.quant %fc by <s4, scale = 0.25, zp = 0> : tensor<2xf32>
    %xs = qrnn.quant %xt by <s4, scale = 0.25, zp = 0> : tensor<2xf32>
    %cn = qrnn.add %fcq, %xs : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %y = qrnn.quant %cn by <s4, scale = 0.25, zp = 0> : tensor<2xf32>
    qrnn.yield %cn, %y : tensor<2xf32>, tensor<2xf32>
  }
  func.return %cT, %ys : tensor<2xf32>, tensor<3x2xf32>
}

// -----

// Q by 0.25, DQ by 0.1 (FINN-GL's scale_3 / scale_4): the codes are round(x / 0.25) = 2 xq, fused into the
// tanh thresholds; the thresholds come from tanh(code * 0.1), the dequantizer's values.
// CHECK-LABEL: func.func @requant_other_scale(
// CHECK-NEXT:    %xq = qrnn.quantize %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32> -> tensor<2xsi4>
// CHECK-NEXT:    %[[A:.*]] = qrnn.scaled_sum(%xq) multipliers(dense<2> : tensor<1x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi4>) -> tensor<2xsi5>
// CHECK-NEXT:    %tq = qrnn.threshold %[[A]] thresholds(dense<[-6, -4, -3, -1, 0, 1, 2, 4, 5, 7]> : tensor<10xi64>) base(-5) : tensor<2xsi5> -> tensor<2xsi4>
// threshold-input=accumulator: the Q code is 2 xq exactly, so the thresholds read xq (no adder): smallest xq with
// 2 xq >= -6, -4, -3, -1, 0, 1, 2, 4, 5, 7.
// ACC-LABEL: func.func @requant_other_scale(
// ACC-NEXT:    %xq = qrnn.quantize %x
// ACC-NEXT:    %tq = qrnn.threshold %xq thresholds(dense<[-3, -2, -1, 0, 0, 1, 1, 2, 3, 4]> : tensor<10xi64>) base(-5) : tensor<2xsi4> -> tensor<2xsi4>
func.func @requant_other_scale(%x: tensor<2xf32>) -> tensor<2xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %r = qrnn.quant_dequant %xq by <s4, scale = 0.25, zp = 0> to <s4, scale = 0.1, zp = 0> : tensor<2xf32>
  %t = qrnn.tanh %r : tensor<2xf32>
  %tq = qrnn.quant %t by <s4, scale = 0.125, zp = 0> : tensor<2xf32>
  func.return %tq : tensor<2xf32>
}

// -----

// A float bias off the accumulator's grid: 0.37499997 / 0.25 = 1.49999988, so 2 x + 1.49999988 rounds to
// 2 x + 1. Rounding the bias to F = 19 fractional bits would not be exact; it becomes 2 floor(c 2^19) + 1 at
// F = 20 instead (786431.9375 -> 1572863): never on a rounding boundary, on the same side of each as the exact
// sum. The recorded bound is the represented value's distance, 0.4375 / 2^19.
// CHECK-LABEL: func.func @bias_off_grid(
// CHECK-NEXT:    %xq = qrnn.quantize %x
// CHECK-NEXT:    %[[A:.*]] = qrnn.scaled_sum(%xq) multipliers(dense<2097152> : tensor<1x1xi64>) bias(dense<1572863> : tensor<1xi64>) : (tensor<1xsi4>) -> tensor<1xsi25>
// CHECK-NEXT:    %aq = qrnn.requant %[[A]] shift(20) clamp(-128, 127) rounding(half_even) {error_bound = 8.3446502685546875e-07 : f64}
// With a 0.25 LSB budget, F = 1: bias 5 at shift 2 is (8 x + 5) / 4 = 2 x + 1.25, where rounding the bias
// (round(2.99999976) = 3 at shift 1, i.e. 2 x + 1.5) would make a tie that half-even sends to 2 x + 2.
// BUDGET-LABEL: func.func @bias_off_grid(
// BUDGET-NEXT:    %xq = qrnn.quantize %x
// BUDGET-NEXT:    %[[A:.*]] = qrnn.scaled_sum(%xq) multipliers(dense<8> : tensor<1x1xi64>) bias(dense<5> : tensor<1xi64>) : (tensor<1xsi4>) -> tensor<1xsi7>
// BUDGET-NEXT:    %aq = qrnn.requant %[[A]] shift(2) clamp(-128, 127) rounding(half_even) {error_bound = 0.24999988079071045 : f64}
func.func @bias_off_grid(%x: tensor<1xf32>) -> tensor<1xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<1xf32>
  %b = qrnn.constant dense<0.37499997> : tensor<1xf32>
  %a = qrnn.add %xq, %b : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
  %aq = qrnn.quant %a by <s8, scale = 0.25, zp = 0> : tensor<1xf32>
  func.return %aq : tensor<1xf32>
}

// -----

// A gate: x and h on one scale 1/2, a float bias [0.1, -0.3] off every grid, accumulator quantizer s4 with scale
// 3/4 (ratio 2/3, not dyadic), sigmoid to u2 1/4. Aligned (default): multiplier round(2/3 2^23), the bias
// aligned too, 28 bits, shared thresholds. threshold-input=accumulator: A = x + h (si5), code
// round(2 A / 3 + b / 0.75); sigmoid codes of s4 scale 3/4 reach 1, 2, 3 from codes -2, 0, 1, so
// channel 0 (beta 0.1333): 2A/3 > -2.6333 -> A >= -3;  2A/3 >= -0.6333 -> A >= 0;  2A/3 > 0.3667 -> A >= 1;
// channel 1 (beta -0.4):   2A/3 > -2.1    -> A >= -3;  2A/3 >= -0.1    -> A >= 0;  2A/3 > 0.9    -> A >= 2
// (ties: k - 1/2 counts for even k under half_even; none is hit exactly here).
// CHECK-LABEL: func.func @gate_acc(
// CHECK:         [[S:%[^ ]+]] = qrnn.scaled_sum(%xq, %hq) multipliers(dense<5592405> : tensor<2x2xi64>) bias(dense<[1118481, -3355443]> : tensor<2xi64>) : (tensor<2xsi4>, tensor<2xsi4>) -> tensor<2xsi28>
// CHECK-NEXT:    qrnn.threshold [[S]] thresholds(dense<[-20971520, -4194304, 4194305]> : tensor<3xi64>) base(0) : tensor<2xsi28> -> tensor<2xui2>
// ACC-LABEL: func.func @gate_acc(
// ACC:           [[S:%[^ ]+]] = qrnn.scaled_sum(%xq, %hq) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi4>, tensor<2xsi4>) -> tensor<2xsi5>
// ACC-NEXT:      qrnn.threshold [[S]] thresholds(dense<{{\[}}[-3, 0, 1], [-3, 0, 2]]> : tensor<2x3xi64>) base(0) : tensor<2xsi5> -> tensor<2xui2>
// ACC-NOT:       qrnn.requant
// Per-channel thresholds have no table form: act-impl=auto keeps them.
// ACC-AUTO-LABEL: func.func @gate_acc(
// ACC-AUTO:        qrnn.threshold %{{.*}} thresholds(dense<{{\[}}[-3, 0, 1], [-3, 0, 2]]> : tensor<2x3xi64>)
func.func @gate_acc(%x: tensor<2xf32>, %h: tensor<2xf32>) -> tensor<2xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %hq = qrnn.quant %h by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %a = qrnn.add %xq, %hq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %b = qrnn.constant dense<[0.1, -0.3]> : tensor<2xf32>
  %ab = qrnn.add %a, %b : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %aq = qrnn.quant %ab by <s4, scale = 0.75, zp = 0> : tensor<2xf32>
  %s = qrnn.sigmoid %aq : tensor<2xf32>
  %sq = qrnn.quant %s by <u2, scale = 0.25, zp = 0> : tensor<2xf32>
  func.return %sq : tensor<2xf32>
}

// -----

// x and h on scales 1/2 and 3/4 into an accumulator quantizer of scale 5/8: ratios 4/5 and 6/5 = 2/5 (2, 3), so
// A = 2 x + 3 h (si7) and code round(2 A / 5); sigmoid codes of scale 5/8 reach 1, 2, 3 from codes -3, 0, 1:
// 2A/5 > -3.5 -> A >= -8;  2A/5 >= -0.5 -> A >= -1;  2A/5 > 0.5 -> A >= 2 (no bias: one shared row).
// With act-impl=auto a 128-entry table over the si7 sum (4 LUTs of LUTRAM) beats 3 comparators of 7 bits.
// ACC-LABEL: func.func @gate_ratio(
// ACC:           [[S:%[^ ]+]] = qrnn.scaled_sum(%xq, %hq) multipliers(dense<{{\[}}[2, 2], [3, 3]]> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi4>, tensor<2xsi4>) -> tensor<2xsi7>
// ACC-NEXT:      qrnn.threshold [[S]] thresholds(dense<[-8, -1, 2]> : tensor<3xi64>) base(0) : tensor<2xsi7> -> tensor<2xui2>
// ACC-AUTO-LABEL: func.func @gate_ratio(
// ACC-AUTO:        [[S:%[^ ]+]] = qrnn.scaled_sum(%xq, %hq) multipliers(dense<{{\[}}[2, 2], [3, 3]]>
// ACC-AUTO-NEXT:   qrnn.lut [[S]] table(dense<"0x{{[0-9A-F]+}}"> : tensor<128xi64>) offset(-64) : tensor<2xsi7> -> tensor<2xui2>
func.func @gate_ratio(%x: tensor<2xf32>, %h: tensor<2xf32>) -> tensor<2xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %hq = qrnn.quant %h by <s4, scale = 0.75, zp = 0> : tensor<2xf32>
  %a = qrnn.add %xq, %hq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %aq = qrnn.quant %a by <s4, scale = 0.625, zp = 0> : tensor<2xf32>
  %s = qrnn.sigmoid %aq : tensor<2xf32>
  %sq = qrnn.quant %s by <u2, scale = 0.25, zp = 0> : tensor<2xf32>
  func.return %sq : tensor<2xf32>
}

// -----

// act-impl=auto keeps thresholds where the table would not fit in LUTs: 4096 entries of an s12 code need a
// BRAM18, 3 comparators of 12 bits ~40 LUTs.
// AUTO-LABEL: func.func @sig_wide(
// AUTO-NEXT:    [[X:%[^ ]+]] = qrnn.quantize %x
// AUTO-NEXT:    qrnn.threshold [[X]] thresholds(dense<[-124, -32, 33]> : tensor<3xi64>) base(0) : tensor<4xsi12> -> tensor<4xui2>
func.func @sig_wide(%x: tensor<4xf32>) -> tensor<4xf32> {
  %xq = qrnn.quant %x by <s12, scale = 0.015625, zp = 0> : tensor<4xf32>
  %s = qrnn.sigmoid %xq : tensor<4xf32>
  %sq = qrnn.quant %s by <u2, scale = 0.25, zp = 0> : tensor<4xf32>
  func.return %sq : tensor<4xf32>
}

// -----

// Errors: each names the op (and its SSA name) and what lstmc needs.

// CHECK: qrnn-legalize-precision: 'qrnn.sigmoid' (%s): sigmoid of a value that is not quantized: lstmc needs a quantizer in front of it
func.func @sigmoid_of_sum(%x: tensor<2xf32>) -> tensor<2xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %a = qrnn.add %xq, %xq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %s = qrnn.sigmoid %a : tensor<2xf32>
  %sq = qrnn.quant %s by <u4, scale = 0.0625, zp = 0> : tensor<2xf32>
  func.return %sq : tensor<2xf32>
}

// -----

// CHECK: qrnn-legalize-precision: 'qrnn.matmul' (%m): the weight operand is not a quantized constant
func.func @float_weights(%x: tensor<2xf32>) -> tensor<3xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %w = qrnn.constant dense<0.5> : tensor<2x3xf32>
  %m = qrnn.matmul %xq, %w : (tensor<2xf32>, tensor<2x3xf32>) -> tensor<3xf32>
  %mq = qrnn.quant %m by <s8, scale = 0.25, zp = 0> : tensor<3xf32>
  func.return %mq : tensor<3xf32>
}

// -----

// CHECK: qrnn-legalize-precision: 'func.return': output 0 is not quantized: lstmc needs a quantizer on every graph output
func.func @unquantized_output(%x: tensor<2xf32>) -> tensor<2xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %a = qrnn.add %xq, %xq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %a : tensor<2xf32>
}

// -----

// A state that grows without bound (h + x_t) is on no integer grid: the fixpoint of the range analysis never closes.
// CHECK: qrnn-legalize-precision: 'qrnn.recurrence' (%hT): carried state 0 is not the output of a quantizer; lstmc needs quantized state, or state the grid analysis places on one integer grid with a bounded range (not this one)
func.func @unquantized_state(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %h0 = qrnn.constant dense<0.0> : tensor<2xf32>
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<3x2xf32>
  %hT, %ys = qrnn.recurrence(%h0) scan(%xq) directions [forward] -> [forward] : (tensor<2xf32>, tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  ^bb0(%h: tensor<2xf32>, %xt: tensor<2xf32>):
    %s = qrnn.add %h, %xt : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %sq = qrnn.quant %s by <s6, scale = 0.5, zp = 0> : tensor<2xf32>
    qrnn.yield %s, %sq : tensor<2xf32>, tensor<2xf32>
  }
  func.return %ys : tensor<3x2xf32>
}

// -----

// A matrix-column product [3, 1] read as it is (no reshape to [3] in front of the quantizer).
// CHECK: qrnn-legalize-precision: 'qrnn.quant' (%mq): reads a matrix-column product [M, 1] directly; lstmc needs it reshaped to a vector [M] first (qrnn-canonicalize does this for column-vector recurrences)
func.func @column_product_read_directly(%x: tensor<2xf32>) -> tensor<3x1xf32> {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %xc = qrnn.reshape %xq : tensor<2xf32> -> tensor<2x1xf32>
  %w = qrnn.qconstant dense<[[1, -2], [3, 4], [-5, 6]]> : tensor<3x2xsi4> by <s4 narrow, scale = 0.25, zp = 0>
  %m = qrnn.matmul %w, %xc : (tensor<3x2xf32>, tensor<2x1xf32>) -> tensor<3x1xf32>
  %mq = qrnn.quant %m by <s8, scale = 0.125, zp = 0> : tensor<3x1xf32>
  func.return %mq : tensor<3x1xf32>
}

// -----

// requant-impl=auto: a requantizer that is still a unit of its own gets the cheapest exact implementation whose
// datapath fits datapath-bits. p = a b (s4 codes of scale 1/2, so p in [-56, 64], si8) quantized with scale 3/4:
// its code is round(p / 3). The aligned design multiplies by round(2^25 / 3) = 11184811 (an si31 sum, error
// 6.4e-7 LSB). Exactly: round(p / 3) >= j iff p > 3 j - 3/2 (p / 3 is never a tie), i.e. p >= 3 j - 1, so on
// [-8, 7] the code is -8 + #{j in -7..7 : p >= 3 j - 1}: 15 thresholds on p itself, 8 bits, no multiplier.
// %z (scale 1/2: ratio 1/2, a shift by one) is already exact and narrow: requant-impl must not touch it.
// CHECK-LABEL: func.func @product_requant(
// CHECK:         %[[P:.*]] = qrnn.imul %aq, %bq : (tensor<4xsi4>, tensor<4xsi4>) -> tensor<4xsi8>
// CHECK-NEXT:    %[[S:.*]] = qrnn.scaled_sum(%[[P]]) multipliers(dense<11184811> : tensor<1x4xi64>) bias(dense<0> : tensor<4xi64>) : (tensor<4xsi8>) -> tensor<4xsi31>
// CHECK-NEXT:    %y = qrnn.requant %[[S]] shift(25) clamp(-8, 7)
// DEFAULT-LABEL: func.func @product_requant(
// DEFAULT:         %[[P:.*]] = qrnn.imul %aq, %bq : (tensor<4xsi4>, tensor<4xsi4>) -> tensor<4xsi8>
// DEFAULT-NEXT:    %y = qrnn.threshold %[[P]] thresholds(dense<[-22, -19, -16, -13, -10, -7, -4, -1, 2, 5, 8, 11, 14, 17, 20]> : tensor<15xi64>) base(-8) : tensor<4xsi8> -> tensor<4xsi4>
// DEFAULT-NEXT:    %z = qrnn.requant %[[P]] shift(1) clamp(-8, 7) rounding(half_even) {error_bound = 0.000000e+00 : f64} : tensor<4xsi8> -> tensor<4xsi4>
func.func @product_requant(%a: tensor<4xf32>, %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %aq = qrnn.quant %a by <s4, scale = 0.5, zp = 0> : tensor<4xf32>
  %bq = qrnn.quant %b by <s4, scale = 0.5, zp = 0> : tensor<4xf32>
  %p = qrnn.mul %aq, %bq : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %y = qrnn.quant %p by <s4, scale = 0.75, zp = 0> : tensor<4xf32>
  %z = qrnn.quant %p by <s4, scale = 0.5, zp = 0> : tensor<4xf32>
  func.return %y, %z : tensor<4xf32>, tensor<4xf32>
}

// -----

// The same with s8 codes: p in [-16256, 16384] (si16), code round(p / 3) clamped to [-128, 127]. The aligned
// multiplier 2863311531 / 2^33 makes an si47 sum. The smallest exact one is 341 / 2^10: it is 1/3 - 1/3072, so
// on the |p| <= 385 where the clamp does not bind the error is at most 385/3072 < 1/8 LSB, below the 1/6 that
// separates p / 3 from every rounding boundary (its fractions are 0, 1/3, 2/3); beyond, both saturate. (341 / 2^9
// is not: 171 / 512 is off by 1/1536, 385/1536 > 1/6.) The sum is si24, within datapath-bits=24, and one
// multiplier is cheaper than 255 comparators. With datapath-bits=16 only the thresholds fit: 3 j - 1 for
// j = -127..127, from -382 to 380, on p itself.
// CHECK-LABEL: func.func @wide_product(
// CHECK:         qrnn.scaled_sum({{.*}}) multipliers(dense<2863311531> : tensor<1x4xi64>) {{.*}} -> tensor<4xsi47>
// DEFAULT-LABEL: func.func @wide_product(
// DEFAULT:         %[[P:.*]] = qrnn.imul %aq, %bq : (tensor<4xsi8>, tensor<4xsi8>) -> tensor<4xsi16>
// DEFAULT-NEXT:    %[[S:.*]] = qrnn.scaled_sum(%[[P]]) multipliers(dense<341> : tensor<1x4xi64>) bias(dense<0> : tensor<4xi64>) : (tensor<4xsi16>) -> tensor<4xsi24>
// DEFAULT-NEXT:    %y = qrnn.requant %[[S]] shift(10) clamp(-128, 127) rounding(half_even) {error_bound = 0.000000e+00 : f64} : tensor<4xsi24> -> tensor<4xsi8>
// CAP16-LABEL: func.func @wide_product(
// CAP16:         %[[P:.*]] = qrnn.imul %aq, %bq : (tensor<4xsi8>, tensor<4xsi8>) -> tensor<4xsi16>
// (255 thresholds print in hex, little-endian i64: -382 = 0x...FE82, -379 = 0x...FE85, 380 = 0x017C.)
// CAP16-NEXT:    %y = qrnn.threshold %[[P]] thresholds(dense<"0x82FEFFFFFFFFFFFF85FEFFFFFFFFFFFF{{[0-9A-F]+}}7C01000000000000"> : tensor<255xi64>) base(-128) : tensor<4xsi16> -> tensor<4xsi8>
func.func @wide_product(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %aq = qrnn.quant %a by <s8, scale = 0.5, zp = 0> : tensor<4xf32>
  %bq = qrnn.quant %b by <s8, scale = 0.5, zp = 0> : tensor<4xf32>
  %p = qrnn.mul %aq, %bq : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  %y = qrnn.quant %p by <s8, scale = 0.75, zp = 0> : tensor<4xf32>
  func.return %y : tensor<4xf32>
}

// -----

// A state narrowed to what it reaches: h_t = x_t requantized to scale 1/4 (x_t: s4 codes of scale 1/2), so its
// codes are 2 x in [-16, 14], not the s8 quantizer's [-128, 127]; with the initial 0, the body is lowered again on
// h in [-16, 14] (sound: from h in that range it yields h in it again). The state keeps its si8 type (ports and
// registers stay the quantizer's); the requantizer making it says the range (clamp(-16, 14)), and the product
// h x_t is si9 ([-16 * 7, 16 * 8] = [-112, 128]) instead of si12 ([-128 * 8, 128 * 8]).
// CHECK-LABEL: func.func @narrow_state(
// CHECK:         qrnn.imul %h, %xt : (tensor<2xsi8>, tensor<2xsi4>) -> tensor<2xsi12>
// DEFAULT-LABEL: func.func @narrow_state(
// DEFAULT:         %hT, %ys = qrnn.recurrence(%{{.*}}) scan(%xq) directions [forward] -> [forward] : (tensor<2xsi8>, tensor<3x2xsi4>) -> (tensor<2xsi8>, tensor<3x2xsi8>) {
// DEFAULT-NEXT:    ^bb0(%h: tensor<2xsi8>, %xt: tensor<2xsi4>):
// DEFAULT-NEXT:      %[[P:.*]] = qrnn.imul %h, %xt : (tensor<2xsi8>, tensor<2xsi4>) -> tensor<2xsi9>
// DEFAULT-NEXT:      %y = qrnn.requant %[[P]] shift(0) clamp(-128, 127)
// DEFAULT-NEXT:      %[[X2:.*]] = qrnn.scaled_sum(%xt) multipliers(dense<2> : tensor<1x2xi64>)
// DEFAULT-NEXT:      %hn = qrnn.requant %[[X2]] shift(0) clamp(-16, 14) rounding(half_even) {error_bound = 0.000000e+00 : f64} : tensor<2xsi5> -> tensor<2xsi8>
// DEFAULT-NEXT:      qrnn.yield %hn, %y : tensor<2xsi8>, tensor<2xsi8>
func.func @narrow_state(%x: tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<3x2xf32>
  %h0 = qrnn.constant dense<0.0> : tensor<2xf32>
  %hT, %ys = qrnn.recurrence(%h0) scan(%xq) directions [forward] -> [forward] : (tensor<2xf32>, tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  ^bb0(%h: tensor<2xf32>, %xt: tensor<2xf32>):
    %p = qrnn.mul %h, %xt : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %y = qrnn.quant %p by <s8, scale = 0.125, zp = 0> : tensor<2xf32>
    %hn = qrnn.quant %xt by <s8, scale = 0.25, zp = 0> : tensor<2xf32>
    qrnn.yield %hn, %y : tensor<2xf32>, tensor<2xf32>
  }
  func.return %hT, %ys : tensor<2xf32>, tensor<3x2xf32>
}

// -----

// A CIFG-style product f c with f = 1 - i (unquantized): the requantizer reads c - i c, two terms whose ratios
// (1 and -0.3 in f32, 5033165 / 2^24) have no narrow common accumulator (the aligned sum is si25). Only 4 x 4
// code pairs exist, so requant-impl=auto packs i (u2) and c (s2) into one index i + 4 (c + 2) and reads a
// 16-entry table of round(c (1 - 0.3 i)): for c = -2: -2, -1.4 -> -1, -0.8 -> -1, -0.2 -> 0; c = -1: -1,
// -0.7 -> -1, -0.4 -> 0, -0.1 -> 0; c = 0: 0; c = 1: 1, 0.7 -> 1, 0.4 -> 0, 0.1 -> 0 (no ties). The imul goes.
// CHECK-LABEL: func.func @cifg_product(
// CHECK:         qrnn.scaled_sum({{.*}}) multipliers(dense<{{\[\[}}-1258291, -1258291], [4194304, 4194304]]> : tensor<2x2xi64>) {{.*}} -> tensor<2xsi25>
// DEFAULT-LABEL: func.func @cifg_product(
// DEFAULT:         %[[IX:.*]] = qrnn.scaled_sum(%iq, %cq) multipliers(dense<{{\[\[}}1, 1], [4, 4]]> : tensor<2x2xi64>) bias(dense<8> : tensor<2xi64>) : (tensor<2xui2>, tensor<2xsi2>) -> tensor<2xui4>
// DEFAULT-NEXT:    %y = qrnn.lut %[[IX]] table(dense<[-2, -1, -1, 0, -1, -1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0]> : tensor<16xi64>) offset(0) : tensor<2xui4> -> tensor<2xsi2>
// DEFAULT-NOT:     qrnn.imul
// DEFAULT:         func.return
func.func @cifg_product(%i: tensor<2xf32>, %c: tensor<2xf32>) -> tensor<2xf32> {
  %iq = qrnn.quant %i by <u2, scale = 0.3, zp = 0> : tensor<2xf32>
  %cq = qrnn.quant %c by <s2, scale = 0.5, zp = 0> : tensor<2xf32>
  %one = qrnn.constant dense<1.0> : tensor<2xf32>
  %f = qrnn.sub %one, %iq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %fc = qrnn.mul %f, %cq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %y = qrnn.quant %fc by <s2, scale = 0.5, zp = 0> : tensor<2xf32>
  func.return %y : tensor<2xf32>
}
