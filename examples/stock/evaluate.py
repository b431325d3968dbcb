"""Check the compiled stock model on the whole test split, without torch: every stage against Brevitas.

    python examples/stock/evaluate.py [--model examples/stock/model.onnx] [--data examples/stock/test_split.npz]
                                      [--stages qrnn,integer,dataflow,csim] [--limit N]

`test_split.npz` (written by train.py) holds the test split as the model sees it: `codes` [N, 40] int8/int16,
the input quantizer's codes of the z-scored events (the model's first op quantizes X with that quantizer, so
codes * scale is exactly what it computes with), `scale`, the window length `T`, the labels of the
M = N - T + 1 windows (`labels` [M], 0 up / 1 stationary / 2 down) and Brevitas' logits on them
(`brevitas_logits` [M, 3], eval forward of the trained module). Storing events instead of windows keeps it
small: window m is events m .. m + T - 1.

For each stage (onnxruntime reference first) the script prints how many logits differ from Brevitas', the
accuracy and the macro-F1; it exits 1 unless every stage equals Brevitas bit for bit, so the compiled design's
accuracy is the trained model's. The `majority` row is the baseline: always predicting the most frequent class
of these windows. While a stage runs, a progress line (stage, windows done, time) goes to stderr when it is a
terminal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def windows(codes: np.ndarray, scale: float, T: int) -> np.ndarray:
    events = codes.astype(np.float32) * np.float32(scale)
    m = len(events) - T + 1
    return np.stack([events[i : i + T] for i in range(m)]).astype(np.float32)


def _train_module():
    """train.py's torch-free metrics (it imports torch only inside main)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("stock_train", HERE / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--model", default=str(HERE / "model.onnx"))
    ap.add_argument("--data", default=str(HERE / "test_split.npz"))
    ap.add_argument("--stages", default="reference,qrnn,integer,dataflow,csim")
    ap.add_argument("--limit", type=int, default=0, help="only the first N windows (0: all)")
    args = ap.parse_args(argv)

    import lstmc
    from lstmc.api import Progress
    from lstmc.errors import LstmcError

    try:
        design = lstmc.load(args.model)
        model = design.model
        with np.load(args.data) as data:
            split = {k: data[k] for k in data.files}
        missing = {"codes", "scale", "T", "labels", "brevitas_logits"} - set(split)
        if missing:
            raise LstmcError(f"{args.data}: missing arrays {sorted(missing)}")
        X = windows(split["codes"], float(split["scale"]), int(split["T"]))
        labels, expected = split["labels"], split["brevitas_logits"]
        if len(X) != len(labels) or expected.shape != (len(X), 3):
            raise LstmcError(
                f"{args.data}: {len(X)} windows but {len(labels)} labels and logits {list(expected.shape)}"
            )
        if args.limit:
            X, labels, expected = X[: args.limit], labels[: args.limit], expected[: args.limit]
        train = _train_module()
        summarize = train.summarize
        output = model.graph.output[0].name
        brevitas_pred = expected.argmax(-1)
        print(f"{args.model}: {len(X)} test windows of T = {X.shape[1]} events")
        print(f"{'stage':<10} {'logits != Brevitas':>19} {'accuracy':>9} {'macro-F1':>9} {'time':>8}")
        majority = int(np.bincount(labels, minlength=3).argmax())
        m = summarize(labels, np.full_like(labels, majority))
        print(
            f"{'majority':<10} {'-':>19} {m['accuracy']:>9.4f} {m['macro_f1']:>9.4f} {'-':>8}  "
            f"(always '{train.lob.CLASS_NAMES[majority]}', the most frequent class here)"
        )
        m = summarize(labels, brevitas_pred)
        print(f"{'brevitas':<10} {'-':>19} {m['accuracy']:>9.4f} {m['macro_f1']:>9.4f} {'-':>8}")
        failed = False
        progress = Progress("evaluate")  # on stderr, only when it is a terminal
        for stage in [s for s in args.stages.split(",") if s]:
            start = time.perf_counter()
            got = design.run({"X": X}, stage=stage, progress=progress)[output]
            elapsed = time.perf_counter() - start
            differ = int(np.sum(got != expected))
            m = summarize(labels, got.argmax(-1))
            print(f"{stage:<10} {differ:>19} {m['accuracy']:>9.4f} {m['macro_f1']:>9.4f} {elapsed:>7.1f}s")
            failed |= differ != 0
    except LstmcError as e:
        print(f"evaluate: error: {e}", file=sys.stderr)
        return 1
    print(
        "FAILED: a stage differs from Brevitas"
        if failed
        else "every stage equals Brevitas bit for bit: the compiled design's accuracy is the trained model's"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
