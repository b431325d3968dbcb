"""Brevitas' own export (export_qonnx dynamo=False) with an example input of batch B > 1, as users export with the
batch they trained with. No torch needed: the fixtures `tests/fixtures/batch/<name>_cell_b<B>.onnx` are real
Brevitas 0.13.4 exports of the trained modules of `tests/fixtures/<name>_cell.onnx` and the `.npz` next to each
holds input batches X [N, T, B, I] (batch_first: [N, B, T, I]) and Brevitas' outputs for them
(tests/fixtures/make_fixtures.py --batch-exports).

Properties (whole outputs compared with np.array_equal):
- the fixtures are what their names say (batch B on the declared input and the initial states, 48-input
  QuantLSTMCell nodes);
- qrnn, the onnxruntime reference, integer, dataflow and (two builds) csim equal Brevitas bit for bit on every
  stored batch: 1 layer with B = 2, 3, 5, batch_first, cifg, 2 layers x 2 directions;
- the export batch changes only the layout: each recurrence is the batch-1 export's, op for op and constant for
  constant (types aside); breaks if B moved a weight, a quantizer slot or a gate;
- the import keeps torch's layout (state [B, H], scanned input [T, B, I]) and the kernel runs the B sequences
  interleaved (QoR: B sequences per recurrence stage, one MVAU each);
- `lstmc run` takes the declared [T, B, I] (one call) or [N, T, B, I] and names the expected shapes otherwise;
- an input whose batch disagrees with the initial states, or a state of the wrong width, is one LstmcError naming
  the node and the shapes;
- with torch installed, a fresh export of another batch (4, batch_first, 2 layers x 2 directions) also matches.
"""

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import FIXTURES
from onnx import numpy_helper
from test_brevitas_cell import _normalized_recurrences
from test_hardware import POOL, lower, needs_ap_types, needs_cxx
from xdsl.dialects.builtin import TensorType

from lstmc import qor
from lstmc.dialects import dataflow, qrnn
from lstmc.errors import LstmcError
from lstmc.frontend import load_onnx
from lstmc.frontend.brevitas_cell import expand_quant_lstm_cells
from lstmc.frontend.onnx_import import import_model
from lstmc.pipeline import lower_to_stage
from lstmc.stages import run_stage

BATCH = FIXTURES / "batch"
MODELS = sorted(BATCH.glob("*_cell_b*.onnx"))
BIN = Path(sys.executable).parent


def _batch(path: Path) -> int:
    match = re.search(r"_b(\d+)$", path.stem)
    assert match is not None, path
    return int(match.group(1))


def _batch_one_export(path: Path) -> Path:
    """The same trained module exported by Brevitas with batch 1 (tests/fixtures/<config>_cell.onnx)."""
    config = re.sub(r"(_batch_first)?_cell_b\d+$", "", path.stem)
    return FIXTURES / f"{config}_cell.onnx"


def _expected(path: Path) -> dict[str, np.ndarray]:
    return dict(np.load(path.with_suffix(".npz")))


def _assert_equal(got: dict, want: dict, what: str) -> None:
    for name in ("Y", "h_n", "c_n"):
        assert got[name].shape == want[name].shape, f"{what}: {name} shape {got[name].shape} vs {want[name].shape}"
        bad = int(np.count_nonzero(got[name] != want[name]))
        assert bad == 0, f"{what}: {name}: {bad} of {want[name].size} elements differ from Brevitas"


def test_fixtures_are_brevitas_batch_exports():
    assert {_batch(p) for p in MODELS} >= {2, 3, 5}
    names = " ".join(p.stem for p in MODELS)
    for feature in ("l2_bidir", "cifg", "batch_first"):
        assert feature in names
    for path in MODELS:
        model, data, batch = onnx.load(path), _expected(path), _batch(path)
        cells = [n for n in model.graph.node if n.op_type == "QuantLSTMCell"]
        assert cells and all(len(n.input) == 48 and n.domain == "qonnx.custom_op.general" for n in cells)
        first = {a.name: a.i for a in cells[0].attribute}["batch_first"]
        assert first == ("batch_first" in path.stem)
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims[1 - first] == batch and data["X"].shape[1:] == tuple(dims), path.stem
        inits = {i.name: i for i in model.graph.initializer}
        for cell in cells:
            h0 = numpy_helper.to_array(inits[cell.input[1]])
            assert h0.shape[0] == batch and not h0.any(), path.stem
        assert data["X"].shape[0] >= 4 and len(np.unique(data["Y"])) > 10, "degenerate outputs"


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
@pytest.mark.parametrize("stage", ["qrnn", "reference", "integer", "dataflow"])
def test_stage_equals_brevitas(path, stage):
    data = _expected(path)
    got = run_stage(stage, load_onnx(str(path)), {"X": data["X"]})
    _assert_equal(got, data, f"{path.stem} {stage}")


def _recurrences_without_types(module) -> list[str]:
    """Each recurrence normalized as in test_brevitas_cell, with tensor types dropped too."""
    return [re.sub(r"tensor<[^>]*>", "tensor", text) for text in _normalized_recurrences(module)]


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_same_recurrences_as_batch_one_export(path):
    one = _recurrences_without_types(import_model(load_onnx(str(_batch_one_export(path)))))
    many = _recurrences_without_types(import_model(load_onnx(str(path))))
    assert len(one) == len(many) >= 1
    for a, b in zip(one, many):
        assert a == b


@pytest.mark.parametrize(
    "path", [BATCH / "l2_bidir_w3_po2_cell_b3.onnx", BATCH / "l1_w8_float_cell_b5.onnx"], ids=lambda p: p.stem
)
def test_torch_layout_compiles_interleaved(path):
    batch = _batch(path)
    module = import_model(load_onnx(str(path)))
    recs = [op for op in module.walk() if isinstance(op, qrnn.RecurrenceOp)]
    for rec in recs:
        state_type, x_type = rec.body.block.args[0].type, rec.body.block.args[-1].type
        assert isinstance(state_type, TensorType) and isinstance(x_type, TensorType)
        state, x = state_type.get_shape(), x_type.get_shape()
        assert state[0] == batch and x[0] == batch and len(state) == len(x) == 2
    df = lower_to_stage(module, "dataflow")
    for rec in (op for op in df.walk() if isinstance(op, qrnn.RecurrenceOp)):
        assert len([op for op in rec.walk() if isinstance(op, dataflow.MVAUOp)]) == 1
    # the recurrences (the ports' reader and writer are stages too when they stream)
    stages = [s for s in qor.estimate_module(df).stages if s.pipeline_depth is not None]
    assert len(stages) == len(recs) and all(s.sequences == batch for s in stages)


def _run(model: Path, x: np.ndarray, tmp_path: Path):
    """`lstmc run --stage dataflow` on inputs X: (process, outputs or None)."""
    np.savez(tmp_path / "in.npz", X=x)
    proc = subprocess.run(
        [
            str(BIN / "lstmc"),
            "run",
            str(model),
            "--inputs",
            str(tmp_path / "in.npz"),
            "--stage",
            "dataflow",
            "--output",
            str(tmp_path / "out.npz"),
        ],
        capture_output=True,
        text=True,
    )
    return proc, (dict(np.load(tmp_path / "out.npz")) if proc.returncode == 0 else None)


def test_cli_run_takes_the_declared_shape(tmp_path):
    path = BATCH / "l1_w8_float_cell_b3.onnx"
    data = _expected(path)
    proc, got = _run(path, data["X"], tmp_path)  # [N, T, B, I]
    assert proc.returncode == 0 and got is not None, proc.stderr
    _assert_equal(got, data, "lstmc run [N, T, B, I]")
    proc, got = _run(path, data["X"][1], tmp_path)  # one call: [T, B, I]
    assert proc.returncode == 0 and got is not None, proc.stderr
    _assert_equal(got, {k: v[1] for k, v in data.items()}, "lstmc run [T, B, I]")
    proc, _ = _run(path, data["X"][:, :, :1], tmp_path)  # batch 1 into the batch-3 kernel
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "[20, 3, 4]" in lines[0] and "[N, 20, 3, 4]" in lines[0] and "[4, 20, 1, 4]" in lines[0], lines[0]


@needs_cxx
@needs_ap_types
def test_csim_equals_brevitas():
    """Two builds: 2 layers x 2 directions with B = 3, and B = 5 folded (PE = 4, SIMD = 2: a flat loop over the
    5 sequences x row folds x column folds)."""
    from lstmc.hls.build import csim_stage

    cases = [("l2_bidir_w3_po2_cell_b3", ""), ("l1_w8_float_cell_b5", "qrnn-set-folding{pe=4 simd=2}")]

    def run(case):
        name, folding = case
        path = BATCH / f"{name}.onnx"
        _, df = lower(load_onnx(str(path)), folding=folding)
        return name, csim_stage(df, {"X": _expected(path)["X"]})

    with ThreadPoolExecutor(POOL) as pool:
        for name, got in pool.map(run, cases):
            _assert_equal(got, _expected(BATCH / f"{name}.onnx"), f"{name} csim")


def _input_batch_two(model: onnx.ModelProto, cell: onnx.NodeProto) -> None:
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 2


def _narrow_h0(model: onnx.ModelProto, cell: onnx.NodeProto) -> None:
    model.graph.initializer.append(numpy_helper.from_array(np.zeros((3, 5), np.float32), "h0_of_5"))
    cell.input[1] = "h0_of_5"


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (
            _input_batch_two,
            ["input 'X' (shape [20, 2, 4]) has batch size 2", "initial state h0 (shape [3, 8]) has batch size 3"],
        ),
        (_narrow_h0, ["initial state h0 ('h0_of_5') has shape [3, 5], expected [batch, 8]"]),
    ],
    ids=["input-vs-state", "state-width"],
)
def test_inconsistent_batch_export_is_a_clear_error(edit, fragments):
    model = onnx.load(BATCH / "l1_w8_float_cell_b3.onnx")
    edit(model, next(n for n in model.graph.node if n.op_type == "QuantLSTMCell"))
    with pytest.raises(LstmcError) as err:
        expand_quant_lstm_cells(model)
    message = str(err.value)
    assert "\n" not in message and "/layers.0.0/export_handler/QuantLSTMCell" in message, message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.torch
def test_fresh_export_of_another_batch(tmp_path):
    """With torch: a batch none of the fixtures has (4), batch_first, 2 layers x 2 directions, exported now and
    compared with Brevitas' forward on two input batches at the qrnn and dataflow stages."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    sys.path.insert(0, str(FIXTURES))
    import make_fixtures as mf

    kwargs = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, weight_bit_width=4, **mf.FLOAT)
    module = mf.train(mf.make_lstm(7, **kwargs), 6, steps=mf.STATS_STEPS + 2, seed=7)
    twin = mf.make_lstm(7, batch_first=True, **kwargs)
    twin.load_state_dict(module.state_dict())
    twin.eval()
    path = tmp_path / "b4.onnx"
    mf.export_cell(path, twin, torch.zeros(4, 6, 3))
    x = np.random.default_rng(7).standard_normal((2, 4, 6, 3)).astype(np.float32)
    with torch.no_grad():
        runs = [twin(torch.from_numpy(xb)) for xb in x]
    want = {
        "Y": np.stack([r[0].numpy() for r in runs]),
        "h_n": np.stack([r[1][0].numpy() for r in runs]),
        "c_n": np.stack([r[1][1].numpy() for r in runs]),
    }
    model = load_onnx(str(path))
    for stage in ("qrnn", "dataflow"):
        _assert_equal(run_stage(stage, model, {"X": x}), want, f"fresh batch-4 export, {stage}")
