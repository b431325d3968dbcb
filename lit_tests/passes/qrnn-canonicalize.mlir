// RUN: lstmc-opt %s --split-input-file -p qrnn-canonicalize | filecheck %s
// Data movement sinks below per-tensor activations and cancels; relu folds into an unsigned quantizer.

// Two convolutions as the importer writes them (NCHW transposes around channels-last products): the
// transposes between them cancel, the relu disappears into the u8 quantizer.
// CHECK-LABEL: func.func @conv_chain(
// CHECK-NEXT:    %q = qrnn.quant %acc by <u8, scale = 0.0625, zp = 0> : tensor<12x4xf32>
// CHECK-NEXT:    %[[IMG:.*]] = qrnn.reshape %q : tensor<12x4xf32> -> tensor<6x2x4xf32>
// CHECK-NEXT:    %p = qrnn.window %[[IMG]] kernel([1, 2]) strides([1, 1]) : tensor<6x2x4xf32> -> tensor<6x8xf32>
// CHECK-NEXT:    func.return %p
func.func @conv_chain(%acc: tensor<12x4xf32>) -> tensor<6x8xf32> {
  %nhwc = qrnn.reshape %acc : tensor<12x4xf32> -> tensor<1x6x2x4xf32>
  %nchw = qrnn.transpose %nhwc perm([0, 3, 1, 2]) : tensor<1x6x2x4xf32> -> tensor<1x4x6x2xf32>
  %r = qrnn.relu %nchw : tensor<1x4x6x2xf32>
  %q = qrnn.quant %r by <u8, scale = 0.0625, zp = 0> : tensor<1x4x6x2xf32>
  %back = qrnn.transpose %q perm([0, 2, 3, 1]) : tensor<1x4x6x2xf32> -> tensor<1x6x2x4xf32>
  %img = qrnn.reshape %back : tensor<1x6x2x4xf32> -> tensor<6x2x4xf32>
  %p = qrnn.window %img kernel([1, 2]) strides([1, 1]) : tensor<6x2x4xf32> -> tensor<6x8xf32>
  func.return %p : tensor<6x8xf32>
}

// -----
// The conv output [1, C, T, 1] -> [C, T] -> transpose [T, C] that feeds an LSTM keeps the element order of
// the channels-last product: the whole chain is one reshape (here: nothing).
// CHECK-LABEL: func.func @to_steps(
// CHECK-NEXT:    func.return %acc : tensor<6x4xf32>
func.func @to_steps(%acc: tensor<6x4xf32>) -> tensor<6x4xf32> {
  %a = qrnn.reshape %acc : tensor<6x4xf32> -> tensor<1x6x1x4xf32>
  %b = qrnn.transpose %a perm([0, 3, 1, 2]) : tensor<1x6x1x4xf32> -> tensor<1x4x6x1xf32>
  %c = qrnn.reshape %b : tensor<1x4x6x1xf32> -> tensor<4x6xf32>
  %d = qrnn.transpose %c perm([1, 0]) : tensor<4x6xf32> -> tensor<6x4xf32>
  func.return %d : tensor<6x4xf32>
}

// -----
// Must not fold: a signed quantizer after relu (relu decides the negative half), a per-channel quantizer
// (it cannot move past a transpose), a transpose with two users.
// CHECK-LABEL: func.func @kept(
// CHECK-NEXT:    %r = qrnn.relu %x : tensor<2x3xf32>
// CHECK-NEXT:    %s = qrnn.quant %r by <s8, scale = 0.0625, zp = 0> : tensor<2x3xf32>
// CHECK-NEXT:    %t = qrnn.transpose %x perm([1, 0]) : tensor<2x3xf32> -> tensor<3x2xf32>
// CHECK-NEXT:    %pc = qrnn.quant %t by <s8, scale = [0.5, 0.25], zp = [0, 0], axis = 1> : tensor<3x2xf32>
// CHECK-NEXT:    %u = qrnn.tanh %t : tensor<3x2xf32>
func.func @kept(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<3x2xf32>, tensor<3x2xf32>) {
  %r = qrnn.relu %x : tensor<2x3xf32>
  %s = qrnn.quant %r by <s8, scale = 0.0625, zp = 0> : tensor<2x3xf32>
  %t = qrnn.transpose %x perm([1, 0]) : tensor<2x3xf32> -> tensor<3x2xf32>
  %pc = qrnn.quant %t by <s8, scale = [0.5, 0.25], zp = [0, 0], axis = 1> : tensor<3x2xf32>
  %u = qrnn.tanh %t : tensor<3x2xf32>
  func.return %s, %pc, %u : tensor<2x3xf32>, tensor<3x2xf32>, tensor<3x2xf32>
}
