// RUN: lstmc-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s

func.func @bits_zero(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <s0, scale = 1.0, zp = 0> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: quantizer bit width must be in [1, 32], got 0

// -----
func.func @bits_too_wide(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <u33, scale = 1.0, zp = 0> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: quantizer bit width must be in [1, 32], got 33

// -----
func.func @narrow_one_bit(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <s1 narrow, scale = 1.0, zp = 0> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: a signed narrow-range quantizer needs at least 2 bits

// -----
func.func @rounding(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <s8, scale = 1.0, zp = 0, rounding = stochastic> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: unknown rounding mode 'stochastic' (expected one of half_even, half_up, half_down, floor, ceil, up, down)

// -----
func.func @requant_rounding(%x: tensor<4xsi16>) -> tensor<4xsi8> {
  %r = qrnn.requant %x shift(4) clamp(-128, 127) rounding(nearest) : tensor<4xsi16> -> tensor<4xsi8>
  func.return %r : tensor<4xsi8>
}
// CHECK: unknown rounding mode 'nearest' (expected one of half_even, half_up, half_down, floor, ceil, up, down)

// -----
func.func @requant_rounding_generic(%x: tensor<4xsi16>) -> tensor<4xsi8> {
  %r = "qrnn.requant"(%x) <{shift = 4 : i64, lo = -128 : i64, hi = 127 : i64, rounding = #qrnn<rounding "stochastic">}> : (tensor<4xsi16>) -> tensor<4xsi8>
  func.return %r : tensor<4xsi8>
}
// CHECK: unknown rounding mode 'stochastic' (expected one of half_even, half_up, half_down, floor, ceil, up, down)

// -----
func.func @requant_rounding_string(%x: tensor<4xsi16>) -> tensor<4xsi8> {
  %r = "qrnn.requant"(%x) <{shift = 4 : i64, lo = -128 : i64, hi = 127 : i64, rounding = "half_even"}> : (tensor<4xsi16>) -> tensor<4xsi8>
  func.return %r : tensor<4xsi8>
}
// CHECK: "half_even" should be of base attribute qrnn.rounding

// -----
func.func @activation_kernel(%x: tensor<4xf32>) -> tensor<4xf32> {
  %s = qrnn.sigmoid %x kernel exact : tensor<4xf32>
  func.return %s : tensor<4xf32>
}
// CHECK: unknown activation kernel 'exact' (expected one of mlas, rational)

// -----
func.func @matmul_kernel(%a: tensor<1x4xf32>, %b: tensor<4x8xf32>) -> tensor<1x8xf32> {
  %p = "qrnn.matmul"(%a, %b) <{kernel = #qrnn<matmul_kernel blas>}> : (tensor<1x4xf32>, tensor<4x8xf32>) -> tensor<1x8xf32>
  func.return %p : tensor<1x8xf32>
}
// CHECK: unknown 'qrnn.matmul' kernel 'blas' (expected one of matmul, m1_transb)

// -----
func.func @zp_count(%x: tensor<2xf32>) -> tensor<2xf32> {
  %q = qrnn.quant %x by <s8, scale = [1.0, 2.0], zp = [0], axis = 0> : tensor<2xf32>
  func.return %q : tensor<2xf32>
}
// CHECK: quantizer needs as many zero points as scales (got 2 scales, 1 zero points)

// -----
func.func @per_tensor_many_scales(%x: tensor<2xf32>) -> tensor<2xf32> {
  %q = qrnn.quant %x by <s8, scale = [1.0, 2.0], zp = [0, 0]> : tensor<2xf32>
  func.return %q : tensor<2xf32>
}
// CHECK: a per-tensor quantizer has exactly one scale; give axis = k for per-channel

// -----
func.func @scale_negative(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <s8, scale = -0.5, zp = 0> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: quantizer scale must be finite and positive, got -0.5

// -----
func.func @zp_range(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <u4, scale = 0.5, zp = 16> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: zero point 16 is outside the integer range [0, 15]

// -----
func.func @quant_axis(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <s8, scale = [1.0], zp = [0], axis = 1> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: quantizer axis 1 is out of range for a rank-1 tensor

// -----
func.func @quant_channels(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <s8, scale = [1.0, 2.0], zp = [0, 0], axis = 0> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: per-channel quantizer has 2 scales but axis 0 has size 4

// -----
func.func @constant_type() -> tensor<4xf32> {
  %c = "qrnn.constant"() <{value = dense<0.0> : tensor<2xf32>}> : () -> tensor<4xf32>
  func.return %c : tensor<4xf32>
}
// CHECK: constant type tensor<2xf32> must equal result type tensor<4xf32>

// -----
func.func @unary_type(%x: tensor<4xf32>) -> tensor<8xf32> {
  %s = "qrnn.sigmoid"(%x) : (tensor<4xf32>) -> tensor<8xf32>
  func.return %s : tensor<8xf32>
}
// CHECK: attribute tensor<4xf32> expected from variable 'T', but got tensor<8xf32>

// -----
func.func @broadcast(%a: tensor<4xf32>, %b: tensor<3xf32>) -> tensor<4xf32> {
  %s = qrnn.add %a, %b : (tensor<4xf32>, tensor<3xf32>) -> tensor<4xf32>
  func.return %s : tensor<4xf32>
}
// CHECK: 'qrnn.add' operand shapes [4] and [3] are incompatible

// -----
func.func @result_shape(%a: tensor<4xf32>, %b: tensor<1xf32>) -> tensor<1xf32> {
  %s = qrnn.mul %a, %b : (tensor<4xf32>, tensor<1xf32>) -> tensor<1xf32>
  func.return %s : tensor<1xf32>
}
// CHECK: 'qrnn.mul' result shape [1] should be [4]

// -----
func.func @matmul_inner(%a: tensor<4xf32>, %b: tensor<5x8xf32>) -> tensor<8xf32> {
  %s = qrnn.matmul %a, %b : (tensor<4xf32>, tensor<5x8xf32>) -> tensor<8xf32>
  func.return %s : tensor<8xf32>
}
// CHECK: 'qrnn.matmul' operand shapes [4] and [5, 8] are incompatible

// -----
func.func @reshape(%a: tensor<4x2xf32>) -> tensor<7xf32> {
  %s = qrnn.reshape %a : tensor<4x2xf32> -> tensor<7xf32>
  func.return %s : tensor<7xf32>
}
// CHECK: 'qrnn.reshape' cannot reshape [4, 2] (8 elements) to [7]

// -----
func.func @concat_axis(%a: tensor<4xf32>) -> tensor<8xf32> {
  %s = qrnn.concat %a, %a axis(1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<8xf32>
  func.return %s : tensor<8xf32>
}
// CHECK: 'qrnn.concat' axis 1 is out of range for rank 1 (use a non-negative axis)

// -----
func.func @concat_dims(%a: tensor<4x2xf32>, %b: tensor<3x2xf32>) -> tensor<4x4xf32> {
  %s = qrnn.concat %a, %b axis(1) : (tensor<4x2xf32>, tensor<3x2xf32>) -> tensor<4x4xf32>
  func.return %s : tensor<4x4xf32>
}
// CHECK: 'qrnn.concat' inputs [[4, 2], [3, 2]] differ outside axis 1

// -----
func.func @concat_result(%a: tensor<4xf32>) -> tensor<9xf32> {
  %s = qrnn.concat %a, %a axis(0) : (tensor<4xf32>, tensor<4xf32>) -> tensor<9xf32>
  func.return %s : tensor<9xf32>
}
// CHECK: 'qrnn.concat' result shape should be [8]

// -----
func.func @no_scan_input(%h0: tensor<8xf32>) -> tensor<8xf32> {
  %h = qrnn.recurrence(%h0) scan() directions [] -> [] : (tensor<8xf32>) -> (tensor<8xf32>) {
  ^bb0(%h1: tensor<8xf32>):
    qrnn.yield %h1 : tensor<8xf32>
  }
  func.return %h : tensor<8xf32>
}
// CHECK: 'qrnn.recurrence' needs at least one scanned input

// -----
func.func @directions(%h0: tensor<8xf32>, %x: tensor<5x4xf32>) -> tensor<8xf32> {
  %h = qrnn.recurrence(%h0) scan(%x) directions [forward, reverse] -> [] : (tensor<8xf32>, tensor<5x4xf32>) -> (tensor<8xf32>) {
  ^bb0(%h1: tensor<8xf32>, %xt: tensor<4xf32>):
    qrnn.yield %h1 : tensor<8xf32>
  }
  func.return %h : tensor<8xf32>
}
// CHECK: 'qrnn.recurrence' has 1 scanned inputs but 2 input directions

// -----
func.func @seq_lengths(%x: tensor<5x4xf32>, %y: tensor<6x4xf32>) {
  qrnn.recurrence() scan(%x, %y) directions [forward, forward] -> [] : (tensor<5x4xf32>, tensor<6x4xf32>) -> () {
  ^bb0(%a: tensor<4xf32>, %b: tensor<4xf32>):
    qrnn.yield
  }
  func.return
}
// CHECK: all scanned inputs must have the same sequence length, got [5, 6]

// -----
func.func @body_args(%h0: tensor<8xf32>, %x: tensor<5x4xf32>) -> tensor<8xf32> {
  %h = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [] : (tensor<8xf32>, tensor<5x4xf32>) -> (tensor<8xf32>) {
  ^bb0(%h1: tensor<8xf32>, %xt: tensor<5xf32>):
    qrnn.yield %h1 : tensor<8xf32>
  }
  func.return %h : tensor<8xf32>
}
// CHECK: 'qrnn.recurrence' body arguments must be the state types then one time slice of each input: expected (tensor<8xf32>, tensor<4xf32>), got (tensor<8xf32>, tensor<5xf32>)

// -----
func.func @yield_count(%h0: tensor<8xf32>, %x: tensor<5x4xf32>) -> tensor<8xf32> {
  %h = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [] : (tensor<8xf32>, tensor<5x4xf32>) -> (tensor<8xf32>) {
  ^bb0(%h1: tensor<8xf32>, %xt: tensor<4xf32>):
    qrnn.yield %h1, %h1 : tensor<8xf32>, tensor<8xf32>
  }
  func.return %h : tensor<8xf32>
}
// CHECK: 'qrnn.yield' must give 1 state values and 0 scan outputs, got 2 values

// -----
func.func @state_type(%h0: tensor<8xf32>, %x: tensor<5x4xf32>) -> tensor<8xf32> {
  %h = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [] : (tensor<8xf32>, tensor<5x4xf32>) -> (tensor<8xf32>) {
  ^bb0(%h1: tensor<8xf32>, %xt: tensor<4xf32>):
    qrnn.yield %xt : tensor<4xf32>
  }
  func.return %h : tensor<8xf32>
}
// CHECK: state 0 is initialised as tensor<8xf32> but the body yields tensor<4xf32>

// -----
func.func @scan_output_type(%x: tensor<5x4xf32>) -> tensor<4x4xf32> {
  %y = qrnn.recurrence() scan(%x) directions [forward] -> [forward] : (tensor<5x4xf32>) -> (tensor<4x4xf32>) {
  ^bb0(%xt: tensor<4xf32>):
    qrnn.yield %xt : tensor<4xf32>
  }
  func.return %y : tensor<4x4xf32>
}
// CHECK: scan output 0 should have type tensor<5x4xf32>, got tensor<4x4xf32>

// -----
func.func @yield_outside() {
  qrnn.yield
}
// CHECK: 'qrnn.yield' expects parent op 'qrnn.recurrence'

// -----
func.func @direction_value(%x: tensor<5x4xf32>) {
  "qrnn.recurrence"(%x) <{input_directions = [#qrnn<direction sideways>], output_directions = [], operandSegmentSizes = array<i32: 0, 1>, resultSegmentSizes = array<i32: 0, 0>}> ({
  ^bb0(%xt: tensor<4xf32>):
    "qrnn.yield"() : () -> ()
  }) : (tensor<5x4xf32>) -> ()
  func.return
}
// CHECK: unknown scan direction 'sideways' (expected one of forward, reverse)

// -----
func.func @direction_integer(%x: tensor<5x4xf32>) {
  "qrnn.recurrence"(%x) <{input_directions = array<i64: 1>, output_directions = [], operandSegmentSizes = array<i32: 0, 1>, resultSegmentSizes = array<i32: 0, 0>}> ({
  ^bb0(%xt: tensor<4xf32>):
    "qrnn.yield"() : () -> ()
  }) : (tensor<5x4xf32>) -> ()
  func.return
}
// CHECK: expected ArrayAttr attribute, but got '<class 'xdsl.dialects.builtin.DenseArrayBase'>'

// -----
func.func @direction_name(%x: tensor<5x4xf32>) {
  qrnn.recurrence() scan(%x) directions [backward] -> [] : (tensor<5x4xf32>) -> () {
  ^bb0(%xt: tensor<4xf32>):
    qrnn.yield
  }
  func.return
}
// CHECK: unknown scan direction 'backward' (expected one of forward, reverse)

// -----
func.func @bad_kind(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant %x by <i8, scale = 1.0, zp = 0> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: expected a quantizer kind like s8 or u4, got 'i8'

// -----
func.func @bad_perm(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %t = qrnn.transpose %x perm([0, 0]) : tensor<2x3xf32> -> tensor<3x2xf32>
  func.return %t : tensor<3x2xf32>
}
// CHECK: 'qrnn.transpose' perm [0, 0] is not a permutation of 2 axes

// -----
func.func @bad_transpose_shape(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %t = qrnn.transpose %x perm([1, 0]) : tensor<2x3xf32> -> tensor<2x3xf32>
  func.return %t : tensor<2x3xf32>
}
// CHECK: 'qrnn.transpose' result shape [2, 3] should be [3, 2]

// -----
func.func @window_rank(%x: tensor<6x8xf32>) -> tensor<24x2xf32> {
  %p = qrnn.window %x kernel([1, 2]) strides([1, 2]) : tensor<6x8xf32> -> tensor<24x2xf32>
  func.return %p : tensor<24x2xf32>
}
// CHECK: 'qrnn.window' takes an [H, W, C] input, a 2-d kernel and 2 positive strides

// -----
func.func @window_too_big(%x: tensor<1x8x1xf32>) -> tensor<1x2xf32> {
  %p = qrnn.window %x kernel([2, 1]) strides([1, 1]) : tensor<1x8x1xf32> -> tensor<1x2xf32>
  func.return %p : tensor<1x2xf32>
}
// CHECK: 'qrnn.window' kernel [2, 1] is larger than the image [1, 8]

// -----
func.func @window_shape(%x: tensor<6x8x1xf32>) -> tensor<24x3xf32> {
  %p = qrnn.window %x kernel([1, 2]) strides([1, 2]) : tensor<6x8x1xf32> -> tensor<24x3xf32>
  func.return %p : tensor<24x3xf32>
}
// CHECK: 'qrnn.window' result shape [24, 3] should be [24, 2]

// -----
func.func @quant_dequant_bits(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant_dequant %x by <s8, scale = 0.5, zp = 0> to <s4, scale = 0.25, zp = 0> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: 'qrnn.quant_dequant' quantizer and dequantizer must share one integer grid: bit width 8 vs 4

// -----
func.func @quant_dequant_zero_point(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = qrnn.quant_dequant %x by <u8, scale = 0.5, zp = 0> to <u8, scale = 0.25, zp = 3> : tensor<4xf32>
  func.return %q : tensor<4xf32>
}
// CHECK: 'qrnn.quant_dequant' quantizer and dequantizer must share one integer grid: zero points [0] vs [3]

// -----
func.func @quant_dequant_axis(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %q = qrnn.quant_dequant %x by <s8, scale = [0.5, 0.5, 0.5], zp = [0, 0, 0], axis = 2> to <s8, scale = [1.0, 1.0, 1.0], zp = [0, 0, 0], axis = 2> : tensor<2x3xf32>
  func.return %q : tensor<2x3xf32>
}
// CHECK: quantizer axis 2 is out of range for a rank-2 tensor

// -----
func.func @threshold_unsorted(%a: tensor<2xsi11>) -> tensor<2xui2> {
  %t = qrnn.threshold %a thresholds(dense<[[-5, 0, 7], [-6, 1, -6]]> : tensor<2x3xi64>) base(0) : tensor<2xsi11> -> tensor<2xui2>
  func.return %t : tensor<2xui2>
}
// CHECK: 'qrnn.threshold' thresholds must be non-decreasing along each row: row 1 has 1 before -6

// -----
func.func @threshold_rows(%a: tensor<2xsi11>) -> tensor<2xui2> {
  %t = qrnn.threshold %a thresholds(dense<[[-5, 0, 7], [-6, 1, 6], [0, 0, 0]]> : tensor<3x3xi64>) base(0) : tensor<2xsi11> -> tensor<2xui2>
  func.return %t : tensor<2xui2>
}
// CHECK: 'qrnn.threshold' thresholds must be [K] or [2, K], got [3, 3]
