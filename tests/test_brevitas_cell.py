"""Brevitas' own export (QuantLSTMCell nodes, export_qonnx dynamo=False): import, fidelity, errors.

Properties (fixtures `tests/fixtures/<name>_cell.onnx`, real Brevitas 0.13.4 exports of the same trained modules
as `<name>.onnx`, lstmc's Scan/QCDQ export):
- the qrnn stage and the onnxruntime reference of the expanded model equal Brevitas' forward bit for bit
  (1 and 2 layers, bidirectional, cifg, per-channel weights, 16-bit accumulators; whole outputs compared);
- both exports import to the same recurrences, op for op and constant for constant, up to SSA names;
  breaks on a wrong gate order of the 48 inputs, a wrong quantizer slot or a missed cifg/reverse attribute;
- `lstmc verify` passes every stage on a cell export (the integer, dataflow and csim levels are also run on
  every fixture by test_hardware / test_legalize_precision, which pick up the `_cell` files);
- malformed nodes (input count, rounding mode, per-channel activation scale, a batch that differs between input and state, float bias) give one
  LstmcError naming the node and what is wrong.
"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, load_expected
from onnx import helper, numpy_helper
from xdsl.printer import Printer

from lstmc.dialects import qrnn
from lstmc.errors import LstmcError
from lstmc.frontend import load_onnx
from lstmc.frontend.brevitas_cell import expand_quant_lstm_cells
from lstmc.frontend.onnx_import import import_model
from lstmc.stages import run_stage

CELLS = sorted(FIXTURES.glob("*_cell.onnx"))
BIN = Path(sys.executable).parent


def test_cell_fixtures_exist():
    assert len(CELLS) >= 5
    names = " ".join(p.stem for p in CELLS)
    for feature in ("l2_bidir", "cifg", "perchannel", "acc16"):
        assert feature in names
    model = onnx.load(CELLS[0])
    cells = [n for n in model.graph.node if n.op_type == "QuantLSTMCell"]
    assert cells and all(len(n.input) == 48 and n.domain == "qonnx.custom_op.general" for n in cells)


@pytest.mark.parametrize("path", CELLS, ids=lambda p: p.stem)
@pytest.mark.parametrize("stage", ["qrnn", "reference"])
def test_stage_equals_brevitas(path, stage):
    data = load_expected(path)
    got = run_stage(stage, load_onnx(str(path)), {"X": data["X"]})
    for name, want in data.items():
        if name == "X":
            continue
        assert got[name].shape == want.shape, name
        assert np.array_equal(got[name], want), (
            f"{path.stem} {stage}: {name} differs in {int(np.sum(got[name] != want))}"
        )


def _normalized_recurrences(module) -> list[str]:
    """Printed recurrences with SSA names replaced by their order of appearance, importer labels dropped."""
    texts = []
    for op in module.walk():
        if isinstance(op, qrnn.RecurrenceOp):
            op.attributes.pop("lstmc.onnx_node", None)
            import io

            out = io.StringIO()
            Printer(stream=out).print_op(op)
            names: dict[str, str] = {}
            # the operands of the recurrence itself are outer values: their names are not comparable
            texts.append(
                re.sub(
                    r"%[A-Za-z0-9_.$]+",
                    lambda m: names.setdefault(m.group(0), f"%v{len(names)}"),
                    out.getvalue().split("\n", 1)[1],
                )
            )
    return texts


@pytest.mark.parametrize("path", CELLS, ids=lambda p: p.stem)
def test_same_ir_as_scan_export(path):
    scan = path.with_name(path.stem.removesuffix("_cell") + ".onnx")
    ours = _normalized_recurrences(import_model(load_onnx(str(scan))))
    theirs = _normalized_recurrences(import_model(load_onnx(str(path))))
    assert len(ours) == len(theirs) >= 1
    for a, b in zip(ours, theirs):
        assert a == b


def test_verify_all_stages_on_cell_export():
    path = FIXTURES / "l1_cifg_io6_float_cell.onnx"
    proc = subprocess.run([str(BIN / "lstmc"), "verify", str(path), "--random", "4"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all stages meet the contract" in proc.stdout


# ---------------------------------------------------------------------------------------------- errors
def _cell_model(edit) -> onnx.ModelProto:
    model = onnx.load(FIXTURES / "l1_w8_float_cell.onnx")
    cell = next(n for n in model.graph.node if n.op_type == "QuantLSTMCell")
    edit(model, cell)
    return model


def _set_attr(cell, name, value):
    for a in cell.attribute:
        if a.name == name:
            cell.attribute.remove(a)
            break
    cell.attribute.append(helper.make_attribute(name, value))


def _per_channel_output_scale(model, cell):
    name = cell.input[15] + "_pc"
    model.graph.initializer.append(numpy_helper.from_array(np.full((8,), 0.01, np.float32), name))
    cell.input[15] = name


def _float_bias(model, cell):
    model.graph.initializer.append(numpy_helper.from_array(np.full((8,), 0.5, np.float32), "float_bias"))
    cell.input[11] = "float_bias"


def _batch_two(model, cell):
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 2


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (lambda m, c: c.input.pop(), ["has 47 inputs, expected 48"]),
        (lambda m, c: _set_attr(c, "cell_state_rounding_mode", "FLOOR"), ["quantizer 'cell_state'", "FLOOR"]),
        (
            lambda m, c: _set_attr(c, "cifg", 0)
            or [a for a in c.attribute if a.name == "cifg" and c.attribute.remove(a)],
            ["attribute 'cifg' is missing"],
        ),
        (_per_channel_output_scale, ["quantizer 'output' is per-channel"]),
        (_float_bias, ["bias of the input gate", "float constant"]),
        (_batch_two, ["batch size 2", "initial state h0 (shape [1, 8]) has batch size 1"]),
    ],
    ids=["inputs", "rounding", "no-cifg-attr", "per-channel-act", "float-bias", "batch"],
)
def test_malformed_cell_is_a_clear_error(edit, fragments):
    model = _cell_model(edit)
    with pytest.raises(LstmcError) as err:
        expand_quant_lstm_cells(model)
    message = str(err.value)
    assert "QuantLSTMCell" in message and "/layers.0.0/" in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_cli_error_is_one_line(tmp_path):
    model = _cell_model(lambda m, c: _set_attr(c, "output_rounding_mode", "CEIL"))
    onnx.save(model, tmp_path / "bad.onnx")
    proc = subprocess.run([str(BIN / "lstmc"), "import", str(tmp_path / "bad.onnx")], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmc: error: ") and "CEIL" in lines[0], proc.stderr
