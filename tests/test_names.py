"""Untrusted names never reach the generated C++ or TCL as code (issue: hostile input, code execution).

Properties: every identifier the emitter prints is legal ASCII C++ and not reserved; names appear in the
testbench only as escaped string literals and comments, which g++ reads back byte for byte; a model whose
output name is a C++ injection runs through C-simulation without running it and bit-exact with the integer
stage; --kernel-name, --part and --clock-ns are checked before anything is written.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import needs_cxx

from lstmc.cli import main
from lstmc.passes.hlscpp_prepare_emission import RESERVED, c_comment, c_string, is_cpp_identifier, legal_identifier

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "examples" / "tiny_lstm" / "model.onnx"
HOSTILE = [
    'Y", s, e, v, want); } int pwn = system("touch PWNED"); void f() { if (0) { printf("',
    "a\nb\r\n#include </etc/passwd>",
    "back\\",  # a trailing backslash splices the next line into a // comment
    "??/",  # a trigraph for a backslash in C++14
    "*/ /* %s %n %%",
    "caf\u00e9 \u202e \x00 \x7f",
    "",
    "x" * 300,
]


@pytest.mark.parametrize("name", HOSTILE + ["int", "and", "NULL", "main", "__x", "_X", "v12", "9lives", "ap_int"])
def test_legal_identifier_is_legal(name):
    ident = legal_identifier(name)
    assert is_cpp_identifier(ident) is None, (name, ident)


@pytest.mark.parametrize(
    "name,ok",
    [
        ("lstmc_kernel", True),
        ("k2", True),
        ("_k", True),
        ("int", False),
        ("xor_eq", False),
        ("main", False),
        ("__k", False),
        ("_K", False),
        ("k\u00e9", False),
        ("2k", False),
        ("a-b", False),
        ("k" * 65, False),
    ],
)
def test_is_cpp_identifier(name, ok):
    assert (is_cpp_identifier(name) is None) == ok


def _run_cpp(tmp_path: Path, body: str) -> bytes:
    src = tmp_path / "t.cpp"
    src.write_text("#include <cstdio>\n#include <cstring>\nint main() {\n" + body + "\n}\n")
    exe = tmp_path / "t"
    subprocess.run(["g++", "-std=c++14", "-o", str(exe), str(src)], check=True, capture_output=True)
    return subprocess.run([str(exe)], check=True, capture_output=True, cwd=tmp_path).stdout


@needs_cxx
def test_strings_and_comments_round_trip_through_gxx(tmp_path):
    """g++ -std=c++14 (trigraphs on) reads c_string back byte for byte, and no c_comment can end its line."""
    lines = []
    for k, text in enumerate(HOSTILE):
        data = text.encode("utf-8")
        lines.append(f'  std::fwrite({c_string(text)}, 1, {len(data)}, stdout); std::fputs("|{k}|", stdout);')
        # a comment that swallowed the next line would drop the marker from the output
        lines.append(f'  // {c_comment(text)}\n  std::fputs("<{k}>", stdout);')
    out = _run_cpp(tmp_path, "\n".join(lines) + "\n  return 0;")
    expected = b"".join(t.encode("utf-8") + f"|{k}|<{k}>".encode() for k, t in enumerate(HOSTILE))
    assert out == expected


def _renamed(model: onnx.ModelProto, renames: dict[str, str]) -> onnx.ModelProto:
    """The model with graph values renamed everywhere they are used (the graph stays valid)."""
    for n in model.graph.node:
        n.input[:] = [renames.get(v, v) for v in n.input]
        n.output[:] = [renames.get(v, v) for v in n.output]
    for v in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        v.name = renames.get(v.name, v.name)
    return model


def _code_only(text: str) -> str:
    """C++ text without its string literals and // comments (what the compiler reads as code)."""
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)
    return re.sub(r"//[^\n]*", "", text)


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory):
    model = onnx.load(TINY)
    outs = [o.name for o in model.graph.output]
    renames = {model.graph.input[0].name: "int", outs[0]: HOSTILE[0], outs[1]: "and", outs[2]: 'NULL\n"main"'}
    path = tmp_path_factory.mktemp("hostile") / "hostile.onnx"
    onnx.save(_renamed(model, renames), path)
    return path, renames


@needs_cxx
def test_injected_output_name_does_not_run_in_csim(hostile_model, tmp_path, monkeypatch):
    """The known exploit: the name's C++ would create PWNED in the cwd of the C-simulation binary."""
    path, renames = hostile_model
    monkeypatch.chdir(tmp_path)
    inputs = np.random.default_rng(0).standard_normal((3, 20, 4)).astype(np.float32)
    arrays: dict[str, Any] = {"int": inputs}  # any type: savez's own `allow_pickle` is a keyword
    np.savez(tmp_path / "in.npz", **arrays)
    for stage in ("integer", "csim"):
        assert (
            main(
                [
                    "run",
                    str(path),
                    "--inputs",
                    str(tmp_path / "in.npz"),
                    "--stage",
                    stage,
                    "--output",
                    str(tmp_path / f"{stage}.npz"),
                ]
            )
            == 0
        )
    assert not list(tmp_path.rglob("PWNED"))
    integer, csim = np.load(tmp_path / "integer.npz"), np.load(tmp_path / "csim.npz")
    assert sorted(integer.files) == sorted(csim.files) == sorted(renames[o] for o in renames if o != "X")
    for name in integer.files:
        assert np.array_equal(integer[name], csim[name]), name


def test_compiled_project_keeps_names_out_of_code(hostile_model, tmp_path):
    path, renames = hostile_model
    out = tmp_path / "prj"
    assert main(["compile", str(path), "-o", str(out)]) == 0
    for f in ("lstmc_kernel.cpp", "lstmc_kernel.h", "lstmc_kernel_tb.cpp", "run_hls.tcl"):
        code = _code_only((out / f).read_text())
        # identifiers may keep the letters (`int_pwn___system__touch_...`), never the punctuation
        assert "system(" not in code and '("touch' not in code and '\n"main' not in code, f
    tb = (out / "lstmc_kernel_tb.cpp").read_text()
    assert c_string(HOSTILE[0]) in tb  # the original name, escaped, in the mismatch message
    report = json.loads((out / "report.json").read_text())
    assert report["kernel"] == "lstmc_kernel"


@pytest.mark.parametrize("kernel", ["main", "int", "k\u00e9", "a b", "__k", "lstmc_tb", "x" * 65, ""])
def test_bad_kernel_names_are_refused_before_writing(kernel, tmp_path, capsys):
    out = tmp_path / "prj"
    assert main(["compile", str(TINY), "-o", str(out), "--kernel-name", kernel]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lstmc: error:") and "kernel-name" in err and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_kernel_name_that_shadows_testbench_locals_builds(tmp_path):
    """`run`, `in0`, `s` are testbench locals/helpers; the testbench calls the kernel as ::name."""
    from lstmc.frontend import load_onnx
    from lstmc.frontend.onnx_import import import_model
    from lstmc.hls.build import lower_to_hlscpp, write_sources
    from lstmc.hls.project import kernel_interface
    from lstmc.pipeline import lower_to_stage

    module = lower_to_stage(import_model(load_onnx(str(TINY))), "dataflow")
    iface = kernel_interface(module)
    for kernel in ("run", "in0", "s"):
        d = tmp_path / kernel
        d.mkdir()
        write_sources(lower_to_hlscpp(module, kernel), iface, d, kernel)
        if shutil.which("g++"):
            from lstmc.hls.project import ap_types_dir

            proc = subprocess.run(
                [
                    "g++",
                    "-fsyntax-only",
                    "-std=c++14",
                    "-w",
                    f"-I{ap_types_dir()}",
                    f"-I{d}",
                    str(d / f"{kernel}_tb.cpp"),
                    str(d / f"{kernel}.cpp"),
                ],
                capture_output=True,
                text=True,
            )
            assert proc.returncode == 0, proc.stderr[-2000:]


@needs_cxx
@pytest.mark.parametrize("kernel", ["select", "round", "remove", "printf"])
def test_kernel_named_like_a_c_library_function_builds(kernel, tmp_path):
    """A --kernel-name that also names C library functions declared at global scope (select, round, remove,
    printf: legal identifiers, so accepted) gives a testbench that compiles against both kernels: it takes the
    port types from the header's lstmc_tb::kernel_fn, not from `decltype(::name)`, which cannot pick the
    kernel out of such an overload set (the ap_int build, the one Vitis HLS runs, failed for all four)."""
    from lstmc.hls.project import ap_types_dir

    out = tmp_path / "prj"
    assert main(["compile", str(TINY), "-o", str(out), "--kernel-name", kernel, "--golden", "1"]) == 0
    for flags in ([], ["-DLSTMC_CSIM_AP_TYPES", f"-I{ap_types_dir()}"]):
        proc = subprocess.run(
            ["g++", "-fsyntax-only", "-std=c++14", "-w", *flags, f"{kernel}.cpp", f"{kernel}_tb.cpp"],
            cwd=out,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, (flags, proc.stderr[-2000:])


def test_lstm_to_hls_refuses_bad_kernel_option(tmp_path):
    proc = subprocess.run(
        [
            str(Path(shutil.which("lstmc-opt") or ROOT / ".venv/bin/lstmc-opt")),
            str(TINY),
            "-p",
            "lstm-to-hls{kernel=int}",
            "-t",
            "hls-cpp",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "kernel name 'int'" in proc.stderr and "Traceback" not in proc.stderr


def test_emitter_refuses_unprepared_names():
    """Defence in depth: even if hlscpp-prepare-emission was skipped, the printer prints no illegal name."""
    from io import StringIO

    from xdsl.dialects.builtin import ModuleOp, i8

    from lstmc.dialects import hlscpp
    from lstmc.errors import LstmcError
    from lstmc.hls.emit import emit_hls_cpp

    for fn in (hlscpp.FuncOp("main", [], [], top=True), hlscpp.FuncOp("k", [i8], ['x"); system("id'], top=True)):
        with pytest.raises(LstmcError, match="hlscpp-prepare-emission"):
            emit_hls_cpp(ModuleOp([fn]), StringIO())


# ------------------------------------------------------------------------------------------ part and clock
@pytest.mark.parametrize(
    "part", ["xc7}; exec touch X; set x {", "xczu7ev-ffvc1156-2-e\nexec id", "[exec id]", "xcfoo-bar-1", ""]
)
def test_bad_parts_are_refused(part, tmp_path, capsys):
    out = tmp_path / "prj"
    assert main(["compile", str(TINY), "-o", str(out), "--part", part]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lstmc: error: --part") and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("clock", ["nan", "inf", "-5", "0", "1e9"])
def test_bad_clocks_are_refused(clock, tmp_path, capsys):
    assert main(["compile", str(TINY), "-o", str(tmp_path / "prj"), "--clock-ns", clock]) == 1
    assert "--clock-ns" in capsys.readouterr().err
    assert not (tmp_path / "prj").exists()


def test_board_alias_and_clock_reach_tcl_and_report(tmp_path):
    out = tmp_path / "prj"
    assert main(["compile", str(TINY), "-o", str(out), "--part", "U250", "--clock-ns", "3.33"]) == 0
    tcl = (out / "run_hls.tcl").read_text()
    assert "set_part {xcu250-figd2104-2L-e}" in tcl and "create_clock -period 3.33 " in tcl
    report = json.loads((out / "report.json").read_text())
    assert report["part"] == "xcu250-figd2104-2L-e"
    assert report["estimate"]["part"]["name"] == "xcu250-figd2104-2L-e"
    assert abs(report["estimate"]["clock_mhz"] - 1000 / 3.33) < 1e-9


def test_reserved_names_include_every_cpp_keyword():
    for word in ("and", "bitor", "compl", "not_eq", "xor", "co_await", "nullptr", "char8_t", "requires"):
        assert word in RESERVED


def test_error_messages_stay_one_line_whatever_the_names(tmp_path, capsys):
    """A name with a newline or carriage return must not forge a second line of output."""
    from lstmc.errors import one_line

    assert one_line("a\nb\rc\x1b[2Jd\u202ee") == "a\\x0ab\\x0dc\\x1b[2Jd\\u202ee"
    model = onnx.load(TINY)
    model.graph.output[0].name = "Y\nlstmc: all stages meet the contract\r"  # now produced by no node
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    assert main(["import", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\r" not in err and err.startswith("lstmc: error:")


def test_names_too_long_for_an_npz_are_refused_before_writing(tmp_path, capsys):
    model = _renamed(onnx.load(TINY), {onnx.load(TINY).graph.output[0].name: "\u00e9" * 40000})
    path = tmp_path / "long.onnx"
    onnx.save(model, path)
    assert main(["compile", str(path), "-o", str(tmp_path / "prj")]) == 1
    assert "bytes" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.onnx"]
