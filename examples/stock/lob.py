"""Limit-order-book data for the stock mid-price example (DeepLOB-style, FI-2010 format), numpy only.

FI-2010 text format (Ntakaris et al., 2018; files such as ``Train_Dst_NoAuction_ZScore_CF_7.txt``):
- a whitespace-separated float matrix with 149 rows and N columns; each COLUMN is one book event;
- rows 0..39: the 40 LOB features, per level L = 1..10 the four values
  (ask price L, ask volume L, bid price L, bid volume L), so row 4*(L-1)+j;
- rows 40..143: 104 hand-crafted features (spreads, mean prices, derivatives, intensities); ignored here;
- rows 144..148: mid-price direction labels for horizons k = 1, 2, 3, 5, 10 events, 1 = up, 2 = stationary,
  3 = down. A label compares m+ = mean(mid[t+1 .. t+k]) with mid[t]: up if (m+ - mid[t]) / mid[t] > alpha,
  down if < -alpha, else stationary.
- ``CF_i`` is fold i of FI-2010's anchored day-by-day cross-validation (train on days 1..i, test on day i+1).
In memory, labels are 0 = up, 1 = stationary, 2 = down (the file value minus one).

Synthetic generator (no dataset can be downloaded where this runs, so everything works offline):
- a hidden volatility regime (calm / normal / volatile, sticky Markov chain, mean stay 500 events) scales the
  per-event log-return; this gives volatility clustering and wider spreads in the volatile regime;
- a persistent order-flow pressure f (AR(1), phi = 0.97) carries 16% of each return's variance
  (momentum: return = sigma * (0.4 f[t-1] + 0.92 noise)) and tilts the visible volumes of the first levels
  towards the bid (f > 0) or the ask (f < 0): the order-book imbalance therefore carries a noisy,
  short-term predictable signal about the next moves;
- prices live on a 0.01 tick grid around 20.00: the spread (1..3 ticks) and the gaps between levels
  (1 tick or more) are sticky random integers, so asks strictly increase and bids strictly decrease with level;
- volumes are positive integers with a hump over levels (largest around level 3) and sticky log-normal noise;
- labels follow the FI-2010 rule above with ``ALPHA`` = 1e-4 (a fifth of a tick at 20.00; FI-2010's 0.002
  would be 20 ticks, never reached within 10 events here), chosen so that horizons 5 and 10 are roughly
  balanced; horizon 1 is mostly stationary, as in FI-2010.
Synthetic files hold raw prices and volumes (not z-scored, despite the FI-2010 file name): normalise with
``fit_zscore`` on the training split and ``apply_zscore``.

Command line:
    python examples/stock/lob.py synth --events 20000 --seed 0 --out DIR
    python examples/stock/lob.py stats FILE
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

HORIZONS = (1, 2, 3, 5, 10)
LEVELS = 10
N_LOB = 4 * LEVELS  # 40
N_HANDCRAFTED = 104
N_ROWS = N_LOB + N_HANDCRAFTED + len(HORIZONS)  # 149
CLASS_NAMES = ("up", "stationary", "down")
ALPHA = 1e-4
TICK = 0.01
TRAIN_NAME = "Train_Dst_NoAuction_ZScore_CF_1.txt"
TEST_NAME = "Test_Dst_NoAuction_ZScore_CF_1.txt"

# Column indices of the [N, 40] feature matrix.
ASK_P = np.arange(LEVELS) * 4
ASK_V = ASK_P + 1
BID_P = ASK_P + 2
BID_V = ASK_P + 3


# ---------------------------------------------------------------------------------------------- file format


def load_fi2010(path) -> tuple[np.ndarray, np.ndarray]:
    """Read an FI-2010 text file into (features [N, 40] float32, labels [N, 5] int64 in {0, 1, 2}).

    Every malformed-input case raises ValueError naming the file, so callers (and the CLI) can report one line
    instead of a numpy traceback.
    """
    path = Path(path)
    try:
        with path.open() as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty file warns; it is reported below as an error
            data = np.loadtxt(fh, dtype=np.float64, ndmin=2)
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e.strerror or e}") from None
    except ValueError as e:  # includes UnicodeDecodeError
        reason = str(e).split(";")[0].rstrip(".")
        raise ValueError(f"{path}: not a whitespace-separated numeric matrix: {reason}") from None
    if data.size == 0:
        raise ValueError(f"{path}: file contains no numbers")
    rows, n = data.shape
    if rows != N_ROWS:
        hint = " (the matrix looks transposed: FI-2010 stores one event per column)" if n == N_ROWS else ""
        raise ValueError(
            f"{path}: expected {N_ROWS} rows (40 LOB features, 104 hand-crafted features, 5 labels), found {rows}{hint}"
        )
    features = data[:N_LOB].T.astype(np.float32)
    bad = ~np.isfinite(features)
    if bad.any():
        col, feat = np.argwhere(bad)[0]
        raise ValueError(f"{path}: non-finite LOB feature in row {feat}, column {col}")
    raw = data[N_LOB + N_HANDCRAFTED :]
    bad = ~np.isin(raw, (1.0, 2.0, 3.0))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{path}: label row {N_LOB + N_HANDCRAFTED + row} (horizon k={HORIZONS[row]}) has value "
            f"{raw[row, col]:g} in column {col}; FI-2010 labels must be 1 (up), 2 (stationary) or 3 (down)"
        )
    return features, (raw.T - 1).astype(np.int64)


def write_fi2010(path, features: np.ndarray, labels: np.ndarray) -> None:
    """Write the 149-row FI-2010 text format that `load_fi2010` (and FI-2010 readers) expect.

    '%.9g' is the shortest fixed precision that round-trips every float32 exactly, so a file written here
    loads back bit-identical. Rows 40..143 get FI-2010's cheap derived features (spreads and mid-prices per
    level, mean prices and volumes, accumulated differences) and zeros for the time-dependent ones, which
    would need event timestamps that this format does not carry.
    """
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels)
    if features.ndim != 2 or features.shape[1] != N_LOB:
        raise ValueError(f"{path}: features must have shape [N, {N_LOB}], got {list(features.shape)}")
    if labels.shape != (features.shape[0], len(HORIZONS)):
        raise ValueError(
            f"{path}: labels must have shape [{features.shape[0]}, {len(HORIZONS)}], got {list(labels.shape)}"
        )
    if not np.isin(labels, (0, 1, 2)).all():
        raise ValueError(f"{path}: labels must be 0 (up), 1 (stationary) or 2 (down)")
    f = features.astype(np.float64)
    ask_p, ask_v, bid_p, bid_v = f[:, ASK_P], f[:, ASK_V], f[:, BID_P], f[:, BID_V]
    hand = np.zeros((features.shape[0], N_HANDCRAFTED))
    hand[:, 0:10] = ask_p - bid_p  # u2: spreads per level
    hand[:, 10:20] = (ask_p + bid_p) / 2  # u2: mid-prices per level
    hand[:, 40:44] = np.stack([ask_p.mean(1), bid_p.mean(1), ask_v.mean(1), bid_v.mean(1)], axis=1)  # u4
    hand[:, 44:46] = np.stack([(ask_p - bid_p).sum(1), (ask_v - bid_v).sum(1)], axis=1)  # u5
    matrix = np.concatenate([f, hand.astype(np.float32).astype(np.float64), labels + 1.0], axis=1).T
    np.savetxt(path, matrix, fmt="%.9g")


# ------------------------------------------------------------------------------------- windows and scaling


def make_windows(features: np.ndarray, labels: np.ndarray, T: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """DeepLOB samples: X[m] = features[m : m+T], y[m] = label of event m+T-1 at `horizon`.

    The label belongs to the window's last event, so the model only sees the past of the move it predicts.
    X is a read-only strided view (M x T x 40 copies would need T times the memory); index it to get batches.
    """
    features = np.ascontiguousarray(features, dtype=np.float32)
    labels = np.asarray(labels)
    if horizon not in HORIZONS:
        raise ValueError(f"horizon must be one of {HORIZONS}, got {horizon}")
    if features.ndim != 2 or features.shape[1] != N_LOB or labels.shape != (features.shape[0], len(HORIZONS)):
        raise ValueError(
            f"need features [N, {N_LOB}] and labels [N, {len(HORIZONS)}], got "
            f"{list(features.shape)} and {list(labels.shape)}"
        )
    if not 1 <= T <= features.shape[0]:
        raise ValueError(f"window length T={T} must be between 1 and the number of events {features.shape[0]}")
    X = np.lib.stride_tricks.sliding_window_view(features, T, axis=0).transpose(0, 2, 1)
    y = labels[T - 1 :, HORIZONS.index(horizon)].astype(np.int64)
    return X, y


def fit_zscore(train_features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the training split only, so no test statistics leak into training."""
    x = np.asarray(train_features, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0  # a constant feature stays finite (zero) after scaling
    return mean.astype(np.float32), std.astype(np.float32)


def apply_zscore(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Scale any split with the statistics of the training split."""
    return ((np.asarray(features, dtype=np.float32) - mean) / std).astype(np.float32)


# --------------------------------------------------------------------------------------- synthetic book


def mid_price(features: np.ndarray) -> np.ndarray:
    """Level-1 mid-price in float64, computed from the float32 book so labels are reproducible from a file."""
    f = np.asarray(features, dtype=np.float64)
    return (f[:, ASK_P[0]] + f[:, BID_P[0]]) / 2


def fi2010_labels(mid: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """FI-2010 rule for events that have k future mids for every horizon: [len(mid) - 10, 5] in {0, 1, 2}."""
    n = len(mid) - max(HORIZONS)
    csum = np.concatenate([[0.0], np.cumsum(mid)])
    t = np.arange(n)
    out = np.empty((n, len(HORIZONS)), dtype=np.int64)
    for j, k in enumerate(HORIZONS):
        change = ((csum[t + k + 1] - csum[t + 1]) / k - mid[t]) / mid[t]
        out[:, j] = np.where(change > alpha, 0, np.where(change < -alpha, 2, 1))
    return out


def _sticky(rng: np.random.Generator, draws: np.ndarray, p_change: float) -> np.ndarray:
    """Hold each entry of `draws` until it is redrawn with probability p_change: books change level by level."""
    n = draws.shape[0]
    change = rng.random(draws.shape) < p_change
    change[0] = True
    idx = np.where(change, np.arange(n).reshape((n,) + (1,) * (draws.ndim - 1)), 0)
    return np.take_along_axis(draws, np.maximum.accumulate(idx, axis=0), axis=0)


def synthesize(n_events: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic book with FI-2010 layout: (features [N, 40] float32, labels [N, 5] int64 in {0, 1, 2}).

    Simulates 10 extra events so that the last real events get labels from a true future, as in FI-2010.
    """
    if n_events < 1:
        raise ValueError(f"n_events must be positive, got {n_events}")
    rng = np.random.default_rng(seed)
    n = n_events + max(HORIZONS)

    # Hidden volatility regime and order-flow pressure: a sequential recursion, cheap in plain Python floats.
    stay, vol = 0.998, (0.4, 1.0, 2.5)
    switch, pick = rng.random(n).tolist(), rng.integers(0, 2, n).tolist()
    eta = rng.standard_normal(n).tolist()
    phi = 0.97
    noise_scale = (1 - phi * phi) ** 0.5
    others = ((1, 2), (0, 2), (0, 1))
    regime, flow = np.empty(n, dtype=np.int64), np.empty(n)
    r, f = 1, 0.0
    for t in range(n):
        if switch[t] > stay:
            r = others[r][pick[t]]
        f = phi * f + noise_scale * eta[t]
        regime[t], flow[t] = r, f

    # Log-price: part momentum from the previous flow, part noise; sigma = 0.3 tick per event at 20.00.
    # Prices follow exp() so they stay positive however long the simulation runs.
    sigma = 1.5e-4 * np.asarray(vol)[regime]
    kappa = 0.4
    prev_flow = np.concatenate([[0.0], flow[:-1]])
    log_ret = sigma * (kappa * prev_flow + (1 - kappa * kappa) ** 0.5 * rng.standard_normal(n))
    efficient = 20.0 / TICK * np.exp(np.cumsum(log_ret))  # in ticks

    # Spread (ticks): tight in calm books, wide in volatile ones; sticky because quotes persist.
    spread_probs = np.array([[0.8, 0.15, 0.05], [0.6, 0.3, 0.1], [0.3, 0.4, 0.3]]).cumsum(axis=1)
    u = rng.random(n)
    spread = 1 + (u[:, None] > spread_probs[regime]).sum(axis=1)
    spread = _sticky(rng, spread, 0.1)
    bid1 = np.floor(efficient - spread / 2 + 0.5)
    ask1 = bid1 + spread

    # Gaps between consecutive levels: at least one tick, occasionally a hole in the book.
    gaps_ask = _sticky(rng, rng.geometric(0.65, (n, LEVELS - 1)), 0.05)
    gaps_bid = _sticky(rng, rng.geometric(0.65, (n, LEVELS - 1)), 0.05)
    ask_ticks = ask1[:, None] + np.concatenate([np.zeros((n, 1)), np.cumsum(gaps_ask, axis=1)], axis=1)
    bid_ticks = bid1[:, None] - np.concatenate([np.zeros((n, 1)), np.cumsum(gaps_bid, axis=1)], axis=1)

    # Volumes: hump over levels, sticky log-normal noise, and the flow tilt on the first levels.
    level = np.arange(1, LEVELS + 1)
    profile = 1500.0 * level * np.exp(-(level - 1) / 3.0)
    tilt_w = np.exp(-(level - 1) / 1.5)
    tilt = tilt_w[None, :] * flow[:, None]
    noise_ask = _sticky(rng, rng.normal(0.0, 0.5, (n, LEVELS)), 0.2) + rng.normal(0.0, 0.15, (n, LEVELS))
    noise_bid = _sticky(rng, rng.normal(0.0, 0.5, (n, LEVELS)), 0.2) + rng.normal(0.0, 0.15, (n, LEVELS))
    convexity = 0.5 * (tilt_w * tilt_w)[None, :]  # E[exp(w f)] = exp(w^2 / 2): keep the mean profile
    ask_vol = np.maximum(1.0, np.round(profile * np.exp(noise_ask - tilt - convexity)))
    bid_vol = np.maximum(1.0, np.round(profile * np.exp(noise_bid + tilt - convexity)))

    features = np.empty((n, N_LOB), dtype=np.float32)
    features[:, ASK_P] = ask_ticks * TICK
    features[:, ASK_V] = ask_vol
    features[:, BID_P] = bid_ticks * TICK
    features[:, BID_V] = bid_vol
    labels = fi2010_labels(mid_price(features))
    return features[:n_events], labels


# ---------------------------------------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, same exit status as argparse
        raise _UserError(message)


class _UserError(Exception):
    pass


def class_balance(labels: np.ndarray) -> np.ndarray:
    """Share of up / stationary / down per horizon: [5, 3]."""
    labels = np.asarray(labels)
    return np.stack([np.bincount(labels[:, j], minlength=3) / max(len(labels), 1) for j in range(len(HORIZONS))])


def _print_balance(labels: np.ndarray) -> None:
    for k, shares in zip(HORIZONS, class_balance(labels)):
        print(f"  k={k:<2}  " + "  ".join(f"{name} {100 * s:5.1f}%" for name, s in zip(CLASS_NAMES, shares)))


def _synth(args) -> None:
    if args.events < 2:
        raise _UserError(f"--events must be at least 2, got {args.events}")
    if not 0 < args.train_fraction < 1:
        raise _UserError(f"--train-fraction must be between 0 and 1, got {args.train_fraction}")
    n_train = int(round(args.events * args.train_fraction))
    if not 0 < n_train < args.events:
        raise _UserError(f"--train-fraction {args.train_fraction} leaves an empty split of {args.events} events")
    features, labels = synthesize(args.events, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, sl in ((TRAIN_NAME, slice(0, n_train)), (TEST_NAME, slice(n_train, None))):
        write_fi2010(out / name, features[sl], labels[sl])
        print(f"wrote {out / name}: {len(labels[sl])} events")
        _print_balance(labels[sl])


def _stats(args) -> None:
    features, labels = load_fi2010(args.file)
    mid = mid_price(features)
    print(f"{args.file}: N = {len(labels)} events, mid-price {mid.min():.4g} .. {mid.max():.4g}")
    _print_balance(labels)


def main(argv=None) -> int:
    parser = _Parser(prog="lob.py", description="FI-2010 limit-order-book data: synthesize or inspect files.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synth", help="write a synthetic FI-2010 train/test pair")
    p.add_argument("--events", type=int, default=20000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--train-fraction", type=float, default=0.8, help="leading share of events for training")
    p.set_defaults(run=_synth)
    p = sub.add_parser("stats", help="print the event count and the class balance per horizon")
    p.add_argument("file")
    p.set_defaults(run=_stats)
    try:
        args = parser.parse_args(argv)
        args.run(args)
    except (_UserError, ValueError, OSError) as e:
        msg = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
