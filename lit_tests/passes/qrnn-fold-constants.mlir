// RUN: lstmc-opt %s --split-input-file -p qrnn-fold-constants | filecheck %s
// RUN: lstmc-opt %s --split-input-file -p 'qrnn-fold-constants{fuse-gates=false}' | filecheck %s --check-prefix=NOFUSE

// A quantized constant becomes its integer codes: round(x / 0.25) clamped to [-7, 7].
// CHECK-LABEL: func.func @quantized_constant
// CHECK-NEXT:    %wq = qrnn.qconstant dense<[1, -2, 7, 0]> : tensor<4xsi4> by <s4 narrow, scale = 0.25, zp = 0>
// CHECK-NEXT:    func.return %wq : tensor<4xf32>
// NOFUSE-LABEL: func.func @quantized_constant
// NOFUSE-NEXT:    %wq = qrnn.qconstant dense<[1, -2, 7, 0]> : tensor<4xsi4> by <s4 narrow, scale = 0.25, zp = 0>
func.func @quantized_constant() -> tensor<4xf32> {
  %w = qrnn.constant dense<[0.3, -0.6, 2.0, 0.1]> : tensor<4xf32>
  %wq = qrnn.quant %w by <s4 narrow, scale = 0.25, zp = 0> : tensor<4xf32>
  func.return %wq : tensor<4xf32>
}

// -----

// Unsigned codes with a zero point and per-channel scales keep the quantizer as it is.
// CHECK-LABEL: func.func @per_channel_unsigned
// CHECK-NEXT:    %wq = qrnn.qconstant dense<[{{\[}}3, 4], [5, 15]]> : tensor<2x2xui4> by <u4, scale = [0.5, 0.25], zp = [4, 0], axis = 1>
// CHECK-NEXT:    func.return %wq
func.func @per_channel_unsigned() -> tensor<2x2xf32> {
  %w = qrnn.constant dense<[[-0.5, 1.0], [0.5, 9.0]]> : tensor<2x2xf32>
  %wq = qrnn.quant %w by <u4, scale = [0.5, 0.25], zp = [4, 0], axis = 1> : tensor<2x2xf32>
  func.return %wq : tensor<2x2xf32>
}

// -----

// The float constant stays while something else reads it.
// CHECK-LABEL: func.func @constant_used_elsewhere
// CHECK-NEXT:    %w = qrnn.constant dense<[3.000000e-01, -6.000000e-01, 2.000000e+00, 1.000000e-01]> : tensor<4xf32>
// CHECK-NEXT:    %wq = qrnn.qconstant dense<[1, -2, 7, 0]> : tensor<4xsi4> by <s4 narrow, scale = 0.25, zp = 0>
// CHECK-NEXT:    %s = qrnn.add %wq, %w
func.func @constant_used_elsewhere() -> tensor<4xf32> {
  %w = qrnn.constant dense<[0.3, -0.6, 2.0, 0.1]> : tensor<4xf32>
  %wq = qrnn.quant %w by <s4 narrow, scale = 0.25, zp = 0> : tensor<4xf32>
  %s = qrnn.add %wq, %w : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %s : tensor<4xf32>
}

// -----

// A quantizer on a qconstant requantizes the codes (0.25 / 0.5 rounds half to even to 0, 1.75 / 0.5 to 4);
// the same quantizer again is a no-op.
// CHECK-LABEL: func.func @requantized_constant
// CHECK-NEXT:    %q = qrnn.qconstant dense<[0, -1, 4, 0]> : tensor<4xsi4> by <s4 narrow, scale = 0.5, zp = 0>
// CHECK-NEXT:    func.return %q : tensor<4xf32>
func.func @requantized_constant() -> tensor<4xf32> {
  %c = qrnn.qconstant dense<[1, -2, 7, 0]> : tensor<4xsi4> by <s4 narrow, scale = 0.25, zp = 0>
  %q = qrnn.quant %c by <s4 narrow, scale = 0.5, zp = 0> : tensor<4xf32>
  %r = qrnn.quant %q by <s4 narrow, scale = 0.5, zp = 0> : tensor<4xf32>
  func.return %r : tensor<4xf32>
}

// -----

// Back-to-back identical quantizers, a wider range on the same grid, and the same grid seen through a
// reshape: the second quantizer can never bind.
// CHECK-LABEL: func.func @redundant_quant
// CHECK-NEXT:    %a = qrnn.quant %x by <s4, scale = 0.1, zp = 0> : tensor<4xf32>
// CHECK-NEXT:    %r = qrnn.reshape %a : tensor<4xf32> -> tensor<2x2xf32>
// CHECK-NEXT:    func.return %a, %a, %r
func.func @redundant_quant(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<2x2xf32>) {
  %a = qrnn.quant %x by <s4, scale = 0.1, zp = 0> : tensor<4xf32>
  %b = qrnn.quant %a by <s4, scale = 0.1, zp = 0> : tensor<4xf32>
  %c = qrnn.quant %a by <s8, scale = 0.1, zp = 0, rounding = floor> : tensor<4xf32>
  %r = qrnn.reshape %a : tensor<4xf32> -> tensor<2x2xf32>
  %rq = qrnn.quant %r by <s4, scale = 0.1, zp = 0> : tensor<2x2xf32>
  func.return %b, %c, %rq : tensor<4xf32>, tensor<4xf32>, tensor<2x2xf32>
}

// -----

// Must not fold: a narrower range clamps, a different scale or zero point rounds, a different axis, and
// floor rounding on the same grid: in float32, (n * 0.1) / 0.1 < n for n = -124 (among others).
// CHECK-LABEL: func.func @binding_quant
// CHECK-NEXT:    %a = qrnn.quant %x by <s8, scale = 0.1, zp = 0> : tensor<4xf32>
// CHECK-NEXT:    %narrower = qrnn.quant %a by <s4, scale = 0.1, zp = 0> : tensor<4xf32>
// CHECK-NEXT:    %narrow = qrnn.quant %a by <s8 narrow, scale = 0.1, zp = 0> : tensor<4xf32>
// CHECK-NEXT:    %rescaled = qrnn.quant %a by <s8, scale = 0.2, zp = 0> : tensor<4xf32>
// CHECK-NEXT:    %shifted = qrnn.quant %a by <s8, scale = 0.1, zp = 1> : tensor<4xf32>
// CHECK-NEXT:    %pc = qrnn.quant %m by <s8, scale = [0.1, 0.2], zp = [0, 0], axis = 1> : tensor<2x2xf32>
// CHECK-NEXT:    %other_axis = qrnn.quant %pc by <s8, scale = [0.1, 0.2], zp = [0, 0], axis = 0> : tensor<2x2xf32>
// CHECK-NEXT:    %floor = qrnn.quant %a by <s8, scale = 0.1, zp = 0, rounding = floor> : tensor<4xf32>
// CHECK-NEXT:    func.return
func.func @binding_quant(%x: tensor<4xf32>, %m: tensor<2x2xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x2xf32>, tensor<4xf32>) {
  %a = qrnn.quant %x by <s8, scale = 0.1, zp = 0> : tensor<4xf32>
  %narrower = qrnn.quant %a by <s4, scale = 0.1, zp = 0> : tensor<4xf32>
  %narrow = qrnn.quant %a by <s8 narrow, scale = 0.1, zp = 0> : tensor<4xf32>
  %rescaled = qrnn.quant %a by <s8, scale = 0.2, zp = 0> : tensor<4xf32>
  %shifted = qrnn.quant %a by <s8, scale = 0.1, zp = 1> : tensor<4xf32>
  %pc = qrnn.quant %m by <s8, scale = [0.1, 0.2], zp = [0, 0], axis = 1> : tensor<2x2xf32>
  %other_axis = qrnn.quant %pc by <s8, scale = [0.1, 0.2], zp = [0, 0], axis = 0> : tensor<2x2xf32>
  %floor = qrnn.quant %a by <s8, scale = 0.1, zp = 0, rounding = floor> : tensor<4xf32>
  func.return %narrower, %narrow, %rescaled, %shifted, %other_axis, %floor : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x2xf32>, tensor<4xf32>
}

// -----

// Identities: reshape to the same type, reshape of a reshape, concat of one input.
// CHECK-LABEL: func.func @identities
// CHECK-NEXT:    %rr = qrnn.reshape %x : tensor<2x4xf32> -> tensor<8xf32>
// CHECK-NEXT:    func.return %x, %rr, %x
func.func @identities(%x: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<8xf32>, tensor<2x4xf32>) {
  %same = qrnn.reshape %x : tensor<2x4xf32> -> tensor<2x4xf32>
  %r = qrnn.reshape %x : tensor<2x4xf32> -> tensor<4x2xf32>
  %rr = qrnn.reshape %r : tensor<4x2xf32> -> tensor<8xf32>
  %one = qrnn.concat %x axis(0) : (tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %same, %rr, %one : tensor<2x4xf32>, tensor<8xf32>, tensor<2x4xf32>
}

// -----

// Dead constants, qconstants and quantizers go away.
// CHECK-LABEL: func.func @dead
// CHECK-NEXT:    func.return %x
func.func @dead(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = qrnn.constant dense<1.0> : tensor<4xf32>
  %k = qrnn.qconstant dense<[1, 2, 3, 4]> : tensor<4xsi8> by <s8, scale = 0.5, zp = 0>
  %q = qrnn.quant %x by <s8, scale = 0.5, zp = 0> : tensor<4xf32>
  func.return %x : tensor<4xf32>
}

// -----

// Four gates over the same input with one per-tensor quantizer fuse into one 4x32 matmul, columns in order
// of first appearance (row 0 of the codes: 1s, -1s, 2s, 0s); each gate is a slice where its matmul was. The
// quantizer of %wd has another zero point, so it stays apart.
// CHECK-LABEL: func.func @fuse_gates
// CHECK-NEXT:    [[W:%.*]] = qrnn.qconstant dense<{{\[\[}}1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0], [1,
// CHECK-SAME:      : tensor<4x32xsi4> by <s4 narrow, scale = 0.25, zp = 0>
// CHECK-NEXT:    [[G:%.*]] = qrnn.matmul %v, [[W]] : (tensor<4xf32>, tensor<4x32xf32>) -> tensor<32xf32>
// CHECK-NEXT:    %ma = qrnn.slice [[G]][0:8] : tensor<32xf32> -> tensor<8xf32>
// CHECK-NEXT:    %mb = qrnn.slice [[G]][8:16] : tensor<32xf32> -> tensor<8xf32>
// CHECK-NEXT:    %mc = qrnn.slice [[G]][16:24] : tensor<32xf32> -> tensor<8xf32>
// CHECK-NEXT:    %wd = qrnn.qconstant dense<3> : tensor<4x8xsi4> by <s4 narrow, scale = 0.25, zp = 1>
// CHECK-NEXT:    %md = qrnn.matmul %v, %wd
// CHECK-NEXT:    %me = qrnn.slice [[G]][24:32] : tensor<32xf32> -> tensor<8xf32>
// CHECK-NEXT:    %s1 = qrnn.add %ma, %mb
// NOFUSE-LABEL: func.func @fuse_gates
// NOFUSE-COUNT-5: qrnn.matmul %v
// NOFUSE-NOT:   qrnn.slice
func.func @fuse_gates(%v: tensor<4xf32>) -> tensor<8xf32> {
  %wa = qrnn.qconstant dense<1> : tensor<4x8xsi4> by <s4 narrow, scale = 0.25, zp = 0>
  %ma = qrnn.matmul %v, %wa : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %b = qrnn.constant dense<-0.25> : tensor<4x8xf32>
  %bq = qrnn.quant %b by <s4 narrow, scale = 0.25, zp = 0> : tensor<4x8xf32>
  %mb = qrnn.matmul %v, %bq : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %wc = qrnn.qconstant dense<2> : tensor<4x8xsi4> by <s4 narrow, scale = 0.25, zp = 0>
  %mc = qrnn.matmul %v, %wc : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %wd = qrnn.qconstant dense<3> : tensor<4x8xsi4> by <s4 narrow, scale = 0.25, zp = 1>
  %md = qrnn.matmul %v, %wd : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %we = qrnn.qconstant dense<0> : tensor<4x8xsi4> by <s4 narrow, scale = 0.25, zp = 0>
  %me = qrnn.matmul %v, %we : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %s1 = qrnn.add %ma, %mb : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %s2 = qrnn.add %mc, %md : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %s3 = qrnn.add %s1, %s2 : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %s4 = qrnn.add %s3, %me : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  func.return %s4 : tensor<8xf32>
}

// -----

// Per-channel (axis 1) weights fuse with their scales and zero points concatenated; inside a recurrence body.
// CHECK-LABEL: func.func @fuse_per_channel
// CHECK:         ^bb0(%h: tensor<2xf32>, %xt: tensor<4xf32>):
// CHECK-NEXT:      [[W:%.*]] = qrnn.qconstant {{.*}} : tensor<4x4xsi8> by <s8, scale = [0.5, 0.25, 0.125, 0.0625], zp = [0, 1, 2, 3], axis = 1>
// CHECK-NEXT:      [[G:%.*]] = qrnn.matmul %xt, [[W]] : (tensor<4xf32>, tensor<4x4xf32>) -> tensor<4xf32>
// CHECK-NEXT:      %mi = qrnn.slice [[G]][0:2] : tensor<4xf32> -> tensor<2xf32>
// CHECK-NEXT:      %mf = qrnn.slice [[G]][2:4] : tensor<4xf32> -> tensor<2xf32>
// CHECK-NEXT:      %s = qrnn.add %mi, %mf
// NOFUSE-LABEL: func.func @fuse_per_channel
// NOFUSE:         %mi = qrnn.matmul %xt, %wi
// NOFUSE:         %mf = qrnn.matmul %xt, %wf
func.func @fuse_per_channel(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %h0 = qrnn.constant dense<0.0> : tensor<2xf32>
  %wi = qrnn.qconstant dense<[[1, 2], [3, 4], [5, 6], [7, 8]]> : tensor<4x2xsi8> by <s8, scale = [0.5, 0.25], zp = [0, 1], axis = 1>
  %wf = qrnn.qconstant dense<[[9, 10], [11, 12], [13, 14], [15, 16]]> : tensor<4x2xsi8> by <s8, scale = [0.125, 0.0625], zp = [2, 3], axis = -1>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xf32>, tensor<3x4xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  ^bb0(%h: tensor<2xf32>, %xt: tensor<4xf32>):
    %mi = qrnn.matmul %xt, %wi : (tensor<4xf32>, tensor<4x2xf32>) -> tensor<2xf32>
    %mf = qrnn.matmul %xt, %wf : (tensor<4xf32>, tensor<4x2xf32>) -> tensor<2xf32>
    %s = qrnn.add %mi, %mf : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    qrnn.yield %s, %s : tensor<2xf32>, tensor<2xf32>
  }
  func.return %ys : tensor<3x2xf32>
}

// -----

// A per-channel quantizer whose channels all agree is per-tensor: it fuses with per-tensor weights.
// CHECK-LABEL: func.func @fuse_uniform_per_channel
// CHECK-NEXT:    [[W:%.*]] = qrnn.qconstant dense<{{\[}}[1, 1, 2, 2]{{.*}} : tensor<4x4xsi8> by <s8, scale = 0.5, zp = 0>
// CHECK-NEXT:    [[G:%.*]] = qrnn.matmul %v, [[W]]
// CHECK-NEXT:    %ma = qrnn.slice [[G]][0:2]
// CHECK-NEXT:    %mb = qrnn.slice [[G]][2:4]
func.func @fuse_uniform_per_channel(%v: tensor<4xf32>) -> (tensor<2xf32>, tensor<2xf32>) {
  %wa = qrnn.qconstant dense<1> : tensor<4x2xsi8> by <s8, scale = [0.5, 0.5], zp = [0, 0], axis = 1>
  %ma = qrnn.matmul %v, %wa : (tensor<4xf32>, tensor<4x2xf32>) -> tensor<2xf32>
  %wb = qrnn.qconstant dense<2> : tensor<4x2xsi8> by <s8, scale = 0.5, zp = 0>
  %mb = qrnn.matmul %v, %wb : (tensor<4xf32>, tensor<4x2xf32>) -> tensor<2xf32>
  func.return %ma, %mb : tensor<2xf32>, tensor<2xf32>
}

// -----

// Must not fuse: different lhs, different per-tensor scales, per-tensor with per-channel, per-row (axis 0)
// weights, a non-constant rhs.
// CHECK-LABEL: func.func @no_fusion
// CHECK-COUNT-7: qrnn.matmul
// CHECK-NOT:     qrnn.slice
func.func @no_fusion(%v: tensor<4xf32>, %u: tensor<4xf32>, %m: tensor<4x8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %wa = qrnn.qconstant dense<1> : tensor<4x8xsi4> by <s4, scale = 0.25, zp = 0>
  %wb = qrnn.qconstant dense<2> : tensor<4x8xsi4> by <s4, scale = 0.25, zp = 0>
  %ma = qrnn.matmul %v, %wa : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %mb = qrnn.matmul %u, %wb : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %wc = qrnn.qconstant dense<3> : tensor<4x8xsi4> by <s4, scale = 0.5, zp = 0>
  %mc = qrnn.matmul %v, %wc : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %wd = qrnn.qconstant dense<1> : tensor<4x8xsi4> by <s4, scale = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], zp = [0, 0, 0, 0, 0, 0, 0, 0], axis = 1>
  %md = qrnn.matmul %u, %wd : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %we = qrnn.qconstant dense<1> : tensor<4x8xsi4> by <s4, scale = [0.1, 0.2, 0.3, 0.4], zp = [0, 0, 0, 0], axis = 0>
  %wf = qrnn.qconstant dense<1> : tensor<4x8xsi4> by <s4, scale = [0.1, 0.2, 0.3, 0.4], zp = [0, 0, 0, 0], axis = 0>
  %me = qrnn.matmul %u, %we : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %mf = qrnn.matmul %u, %wf : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  %mg = qrnn.matmul %v, %m : (tensor<4xf32>, tensor<4x8xf32>) -> tensor<8xf32>
  func.return %ma, %mb, %mc, %md, %me, %mf, %mg : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// FINN-GL's requantization of a constant: codes by the quantizer (round(x / 0.25), clamped to [-8, 7]), values
// by the dequantizer (scale 0.1): one qconstant under the dequantizer.
// CHECK-LABEL: func.func @quant_dequant_constant
// CHECK-NEXT:    %r = qrnn.qconstant dense<[1, -2, 7, -8]> : tensor<4xsi4> by <s4, scale = 0.1, zp = 0>
// CHECK-NEXT:    func.return %r : tensor<4xf32>
func.func @quant_dequant_constant() -> tensor<4xf32> {
  %w = qrnn.constant dense<[0.3, -0.6, 2.0, -9.0]> : tensor<4xf32>
  %r = qrnn.quant_dequant %w by <s4, scale = 0.25, zp = 0> to <s4, scale = 0.1, zp = 0> : tensor<4xf32>
  func.return %r : tensor<4xf32>
}

// -----

// A requantization of a value that is not constant stays.
// CHECK-LABEL: func.func @quant_dequant_of_input
// CHECK-NEXT:    %r = qrnn.quant_dequant %x by <s4, scale = 0.25, zp = 0> to <s4, scale = 0.1, zp = 0> : tensor<4xf32>
// CHECK-NEXT:    func.return %r : tensor<4xf32>
func.func @quant_dequant_of_input(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = qrnn.quant_dequant %x by <s4, scale = 0.25, zp = 0> to <s4, scale = 0.1, zp = 0> : tensor<4xf32>
  func.return %r : tensor<4xf32>
}
