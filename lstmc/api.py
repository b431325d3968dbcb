"""lstmc's Python API: load a model once, then run, verify, estimate and compile it (hls4ml's convert -> predict ->
build, for quantized LSTMs).

    import lstmc

    design = lstmc.load("model.onnx", board="zcu104", clock_ns=4)
    outputs = design.run({"X": x}, stage="integer")   # {output name: array}; stages as `lstmc run --stage`
    report = design.verify(random=16)                  # every stage against onnxruntime: report.ok, report.rows
    estimate = design.estimate(pe=4, simd=2)           # lstmc.qor.Report: .cycles, .total.lut, .format_table()
    project = design.compile("build/kernel")           # the Vitis HLS project: .path, .files, .report

`lstmc run/verify/estimate/compile` are thin layers over these, so the API checks exactly what the CLI checks and
raises the same `LstmcError` (one line naming the option, file or model value) for a user mistake. Options given
to `load` are the defaults of every later call; a call can override them. A design that does not fit its part
raises no error: `estimate` and `compile` emit a `FitWarning` (the CLI prints it as one `lstmc: warning:` line).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lstmc.errors import LstmcError, one_line
from lstmc.parts import DEFAULT_CLOCK_NS

ACT_IMPLS = ("threshold", "lut", "auto")
THRESHOLD_INPUTS = ("aligned", "accumulator")
DEFAULT_KERNEL = "lstmc_kernel"


class FitWarning(UserWarning):
    """The estimated design uses more of a resource than the part has."""


# ------------------------------------------------------------------------------------------ part and clock
def choose_part(part: str | None = None, board: str | None = None):
    """The lstmc.parts.Part named by `part` (a part name or board alias) or `board` (a board name only); the
    default part (ZCU104's) when neither is given."""
    from lstmc.parts import BOARDS, DEFAULT_PART, resolve_part

    if part is not None and board is not None:
        raise LstmcError("give --part or --board, not both")
    if board is not None:
        found = BOARDS.get(str(board).strip().lower())
        if found is None:
            raise LstmcError(f"--board {board!r} is not a board lstmc knows; boards: {', '.join(BOARDS)}")
        return found
    return DEFAULT_PART if part is None else resolve_part(part)


def check_clock(clock_ns: float | None = None, clock_mhz: float | None = None) -> float:
    """The clock period in ns from `clock_ns` or the deprecated `clock_mhz` (default 5 ns = 200 MHz)."""
    from lstmc.parts import DEFAULT_CLOCK_NS, check_clock_ns

    if clock_ns is not None and clock_mhz is not None:
        raise LstmcError("give --clock-ns only (--clock-mhz is its deprecated alias)")
    if clock_mhz is not None:
        if not isinstance(clock_mhz, (int, float)) or not clock_mhz > 0:
            raise LstmcError(f"--clock-mhz must be positive, got {clock_mhz}")
        return check_clock_ns(1000.0 / clock_mhz)
    return check_clock_ns(DEFAULT_CLOCK_NS if clock_ns is None else clock_ns)


def fit_warning(utilisation: dict[str, float], part) -> str | None:
    """One line naming every resource above 100% of `part` (an lstmc.parts.Part or its asdict), else None."""
    over = {k: v for k, v in utilisation.items() if v > 100.0}
    if not over:
        return None
    name = part["name"] if isinstance(part, dict) else part.name
    board = part.get("board") if isinstance(part, dict) else part.board
    used = ", ".join(f"{k.upper()} {v:.1f}%" for k, v in over.items())
    return f"the design does not fit {name}{f' ({board})' if board else ''}: estimated {used} of the part"


# ------------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Settings:
    """What `load` and each call may set; the CLI options of the same names."""

    part: Any = None  # lstmc.parts.Part
    clock_ns: float = DEFAULT_CLOCK_NS
    pe: int = 0
    simd: int = 0
    folding: str = ""
    target_cycles: int = 0
    act_impl: str = "auto"
    kernel_name: str = DEFAULT_KERNEL
    threshold_input: str = "accumulator"
    axis_bits: int = 0  # TDATA bits of every port (several codes per beat); 0: one code per beat

    def check(self) -> Settings:
        from lstmc.passes.hlscpp_prepare_emission import is_cpp_identifier

        if self.part is None:
            return replace(self, part=choose_part()).check()
        for option, value in (("--pe", self.pe), ("--simd", self.simd), ("--target-cycles", self.target_cycles)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise LstmcError(f"{option} must be an integer >= 0, got {value!r}")
        modes = [
            m
            for m, on in (
                ("--pe/--simd", self.pe or self.simd),
                ("--folding", self.folding),
                ("--target-cycles", self.target_cycles),
            )
            if on
        ]
        if len(modes) > 1:
            raise LstmcError(
                f"choose one folding mode: give only one of --pe/--simd, --folding or --target-cycles "
                f"(got {' and '.join(modes)})"
            )
        if self.act_impl not in ACT_IMPLS:
            raise LstmcError(f"--act-impl {self.act_impl!r}: choose one of {', '.join(ACT_IMPLS)}")
        if self.threshold_input not in THRESHOLD_INPUTS:
            raise LstmcError(f"--threshold-input {self.threshold_input!r}: choose one of {', '.join(THRESHOLD_INPUTS)}")
        if self.axis_bits != 0 or not isinstance(self.axis_bits, int):
            from lstmc.ports import check_axis_bits

            check_axis_bits(self.axis_bits, "--axis-bits", LstmcError)
        reason = is_cpp_identifier(self.kernel_name) if isinstance(self.kernel_name, str) else "it is not a string"
        if reason:
            raise LstmcError(
                f"--kernel-name {str(self.kernel_name)[:40]!r} is not usable as a C++ function name: {reason}"
            )
        return self


def _settings(
    base: Settings,
    part=None,
    board=None,
    clock_ns=None,
    pe=None,
    simd=None,
    folding=None,
    target_cycles=None,
    act_impl=None,
    kernel_name=None,
    axis_bits=None,
) -> Settings:
    """`base` with the given options replaced. Folding options replace each other: giving one mode drops the
    folding `base` had, so `load(..., pe=4).estimate(target_cycles=N)` is not a conflict."""
    changes: dict[str, Any] = {}
    if part is not None or board is not None:
        changes["part"] = choose_part(part, board)
    if clock_ns is not None:
        changes["clock_ns"] = check_clock(clock_ns)
    folding_given = {
        k: v
        for k, v in (("pe", pe), ("simd", simd), ("folding", folding), ("target_cycles", target_cycles))
        if v is not None
    }
    if folding_given:
        changes.update({"pe": 0, "simd": 0, "folding": "", "target_cycles": 0, **folding_given})
    if act_impl is not None:
        changes["act_impl"] = act_impl
    if kernel_name is not None:
        changes["kernel_name"] = kernel_name
    if axis_bits is not None:
        changes["axis_bits"] = axis_bits
    return replace(base, **changes).check()


# ------------------------------------------------------------------------------------------------ progress
class Progress:
    """One self-rewriting status line on stderr while a task runs (`label: task  done/total sequences  time`),
    cleared when the task ends, so lines printed between tasks are never mixed with it. It is shown only when
    stderr is a terminal: piped or captured output gets nothing."""

    interval = 0.5  # seconds between redraws while nothing else happens (the elapsed time keeps moving)

    def __init__(self, label: str, enabled: bool | None = None, stream=None):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._task: tuple[str, int | None, float] | None = None
        self._done = 0

    @contextmanager
    def task(self, name: str, total: int | None = None):
        if not self.enabled:
            yield self
            return
        self._task, self._done = (name, total, time.monotonic()), 0
        stop = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(stop,), daemon=True)
        self._draw()
        ticker.start()
        try:
            yield self
        finally:
            stop.set()
            ticker.join()
            with self._lock:
                self._task = None
                self._write("\r\x1b[K")

    def advance(self, count: int) -> None:
        self._done += count
        if self.enabled:
            self._draw()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self._draw()

    def _draw(self) -> None:
        with self._lock:
            if self._task is None:
                return
            name, total, start = self._task
            now = time.monotonic()
            done = f"{self._done}/{total} sequences" if total is not None else "1 sequence"
            line = f"{self.label}: {name}  {done}  {now - start:.1f} s (total {now - self.started:.1f} s)"
            width = shutil.get_terminal_size((80, 24)).columns
            self._write("\r" + one_line(line)[: max(width - 1, 10)] + "\x1b[K")  # no wrap: \r must reach its start

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal must not fail the computation
            self.enabled = False


def _progress(value, label: str) -> Progress:
    return value if isinstance(value, Progress) else Progress(label, enabled=value)


# With a progress line, a batch of more than CHUNKED_ABOVE sequences runs in chunks of about CHUNK_SECONDS each (a
# stage call has a fixed cost, 0.1-0.6 s on the stock model, so smaller batches go in one call: the line then
# shows the elapsed time until the stage is done).
CHUNKED_ABOVE = 64
FIRST_CHUNK = 32
CHUNK_SECONDS = 3.0


def run_chunked(run: Callable[[dict], dict], inputs: dict, count: int | None, progress: Progress) -> dict:
    """`run(inputs)` (a stage over a batch of `count` sequences, None when unbatched). With the progress line
    shown, a large batch goes through in chunks whose size adapts to take about CHUNK_SECONDS, so the line can
    count sequences; every stage treats sequences independently, so the concatenation is the whole batch's
    result. Without the line, one call."""
    import numpy as np

    if not progress.enabled or count is None or count <= CHUNKED_ABOVE:
        out = run(inputs)
        progress.advance(count or 1)
        return out
    parts: list[dict] = []
    start, size = 0, FIRST_CHUNK
    while start < count:
        size = min(size, count - start)
        chunk = {k: v[start : start + size] for k, v in inputs.items()}
        began = time.monotonic()
        try:
            parts.append(run(chunk))
        except LstmcError as e:  # a message that counts sequences counts them within the chunk
            raise LstmcError(
                re.sub(r"\bsequence (\d+)\b", lambda m: f"sequence {int(m.group(1)) + start}", str(e))
            ) from e
        rate = size / max(time.monotonic() - began, 1e-3)
        start += size
        progress.advance(size)
        size = max(size, min(4 * size, int(rate * CHUNK_SECONDS)))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ------------------------------------------------------------------------------------------------ inputs
def _sequence_count(model, inputs: dict) -> int | None:
    """N when the inputs are a batch of N sequences (a leading axis beyond the model's input shape), else None."""
    import numpy as np

    from lstmc.arrays import input_shapes

    for name, shape in input_shapes(model).items():
        if shape is not None and name in inputs:
            arr = inputs[name]
            return int(np.shape(arr)[0]) if np.ndim(arr) == len(shape) + 1 else None
    return None


def _as_arrays(model, inputs, label: str = "inputs") -> dict:
    """The user's inputs as {graph input name: float32 array}, checked as `lstmc run --inputs` checks an .npz:
    an .npz path, a dict keyed by graph input names (arrays named like a graph output are skipped), or one array
    when the model has one input. Each array is one sequence (the input's shape) or a batch (one extra axis)."""
    import numpy as np

    from lstmc.arrays import batch_size, input_shapes, load_inputs

    if isinstance(inputs, (str, os.PathLike)):
        return load_inputs(os.fspath(inputs), model)
    expected = input_shapes(model)
    if isinstance(inputs, np.ndarray):
        if len(expected) != 1:
            raise LstmcError(
                f"{label}: one array given, but the model takes {len(expected)} inputs "
                f"({', '.join(expected)}); pass a dict keyed by their names"
            )
        inputs = {next(iter(expected)): inputs}
    if not isinstance(inputs, dict):
        raise LstmcError(
            f"{label}: expected a dict of arrays keyed by graph input names, an array or an .npz path; "
            f"got {type(inputs).__name__}"
        )
    outputs = {o.name for o in model.graph.output}
    missing = [k for k in expected if k not in inputs]
    if missing:
        raise LstmcError(f"{label}: missing input(s) {', '.join(missing)}; the model takes {', '.join(expected)}")
    extra = [str(k) for k in inputs if k not in expected and k not in outputs]
    if extra:
        raise LstmcError(f"{label}: unexpected array(s) {', '.join(extra)}; the model takes {', '.join(expected)}")
    arrays, forms = {}, {}
    for name in expected:
        value = np.asarray(inputs[name])
        if value.dtype.kind not in "fiu":
            raise LstmcError(
                f"{label}: array '{name}' has dtype {value.dtype}; inputs must be float or integer numbers"
            )
        if value.size == 0:
            raise LstmcError(
                f"{label}: array '{name}' is empty (shape {list(value.shape)}); give at least one sequence"
            )
        forms[name] = batch_size(value.shape, expected[name], label, name)
        with np.errstate(over="ignore"):
            arrays[name] = value.astype(np.float32)
    if len({n is None for n in forms.values()}) > 1 or len({n for n in forms.values() if n is not None}) > 1:
        raise LstmcError(
            f"{label}: every input must be one sequence or a batch of the same N; got "
            + ", ".join(f"'{k}' {'one sequence' if n is None else f'a batch of {n}'}" for k, n in forms.items())
        )
    return arrays


# ------------------------------------------------------------------------------------------------ verify
@dataclass
class StageResult:
    """One stage of `verify`: its check against the reference and, for dataflow and csim, against the integer
    stage (always bit for bit). `report` is None for the reference itself, which is what the others are
    compared with."""

    stage: str
    report: Any = None  # lstmc.verify.StageReport
    vs_integer: Any = None  # lstmc.verify.StageReport
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.report is None or self.report.ok) and (self.vs_integer is None or self.vs_integer.ok)

    @property
    def rows(self) -> list:
        """lstmc.stages.Comparison per output: elements, mismatches, max_lsb, ties, real."""
        return [] if self.report is None else list(self.report.rows)

    def lines(self) -> list[str]:
        """What `lstmc verify` prints for this stage."""
        stage = self.stage
        if self.report is None:
            return [
                f"{stage:<10} {'(baseline)':<12} onnxruntime (ORT_ENABLE_BASIC), one sequence at a time: every "
                "other stage is compared with it"
            ]
        report, out = self.report, []

        def listing(label, verdicts, limit=10):
            for i, v in enumerate(sorted(verdicts, key=lambda v: v.sequence)):
                if i == limit:
                    out.append(f"{stage:<10} {label:<12} ... and {len(verdicts) - limit} more")
                    break
                out.append(f"{stage:<10} {label:<12} {v.describe()}")

        for row in report.rows:
            lsb = "-" if row.max_lsb is None else f"{row.max_lsb:.3g}"
            ties = "-" if row.ties is None else str(row.ties)
            real = "-" if row.real is None else str(row.real)
            out.append(
                f"{stage:<10} {row.output:<12} {row.elements:>10} {row.mismatches:>9} {row.rate:>10.2e} "
                f"{lsb:>8} {ties:>8} {real:>8}"
            )
        if report.ties:
            worst = report.tie_max_lsb
            out.append(
                f"{stage:<10} {'ties':<12} {len(report.ties)} mismatching sequences first diverge at a float32 "
                f"rounding tie (largest output error {'-' if worst is None else f'{worst:.3g}'} LSB):"
            )
            listing("  tie", report.ties)
        if report.rounded:  # the third class (lstmc.tie_trace, "Unquantized outputs"): neither a tie nor a bug
            elements = sum(r.rounded or 0 for r in report.rows)
            worst = max(report.rounded, key=lambda v: v.worst_rounding.ulps)
            out.append(
                f"{stage:<10} {'rounding':<12} {elements} elements in {len(report.rounded)} sequences differ by "
                f"float32 rounding of an unquantized output (no quantizer diverges there), largest "
                f"{report.rounded_max_ulp:.3g} ulp; worst: sequence {worst.sequence}, "
                f"{worst.worst_rounding.describe()}"
            )
        listing("REAL", report.real)
        out.append(
            f"{stage:<10} {'contract':<12} {report.contract}: {'OK' if report.ok else 'FAIL - ' + report.reason}"
        )
        if self.vs_integer is not None:
            same = self.vs_integer
            differing = sum(r.mismatches for r in same.rows)
            out.append(
                f"{stage:<10} {'vs integer':<12} bit-exact with the integer stage: "
                f"{'OK' if same.ok else f'FAIL - {differing} mismatching elements'}"
            )
        return out


@dataclass
class VerifyReport:
    """What `Design.verify` found: `ok` when every stage meets the verification contract (README)."""

    source: str  # where the inputs came from
    sequences: int | None  # N, or None for one unbatched sequence
    power_of_two: bool  # every scale a power of two
    exact: bool  # ... and the reference computes without rounding: the bit-exact contract applies
    stages: dict[str, StageResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.stages.values())

    @property
    def rows(self) -> list[tuple[str, Any]]:
        """(stage, lstmc.stages.Comparison) for every output of every compared stage."""
        return [(s, row) for s, r in self.stages.items() for row in r.rows]

    def header(self, model: str) -> list[str]:
        scales = "all powers of two" if self.power_of_two else "not all powers of two"
        if self.power_of_two and not self.exact:
            scales += " (but the reference rounds: float32 arithmetic off a power-of-two grid)"
        return [
            f"lstmc verify {model}: {self.source}; scales: {scales}",
            f"{'stage':<10} {'output':<12} {'elements':>10} {'mismatch':>9} {'rate':>10} {'max LSB':>8} "
            f"{'ties':>8} {'real':>8}",
        ]

    @property
    def verdict(self) -> str:
        return "all stages meet the contract" if self.ok else "FAILED: a stage breaks the verification contract"

    def format(self, model: str = "") -> str:
        lines = self.header(model)
        for r in self.stages.values():
            lines += r.lines()
        return "\n".join([*lines, self.verdict])


# ------------------------------------------------------------------------------------------------ compile
@dataclass
class Project:
    """A Vitis HLS project `Design.compile` wrote: its directory, every file in it (relative paths, the
    manifest included) and report.json's content."""

    path: Path
    files: list[str]
    report: dict
    warning: str | None = None  # the project directory's own (an old project kept aside), else None

    def summary(self, shown: str | None = None) -> str:
        return f"wrote {shown or self.path}: {', '.join(self.files)}"


def compile_project(model, out_dir, options, source: str = "") -> Project:
    """lstmc.compile.compile_model plus what the caller reports: the files written and whether the design fits
    its part (FitWarning)."""
    from lstmc import project_dir
    from lstmc.compile import compile_model

    report = compile_model(model, out_dir, options, source=source)
    path = project_dir.resolve_target(out_dir)
    # the manifest lstmc just wrote lists every file of the project (not re-validated: the compile is done)
    manifest = json.loads((path / project_dir.MARKER).read_text())
    files = sorted(manifest["files"], key=lambda f: (f.count("/"), f)) + [project_dir.MARKER]
    estimate = report.get("estimate")
    if isinstance(estimate, dict):
        message = fit_warning(estimate.get("utilisation_percent", {}), estimate.get("part", {"name": options.part}))
        if message:
            warnings.warn(FitWarning(message), stacklevel=3)
    return Project(path, files, report)


# ------------------------------------------------------------------------------------------------ the design
class Design:
    """A checked ONNX model plus the options it is compiled with (see the module docstring)."""

    def __init__(
        self,
        model,
        source: str = "",
        seq_len: int | None = None,
        settings: Settings | None = None,
        max_seq_len: int | None = None,
    ):
        self.model = model  # onnx.ModelProto, checked by lstmc.frontend (a symbolic T is bound per run)
        self.source = source
        self.seq_len = seq_len
        # set: the kernel (compile, the csim stage) takes T at run time, up to this
        self.max_seq_len = max_seq_len
        self._runtime_dataflow = None  # the csim stage's module at T = max_seq_len, built once
        self.settings = (settings or Settings()).check()

    def __repr__(self) -> str:
        s = self.settings
        return (
            f"<lstmc.Design {self.source or self.model.graph.name!r} part={s.part.name} clock_ns={s.clock_ns:g} "
            f"pe={s.pe} simd={s.simd}>"
        )

    def _bound(self, arrays: dict | None = None):
        """The model with a symbolic sequence length bound (from the arrays, else `seq_len`, else `max_seq_len`).
        Arrays bring their own T: with max_seq_len it may be any 1..N (the csim stage checks it)."""
        from lstmc.frontend import bind_sequence_length

        length = self.seq_len
        if length is None and arrays is None:
            length = self.max_seq_len
        return bind_sequence_length(self.model, length, arrays)

    def _run_stage(self, stage: str, model, arrays: dict) -> dict:
        """One stage on one batch; with max_seq_len the csim stage runs the one run-time-length kernel (built at
        T = max_seq_len) on the batch's own T, the other stages the design specialised to that T."""
        from lstmc.stages import run_stage

        if stage != "csim" or self.max_seq_len is None:
            return run_stage(stage, model, arrays)
        from lstmc.hls.build import csim_stage

        return csim_stage(self._runtime_kernel(), arrays)

    def _runtime_kernel(self):
        """The csim stage's module with max_seq_len (the design at T = max_seq_len taking T at run time), built
        once, its port list checked: a model whose T is fixed, or that needs a whole sequence before it can
        stream, is refused here (one LstmcError)."""
        if self._runtime_dataflow is None:
            from lstmc.compile import mark_run_time_length, run_time_length_model
            from lstmc.frontend.onnx_import import import_model
            from lstmc.hls import project
            from lstmc.pipeline import lower_to_stage

            assert self.max_seq_len is not None, "a run-time length kernel is built for --max-seq-len only"
            bound, n = run_time_length_model(self.model, self.max_seq_len)
            module = import_model(bound)
            if n is not None:  # None: a fixed T equal to max_seq_len, the usual kernel
                mark_run_time_length(module, n)
            module = lower_to_stage(module, "dataflow")
            project.kernel_interface(module)
            self._runtime_dataflow = module
        return self._runtime_dataflow

    # -- run
    def run(self, inputs, stage: str = "integer", progress: bool | Progress | None = None) -> dict:
        """The model's outputs at one stage (`reference`, `qrnn`, `integer`, `dataflow`, `csim`), keyed by graph
        output name. `inputs`: see `_as_arrays`; outputs have a leading axis when the inputs do."""
        from lstmc.stages import STAGES

        if stage not in STAGES:
            raise LstmcError(f"unknown stage '{stage}' (available: {', '.join(STAGES)})")
        arrays = _as_arrays(self.model, inputs)
        count = _sequence_count(self.model, arrays)
        progress = _progress(progress, "lstmc run")
        with progress.task(stage, count):
            return run_chunked(lambda x: self._run_stage(stage, self.model, x), arrays, count, progress)

    # -- verify
    def verify(
        self, inputs=None, random: int = 16, seed: int = 0, stages=None, progress: bool | Progress | None = None
    ) -> VerifyReport:
        """Run the inputs (default: `random` standard-normal sequences from `seed`) through the reference and
        each stage and check the verification contract (README): `report.ok`, `report.stages[name]`."""
        steps = self.iter_verify(inputs, random, seed, stages, progress)
        report = next(steps)
        for _ in steps:
            pass
        return report

    def iter_verify(
        self, inputs=None, random: int = 16, seed: int = 0, stages=None, progress: bool | Progress | None = None
    ) -> Iterator:
        """`verify` step by step: yields the VerifyReport (its header known, no stage yet), then each
        StageResult as its stage finishes (also added to the report)."""
        from lstmc.analysis import all_scales_power_of_two, output_lsbs, reference_is_exact
        from lstmc.arrays import load_inputs, random_inputs
        from lstmc.frontend.onnx_import import import_model
        from lstmc.stages import STAGES
        from lstmc.tie_trace import TieTracer
        from lstmc.verify import check_stage

        stages = [s for s in STAGES if s != "reference"] if stages is None else list(stages)
        unknown = [s for s in stages if s not in STAGES]
        if unknown:
            raise LstmcError(f"unknown stage(s) {', '.join(map(str, unknown))} (available: {', '.join(STAGES)})")
        if inputs is not None:
            loaded = load_inputs(os.fspath(inputs)) if isinstance(inputs, (str, os.PathLike)) else inputs
            source = os.fspath(inputs) if isinstance(inputs, (str, os.PathLike)) else "the given inputs"
            model = self._bound(_as_arrays(self.model, loaded, source))
            arrays = _as_arrays(model, loaded, source)
        else:
            model = self._bound()
            arrays = random_inputs(model, random, seed)
            source = f"{random} random sequences (seed {seed})"
        imported = import_model(model)
        lsbs = output_lsbs(imported)
        po2 = all_scales_power_of_two(imported)
        # the bit-exact contract needs a reference that does not round (power-of-two scales are not enough when
        # a float bias off the accumulator's grid is added in float32)
        exact = po2 and reference_is_exact(imported)
        count = _sequence_count(model, arrays)
        report = VerifyReport(source, count, po2, exact)
        if self.max_seq_len is not None and "csim" in stages:
            self._runtime_kernel()  # a --max-seq-len the model cannot take fails before any stage runs
        progress = _progress(progress, "lstmc verify")
        total = len(stages) + ("reference" not in stages)
        index = 0

        def run(stage: str) -> dict:
            nonlocal index
            index += 1
            with progress.task(f"{stage} (stage {index} of {total})", count):
                return run_chunked(lambda x: self._run_stage(stage, model, x), arrays, count, progress)

        began = time.monotonic()
        reference = run("reference")
        reference_seconds = time.monotonic() - began
        tracer = TieTracer(imported, arrays)  # builds its modules only when a stage has mismatches to trace
        yield report
        integer_outputs = None
        for stage in stages:
            if stage == "reference":
                result = StageResult(stage, seconds=reference_seconds)
            else:
                began = time.monotonic()
                got = run(stage)
                result = StageResult(stage, check_stage(stage, reference, got, lsbs, exact, tracer))
                if stage == "integer":
                    integer_outputs = got
                elif stage != "qrnn" and integer_outputs is not None:
                    result.vs_integer = check_stage(stage, integer_outputs, got, lsbs, True)
                result.seconds = time.monotonic() - began
            report.stages[stage] = result
            yield result

    # -- estimate
    def estimate(
        self,
        *,
        part: str | None = None,
        board: str | None = None,
        clock_ns: float | None = None,
        pe: int | None = None,
        simd: int | None = None,
        folding: str | None = None,
        target_cycles: int | None = None,
        axis_bits: int | None = None,
    ):
        """Estimated cycles and resources (lstmc.qor.Report) on the chosen part and clock; a FitWarning when the
        design exceeds the part."""
        from lstmc.chain_sim import simulate_report
        from lstmc.pipeline import lower_and_fold
        from lstmc.qor import estimate_module

        s = _settings(
            self.settings,
            part=part,
            board=board,
            clock_ns=clock_ns,
            pe=pe,
            simd=simd,
            folding=folding,
            target_cycles=target_cycles,
            axis_bits=axis_bits,
        )
        module = lower_and_fold(self._bound(), s.pe, s.simd, s.folding, s.target_cycles, s.axis_bits)
        report = estimate_module(module, part=s.part, clock_mhz=1000.0 / s.clock_ns)
        simulate_report(module, report)
        message = fit_warning(report.total.utilisation(report.part), report.part)
        if message:
            warnings.warn(FitWarning(message), stacklevel=2)
        return report

    # -- compile
    def compile(
        self,
        out_dir,
        *,
        inputs=None,
        golden: int = 8,
        seed: int = 0,
        part: str | None = None,
        board: str | None = None,
        clock_ns: float | None = None,
        pe: int | None = None,
        simd: int | None = None,
        folding: str | None = None,
        target_cycles: int | None = None,
        act_impl: str | None = None,
        kernel_name: str | None = None,
        axis_bits: int | None = None,
    ) -> Project:
        """Write the Vitis HLS project to `out_dir` (see `lstmc compile`): golden vectors from `inputs` (an
        .npz path or arrays) or `golden` random sequences from `seed`."""
        from lstmc.arrays import check_sequence_budget, input_shapes, load_inputs
        from lstmc.compile import CompileOptions

        s = _settings(
            self.settings,
            part=part,
            board=board,
            clock_ns=clock_ns,
            pe=pe,
            simd=simd,
            folding=folding,
            target_cycles=target_cycles,
            act_impl=act_impl,
            kernel_name=kernel_name,
            axis_bits=axis_bits,
        )
        if not isinstance(golden, int) or isinstance(golden, bool) or golden < 1:
            raise LstmcError(f"--golden must be a positive number of sequences, got {golden!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64:
            raise LstmcError(f"--seed must be an integer in [0, 2^64), got {seed!r}")
        arrays = None
        if inputs is not None:
            if isinstance(inputs, (str, os.PathLike)):
                # the testbench runs batches: one unbatched sequence becomes a batch of one, as `run` accepts it
                arrays = load_inputs(os.fspath(inputs), self.model, batch=True)
            else:
                arrays = _as_arrays(self.model, inputs)
                if _sequence_count(self.model, arrays) is None:
                    arrays = {k: v[None] for k, v in arrays.items()}
        if self.max_seq_len is not None and self.seq_len is not None:
            raise LstmcError(
                "--seq-len fixes the kernel's sequence length and --max-seq-len makes it a run-time "
                "value: give one (golden vectors of another length come from --inputs)"
            )
        # a run-time length: compile_model binds T = max_seq_len for the kernel, the golden inputs' T for them
        model = self.model if self.max_seq_len is not None else self._bound(arrays)
        options = CompileOptions(
            kernel=s.kernel_name,
            part=s.part.name,
            clock_ns=s.clock_ns,
            pe=s.pe,
            simd=s.simd,
            folding=s.folding,
            target_cycles=s.target_cycles,
            act_impl=s.act_impl,
            threshold_input=s.threshold_input,
            golden_count=golden,
            seed=seed,
            max_seq_len=self.max_seq_len,
            axis_bits=s.axis_bits,
        )
        if arrays is not None:
            options.golden_inputs = arrays
        else:
            shapes = [
                shape for shape in input_shapes(self._bound()).values() if shape is not None and None not in shape
            ]
            check_sequence_budget(shapes, golden, "--golden")
        return compile_project(model, out_dir, options, source=self.source)


def load(
    model,
    *,
    seq_len: int | None = None,
    part: str | None = None,
    board: str | None = None,
    clock_ns: float | None = None,
    pe: int = 0,
    simd: int = 0,
    folding: str = "",
    target_cycles: int = 0,
    act_impl: str = "auto",
    kernel_name: str = DEFAULT_KERNEL,
    max_seq_len: int | None = None,
    threshold_input: str = "accumulator",
    axis_bits: int = 0,
) -> Design:
    """A Design from an ONNX file path or an onnx.ModelProto (checked like `lstmc` checks a file). The options are
    those of `lstmc compile` (`kernel_name` is `--kernel-name`, `board` the `--board` alias of `--part`) and the
    defaults of every later call; `seq_len` binds a symbolic sequence length when the inputs do not give it;
    `max_seq_len` (`--max-seq-len`) makes it a run-time value of the kernel (compile, the csim stage), up to N."""
    import onnx

    from lstmc.frontend import load_onnx, load_onnx_bytes

    if isinstance(model, onnx.ModelProto):
        proto, source = load_onnx_bytes(model.SerializeToString(), "the given ModelProto"), ""
    elif isinstance(model, (str, os.PathLike)):
        source = os.fspath(model)
        proto = load_onnx(source)
    else:
        raise LstmcError(f"lstmc.load takes an ONNX file path or an onnx.ModelProto, not {type(model).__name__}")
    if seq_len is not None and (not isinstance(seq_len, int) or isinstance(seq_len, bool) or seq_len < 1):
        raise LstmcError(f"--seq-len must be a positive integer, got {seq_len!r}")
    if max_seq_len is not None and (
        not isinstance(max_seq_len, int) or isinstance(max_seq_len, bool) or max_seq_len < 1
    ):
        raise LstmcError(f"--max-seq-len must be a positive integer, got {max_seq_len!r}")
    settings = Settings(
        part=choose_part(part, board),
        clock_ns=check_clock(clock_ns),
        pe=pe,
        simd=simd,
        folding=folding or "",
        target_cycles=target_cycles,
        act_impl=act_impl,
        kernel_name=kernel_name,
        threshold_input=threshold_input,
        axis_bits=axis_bits,
    )
    return Design(proto, source, seq_len, settings, max_seq_len)


__all__ = ["Design", "FitWarning", "Progress", "Project", "StageResult", "VerifyReport", "load"]
