// RUN: lstmc-opt %s --split-input-file -p qrnn-canonicalize | filecheck %s
// Data movement sinks below per-tensor activations and cancels; relu folds into an unsigned quantizer; moved
// constants fold; a recurrence over one sequence in torch's layout loses its unit batch axis.

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

// -----
// torch's layout with batch 1 (state [1, H], x_t [1, I], weights [H, I] quantized per output channel and
// transposed): the recurrence runs on [H] and [I], the transposed weight is a transposed constant under a
// quantizer on axis 1, the [1, H] bias a [H] constant; reshapes remain only at the recurrence's boundary.
// CHECK-LABEL: func.func @batch_one(
// CHECK-NEXT:    %h0 = qrnn.constant dense<0.000000e+00> : tensor<2xf32>
// CHECK-NEXT:    %[[X:.*]] = qrnn.reshape %x : tensor<5x1x3xf32> -> tensor<5x3xf32>
// CHECK-NEXT:    %hT, %ys = qrnn.recurrence(%h0) scan(%[[X]]) directions [forward] -> [forward] : (tensor<2xf32>, tensor<5x3xf32>) -> (tensor<2xf32>, tensor<5x2xf32>) {
// CHECK-NEXT:    ^bb0(%h: tensor<2xf32>, %xt: tensor<3xf32>):
// CHECK-NEXT:      %[[W:.*]] = qrnn.constant dense<{{\[}}[5.000000e-01, 1.250000e-01], [-2.500000e-01, 7.500000e-01], [1.000000e+00, -5.000000e-01]]> : tensor<3x2xf32>
// CHECK-NEXT:      %[[WQ:.*]] = qrnn.quant %[[W]] by <s4 narrow, scale = [0.125, 0.25], zp = [0, 0], axis = 1> : tensor<3x2xf32>
// CHECK-NEXT:      %p = qrnn.matmul %xt, %[[WQ]] : (tensor<3xf32>, tensor<3x2xf32>) -> tensor<2xf32>
// CHECK-NEXT:      %[[B:.*]] = qrnn.constant dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>
// CHECK-NEXT:      %[[A:.*]] = qrnn.add %p, %[[B]] : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
// CHECK-NEXT:      %s = qrnn.mul %[[A]], %h : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
// CHECK-NEXT:      %q = qrnn.quant %s by <s8, scale = 0.0625, zp = 0> : tensor<2xf32>
// CHECK-NEXT:      %t = qrnn.tanh %q : tensor<2xf32>
// CHECK-NEXT:      %hn = qrnn.quant %t by <s8, scale = 0.0078125, zp = 0> : tensor<2xf32>
// CHECK-NEXT:      qrnn.yield %hn, %hn : tensor<2xf32>, tensor<2xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[HT:.*]] = qrnn.reshape %hT : tensor<2xf32> -> tensor<1x2xf32>
// CHECK-NEXT:    %[[YS:.*]] = qrnn.reshape %ys : tensor<5x2xf32> -> tensor<5x1x2xf32>
// CHECK-NEXT:    func.return %[[HT]], %[[YS]] : tensor<1x2xf32>, tensor<5x1x2xf32>
func.func @batch_one(%x: tensor<5x1x3xf32>) -> (tensor<1x2xf32>, tensor<5x1x2xf32>) {
  %h0 = qrnn.constant dense<0.0> : tensor<1x2xf32>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<1x2xf32>, tensor<5x1x3xf32>) -> (tensor<1x2xf32>, tensor<5x1x2xf32>) {
  ^bb0(%h: tensor<1x2xf32>, %xt: tensor<1x3xf32>):
    %w = qrnn.constant dense<[[0.5, -0.25, 1.0], [0.125, 0.75, -0.5]]> : tensor<2x3xf32>
    %wq = qrnn.quant %w by <s4 narrow, scale = [0.125, 0.25], zp = [0, 0], axis = 0> : tensor<2x3xf32>
    %wt = qrnn.transpose %wq perm([1, 0]) : tensor<2x3xf32> -> tensor<3x2xf32>
    %p = qrnn.matmul %xt, %wt : (tensor<1x3xf32>, tensor<3x2xf32>) -> tensor<1x2xf32>
    %b = qrnn.constant dense<[[0.5, -0.5]]> : tensor<1x2xf32>
    %a = qrnn.add %p, %b : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %s = qrnn.mul %a, %h : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %q = qrnn.quant %s by <s8, scale = 0.0625, zp = 0> : tensor<1x2xf32>
    %t = qrnn.tanh %q : tensor<1x2xf32>
    %hn = qrnn.quant %t by <s8, scale = 0.0078125, zp = 0> : tensor<1x2xf32>
    qrnn.yield %hn, %hn : tensor<1x2xf32>, tensor<1x2xf32>
  }
  func.return %hT, %ys : tensor<1x2xf32>, tensor<5x1x2xf32>
}

// -----
// Must not drop: a batch of two sequences (only the weight transpose folds).
// CHECK-LABEL: func.func @batch_two(
// CHECK-NEXT:    %h0 = qrnn.constant dense<0.000000e+00> : tensor<2x2xf32>
// CHECK-NEXT:    %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2x2xf32>, tensor<5x2x3xf32>) -> (tensor<2x2xf32>, tensor<5x2x2xf32>) {
// CHECK-NEXT:    ^bb0(%h: tensor<2x2xf32>, %xt: tensor<2x3xf32>):
// CHECK-NEXT:      %wt = qrnn.constant dense<{{\[}}[5.000000e-01, 1.250000e-01], [-2.500000e-01, 7.500000e-01], [1.000000e+00, -5.000000e-01]]> : tensor<3x2xf32>
// CHECK-NEXT:      %p = qrnn.matmul %xt, %wt : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT:      %s = qrnn.mul %p, %h : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
func.func @batch_two(%x: tensor<5x2x3xf32>) -> tensor<5x2x2xf32> {
  %h0 = qrnn.constant dense<0.0> : tensor<2x2xf32>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2x2xf32>, tensor<5x2x3xf32>) -> (tensor<2x2xf32>, tensor<5x2x2xf32>) {
  ^bb0(%h: tensor<2x2xf32>, %xt: tensor<2x3xf32>):
    %w = qrnn.constant dense<[[0.5, -0.25, 1.0], [0.125, 0.75, -0.5]]> : tensor<2x3xf32>
    %wt = qrnn.transpose %w perm([1, 0]) : tensor<2x3xf32> -> tensor<3x2xf32>
    %p = qrnn.matmul %xt, %wt : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
    %s = qrnn.mul %p, %h : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    %hn = qrnn.quant %s by <s8, scale = 0.0625, zp = 0> : tensor<2x2xf32>
    qrnn.yield %hn, %hn : tensor<2x2xf32>, tensor<2x2xf32>
  }
  func.return %ys : tensor<5x2x2xf32>
}

// -----
// Must not drop: the state leads with 1 but the step input [3] has no batch axis.
// CHECK-LABEL: func.func @mixed(
// CHECK-NEXT:    %h0 = qrnn.constant dense<0.000000e+00> : tensor<1x3xf32>
// CHECK-NEXT:    %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<1x3xf32>, tensor<5x3xf32>) -> (tensor<1x3xf32>, tensor<5x1x3xf32>) {
// CHECK-NEXT:    ^bb0(%h: tensor<1x3xf32>, %xt: tensor<3xf32>):
// CHECK-NEXT:      %s = qrnn.add %h, %xt : (tensor<1x3xf32>, tensor<3xf32>) -> tensor<1x3xf32>
func.func @mixed(%x: tensor<5x3xf32>) -> tensor<1x3xf32> {
  %h0 = qrnn.constant dense<0.0> : tensor<1x3xf32>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<1x3xf32>, tensor<5x3xf32>) -> (tensor<1x3xf32>, tensor<5x1x3xf32>) {
  ^bb0(%h: tensor<1x3xf32>, %xt: tensor<3xf32>):
    %s = qrnn.add %h, %xt : (tensor<1x3xf32>, tensor<3xf32>) -> tensor<1x3xf32>
    %hn = qrnn.quant %s by <s8, scale = 0.0625, zp = 0> : tensor<1x3xf32>
    qrnn.yield %hn, %hn : tensor<1x3xf32>, tensor<1x3xf32>
  }
  func.return %hT : tensor<1x3xf32>
}

// -----
// A quantized constant moves along with its channel axis; not when the quantizer has another user, nor when
// a reshape merges the channel axis with another one.
// CHECK-LABEL: func.func @moved_constants(
// CHECK-NEXT:    %e = qrnn.qconstant dense<{{\[\[}}[4, -2, 7], [1, 3, -2]]]> : tensor<1x2x3xsi4> by <s4 narrow, scale = [0.125, 0.25], zp = [0, 0], axis = 1>
// CHECK-NEXT:    %w = qrnn.constant
// CHECK-NEXT:    %wq = qrnn.quant %w by <s4 narrow, scale = [0.125, 0.25], zp = [0, 0], axis = 0> : tensor<2x3xf32>
// CHECK-NEXT:    %wt = qrnn.transpose %wq perm([1, 0]) : tensor<2x3xf32> -> tensor<3x2xf32>
// CHECK-NEXT:    %v = qrnn.constant
// CHECK-NEXT:    %vq = qrnn.quant %v by <s4 narrow, scale = [0.125, 0.25], zp = [0, 0], axis = 0> : tensor<2x3xf32>
// CHECK-NEXT:    %flat = qrnn.reshape %vq : tensor<2x3xf32> -> tensor<6xf32>
// CHECK-NEXT:    func.return %e, %wq, %wt, %flat
func.func @moved_constants() -> (tensor<1x2x3xf32>, tensor<2x3xf32>, tensor<3x2xf32>, tensor<6xf32>) {
  %c = qrnn.qconstant dense<[[4, -2, 7], [1, 3, -2]]> : tensor<2x3xsi4> by <s4 narrow, scale = [0.125, 0.25], zp = [0, 0], axis = 0>
  %e = qrnn.reshape %c : tensor<2x3xf32> -> tensor<1x2x3xf32>
  %w = qrnn.constant dense<[[0.5, -0.25, 1.0], [0.125, 0.75, -0.5]]> : tensor<2x3xf32>
  %wq = qrnn.quant %w by <s4 narrow, scale = [0.125, 0.25], zp = [0, 0], axis = 0> : tensor<2x3xf32>
  %wt = qrnn.transpose %wq perm([1, 0]) : tensor<2x3xf32> -> tensor<3x2xf32>
  %v = qrnn.constant dense<[[0.5, -0.25, 1.0], [0.125, 0.75, -0.5]]> : tensor<2x3xf32>
  %vq = qrnn.quant %v by <s4 narrow, scale = [0.125, 0.25], zp = [0, 0], axis = 0> : tensor<2x3xf32>
  %flat = qrnn.reshape %vq : tensor<2x3xf32> -> tensor<6xf32>
  func.return %e, %wq, %wt, %flat : tensor<1x2x3xf32>, tensor<2x3xf32>, tensor<3x2xf32>, tensor<6xf32>
}

// -----
// A cell that concatenates [x_t; h] before its product: the concatenation moves to axis 0 of the vectors.
// CHECK-LABEL: func.func @concat_cell(
// CHECK:         ^bb0(%h: tensor<2xf32>, %xt: tensor<3xf32>):
// CHECK-NEXT:      %xh = qrnn.concat %xt, %h axis(0) : (tensor<3xf32>, tensor<2xf32>) -> tensor<5xf32>
// CHECK-NEXT:      %w = qrnn.constant dense<5.000000e-01> : tensor<5x2xf32>
// CHECK-NEXT:      %p = qrnn.matmul %xh, %w : (tensor<5xf32>, tensor<5x2xf32>) -> tensor<2xf32>
// CHECK-NEXT:      %hn = qrnn.quant %p by <s8, scale = 0.0625, zp = 0> : tensor<2xf32>
// CHECK-NEXT:      qrnn.yield %hn, %hn : tensor<2xf32>, tensor<2xf32>
func.func @concat_cell(%x: tensor<4x1x3xf32>) -> tensor<1x2xf32> {
  %h0 = qrnn.constant dense<0.0> : tensor<1x2xf32>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<1x2xf32>, tensor<4x1x3xf32>) -> (tensor<1x2xf32>, tensor<4x1x2xf32>) {
  ^bb0(%h: tensor<1x2xf32>, %xt: tensor<1x3xf32>):
    %xh = qrnn.concat %xt, %h axis(1) : (tensor<1x3xf32>, tensor<1x2xf32>) -> tensor<1x5xf32>
    %w = qrnn.constant dense<0.5> : tensor<5x2xf32>
    %p = qrnn.matmul %xh, %w : (tensor<1x5xf32>, tensor<5x2xf32>) -> tensor<1x2xf32>
    %hn = qrnn.quant %p by <s8, scale = 0.0625, zp = 0> : tensor<1x2xf32>
    qrnn.yield %hn, %hn : tensor<1x2xf32>, tensor<1x2xf32>
  }
  func.return %hT : tensor<1x2xf32>
}

// -----
// FINN-GL's reference cell works on column vectors (state [H, 1], x_t [I, 1]) and quantizes x_t inside the
// body: the recurrence runs on [H] and [I], the input quantizer moves out onto the whole sequence, and every
// elementwise op loses the unit axis. The products MatMul(W [H, I], x [I, 1]) stay as written (onnxruntime
// rounds them differently from x^T W^T), followed by a reshape to [H].
// CHECK-LABEL: func.func @column_cell(
// CHECK-NEXT:    %[[H0:.*]] = qrnn.reshape %h0 : tensor<3x1xf32> -> tensor<3xf32>
// CHECK-NEXT:    %xq = qrnn.quant %x by <s8, scale = 0.125, zp = 0> : tensor<5x2x1xf32>
// CHECK-NEXT:    %[[X:.*]] = qrnn.reshape %xq : tensor<5x2x1xf32> -> tensor<5x2xf32>
// CHECK-NEXT:    %hT, %ys = qrnn.recurrence(%[[H0]]) scan(%[[X]]) directions [forward] -> [forward] : (tensor<3xf32>, tensor<5x2xf32>) -> (tensor<3xf32>, tensor<5x3xf32>) {
// CHECK-NEXT:    ^bb0(%h: tensor<3xf32>, %xt: tensor<2xf32>):
// CHECK-NEXT:      %[[HC:.*]] = qrnn.reshape %h : tensor<3xf32> -> tensor<3x1xf32>
// CHECK-NEXT:      %[[XC:.*]] = qrnn.reshape %xt : tensor<2xf32> -> tensor<2x1xf32>
// CHECK-NEXT:      %w = qrnn.qconstant
// CHECK-NEXT:      %u = qrnn.qconstant
// CHECK-NEXT:      %wx = qrnn.matmul %w, %[[XC]] : (tensor<3x2xf32>, tensor<2x1xf32>) -> tensor<3x1xf32>
// CHECK-NEXT:      %uh = qrnn.matmul %u, %[[HC]] : (tensor<3x3xf32>, tensor<3x1xf32>) -> tensor<3x1xf32>
// CHECK-NEXT:      %[[WX:.*]] = qrnn.reshape %wx : tensor<3x1xf32> -> tensor<3xf32>
// CHECK-NEXT:      %[[UH:.*]] = qrnn.reshape %uh : tensor<3x1xf32> -> tensor<3xf32>
// CHECK-NEXT:      %s = qrnn.add %[[WX]], %[[UH]] : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:      %b = qrnn.constant dense<[1.000000e-01, 2.000000e-01, 3.000000e-01]> : tensor<3xf32>
// CHECK-NEXT:      %a = qrnn.add %s, %b : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
// CHECK-NEXT:      %aq = qrnn.quant %a by <s8, scale = 0.0625, zp = 0> : tensor<3xf32>
// CHECK-NEXT:      %t = qrnn.tanh %aq : tensor<3xf32>
// CHECK-NEXT:      %hn = qrnn.quant %t by <s8, scale = 0.0078125, zp = 0> : tensor<3xf32>
// CHECK-NEXT:      qrnn.yield %hn, %hn : tensor<3xf32>, tensor<3xf32>
// CHECK-NEXT:    }
// CHECK-NEXT:    %[[HT:.*]] = qrnn.reshape %hT : tensor<3xf32> -> tensor<3x1xf32>
// CHECK-NEXT:    %[[YS:.*]] = qrnn.reshape %ys : tensor<5x3xf32> -> tensor<5x3x1xf32>
// CHECK-NEXT:    func.return %[[HT]], %[[YS]] : tensor<3x1xf32>, tensor<5x3x1xf32>
func.func @column_cell(%h0: tensor<3x1xf32>, %x: tensor<5x2x1xf32>) -> (tensor<3x1xf32>, tensor<5x3x1xf32>) {
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<3x1xf32>, tensor<5x2x1xf32>) -> (tensor<3x1xf32>, tensor<5x3x1xf32>) {
  ^bb0(%h: tensor<3x1xf32>, %xt: tensor<2x1xf32>):
    %xq = qrnn.quant %xt by <s8, scale = 0.125, zp = 0> : tensor<2x1xf32>
    %w = qrnn.qconstant dense<[[1, -2], [3, 4], [-5, 6]]> : tensor<3x2xsi4> by <s4 narrow, scale = 0.25, zp = 0>
    %u = qrnn.qconstant dense<[[1, 0, -1], [2, 1, 0], [0, -3, 1]]> : tensor<3x3xsi4> by <s4 narrow, scale = 0.25, zp = 0>
    %wx = qrnn.matmul %w, %xq : (tensor<3x2xf32>, tensor<2x1xf32>) -> tensor<3x1xf32>
    %uh = qrnn.matmul %u, %h : (tensor<3x3xf32>, tensor<3x1xf32>) -> tensor<3x1xf32>
    %s = qrnn.add %wx, %uh : (tensor<3x1xf32>, tensor<3x1xf32>) -> tensor<3x1xf32>
    %b = qrnn.constant dense<[[0.1], [0.2], [0.3]]> : tensor<3x1xf32>
    %a = qrnn.add %s, %b : (tensor<3x1xf32>, tensor<3x1xf32>) -> tensor<3x1xf32>
    %aq = qrnn.quant %a by <s8, scale = 0.0625, zp = 0> : tensor<3x1xf32>
    %t = qrnn.tanh %aq : tensor<3x1xf32>
    %hn = qrnn.quant %t by <s8, scale = 0.0078125, zp = 0> : tensor<3x1xf32>
    qrnn.yield %hn, %hn : tensor<3x1xf32>, tensor<3x1xf32>
  }
  func.return %hT, %ys : tensor<3x1xf32>, tensor<5x3x1xf32>
}

// -----
// A scanned input the body also reads unquantized keeps its quantizer inside: hoisting it would need a second
// scanned sequence.
// CHECK-LABEL: func.func @scanned_input_read_twice(
// CHECK:         qrnn.recurrence(%h0) scan(%x)
// CHECK-NEXT:    ^bb0(%h: tensor<2xf32>, %xt: tensor<2xf32>):
// CHECK-NEXT:      %xq = qrnn.quant %xt by <s8, scale = 0.125, zp = 0> : tensor<2xf32>
// CHECK-NEXT:      %s = qrnn.add %xq, %xt
func.func @scanned_input_read_twice(%h0: tensor<2xf32>, %x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xf32>, tensor<4x2xf32>) -> (tensor<2xf32>, tensor<4x2xf32>) {
  ^bb0(%h: tensor<2xf32>, %xt: tensor<2xf32>):
    %xq = qrnn.quant %xt by <s8, scale = 0.125, zp = 0> : tensor<2xf32>
    %s = qrnn.add %xq, %xt : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %sq = qrnn.quant %s by <s8, scale = 0.25, zp = 0> : tensor<2xf32>
    qrnn.yield %sq, %sq : tensor<2xf32>, tensor<2xf32>
  }
  func.return %ys : tensor<4x2xf32>
}

// -----
// A per-channel input quantizer moves out with its axis behind the time axis (axis 0 of x_t is axis 1 of x).
// CHECK-LABEL: func.func @hoist_per_channel(
// CHECK-NEXT:    %xq = qrnn.quant %x by <s8, scale = [0.125, 0.25], zp = [0, 0], axis = 1> : tensor<4x2xf32>
// CHECK-NEXT:    %hT, %ys = qrnn.recurrence(%h0) scan(%xq)
// CHECK-NEXT:    ^bb0(%h: tensor<2xf32>, %xt: tensor<2xf32>):
// CHECK-NEXT:      %s = qrnn.add %xt, %h
func.func @hoist_per_channel(%h0: tensor<2xf32>, %x: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xf32>, tensor<4x2xf32>) -> (tensor<2xf32>, tensor<4x2xf32>) {
  ^bb0(%h: tensor<2xf32>, %xt: tensor<2xf32>):
    %xq = qrnn.quant %xt by <s8, scale = [0.125, 0.25], zp = [0, 0], axis = 0> : tensor<2xf32>
    %s = qrnn.add %xq, %h : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %sq = qrnn.quant %s by <s8, scale = 0.25, zp = 0> : tensor<2xf32>
    qrnn.yield %sq, %sq : tensor<2xf32>, tensor<2xf32>
  }
  func.return %ys : tensor<4x2xf32>
}
