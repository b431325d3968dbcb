"""Throughput of the `csim` stage (the emitted C++ kernel compiled with g++ and run) versus the onnxruntime
reference, in sequences per second, on the same inputs.

Run: python benchmarks/csim_throughput.py [--sizes I,H,T ...] [--sequences N]
For each size: a 1-layer quantized LSTM (lstmc.testing.build_lstm) is lowered to the dataflow level and its
kernel + testbench compiled with g++ ONCE (compile time reported separately, not counted). Then N random
sequences go through
- csim: quantize the float inputs to codes, write them, run the testbench binary (one process for all N
  sequences, one kernel call per sequence), read and dequantize the outputs — the work of `lstmc run --stage
  csim` after the (cached) g++ build; the binary's own wall time is reported too;
- reference: onnxruntime (ORT_ENABLE_BASIC, one sequence per run as lstmc.reference does; session creation not
  counted).
Reported: sequences/second of each and csim / reference as a ratio (> 1: csim faster), plus whether the csim
outputs equal the reference (they must be bit-identical when every scale is a power of two, as here).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from lstmc.frontend.onnx_import import import_model
from lstmc.hls import project
from lstmc.hls.csim import compile_csim
from lstmc.hls.build import lower_to_hlscpp, write_sources
from lstmc.pipeline import lower_to_stage
from lstmc.reference import make_session
from lstmc.testing import LstmSpec, build_lstm

DEFAULT_SIZES = ["4,8,16", "16,32,50", "40,64,100"]


def measure(i: int, h: int, t: int, n: int, seed: int = 0) -> dict:
    model = build_lstm(LstmSpec(input_size=i, hidden_size=h, seq_len=t, seed=seed))
    df = lower_to_stage(import_model(model), "dataflow")
    iface = project.kernel_interface(df)
    rng = np.random.default_rng(seed)
    inputs = {p.name: rng.standard_normal((n, *p.shape)).astype(np.float32) for p in iface.inputs}
    with tempfile.TemporaryDirectory(prefix="lstmc-bench-") as tmp:
        tmp = Path(tmp)
        write_sources(lower_to_hlscpp(df, "lstmc_kernel"), iface, tmp, "lstmc_kernel")
        t0 = time.perf_counter()
        binary = compile_csim(tmp, "lstmc_kernel", cache_dir=tmp / "bin")
        compile_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        codes = iface.quantize_inputs(inputs)
        inp, outp = tmp / "in.bin", tmp / "out.bin"
        project.write_codes(inp, codes)
        tb0 = time.perf_counter()
        subprocess.run([str(binary), str(inp), str(outp)], check=True, capture_output=True)
        tb_s = time.perf_counter() - tb0
        csim = iface.dequantize_outputs(project.read_codes(outp, [p.size for p in iface.outputs]))
        csim_s = time.perf_counter() - t0

    session = make_session(model)
    names = [x.name for x in session.get_inputs()]
    out_names = [o.name for o in session.get_outputs()]
    t0 = time.perf_counter()
    ref = {k: [] for k in out_names}
    for s in range(n):
        for k, v in zip(out_names, session.run(None, {nm: inputs[nm][s] for nm in names})):
            ref[k].append(v)
    ref_s = time.perf_counter() - t0
    same = all(np.array_equal(np.stack(ref[k]), csim[k]) for k in out_names if k in csim)
    return {"compile": compile_s, "csim": csim_s, "binary": tb_s, "reference": ref_s, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="I,H,T triples")
    parser.add_argument("--sequences", type=int, default=200)
    args = parser.parse_args()
    n = args.sequences
    print(f"{n} sequences per size; g++ time excluded from the rates")
    print(f"{'I':>4} {'H':>4} {'T':>4} {'g++ s':>6} {'csim seq/s':>11} {'(binary)':>10} {'ORT seq/s':>10} "
          f"{'csim/ORT':>9} {'bit-equal':>9}")
    for size in args.sizes:
        i, h, t = (int(v) for v in size.split(","))
        r = measure(i, h, t, n)
        csim_rate, bin_rate, ref_rate = n / r["csim"], n / r["binary"], n / r["reference"]
        note = "  <- FI-2010" if (i, h, t) == (40, 64, 100) else ""
        print(f"{i:>4} {h:>4} {t:>4} {r['compile']:>6.1f} {csim_rate:>11.0f} {bin_rate:>10.0f} {ref_rate:>10.0f} "
              f"{csim_rate / ref_rate:>9.2f} {str(r['same']):>9}{note}")


if __name__ == "__main__":
    main()
