// qrnn-set-folding: PE/SIMD of every dataflow.mvau, from options, a JSON config or a cycle budget.
// The MVAUs below have 6 output rows (valid PE: 1, 2, 3, 6) and input parts of 4 and 6 columns, folded
// as one concatenated input of 10 (valid SIMD: 1, 2, 5, 10). Units are named "<lstmc.onnx_node>/gates", or
// "recurrence<i>/gates" (i counting recurrences in walk order) when the attribute is missing.
// Every mode also records on a streamed recurrence's MVAU whether its x-overlapped step is taken
// (`x_overlap = 1|0`: the kernel's cycles with and without it, lstmc.schedule.x_overlap).
// Every RUN uses --verify-diagnostics so that an error prints its message (and exits 0).
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p qrnn-set-folding | filecheck %s
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{pe=3 simd=2}' | filecheck %s --check-prefix=PE3
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{pe=2}' | filecheck %s --check-prefix=PE2
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{config="%S/Inputs/folding.json"}' | filecheck %s --check-prefix=CONFIG
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{config="%S/Inputs/folding-simd-only.json"}' | filecheck %s --check-prefix=SIMD-ONLY
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{target-cycles=57}' | filecheck %s --check-prefix=T57
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{target-cycles=52}' | filecheck %s --check-prefix=T52
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{target-cycles=37}' | filecheck %s --check-prefix=T37
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{pe=4}' | filecheck %s --check-prefix=BADPE
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{simd=4}' | filecheck %s --check-prefix=BADSIMD
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{pe=2 target-cycles=100}' | filecheck %s --check-prefix=MODES
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{config="%S/Inputs/folding-unknown-unit.json"}' | filecheck %s --check-prefix=UNKNOWN
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{config="%S/Inputs/folding-bad-pe.json"}' | filecheck %s --check-prefix=CONFIG-PE
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{config="%S/Inputs/folding-malformed.json"}' | filecheck %s --check-prefix=MALFORMED
// RUN: lstmc-opt %s --split-input-file --verify-diagnostics -p 'qrnn-set-folding{config="%S/Inputs/no-such-file.json"}' | filecheck %s --check-prefix=MISSING

// Errors are all-or-nothing: the first split fails as a whole, no MVAU is half-folded.
// BADPE: qrnn-set-folding: PE=4 does not divide the 6 output rows of 'layer0/gates'; valid PE values: 1, 2, 3, 6
// BADSIMD: qrnn-set-folding: SIMD=4 does not divide the 10 input columns of 'layer0/gates' (part sizes 4, 6, concatenated); valid SIMD values: 1, 2, 5, 10
// MODES: qrnn-set-folding: give only one of pe/simd, config or target-cycles (got pe/simd and target-cycles)
// UNKNOWN: qrnn-set-folding: folding config '{{.*}}folding-unknown-unit.json' names unknown unit 'layer9/gates'; valid names: layer0/gates
// CONFIG-PE: qrnn-set-folding: PE=4 does not divide the 6 output rows of 'layer0/gates'; valid PE values: 1, 2, 3, 6
// MALFORMED: qrnn-set-folding: folding config '{{.*}}folding-malformed.json' is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 27 (char 26)
// MISSING: qrnn-set-folding: cannot read folding config '{{.*}}no-such-file.json': No such file or directory

// Schedule of @named (lstmc.qor; the step streams): T = 3 steps, each the MVAU ((6/PE) * (10/SIMD) + 3 +
// ceil(log2 SIMD) cycles), then the requant behind its last row (2 cycles) and the step's start/finish and
// state copy (3 cycles):
//   PE=3 SIMD=2: 3 * (10 + 4 + 5) = 57 cycles;  PE=1 SIMD=10: 3 * (6 + 7 + 5) = 54;
//   PE=6 SIMD=5: 3 * (2 + 6 + 5) = 39 (a fold of 5 columns takes x_t's 4 and h's first);
//   PE=2 SIMD=5: 3 * (6 + 6 + 5) = 51.
// With SIMD = 2 the step is x-overlapped (lstmc.schedule.x_overlap: x_t's 4 columns are XF = 2 of CF = 5
// folds, run for step t + 1 behind the h folds of step t; step 0 runs its own x folds too, the last step
// only its h folds):
//   PE=3 SIMD=2: step 0 max(10 + 4 + 4, 10 + 4 + 2) + 3 = 21, step 1 max(10 + 4, 6 + 4 + 2) + 3 = 17, step 2
//   6 + 4 + 2 + 3 = 15: 53 cycles;
//   PE=6 SIMD=2: step 0 max(5 + 2 + 4, 5 + 4 + 2) + 3 = 14, step 1 max(5 + 4, 3 + 4 + 2) + 3 = 12, step 2
//   3 + 4 + 2 + 3 = 12: 38 (the fastest);
//   PE=2 SIMD=1: step 0 max(30 + 12 + 3, 30 + 3 + 2) + 3 = 48, step 1 max(30 + 3, 18 + 3 + 2) + 3 = 36, step 2
//   18 + 3 + 2 + 3 = 26: 110 cycles against 3 * (30 + 3 + 5) = 114 without (taken: it saves more than 1/50).
// Of the foldings within 57 cycles, PE=3 SIMD=2 has the fewest estimated LUTs; within 52 it is PE=2 SIMD=5.
// T37: qrnn-set-folding: no folding meets target-cycles=37; the minimum achievable is 38 cycles per inference

// CHECK-LABEL:  func.func @named(
// CHECK:          %gates = dataflow.mvau(%xt, %h) {{.*}} pe(1) simd(1) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
// CHECK-NEXT:     %hn = qrnn.requant %gates
// PE3-LABEL:    func.func @named(
// PE3:            dataflow.mvau(%xt, %h) {{.*}} pe(3) simd(2) {x_overlap = 1 : i64} :
// PE2-LABEL:    func.func @named(
// PE2:            dataflow.mvau(%xt, %h) {{.*}} pe(2) simd(1) {x_overlap = 1 : i64} :
// CONFIG-LABEL: func.func @named(
// CONFIG:         dataflow.mvau(%xt, %h) {{.*}} pe(6) simd(2) {x_overlap = 1 : i64} :
// A config entry for another module's unit is an error that lists this module's units.
// SIMD-ONLY:    qrnn-set-folding: folding config '{{.*}}folding-simd-only.json' names unknown unit 'recurrence0/gates'; valid names: layer0/gates
// T57-LABEL:    func.func @named(
// T57:           dataflow.mvau(%xt, %h) {{.*}} pe(3) simd(2) {x_overlap = 1 : i64} :
// T52-LABEL:    func.func @named(
// T52:           dataflow.mvau(%xt, %h) {{.*}} pe(2) simd(5) {x_overlap = 0 : i64} :
func.func @named(%x: tensor<3x4xsi8>) -> tensor<3x6xsi8> {
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "layer0"}
  func.return %ys : tensor<3x6xsi8>
}

// -----

// No lstmc.onnx_node: the unit is "recurrence0/gates". A config entry may set only SIMD: PE stays 2.
// CHECK-LABEL:      func.func @unnamed(
// CHECK:              dataflow.mvau(%xt, %h) {{.*}} pe(2) simd(1) :
// PE3-LABEL:        func.func @unnamed(
// PE3:                dataflow.mvau(%xt, %h) {{.*}} pe(3) simd(2) {x_overlap = 1 : i64} :
// CONFIG:           qrnn-set-folding: folding config '{{.*}}folding.json' names unknown unit 'layer0/gates'; valid names: recurrence0/gates
// SIMD-ONLY-LABEL:  func.func @unnamed(
// SIMD-ONLY:          dataflow.mvau(%xt, %h) {{.*}} pe(2) simd(2) {x_overlap = 1 : i64} :
func.func @unnamed(%x: tensor<3x4xsi8>) -> tensor<3x6xsi8> {
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %gates = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(2) simd(1) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %hn = qrnn.requant %gates shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi16> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  }
  func.return %ys : tensor<3x6xsi8>
}

// -----

// No MVAU: nothing to fold, the pass must not fire (a config's names are then all unknown).
// CHECK-LABEL:  func.func @no_mvau(
// CHECK-NEXT:     %y = qrnn.requant %x shift(1) clamp(-8, 7) rounding(half_even) : tensor<4xsi8> -> tensor<4xsi4>
// CHECK-NEXT:     func.return %y : tensor<4xsi4>
// PE3-LABEL:    func.func @no_mvau(
// PE3-NEXT:       qrnn.requant
// CONFIG:       qrnn-set-folding: folding config '{{.*}}folding.json' names unknown unit 'layer0/gates'; valid names: (none: the module has no dataflow.mvau)
func.func @no_mvau(%x: tensor<4xsi8>) -> tensor<4xsi4> {
  %y = qrnn.requant %x shift(1) clamp(-8, 7) rounding("half_even") : tensor<4xsi8> -> tensor<4xsi4>
  func.return %y : tensor<4xsi4>
}
