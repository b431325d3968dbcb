"""Throughput of the `integer` and `dataflow` stages (the xDSL interpreters of the compiled IR) versus the
`reference` stage (onnxruntime), in sequences per second, on the same batch (issue 13 asks >= 2x).

Run: python benchmarks/interpreter_throughput.py [--sizes I,H,T ...] [--no-stock] [--sequences N]
Models: the stock-prediction ConvLSTM (examples/stock, its shipped windows repeated to N) and random 1-layer
quantized LSTMs (lstmc.testing.build_lstm; FI-2010's I=40, H=64, T=100 among the defaults). Each stage runs
as `lstmc run --stage S` does (lstmc.stages.run_stage: import and lowering included for the interpreters,
session creation for the reference), after one warm-up call on one sequence (imports, not timed). The stages
take turns, --repeat rounds (default 3), and each keeps its fastest round: the machine is shared, and a busy
moment during one stage's only run skewed the ratio by 2x. Reported: sequences/second of each stage and each
interpreter's rate as a ratio to the reference's in the same run, and whether integer == dataflow bit for bit
(the verification contract).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import onnx

from lstmc.stages import run_stage
from lstmc.testing import benchmark_cases

DEFAULT_SIZES = ["16,32,50", "40,64,100", "64,128,100"]
STAGES = ("reference", "integer", "dataflow")


def measure(model: onnx.ModelProto, inputs: dict[str, np.ndarray], repeat: int = 3) -> dict:
    n = len(next(iter(inputs.values())))
    for stage in STAGES:
        run_stage(stage, model, {k: v[:1] for k, v in inputs.items()})
    rates, outputs = dict.fromkeys(STAGES, 0.0), {}
    for _ in range(repeat):  # interleaved rounds, the best of each stage
        for stage in STAGES:
            t0 = time.perf_counter()
            outputs[stage] = run_stage(stage, model, inputs)
            rates[stage] = max(rates[stage], n / (time.perf_counter() - t0))
    same = all(np.array_equal(outputs["integer"][k], outputs["dataflow"][k]) for k in outputs["integer"])
    return {"rates": rates, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="I,H,T triples")
    parser.add_argument("--no-stock", dest="stock", action="store_false")
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per stage; the fastest counts")
    args = parser.parse_args()
    n = args.sequences
    cases = benchmark_cases(n, args.sizes, args.stock)
    print(f"{n} sequences per model, sequences/second (best of {args.repeat} interleaved rounds)")
    print(f"{'model':<26} {'reference':>10} {'integer':>9} {'x ref':>6} {'dataflow':>9} {'x ref':>6} {'int==df':>8}")
    for name, model, inputs in cases:
        r = measure(model, inputs, args.repeat)
        ref, integer, df = (r["rates"][s] for s in STAGES)
        print(
            f"{name:<26} {ref:>10.0f} {integer:>9.0f} {integer / ref:>6.2f} {df:>9.0f} {df / ref:>6.2f} {str(r['same']):>8}"
        )


if __name__ == "__main__":
    main()
