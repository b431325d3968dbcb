"""Time of the work of `lstmc compile` before g++, versus model size.

Run: python benchmarks/compile_scale.py [--sizes I,H,T ...] [--repeat N]
For each size: a 1-layer quantized LSTM (lstmc.testing.build_lstm, 4-bit weights, 8-bit io, power-of-two
scales) is imported (ONNX -> qrnn), lowered by the named pipeline lstm-to-hls (fold constants, legalize
precision, qrnn-to-dataflow, qrnn-to-hlscpp, hlscpp-prepare-emission) and printed as C++ by the hls-cpp
target. Reported: seconds per phase (best of --repeat runs), the total, the total as a ratio to the smallest
model, next to the ratio of weight counts (4 * (I + H) * H) and of C++ size. The default sizes include FI-2010
(I=40 features, H=64, T=100 steps, the stock-prediction example). g++, the testbench and golden vectors are
not included.
"""

from __future__ import annotations

import argparse
import time
from io import StringIO

from lstmc.frontend.onnx_import import import_model
from lstmc.hls.emit import emit_hls_cpp
from lstmc.pipeline import apply_pipeline
from lstmc.testing import LstmSpec, build_lstm

DEFAULT_SIZES = ["4,8,16", "16,32,50", "40,64,100", "64,128,100", "128,128,100"]


def measure(i: int, h: int, t: int) -> dict:
    model = build_lstm(LstmSpec(input_size=i, hidden_size=h, seq_len=t))
    t0 = time.perf_counter()
    module = import_model(model)
    t1 = time.perf_counter()
    apply_pipeline(module, ["lstm-to-hls"])
    t2 = time.perf_counter()
    buf = StringIO()
    emit_hls_cpp(module, buf)
    t3 = time.perf_counter()
    return {"import": t1 - t0, "lstm-to-hls": t2 - t1, "emit": t3 - t2, "total": t3 - t0, "cpp_bytes": len(buf.getvalue())}


def best_of(i: int, h: int, t: int, repeat: int) -> dict:
    runs = [measure(i, h, t) for _ in range(repeat)]
    return min(runs, key=lambda r: r["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, help="I,H,T triples")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'I':>4} {'H':>4} {'T':>4} {'weights':>8} {'import':>8} {'lstm-to-hls':>12} {'emit':>7} {'total':>7} "
          f"{'C++ KiB':>8} {'x weights':>9} {'x C++':>6} {'x time':>7}")
    base = None
    for size in args.sizes:
        i, h, t = (int(v) for v in size.split(","))
        r = best_of(i, h, t, args.repeat)
        weights = 4 * (i + h) * h
        base = base or (weights, r["cpp_bytes"], r["total"])
        note = "  <- FI-2010" if (i, h, t) == (40, 64, 100) else ""
        print(f"{i:>4} {h:>4} {t:>4} {weights:>8} {r['import']:>7.3f}s {r['lstm-to-hls']:>11.3f}s {r['emit']:>6.3f}s "
              f"{r['total']:>6.3f}s {r['cpp_bytes'] / 1024:>8.1f} {weights / base[0]:>9.1f} {r['cpp_bytes'] / base[1]:>6.1f} "
              f"{r['total'] / base[2]:>7.1f}{note}")


if __name__ == "__main__":
    main()
