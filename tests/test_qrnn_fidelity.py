"""The qrnn stage (import + interpreter) equals the trained model bit for bit.

Property: for every committed Brevitas fixture (QCDQ and QONNX Quant forms), interpreting the imported
qrnn IR on all test sequences gives exactly Brevitas' outputs (stored in the .npz), which onnxruntime
(basic optimisations) also reproduces. Models the exporter never produced (random sizes, per-channel
weights, 16-bit biases, narrow/unsigned quantizers, float scales, QONNX form) must equal onnxruntime too.
Breaks if: a quantizer is dropped or mis-read, a direction is reversed, float op order differs
(e.g. numpy matmul instead of onnxruntime's M=1 kernel), or batching leaks across sequences.
"""

import numpy as np
import pytest
from conftest import expected_for, fixture_models, load_expected

from lstmc.frontend import load_onnx
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.reference import run_reference
from lstmc.testing import LstmSpec, Q, build_lstm


def assert_same(got: dict, want: dict, label: str):
    assert set(want) <= set(got), f"{label}: missing outputs {set(want) - set(got)}"
    for name, value in want.items():
        assert got[name].shape == value.shape, f"{label}: {name} shape"
        mism = int(np.count_nonzero(got[name] != value))
        assert mism == 0, f"{label}: {name} differs in {mism} of {value.size} elements"


@pytest.mark.parametrize("path", fixture_models(), ids=lambda p: p.stem)
def test_fixture_qrnn_equals_brevitas(path):
    data = load_expected(path)
    module = import_model(load_onnx(str(path)))
    got = run_function(module, {"X": data["X"]})
    assert_same(got, {k: v for k, v in data.items() if k != "X"}, path.stem)


def test_fixture_configurations_cover_the_contract():
    names = {p.stem for p in fixture_models()}
    assert len([n for n in names if not n.endswith("_quant")]) >= 6
    assert any(n.startswith("l2") for n in names) and any(n.startswith("l1") for n in names)
    assert any("bidir" in n for n in names)
    assert any("po2" in n for n in names) and any("float" in n for n in names)
    assert any(n.endswith("_quant") for n in names)
    longest = max(np.load(expected_for(p))["X"].shape[1] for p in fixture_models())
    assert longest >= 50


UNSEEN = {
    "pc_w3_float": LstmSpec(
        weight=Q(3, True, True, 0.0731),
        io=Q(8, True, False, 0.0213),
        acc=Q(8, True, False, 0.0517),
        sigmoid=Q(4, False, False, 0.0667),
        tanh=Q(5, True, True, 0.0711),
        cell=Q(8, True, False, 0.0391),
        per_channel_weights=True,
        seq_len=50,
        seed=3,
    ),
    "l2_bidir_po2": LstmSpec(num_layers=2, bidirectional=True, seq_len=12, seed=4),
    "unsigned_io_narrow": LstmSpec(io=Q(6, False, True, 0.03), sigmoid=Q(3, False, True, 0.14), seed=5),
    "quant_format_float": LstmSpec(
        quant_format="quant",
        weight=Q(5, True, False, 0.0413),
        io=Q(7, True, False, 0.0271),
        acc=Q(10, True, False, 0.0211),
        seed=6,
    ),
    "wide_16bit_acc": LstmSpec(acc=Q(16, True, False, 0.00037), cell=Q(16, True, False, 0.0013), seed=7),
    "quant_12bit_cell": LstmSpec(
        quant_format="quant", cell=Q(12, True, True, 0.0013), tanh=Q(9, True, False, 0.0041), seed=8
    ),
}


@pytest.mark.parametrize("name", sorted(UNSEEN))
def test_unseen_models_qrnn_equals_onnxruntime(name):
    spec = UNSEEN[name]
    model = build_lstm(spec)
    x = np.random.default_rng(spec.seed).standard_normal((16, spec.seq_len, spec.input_size)).astype(np.float32) * 2
    got = run_function(import_model(model), {"X": x})
    assert_same(got, run_reference(model, {"X": x}), name)


def test_single_sequence_and_batch_agree():
    """An unbatched input (exact model shape) gives the same result as that sequence inside a batch."""
    spec = UNSEEN["pc_w3_float"]
    module = import_model(build_lstm(spec))
    x = np.random.default_rng(0).standard_normal((5, spec.seq_len, spec.input_size)).astype(np.float32)
    batch = run_function(module, {"X": x})
    one = run_function(module, {"X": x[2]})
    for k in batch:
        assert np.array_equal(batch[k][2], one[k])
