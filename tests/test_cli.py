"""The command-line contract: `lstmc run/verify/import` and `lstmc-opt` on good and bad input.

Property: good input gives the documented files and exit 0; every user mistake gives exactly one line
`<tool>: error: ...` naming the problem, exit status 1, no traceback, and no output file.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import FIXTURES
from onnx import TensorProto, helper, numpy_helper

from lstmc.testing import LstmSpec, build_lstm

BIN = Path(sys.executable).parent
MODEL = FIXTURES / "l1_w4_po2.onnx"


def run(tool: str, *args: str | Path, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / tool), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str, tool: str = "lstmc"):
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{tool}: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_run_reference_and_qrnn_stages_write_outputs(tmp_path):
    data = np.load(MODEL.with_suffix(".npz"))
    np.savez(tmp_path / "in.npz", X=data["X"])
    for stage in ("reference", "qrnn"):
        out = tmp_path / f"{stage}.npz"
        proc = run("lstmc", "run", MODEL, "--inputs", tmp_path / "in.npz", "--stage", stage, "--output", out)
        assert proc.returncode == 0, proc.stderr
        got = np.load(out)
        assert set(got.files) == {"Y", "h_n", "c_n"}
        for name in got.files:
            assert np.array_equal(got[name], data[name])


def test_verify_passes_on_fixture():
    proc = run("lstmc", "verify", MODEL, "--random", "8")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "qrnn" in proc.stdout and "bit-exact with the reference: OK" in proc.stdout
    assert "integer" in proc.stdout and "all stages meet the contract" in proc.stdout


def test_import_prints_qrnn(tmp_path):
    proc = run("lstmc", "import", MODEL)
    assert proc.returncode == 0
    assert "qrnn.recurrence" in proc.stdout and "qrnn.quant" in proc.stdout


def test_lstmc_opt_reads_onnx_and_roundtrips(tmp_path):
    out = tmp_path / "m.mlir"
    proc = run("lstmc-opt", MODEL, "-o", out)
    assert proc.returncode == 0, proc.stderr
    again = run("lstmc-opt", out)
    assert again.returncode == 0 and again.stdout == out.read_text()


# ---------------------------------------------------------------------------------------------- bad input
def _save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def test_corrupt_file(tmp_path):
    data = MODEL.read_bytes()
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(data[: len(data) // 2])
    assert_user_error(run("lstmc", "import", bad), "corrupt.onnx", "not a valid ONNX model")


def test_non_onnx_file(tmp_path):
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is a text file, not a model\n")
    assert_user_error(run("lstmc", "import", bad), "notes.onnx", "not a valid ONNX model")
    assert_user_error(run("lstmc-opt", bad), "not a valid ONNX model", tool="lstmc-opt")


def test_dynamo_export_shape_is_refused(tmp_path):
    """Brevitas' export_qonnx(dynamo=True) of a QuantLSTM: no nodes, outputs are initializers (this is the
    file shape it wrote with torch 2.13 / brevitas 0.13.4: input 'inp', outputs zeros_2/unsqueeze/...)."""
    outs = [numpy_helper.from_array(np.zeros((1, 1, 8), np.float32), n) for n in ("zeros_2", "unsqueeze")]
    graph = helper.make_graph(
        [],
        "main_graph",
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [5, 1, 4])],
        [helper.make_tensor_value_info(o.name, TensorProto.FLOAT, [1, 1, 8]) for o in outs],
        initializer=outs,
    )
    model = helper.make_model(graph, producer_name="pytorch")
    proc = run("lstmc", "import", _save(model, tmp_path / "dyn.onnx"))
    assert_user_error(proc, "outputs are constants", "export_qonnx(dynamo=True)", "dynamo=False")


def test_missing_file(tmp_path):
    assert_user_error(run("lstmc", "import", tmp_path / "nope.onnx"), "no such file")


def test_unsupported_op_in_scan_body(tmp_path):
    model = build_lstm(LstmSpec())
    body = model.graph.node[[n.op_type for n in model.graph.node].index("Scan")].attribute[0].g
    sig = next(n for n in body.node if n.op_type == "Sigmoid")
    sig.op_type = "Softsign"
    proc = run("lstmc", "import", _save(model, tmp_path / "m.onnx"))
    assert_user_error(proc, f"node '{sig.name}' (Softsign)", "unsupported operator")


def test_missing_initializer(tmp_path):
    model = build_lstm(LstmSpec())
    body = next(n for n in model.graph.node if n.op_type == "Scan").attribute[0].g
    name = body.initializer[0].name
    del body.initializer[0]
    assert_user_error(run("lstmc", "import", _save(model, tmp_path / "m.onnx")), f"input '{name}' is not defined")


@pytest.mark.parametrize("bits", [0, 33])
def test_quant_bit_width_out_of_range(tmp_path, bits):
    model = build_lstm(LstmSpec(quant_format="quant"))
    quant = next(n for n in model.graph.node if n.op_type == "Quant")
    bw = next(i for i in model.graph.initializer if i.name == quant.input[3])
    bw.CopyFrom(numpy_helper.from_array(np.array(bits, np.float32), bw.name))
    proc = run("lstmc", "import", _save(model, tmp_path / "m.onnx"))
    assert_user_error(proc, f"node '{quant.name}' (Quant)", f"bit width {bits} is outside the supported range 1..32")


def test_symbolic_dimension(tmp_path):
    model = build_lstm(LstmSpec())
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "T"
    assert_user_error(
        run("lstmc", "import", _save(model, tmp_path / "m.onnx")), "graph input 'X'", "symbolic dimension 'T'"
    )


def test_bad_inputs_npz(tmp_path):
    (tmp_path / "x.npz").write_text("nope")
    assert_user_error(
        run("lstmc", "run", MODEL, "--inputs", tmp_path / "x.npz", "--stage", "qrnn"), "not a readable .npz"
    )
    np.savez(tmp_path / "wrong.npz", Z=np.zeros((2, 16, 4), np.float32))
    assert_user_error(
        run("lstmc", "run", MODEL, "--inputs", tmp_path / "wrong.npz", "--stage", "qrnn"), "missing input(s) X"
    )
    np.savez(tmp_path / "shape.npz", X=np.zeros((2, 15, 4), np.float32))
    out = tmp_path / "out.npz"
    proc = run("lstmc", "run", MODEL, "--inputs", tmp_path / "shape.npz", "--stage", "qrnn", "--output", out)
    assert_user_error(proc, "input 'X' has shape [2, 15, 4]")
    assert not out.exists()


def test_bad_mlir_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @f() {\n  %x = qrnn.nonsense\n}\n")
    proc = run("lstmc-opt", bad)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("lstmc-opt: error:")
