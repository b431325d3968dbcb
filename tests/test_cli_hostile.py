"""Hostile or careless input to `lstmc` and `lstmc-opt` (issue 11, "Tracebacks and hangs").

Property: every odd input file, option value or IR ends in exactly one line `<tool>: error: ...` naming the file,
option or value, exit status 1, no traceback and no file written; nothing takes more than linear time or
allocates what a file's header merely claims. Most cases run `main()` in process (fast); the recursion and hang
cases run the console script in a subprocess with a timeout.
"""

from __future__ import annotations

import io
import random
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES

from lstmc import cli, opt

BIN = Path(sys.executable).parent
MODEL = FIXTURES / "l1_w4_po2.onnx"  # graph input X: one sequence is [16, 4]; outputs Y, h_n, c_n
X = np.load(FIXTURES / "l1_w4_po2.npz")["X"]  # [N, 16, 4]


def listing(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


def one_line_error(capsys, main, argv, *fragments, tool: str = "lstmc") -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{tool}: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def refused_run(capsys, tmp_path, inputs: Path, *fragments) -> str:
    """`lstmc run --output` on `inputs`: one-line error naming the file, and no output written."""
    before = listing(tmp_path)
    line = one_line_error(
        capsys,
        cli.main,
        ["run", MODEL, "--inputs", inputs, "--stage", "qrnn", "--output", tmp_path / "out.npz"],
        inputs.name,
        *fragments,
    )
    assert listing(tmp_path) == before
    return line


def fake_npz(path: Path, header: dict, payload: bytes = b"\0" * 64, name: str = "X.npy") -> Path:
    """An .npz whose member header says whatever we like, followed by `payload` bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(name, buf.getvalue() + payload)
    return path


# ------------------------------------------------------------------------------------------ lstmc: .npz inputs
@pytest.mark.parametrize(
    "array,what",
    [
        (np.array(["a", "b"]), "strings"),
        (np.array([b"a"]), "byte strings"),
        (np.array([1, "a"], dtype=object), "Python objects"),
        (np.zeros(3, dtype=[("a", "f4"), ("b", "i4")]), "records"),
        (np.zeros((2, 16, 4), np.complex64), "complex numbers"),
        (np.zeros((2, 16, 4), bool), "booleans"),
    ],
    ids=["str", "bytes", "object", "structured", "complex", "bool"],
)
def test_npz_dtype_refused(capsys, tmp_path, array, what):
    np.savez(tmp_path / "in.npz", X=array)
    refused_run(capsys, tmp_path, tmp_path / "in.npz", "array 'X'", what, "float or integer")


def test_npy_instead_of_npz(capsys, tmp_path):
    np.save(tmp_path / "in.npy", X[:2])
    refused_run(capsys, tmp_path, tmp_path / "in.npy", "a single .npy array", "--inputs takes an .npz")


@pytest.mark.parametrize(
    "shape,fragment",
    [
        ((100_000_000, 20, 4), "input 'X' has shape [100000000, 20, 4]; expected [16, 4]"),  # not the model's shape
        ((100_000_000, 16, 4), "claims shape [100000000, 16, 4] (25,600,000,000 bytes)"),  # the model's, but 25.6 GB
    ],
)
def test_npz_header_claiming_a_huge_array_is_refused_before_reading(capsys, tmp_path, shape, fragment):
    path = fake_npz(tmp_path / "huge.npz", {"descr": "<f4", "fortran_order": False, "shape": shape})
    refused_run(capsys, tmp_path, path, fragment)


def test_npz_header_budget_without_a_model(tmp_path):
    """`quantize --calibration` reads arrays without a model: the byte budget still applies."""
    path = fake_npz(tmp_path / "huge.npz", {"descr": "<f8", "fortran_order": False, "shape": (1 << 28, 4)})
    with pytest.raises(cli.LstmcError, match=r"claims shape \[268435456, 4\]"):
        cli.load_inputs(str(path))


@pytest.mark.parametrize(
    "shape,payload,fragment",
    [
        ((3, 16, 4), b"\0" * 64, "truncated or corrupt: its header claims 768 bytes of data, the archive holds 64"),
        ((-3, 16, 4), b"", "negative dimension"),
        ((0, 16, 4), b"", "array 'X' is empty (shape [0, 16, 4])"),
    ],
)
def test_npz_inconsistent_or_empty(capsys, tmp_path, shape, payload, fragment):
    path = fake_npz(tmp_path / "bad.npz", {"descr": "<f4", "fortran_order": False, "shape": shape}, payload)
    refused_run(capsys, tmp_path, path, fragment)


def test_npz_empty_batch(capsys, tmp_path):
    np.savez(tmp_path / "in.npz", X=np.zeros((0, 16, 4), np.float32))
    refused_run(capsys, tmp_path, tmp_path / "in.npz", "array 'X' is empty", "at least one sequence")


@pytest.mark.parametrize("shape", [(16,), (16, 4, 1), (2, 1, 16, 4), (2, 4, 16)])
def test_npz_wrong_rank_or_shape(capsys, tmp_path, shape):
    np.savez(tmp_path / "in.npz", X=np.zeros(shape, np.float32))
    refused_run(
        capsys,
        tmp_path,
        tmp_path / "in.npz",
        f"input 'X' has shape {list(shape)}",
        "expected [16, 4] (one sequence) or [N, 16, 4]",
    )


def test_npz_missing_and_extra_keys(capsys, tmp_path):
    np.savez(tmp_path / "missing.npz", x=X[:2])
    refused_run(capsys, tmp_path, tmp_path / "missing.npz", "missing input(s) X", "the model takes X")
    np.savez(tmp_path / "extra.npz", X=X[:2], Z=np.zeros(3), W=np.zeros(3))
    refused_run(capsys, tmp_path, tmp_path / "extra.npz", "unexpected array(s) Z, W")


def test_npz_arrays_named_like_outputs_are_skipped(tmp_path):
    """A fixture .npz (X plus the expected Y, h_n, c_n) is a valid input file: outputs are targets, not inputs."""
    from lstmc.frontend import load_onnx

    np.savez(tmp_path / "in.npz", X=X[:2], Y=np.zeros((2, 3)), h_n=np.array(["not even numbers"]))
    got = cli.load_inputs(str(tmp_path / "in.npz"), load_onnx(str(MODEL)))
    assert list(got) == ["X"] and got["X"].dtype == np.float32 and np.array_equal(got["X"], X[:2])


@pytest.mark.parametrize(
    "member,fragment",
    [("X.txt", "member 'X.txt' is not a .npy array"), ("X.npy", "array 'X' is not a readable .npy array")],
)
def test_npz_member_that_is_not_an_array(capsys, tmp_path, member, fragment):
    with zipfile.ZipFile(tmp_path / "in.npz", "w") as z:
        z.writestr(member, b"hello")
    refused_run(capsys, tmp_path, tmp_path / "in.npz", fragment)


def test_npz_nan_and_inf_are_kept_and_the_stages_agree(capsys, tmp_path):
    """onnxruntime quantizes NaN/inf deterministically (lowest code / saturation) and so do our stages: keep them."""
    x = X[:2].astype(np.float64)
    x[0, 3, 1], x[1, 5, 2], x[1, 6, 0] = np.nan, np.inf, -1e300  # -1e300 is -inf in float32
    np.savez(tmp_path / "in.npz", X=x)
    outs = {}
    for stage in ("reference", "integer"):
        out = tmp_path / f"{stage}.npz"
        assert (
            cli.main(["run", str(MODEL), "--inputs", str(tmp_path / "in.npz"), "--stage", stage, "--output", str(out)])
            == 0
        )
        outs[stage] = dict(np.load(out))
    assert capsys.readouterr().err == ""  # no numpy warnings either
    for name, ref in outs["reference"].items():
        assert np.isfinite(ref).all() and np.array_equal(ref, outs["integer"][name]), name


def test_compile_inputs_one_unbatched_sequence_is_a_batch_of_one(capsys, tmp_path):
    np.savez(tmp_path / "one.npz", X=X[0])
    assert cli.main(["compile", str(MODEL), "-o", str(tmp_path / "proj"), "--inputs", str(tmp_path / "one.npz")]) == 0
    golden = np.load(tmp_path / "proj" / "golden.npz")
    assert golden["input_X"].shape == (1, 16, 4) and golden["output_Y"].shape == (1, 16, 8)
    assert np.array_equal(golden["input_X"][0], X[0])


def test_compile_inputs_are_checked_like_run(capsys, tmp_path):
    np.savez(tmp_path / "in.npz", X=np.zeros((2, 15, 4), np.float32))
    one_line_error(
        capsys,
        cli.main,
        ["compile", MODEL, "-o", tmp_path / "proj", "--inputs", tmp_path / "in.npz"],
        "in.npz: input 'X' has shape [2, 15, 4]",
    )
    assert listing(tmp_path) == {"in.npz"}


# ------------------------------------------------------------------------------------------ lstmc: options
@pytest.mark.parametrize(
    "argv,fragment",
    [
        (["verify", MODEL, "--seed", "-1"], "argument --seed: must be >= 0, got -1"),
        (["verify", MODEL, "--random", "0"], "argument --random: must be >= 1, got 0"),
        (["verify", MODEL, "--random", "x"], "argument --random: expected an integer, got 'x'"),
        (["compile", MODEL, "-o", "{tmp}/p", "--golden", "0"], "argument --golden: must be >= 1, got 0"),
        (["compile", MODEL, "-o", "{tmp}/p", "--golden", "-5"], "argument --golden: must be >= 1, got -5"),
        (["compile", MODEL, "-o", "{tmp}/p", "--seed", "-1"], "argument --seed: must be >= 0"),
        (["compile", MODEL, "-o", "{tmp}/p", "--pe", "-1"], "argument --pe: must be >= 0, got -1"),
        (["compile", MODEL, "-o", "{tmp}/p", "--simd", "-2"], "argument --simd: must be >= 0, got -2"),
        (["compile", MODEL, "-o", "{tmp}/p", "--target-cycles", "-3"], "argument --target-cycles: must be >= 0"),
        (["compile", MODEL, "-o", "{tmp}/p", "--pe", str(2**40)], "argument --pe: must be at most 2147483647"),
        (["compile", MODEL, "-o", ""], "argument -o/--output: empty path"),
        (["run", "", "--inputs", "x.npz", "--stage", "qrnn"], "argument model: empty path"),
        (["run", MODEL, "--inputs", "", "--stage", "qrnn"], "argument --inputs: empty path"),
        (["compile", MODEL, "-o", "{tmp}/p", "--folding", ""], "argument --folding: empty path"),
        (["run", MODEL], "the following arguments are required: --inputs, --stage"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_option_values(capsys, tmp_path, argv, fragment):
    argv = [str(a).replace("{tmp}", str(tmp_path)) for a in argv]
    one_line_error(capsys, cli.main, argv, fragment)
    assert listing(tmp_path) == set()


@pytest.mark.parametrize(
    "name,reason",
    [
        ("kérnel", "ASCII letters"),
        ("my-kernel", "ASCII letters"),
        ("1k", "not starting with a digit"),
        ("", "ASCII"),
        ("int", "C++ keyword"),
        ("main", "reserved"),
        ("__k", "reserved for the C++ implementation"),
        ("k" * 65, "longer than 64 characters"),
    ],
)
def test_kernel_name_must_be_a_cpp_identifier(capsys, tmp_path, name, reason):
    one_line_error(
        capsys,
        cli.main,
        ["compile", MODEL, "-o", tmp_path / "p", "--kernel-name", name],
        "argument --kernel-name",
        repr(name)[:40],
        reason,
    )
    assert listing(tmp_path) == set()


def test_random_count_beyond_the_input_budget(capsys):
    # refused before numpy tries to allocate 25.6 GB of random numbers
    one_line_error(
        capsys,
        cli.main,
        ["verify", MODEL, "--random", "100000000"],
        "--random 100000000: too many sequences",
        "at most 4,194,304",
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "{tmp}", "--inputs", "{tmp}/x.npz", "--stage", "qrnn"],
        ["run", MODEL, "--inputs", "{tmp}", "--stage", "qrnn"],
        ["run", MODEL, "--inputs", "-", "--stage", "qrnn"],
    ],
)
def test_directories_and_dash_are_not_files(capsys, tmp_path, argv):
    argv = [str(a).replace("{tmp}", str(tmp_path)) for a in argv]
    line = one_line_error(capsys, cli.main, argv)
    assert "is a directory" in line or "-: no such file" in line


# ------------------------------------------------------------------------------------------ lstmc-opt
def lstmc_opt(*args, stdin: bytes | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    """The console script, with a timeout as a hang guard (each case here finishes in well under a second)."""
    return subprocess.run([str(BIN / "lstmc-opt"), *map(str, args)], input=stdin, capture_output=True, timeout=timeout)


def assert_opt_error(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmc-opt: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_opt_unterminated_hex_string_is_rejected_in_linear_time(tmp_path):
    """xDSL's string-literal regex backtracks exponentially on a missing quote (24 digits: seconds, 10k: forever)."""
    path = tmp_path / "cut.mlir"
    path.write_text('"builtin.module"() ({ %0 = "arith.constant"() {value = dense<"0x' + "A1" * 5000)
    assert_opt_error(
        lstmc_opt(path, "-o", tmp_path / "out.mlir"), "cut.mlir:1:", "End of file reached before closing string literal"
    )
    assert listing(tmp_path) == {"cut.mlir"}


def test_linear_string_literal_regex_accepts_what_xdsl_accepts():
    """The replacement regex matches exactly where xDSL's does (on short strings, where the old one is fast)."""
    from lstmc.xdsl_guard import LINEAR_STRING_LITERAL

    old = re.compile(r'"(?:[^"\\\n\v\f]+|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*"')
    rng = random.Random(11)
    alphabet = ['"', "\\", "n", "t", "a", "F", "0", "\n", "\v", " ", "é"]
    for _ in range(5000):
        text = '"' + "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        a, b = old.match(text), LINEAR_STRING_LITERAL.match(text)
        assert (a and a.group()) == (b and b.group()), repr(text)


@pytest.mark.parametrize(
    "text",
    ["builtin.module {" * 3000 + "}" * 3000, '"builtin.module"() ({' * 3000 + "}) : () -> ()" * 3000],
    ids=["custom", "generic"],
)
def test_opt_deep_nesting(tmp_path, text):
    (tmp_path / "deep.mlir").write_text(text)
    assert_opt_error(lstmc_opt(tmp_path / "deep.mlir", "-o", tmp_path / "out.mlir"), "deep.mlir", "nested too deeply")
    assert listing(tmp_path) == {"deep.mlir"}


@pytest.mark.parametrize(
    "spec,fragment",
    [
        (",,,", "cannot parse the pass specification ',,,' at column 1: Expected pass name here"),
        ("name{", "cannot parse the pass specification 'name{' at column 6: Expected argument name here"),
        ("a{b=[x", "cannot parse the pass specification 'a{b=[x'"),
        ("no-such-pass", "-p 'no-such-pass': Unrecognized passes: ['no-such-pass']"),
        (
            "qrnn-legalize-precision{error-budget=abc}",
            "-p 'qrnn-legalize-precision{error-budget=abc}': Incompatible types",
        ),
        ("qrnn-legalize-precision{bogus=1}", '"bogus"] not found in expected arguments'),
        ("qrnn-set-folding{pe=-1}", "qrnn-set-folding: pe must be >= 0"),
    ],
)
def test_opt_bad_pipelines(capsys, tmp_path, spec, fragment):
    (tmp_path / "in.mlir").write_text("builtin.module {}\n")
    one_line_error(
        capsys, opt.main, [tmp_path / "in.mlir", "-p", spec, "-o", tmp_path / "out.mlir"], fragment, tool="lstmc-opt"
    )
    assert listing(tmp_path) == {"in.mlir"}


def test_apply_pipeline_bad_spec_is_a_user_error():
    from xdsl.dialects.builtin import ModuleOp

    from lstmc.errors import LstmcError
    from lstmc.pipeline import apply_pipeline

    for spec, message in ((",,,", "Expected pass name here"), ("no-such-pass", "Unrecognized passes")):
        with pytest.raises(LstmcError, match=message):
            apply_pipeline(ModuleOp([]), spec)


@pytest.mark.parametrize(
    "case", ["missing", "directory", "binary", "extension", "out-dir", "out-missing-dir", "parse-error"]
)
def test_opt_bad_files(capsys, tmp_path, case):
    good = tmp_path / "in.mlir"
    good.write_text("builtin.module {}\n")
    binary = tmp_path / "bin.mlir"
    binary.write_bytes(b"\x00\x93\xff\xfebuiltin.module {}")
    (tmp_path / "in.txt").write_text("builtin.module {}\n")
    (tmp_path / "bad.mlir").write_text("builtin.module {\n  %x = qrnn.nonsense\n}\n")
    argv, fragments = {
        "missing": ([tmp_path / "nope.mlir"], ["nope.mlir: No such file or directory"]),
        "directory": ([tmp_path], [f"{tmp_path}: Is a directory"]),
        "binary": ([binary], ["bin.mlir: not UTF-8 text (byte 0x93 at offset 1)"]),
        "extension": ([tmp_path / "in.txt"], ["in.txt: Unrecognized file extension 'txt'", "-f"]),
        "out-dir": ([good, "-o", tmp_path], [f"-o {tmp_path}: is a directory"]),
        "out-missing-dir": ([good, "-o", tmp_path / "no" / "x.mlir"], ["does not exist"]),
        "parse-error": (
            [tmp_path / "bad.mlir", "-o", tmp_path / "out.mlir"],
            ["bad.mlir:", "Operation qrnn.nonsense is not registered"],
        ),
    }[case]
    before = listing(tmp_path)
    one_line_error(capsys, opt.main, argv, *fragments, tool="lstmc-opt")
    assert listing(tmp_path) == before


def test_opt_output_is_written_only_on_success(capsys, tmp_path):
    (tmp_path / "in.mlir").write_text("builtin.module {}\n")
    (tmp_path / "out.mlir").write_text("earlier result\n")
    one_line_error(
        capsys,
        opt.main,
        [tmp_path / "in.mlir", "-p", "no-such-pass", "-o", tmp_path / "out.mlir"],
        "Unrecognized passes",
        tool="lstmc-opt",
    )
    assert (tmp_path / "out.mlir").read_text() == "earlier result\n"
    assert opt.main([str(tmp_path / "in.mlir"), "-o", str(tmp_path / "out.mlir")]) == 0
    assert (tmp_path / "out.mlir").read_text().startswith("builtin.module {\n}\n")
    assert listing(tmp_path) == {"in.mlir", "out.mlir"}


def test_opt_usage_errors_are_one_line(capsys):
    one_line_error(capsys, opt.main, ["--no-such-flag"], "unrecognized arguments: --no-such-flag", tool="lstmc-opt")
    one_line_error(capsys, opt.main, ["-t", "nope"], "argument -t/--target: invalid choice: 'nope'", tool="lstmc-opt")


def test_opt_dash_is_stdin():
    proc = lstmc_opt("-", "-o", "-", stdin=b"builtin.module {}\n")
    assert proc.returncode == 0 and proc.stdout.startswith(b"builtin.module {\n}\n"), proc.stderr
    assert_opt_error(lstmc_opt("-", stdin=b"\xff"), "stdin: not UTF-8 text")
