// RUN: lstmc-opt %s --split-input-file --verify-diagnostics --parsing-diagnostics | filecheck %s
// One case per verifier message of dataflow.mvau.

func.func @no_inputs() -> tensor<2xsi8> {
  %0 = dataflow.mvau() weights(dense<0> : tensor<0x2xsi4>) multipliers(dense<1> : tensor<0x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) : () -> tensor<2xsi8>
  func.return %0 : tensor<2xsi8>
}
// CHECK: 'dataflow.mvau' needs at least one input vector

// -----
func.func @float_input(%x: tensor<3xf32>) -> tensor<2xsi8> {
  %0 = dataflow.mvau(%x) weights(dense<1> : tensor<3x2xsi4>) multipliers(dense<1> : tensor<1x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) : (tensor<3xf32>) -> tensor<2xsi8>
  func.return %0 : tensor<2xsi8>
}
// CHECK: 'dataflow.mvau' input 0 must be an integer tensor of shape [K], got tensor<3xf32>

// -----
func.func @matrix_input(%x: tensor<3xsi8>, %m: tensor<2x2xsi8>) -> tensor<2xsi8> {
  %0 = dataflow.mvau(%x, %m) weights(dense<1> : tensor<5x2xsi4>) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) : (tensor<3xsi8>, tensor<2x2xsi8>) -> tensor<2xsi8>
  func.return %0 : tensor<2xsi8>
}
// CHECK: 'dataflow.mvau' input 1 must be an integer tensor of shape [K], got tensor<2x2xsi8>

// -----
func.func @float_result(%x: tensor<3xsi8>) -> tensor<2xf32> {
  %0 = dataflow.mvau(%x) weights(dense<1> : tensor<3x2xsi4>) multipliers(dense<1> : tensor<1x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) : (tensor<3xsi8>) -> tensor<2xf32>
  func.return %0 : tensor<2xf32>
}
// CHECK: 'dataflow.mvau' result must be an integer [N] or [V, N] tensor, got tensor<2xf32>

// -----
func.func @weights_shape(%x: tensor<3xsi8>, %h: tensor<2xsi8>) -> tensor<2xsi8> {
  %0 = dataflow.mvau(%x, %h) weights(dense<1> : tensor<3x2xsi4>) multipliers(dense<1> : tensor<2x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) : (tensor<3xsi8>, tensor<2xsi8>) -> tensor<2xsi8>
  func.return %0 : tensor<2xsi8>
}
// CHECK: 'dataflow.mvau' weights must be [5, 2], got [3, 2]

// -----
func.func @multipliers_shape(%x: tensor<3xsi8>, %h: tensor<2xsi8>) -> tensor<2xsi8> {
  %0 = dataflow.mvau(%x, %h) weights(dense<1> : tensor<5x2xsi4>) multipliers(dense<1> : tensor<1x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) : (tensor<3xsi8>, tensor<2xsi8>) -> tensor<2xsi8>
  func.return %0 : tensor<2xsi8>
}
// CHECK: 'dataflow.mvau' multipliers must be [2, 2], got [1, 2]

// -----
func.func @bias_shape(%x: tensor<3xsi8>) -> tensor<2xsi8> {
  %0 = dataflow.mvau(%x) weights(dense<1> : tensor<3x2xsi4>) multipliers(dense<1> : tensor<1x2xi64>) bias(dense<0> : tensor<3xi64>) pe(1) simd(1) : (tensor<3xsi8>) -> tensor<2xsi8>
  func.return %0 : tensor<2xsi8>
}
// CHECK: 'dataflow.mvau' bias must be [2], got [3]

// -----
func.func @pe_not_divisor(%x: tensor<4xsi8>) -> tensor<6xsi8> {
  %0 = dataflow.mvau(%x) weights(dense<1> : tensor<4x6xsi4>) multipliers(dense<1> : tensor<1x6xi64>) bias(dense<0> : tensor<6xi64>) pe(4) simd(1) : (tensor<4xsi8>) -> tensor<6xsi8>
  func.return %0 : tensor<6xsi8>
}
// CHECK: 'dataflow.mvau' PE=4 must divide the 6 output rows

// -----
func.func @pe_zero(%x: tensor<4xsi8>) -> tensor<6xsi8> {
  %0 = dataflow.mvau(%x) weights(dense<1> : tensor<4x6xsi4>) multipliers(dense<1> : tensor<1x6xi64>) bias(dense<0> : tensor<6xi64>) pe(0) simd(1) : (tensor<4xsi8>) -> tensor<6xsi8>
  func.return %0 : tensor<6xsi8>
}
// CHECK: 'dataflow.mvau' PE=0 must divide the 6 output rows

// -----
func.func @simd_not_divisor(%x: tensor<4xsi8>, %h: tensor<6xsi8>) -> tensor<6xsi8> {
  %0 = dataflow.mvau(%x, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(4) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi8>
  func.return %0 : tensor<6xsi8>
}
// CHECK: 'dataflow.mvau' SIMD=4 must divide the 10 input columns (part sizes [4, 6])

// -----
func.func @simd_zero(%x: tensor<4xsi8>) -> tensor<6xsi8> {
  %0 = dataflow.mvau(%x) weights(dense<1> : tensor<4x6xsi4>) multipliers(dense<1> : tensor<1x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(0) : (tensor<4xsi8>) -> tensor<6xsi8>
  func.return %0 : tensor<6xsi8>
}
// CHECK: 'dataflow.mvau' SIMD=0 must divide the 4 input columns (part sizes [4])
