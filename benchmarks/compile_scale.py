"""Time of `lstmc compile` before g++, versus model size.

Run: python benchmarks/compile_scale.py [--sizes I,H,T ...] [--repeat N]
For each size: a 1-layer quantized LSTM (lstmc.testing.build_lstm, 4-bit weights, 8-bit io, power-of-two
scales) is imported (ONNX -> qrnn), lowered by the named pipeline lstm-to-hls (fold constants, legalize
precision, qrnn-to-dataflow, qrnn-to-hlscpp, hlscpp-prepare-emission), its golden vectors computed (the
dataflow-level interpreter on 8 random sequences, as `lstmc compile` does) and printed as C++ by the hls-cpp
target; then the whole `lstmc compile` (lstmc.compile.compile_model: all of the above plus the testbench, IR
dumps, report and files) runs into a temporary directory. Reported: seconds per phase (best of --repeat runs),
the compile total, its ratio to the smallest model next to the ratio of weight counts (4 * (I + H) * H) and of
C++ size. The default sizes include FI-2010 (I=40 features, H=64, T=100, the stock-prediction example) and
I = H = 512 (2M weights; issue 13 asks <= 3 s for it).
For the largest size, the two phases issue 13 made fast are also timed the old way in the same run: golden
vectors with int64 np.matmul (no BLAS, no SIMD) and weights formatted with str() per element.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import nullcontext
from io import StringIO
from pathlib import Path
from unittest import mock

import numpy as np

from lstmc.compile import CompileOptions, compile_model
from lstmc.frontend.onnx_import import import_model
from lstmc.hls import emit
from lstmc.hls.emit import emit_hls_cpp
from lstmc.hls.project import kernel_interface
from lstmc.interpreter import qrnn as qrnn_interpreter
from lstmc.interpreter import run_function
from lstmc.passes.lstm_to_hls import pipeline_stages
from lstmc.pipeline import apply_pipeline
from lstmc.testing import LstmSpec, build_lstm

DEFAULT_SIZES = ["4,8,16", "16,32,50", "40,64,100", "64,128,100", "128,128,100", "512,512,100"]


def _golden_inputs(module, count: int = 8) -> dict:
    rng = np.random.default_rng(0)
    return {p.name: rng.standard_normal((count, *p.shape)).astype(np.float32) for p in kernel_interface(module).inputs}


def measure(model) -> dict:
    stages = pipeline_stages()
    t0 = time.perf_counter()
    module = import_model(model)
    t1 = time.perf_counter()
    for _, passes in stages[:-1]:
        apply_pipeline(module, passes)
    hls = apply_pipeline(module.clone(), stages[-1][1])
    t2 = time.perf_counter()
    run_function(module, _golden_inputs(module))
    t3 = time.perf_counter()
    buf = StringIO()
    emit_hls_cpp(hls, buf)
    t4 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lstmc-bench-") as tmp:
        c0 = time.perf_counter()
        compile_model(model, Path(tmp) / "out", CompileOptions())
        compile_s = time.perf_counter() - c0
    return {
        "import": t1 - t0,
        "lstm-to-hls": t2 - t1,
        "golden": t3 - t2,
        "emit": t4 - t3,
        "compile": compile_s,
        "cpp_bytes": len(buf.getvalue()),
    }


def best_of(model, repeat: int) -> dict:
    runs = [measure(model) for _ in range(repeat)]
    return {k: min(r[k] for r in runs) for k in runs[0]}


def _old_int64_product(a, b, *_):
    return np.matmul(np.asarray(a, np.int64), np.asarray(b, np.int64))


def _str_per_element(values: np.ndarray) -> str:
    if values.ndim == 0:
        return str(int(values))
    return "{" + ", ".join(_str_per_element(v) for v in values) + "}"


def old_ways(model) -> dict:
    """Golden vectors and weight formatting of the largest model, the old way and the new way, in this run."""
    module = import_model(model)
    for _, passes in pipeline_stages()[:-1]:
        apply_pipeline(module, passes)
    inputs = _golden_inputs(module)
    weights = [np.asarray(w) for w in _mvau_weights(module)]
    times = {}
    for label, patch in (("new", None), ("old", _old_int64_product)):
        with mock.patch.object(qrnn_interpreter, "_product", patch) if patch else nullcontext():
            t0 = time.perf_counter()
            run_function(module, inputs)
            times[f"golden {label}"] = time.perf_counter() - t0
    for label, fmt in (("new", emit._initializer), ("old", _str_per_element)):
        t0 = time.perf_counter()
        for w in weights:
            fmt(w)
        times[f"format {label}"] = time.perf_counter() - t0
    return times


def _mvau_weights(module):
    from lstmc.dense import array_from_dense
    from lstmc.dialects import dataflow

    return [array_from_dense(op.weights).astype(np.int64) for op in module.walk() if isinstance(op, dataflow.MVAUOp)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="I,H,T triples")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    measure(build_lstm(LstmSpec(input_size=2, hidden_size=2, seq_len=2)))  # imports, not timed
    print(
        f"{'I':>4} {'H':>4} {'T':>4} {'weights':>8} {'import':>8} {'lstm-to-hls':>12} {'golden':>7} {'emit':>7} "
        f"{'compile':>8} {'C++ KiB':>8} {'x weights':>9} {'x C++':>6} {'x time':>7}"
    )
    base, last = None, None
    for size in args.sizes:
        i, h, t = (int(v) for v in size.split(","))
        model = build_lstm(LstmSpec(input_size=i, hidden_size=h, seq_len=t))
        r = best_of(model, args.repeat)
        weights = 4 * (i + h) * h
        base = base or (weights, r["cpp_bytes"], r["compile"])
        note = "  <- FI-2010" if (i, h, t) == (40, 64, 100) else ("  <- issue 13: <= 3 s" if i == h == 512 else "")
        print(
            f"{i:>4} {h:>4} {t:>4} {weights:>8} {r['import']:>7.3f}s {r['lstm-to-hls']:>11.3f}s {r['golden']:>6.3f}s "
            f"{r['emit']:>6.3f}s {r['compile']:>7.3f}s {r['cpp_bytes'] / 1024:>8.1f} {weights / base[0]:>9.1f} "
            f"{r['cpp_bytes'] / base[1]:>6.1f} {r['compile'] / base[2]:>7.1f}{note}"
        )
        last = (i, h, t, model)
    assert last is not None, "at least one size is measured"
    i, h, t, model = last
    o = old_ways(model)
    print(
        f"I={i} H={h} T={t}, same run: golden vectors {o['golden new']:.3f}s vs {o['golden old']:.3f}s with int64 "
        f"np.matmul ({o['golden old'] / o['golden new']:.1f}x); weights formatted in {o['format new']:.3f}s vs "
        f"{o['format old']:.3f}s with str() per element ({o['format old'] / o['format new']:.1f}x)"
    )


if __name__ == "__main__":
    main()
