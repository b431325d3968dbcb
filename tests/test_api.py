"""The Python API (lstmc.load -> Design.run / verify / estimate / compile).

Properties:
- `lstmc.load` takes a path or a ModelProto (checked the same way) and refuses anything else with LstmcError;
- `run` gives the stage's outputs for a dict, a single array or an .npz path, equal to lstmc.stages.run_stage,
  and refuses wrong keys, shapes and stage names with LstmcError;
- with a progress line, a large batch runs in chunks and gives the same outputs as one call, and the line counts
  the sequences; a Progress on a stream that is not a terminal writes nothing;
- `verify` returns a report whose `ok` is True on a fixture and False when a stage's outputs are perturbed,
  with per-stage rows; `reference` may be listed (the baseline, nothing compared);
- `estimate` uses the part and clock of `load` or of the call, the folding given, and warns (FitWarning) exactly
  when a resource is above 100% of the part;
- `compile` writes the project and lists every file in it; a folding mode given to a call replaces the one given
  to `load` instead of conflicting with it.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import FIXTURES

import lstmc
from lstmc.api import FitWarning, Progress
from lstmc.errors import LstmcError
from lstmc.frontend import load_onnx
from lstmc.stages import STAGES, run_stage

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "tiny_lstm" / "model.onnx"  # X [20, 4] -> Y, h_n, c_n
BIDIR = FIXTURES / "l1_bidir_float.onnx"  # about 150% of a PYNQ-Z2's LUTs at PE = SIMD = 1


@pytest.fixture(scope="module")
def design():
    return lstmc.load(str(TINY))


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(3).standard_normal((5, 20, 4)).astype(np.float32)


def test_load_path_and_modelproto_agree(design, x):
    from_proto = lstmc.load(onnx.load(TINY))
    a = design.run({"X": x}, stage="integer")
    b = from_proto.run({"X": x}, stage="integer")
    assert a.keys() == b.keys() == {"Y", "h_n", "c_n"}
    for k in a:
        assert np.array_equal(a[k], b[k])


@pytest.mark.parametrize(
    "bad, message",
    [
        (42, "takes an ONNX file path or an onnx.ModelProto"),
        ("/nonexistent/model.onnx", "no such file"),
        (onnx.ModelProto(), "not an ONNX model with a graph"),
    ],
)
def test_load_refuses(bad, message):
    with pytest.raises(LstmcError, match=message):
        lstmc.load(bad)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"part": "xcfoo"}, "--part 'xcfoo' is not a part lstmc knows"),
        ({"board": "zcu999"}, "--board 'zcu999' is not a board lstmc knows"),
        ({"part": "zcu104", "board": "zcu104"}, "give --part or --board, not both"),
        ({"clock_ns": 0.1}, "--clock-ns must be a finite period"),
        ({"pe": 2, "target_cycles": 100}, "give only one of --pe/--simd, --folding or --target-cycles"),
        ({"act_impl": "cordic"}, "--act-impl 'cordic'"),
        ({"kernel_name": "int"}, "--kernel-name 'int' is not usable"),
        ({"seq_len": 0}, "--seq-len must be a positive integer"),
    ],
)
def test_load_checks_options(options, message):
    with pytest.raises(LstmcError, match=message):
        lstmc.load(str(TINY), **options)


def test_run_input_forms_equal_run_stage(design, x, tmp_path):
    want = run_stage("dataflow", load_onnx(str(TINY)), {"X": x})
    np.savez(tmp_path / "in.npz", X=x)
    for inputs in ({"X": x}, x, str(tmp_path / "in.npz"), tmp_path / "in.npz", {"X": x.astype(np.float64)}):
        got = design.run(inputs, stage="dataflow")
        for k in want:
            assert np.array_equal(got[k], want[k]), type(inputs)
    one = design.run(x[0], stage="dataflow")  # one sequence: no batch axis
    assert one["Y"].shape == want["Y"].shape[1:] and np.array_equal(one["Y"], want["Y"][0])


@pytest.mark.parametrize(
    "inputs, stage, message",
    [
        ({"X": np.zeros((20, 4))}, "gates", "unknown stage 'gates'"),
        ({"x": np.zeros((20, 4))}, "integer", "missing input"),
        ({"X": np.zeros((20, 4)), "Z": np.zeros(3)}, "integer", "unexpected array"),
        ({"X": np.zeros((20, 5))}, "integer", r"has shape \[20, 5\]; expected \[20, 4\]"),
        ({"X": np.array(["a"] * 80).reshape(20, 4)}, "integer", "dtype"),
        ("nothing.npz", "integer", "no such file"),
        ([1, 2, 3], "integer", "expected a dict of arrays"),
    ],
)
def test_run_refuses(design, inputs, stage, message):
    with pytest.raises(LstmcError, match=message):
        design.run(inputs, stage=stage)


def test_chunked_run_with_progress_equals_one_call(design):
    many = np.random.default_rng(4).standard_normal((150, 20, 4)).astype(np.float32)
    stream = io.StringIO()
    progress = Progress("test", enabled=True, stream=stream)
    chunked = design.run({"X": many}, stage="integer", progress=progress)
    whole = design.run({"X": many}, stage="integer", progress=False)
    for k in whole:
        assert np.array_equal(chunked[k], whole[k])
    text = stream.getvalue()
    assert "test: integer" in text and "150/150 sequences" in text
    counts = [int(c) for c in re.findall(r"(\d+)/150 sequences", text)]
    assert any(0 < c < 150 for c in counts), counts  # it counted chunks on the way
    assert text.endswith("\r\x1b[K")  # the line is cleared when the stage ends


def test_progress_is_silent_off_a_terminal(design, x):
    stream = io.StringIO()  # no isatty: like a pipe
    progress = Progress("test", stream=stream)
    assert not progress.enabled
    design.run({"X": x}, stage="qrnn", progress=progress)
    assert stream.getvalue() == ""


def test_verify_report(design):
    report = design.verify(random=4, seed=1, stages=["reference", "qrnn", "integer", "dataflow"])
    assert report.ok
    assert list(report.stages) == ["reference", "qrnn", "integer", "dataflow"]
    assert report.stages["reference"].report is None and report.stages["reference"].rows == []
    assert report.stages["dataflow"].vs_integer is not None and report.stages["dataflow"].vs_integer.ok
    rows = report.rows
    assert {(s, r.output) for s, r in rows} == {
        (s, o) for s in ("qrnn", "integer", "dataflow") for o in ("Y", "h_n", "c_n")
    }
    assert all(r.mismatches == 0 and r.elements > 0 for _, r in rows)
    text = report.format(str(TINY))
    assert "4 random sequences (seed 1)" in text and text.endswith("all stages meet the contract")


def test_verify_fails_when_a_stage_is_wrong(design, monkeypatch):
    real = STAGES["integer"]

    def off_by_one_lsb(model, inputs):
        out = real(model, inputs)
        out["h_n"] = out["h_n"] + np.float32(0.25)
        return out

    monkeypatch.setitem(STAGES, "integer", off_by_one_lsb)
    report = design.verify(random=2, stages=["qrnn", "integer"])
    assert report.stages["qrnn"].ok and not report.stages["integer"].ok and not report.ok
    assert any(s == "integer" and r.output == "h_n" and r.mismatches > 0 for s, r in report.rows)


def test_verify_refuses_unknown_stage(design):
    with pytest.raises(LstmcError, match="unknown stage"):
        design.verify(stages=["netlist"])


def test_estimate_uses_chosen_part_clock_and_folding():
    d = lstmc.load(str(TINY), board="kv260", clock_ns=4)
    report = d.estimate()
    assert report.part.name == "xck26-sfvc784-2LV-c" and report.clock_mhz == pytest.approx(250.0)
    again = d.estimate(part="u250", clock_ns=2, pe=4, simd=2)
    assert again.part.name == "xcu250-figd2104-2L-e" and again.clock_mhz == pytest.approx(500.0)
    mvau = [u for u in again.units if u.kind == "mvau"]
    assert mvau and all((u.pe, u.simd) == (4, 2) for u in mvau)
    assert again.cycles < report.cycles
    assert again.latency_us == pytest.approx(again.cycles / 500.0)


def test_call_folding_replaces_the_loaded_one():
    d = lstmc.load(str(TINY), pe=2)
    assert {u.pe for u in d.estimate().units if u.kind == "mvau"} == {2}
    budget = d.estimate().cycles
    report = d.estimate(target_cycles=budget)  # not "give only one of": the call's mode replaces load's
    assert report.cycles <= budget


def test_fit_warning_exactly_when_over_the_part():
    d = lstmc.load(str(BIDIR))
    with pytest.warns(FitWarning, match=r"does not fit xc7z020clg400-1 \(pynq-z2\): estimated LUT 1\d\d\.\d%"):
        report = d.estimate(board="pynq-z2")
    assert report.total.utilisation(report.part)["lut"] > 100
    with warnings.catch_warnings():
        warnings.simplefilter("error", FitWarning)
        fits = d.estimate(board="zcu104")
    assert max(fits.total.utilisation(fits.part).values()) <= 100


def test_compile_lists_every_file_and_uses_the_options(tmp_path, x):
    d = lstmc.load(str(TINY), board="ultra96v2", clock_ns=8, kernel_name="tiny")
    project = d.compile(tmp_path / "prj", inputs={"X": x[:2]}, pe=2)
    on_disk = sorted(p.relative_to(project.path).as_posix() for p in project.path.rglob("*") if p.is_file())
    assert sorted(project.files) == on_disk
    assert {"tiny.cpp", "tiny.h", "tiny_tb.cpp", "README.md", "run_hls.tcl", ".lstmc-build"} <= set(project.files)
    assert project.report["part"] == "xczu3eg-sbva484-1-e" and project.report["clock_ns"] == 8
    assert project.report["estimate"]["clock_mhz"] == pytest.approx(125.0)
    assert "create_clock -period 8 " in (project.path / "run_hls.tcl").read_text()
    golden = np.load(project.path / "golden.npz")
    assert np.array_equal(golden["input_X"], x[:2])
    mvau = [u for u in project.report["estimate"]["units"] if u["kind"] == "mvau"]
    assert mvau and all(u["pe"] == 2 for u in mvau)


def test_compile_warns_when_the_design_does_not_fit(tmp_path):
    with pytest.warns(FitWarning, match="does not fit xc7z020clg400-1"):
        lstmc.load(str(BIDIR), board="pynq-z2").compile(tmp_path / "prj", golden=1)
    assert (tmp_path / "prj" / "README.md").is_file()
