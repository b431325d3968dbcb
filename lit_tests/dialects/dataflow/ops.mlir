// RUN: LSTMC_ROUNDTRIP | filecheck %s
// RUN: LSTMC_GENERIC_ROUNDTRIP | filecheck %s

// One MVAU over [x_t; h]: weights stacked along K (4 x-rows then 6 h-rows), one multiplier row per part,
// the folding and the FIFO depth as properties/attributes.
// CHECK-LABEL: func.func @step
func.func @step(%xt: tensor<4xsi8>, %h: tensor<6xsi8>) -> tensor<6xsi16> {
  // CHECK-NEXT: %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<[[1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2]]> : tensor<2x6xi64>) bias(dense<[0, 1, 2, 3, 4, 5]> : tensor<6xi64>) pe(3) simd(2) {fifo_depth = 6 : i64} : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
  %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<[[1, 1, 1, 1, 1, 1], [2, 2, 2, 2, 2, 2]]> : tensor<2x6xi64>) bias(dense<[0, 1, 2, 3, 4, 5]> : tensor<6xi64>) pe(3) simd(2) {fifo_depth = 6 : i64} : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
  // CHECK-NEXT: func.return %gates : tensor<6xsi16>
  func.return %gates : tensor<6xsi16>
}

// A single part, unsigned input, defaults PE = SIMD = 1.
// CHECK-LABEL: func.func @one_part
func.func @one_part(%x: tensor<3xui4>) -> tensor<2xsi12> {
  // CHECK-NEXT: %0 = dataflow.mvau(%x) weights(dense<[[1, -1], [2, -2], [3, -3]]> : tensor<3x2xsi3>) multipliers(dense<1> : tensor<1x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) : (tensor<3xui4>) -> tensor<2xsi12>
  %0 = dataflow.mvau(%x) weights(dense<[[1, -1], [2, -2], [3, -3]]> : tensor<3x2xsi3>) multipliers(dense<1> : tensor<1x2xi64>) bias(dense<0> : tensor<2xi64>) pe(1) simd(1) : (tensor<3xui4>) -> tensor<2xsi12>
  func.return %0 : tensor<2xsi12>
}

// SIMD folds over the concatenated input: 5 columns per cycle of [x_t (4); h (6)], the first fold taking
// all of x_t and one column of h.
// CHECK-LABEL: func.func @straddling_simd
func.func @straddling_simd(%xt: tensor<4xsi8>, %h: tensor<6xsi8>) -> tensor<6xsi16> {
  // CHECK-NEXT: %gates = dataflow.mvau(%xt, %h) {{.*}} pe(6) simd(5) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
  %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(6) simd(5) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
  func.return %gates : tensor<6xsi16>
}
