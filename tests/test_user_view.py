"""The user's view of the CLI (issue 15): parts and clocks honoured, one option vocabulary, progress, pictures,
the project directory.

Properties (each through `lstmc ...` as a user runs it):
- `estimate` and `compile` accept any known part or board (`--part` takes both, `--board` boards only, not
  both at once), one clock option `--clock-ns` (`estimate --clock-mhz` still works, equal to --clock-ns
  1000/F, with one deprecation warning), and their reports use the choice; a design over 100% of a resource of
  the part gets exactly one warning line on stderr and exit status 0, a design that fits none;
- `verify --stages` accepts every stage `run --stage` does, `reference` included;
- `estimate --sweep` without --plot writes MODEL-pareto.png beside the model, not into the current directory;
  `--breakdown` writes an HTML table (names escaped) or a PNG by extension and refuses anything else before
  doing any work;
- `verify` and evaluate.py write nothing to stderr when it is a pipe, and a progress line naming the stage and
  the sequences done when it is a terminal; evaluate.py prints the majority-class baseline row;
- `compile` writes README.md (part, clock, Vitis version, every port in order with shape, element type, codes,
  scale and zero point; model names escaped so that no Markdown syntax or extra line can form) and its
  "wrote" line names every file of the project;
- the testbench fails, naming the port, when a kernel leaves input unread or writes too many or too few output
  codes, and reports a failed write of its output file;
- the options of `lstm-to-hls{...}` are documented in the pass's docstring.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, needs_csim

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "tiny_lstm" / "model.onnx"
BIDIR = FIXTURES / "l1_bidir_float.onnx"  # about 150% of a PYNQ-Z2's LUTs at PE = SIMD = 1
STOCK = ROOT / "examples" / "stock"
LSTMC = shutil.which("lstmc") or str(Path(sys.executable).parent / "lstmc")


def lstmc(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([LSTMC, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def one_error_line(proc, *fragments):
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmc: error: "), proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


# ------------------------------------------------------------------------------------------ parts and clocks
@pytest.mark.parametrize(
    "choice, part",
    [
        (["--board", "kv260"], "xck26-sfvc784-2LV-c"),
        (["--part", "ZCU102"], "xczu9eg-ffvb1156-2-e"),
        (["--part", "xcu55c-fsvh2892-2L-e"], "xcu55c-fsvh2892-2L-e"),
        ([], "xczu7ev-ffvc1156-2-e"),
    ],
)
def test_estimate_takes_any_part_or_board(choice, part, tmp_path):
    proc = lstmc("estimate", TINY, *choice, "--clock-ns", "2.5", "--json", tmp_path / "e.json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "e.json").read_text())
    assert data["part"]["name"] == part and data["clock_mhz"] == pytest.approx(400.0)
    assert f"% of {part}" in proc.stdout and "at 400 MHz" in proc.stdout


def test_estimate_clock_mhz_is_a_deprecated_alias(tmp_path):
    old = lstmc("estimate", TINY, "--clock-mhz", "250", "--json", tmp_path / "old.json")
    new = lstmc("estimate", TINY, "--clock-ns", "4", "--json", tmp_path / "new.json")
    assert old.returncode == new.returncode == 0
    assert old.stdout == new.stdout
    assert (tmp_path / "old.json").read_text() == (tmp_path / "new.json").read_text()
    assert old.stderr.splitlines() == ["lstmc: warning: --clock-mhz is deprecated; use --clock-ns 4 (the period in ns)"]
    assert new.stderr == ""


@pytest.mark.parametrize("command", ["estimate", "compile"])
@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--part", "zcu104", "--board", "zcu104"], "not allowed with argument"),
        (["--board", "xczu7ev-ffvc1156-2-e"], "--board 'xczu7ev-ffvc1156-2-e' is not a board lstmc knows"),
        (["--part", "virtex9"], "--part 'virtex9' is not a part lstmc knows"),
        (["--clock-ns", "0"], "--clock-ns must be a finite period"),
    ],
)
def test_part_and_clock_mistakes_are_one_line(command, args, fragment, tmp_path):
    out = ["-o", tmp_path / "prj"] if command == "compile" else []
    one_error_line(lstmc(command, TINY, *out, *args), fragment)
    assert not (tmp_path / "prj").exists()


def test_estimate_warns_once_when_the_design_does_not_fit():
    proc = lstmc("estimate", BIDIR, "--board", "pynq-z2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and re.fullmatch(
        r"lstmc: warning: the design does not fit xc7z020clg400-1 \(pynq-z2\): estimated LUT 1\d\d\.\d% of the part",
        lines[0],
    ), lines
    fits = lstmc("estimate", BIDIR, "--board", "zcu104")
    assert fits.returncode == 0 and fits.stderr == ""


def test_compile_uses_the_board_and_warns_when_it_does_not_fit(tmp_path):
    out = tmp_path / "prj"
    proc = lstmc("compile", BIDIR, "-o", out, "--board", "pynq-z2", "--clock-ns", "8", "--golden", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmc: warning: the design does not fit xc7z020clg400-1"), lines
    report = json.loads((out / "report.json").read_text())
    assert report["part"] == report["estimate"]["part"]["name"] == "xc7z020clg400-1"
    assert report["estimate"]["clock_mhz"] == pytest.approx(125.0)
    assert "set_part {xc7z020clg400-1}" in (out / "run_hls.tcl").read_text()
    assert "estimate on xc7z020clg400-1 at 125 MHz" in proc.stdout
    readme = (out / "README.md").read_text()
    assert "Part: `xc7z020clg400-1` (board pynq-z2). Clock: 8 ns (125 MHz)." in readme


# ---------------------------------------------------------------------------------------------- vocabulary
def test_verify_accepts_every_stage_run_accepts():
    help_run = lstmc("run", "--help").stdout
    match = re.search(r"--stage \{([a-z,]+)\}", help_run)
    assert match is not None, help_run
    stages = match.group(1).split(",")
    assert "reference" in stages
    proc = lstmc("verify", TINY, "--random", "2", "--stages", *[s for s in stages if s != "csim"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [ln.split()[0] for ln in proc.stdout.splitlines()[2:-1]]
    assert rows[0] == "reference" and "(baseline)" in proc.stdout.splitlines()[2]
    assert set(rows) == set(stages) - {"csim"}


def test_sweep_plot_goes_beside_the_model(tmp_path):
    models, cwd = tmp_path / "models", tmp_path / "elsewhere"
    models.mkdir()
    cwd.mkdir()
    shutil.copy(FIXTURES / "l1_w4_po2.onnx", models / "small.onnx")
    proc = lstmc("estimate", models / "small.onnx", "--sweep", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert (models / "small-pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(cwd.iterdir()) == []
    assert f"plot written to {models / 'small-pareto.png'}" in proc.stdout


def test_breakdown_html_and_png(tmp_path):
    model = onnx.load(TINY)
    hostile = '<script>alert("x")</script>&amp;'
    scan = next(n for n in model.graph.node if n.op_type == "Scan")
    scan.name = hostile  # unit names come from the Scan node
    onnx.save(model, tmp_path / "m.onnx")
    proc = lstmc("estimate", tmp_path / "m.onnx", "--breakdown", tmp_path / "b.html")
    assert proc.returncode == 0, proc.stderr
    html = (tmp_path / "b.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;/gates" in html
    units = [ln.split()[0] for ln in proc.stdout.splitlines()[2:] if ln.strip() and not ln.startswith("-")]
    units = units[: units.index("total")]
    assert len(re.findall(r"<tr><td>", html)) == len(units)
    proc = lstmc("estimate", TINY, "--breakdown", tmp_path / "b.png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("path, fragment", [("b.svg", "must end in .html"), ("nodir/b.png", "does not exist")])
def test_breakdown_mistakes_before_any_work(path, fragment, tmp_path):
    one_error_line(lstmc("estimate", tmp_path / "missing.onnx", "--breakdown", tmp_path / path), fragment)


# ------------------------------------------------------------------------------------------------ progress
def _on_a_terminal(argv, cwd=None) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (stdout a pipe): status, stdout, what the terminal received."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, cwd=cwd)
    os.close(slave)
    received = []
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        received.append(data)
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    proc.wait()
    return proc.returncode, out, b"".join(received).decode()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_verify_progress_only_on_a_terminal():
    argv = ["verify", TINY, "--random", "3", "--stages", "qrnn", "integer"]
    piped = lstmc(*argv)
    assert piped.returncode == 0 and piped.stderr == ""
    status, out, tty = _on_a_terminal([LSTMC, *map(str, argv)])
    assert status == 0 and out == piped.stdout  # the report is the same
    for stage, k in (("reference", 1), ("qrnn", 2), ("integer", 3)):
        assert re.search(rf"lstmc verify: {stage} \(stage {k} of 3\)  \d/3 sequences  \d+\.\d s", tty), tty
    assert "3/3 sequences" in tty and tty.endswith("\r\x1b[K")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_evaluate_progress_and_majority_baseline():
    argv = [sys.executable, str(STOCK / "evaluate.py"), "--stages", "integer", "--limit", "100"]
    piped = subprocess.run(argv, capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    with np.load(STOCK / "test_split.npz") as data:
        T, labels = int(data["T"]), data["labels"][:100]
    assert T > 0
    share = np.bincount(labels, minlength=3).max() / len(labels)
    rows = {ln.split()[0]: ln.split() for ln in piped.stdout.splitlines() if ln.split()}
    assert float(rows["majority"][2]) == pytest.approx(share, abs=5e-5)
    status, out, tty = _on_a_terminal(argv)
    assert status == 0 and "evaluate: integer" in tty and "100/100 sequences" in tty


# ----------------------------------------------------------------------------------------- the project
def _renamed_tiny(path: Path, names: dict[str, str]) -> Path:
    model = onnx.load(TINY)
    for n in model.graph.node:
        n.input[:] = [names.get(v, v) for v in n.input]
        n.output[:] = [names.get(v, v) for v in n.output]
    for v in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        v.name = names.get(v.name, v.name)
    onnx.save(model, path)
    return path


def test_project_readme_and_wrote_line(tmp_path):
    hostile = {"X": "x`|y\n# heading <b>z</b> [l](http://e)", "Y": "y | `code` $x$", "h_n": "h\u202en\r\n|"}
    model = _renamed_tiny(tmp_path / "hostile model.onnx", hostile)
    out = tmp_path / "prj"
    proc = lstmc("compile", model, "-o", out, "--kernel-name", "k1", "--part", "zcu104", "--clock-ns", "4")
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    wrote = proc.stdout.splitlines()[0]
    assert wrote.startswith(f"wrote {out}: ")
    assert sorted(wrote.split(": ", 1)[1].split(", ")) == files
    readme = (out / "README.md").read_text()
    assert "Vitis HLS 2022.1 or later" in readme and "vitis_hls -f run_hls.tcl" in readme
    assert "Part: `xczu7ev-ffvc1156-2-e` (board zcu104). Clock: 4 ns (250 MHz)." in readme
    rows = [ln for ln in readme.splitlines() if re.match(r"\| \d+ \|", ln)]
    header = "| # | dir | C++ port | model name | shape | element type | codes | scale | zero point | beat |"
    assert header in readme
    assert [r.split(" | ")[1] for r in rows] == ["in", "out", "out", "out"]
    for row in rows:  # one line per port, with exactly the header's cells: no name broke out of its cell
        assert len(re.findall(r"(?<!\\)\|", row)) == header.count("|"), row
        assert "\n" not in row and "<b>" not in row and "\u202e" not in row
    cells = [r.split(" | ") for r in rows]
    assert cells[0][4:6] == ["[20, 4]", "`ap_int<8>`"]
    assert cells[0][3].startswith("x\\`\\|y") and "U+000A" in cells[0][3]
    header_proto = (out / "k1.h").read_text()
    for cell in cells:
        port = cell[2].strip("`")
        assert f"&{port}" in header_proto  # the C++ name of that port, in order
    assert re.fullmatch(r"-?\d+ \.\. -?\d+", cells[0][6]) and float(cells[0][7]) > 0
    assert "(q - zp) * scale" in readme
    for f in files:
        assert f"`{f}`" in readme, f


# --------------------------------------------------------------------------------------------- testbench
def _fake_kernel(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    """The testbench of a kernel with one input of 3 codes and one output of 2, around a kernel `body`."""
    from lstmc.dialects import qrnn
    from lstmc.hls.project import KernelInterface, Port, ap_types_dir, testbench_source, write_codes

    q8 = qrnn.QuantAttr(8, True, False, (1.0,), (0,))  # (the testbench moves codes; it does not read quantizers)
    iface = KernelInterface([Port("in|put", (3,), q8)], [Port('out"put', (2,), q8)])
    from lstmc.hls.emit import AXIS_SUPPORT, KERNEL_TYPE

    # the header as emit_header writes it: the prototype, and the kernel's type for the testbench
    (tmp_path / "k.h").write_text(
        "#include <ap_int.h>\n#include <hls_stream.h>\n" + AXIS_SUPPORT + "\ntypedef ap_axiu<8, 0, 0, 0> beat;\n"
        "void k(hls::stream<beat> &a, hls::stream<beat> &b);\n"
        f"namespace lstmc_tb {{ typedef void {KERNEL_TYPE}(hls::stream<beat> &a, hls::stream<beat> &b); }}\n"
    )
    (tmp_path / "k.cpp").write_text(
        '#include "k.h"\n'
        "static beat B(ap_int<8> v, bool last) { beat w; w.data = v; w.keep = 1; w.strb = 1; w.last = last; return w; }\n"
        "void k(hls::stream<beat> &a, hls::stream<beat> &b) {\n" + body + "\n}\n"
    )
    (tmp_path / "tb.cpp").write_text(testbench_source("k", iface, "k.h", ["ap_int<8>", "ap_int<8>"]))
    subprocess.run(
        ["g++", "-std=c++14", "-O0", "-w", f"-I{ap_types_dir()}", "k.cpp", "tb.cpp", "-o", "tb"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    write_codes(tmp_path / "tb_input.bin", [np.array([[1, 2, 3], [4, 5, 6]])])
    write_codes(tmp_path / "tb_expected.bin", [np.array([[3, 1], [6, 4]])])
    return subprocess.run(["./tb"], cwd=tmp_path, capture_output=True, text=True)


CORRECT = "ap_int<8> x = a.read().data, y = a.read().data, z = a.read().data; b.write(B(z, 0)); b.write(B(x, 1));"


@needs_csim
@pytest.mark.parametrize(
    "body, status, message",
    [
        (CORRECT, 0, None),
        (
            "ap_int<8> x = a.read().data, y = a.read().data; b.write(B(x, 0)); b.write(B(y, 1));",
            1,
            "FAIL: sequence 0: the kernel left 1 beats of input in|put unread",
        ),
        (
            CORRECT + " b.write(B(x, 1));",
            1,
            'FAIL: sequence 0: output out"put: TLAST on beat 2, after its last beat 1 (TLAST repeated)',
        ),
        (
            "ap_int<8> x = a.read().data, y = a.read().data, z = a.read().data; b.write(B(z, 0));",
            1,
            'FAIL: sequence 0: output out"put holds 1 beats after the call, expected 2 (2 codes, 1 per beat)',
        ),
        (
            "ap_int<8> x = a.read().data, y = a.read().data, z = a.read().data; b.write(B(z, 1)); b.write(B(x, 1));",
            1,
            'FAIL: sequence 0: output out"put: TLAST on beat 0 of 2 (early)',
        ),
        (
            "ap_int<8> x = a.read().data, y = a.read().data, z = a.read().data; b.write(B(z, 0)); b.write(B(x, 0));",
            1,
            'FAIL: sequence 0: output out"put: TLAST missing on its last beat 1',
        ),
    ],
)
def test_testbench_checks_stream_lengths(tmp_path, body, status, message):
    proc = _fake_kernel(tmp_path, body)
    assert proc.returncode == status, proc.stdout + proc.stderr
    if message is None:
        assert proc.stdout.startswith("PASS: 0 mismatching output codes over 2 sequences")
    else:
        assert message in proc.stderr


@needs_csim
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_testbench_reports_a_failed_write(tmp_path):
    assert _fake_kernel(tmp_path, CORRECT).returncode == 0
    proc = subprocess.run(["./tb", "tb_input.bin", "/dev/full"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "FAIL: cannot write /dev/full" in proc.stderr
    proc = subprocess.run(["./tb", "missing.bin", "out.bin"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "FAIL: cannot open missing.bin" in proc.stderr


# ------------------------------------------------------------------------------------------------ docs
def test_lstm_to_hls_documents_every_option():
    from dataclasses import fields

    from lstmc.passes import lstm_to_hls

    options = [f.name.replace("_", "-") for f in fields(lstm_to_hls.LstmToHlsPass)]
    assert {"pe", "simd", "config", "target-cycles", "kernel", "act-impl"} <= set(options)
    readme = (ROOT / "README.md").read_text()
    assert lstm_to_hls.__doc__ is not None
    for option in options:
        assert re.search(rf"^  {option}[=\s]", lstm_to_hls.__doc__, re.M), option
        assert f"`{option}=" in readme, option
