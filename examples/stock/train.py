"""Train the quantized StockNet (QAT with Brevitas) on limit-order-book windows, export and verify its ONNX.

    python examples/stock/train.py --out DIR [--config w8|w6|w4] [--epochs N] [--events N] [--seed S]
                                   [--data FI2010_DIR] [--horizon K] [--set KEY=VALUE ...]

Data: a synthetic FI-2010-format book from lob.py (``--events`` events, the first 80% for training), or real
FI-2010 files with ``--data DIR`` (``Train_*.txt`` and ``Test_*.txt``, CF_1 preferred). Features are z-scored
with the training split's statistics; a sample is a window of T events labelled with the mid-price direction at
horizon ``--horizon`` (default 10) of its last event.

Training: Adam, cross-entropy (class-weighted when the training labels are unbalanced), cosine learning rate,
batches of 512 windows (Brevitas' QuantLSTM is Python-bound: a step costs about the same for 64 or 512 windows),
2 CPU threads with passive OpenMP waiting (see the end of this file); deterministic for a given seed.
Evaluation: accuracy, macro-F1 and the confusion matrix of Brevitas' eval forward on the whole test split,
against the majority-class baseline.

Outputs in DIR:
    model.onnx      the one-sequence QCDQ ONNX (X [T, 40] -> logits [3]), see export.py
    inputs.npz      X: [64, T, 40] float32, test windows evenly spread over the test split
    expected.npz    logits: [64, 3], Brevitas' logits for those windows
    metrics.json    config, accuracy, macro-F1, confusion matrix, baseline, sizes, timings, the ORT check
    checkpoint.pt   the state dict (load into StockNet(StockConfig(**metrics["config"])))
    test_split.npz  the whole test split for examples/stock/evaluate.py: `codes` [N, 40] (input quantizer codes
                    of the z-scored test events; window m is events m .. m+T-1), `scale`, `T`, `labels` [M],
                    `brevitas_logits` [M, 3] (M = N - T + 1 windows)
The script fails (exit status 1) unless onnxruntime (ORT_ENABLE_BASIC) reproduces Brevitas' logits on the 64
windows bit for bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
N_EXPORT = 64


def _load(name: str):
    """A sibling file of this directory as module ``stock_<name>`` (no package, no generic names on sys.path)."""
    key = f"stock_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod


lob = _load("lob")


# ------------------------------------------------------------------------------------------------------ data
def load_data(args) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """((train features, labels), (test features, labels), description); features not yet normalised."""
    if args.data:
        d = Path(args.data)

        def pick(kind: str, preferred: str) -> Path:
            if (d / preferred).is_file():
                return d / preferred
            found = sorted(d.glob(f"{kind}*.txt"))
            if len(found) != 1:
                raise ValueError(
                    f"{d}: expected {preferred} or exactly one {kind}*.txt file, found "
                    f"{[p.name for p in found] or 'none'}"
                )
            return found[0]

        tr, te = pick("Train", lob.TRAIN_NAME), pick("Test", lob.TEST_NAME)
        return lob.load_fi2010(tr), lob.load_fi2010(te), f"FI-2010 files {tr.name}, {te.name}"
    if args.events < 1000:
        raise ValueError(f"--events must be at least 1000, got {args.events}")
    features, labels = lob.synthesize(args.events, args.seed)
    n = int(round(0.8 * args.events))
    return (
        (features[:n], labels[:n]),
        (features[n:], labels[n:]),
        f"synthetic book, {args.events} events, seed {args.seed}",
    )


# --------------------------------------------------------------------------------------------------- metrics
def confusion(y: np.ndarray, p: np.ndarray, k: int = 3) -> np.ndarray:
    """rows: true class, columns: predicted class."""
    return np.bincount(y * k + p, minlength=k * k).reshape(k, k)


def macro_f1(cm: np.ndarray) -> float:
    f1 = []
    for c in range(cm.shape[0]):
        tp, fp, fn = cm[c, c], cm[:, c].sum() - cm[c, c], cm[c, :].sum() - cm[c, c]
        f1.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1))


def summarize(y: np.ndarray, p: np.ndarray) -> dict:
    cm = confusion(y, p)
    return {
        "accuracy": float(np.trace(cm) / max(cm.sum(), 1)),
        "macro_f1": macro_f1(cm),
        "confusion_matrix": cm.tolist(),
    }


# ------------------------------------------------------------------------------------------------ progress
class Progress:
    """A one-line text progress bar on stderr (tqdm is not a dependency)."""

    def __init__(self, total: int, desc: str, width: int = 28):
        self.total, self.desc, self.width = total, desc, width
        self.start = self.last = time.perf_counter()
        self.n = 0
        self.tty = sys.stderr.isatty()

    def update(self, n: int = 1, **info) -> None:
        self.n += n
        now = time.perf_counter()
        if self.n < self.total and now - self.last < (0.5 if self.tty else 15.0):
            return
        self.last = now
        frac = self.n / max(self.total, 1)
        done = int(self.width * frac)
        rate = self.n / max(now - self.start, 1e-9)
        eta = (self.total - self.n) / rate if rate > 0 else 0.0
        extra = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items())
        line = (
            f"{self.desc} [{'#' * done}{'.' * (self.width - done)}] {self.n}/{self.total} "
            f"{now - self.start:5.1f}s eta {eta:5.1f}s {extra}"
        )
        sys.stderr.write(("\r" + line + "\033[K") if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


# ------------------------------------------------------------------------------------------------- training
def train(
    net, X: np.ndarray, y: np.ndarray, *, epochs: int, batch: int, lr: float, seed: int, class_weights=None
) -> tuple[list[float], list[float]]:
    """QAT with Adam and a cosine learning rate; returns (mean loss, wall seconds) per epoch.
    net is left in eval mode."""
    import torch  # pyright: ignore[reportMissingImports]

    rng = np.random.default_rng(seed)
    steps_per_epoch = math.ceil(len(y) / batch)
    total = epochs * steps_per_epoch
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
    losses, times = [], []
    try:
        net.train()
        for epoch in range(epochs):
            order = rng.permutation(len(y))
            bar = Progress(steps_per_epoch, f"epoch {epoch + 1}/{epochs}")
            run_loss, run_correct, seen = 0.0, 0, 0
            for s in range(steps_per_epoch):
                idx = np.sort(order[s * batch : (s + 1) * batch])
                xb = torch.from_numpy(np.ascontiguousarray(X[idx]))
                yb = torch.from_numpy(y[idx])
                logits = net(xb)
                loss = torch.nn.functional.cross_entropy(logits, yb, weight=weight)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                sched.step()
                run_loss += float(loss.detach()) * len(idx)
                run_correct += int((logits.argmax(1) == yb).sum())
                seen += len(idx)
                bar.update(loss=run_loss / seen, acc=run_correct / seen)
            bar.close()
            losses.append(run_loss / seen)
            times.append(round(time.perf_counter() - bar.start, 2))
    finally:
        net.eval()
    return losses, times


def class_weights_for(y: np.ndarray, k: int = 3):
    """Inverse-frequency weights (mean 1) when the largest class is > 1.2x the smallest, else None."""
    counts = np.bincount(y, minlength=k).astype(np.float64)
    if counts.min() == 0 or counts.max() / counts.min() <= 1.2:
        return None
    w = counts.sum() / (k * counts)
    return (w / w.mean()).tolist()


def parse_overrides(items, StockConfig) -> dict:
    fields = {f.name: f.type for f in dataclasses.fields(StockConfig)}
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in fields or key == "name":
            raise ValueError(
                f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(k for k in fields if k != 'name')}"
            )
        out[key] = int(value)
    return out


# --------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="train.py", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--config", default="w8", help="named configuration (w8, w6, w4)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field, e.g. H=32")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--events", type=int, default=20000, help="synthetic book length (ignored with --data)")
    p.add_argument("--data", help="directory with real FI-2010 Train_*.txt / Test_*.txt files")
    p.add_argument("--horizon", type=int, default=10, choices=lob.HORIZONS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch  # pyright: ignore[reportMissingImports]

    model_mod, export_mod = _load("model"), _load("export")
    torch.set_num_threads(args.threads)
    try:
        cfg = model_mod.get_config(args.config, **parse_overrides(args.set, model_mod.StockConfig))
        model_mod.check_config(cfg)
        (f_tr, l_tr), (f_te, l_te), source = load_data(args)
        if args.epochs < 1:
            raise ValueError("--epochs must be positive")
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    mean, std = lob.fit_zscore(f_tr)
    X_tr, y_tr = lob.make_windows(lob.apply_zscore(f_tr, mean, std), l_tr, cfg.T, args.horizon)
    X_te, y_te = lob.make_windows(lob.apply_zscore(f_te, mean, std), l_te, cfg.T, args.horizon)
    if len(y_te) < N_EXPORT:
        print(f"error: the test split has {len(y_te)} windows, need at least {N_EXPORT}", file=sys.stderr)
        return 2
    shares = np.bincount(y_tr, minlength=3) / len(y_tr)
    weights = class_weights_for(y_tr)
    print(f"data: {source}; horizon {args.horizon}; T {cfg.T}; train {len(y_tr)} windows, test {len(y_te)}")
    print(
        "train classes: "
        + ", ".join(f"{n} {s:.1%}" for n, s in zip(lob.CLASS_NAMES, shares))
        + (f"; class weights {np.round(weights, 3).tolist()}" if weights else "; unweighted loss")
    )
    print(f"config {cfg.name}: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(cfg).items() if k != "name"))

    torch.manual_seed(args.seed)
    net = model_mod.StockNet(cfg)
    n_params = sum(p.numel() for p in net.parameters())
    t0, c0 = time.perf_counter(), time.process_time()
    losses, epoch_times = train(
        net, X_tr, y_tr, epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed, class_weights=weights
    )
    train_time, train_cpu = time.perf_counter() - t0, time.process_time() - c0

    t1 = time.perf_counter()
    logits_te = export_mod.brevitas_logits(net, X_te, batch=512)
    eval_time = time.perf_counter() - t1
    pred = logits_te.argmax(1)
    test = summarize(y_te, pred)
    majority_class = int(np.bincount(y_tr, minlength=3).argmax())  # what a constant predictor would learn
    test_majority = int(np.bincount(y_te, minlength=3).argmax())
    baseline = {
        "train_majority_class": lob.CLASS_NAMES[majority_class],
        "accuracy": summarize(y_te, np.full_like(y_te, majority_class))["accuracy"],
        "macro_f1": summarize(y_te, np.full_like(y_te, majority_class))["macro_f1"],
        "test_majority_class": lob.CLASS_NAMES[test_majority],
        "test_majority_share": float(np.mean(y_te == test_majority)),
    }
    print(
        f"test: accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f} "
        f"(majority baseline: accuracy {baseline['test_majority_share']:.4f} predicting "
        f"'{baseline['test_majority_class']}', macro-F1 {baseline['macro_f1']:.4f} predicting the train "
        f"majority '{baseline['train_majority_class']}'); {train_time:.1f} s training "
        f"({train_cpu:.1f} s CPU)"
    )
    print("confusion (rows true up/stat/down, cols predicted):", test["confusion_matrix"])

    # Export, then check onnxruntime against Brevitas on N_EXPORT test windows spread over the split.
    idx = np.linspace(0, len(y_te) - 1, N_EXPORT).round().astype(np.int64)
    X_exp = np.ascontiguousarray(X_te[idx], dtype=np.float32)
    expected = logits_te[idx]
    model = export_mod.export_stocknet(net, cfg.T)
    t2 = time.perf_counter()
    status = "ok"
    try:
        got = export_mod.check_against_brevitas(model, net, X_exp, expected)
        acc_ort = float(np.mean(got.argmax(1) == y_te[idx]))
        acc_brev = float(np.mean(expected.argmax(1) == y_te[idx]))
        if acc_ort != acc_brev:
            raise AssertionError(f"onnxruntime accuracy {acc_ort} != Brevitas accuracy {acc_brev}")
    except AssertionError as e:
        status = str(e)
        acc_ort = acc_brev = None
    ort_time = time.perf_counter() - t2

    # The whole test split as input-quantizer codes of its events (evaluate.py). The input quantizer is
    # idempotent, so windows rebuilt from the codes give Brevitas' logits on the float windows (logits_te);
    # checked on the exported windows.
    codes, in_scale = export_mod.input_codes(net, lob.apply_zscore(f_te, mean, std))
    rebuilt = np.stack([codes[m : m + cfg.T] for m in idx]).astype(np.float32) * in_scale
    if status == "ok":
        try:
            export_mod.check_against_brevitas(model, net, rebuilt, expected)
        except AssertionError as e:
            status = f"test_split.npz codes: {e}"

    model_bytes = model.SerializeToString()
    (out / "model.onnx").write_bytes(model_bytes)
    np.savez(out / "inputs.npz", X=X_exp)
    np.savez(out / "expected.npz", **{export_mod.OUTPUT: expected})
    torch.save(net.state_dict(), out / "checkpoint.pt")
    np.savez(
        out / "test_split.npz", codes=codes, scale=in_scale, T=np.int64(cfg.T), labels=y_te, brevitas_logits=logits_te
    )
    metrics = {
        "config": dataclasses.asdict(cfg),
        "data": source,
        "horizon": args.horizon,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch": args.batch,
        "lr": args.lr,
        "threads": args.threads,
        "train_size": int(len(y_tr)),
        "test_size": int(len(y_te)),
        "train_class_shares": shares.tolist(),
        "class_weights": weights,
        "parameters": int(n_params),
        "epoch_losses": losses,
        "epoch_times_s": epoch_times,
        "accuracy": test["accuracy"],
        "macro_f1": test["macro_f1"],
        "confusion_matrix": test["confusion_matrix"],
        "confusion_matrix_axes": "rows: true class, columns: predicted class; order " + "/".join(lob.CLASS_NAMES),
        "majority_baseline": baseline,
        "training_time_s": round(train_time, 2),
        "training_cpu_time_s": round(train_cpu, 2),
        "test_eval_time_s": round(eval_time, 2),
        "onnx": {
            "file": "model.onnx",
            "bytes": len(model_bytes),
            "opset": int(model.opset_import[0].version),
            "ops": [n.op_type for n in model.graph.node],
        },
        "ort_check": {
            "windows": N_EXPORT,
            "window_indices": idx.tolist(),
            "labels": y_te[idx].tolist(),
            "optimization_level": "ORT_ENABLE_BASIC",
            "bit_exact": status == "ok",
            "status": status,
            "accuracy_brevitas": acc_brev,
            "accuracy_onnxruntime": acc_ort,
            "time_s": round(ort_time, 2),
        },
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"wrote {out}/model.onnx ({len(model_bytes)} bytes, opset {metrics['onnx']['opset']}), inputs.npz, "
        "expected.npz, metrics.json, checkpoint.pt, test_split.npz"
    )
    if status != "ok":
        print(f"error: {status}", file=sys.stderr)
        return 1
    print(
        f"onnxruntime (ORT_ENABLE_BASIC) == Brevitas bit for bit on {N_EXPORT} test windows "
        f"(accuracy on them {acc_ort:.4f} both)"
    )
    return 0


if __name__ == "__main__":
    # The QuantLSTM's ops are tiny and Python-bound: with OpenMP's default spin-waiting, 2 threads on 2 busy
    # cores stall for seconds per step whenever another process holds a core. Passive waiting avoids that;
    # it must be set before torch loads its OpenMP runtime.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main())
