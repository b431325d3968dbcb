"""`qrnn-fold-constants` keeps the qrnn IR bit-exact while it folds.

Properties:
- Interpreting the IR before and after the pass gives bit-identical outputs, on every fixture and on random
  models (per-channel weights, bidirectional, 2 layers, QONNX Quant form, float scales), with and without
  gate fusion. Breaks if: codes are rounded differently from the runtime quantizer, a quantizer that can bind
  is dropped, fused weights are concatenated in the wrong order or with the wrong per-channel scales.
- No `qrnn.constant` -> `qrnn.quant` pair survives; with fuse-gates the per-gate matmuls become one per
  (lhs, compatible quantizer) group.
- onnxruntime's vector-matrix MatMul computes each output column independently of the other columns (what
  makes gate fusion exact). Breaks if: a MatMul kernel blocks K by N, or reduces columns in different orders
  depending on the column count or position.
- The pass is idempotent (a second run prints the same IR).
"""

import time

import numpy as np
import pytest
from conftest import fixture_models, load_expected
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from lstmc import numerics
from lstmc.dialects import qrnn
from lstmc.frontend import load_onnx
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.passes.qrnn_fold_constants import QrnnFoldConstantsPass
from lstmc.pipeline import make_context
from lstmc.testing import LstmSpec, Q, build_lstm

RANDOM = {
    "default": LstmSpec(seed=11),
    "per_channel_float": LstmSpec(
        weight=Q(5, True, True, 0.031),
        io=Q(8, True, False, 0.0213),
        acc=Q(8, True, False, 0.0517),
        per_channel_weights=True,
        seed=12,
    ),
    "bidir_2layer": LstmSpec(num_layers=2, bidirectional=True, seq_len=7, seed=13),
    "quant_format": LstmSpec(
        quant_format="quant", weight=Q(6, True, False, 0.0413), io=Q(7, True, False, 0.0271), seed=14
    ),
    "quant_per_channel_bidir": LstmSpec(
        quant_format="quant", per_channel_weights=True, bidirectional=True, input_size=5, hidden_size=6, seed=15
    ),
    "unsigned_narrow": LstmSpec(io=Q(6, False, True, 0.03), sigmoid=Q(3, False, True, 0.14), seed=16),
}


def fold(module: ModuleOp, fuse_gates: bool = True) -> ModuleOp:
    out = module.clone()
    QrnnFoldConstantsPass(fuse_gates=fuse_gates).apply(Context(), out)
    out.verify()
    return out


def count(module: ModuleOp, op_type) -> int:
    return sum(isinstance(op, op_type) for op in module.walk())


def assert_bit_exact(before: ModuleOp, after: ModuleOp, x: np.ndarray, label: str):
    want, got = run_function(before, {"X": x}), run_function(after, {"X": x})
    assert want.keys() == got.keys()
    for name in want:
        assert got[name].shape == want[name].shape, f"{label}: {name} shape"
        diff = np.count_nonzero(got[name].view(np.uint32) != want[name].view(np.uint32))
        assert diff == 0, f"{label}: {name} differs in {diff} of {want[name].size} elements"


def assert_no_constant_quant(module: ModuleOp):
    pairs = [op for op in module.walk() if isinstance(op, qrnn.QuantOp) and isinstance(op.input.owner, qrnn.ConstantOp)]
    assert not pairs, f"{len(pairs)} qrnn.constant -> qrnn.quant pairs left"


def random_input(spec: LstmSpec, n: int = 6) -> np.ndarray:
    rng = np.random.default_rng(spec.seed + 100)
    return (rng.standard_normal((n, spec.seq_len, spec.input_size)) * 1.5).astype(np.float32)


@pytest.mark.parametrize("fuse_gates", [True, False], ids=["fuse", "nofuse"])
@pytest.mark.parametrize("path", fixture_models(), ids=lambda p: p.stem)
def test_fixture_outputs_unchanged(path, fuse_gates):
    module = import_model(load_onnx(str(path)))
    folded = fold(module, fuse_gates)
    assert_no_constant_quant(folded)
    assert count(folded, qrnn.QConstantOp) > 0
    if not fuse_gates:
        assert count(folded, qrnn.MatMulOp) == count(module, qrnn.MatMulOp)
    assert_bit_exact(module, folded, load_expected(path)["X"], path.stem)


@pytest.mark.parametrize("fuse_gates", [True, False], ids=["fuse", "nofuse"])
@pytest.mark.parametrize("name", RANDOM)
def test_random_model_outputs_unchanged(name, fuse_gates):
    spec = RANDOM[name]
    module = import_model(build_lstm(spec))
    folded = fold(module, fuse_gates)
    assert_no_constant_quant(folded)
    recurrences = count(module, qrnn.RecurrenceOp)
    assert count(module, qrnn.MatMulOp) == 8 * recurrences
    # Every gate of a build_lstm layer shares the weight quantizer, so x-path and h-path fuse to one each.
    assert count(folded, qrnn.MatMulOp) == (2 if fuse_gates else 8) * recurrences
    assert count(folded, qrnn.SliceOp) == (8 * recurrences if fuse_gates else 0)
    assert_bit_exact(module, folded, random_input(spec), name)


@pytest.mark.parametrize("path", [p for p in fixture_models() if "perchannel" in p.stem], ids=lambda p: p.stem)
def test_per_channel_fixture_fuses(path):
    module = import_model(load_onnx(str(path)))
    assert count(fold(module), qrnn.MatMulOp) < count(module, qrnn.MatMulOp)


@pytest.mark.parametrize("name", ["bidir_2layer", "per_channel_float", "fixture"])
def test_idempotent(name):
    model = load_onnx(str(fixture_models()[0])) if name == "fixture" else build_lstm(RANDOM[name])
    once = fold(import_model(model))
    assert str(fold(once)) == str(once)


CHAIN = """
func.func @main(%X: tensor<64xf32>) -> (tensor<64xf32>) attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %a = qrnn.quant %X by <INNER> : tensor<64xf32>
  %r = qrnn.reshape %a : tensor<64xf32> -> tensor<8x8xf32>
  %s = qrnn.reshape %r : tensor<8x8xf32> -> tensor<64xf32>
  %b = qrnn.quant %s by <OUTER> : tensor<64xf32>
  func.return %b : tensor<64xf32>
}
"""


@pytest.mark.parametrize(
    "inner, outer, folds",
    [
        ("s8, scale = 0.1, zp = 0", "s8, scale = 0.1, zp = 0", True),
        ("u4, scale = 0.3, zp = 3", "u8, scale = 0.3, zp = 3, rounding = half_up", True),
        ("s8, scale = 0.1, zp = 0", "s8, scale = 0.1, zp = 0, rounding = floor", False),  # (n*s)/s < n in f32
        ("s8, scale = 0.1, zp = 0", "s8 narrow, scale = 0.1, zp = 0", False),  # -128 clamps
        ("s4, scale = 0.25, zp = 0", "s8, scale = 0.125, zp = 0", False),  # another scale: not folded
    ],
)
def test_redundant_quant_chain(inner, outer, folds):
    """Dropping a quantizer after one on the same grid is exact, and the ones that bind stay."""
    module = Parser(make_context(), CHAIN.replace("INNER", inner).replace("OUTER", outer)).parse_module()
    folded = fold(module)
    assert (count(folded, qrnn.QuantOp) == 1) == folds
    x = np.random.default_rng(0).standard_normal((50, 64)).astype(np.float32) * 10
    grid = run_function(module, {"X": x})["Y"]  # also feed exact grid points and extremes
    assert_bit_exact(module, folded, np.concatenate([x, grid, -x]), inner + " -> " + outer)


def test_matmul_columns_are_independent():
    """Column j of onnxruntime's vector-matrix product does not depend on the other columns, so
    v @ [W_1 | ... | W_g] sliced equals v @ W_i bit for bit (K blocking, N tails, unequal widths)."""
    rng = np.random.default_rng(0)
    ks = [1, 3, 4, 8, 15, 16, 17, 33, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1000, 1024, 1025, 2100]
    widths = [
        [1, 1],
        [3, 5],
        [7, 7, 7, 7],
        [8, 8, 8, 8],
        [15, 17, 16, 1],
        [20, 20, 20, 20],
        [31, 33],
        [64, 64, 64, 64],
        [100, 129, 7],
        [128, 128, 128, 128],
        [300, 212],
        [512, 512, 512, 512],
    ]
    failures = []
    for k in ks:
        for ns in widths:
            ws = [rng.standard_normal((k, n)).astype(np.float32) for n in ns]
            v = (rng.standard_normal((3, k)) * rng.choice([1e-3, 1.0, 1e3])).astype(np.float32)
            fused = numerics.matmul(v, np.concatenate(ws, axis=1), a_batched=True)
            apart = np.concatenate([numerics.matmul(v, w, a_batched=True) for w in ws], axis=-1)
            if not np.array_equal(fused.view(np.uint32), apart.view(np.uint32)):
                failures.append((k, ns))
    assert not failures, f"column-dependent MatMul results for (K, widths) {failures[:10]}"


def test_large_model_folds_quickly():
    """A 1-layer I=H=512 model folds with vectorised numpy (timing printed, not asserted)."""
    module = import_model(build_lstm(LstmSpec(input_size=512, hidden_size=512, seq_len=4)))
    start = time.perf_counter()
    QrnnFoldConstantsPass().apply(Context(), module)
    elapsed = time.perf_counter() - start
    print(f"fold I=H=512: {elapsed:.3f} s")
    assert count(module, qrnn.MatMulOp) == 2
    assert_no_constant_quant(module)
    x = np.random.default_rng(1).standard_normal((2, 4, 512)).astype(np.float32)
    assert_bit_exact(import_model(build_lstm(LstmSpec(input_size=512, hidden_size=512, seq_len=4))), module, x, "512")
