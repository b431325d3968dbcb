"""`lstmc`: the user's driver (import, run, verify, compile, estimate, quantize).

Every user mistake ends in one line `lstmc: error: ...` and exit status 1, never a traceback. `run`, `verify`,
`compile` and `estimate` are layers over the Python API (lstmc/api.py), which raises the same LstmcError.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import zipfile
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from lstmc.errors import LstmcError, one_line


# ------------------------------------------------------------------------------------------------ helpers
# Inputs are read from the archive's headers first, so an array that claims an absurd shape (or a shape the
# model cannot take) is refused before any memory is allocated for it; 1 GiB is far beyond any verification run.
INPUT_BYTE_BUDGET = 1 << 30
_NPY_MAGIC = b"\x93NUMPY"


def input_shapes(model) -> dict[str, tuple[int | None, ...] | None]:
    """The arrays a model takes (graph inputs that are not initializers) and the shape of one sequence of each;
    None for a symbolic dimension (and for the whole shape when the model does not say)."""
    initializers = {i.name for i in model.graph.initializer}
    shapes: dict[str, tuple[int | None, ...] | None] = {}
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        tt = inp.type.tensor_type if inp.type.HasField("tensor_type") else None
        if tt is None or not tt.HasField("shape"):
            shapes[inp.name] = None
        else:
            shapes[inp.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                                     for d in tt.shape.dim)
    return shapes


def _shape_text(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _read_npy_header(member, path: str, key: str) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(member)
        readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
        if version not in readers:  # 3.0 only exists for structured dtypes with non-Latin-1 field names
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
        shape, _, dtype = readers[version](member)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimension in shape {list(shape)}")
    except (ValueError, EOFError, OSError, SyntaxError, TypeError, zipfile.BadZipFile) as e:
        raise LstmcError(f"{path}: array '{key}' is not a readable .npy array ({e})") from None
    return shape, dtype


def _check_dtype(dtype: np.dtype, path: str, key: str) -> None:
    # Only real numbers make sense as inputs; object arrays would need pickle, which is never enabled.
    if dtype.kind not in "fiu":
        kinds = {"b": "booleans", "c": "complex numbers", "U": "strings", "S": "byte strings", "O": "Python objects",
                 "V": "records (a structured dtype)", "M": "dates", "m": "time deltas"}
        what = kinds.get(dtype.kind, f"dtype {dtype}")
        raise LstmcError(f"{path}: array '{key}' holds {what} (dtype {dtype}); inputs must be float or integer numbers")


def load_inputs(path: str, model=None, option: str = "--inputs", batch: bool = False) -> dict[str, np.ndarray]:
    """Arrays from an .npz written by np.savez, refused with one line when they cannot be the model's inputs.

    With `model`: keys must be its graph inputs (arrays named like a graph output, such as the targets of a
    fixture, are skipped); each array is one sequence (the input's shape) or a batch of N >= 1 (one extra
    leading axis), all in the same form; `batch` turns one sequence into a batch of one. Arrays are float32.
    NaN and +-inf are kept: every stage quantizes them as onnxruntime's QuantizeLinear does (NaN to the lowest
    code, inf saturated), so the stages still agree bit for bit.
    """
    if not path:
        raise LstmcError(f"{option}: empty path")
    if not os.path.exists(path):
        raise LstmcError(f"{path}: no such file")
    if os.path.isdir(path):
        raise LstmcError(f"{path}: is a directory, expected an .npz file")
    try:
        with open(path, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
        if magic == _NPY_MAGIC:
            raise LstmcError(f"{path}: a single .npy array; {option} takes an .npz archive of arrays named by the "
                             "model's inputs (np.savez(path, X=x))")
        if not zipfile.is_zipfile(path):
            raise LstmcError(f"{path}: not a readable .npz archive (not a zip file; write it with np.savez)")
        with zipfile.ZipFile(path) as archive:
            return _load_npz(archive, path, model, option, batch)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
        raise LstmcError(f"{path}: not a readable .npz archive ({e})") from e


def _load_npz(archive: zipfile.ZipFile, path: str, model, option: str, batch: bool) -> dict[str, np.ndarray]:
    expected = input_shapes(model) if model is not None else None
    outputs = {o.name for o in model.graph.output} if model is not None else set()
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if info.is_dir() or key == info.filename:
            raise LstmcError(f"{path}: member '{info.filename}' is not a .npy array; write the file with np.savez")
        if key in members:
            raise LstmcError(f"{path}: array '{key}' appears twice")
        if info.flag_bits & 0x1:  # zipfile would raise RuntimeError asking for a password
            raise LstmcError(f"{path}: array '{key}' is encrypted")
        members[key] = info
    if expected is not None:
        missing = [k for k in expected if k not in members]
        if missing:
            raise LstmcError(f"{path}: missing input(s) {', '.join(missing)}; the model takes {', '.join(expected)}")
        extra = [k for k in members if k not in expected and k not in outputs]
        if extra:
            raise LstmcError(f"{path}: unexpected array(s) {', '.join(extra)}; the model takes {', '.join(expected)}")
        members = {k: members[k] for k in expected}
    if not members:
        raise LstmcError(f"{path}: the archive holds no arrays")

    # 1. headers only: dtype, shape against the model, size against the budget and the member's real length
    forms: dict[str, int | None] = {}  # batch size N, or None for one sequence
    total = 0
    for key, info in members.items():
        with archive.open(info) as member:
            shape, dtype = _read_npy_header(member, path, key)
            header_len = member.tell()
        _check_dtype(dtype, path, key)
        if expected is not None:
            forms[key] = _batch_size(shape, expected[key], path, key)
        if 0 in shape:
            raise LstmcError(f"{path}: array '{key}' is empty (shape {list(shape)}); give at least one sequence")
        nbytes = math.prod(shape) * dtype.itemsize
        total += nbytes
        if total > INPUT_BYTE_BUDGET:
            raise LstmcError(f"{path}: array '{key}' claims shape {list(shape)} ({nbytes:,} bytes); lstmc reads at "
                             f"most {INPUT_BYTE_BUDGET:,} bytes of inputs")
        if nbytes != info.file_size - header_len:
            raise LstmcError(f"{path}: array '{key}' is truncated or corrupt: its header claims {nbytes:,} bytes of "
                             f"data, the archive holds {info.file_size - header_len:,}")
    if len({n is None for n in forms.values()}) > 1:
        raise LstmcError(f"{path}: either every input is a batch (leading axis N) or none is; got "
                         + ", ".join(f"'{k}' {'one sequence' if n is None else f'a batch of {n}'}"
                                     for k, n in forms.items()))
    if len({n for n in forms.values() if n is not None}) > 1:
        raise LstmcError(f"{path}: inputs have different batch sizes: "
                         + ", ".join(f"'{k}' {n}" for k, n in forms.items()))
    batched = any(n is not None for n in forms.values())

    # 2. the data
    arrays = {}
    for key, info in members.items():
        with archive.open(info) as member:
            arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    if expected is None:
        return arrays
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes +-inf, which the stages take
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    return {k: v[None] for k, v in arrays.items()} if batch and not batched else arrays


def _batch_size(shape: tuple[int, ...], want: tuple[int | None, ...] | None, path: str, key: str) -> int | None:
    """N if `shape` is a batch [N, *want], None if it is one sequence (`want`); else refuse, naming both."""
    if want is None:  # the model does not say: take the array as it is
        return None

    def fits(got):
        return len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want))

    if fits(shape):
        return None
    if len(shape) == len(want) + 1 and fits(shape[1:]):
        return shape[0]
    raise LstmcError(f"{path}: input '{key}' has shape {list(shape)}; expected {_shape_text(want)} (one sequence) or "
                     f"[N, {_shape_text(want)[1:]} (a batch of N)")


def save_outputs(path: str, outputs: dict[str, np.ndarray], option: str = "--output") -> None:
    from lstmc.project_dir import check_npz_keys, write_file_atomically

    check_npz_keys(outputs, "output")
    # Temporary file + rename (np.savez into the open file: it would append ".npz" to a bare name).
    write_file_atomically(path, lambda f: np.savez(f, **outputs), option)


def random_inputs(model, count: int, seed: int, option: str = "--random") -> dict[str, np.ndarray]:
    from lstmc.frontend.onnx_import import _static_shape

    if count < 1:
        raise LstmcError(f"{option} needs a positive number of sequences, got {count}")
    if seed < 0:  # numpy's default_rng refuses negative seeds with a ValueError
        raise LstmcError(f"--seed must be >= 0, got {seed}")
    initializers = {i.name for i in model.graph.initializer}
    shapes = {inp.name: _static_shape(inp.type, f"graph input '{inp.name}'")
              for inp in model.graph.input if inp.name not in initializers}
    check_sequence_budget(shapes.values(), count, option)
    rng = np.random.default_rng(seed)
    arrays = {name: rng.standard_normal((count, *shape)).astype(np.float32) for name, shape in shapes.items()}
    # An initial state given as a graph input (FINN-GL's h0/c0) is quantized onto the state's grid by the kernel
    # but read as it is by the reference: draw it on that grid, as codes times the scale (what a
    # DequantizeLinear would give).
    states = {n.input[i] for n in model.graph.node if n.op_type == "Scan"
              for i in range(len(n.input) - next((a.i for a in n.attribute if a.name == "num_scan_inputs"), 0))}
    if states & set(arrays):
        from lstmc.analysis import initial_state_grids
        from lstmc.frontend.onnx_import import import_model

        for name, grid in initial_state_grids(import_model(model)).items():
            scale = np.float32(float(grid.scale))
            if name in arrays and Fraction(float(scale)) == grid.scale:
                codes = rng.integers(grid.lo, grid.hi + 1, arrays[name].shape)
                arrays[name] = codes.astype(np.float32) * scale
    return arrays


def check_sequence_budget(shapes, count: int, option: str) -> None:
    """Refuse a number of sequences whose float32 inputs alone would exceed INPUT_BYTE_BUDGET."""
    per_sequence = sum(math.prod(shape) * 4 for shape in shapes)
    if count * per_sequence > INPUT_BYTE_BUDGET:
        limit = max(1, INPUT_BYTE_BUDGET // max(per_sequence, 1))
        raise LstmcError(f"{option} {count}: too many sequences ({count * per_sequence:,} bytes of inputs); "
                         f"at most {limit:,} for this model")


def _write_text(path: str | None, text: str, option: str = "-o") -> None:
    from lstmc.project_dir import write_file_atomically

    if path is None or path == "-":
        sys.stdout.write(text)
        return
    data = text.encode("utf-8")  # IR may hold non-ASCII names: never depend on the locale
    write_file_atomically(path, lambda f: f.write(data), option)


# ------------------------------------------------------------------------------------------------ commands
def cmd_import(args) -> int:
    from lstmc.frontend import import_onnx_file

    module = import_onnx_file(args.model, args.seq_len)
    _write_text(args.output, str(module) + "\n")
    return 0


def cmd_run(args) -> int:
    from lstmc.api import load

    outputs = load(args.model, max_seq_len=args.max_seq_len).run(args.inputs, stage=args.stage, progress=False)
    if args.output:
        save_outputs(args.output, outputs)
    else:
        for name, value in outputs.items():
            print(f"{name}: shape {list(value.shape)}")
    return 0


def cmd_verify(args) -> int:
    """A layer over lstmc.api's Design.iter_verify: each stage's lines are printed as the stage finishes (with
    a progress line on stderr while it runs, when stderr is a terminal)."""
    from lstmc.api import load

    design = load(args.model, seq_len=args.seq_len, max_seq_len=args.max_seq_len)
    steps = design.iter_verify(inputs=args.inputs or None, random=args.random, seed=args.seed, stages=args.stages)
    report = next(steps)
    print("\n".join(report.header(args.model)), flush=True)
    for result in steps:
        print("\n".join(result.lines()), flush=True)
    print(report.verdict)
    return 0 if report.ok else 1


def cmd_compile(args) -> int:
    """A layer over lstmc.api's Design.compile; a design that does not fit its part gets one warning line."""
    import warnings

    from lstmc.api import FitWarning, load

    design = load(args.model, seq_len=args.seq_len, part=args.part, board=args.board, clock_ns=args.clock_ns,
                  pe=args.pe, simd=args.simd, folding=args.folding or "", target_cycles=args.target_cycles,
                  act_impl=args.act_impl, kernel_name=args.kernel_name, max_seq_len=args.max_seq_len,
                  threshold_input=args.threshold_input)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitWarning)
        project = design.compile(args.output, inputs=args.inputs, golden=args.golden, seed=args.seed)
    print(project.summary(args.output))
    est = project.report.get("estimate")
    if isinstance(est, dict) and est.get("total"):
        use = est.get("utilisation_percent", {})
        print(f"estimate on {project.report['part']} at {est['clock_mhz']:g} MHz: {est['cycles_per_inference']} "
              f"cycles per inference ({est['latency_us']:.2f} us), "
              + ", ".join(f"{k.upper()} {v} ({use.get(k, 0):.1f}%)" for k, v in est["total"].items()))
    for w in caught:  # recording catches every warning: only ours becomes a `lstmc: warning:` line
        if issubclass(w.category, FitWarning):
            print(f"lstmc: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return 0


def cmd_quantize(args) -> int:
    from lstmc.quantize import quantize_file

    report = quantize_file(args.model, args.calibration, args.config, args.output)
    sys.stdout.write(report.format())
    print(f"wrote {args.output}")
    return 0


# ------------------------------------------------------------------------------------------------ options
class _Parser(argparse.ArgumentParser):
    """Usage errors follow the tool's contract: one line `lstmc: error: ...`, exit status 1 (argparse: usage + 2)."""

    def error(self, message: str):
        self.exit(1, f"lstmc: error: {message} (see '{self.prog} --help')\n")


def _int_option(low: int, high: int = 2**31 - 1):
    """An integer option in [low, high]; the check happens while parsing, so the message names the option."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    return parse


def _path_option(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    return text


def _kernel_name(text: str) -> str:
    # the kernel name becomes C++ identifiers (<name>, <name>_tb) and file names
    from lstmc.passes.hlscpp_prepare_emission import is_cpp_identifier

    reason = is_cpp_identifier(text)
    if reason is not None:
        shown = repr(text) if len(text) <= 40 else repr(text[:40]) + "..."
        raise argparse.ArgumentTypeError(f"{shown} is not a usable C++ identifier: {reason}")
    return text


SEQ_LEN_HELP = "sequence length T for a model whose inputs declare it symbolic (e.g. [None, I, 1])"
MAX_SEQ_LEN_HELP = ("a model with a symbolic T: the kernel takes T at run time (its seq_len port), 1 <= T <= N, "
                    "with buffers sized N")


def build_parser() -> argparse.ArgumentParser:
    from lstmc.stages import STAGES

    parser = _Parser(prog="lstmc", description="Compile quantized LSTMs from ONNX to HLS C++.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import an ONNX model and print its qrnn IR")
    p.add_argument("model", type=_path_option, help="ONNX model (Scan with QCDQ or QONNX Quant)")
    p.add_argument("-o", "--output", type=_path_option, help="write the IR here instead of stdout")
    p.add_argument("--seq-len", type=_int_option(1), help=SEQ_LEN_HELP)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("run", help="run a model at one stage on inputs from an .npz")
    p.add_argument("model", type=_path_option)
    p.add_argument("--inputs", required=True, type=_path_option,
                   help=".npz keyed by graph input names ([N, ...] batches)")
    p.add_argument("--stage", required=True, choices=list(STAGES))
    p.add_argument("--output", type=_path_option, help=".npz to write, keyed by graph output names")
    p.add_argument("--max-seq-len", type=_int_option(1), metavar="N",
                   help=MAX_SEQ_LEN_HELP + "; the csim stage runs that kernel at the inputs' T")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compile", help="compile to a Vitis HLS project (kernel, testbench, TCL, report)")
    p.add_argument("model", type=_path_option)
    p.add_argument("-o", "--output", required=True, type=_path_option, help="project directory to write")
    p.add_argument("--folding", type=_path_option, metavar="F.json",
                   help="JSON folding config keyed by unit name, e.g. {\"<scan node>/gates\": {\"PE\": 4, \"SIMD\": 2}}")
    p.add_argument("--pe", type=_int_option(0), default=0, help="PE (rows in parallel) for every MVAU")
    p.add_argument("--simd", type=_int_option(0), default=0, help="SIMD (columns in parallel) for every MVAU")
    p.add_argument("--target-cycles", type=_int_option(0), default=0, metavar="N",
                   help="cheapest folding within this many cycles per inference")
    from lstmc.parts import BOARDS, DEFAULT_PART

    target = p.add_mutually_exclusive_group()
    target.add_argument("--part", metavar="PART",
                        help=f"FPGA part or board name (default: {DEFAULT_PART.name}, ZCU104's); see lstmc/parts.py")
    target.add_argument("--board", metavar="BOARD", help=f"board whose part to use: {', '.join(BOARDS)}")
    p.add_argument("--clock-ns", type=float, default=5.0, metavar="NS",
                   help="clock period in ns (default 5 = 200 MHz)")
    p.add_argument("--kernel-name", type=_kernel_name, default="lstmc_kernel",
                   help="C++ name of the kernel function (an identifier, at most 64 characters)")
    p.add_argument("--act-impl", choices=["threshold", "lut", "auto"], default="threshold",
                   help="sigmoid/tanh as comparisons against thresholds (default), as lookup tables, or per "
                        "activation whichever the cost model finds cheaper (auto)")
    p.add_argument("--threshold-input", choices=["aligned", "accumulator"], default="aligned",
                   help="thresholds compare against the aligned fixed-point sum (default) or, where exact and "
                        "cheaper, the MVAU's raw accumulator with scale, bias and activation absorbed")
    p.add_argument("--inputs", type=_path_option, help=".npz of golden inputs for the testbench (default: random)")
    p.add_argument("--golden", type=_int_option(1), default=8, metavar="N",
                   help="number of random golden sequences (default 8)")
    p.add_argument("--seed", type=_int_option(0, 2**64 - 1), default=0,
                   help="seed of the random golden sequences (default 0)")
    p.add_argument("--seq-len", type=_int_option(1), help=SEQ_LEN_HELP + "; --inputs can give it too")
    p.add_argument("--max-seq-len", type=_int_option(1), metavar="N",
                   help=MAX_SEQ_LEN_HELP + " (instead of --seq-len; golden vectors at N, or --inputs' T)")
    p.set_defaults(func=cmd_compile)

    from lstmc.estimate import add_parser as add_estimate_parser
    from lstmc.estimate import run as run_estimate

    add_estimate_parser(sub).set_defaults(func=run_estimate)

    p = sub.add_parser("verify", help="run every stage and check the verification contract")
    p.add_argument("model", type=_path_option)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--inputs", type=_path_option, help=".npz keyed by graph input names")
    group.add_argument("--random", type=_int_option(1), default=16, metavar="N", help="N random sequences (default 16)")
    p.add_argument("--seed", type=_int_option(0, 2**64 - 1), default=0, help="seed of the --random sequences (default 0)")
    # the stage names of `run --stage`; `reference` is what every other stage is compared with (it always runs)
    p.add_argument("--stages", nargs="+", default=[s for s in STAGES if s != "reference"], choices=list(STAGES),
                   help="stages to check against the reference (default: every stage after it)")
    p.add_argument("--seq-len", type=_int_option(1), help=SEQ_LEN_HELP + " (with --random; --inputs give their own)")
    p.add_argument("--max-seq-len", type=_int_option(1), metavar="N",
                   help=MAX_SEQ_LEN_HELP + "; the csim stage runs that kernel at the inputs' T (--random: T = N "
                        "unless --seq-len)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("quantize", help="post-training quantization of a float ONNX LSTM/GRU model to Scan/QCDQ")
    p.add_argument("model", type=_path_option, help="float ONNX model with standard LSTM/GRU nodes (batch 1, layout 0)")
    p.add_argument("--calibration", required=True, type=_path_option, metavar="DATA.npz",
                   help=".npz keyed by graph input names ([N, ...] sequences); arrays named like a graph output are "
                        "targets for the accuracy report")
    p.add_argument("--config", type=_path_option, metavar="Q.json",
                   help="JSON quantization config: weight_bits, weight_per_channel, io_bits, acc_bits, sigmoid_bits, "
                        "tanh_bits, cell_state_bits, calibration (\"max\" | \"percentile:P\"), power_of_two, nodes "
                        "(per-node overrides); default: 8-bit weights/io/activations, 16-bit acc/cell state")
    p.add_argument("-o", "--output", required=True, type=_path_option, metavar="OUT.onnx",
                   help="quantized model to write")
    p.set_defaults(func=cmd_quantize)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (1, its line already printed)
        return e.code if isinstance(e.code, int) else 1
    try:
        return args.func(args)
    except LstmcError as e:
        print(f"lstmc: error: {one_line(e)}", file=sys.stderr)
        return 1
    except RecursionError:  # a model nested deeper than the importer's recursion can follow
        print(f"lstmc: error: {getattr(args, 'model', 'the input')}: the model is nested too deeply", file=sys.stderr)
        return 1
    except OSError as e:  # permissions, a full disk, ...: the file and the reason, not a traceback
        print(one_line(f"lstmc: error: {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lstmc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
