// RUN: lstmc-opt %s --split-input-file -p canonicalize | filecheck %s
// The patterns of single qrnn ops are attached to them, so xDSL's generic `canonicalize` applies them (the
// multi-op data-movement patterns are qrnn-canonicalize's, see passes/qrnn-canonicalize.mlir).

// relu folds into an unsigned quantizer (smallest code >= zero point), not into a signed one.
// CHECK-LABEL: func.func @relu_quant(
// CHECK-NEXT:    %r = qrnn.relu %x : tensor<4xf32>
// CHECK-NEXT:    %u = qrnn.quant %x by <u8, scale = 0.125, zp = 0> : tensor<4xf32>
// CHECK-NEXT:    %s = qrnn.quant %r by <s8, scale = 0.125, zp = 0> : tensor<4xf32>
// CHECK-NEXT:    func.return %u, %s
func.func @relu_quant(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %r = qrnn.relu %x : tensor<4xf32>
  %u = qrnn.quant %r by <u8, scale = 0.125, zp = 0> : tensor<4xf32>
  %s = qrnn.quant %r by <s8, scale = 0.125, zp = 0> : tensor<4xf32>
  func.return %u, %s : tensor<4xf32>, tensor<4xf32>
}

// -----
// reshape(reshape(x)) is one reshape, or x itself; the dead inner reshapes go (they are pure).
// CHECK-LABEL: func.func @reshapes(
// CHECK-NEXT:    %b = qrnn.reshape %x : tensor<4xf32> -> tensor<2x2xf32>
// CHECK-NEXT:    func.return %x, %b
func.func @reshapes(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<2x2xf32>) {
  %r = qrnn.reshape %x : tensor<4xf32> -> tensor<1x4xf32>
  %a = qrnn.reshape %r : tensor<1x4xf32> -> tensor<4xf32>
  %b = qrnn.reshape %r : tensor<1x4xf32> -> tensor<2x2xf32>
  func.return %a, %b : tensor<4xf32>, tensor<2x2xf32>
}

// -----
// A quantizer of a scanned input's slice becomes the same quantizer of the whole sequence.
// CHECK-LABEL: func.func @hoist(
// CHECK-NEXT:    %xq = qrnn.quant %x by <s8, scale = 0.125, zp = 0> : tensor<5x4xf32>
// CHECK-NEXT:    %y = qrnn.recurrence() scan(%xq) directions [reverse] -> [reverse] : (tensor<5x4xf32>) -> (tensor<5x4xf32>) {
// CHECK-NEXT:    ^bb0(%xt: tensor<4xf32>):
// CHECK-NEXT:      %t = qrnn.tanh %xt : tensor<4xf32>
// CHECK-NEXT:      qrnn.yield %t : tensor<4xf32>
func.func @hoist(%x: tensor<5x4xf32>) -> tensor<5x4xf32> {
  %y = qrnn.recurrence() scan(%x) directions [reverse] -> [reverse] : (tensor<5x4xf32>) -> (tensor<5x4xf32>) {
  ^bb0(%xt: tensor<4xf32>):
    %xq = qrnn.quant %xt by <s8, scale = 0.125, zp = 0> : tensor<4xf32>
    %t = qrnn.tanh %xq : tensor<4xf32>
    qrnn.yield %t : tensor<4xf32>
  }
  func.return %y : tensor<5x4xf32>
}
