"""Mutation fuzzing of the CLI over the shipped models: hostile input never runs code, writes stray files,
hangs or crashes lstmc.

Mutants come from `lstmc.fuzz` (node deletion, dtype/shape/value/attribute/opset/type mutations, rewiring,
hostile renames that keep the model valid, stacked mutations, truncation, bit flips) over every fixture and
example model, seeded and deterministic. Each runs in-process through `lstmc.cli.main` (fast), with the cwd an
empty directory, under a CPU- and wall-clock time limit and an address-space limit:
- `import MUTANT -o out/model.mlir` for all of them, then `compile` (into out/proj) for those that import;
- renames keep the model valid, so they must import and compile (exit 0; compile may refuse a graph input or
  output name too long for an .npz archive, 64 KiB, in one line), and the generated C++ and TCL must
  have the token structure of the unmutated model's (identifiers, string contents and comments may change;
  no token, printf directive, keyword or number may appear or vanish). A few of these projects are also
  checked with `g++ -fsyntax-only`, and a few run `run --stage csim` (kernel and testbench built and run with
  the hostile names), whose outputs must equal `run --stage integer`'s.
Properties, for every mutant and command:
- exit status 0 or 1, no exception escapes `main`, no hang, no Python warning on the user's terminal;
- on 1: stderr is exactly one line `lstmc: error: ...`, no traceback, no "internal error";
- on 1: nothing written (output dir, cwd, temp and cache dirs stay empty); on 0: only the requested output,
  all of it inside the output directory;
- no name creates a file: no `.lstmc-build` marker, no `PWNED` (what every injected command in the hostile
  names tries to create), nothing new beside the test's directory.
Canaries: output names carrying issue 11's testbench `printf` break-out (and newline / comment variants) must
not create PWNED through `lstmc compile` + `lstmc run --stage csim`. A last test checks that the harness
notices each kind of failure.

Failures name the mutant (`<index>-<operator>-<model>-<checks>`) and print a reproducer. Knobs (nightly runs:
`LSTMC_FUZZ_MUTANTS=5000 LSTMC_FUZZ_SEED=$(date +%j) pytest -m fuzz`): LSTMC_FUZZ_MUTANTS (default 300),
LSTMC_FUZZ_SEED (0), LSTMC_FUZZ_CSIM (csim runs, 3), LSTMC_FUZZ_SYNTAX (g++ -fsyntax-only checks, 4),
LSTMC_FUZZ_TIMEOUT (CPU seconds per command, 20; wall-clock 6 times that), LSTMC_FUZZ_MEMORY_GB (4).
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import HAVE_CSIM, ROOT, fixture_models, needs_csim

from lstmc.fuzz import CANARY, OPERATORS, exploit_names, mutate, plan, rename_value

pytestmark = pytest.mark.fuzz

MUTANTS = int(os.environ.get("LSTMC_FUZZ_MUTANTS", "300"))
SEED = int(os.environ.get("LSTMC_FUZZ_SEED", "0"))
N_CSIM = int(os.environ.get("LSTMC_FUZZ_CSIM", "3"))
N_SYNTAX = int(os.environ.get("LSTMC_FUZZ_SYNTAX", "4"))
TIME_LIMIT = float(os.environ.get("LSTMC_FUZZ_TIMEOUT", "20"))  # CPU seconds per command
WALL_FACTOR = 6  # and this many times that in wall-clock seconds
CSIM_TIME_LIMIT = max(TIME_LIMIT, 60.0)  # csim/g++ commands (g++ itself: 5-20 s wall-clock on a busy machine)
MEMORY_LIMIT = int(float(os.environ.get("LSTMC_FUZZ_MEMORY_GB", "4")) * 2**30)  # address space while a mutant runs
ABS_CANARY = Path("/tmp") / f"lstmc-fuzz-{CANARY}"  # the absolute path among the hostile names
SOURCES = [str(p.relative_to(ROOT)) for p in fixture_models()] + [
    "examples/tiny_lstm/model.onnx",
    "examples/stock/model.onnx",
]
_BYTES: dict[str, bytes] = {}


def source_bytes(source: str) -> bytes:
    if source not in _BYTES:
        _BYTES[source] = (ROOT / source).read_bytes()
    return _BYTES[source]


# ------------------------------------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class Case:
    index: int
    source: str
    operator: str
    seed: int
    checks: str  # "clean": succeed or fail cleanly; "valid": must import and compile; "syntax"/"csim": and more

    @property
    def valid(self) -> bool:
        return self.checks != "clean"

    @property
    def id(self) -> str:
        return (
            f"{self.index:04d}-{self.operator}-{Path(self.source).parent.name}.{Path(self.source).stem}-{self.checks}"
        )


def cases() -> list[Case]:
    out, n_csim, n_syntax = [], 0, 0
    for k, (source, operator, seed) in enumerate(plan(SOURCES, MUTANTS, SEED)):
        checks = "clean"
        if OPERATORS[operator].keeps_valid:
            checks = "valid"
            # csim where the hostile name reaches the testbench (graph inputs/outputs), on the one-layer
            # fixtures (the quickest kernels to build)
            if (
                n_csim < N_CSIM
                and operator in ("rename_output", "rename_colliding", "rename_input")
                and "/l1_" in source
            ):
                checks, n_csim = "csim", n_csim + 1
            elif n_syntax < N_SYNTAX and "stock" not in source:
                checks, n_syntax = "syntax", n_syntax + 1
        out.append(Case(k, source, operator, seed, checks))
    return out


CASES = cases()


# ------------------------------------------------------------------------------------------------ running
class MutantTimeout(BaseException):
    """Raised by SIGALRM in the main thread; a BaseException so that no `except Exception` in lstmc eats it."""


@contextmanager
def time_limit(seconds: float):
    """At most `seconds` of this process's CPU time (a busy machine does not trip it) and, for hangs that wait
    instead of spinning, at most WALL_FACTOR times that in wall-clock time."""

    def expire(signum, frame):
        what = "CPU" if signum == signal.SIGPROF else "wall-clock"
        raise MutantTimeout(f"more than {seconds if signum == signal.SIGPROF else seconds * WALL_FACTOR:g} s {what}")

    previous = {sig: signal.signal(sig, expire) for sig in (signal.SIGPROF, signal.SIGALRM)}
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * WALL_FACTOR)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass
class Outcome:
    argv: list[str]
    status: object = None
    stdout: str = ""
    stderr: str = ""  # what the user's terminal would show: stderr plus any Python warning
    escaped: str = ""  # "ExcType: message" of an exception that escaped main()
    where: str = ""  # innermost frame of lstmc's own code that raised it, and the innermost frame overall
    seconds: float = 0.0
    timed_out: bool = False
    warnings: list[str] = field(default_factory=list)


_REPO_DIRS = tuple(str(ROOT / d) + os.sep for d in ("lstmc", "passes", "dialects"))


def _locate(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename.startswith(_REPO_DIRS) and not f.filename.endswith("cli.py")]
    last = frames[-1] if frames else None
    parts = []
    if own:
        f = own[-1]
        parts.append(f"{os.path.relpath(f.filename, ROOT)}:{f.lineno} ({f.name})")
    if last is not None and (not own or last is not own[-1]):
        parts.append(f"raised in {last.filename.split('site-packages/')[-1]}:{last.lineno} ({last.name})")
    return "; ".join(parts)


def run_cli(argv: list[str], limit: float) -> Outcome:
    """`lstmc ARGV` in-process, output captured, under a time limit."""
    from lstmc.cli import main

    outcome = Outcome(argv)
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with warnings.catch_warnings(record=True) as caught, redirect_stdout(out), redirect_stderr(err):
        warnings.simplefilter("always")
        try:
            with time_limit(limit):
                outcome.status = main(argv)
        except MutantTimeout:
            outcome.timed_out = True
            outcome.escaped = str(sys.exc_info()[1])
        except SystemExit as e:  # argparse
            outcome.status = e.code
        except BaseException as e:  # noqa: BLE001 - exactly what this test looks for
            outcome.escaped = f"{type(e).__name__}: {str(e).strip()[:300]}"
            outcome.where = _locate(e)
    outcome.seconds = time.monotonic() - start
    outcome.stdout = out.getvalue()
    outcome.warnings = [
        f"{w.category.__name__}: {w.message} ({os.path.relpath(w.filename, ROOT)}:{w.lineno})" for w in caught
    ]
    outcome.stderr = err.getvalue() + "".join(f"{w}\n" for w in outcome.warnings)
    return outcome


def problems_of(outcome: Outcome) -> list[str]:
    """What is wrong with one command's outcome (empty when it meets the error contract)."""
    cmd = "lstmc " + outcome.argv[0] + (f" --stage {outcome.argv[-3]}" if outcome.argv[0] == "run" else "")
    if outcome.timed_out:
        return [f"{cmd}: hang: no answer within {outcome.escaped}"]
    if outcome.escaped:
        return [f"{cmd}: exception escaped main(): {outcome.escaped} at {outcome.where}"]
    found = []
    if outcome.status not in (0, 1):
        found.append(f"{cmd}: exit status {outcome.status!r} (expected 0 or 1)")
    if "Traceback" in outcome.stderr:
        found.append(f"{cmd}: traceback on stderr")
    if outcome.warnings:
        found.append(f"{cmd}: Python warning reaches the user: {outcome.warnings[0]}")
    if outcome.status == 1:
        lines = outcome.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("lstmc: error: "):
            found.append(f"{cmd}: stderr is not one 'lstmc: error:' line: {outcome.stderr[:600]!r}")
        if "internal error" in outcome.stderr.lower():
            found.append(f"{cmd}: reports an internal error: {outcome.stderr[:300]!r}")
    return found


# ------------------------------------------------------------------------------------------------ files
# onnxruntime's own files (telemetry session id, device id), written on first use whatever lstmc does
THIRD_PARTY = (".ses", "Microsoft")


def tree(directory: Path, ignore: tuple[str, ...] = ()) -> set[str]:
    """Every path under a directory (relative, directories too), symlinks not followed, except those whose
    first component is in `ignore`."""
    if not directory.exists():
        return set()
    paths = {p.relative_to(directory) for p in directory.rglob("*")}
    return {str(p) for p in paths if p.parts[0] not in ignore}


def stray_names(tmp_path: Path, allowed: Path | None = None) -> list[str]:
    """Files a name may have created: .lstmc-build markers outside `allowed`, PWNED anywhere near."""
    found = []
    for root in (tmp_path, tmp_path.parent):
        entries = root.rglob("*") if root == tmp_path else root.iterdir()
        for p in entries:
            if p.name == ".lstmc-build" and (allowed is None or allowed not in p.parents):
                found.append(f"marker file {p}")
            if CANARY in p.name:
                found.append(f"canary file {p} (an injected command ran)")
    if ABS_CANARY.exists() or Path(str(ABS_CANARY) + ".mlir").exists():
        found.append(f"canary file {ABS_CANARY} (a name was used as a path)")
    return found


@contextmanager
def memory_limit(limit: int):
    """A mutant that declares a huge shape must fail with MemoryError, not take the (shared) machine's memory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """in/ (the mutant), out/ (outputs), work/ (the cwd), tmp/ (the temp dir), cache/ (XDG cache): all empty
    but in/. Returns tmp_path; also checks nothing appeared beside it."""
    for d in ("in", "out", "work", "tmp", "cache"):
        (tmp_path / d).mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for p in (ABS_CANARY, Path(str(ABS_CANARY) + ".mlir")):
        if p.exists() and not p.is_dir():
            p.unlink()
    beside = set(os.listdir(tmp_path.parent))
    with memory_limit(MEMORY_LIMIT):
        yield tmp_path
    appeared = set(os.listdir(tmp_path.parent)) - beside
    assert not appeared, f"files appeared beside the test directory: {sorted(appeared)}"


def reproducer(case: Case) -> str:
    cmd = (
        f"cd {ROOT} && .venv/bin/python -m lstmc.fuzz {shlex.quote(case.source)} {case.operator} {case.seed} "
        f"-o /tmp/mutant.onnx && .venv/bin/lstmc import /tmp/mutant.onnx -o /tmp/mutant.mlir && "
        f".venv/bin/lstmc compile /tmp/mutant.onnx -o /tmp/mutant_prj --golden 1"
    )
    if case.checks == "csim":
        cmd += " && .venv/bin/lstmc run /tmp/mutant.onnx --inputs IN.npz --stage csim"
    return cmd


def syntax_check(project: Path) -> str:
    """g++ -fsyntax-only on every .cpp of a project; '' if they all parse."""
    from lstmc.hls.project import ap_types_dir

    for src in sorted(project.glob("*.cpp")):
        proc = subprocess.run(
            ["g++", "-std=c++14", "-fsyntax-only", "-w", f"-I{ap_types_dir()}", f"-I{project}", str(src)],
            capture_output=True,
            text=True,
            timeout=CSIM_TIME_LIMIT,
        )
        if proc.returncode != 0:
            return f"g++ -fsyntax-only {src.name} fails:\n{proc.stderr[-1500:]}"
    return ""


# The generated C++ (and TCL) of a renamed model must have the token structure of the original model's: identifiers may
# change (legalized names) and so may string contents (escaped names) and comments, nothing else. An injected
# name shows up as extra tokens, a keyword or number where an identifier was, or a broken literal/comment.
_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<comment>//(?:[^\n\\]|\\.)*|/\*.*?\*/)|(?P<string>"(?:\\.|[^"\\\n])*")"""
    r"""|(?P<char>'(?:\\.|[^'\\\n])*')|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>[0-9][A-Za-z0-9_.]*)"""
    r"""|(?P<punct>.)""",
    re.S,
)
CPP_RESERVED = set(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char16_t char32_t
class compl const constexpr const_cast continue decltype default delete do double dynamic_cast else enum explicit
export extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq nullptr
operator or or_eq private protected public register reinterpret_cast return short signed sizeof static
static_assert static_cast struct switch template this thread_local throw true try typedef typeid typename union
unsigned using virtual void volatile wchar_t while xor xor_eq NULL EOF errno stdin stdout stderr assert""".split()
)


def cpp_structure(text: str) -> list[tuple[str, int]]:
    """(token, line) of C++ source with identifiers as ID, string literals as STR (a printf format string as
    FMT<number of % directives>: a name must not add one), char literals as CHR, comments and spaces dropped."""
    out, raw, line = [], [], 1
    for m in _TOKEN.finditer(text):
        kind, tok = m.lastgroup, m.group()
        line += tok.count("\n")
        if kind in ("ws", "comment"):
            continue
        start = line - tok.count("\n")
        if kind == "ident":
            out.append((tok if tok in CPP_RESERVED else "ID", start))
        elif kind == "string":
            fmt = raw[-2:] in (["printf", "("], ["sprintf", "("]) or (
                len(raw) >= 4 and raw[-4] == "fprintf" and raw[-3] == "(" and raw[-1] == ","
            )
            out.append((f"FMT{tok.replace('%%', '').count('%')}" if fmt else "STR", start))
        elif kind == "char":
            out.append(("CHR", start))
        else:
            out.append((tok, start))
        raw.append(tok)
    return out


_ORIGINAL: dict[str, Path | None] = {}


def original_project(source: str, base: Path) -> Path | None:
    """The project `lstmc compile` writes for the unmutated model (once per session), or None if it fails."""
    if source not in _ORIGINAL:
        project = base / f"original-{len(_ORIGINAL)}"
        outcome = run_cli(["compile", str(ROOT / source), "-o", str(project), "--golden", "1"], CSIM_TIME_LIMIT)
        _ORIGINAL[source] = project if outcome.status == 0 else None
    return _ORIGINAL[source]


def tcl_structure(text: str) -> list[str]:
    """Per non-comment line of a TCL script, its TCL metacharacters (escaped ones dropped)."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [re.sub(r"[^\[\]{}$;\"]", "", re.sub(r"\\.", "", ln)) for ln in lines]


def structure_check(project: Path, original: Path) -> list[str]:
    found = []
    for ref in sorted(original.glob("*.tcl")):
        mine = project / ref.name
        if not mine.exists() or tcl_structure(mine.read_text(errors="replace")) != tcl_structure(ref.read_text()):
            found.append(f"a name changed the TCL structure of {ref.name} (or it is missing)")
    for ref in sorted([*original.glob("*.cpp"), *original.glob("*.h")]):
        mine = project / ref.name
        if not mine.exists():
            found.append(f"{ref.name} is missing from the project")
            continue
        text = mine.read_text(errors="replace")
        a, b = cpp_structure(ref.read_text()), cpp_structure(text)
        for k in range(max(len(a), len(b))):
            if k >= len(a) or k >= len(b) or a[k][0] != b[k][0]:
                line = b[min(k, len(b) - 1)][1] if b else 1
                got = b[k][0] if k < len(b) else "end of file"
                want = a[k][0] if k < len(a) else "end of file"
                found.append(
                    f"a name changed the C++ structure of {ref.name} at line {line} (token {got!r} where "
                    f"the original has {want!r}): {text.splitlines()[line - 1][:300]!r}"
                )
                break
    return found


def random_inputs_npz(model_path: Path, path: Path) -> None:
    from lstmc.cli import random_inputs

    model = onnx.load(str(model_path), load_external_data=False)
    inputs: dict[str, Any] = random_inputs(model, 2, 0)  # any type: savez's own `allow_pickle` is a keyword
    np.savez(path, **inputs)


NPZ_NAME_LIMIT = 65531  # bytes: a zip member name holds at most 65535, np.savez adds ".npy"


def _has_huge_port_name(data: bytes) -> bool:
    """A graph input/output name too long for the .npz files compile writes (golden.npz): compile may refuse
    it (cleanly) instead of legalizing it."""
    graph = onnx.ModelProto.FromString(data).graph
    return any(len(v.name.encode()) > NPZ_NAME_LIMIT - len("output_") for v in (*graph.input, *graph.output))


def check_mutant(case: Case, data: bytes, label: str, sandbox: Path, originals: Path) -> list[str]:
    """Run one mutant through lstmc; returns the list of problems found."""
    model = sandbox / "in" / "model.onnx"
    model.write_bytes(data)
    out, work, tmp, cache = (sandbox / d for d in ("out", "work", "tmp", "cache"))
    problems: list[str] = []

    def check_dirs(expected_out: set[str], allow_temp: bool = False) -> None:
        got = set(os.listdir(out))
        if got != expected_out:
            problems.append(f"output dir holds {sorted(got)}, expected {sorted(expected_out)}")
        if os.listdir(work):
            problems.append(f"files written into the cwd: {sorted(tree(work))[:10]}")
        left = tree(tmp, THIRD_PARTY) | tree(cache, THIRD_PARTY)
        if not allow_temp and left:
            problems.append(f"files left in the temp/cache dir: {sorted(left)[:10]}")
        unexpected = set(os.listdir(sandbox)) - {"in", "out", "work", "tmp", "cache"}
        if unexpected:
            problems.append(f"files written beside the output dir: {sorted(unexpected)}")
        problems.extend(stray_names(sandbox, allowed=out / "proj" if "proj" in expected_out else None))

    # import
    ir = out / "model.mlir"
    outcome = run_cli(["import", str(model), "-o", str(ir)], TIME_LIMIT)
    problems += problems_of(outcome)
    check_dirs({"model.mlir"} if outcome.status == 0 else set())
    if case.valid and outcome.status != 0:
        problems.append(f"a valid model (only names changed) is refused by import: {outcome.stderr.strip()[:300]}")
    if problems or outcome.status != 0:
        return problems
    ir.unlink()

    # compile (every mutant that imports)
    project = out / "proj"
    outcome = run_cli(["compile", str(model), "-o", str(project), "--golden", "1"], TIME_LIMIT)
    problems += problems_of(outcome)
    check_dirs({"proj"} if outcome.status == 0 else set())
    if case.valid and outcome.status != 0 and not (outcome.status == 1 and _has_huge_port_name(data)):
        problems.append(f"a valid model (only names changed) is refused by compile: {outcome.stderr.strip()[:300]}")
    if problems or outcome.status != 0:
        return problems
    for p in project.rglob("*"):
        if p.is_symlink() or project.resolve() not in p.resolve().parents:
            problems.append(f"compile wrote {p}, which is (or points) outside the project")
    try:
        json.loads((project / "report.json").read_text())
    except (OSError, ValueError) as e:
        problems.append(f"report.json is not readable JSON: {e}")

    if case.valid:
        original = original_project(case.source, originals)
        if original is not None:
            problems.extend(structure_check(project, original))
    if case.checks == "syntax" and HAVE_CSIM:
        with time_limit(CSIM_TIME_LIMIT):
            msg = syntax_check(project)
        if msg:
            problems.append(msg)
    if case.checks == "csim" and HAVE_CSIM:
        shutil.rmtree(project)
        inputs = sandbox / "in" / "inputs.npz"
        random_inputs_npz(model, inputs)
        results = {}
        for stage, limit in (("integer", TIME_LIMIT), ("csim", CSIM_TIME_LIMIT)):
            outcome = run_cli(
                ["run", str(model), "--inputs", str(inputs), "--stage", stage, "--output", str(out / f"{stage}.npz")],
                limit,
            )
            problems += problems_of(outcome)
            if outcome.status != 0:
                problems.append(f"run --stage {stage} fails on a valid model: {outcome.stderr.strip()[:1500]}")
                break
            with np.load(out / f"{stage}.npz") as z:
                results[stage] = {k: z[k] for k in z.files}
        check_dirs({f"{s}.npz" for s in results}, allow_temp=True)
        if len(results) == 2:
            a, b = results["integer"], results["csim"]
            if set(a) != set(b) or any(not np.array_equal(a[k], b[k]) for k in a):
                problems.append("csim outputs differ from the integer stage's (ports swapped or mis-named?)")
    return problems


# ------------------------------------------------------------------------------------------------ tests
@pytest.fixture(scope="session")
def originals(tmp_path_factory) -> Path:
    """Where the unmutated models' projects go (compiled once, for structure_check)."""
    return tmp_path_factory.mktemp("originals")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_mutant(case: Case, originals: Path, sandbox: Path):
    if case.checks in ("syntax", "csim") and not HAVE_CSIM:
        case = Case(case.index, case.source, case.operator, case.seed, "valid")
    mutant = mutate(source_bytes(case.source), case.operator, case.seed, case.source)
    problems = check_mutant(case, mutant.data, mutant.label, sandbox, originals)
    assert not problems, (
        f"mutant {case.id}: {mutant.label}\n  " + "\n  ".join(problems) + f"\nreproduce: {reproducer(case)}"
    )
    for d in ("in", "out"):  # keep the disk use of a 5000-mutant run small; failures keep theirs
        shutil.rmtree(sandbox / d)


def test_enough_mutants():
    """The CI run covers at least 300 mutants and every operator on several models."""
    assert len(CASES) >= 300 or "LSTMC_FUZZ_MUTANTS" in os.environ
    assert {c.operator for c in CASES} == set(OPERATORS)
    assert len({c.source for c in CASES}) >= 10


def test_mutants_are_deterministic():
    for case in CASES[:40]:
        a = mutate(source_bytes(case.source), case.operator, case.seed, case.source)
        b = mutate(source_bytes(case.source), case.operator, case.seed, case.source)
        assert a == b, case.id


def test_renames_keep_the_model_valid():
    """The rename operators are the ones that reach the code generator: their mutants pass onnx.checker."""
    for case in CASES:
        if OPERATORS[case.operator].keeps_valid:
            mutant = mutate(source_bytes(case.source), case.operator, case.seed, case.source)
            onnx.checker.check_model(onnx.ModelProto.FromString(mutant.data), full_check=True)


CANARY_MODEL = "tests/fixtures/l1_w8_float.onnx"


CANARIES = {
    # issue 11's exploit, alone: the clearest failure
    "printf": {"Y": exploit_names()[0]},
    # the newline and comment break-outs together (one g++ build): if one of them breaks the build instead of
    # running, the test still fails (a valid model refused)
    "newline-and-comments": {"Y": exploit_names()[1], "h_n": exploit_names()[2], "c_n": exploit_names()[3]},
}


@needs_csim
@pytest.mark.parametrize("variant", list(CANARIES))
def test_canary_exploit_name_runs_nothing(variant: str, originals: Path, sandbox: Path):
    """Issue 11's exploit: output names that break out of the testbench's printf string (or of a comment) and
    call popen("touch PWNED"). Through `lstmc compile` and `lstmc run --stage csim` no PWNED may appear, and
    the model (valid ONNX) must compile and C-simulate."""
    model = onnx.load(str(ROOT / CANARY_MODEL))
    for old, new in CANARIES[variant].items():
        rename_value(model, old, new)
    onnx.checker.check_model(model, full_check=True)
    case = Case(-1, CANARY_MODEL, "canary", 0, "csim")
    problems = check_mutant(case, model.SerializeToString(), f"canary {variant}", sandbox, originals)
    time.sleep(0.3)  # popen's shell runs asynchronously
    problems += [p for p in stray_names(sandbox, allowed=sandbox / "out" / "proj") if p not in problems]
    assert not problems, f"canary names {CANARIES[variant]}:\n  " + "\n  ".join(problems)


def _bad_mains():
    """Stand-ins for lstmc.cli.main that break the contract, each in one way."""

    def traceback_(argv):
        raise KeyError("boom")

    def two_lines(argv):
        print("lstmc: error: first\nsecond", file=sys.stderr)
        return 1

    def stray_file(argv):
        Path("left-behind").write_text("x")
        print("lstmc: error: refused", file=sys.stderr)
        return 1

    def marker(argv):
        (Path.cwd().parent / ".lstmc-build").write_text("")
        print("lstmc: error: refused", file=sys.stderr)
        return 1

    def spin(argv):
        while True:
            pass

    def status(argv):
        return 3

    return {
        "traceback": (traceback_, "exception escaped main(): KeyError"),
        "two-lines": (two_lines, "not one 'lstmc: error:' line"),
        "stray-file": (stray_file, "files written into the cwd"),
        "marker": (marker, "marker file"),
        "hang": (spin, "hang: no answer within more than 0.5 s CPU"),
        "status": (status, "exit status 3"),
    }


@pytest.mark.parametrize("kind", list(_bad_mains()))
def test_harness_notices_each_kind_of_failure(kind: str, originals: Path, sandbox: Path, monkeypatch):
    """The checks are not vacuous: a main() that breaks the contract in one way is caught."""
    import lstmc.cli

    bad_main, expected = _bad_mains()[kind]
    monkeypatch.setattr(lstmc.cli, "main", bad_main)
    monkeypatch.setattr(sys.modules[__name__], "TIME_LIMIT", 0.5)
    case = Case(-1, CANARY_MODEL, "harness", 0, "clean")
    problems = check_mutant(case, source_bytes(CANARY_MODEL), kind, sandbox, originals)
    assert any(expected in p for p in problems), problems
    for p in sandbox.rglob("*"):  # leave the sandbox clean for its own after-check
        if p.name in (".lstmc-build", "left-behind"):
            p.unlink()
