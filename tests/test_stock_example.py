"""The shipped stock example (examples/stock): the trained ConvLSTM compiles and equals Brevitas, without torch.

Properties (whole outputs compared):
- every compiled stage (qrnn, integer, dataflow, and csim when g++ is there) gives exactly the logits Brevitas
  computed for the 64 shipped test windows (expected.npz), so the compiled design classifies as the model does;
- evaluate.py reproduces Brevitas' logits on the first windows of the whole test split (test_split.npz), and
  its accuracy there equals Brevitas' accuracy;
- the model is the whole network in one kernel: three convolutions, the LSTM and the head are hardware units.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_hardware import needs_ap_types, needs_cxx
from xdsl.dialects import func

from lstmc.dialects import dataflow, qrnn
from lstmc.frontend import load_onnx
from lstmc.frontend.onnx_import import import_model
from lstmc.pipeline import lower_to_stage
from lstmc.stages import run_stage

STOCK = Path(__file__).resolve().parents[1] / "examples" / "stock"


@pytest.fixture(scope="module")
def shipped():
    model = load_onnx(str(STOCK / "model.onnx"))
    x = dict(np.load(STOCK / "inputs.npz"))
    expected = dict(np.load(STOCK / "expected.npz"))
    return model, x, expected


@pytest.mark.parametrize("stage", ["qrnn", "integer", "dataflow"])
def test_stage_equals_brevitas(shipped, stage):
    model, x, expected = shipped
    got = run_stage(stage, model, x)
    for name, want in expected.items():
        assert got[name].shape == want.shape
        assert np.array_equal(got[name], want), f"{stage}: {int(np.sum(got[name] != want))} logits differ"


@needs_cxx
@needs_ap_types
def test_csim_equals_brevitas(shipped):
    model, x, expected = shipped
    got = run_stage("csim", model, x)
    for name, want in expected.items():
        assert np.array_equal(got[name], want)


def test_whole_model_is_one_kernel(shipped):
    model, _, _ = shipped
    module = lower_to_stage(import_model(model), "dataflow")
    fn = next(iter(module.ops))
    assert isinstance(fn, func.FuncOp)
    top = list(fn.body.block.ops)
    assert sum(isinstance(op, qrnn.WindowOp) for op in top) == 3
    assert sum(isinstance(op, dataflow.MVAUOp) for op in top) == 4  # three convolutions and the head
    assert sum(isinstance(op, qrnn.RecurrenceOp) for op in top) == 1
    assert not any(isinstance(op, qrnn.TransposeOp) for op in top)


def test_evaluate_on_the_test_split():
    proc = subprocess.run(
        [sys.executable, str(STOCK / "evaluate.py"), "--stages", "reference,integer", "--limit", "300"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.split()}
    assert rows["integer"][1] == "0" and rows["reference"][1] == "0"
    assert rows["integer"][2] == rows["brevitas"][2]  # accuracy


def test_metrics_say_the_model_learned():
    metrics = json.loads((STOCK / "metrics.json").read_text())
    assert metrics["accuracy"] > metrics["majority_baseline"]["test_majority_share"] + 0.05
    assert metrics["ort_check"]["bit_exact"]


@needs_cxx
@needs_ap_types
def test_folded_kernel_csim_equals_brevitas(shipped):
    """The cheapest folding under 100k cycles (PE/SIMD up to 8 on the convolutions) computes the same logits."""
    from lstmc.hls.build import csim_stage
    from lstmc.pipeline import apply_pipeline

    model, x, expected = shipped
    module = lower_to_stage(import_model(model), "dataflow")
    apply_pipeline(module, ["qrnn-set-folding{target-cycles=100000}"])
    foldings = [(op.pe.value.data, op.simd.value.data) for op in module.walk() if isinstance(op, dataflow.MVAUOp)]
    assert any(pe * simd > 1 for pe, simd in foldings)
    got = csim_stage(module, {"X": x["X"][:16]})
    assert np.array_equal(got["logits"], expected["logits"][:16])
