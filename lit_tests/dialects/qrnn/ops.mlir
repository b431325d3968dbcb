// RUN: LSTMC_ROUNDTRIP | filecheck %s
// RUN: LSTMC_GENERIC_ROUNDTRIP | filecheck %s
// RUN: lstmc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// CHECK-LABEL: func.func @cell
func.func @cell(%x: tensor<6x4xf32>) -> (tensor<8xf32>, tensor<6x8xf32>) {
  // CHECK: %h0 = qrnn.constant dense<0.000000e+00> : tensor<8xf32>
  %h0 = qrnn.constant dense<0.0> : tensor<8xf32>
  // CHECK-NEXT: %xq = qrnn.quant %x by <s8, scale = 0.03125, zp = 0> : tensor<6x4xf32>
  %xq = qrnn.quant %x by <s8, scale = 0.03125, zp = 0> : tensor<6x4xf32>
  %w = qrnn.constant dense<0.5> : tensor<4x8xf32>
  // CHECK: qrnn.quant %w by <s4 narrow, scale = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], zp = [0, 0, 0, 0, 0, 0, 0, 0], axis = 1> : tensor<4x8xf32>
  %wq = qrnn.quant %w by <s4 narrow, scale = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], zp = [0, 0, 0, 0, 0, 0, 0, 0], axis = 1> : tensor<4x8xf32>
  // CHECK: %hT, %ys = qrnn.recurrence(%h0) scan(%xq) directions [reverse] -> [reverse] : (tensor<8xf32>, tensor<6x4xf32>) -> (tensor<8xf32>, tensor<6x8xf32>) {
  %hT, %ys = qrnn.recurrence(%h0) scan(%xq) directions [reverse] -> [reverse] : (tensor<8xf32>, tensor<6x4xf32>) -> (tensor<8xf32>, tensor<6x8xf32>) {
  // CHECK-NEXT: ^bb0(%h: tensor<8xf32>, %xt: tensor<4xf32>):
  ^bb0(%h: tensor<8xf32>, %xt: tensor<4xf32>):
    // CHECK-NEXT: %m = qrnn.matmul %xt, %wq : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
    %m = qrnn.matmul %xt, %wq : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
    // CHECK-NEXT: %a = qrnn.add %m, %h : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    %a = qrnn.add %m, %h : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    // CHECK-NEXT: %aq = qrnn.quant %a by <s8, scale = 0.0625, zp = 0, rounding = floor> : tensor<8xf32>
    %aq = qrnn.quant %a by <s8, scale = 0.0625, zp = 0, rounding = floor> : tensor<8xf32>
    // CHECK-NEXT: %s = qrnn.sigmoid %aq : tensor<8xf32>
    %s = qrnn.sigmoid %aq : tensor<8xf32>
    // CHECK-NEXT: %sq = qrnn.quant %s by <u4, scale = 0.0625, zp = 0> : tensor<8xf32>
    %sq = qrnn.quant %s by <u4, scale = 0.0625, zp = 0> : tensor<8xf32>
    // CHECK-NEXT: %t = qrnn.tanh %a : tensor<8xf32>
    %t = qrnn.tanh %a : tensor<8xf32>
    // CHECK-NEXT: %r = qrnn.relu %t : tensor<8xf32>
    %r = qrnn.relu %t : tensor<8xf32>
    // CHECK-NEXT: %d = qrnn.sub %sq, %r : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    %d = qrnn.sub %sq, %r : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    // CHECK-NEXT: %p = qrnn.mul %d, %h : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    %p = qrnn.mul %d, %h : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
    // CHECK-NEXT: qrnn.yield %p, %p : tensor<8xf32>, tensor<8xf32>
    qrnn.yield %p, %p : tensor<8xf32>, tensor<8xf32>
  }
  // CHECK: %cat = qrnn.concat %ys, %ys axis(1) : (tensor<6x8xf32>, tensor<6x8xf32>) -> tensor<6x16xf32>
  %cat = qrnn.concat %ys, %ys axis(1) : (tensor<6x8xf32>, tensor<6x8xf32>) -> tensor<6x16xf32>
  // CHECK-NEXT: %flat = qrnn.reshape %cat : tensor<6x16xf32> -> tensor<96xf32>
  %flat = qrnn.reshape %cat : tensor<6x16xf32> -> tensor<96xf32>
  func.return %hT, %ys : tensor<8xf32>, tensor<6x8xf32>
}

// -----
// Data movement of the convolution front-end: transpose and sliding window (im2col), float and integer.
// CHECK-LABEL: func.func @conv_movement(
// CHECK-NEXT:    %t = qrnn.transpose %x perm([0, 2, 3, 1]) : tensor<1x2x6x8xf32> -> tensor<1x6x8x2xf32>
// CHECK-NEXT:    %img = qrnn.reshape %t : tensor<1x6x8x2xf32> -> tensor<6x8x2xf32>
// CHECK-NEXT:    %p = qrnn.window %img kernel([1, 2]) strides([1, 2]) : tensor<6x8x2xf32> -> tensor<24x4xf32>
// CHECK-NEXT:    %pi = qrnn.window %xi kernel([2, 3]) strides([1, 1]) : tensor<3x5x1xui8> -> tensor<6x6xui8>
func.func @conv_movement(%x: tensor<1x2x6x8xf32>, %xi: tensor<3x5x1xui8>) -> (tensor<24x4xf32>, tensor<6x6xui8>) {
  %t = qrnn.transpose %x perm([0, 2, 3, 1]) : tensor<1x2x6x8xf32> -> tensor<1x6x8x2xf32>
  %img = qrnn.reshape %t : tensor<1x6x8x2xf32> -> tensor<6x8x2xf32>
  %p = qrnn.window %img kernel([1, 2]) strides([1, 2]) : tensor<6x8x2xf32> -> tensor<24x4xf32>
  %pi = qrnn.window %xi kernel([2, 3]) strides([1, 1]) : tensor<3x5x1xui8> -> tensor<6x6xui8>
  func.return %p, %pi : tensor<24x4xf32>, tensor<6x6xui8>
}

// -----
// FINN-GL's requantization: codes of one scale dequantized by another (one integer grid, two scales).
// CHECK-LABEL: func.func @quant_dequant(
// CHECK-NEXT:    %r = qrnn.quant_dequant %x by <s8, scale = 0.03125, zp = 0> to <s8, scale = 0.1, zp = 0> : tensor<4x1xf32>
// CHECK-NEXT:    %c = qrnn.quant_dequant %x by <u4, scale = [0.5, 0.25, 0.125, 1.0], zp = [1, 0, 0, 2], axis = 0, rounding = floor> to <u4, scale = [1.0, 1.0, 1.0, 1.0], zp = [1, 0, 0, 2], axis = 0> : tensor<4x1xf32>
func.func @quant_dequant(%x: tensor<4x1xf32>) -> (tensor<4x1xf32>, tensor<4x1xf32>) {
  %r = qrnn.quant_dequant %x by <s8, scale = 0.03125, zp = 0> to <s8, scale = 0.1, zp = 0> : tensor<4x1xf32>
  %c = qrnn.quant_dequant %x by <u4, scale = [0.5, 0.25, 0.125, 1.0], zp = [1, 0, 0, 2], axis = 0, rounding = floor> to <u4, scale = [1.0, 1.0, 1.0, 1.0], zp = [1, 0, 0, 2], axis = 0> : tensor<4x1xf32>
  func.return %r, %c : tensor<4x1xf32>, tensor<4x1xf32>
}

// -----
// Integer level: thresholds on a raw accumulator (the x- and h-parts summed with small multipliers), one
// non-decreasing row per channel (equal neighbours are allowed), and a table.
// CHECK-LABEL: func.func @acc_thresholds(
// CHECK-NEXT:    %a = qrnn.scaled_sum(%x, %h) multipliers(dense<{{\[}}[2, 2], [3, 3]]> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi8>, tensor<2xsi8>) -> tensor<2xsi11>
// CHECK-NEXT:    %t = qrnn.threshold %a thresholds(dense<{{\[}}[-5, 0, 7], [-6, -6, 1]]> : tensor<2x3xi64>) base(0) : tensor<2xsi11> -> tensor<2xui2>
// CHECK-NEXT:    %l = qrnn.lut %t table(dense<[0, 1, 1, 2]> : tensor<4xi64>) offset(0) : tensor<2xui2> -> tensor<2xui2>
func.func @acc_thresholds(%x: tensor<2xsi8>, %h: tensor<2xsi8>) -> tensor<2xui2> {
  %a = qrnn.scaled_sum(%x, %h) multipliers(dense<[[2, 2], [3, 3]]> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) : (tensor<2xsi8>, tensor<2xsi8>) -> tensor<2xsi11>
  %t = qrnn.threshold %a thresholds(dense<[[-5, 0, 7], [-6, -6, 1]]> : tensor<2x3xi64>) base(0) : tensor<2xsi11> -> tensor<2xui2>
  %l = qrnn.lut %t table(dense<[0, 1, 1, 2]> : tensor<4xi64>) offset(0) : tensor<2xui2> -> tensor<2xui2>
  func.return %l : tensor<2xui2>
}

// -----
// Closed sets of choices are enum attributes: rounding modes, scan directions and float kernels print as bare
// words (a string literal parses too; an explicit default kernel is kept), and in the generic form as #qrnn<rounding ...>, #qrnn<direction ...>,
// #qrnn<matmul_kernel ...> and #qrnn<activation_kernel ...>.
// CHECK-LABEL: func.func @enums(
// CHECK-NEXT:    %r = qrnn.requant %i shift(4) clamp(-128, 127) rounding(floor) : tensor<4xsi16> -> tensor<4xsi8>
// CHECK-NEXT:    %s = qrnn.requant %i shift(4) clamp(-128, 127) rounding(half_up) : tensor<4xsi16> -> tensor<4xsi8>
// CHECK-NEXT:    %y = qrnn.recurrence() scan(%x) directions [forward] -> [reverse] : (tensor<3x4xf32>) -> (tensor<3x4xf32>) {
// CHECK-NEXT:    ^bb0(%xt: tensor<4xf32>):
// CHECK-NEXT:      %row = qrnn.reshape %xt : tensor<4xf32> -> tensor<1x4xf32>
// CHECK-NEXT:      %p = qrnn.matmul %row, %w kernel m1_transb : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
// CHECK-NEXT:      %v = qrnn.reshape %p : tensor<1x4xf32> -> tensor<4xf32>
// CHECK-NEXT:      %g = qrnn.sigmoid %v kernel rational : tensor<4xf32>
// CHECK-NEXT:      %c = qrnn.tanh %g kernel rational : tensor<4xf32>
// CHECK-NEXT:      %d = qrnn.tanh %c kernel mlas : tensor<4xf32>
// GENERIC-LABEL: sym_name = "enums"
// GENERIC:       rounding = #qrnn<rounding floor>
// GENERIC:       rounding = #qrnn<rounding half_up>
// GENERIC:       input_directions = [#qrnn<direction forward>], output_directions = [#qrnn<direction reverse>]
// GENERIC:       kernel = #qrnn<matmul_kernel m1_transb>
// GENERIC:       kernel = #qrnn<activation_kernel rational>
// GENERIC:       kernel = #qrnn<activation_kernel rational>
// GENERIC:       kernel = #qrnn<activation_kernel mlas>
func.func @enums(%i: tensor<4xsi16>, %x: tensor<3x4xf32>, %w: tensor<4x4xf32>) -> (tensor<4xsi8>, tensor<4xsi8>, tensor<3x4xf32>) {
  %r = qrnn.requant %i shift(4) clamp(-128, 127) rounding(floor) : tensor<4xsi16> -> tensor<4xsi8>
  %s = qrnn.requant %i shift(4) clamp(-128, 127) rounding("half_up") : tensor<4xsi16> -> tensor<4xsi8>
  %y = qrnn.recurrence() scan(%x) directions [forward] -> [reverse] : (tensor<3x4xf32>) -> (tensor<3x4xf32>) {
  ^bb0(%xt: tensor<4xf32>):
    %row = qrnn.reshape %xt : tensor<4xf32> -> tensor<1x4xf32>
    %p = qrnn.matmul %row, %w kernel m1_transb : (tensor<1x4xf32>, tensor<4x4xf32>) -> tensor<1x4xf32>
    %v = qrnn.reshape %p : tensor<1x4xf32> -> tensor<4xf32>
    %g = qrnn.sigmoid %v kernel rational : tensor<4xf32>
    %c = qrnn.tanh %g kernel "rational" : tensor<4xf32>
    %d = qrnn.tanh %c kernel mlas : tensor<4xf32>
    qrnn.yield %d : tensor<4xf32>
  }
  func.return %r, %s, %y : tensor<4xsi8>, tensor<4xsi8>, tensor<3x4xf32>
}
