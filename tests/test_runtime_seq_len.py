"""A run-time sequence length (`--max-seq-len N`, issue 10 item 4) on FINN-GL's notebook cell ([None, I, 1]).

Properties:
- the kernel has an `int seq_len` AXI-Lite port; its sequence readers/writers and the recurrence's `steps` loop
  stop at seq_len with LOOP_TRIPCOUNT max=N; x_t streams from the reader into the recurrence (no [T][..]
  buffer), read ahead only while t < seq_len; both C++ copies (ap_int kernel and native twin) take the port. Breaks if a loop keeps the static bound or the port goes missing.
- one csim binary, built once at N, runs batches of T = 1, 2 and N bit-exactly equal to the integer interpreter
  specialised to each T; T = 0 and T > N are refused by the driver and by the testbench itself (a hand-written
  golden file). Breaks if the step count, the reverse index or the per-sequence T word is wrong.
- `lstmc compile --max-seq-len` writes golden vectors with a per-sequence T that its own testbench passes, and a
  report with per-step cycles and the latency at the golden T and at N (affine in T, the recurrence's steps
  setting the slope of the streamed chain); on a model whose T is
  fixed the option is refused in one line unless it equals that T; with --seq-len it is refused.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import needs_csim

from lstmc import api, cli
from lstmc.compile import mark_run_time_length
from lstmc.errors import LstmcError
from lstmc.frontend import bind_sequence_length
from lstmc.frontend.onnx_import import import_model
from lstmc.hls import project
from lstmc.hls.build import build_csim, lower_to_hlscpp, run_csim_on_codes
from lstmc.pipeline import lower_to_stage
from lstmc.stages import run_stage
from lstmc.testing_finn_cell import FinnCellSpec, build_finn_cell, finn_cell_inputs

N = 5
SPEC = FinnCellSpec(input_size=4, hidden_size=6)


@pytest.fixture(scope="module")
def model():
    return build_finn_cell(SPEC)


@pytest.fixture(scope="module")
def dataflow(model):
    module = import_model(bind_sequence_length(model, N))
    mark_run_time_length(module, N)
    return lower_to_stage(module, "dataflow")


def test_kernel_takes_the_length_at_run_time(dataflow):
    from io import StringIO

    from lstmc.hls.emit import emit_hls_cpp

    buf = StringIO()
    emit_hls_cpp(lower_to_hlscpp(dataflow, "k"), buf)
    cpp = buf.getvalue()
    kernel, twin = cpp.split("#else  // C-simulation: the native-integer twin\n")
    for text, port in ((kernel, "hls::stream<ap_axiu<8, 0, 0, 0>>"), (twin, "lstmc_tb::stream<lstmc_tb::axis<8>>")):
        assert f"{port} &scan_out_hidden_state_concat, int seq_len) {{" in text
        assert "steps: for (int i = 0; i < seq_len; i++) {" in text
        # x_t streams from the port's reader, no [N][I] buffer: x_1 and each x_{t+2} only while t < seq_len
        assert not re.search(r"in2\[5\]\[4\]", text) and re.search(r"stream<(ap_int<8>|int64_t)> &in2", text)
        assert "bool v12 = 1 < seq_len;" in text and "_prefetch_x0(int t, int seq_len," in text
        assert "for (int i = 0; i < 5; i++)" not in text.split("static void rec_scan_lstm(")[1].split("\n}\n")[0]
    assert "#pragma HLS INTERFACE mode=s_axilite port=seq_len" in kernel
    assert kernel.count("#pragma HLS LOOP_TRIPCOUNT min=1 max=5") == 3  # reader, steps, writer
    iface = project.kernel_interface(dataflow)
    assert iface.max_seq_len == N
    assert [p.sequence for p in iface.inputs] == [True, False, False]  # scan_input, h0, c0
    assert [p.sequence for p in iface.outputs] == [False, False, True]  # h_T, c_T, the h sequence


@needs_csim
def test_one_binary_runs_every_length(model, dataflow, tmp_path):
    iface = project.kernel_interface(dataflow)
    binary = build_csim(dataflow, iface, "k")
    for t, seed in ((1, 3), (2, 1), (N, 2)):  # T = 1: step 0 is the last, x_1 never comes
        inputs = finn_cell_inputs(SPEC, 3, t, seed)
        want = run_stage("integer", model, inputs)
        got = iface.dequantize_outputs(run_csim_on_codes(binary, iface, iface.quantize_inputs(inputs), t), t)
        for name, value in want.items():
            assert got[name].shape == value.shape and np.array_equal(got[name], value), (t, name)
    codes = iface.quantize_inputs(finn_cell_inputs(SPEC, 1, N, 0))
    for bad in (0, N + 1):
        with pytest.raises(LstmcError, match=rf"sequence length {bad} is outside 1\.\.{N}"):
            run_csim_on_codes(binary, iface, codes, bad)
    # the testbench refuses it too (a golden file written by hand)
    project.write_codes(tmp_path / "in.bin", codes, N)
    raw = np.fromfile(tmp_path / "in.bin", "<i4")
    raw[1] = N + 1
    raw.tofile(tmp_path / "in.bin")
    proc = subprocess.run(
        [str(binary), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], capture_output=True, text=True
    )
    assert proc.returncode == 2 and f"sequence length {N + 1} is outside 1..{N}" in proc.stderr


@needs_csim
def test_design_runs_csim_at_the_inputs_length(model):
    design = api.load(model, max_seq_len=N)
    inputs = finn_cell_inputs(SPEC, 2, 3, 7)
    got = design.run(inputs, stage="csim", progress=False)
    want = run_stage("integer", model, inputs)
    assert all(np.array_equal(got[k], want[k]) for k in want)
    with pytest.raises(LstmcError, match=rf"sequence length {N + 1} is outside 1\.\.{N}"):
        design.run(finn_cell_inputs(SPEC, 1, N + 1, 0), stage="csim", progress=False)


@needs_csim
def test_verify_runs_the_inputs_length(model, tmp_path):
    """`verify --max-seq-len N --inputs` with sequences of T < N: every stage runs at the inputs' T (csim on the
    one kernel built at N) and equals the integer stage; it once bound the model at N and refused the inputs
    with "--seq-len N disagrees", naming an option the user had not given."""
    inputs = finn_cell_inputs(SPEC, 2, 3, 5)
    report = api.load(model, max_seq_len=N).verify(inputs=inputs, progress=False)
    assert report.ok and set(report.stages) == {"qrnn", "integer", "dataflow", "csim"}
    csim = report.stages["csim"]
    assert csim.vs_integer is not None and csim.vs_integer.ok
    sizes = {k: np.size(v) for k, v in run_stage("integer", model, inputs).items()}
    assert {row.output: row.elements for row in csim.vs_integer.rows} == sizes  # [2, 3, I, 1] ran, not [2, N, ...]
    onnx.save(model, tmp_path / "cell.onnx")
    arrays: dict[str, Any] = inputs  # any type: savez's own `allow_pickle` is a keyword
    np.savez(tmp_path / "t3.npz", **arrays)
    argv = ["verify", str(tmp_path / "cell.onnx"), "--max-seq-len", str(N), "--inputs", str(tmp_path / "t3.npz")]
    assert cli.main(argv) == 0


@needs_csim
def test_compiled_project_and_report(model, tmp_path):
    from lstmc.hls.csim import compile_csim

    out = tmp_path / "prj"
    api.load(model, max_seq_len=N).compile(out, inputs=finn_cell_inputs(SPEC, 2, 3, 4))
    report = json.loads((out / "report.json").read_text())
    assert report["max_seq_len"] == N
    rt = report["estimate"]["run_time_length"]
    at = {int(t): v["cycles"] for t, v in rt["latency_at"].items()}
    assert set(at) == {3, N}
    # the port's reader and writer stream beside the recurrence (one chain): its steps set the slope
    per_step = rt["cycles_per_step"]["scan_lstm"]
    assert per_step > max(rt["cycles_per_step"].values()) // 2 and at[N] - at[3] == (N - 3) * per_step
    assert report["estimate"]["cycles_per_inference"] == at[N]
    tb_in = np.fromfile(out / "tb_input.bin", "<i4")
    assert tb_in[0] == 2 and tb_in[1] == 3  # each sequence starts with its T
    assert "`int seq_len`" in (out / "README.md").read_text()
    binary = compile_csim(out, "lstmc_kernel")
    proc = subprocess.run([str(binary)], cwd=out, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("PASS: 0 mismatching output codes over 2 sequences"), (
        proc.stdout + proc.stderr
    )


def test_verify_refuses_an_unusable_max_seq_len_before_running(tmp_path, capsys):
    """`verify --max-seq-len` on a model whose T is fixed, or whose kernel needs a whole sequence (the concat of
    a bidirectional layer), is one error line before any stage runs: it used to print the reference, qrnn,
    integer and dataflow reports first and fail only at the csim stage."""
    from lstmc.testing import LstmSpec, build_lstm

    fixed = tmp_path / "fixed.onnx"
    onnx.save(build_finn_cell(FinnCellSpec(input_size=4, hidden_size=6, seq_len=4)), fixed)
    bidir = build_lstm(LstmSpec(input_size=2, hidden_size=3, seq_len=4, bidirectional=True))
    for value in list(bidir.graph.input) + list(bidir.graph.output):
        if value.name in ("X", "Y"):
            value.type.tensor_type.shape.dim[0].dim_param = "T"  # clears dim_value (a oneof)
    onnx.save(bidir, tmp_path / "bidir.onnx")
    for path, message in (
        (fixed, "--max-seq-len 6: the model's sequence length is fixed (4)"),
        (tmp_path / "bidir.onnx", "'qrnn.concat': works on a whole sequence"),
    ):
        assert cli.main(["verify", str(path), "--max-seq-len", "6", "--random", "2"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("lstmc: error:") and err.count("\n") == 1 and message in err, err


def test_option_errors(model, tmp_path):
    fixed = build_finn_cell(FinnCellSpec(input_size=4, hidden_size=6, seq_len=4))
    with pytest.raises(LstmcError, match=r"^--max-seq-len 6: the model's sequence length is fixed \(4\)"):
        api.load(fixed, max_seq_len=6).compile(tmp_path / "a", golden=1)
    with pytest.raises(LstmcError, match="give one"):
        api.load(model, seq_len=3, max_seq_len=N).compile(tmp_path / "b", golden=1)
    with pytest.raises(LstmcError, match="--max-seq-len must be a positive integer"):
        api.load(model, max_seq_len=0)
