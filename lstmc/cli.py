"""`lstmc`: the user's driver (import, run, verify, compile, estimate, quantize).

Every user mistake ends in one line `lstmc: error: ...` and exit status 1, never a traceback. `run`, `verify`,
`compile` and `estimate` are layers over the Python API (lstmc/api.py), which raises the same LstmcError.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# reading, writing and drawing arrays (lstmc/arrays.py); the names stay importable from here
from lstmc.arrays import (  # noqa: F401
    INPUT_BYTE_BUDGET,
    check_sequence_budget,
    input_shapes,
    load_inputs,
    random_inputs,
    save_outputs,
)
from lstmc.cli_options import SEQ_LEN_HELP, add_folding_options, add_part_options, int_option, report_warnings
from lstmc.errors import LstmcError, one_line


# ------------------------------------------------------------------------------------------------ helpers
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

    design = load(
        args.model,
        seq_len=args.seq_len,
        part=args.part,
        board=args.board,
        clock_ns=args.clock_ns,
        pe=args.pe,
        simd=args.simd,
        folding=args.folding or "",
        target_cycles=args.target_cycles,
        act_impl=args.act_impl,
        kernel_name=args.kernel_name,
        max_seq_len=args.max_seq_len,
        threshold_input=args.threshold_input,
        axis_bits=args.axis_bits,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitWarning)
        project = design.compile(args.output, inputs=args.inputs, golden=args.golden, seed=args.seed)
    print(project.summary(args.output))
    est = project.report.get("estimate")
    if isinstance(est, dict) and est.get("total"):
        use = est.get("utilisation_percent", {})
        sim = est.get("simulated_cycles_per_inference")
        print(
            f"estimate on {project.report['part']} at {est['clock_mhz']:g} MHz: {est['cycles_per_inference']} "
            f"cycles per inference ({est['latency_us']:.2f} us"
            + (
                f"; {sim} in the cycle-level simulation"
                if sim is not None and sim != est["cycles_per_inference"]
                else ""
            )
            + "), "
            + ", ".join(f"{k.upper()} {v} ({use.get(k, 0):.1f}%)" for k, v in est["total"].items())
        )
    report_warnings(caught, FitWarning)
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


MAX_SEQ_LEN_HELP = (
    "a model with a symbolic T: the kernel takes T at run time (its seq_len port), 1 <= T <= N, with buffers sized N"
)


def build_parser() -> argparse.ArgumentParser:
    from lstmc.cli_options import AXIS_BITS_HELP
    from lstmc.stages import STAGES

    parser = _Parser(prog="lstmc", description="Compile quantized LSTMs from ONNX to HLS C++.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import an ONNX model and print its qrnn IR")
    p.add_argument("model", type=_path_option, help="ONNX model (Scan with QCDQ or QONNX Quant)")
    p.add_argument("-o", "--output", type=_path_option, help="write the IR here instead of stdout")
    p.add_argument("--seq-len", type=int_option(1), help=SEQ_LEN_HELP)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("run", help="run a model at one stage on inputs from an .npz")
    p.add_argument("model", type=_path_option)
    p.add_argument(
        "--inputs", required=True, type=_path_option, help=".npz keyed by graph input names ([N, ...] batches)"
    )
    p.add_argument("--stage", required=True, choices=list(STAGES))
    p.add_argument("--output", type=_path_option, help=".npz to write, keyed by graph output names")
    p.add_argument(
        "--max-seq-len",
        type=int_option(1),
        metavar="N",
        help=MAX_SEQ_LEN_HELP + "; the csim stage runs that kernel at the inputs' T",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compile", help="compile to a Vitis HLS project (kernel, testbench, TCL, report)")
    p.add_argument("model", type=_path_option)
    p.add_argument("-o", "--output", required=True, type=_path_option, help="project directory to write")
    add_folding_options(p, folding_type=_path_option)
    from lstmc.parts import DEFAULT_CLOCK_NS

    add_part_options(p)
    p.add_argument(
        "--clock-ns",
        type=float,
        default=DEFAULT_CLOCK_NS,
        metavar="NS",
        help=f"clock period in ns (default {DEFAULT_CLOCK_NS:g} = {1000 / DEFAULT_CLOCK_NS:g} MHz)",
    )
    p.add_argument(
        "--kernel-name",
        type=_kernel_name,
        default="lstmc_kernel",
        help="C++ name of the kernel function (an identifier, at most 64 characters)",
    )
    p.add_argument(
        "--act-impl",
        choices=["threshold", "lut", "auto"],
        default="auto",
        help="sigmoid/tanh as comparisons against thresholds, as lookup tables, or per activation "
        "whichever the cost model finds cheaper (auto, the default)",
    )
    p.add_argument(
        "--threshold-input",
        choices=["aligned", "accumulator"],
        default="accumulator",
        help="thresholds compare against the aligned fixed-point sum or, where exact and cheaper, the "
        "MVAU's raw accumulator with scale, bias and activation absorbed (accumulator, the default)",
    )
    p.add_argument("--axis-bits", type=int_option(0), default=0, metavar="N", help=AXIS_BITS_HELP)
    p.add_argument("--inputs", type=_path_option, help=".npz of golden inputs for the testbench (default: random)")
    p.add_argument(
        "--golden", type=int_option(1), default=8, metavar="N", help="number of random golden sequences (default 8)"
    )
    p.add_argument(
        "--seed", type=int_option(0, 2**64 - 1), default=0, help="seed of the random golden sequences (default 0)"
    )
    p.add_argument("--seq-len", type=int_option(1), help=SEQ_LEN_HELP + "; --inputs can give it too")
    p.add_argument(
        "--max-seq-len",
        type=int_option(1),
        metavar="N",
        help=MAX_SEQ_LEN_HELP + " (instead of --seq-len; golden vectors at N, or --inputs' T)",
    )
    p.set_defaults(func=cmd_compile)

    from lstmc.estimate import add_parser as add_estimate_parser
    from lstmc.estimate import run as run_estimate

    add_estimate_parser(sub).set_defaults(func=run_estimate)

    p = sub.add_parser("verify", help="run every stage and check the verification contract")
    p.add_argument("model", type=_path_option)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--inputs", type=_path_option, help=".npz keyed by graph input names")
    group.add_argument("--random", type=int_option(1), default=16, metavar="N", help="N random sequences (default 16)")
    p.add_argument(
        "--seed", type=int_option(0, 2**64 - 1), default=0, help="seed of the --random sequences (default 0)"
    )
    # the stage names of `run --stage`; `reference` is what every other stage is compared with (it always runs)
    p.add_argument(
        "--stages",
        nargs="+",
        default=[s for s in STAGES if s != "reference"],
        choices=list(STAGES),
        help="stages to check against the reference (default: every stage after it)",
    )
    p.add_argument("--seq-len", type=int_option(1), help=SEQ_LEN_HELP + " (with --random; --inputs give their own)")
    p.add_argument(
        "--max-seq-len",
        type=int_option(1),
        metavar="N",
        help=MAX_SEQ_LEN_HELP + "; the csim stage runs that kernel at the inputs' T (--random: T = N unless --seq-len)",
    )
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("quantize", help="post-training quantization of a float ONNX LSTM/GRU model to Scan/QCDQ")
    p.add_argument("model", type=_path_option, help="float ONNX model with standard LSTM/GRU nodes (batch 1, layout 0)")
    p.add_argument(
        "--calibration",
        required=True,
        type=_path_option,
        metavar="DATA.npz",
        help=".npz keyed by graph input names ([N, ...] sequences); arrays named like a graph output are "
        "targets for the accuracy report",
    )
    p.add_argument(
        "--config",
        type=_path_option,
        metavar="Q.json",
        help="JSON quantization config: weight_bits, weight_per_channel, io_bits, acc_bits, sigmoid_bits, "
        'tanh_bits, cell_state_bits, calibration ("max" | "percentile:P"), power_of_two, nodes '
        "(per-node overrides); default: 8-bit weights/io/activations, 16-bit acc/cell state",
    )
    p.add_argument(
        "-o", "--output", required=True, type=_path_option, metavar="OUT.onnx", help="quantized model to write"
    )
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
        print(
            one_line(f"lstmc: error: {e.filename or ''}{': ' if e.filename else ''}{e.strerror or e}"), file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        print("lstmc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
