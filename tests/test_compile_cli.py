"""`lstmc compile` as a user runs it (subprocess on the installed console script).

Properties:
- a successful compile writes the whole Vitis HLS project: kernel .cpp/.h, testbench, run_hls.tcl (default part
  xczu7ev-ffvc1156-2-e, 5 ns clock, csim/csynth/cosim/export), ir/ with one .mlir per stage (each re-parses),
  report.json, tb_input.bin / tb_expected.bin; the testbench compiled with g++ prints PASS and exits 0 when run
  in that directory (the golden vectors agree with the kernel);
- --part / --clock-ns reach the TCL; --folding with the design's unit names reaches the IR and the kernel;
- the output directory is safe: an unrelated non-empty directory is refused (exit 1, one `lstmc: error:` line,
  directory untouched); a directory an earlier `lstmc compile` wrote is replaced; a failing compile (bad
  --folding file, non-divisor --pe) leaves neither the output directory nor a temporary sibling behind, and
  leaves an earlier build in place unchanged.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, HAVE_CSIM, needs_csim

MODEL = FIXTURES / "l1_w4_po2.onnx"  # I=4, H=8, T=16: MVAU of 32 rows, parts 4 and 8
LSTMC = shutil.which("lstmc") or str(Path(sys.executable).parent / "lstmc")


STAGE_FILES = ["0-qrnn.mlir", "1-integer.mlir", "2-dataflow.mlir", "3-hlscpp.mlir"]


def lstmc(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([LSTMC, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lstmc: error: "), lines[0]
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def build_testbench(out: Path, *flags: str) -> Path:
    from lstmc.hls.project import ap_types_dir

    exe = out / "tb"
    cmd = [
        "g++",
        "-std=c++14",
        "-O0",
        "-w",
        *flags,
        f"-I{ap_types_dir()}",
        f"-I{out}",
        "lstmc_kernel.cpp",
        "lstmc_kernel_tb.cpp",
        "-o",
        str(exe),
    ]
    proc = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return exe


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compile") / "build"
    proc = lstmc("compile", MODEL, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    return out


def test_writes_the_project(project):
    names = {p.name for p in project.iterdir()}
    for f in [
        "lstmc_kernel.cpp",
        "lstmc_kernel.h",
        "lstmc_kernel_tb.cpp",
        "run_hls.tcl",
        "ir",
        "report.json",
        "tb_input.bin",
        "tb_expected.bin",
    ]:
        assert f in names, f"{f} missing from {sorted(names)}"
    assert not [n for n in names if n.startswith(".") and n != ".lstmc-build"], names
    assert '#include "lstmc_kernel.h"' in (project / "lstmc_kernel.cpp").read_text()
    assert "void lstmc_kernel(hls::stream<" in (project / "lstmc_kernel.h").read_text()


def test_tcl_defaults(project):
    tcl = (project / "run_hls.tcl").read_text()
    assert "set_part {xczu7ev-ffvc1156-2-e}" in tcl
    assert "create_clock -period 5 " in tcl
    assert "set_top {lstmc_kernel}" in tcl
    steps = [ln.split()[0] for ln in tcl.splitlines() if ln.split() and ln.split()[0].endswith("_design")]
    assert steps == ["csim_design", "csynth_design", "cosim_design", "export_design"], steps
    for f in ["lstmc_kernel.cpp", "lstmc_kernel_tb.cpp", "tb_input.bin", "tb_expected.bin"]:
        assert f in tcl


def test_ir_one_file_per_stage_and_parses(project):
    from xdsl.parser import Parser

    from lstmc.pipeline import make_context

    files = sorted(p.name for p in (project / "ir").iterdir())
    assert files == STAGE_FILES, files
    for name in files:
        module = Parser(make_context(), (project / "ir" / name).read_text()).parse_module()
        module.verify()
    assert "dataflow.mvau" in (project / "ir" / "2-dataflow.mlir").read_text()
    assert "hlscpp.func" in (project / "ir" / "3-hlscpp.mlir").read_text()


def test_report_and_golden_vectors(project):
    import numpy as np

    report = json.loads((project / "report.json").read_text())
    assert report["part"] == "xczu7ev-ffvc1156-2-e" and report["clock_ns"] == 5.0
    assert report["kernel"] == "lstmc_kernel"
    # N=8 sequences (default --golden) of T*I = 64 input codes; outputs Y (16x8), h_n, c_n (1x8 each)
    tb_in = np.fromfile(project / "tb_input.bin", "<i4")
    tb_out = np.fromfile(project / "tb_expected.bin", "<i4")
    assert tb_in[0] == 8 and tb_in.size == 1 + 8 * 64
    assert tb_out[0] == 8 and tb_out.size == 1 + 8 * (128 + 8 + 8)


@needs_csim
def test_testbench_passes(project):
    exe = build_testbench(project)
    try:
        proc = subprocess.run([str(exe)], cwd=project, capture_output=True, text=True)
    finally:
        exe.unlink()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("PASS: 0 mismatching output codes over 8 sequences"), proc.stdout


def test_part_and_clock_reach_tcl_and_overwrite(tmp_path):
    """A second compile into a directory the first one wrote replaces it; a file lstmc did not write (here a
    stray note) makes it refuse instead of deleting the file."""
    out = tmp_path / "build"
    assert lstmc("compile", MODEL, "-o", out, "--kernel-name", "other").returncode == 0
    proc = lstmc("compile", MODEL, "-o", out, "--part", "xcu250-figd2104-2L-e", "--clock-ns", "3.3")
    assert proc.returncode == 0, proc.stderr
    tcl = (out / "run_hls.tcl").read_text()
    assert "set_part {xcu250-figd2104-2L-e}" in tcl and "xczu7ev" not in tcl
    assert "create_clock -period 3.3 " in tcl
    assert not (out / "other.cpp").exists()  # the old project's own files are gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]
    (out / "stale.txt").write_text("from an older build")
    before = snapshot(out)
    proc = lstmc("compile", MODEL, "-o", out)
    assert_one_line_error(proc, "stale.txt")
    assert snapshot(out) == before


def test_refuses_unrelated_directory(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    (out / "sub").mkdir()
    (out / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = snapshot(out)
    proc = lstmc("compile", MODEL, "-o", out)
    assert_one_line_error(proc, str(out))
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--pe", "3"], "PE=3 does not divide the 32 output rows"),
        (["--simd", "5"], "SIMD=5"),
        (["--folding", "{bad_json}"], "is not valid JSON"),
        (["--folding", "{unknown_unit}"], "valid names: l0_fwd_scan/gates"),
        (["--folding", "{missing}"], "no such folding config"),
        (["--pe", "2", "--target-cycles", "100"], "one folding mode"),
    ],
    ids=["pe", "simd", "malformed-json", "unknown-unit", "missing-file", "two-modes"],
)
def test_failure_leaves_nothing_behind(tmp_path, args, fragment):
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "bad.json").write_text('{"l0_fwd_scan/gates": {"PE": 2,}')
    (configs / "unknown.json").write_text('{"l9_bwd_scan/gates": {"PE": 2}}')
    paths = {"bad_json": configs / "bad.json", "unknown_unit": configs / "unknown.json", "missing": configs / "no.json"}
    args = [a.format(**paths) for a in args]
    parent = tmp_path / "out"
    parent.mkdir()
    proc = lstmc("compile", MODEL, "-o", parent / "build", *args)
    assert_one_line_error(proc, fragment)
    assert list(parent.iterdir()) == [], "a failed compile left files behind"


def test_failure_keeps_an_earlier_build(tmp_path):
    out = tmp_path / "build"
    assert lstmc("compile", MODEL, "-o", out).returncode == 0
    before = snapshot(out)
    assert_one_line_error(lstmc("compile", MODEL, "-o", out, "--pe", "5"), "PE=5")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]


def test_folding_config_with_valid_unit_names(tmp_path):
    """Unit names come from the design (lstmc.passes.qrnn_set_folding.mvau_names); the JSON's PE/SIMD reach the
    dataflow IR and the kernel (weights partitioned by SIMD and PE), and the folded testbench still passes."""
    import onnx

    from lstmc.frontend.onnx_import import import_model
    from lstmc.pipeline import lower_to_stage
    from lstmc.unit_names import mvau_names

    names = list(mvau_names(lower_to_stage(import_model(onnx.load(MODEL)), "dataflow")))
    assert names == ["l0_fwd_scan/gates"]
    config = tmp_path / "folding.json"
    config.write_text(json.dumps({names[0]: {"PE": 4, "SIMD": 2}}))
    out = tmp_path / "build"
    proc = lstmc("compile", MODEL, "-o", out, "--folding", config)
    assert proc.returncode == 0, proc.stderr
    assert "pe(4) simd(2)" in (out / "ir" / "2-dataflow.mlir").read_text()
    cpp = (out / "lstmc_kernel.cpp").read_text()
    assert "type=cyclic factor=2 dim=1" in cpp and "type=cyclic factor=4 dim=2" in cpp
    if HAVE_CSIM:
        exe = build_testbench(out)
        run = subprocess.run([str(exe)], cwd=out, capture_output=True, text=True)
        assert run.returncode == 0 and run.stdout.startswith("PASS"), run.stdout + run.stderr


def test_port_concatenating_codes_of_different_zero_points(tmp_path):
    """Found by the fuzzer: c_n concatenates layer 0's cell state (zero point 0) and layer 1's (here 33), so
    its codes span a wider range than either quantizer. The golden codes come from value / scale, not from
    one layer's quantizer, and the project builds (it was an 'internal error')."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(FIXTURES / "l2_w4_float.onnx")
    scan = next(n for n in model.graph.node if n.op_type == "Scan" and "l1" in n.name)
    body = next(a.g for a in scan.attribute if a.name == "body")
    zp_names = {n.input[2] for n in body.node if n.op_type == "QuantizeLinear" and "c_new" in n.output[0]}
    assert zp_names, "fixture changed: no cell-state quantizer in layer 1"
    for t in body.initializer:
        if t.name in zp_names:
            t.CopyFrom(numpy_helper.from_array(np.array(33, numpy_helper.to_array(t).dtype), t.name))
    path = tmp_path / "zp33.onnx"
    onnx.save(model, path)
    out = tmp_path / "prj"
    proc = lstmc("compile", path, "-o", out, "--golden", "2")
    assert proc.returncode == 0, proc.stderr
    golden = np.load(out / "golden.npz")
    assert golden["output_c_n"].shape == (2, 2, 8)


@needs_csim
def test_accumulator_thresholds_and_auto_from_the_cli(tmp_path):
    """--threshold-input and --act-impl reach qrnn-legalize-precision: the old design (aligned, threshold) and
    the default (accumulator, auto) give different kernels, the default has fewer estimated LUTs on a
    float-scale model, and its project's testbench (ap_int kernel, as Vitis csim builds it) reproduces the
    integer interpreter's golden codes."""
    model = FIXTURES / "l1_w8_float.onnx"
    base, narrow = tmp_path / "base", tmp_path / "narrow"
    assert (
        lstmc(
            "compile", model, "-o", base, "--golden", "2", "--threshold-input", "aligned", "--act-impl", "threshold"
        ).returncode
        == 0
    )
    proc = lstmc("compile", model, "-o", narrow, "--golden", "2")
    assert proc.returncode == 0, proc.stderr
    lut = [json.loads((d / "report.json").read_text())["estimate"]["total"]["lut"] for d in (base, narrow)]
    assert lut[1] < lut[0]
    assert (base / "lstmc_kernel.cpp").read_text() != (narrow / "lstmc_kernel.cpp").read_text()
    exe = build_testbench(narrow, "-DLSTMC_CSIM_AP_TYPES")
    proc = subprocess.run([str(exe)], cwd=narrow, capture_output=True, text=True)
    assert proc.returncode == 0 and "PASS" in proc.stdout, proc.stdout + proc.stderr
