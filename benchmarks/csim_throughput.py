"""Throughput of the `csim` stage (the emitted C++ kernel compiled with g++ and run) versus the onnxruntime
reference, in sequences per second, on the same inputs.

Run: python benchmarks/csim_throughput.py [--sizes I,H,T ...] [--no-stock] [--sequences N] [--fold F]
Models: the stock-prediction ConvLSTM (examples/stock, its shipped windows repeated to N) and random 1-layer
quantized LSTMs (lstmc.testing.build_lstm; the default sizes end at FI-2010's I=40, H=64, T=100). Each kernel is
built ONCE the way the csim stage builds it (lstmc.hls.build.build_csim: native-integer twin, -O2, precompiled
headers, per-user cache; g++ time reported separately, not counted). Then N sequences go through
- csim: quantize the float inputs to codes, write them, run the testbench binary (one process for all N
  sequences, one kernel call per sequence), read and dequantize the outputs — the work of `lstmc run --stage
  csim` after the (cached) build; the binary's own wall time is reported too;
- reference: onnxruntime (ORT_ENABLE_BASIC, one sequence per run as lstmc.reference does; session creation not
  counted).
With --fold F every MVAU is folded at PE = SIMD = F (clipped to valid values, as benchmarks/mvau_bound.py),
where the streamed steps of LSTMs take the x-overlapped schedule (lstmc.schedule.x_overlap) more often.
Reported: sequences/second of each, csim / reference as a ratio (> 1: csim faster; issue 13 asks >= 1), and
whether the csim outputs equal the reference (bit-identical for power-of-two scales; the stock model has float
scales, where the contract allows rare 1-LSB ties, so its column is informative).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from lstmc.frontend.onnx_import import import_model
from lstmc.hls import project
from lstmc.hls.build import build_csim
from lstmc.pipeline import lower_to_stage
from lstmc.reference import make_session
from lstmc.testing import benchmark_cases

DEFAULT_SIZES = ["4,8,16", "16,32,50", "40,32,100", "40,64,100"]


def _fold(module, fold: int) -> None:
    """Every MVAU at PE = SIMD = fold, clipped to the largest valid values at most that."""
    from lstmc.passes.qrnn_set_folding import set_folding
    from lstmc.qor import mvau_spec
    from lstmc.unit_names import mvau_names

    for op in mvau_names(module).values():
        spec = mvau_spec(op)
        set_folding(op, max(v for v in spec.pe_values() if v <= fold), max(v for v in spec.simd_values() if v <= fold))


def measure(model: onnx.ModelProto, inputs: dict[str, np.ndarray], fold: int | None = None) -> dict:
    n = len(next(iter(inputs.values())))
    df = lower_to_stage(import_model(model), "dataflow")
    if fold is not None:
        _fold(df, fold)
    iface = project.kernel_interface(df)
    t0 = time.perf_counter()
    binary = build_csim(df, iface)
    compile_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="lstmc-bench-") as tmp:
        inp, outp = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        t0 = time.perf_counter()
        project.write_codes(inp, iface.quantize_inputs(inputs))
        tb0 = time.perf_counter()
        subprocess.run([str(binary), str(inp), str(outp)], check=True, capture_output=True)
        tb_s = time.perf_counter() - tb0
        csim = iface.dequantize_outputs(project.read_codes(outp, [p.size for p in iface.outputs]))
        csim_s = time.perf_counter() - t0

    session = make_session(model)
    names = [x.name for x in session.get_inputs()]
    out_names = [o.name for o in session.get_outputs()]
    session.run(None, {nm: inputs[nm][0] for nm in names})  # first-run set-up
    t0 = time.perf_counter()
    ref = {k: [] for k in out_names}
    for s in range(n):
        for k, v in zip(out_names, session.run(None, {nm: inputs[nm][s] for nm in names})):
            ref[k].append(v)
    ref_s = time.perf_counter() - t0
    same = all(np.array_equal(np.stack(ref[k]), csim[k]) for k in out_names if k in csim)
    return {"compile": compile_s, "csim": n / csim_s, "binary": n / tb_s, "reference": n / ref_s, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="I,H,T triples")
    parser.add_argument("--no-stock", dest="stock", action="store_false")
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--fold", type=int, default=None, help="PE = SIMD = F for every MVAU (default: unfolded)")
    args = parser.parse_args()
    n = args.sequences
    cases = benchmark_cases(n, args.sizes, args.stock)
    print(f"{n} sequences per model; g++ time excluded from the rates")
    print(
        f"{'model':<26} {'g++ s':>6} {'csim seq/s':>11} {'(binary)':>10} {'ORT seq/s':>10} {'csim/ORT':>9} {'bit-equal':>9}"
    )
    for name, model, inputs in cases:
        r = measure(model, inputs, args.fold)
        print(
            f"{name:<26} {r['compile']:>6.1f} {r['csim']:>11.0f} {r['binary']:>10.0f} {r['reference']:>10.0f} "
            f"{r['csim'] / r['reference']:>9.2f} {str(r['same']):>9}"
        )


if __name__ == "__main__":
    main()
