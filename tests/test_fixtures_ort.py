"""The committed Brevitas fixtures are still reproduced by onnxruntime (no torch needed).

Each tests/fixtures/<name>.onnx (Scan/QCDQ, one sequence per inference) run by onnxruntime with
ORT_ENABLE_BASIC must give exactly the Brevitas outputs stored in <name>.npz (written by make_fixtures.py).
"""

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, ROOT, SCAN_BODY_OPS

ort = pytest.importorskip("onnxruntime")

# Brevitas' own QuantLSTMCell exports (_cell) are not runnable by onnxruntime: test_brevitas_cell checks them.
QCDQ_MODELS = sorted(p for p in FIXTURES.glob("*.onnx") if not p.stem.endswith(("_quant", "_cell")))


def run_ort(model_path: Path, x: np.ndarray) -> dict:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    runs = [sess.run(None, {"X": seq}) for seq in x]
    return {n: np.stack([r[k] for r in runs]) for k, n in enumerate(names)}


def test_enough_fixtures():
    assert len(QCDQ_MODELS) >= 6
    assert len(list(FIXTURES.glob("*_quant.onnx"))) >= 2


@pytest.mark.parametrize("model_path", QCDQ_MODELS, ids=lambda p: p.stem)
def test_fixture_reproduced(model_path):
    data = np.load(model_path.with_suffix(".npz"))
    x = data["X"]
    assert x.dtype == np.float32 and x.ndim == 3 and x.shape[0] >= 8
    got = run_ort(model_path, x)
    expected = {k: data[k] for k in data.files if k != "X"}
    assert set(expected) == set(got)
    for name, want in expected.items():
        assert np.array_equal(got[name], want), f"{model_path.stem}: {name} differs"


@pytest.mark.parametrize("model_path", QCDQ_MODELS, ids=lambda p: p.stem)
def test_fixture_structure(model_path):
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    scans = [n for n in model.graph.node if n.op_type == "Scan"]
    assert scans
    for scan in scans:
        body = onnx.helper.get_attribute_value(next(a for a in scan.attribute if a.name == "body"))
        assert {n.op_type for n in body.node} <= SCAN_BODY_OPS
        assert len(body.input) == 3 and len(body.output) == 3  # h, c, x_t -> h, c, h_t


def test_example_tiny_lstm():
    ex = ROOT / "examples" / "tiny_lstm"
    got = run_ort(ex / "model.onnx", np.load(ex / "inputs.npz")["X"])
    expected = np.load(ex / "expected.npz")
    for name in expected.files:
        assert np.array_equal(got[name], expected[name])
