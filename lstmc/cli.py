"""`lstmc`: the user's driver (import, run, verify).

Every user mistake ends in one line `lstmc: error: ...` and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from collections.abc import Sequence

import numpy as np

from lstmc.errors import LstmcError


# ------------------------------------------------------------------------------------------------ helpers
def load_inputs(path: str) -> dict[str, np.ndarray]:
    if not os.path.exists(path):
        raise LstmcError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise LstmcError(f"{path}: expected an .npz archive of named arrays, got a single .npy array")
            return {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise LstmcError(f"{path}: not a readable .npz archive ({e})") from e


def save_outputs(path: str, outputs: dict[str, np.ndarray]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise LstmcError(f"{path}: directory {directory} does not exist")
    # Write to a temporary file then rename, so a failure never leaves a half-written output.
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=directory)
    os.close(fd)
    try:
        np.savez(tmp, **outputs)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def random_inputs(model, count: int, seed: int) -> dict[str, np.ndarray]:
    from lstmc.frontend.onnx_import import _static_shape

    if count < 1:
        raise LstmcError(f"--random needs a positive number of sequences, got {count}")
    rng = np.random.default_rng(seed)
    initializers = {i.name for i in model.graph.initializer}
    inputs = {}
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        shape = _static_shape(inp.type, f"graph input '{inp.name}'")
        inputs[inp.name] = rng.standard_normal((count, *shape)).astype(np.float32)
    return inputs


def _write_text(path: str | None, text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------ commands
def cmd_import(args) -> int:
    from lstmc.frontend import import_onnx_file

    module = import_onnx_file(args.model)
    _write_text(args.output, str(module) + "\n")
    return 0


def cmd_run(args) -> int:
    from lstmc.frontend import load_onnx
    from lstmc.stages import run_stage

    model = load_onnx(args.model)
    inputs = load_inputs(args.inputs)
    outputs = run_stage(args.stage, model, inputs)
    if args.output:
        save_outputs(args.output, outputs)
    else:
        for name, value in outputs.items():
            print(f"{name}: shape {list(value.shape)}")
    return 0


def cmd_verify(args) -> int:
    from lstmc.analysis import all_scales_power_of_two, output_lsbs
    from lstmc.frontend import load_onnx
    from lstmc.frontend.onnx_import import import_model
    from lstmc.stages import run_stage
    from lstmc.verify import check_stage

    model = load_onnx(args.model)
    if args.inputs:
        inputs = load_inputs(args.inputs)
        source = args.inputs
    else:
        inputs = random_inputs(model, args.random, args.seed)
        source = f"{args.random} random sequences (seed {args.seed})"
    imported = import_model(model)
    lsbs = output_lsbs(imported)
    po2 = all_scales_power_of_two(imported)
    reference = run_stage("reference", model, inputs)
    print(f"lstmc verify {args.model}: {source}; scales: {'all powers of two' if po2 else 'not all powers of two'}")
    print(f"{'stage':<10} {'output':<12} {'elements':>10} {'mismatch':>9} {'rate':>10} {'max LSB':>8}")
    failed = False
    integer_outputs = None
    for stage in args.stages:
        got = run_stage(stage, model, inputs)
        report = check_stage(stage, reference, got, lsbs, po2)
        for row in report.rows:
            lsb = "-" if row.max_lsb is None else f"{row.max_lsb:.3g}"
            print(f"{stage:<10} {row.output:<12} {row.elements:>10} {row.mismatches:>9} {row.rate:>10.2e} {lsb:>8}")
        print(f"{stage:<10} {'contract':<12} {report.contract}: {'OK' if report.ok else 'FAIL - ' + report.reason}")
        failed |= not report.ok
        if stage == "integer":
            integer_outputs = got
        elif stage != "qrnn" and integer_outputs is not None:
            same = check_stage(stage, integer_outputs, got, lsbs, True)
            differing = sum(r.mismatches for r in same.rows)
            print(f"{stage:<10} {'vs integer':<12} bit-exact with the integer stage: "
                  f"{'OK' if same.ok else f'FAIL - {differing} mismatching elements'}")
            failed |= not same.ok
    print("FAILED: a stage breaks the verification contract" if failed else "all stages meet the contract")
    return 1 if failed else 0


def cmd_compile(args) -> int:
    from lstmc.compile import CompileOptions, compile_model
    from lstmc.frontend import load_onnx

    model = load_onnx(args.model)
    options = CompileOptions(kernel=args.kernel_name, part=args.part, clock_ns=args.clock_ns, pe=args.pe,
                             simd=args.simd, folding=args.folding or "", target_cycles=args.target_cycles,
                             act_impl=args.act_impl, golden_count=args.golden, seed=args.seed)
    if args.inputs:
        options.golden_inputs = load_inputs(args.inputs)
    report = compile_model(model, args.output, options, source=args.model)
    print(f"wrote {args.output}: {options.kernel}.cpp/.h, {options.kernel}_tb.cpp, run_hls.tcl, ir/, report.json")
    est = report.get("estimate", {})
    total = est.get("total", {}) if isinstance(est, dict) else {}
    if total:
        print("estimate: " + ", ".join(f"{k} {v}" for k, v in total.items()))
    return 0


def cmd_quantize(args) -> int:
    from lstmc.quantize import quantize_file

    report = quantize_file(args.model, args.calibration, args.config, args.output)
    sys.stdout.write(report.format())
    print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from lstmc.stages import STAGES

    parser = argparse.ArgumentParser(prog="lstmc", description="Compile quantized LSTMs from ONNX to HLS C++.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import an ONNX model and print its qrnn IR")
    p.add_argument("model", help="ONNX model (Scan with QCDQ or QONNX Quant)")
    p.add_argument("-o", "--output", help="write the IR here instead of stdout")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("run", help="run a model at one stage on inputs from an .npz")
    p.add_argument("model")
    p.add_argument("--inputs", required=True, help=".npz keyed by graph input names ([N, ...] batches)")
    p.add_argument("--stage", required=True, choices=list(STAGES))
    p.add_argument("--output", help=".npz to write, keyed by graph output names")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compile", help="compile to a Vitis HLS project (kernel, testbench, TCL, report)")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True, help="project directory to write")
    p.add_argument("--folding", help="JSON folding config keyed by unit name, e.g. {\"<scan node>/gates\": {\"PE\": 4, \"SIMD\": 2}}")
    p.add_argument("--pe", type=int, default=0, help="PE (rows in parallel) for every MVAU")
    p.add_argument("--simd", type=int, default=0, help="SIMD (columns in parallel) for every MVAU")
    p.add_argument("--target-cycles", type=int, default=0, help="cheapest folding within this many cycles per inference")
    p.add_argument("--part", default="xczu7ev-ffvc1156-2-e", help="FPGA part (default: ZCU104's)")
    p.add_argument("--clock-ns", type=float, default=5.0, help="clock period in ns (default 5 = 200 MHz)")
    p.add_argument("--kernel-name", default="lstmc_kernel")
    p.add_argument("--act-impl", choices=["threshold", "lut"], default="threshold")
    p.add_argument("--inputs", help=".npz of golden inputs for the testbench (default: random)")
    p.add_argument("--golden", type=int, default=8, help="number of random golden sequences (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_compile)

    from lstmc.estimate import add_parser as add_estimate_parser
    from lstmc.estimate import run as run_estimate

    add_estimate_parser(sub).set_defaults(func=run_estimate)

    p = sub.add_parser("verify", help="run every stage and check the verification contract")
    p.add_argument("model")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--inputs", help=".npz keyed by graph input names")
    group.add_argument("--random", type=int, default=16, metavar="N", help="N random sequences (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stages", nargs="+", default=[s for s in STAGES if s != "reference"], choices=[s for s in STAGES if s != "reference"])
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("quantize", help="post-training quantization of a float ONNX LSTM/GRU model to Scan/QCDQ")
    p.add_argument("model", help="float ONNX model with standard LSTM/GRU nodes (batch 1, layout 0)")
    p.add_argument("--calibration", required=True, metavar="DATA.npz",
                   help=".npz keyed by graph input names ([N, ...] sequences); arrays named like a graph output are "
                        "targets for the accuracy report")
    p.add_argument("--config", metavar="Q.json",
                   help="JSON quantization config: weight_bits, weight_per_channel, io_bits, acc_bits, sigmoid_bits, "
                        "tanh_bits, cell_state_bits, calibration (\"max\" | \"percentile:P\"), power_of_two, nodes "
                        "(per-node overrides); default: 8-bit weights/io/activations, 16-bit acc/cell state")
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="quantized model to write")
    p.set_defaults(func=cmd_quantize)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except LstmcError as e:
        print(f"lstmc: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lstmc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
