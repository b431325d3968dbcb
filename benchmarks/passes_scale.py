"""Time of qrnn-fold-constants and qrnn-legalize-precision versus weight count.

Run: python benchmarks/passes_scale.py [--sizes 64 128 256 512]
One LSTM layer with I = H = n; two quantization flavours: power-of-two per-tensor scales (exact, shift-only
alignment) and float per-channel weight scales (rounded multipliers, per-channel thresholds). Reports seconds
per pass and the time ratio to the smallest model next to the weight ratio.
"""

import argparse
import time

from lstmc.frontend.onnx_import import import_model
from lstmc.pipeline import apply_pipeline
from lstmc.testing import LstmSpec, Q, build_lstm

FLAVOURS = {
    "po2": lambda n: LstmSpec(input_size=n, hidden_size=n, seq_len=2),
    "float-per-channel": lambda n: LstmSpec(
        input_size=n,
        hidden_size=n,
        seq_len=2,
        per_channel_weights=True,
        weight=Q(4, True, True, 0.05),
        io=Q(8, True, False, 0.0213),
        acc=Q(8, True, False, 0.0517),
        sigmoid=Q(6, False, False, 0.0157),
    ),
}
PASSES = ["qrnn-fold-constants", "qrnn-legalize-precision"]


def measure(n: int, flavour: str) -> dict:
    module = import_model(build_lstm(FLAVOURS[flavour](n)))
    times = {}
    for name in PASSES:
        t0 = time.perf_counter()
        apply_pipeline(module, [name])
        times[name] = time.perf_counter() - t0
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    args = parser.parse_args()
    print(
        f"{'flavour':<18} {'I=H':>5} {'weights':>9} "
        + " ".join(f"{p:>24}" for p in PASSES)
        + f" {'x weights':>9} {'x time':>7}"
    )
    for flavour in FLAVOURS:
        base = None
        for n in args.sizes:
            times = measure(n, flavour)
            total = sum(times.values())
            base = base or (8 * n * n, total)
            print(
                f"{flavour:<18} {n:>5} {8 * n * n:>9} "
                + " ".join(f"{times[p]:>23.3f}s" for p in PASSES)
                + f" {8 * n * n / base[0]:>9.1f} {total / base[1]:>7.1f}"
            )


if __name__ == "__main__":
    main()
