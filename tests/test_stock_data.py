"""The FI-2010 data layer of the stock example (examples/stock/lob.py).

Properties: the text format round-trips exactly; the synthetic book is a valid limit-order book with
non-degenerate, FI-2010-rule labels that a linear model predicts better than chance; windows take the label of
their last event; malformed files and CLI misuse give one error line naming the problem.
"""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

LOB_PY = ROOT / "examples" / "stock" / "lob.py"
_spec = importlib.util.spec_from_file_location("stock_lob", LOB_PY)
assert _spec is not None and _spec.loader is not None
lob = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lob)


@pytest.fixture(scope="module")
def book():
    return lob.synthesize(20000, 0)


# ------------------------------------------------------------------------------------------------ format


def test_round_trip_is_exact(tmp_path, book):
    features, labels = book[0][:1500], book[1][:1500]
    path = tmp_path / "Train_Dst_NoAuction_ZScore_CF_1.txt"
    lob.write_fi2010(path, features, labels)
    raw = np.loadtxt(path)
    assert raw.shape == (149, 1500)
    assert np.isin(raw[144:], (1, 2, 3)).all()
    assert np.abs(raw[40:144]).sum() > 0  # derived features, not an empty block
    got_f, got_l = lob.load_fi2010(path)
    assert got_f.dtype == np.float32 and got_l.dtype == np.int64
    assert np.array_equal(got_f, features) and np.array_equal(got_l, labels)


def _write_matrix(path, matrix):
    np.savetxt(path, matrix, fmt="%.9g")
    return path


def _valid_matrix(n=4):
    features, labels = lob.synthesize(n, 1)
    return np.concatenate([features.T, np.zeros((104, n)), labels.T + 1.0])


@pytest.mark.parametrize(
    "mutate, fragments",
    [
        (lambda m: m[:148], ["expected 149 rows", "found 148"]),
        (lambda m: m.T, ["found 4", "transposed"]),
        (lambda m: _set(m, (146, 2), 4), ["label row 146", "k=3", "value 4"]),
        (lambda m: _set(m, (144, 0), 0), ["label row 144", "value 0"]),
        (lambda m: _set(m, (148, 3), 1.5), ["label row 148", "value 1.5"]),
        (lambda m: _set(m, (5, 1), np.nan), ["non-finite"]),
    ],
)
def test_malformed_matrix_names_file(tmp_path, mutate, fragments):
    path = _write_matrix(tmp_path / "bad_file.txt", mutate(_valid_matrix()))
    with pytest.raises(ValueError) as err:
        lob.load_fi2010(path)
    assert "bad_file.txt" in str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value)


def _set(m, idx, value):
    m = m.copy()
    m[idx] = value
    return m


@pytest.mark.parametrize(
    "text, fragment",
    [("1 2 3\n4 abc 6\n", "numeric"), ("1 2 3\n4 5\n", "numeric"), ("", "no numbers"), (None, "cannot read")],
)
def test_unreadable_file_names_file(tmp_path, text, fragment):
    path = tmp_path / "odd_file.txt"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=fragment) as err:
        lob.load_fi2010(path)
    assert "odd_file.txt" in str(err.value)


# ------------------------------------------------------------------------------------------- synthetic book


def test_book_invariants(book):
    f = book[0].astype(np.float64)
    ask_p, ask_v, bid_p, bid_v = f[:, lob.ASK_P], f[:, lob.ASK_V], f[:, lob.BID_P], f[:, lob.BID_V]
    assert f.shape == (20000, 40) and book[0].dtype == np.float32
    assert (ask_p[:, 0] > bid_p[:, 0]).all()  # positive spread, hence every ask above every bid
    assert (np.diff(ask_p, axis=1) > 0).all() and (np.diff(bid_p, axis=1) < 0).all()
    assert (bid_p[:, -1] > 0).all()
    ticks = np.concatenate([ask_p, bid_p], axis=1) / lob.TICK
    assert np.abs(ticks - np.round(ticks)).max() < 1e-3  # tick grid up to float32 rounding
    spread_ticks = np.round((ask_p[:, 0] - bid_p[:, 0]) / lob.TICK)
    assert set(np.unique(spread_ticks)) <= {1, 2, 3} and (spread_ticks == 1).mean() > 0.4
    volumes = np.concatenate([ask_v, bid_v], axis=1)
    assert (volumes >= 1).all() and (volumes == np.round(volumes)).all()
    profile = (ask_v + bid_v).mean(axis=0)  # hump: deeper than the touch, thinning far from it
    assert profile.argmax() in (1, 2, 3) and profile[-1] < profile.max() / 2


def test_volatility_clusters(book):
    moves = np.abs(np.diff(lob.mid_price(book[0])))
    block = moves[: len(moves) // 200 * 200].reshape(-1, 200).std(axis=1)  # realised vol per 200 events
    assert block.max() > 2.5 * block.min()
    a = block - block.mean()
    assert (a[1:] * a[:-1]).mean() / a.var() > 0.3  # high-vol blocks follow high-vol blocks


def test_deterministic_per_seed(book):
    again = lob.synthesize(20000, 0)
    assert np.array_equal(again[0], book[0]) and np.array_equal(again[1], book[1])
    assert not np.array_equal(lob.synthesize(20000, 1)[0], book[0])


def test_labels_follow_fi2010_rule(book):
    features, labels = book
    mid = lob.mid_price(features)
    assert np.array_equal(lob.fi2010_labels(mid), labels[:-10])
    t, k = 100, 5  # one case by hand
    change = (mid[t + 1 : t + 1 + k].mean() - mid[t]) / mid[t]
    assert labels[t, 3] == (0 if change > lob.ALPHA else 2 if change < -lob.ALPHA else 1)


@pytest.mark.parametrize("seed", [0, 7])
def test_labels_not_degenerate(seed, book):
    labels = book[1] if seed == 0 else lob.synthesize(20000, seed)[1]
    balance = lob.class_balance(labels)
    for horizon in (5, 10):
        shares = balance[lob.HORIZONS.index(horizon)]
        assert ((shares > 0.15) & (shares < 0.60)).all(), (horizon, shares)


def _predictors(features):
    """Depth imbalance at the touch and over 3 levels, 5-event momentum, spread: all observable now."""
    f = features.astype(np.float64)
    cols = []
    for depth in (1, 3):
        a, b = f[:, lob.ASK_V[:depth]].sum(1), f[:, lob.BID_V[:depth]].sum(1)
        cols.append((b - a) / (b + a))
    mid = lob.mid_price(features)
    cols.append(np.concatenate([np.zeros(5), np.log(mid[5:] / mid[:-5])]))
    cols.append(f[:, lob.ASK_P[0]] - f[:, lob.BID_P[0]])
    return np.stack(cols, axis=1)


def _lda(X, y):
    """Linear discriminant analysis: the closed-form linear classifier, no training loop."""
    means = np.stack([X[y == c].mean(0) for c in range(3)])
    cov = sum(np.cov(X[y == c].T, bias=True) * (y == c).sum() for c in range(3)) / len(y)
    prec = np.linalg.inv(cov)
    bias = -0.5 * np.einsum("ci,ij,cj->c", means, prec, means) + np.log(np.bincount(y, minlength=3) / len(y))
    return lambda Z: (Z @ prec @ means.T + bias).argmax(1)


def _macro_f1(y, p):
    f1 = []
    for c in range(3):
        tp, fp, fn = ((p == c) & (y == c)).sum(), ((p == c) & (y != c)).sum(), ((p != c) & (y == c)).sum()
        f1.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1))


@pytest.mark.parametrize("horizon", [5, 10])
def test_linear_model_beats_chance_on_held_out_data(book, horizon):
    features, labels = book
    X, y = _predictors(features), labels[:, lob.HORIZONS.index(horizon)]
    n = int(0.8 * len(y))  # split in time, as the CLI does
    mean, std = X[:n].mean(0), X[:n].std(0)
    X = (X - mean) / std
    pred = _lda(X[:n], y[:n])(X[n:])
    acc, f1 = float((pred == y[n:]).mean()), _macro_f1(y[n:], pred)
    majority = np.bincount(y[n:], minlength=3).max() / len(y[n:])
    assert acc > 0.45 and acc > majority + 0.05 and f1 > 0.40, (acc, majority, f1)


# --------------------------------------------------------------------------------- windows and scaling


def test_windows_shapes_and_label_of_last_event():
    n = 6
    features = np.arange(n, dtype=np.float32)[:, None] * 100 + np.arange(40, dtype=np.float32)
    labels = np.zeros((n, 5), dtype=np.int64)
    labels[:, 3] = [0, 1, 2, 2, 1, 0]  # horizon 5
    labels[:, 4] = [2, 2, 2, 0, 0, 0]  # horizon 10
    X, y = lob.make_windows(features, labels, T=3, horizon=5)
    assert X.shape == (4, 3, 40) and X.dtype == np.float32 and y.dtype == np.int64
    for m in range(4):
        assert np.array_equal(X[m], features[m : m + 3])
    assert y.tolist() == [2, 2, 1, 0]  # events 2, 3, 4, 5
    assert lob.make_windows(features, labels, T=3, horizon=10)[1].tolist() == [2, 0, 0, 0]
    X1, y1 = lob.make_windows(features, labels, T=n, horizon=5)
    assert X1.shape == (1, n, 40) and y1.tolist() == [0]


@pytest.mark.parametrize("T, horizon, fragment", [(3, 4, "horizon"), (0, 5, "T=0"), (7, 5, "T=7")])
def test_windows_reject_bad_arguments(T, horizon, fragment):
    with pytest.raises(ValueError, match=fragment):
        lob.make_windows(np.zeros((6, 40)), np.zeros((6, 5), dtype=np.int64), T=T, horizon=horizon)


def test_zscore_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 3.0, (500, 40)).astype(np.float32)
    train[:, 7] = 2.0  # a constant feature
    test = rng.normal(9.0, 1.0, (100, 40)).astype(np.float32)
    mean, std = lob.fit_zscore(train)
    z_train, z_test = lob.apply_zscore(train, mean, std), lob.apply_zscore(test, mean, std)
    assert z_train.dtype == np.float32 and np.isfinite(z_train).all()
    assert np.allclose(np.delete(z_train.mean(0), 7), 0, atol=1e-4)
    assert np.allclose(np.delete(z_train.std(0), 7), 1, atol=1e-4)
    assert (z_train[:, 7] == 0).all()
    assert np.allclose(z_test, (test - mean) / std) and z_test.mean() > 1  # test shift stays visible


# ------------------------------------------------------------------------------------------ command line


def cli(*args):
    return subprocess.run([sys.executable, str(LOB_PY), *map(str, args)], capture_output=True, text=True)


def test_cli_synth_then_stats(tmp_path):
    proc = cli("synth", "--events", 3000, "--seed", 0, "--out", tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    assert "stationary" in proc.stdout and "k=10" in proc.stdout
    train, test = tmp_path / "data" / lob.TRAIN_NAME, tmp_path / "data" / lob.TEST_NAME
    (ftr, ltr), (fte, lte) = lob.load_fi2010(train), lob.load_fi2010(test)
    assert len(ltr) == 2400 and len(lte) == 600
    features, labels = lob.synthesize(3000, 0)
    assert np.array_equal(np.concatenate([ftr, fte]), features)
    assert np.array_equal(np.concatenate([ltr, lte]), labels)
    proc = cli("stats", test)
    assert proc.returncode == 0, proc.stderr
    assert "N = 600" in proc.stdout and proc.stdout.count("up ") == 5


def _assert_cli_error(proc, *fragments):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "short.txt"
    np.savetxt(bad, np.ones((10, 3)))
    _assert_cli_error(cli("stats", bad), "short.txt", "149 rows")
    _assert_cli_error(cli("stats", tmp_path / "missing.txt"), "missing.txt")
    _assert_cli_error(cli("synth", "--events", 1, "--out", tmp_path), "--events")
    _assert_cli_error(cli("synth", "--events", "many", "--out", tmp_path), "--events")
    _assert_cli_error(cli("synth"), "--out")
    _assert_cli_error(cli("fly"), "fly")
    (tmp_path / "afile").write_text("")
    _assert_cli_error(cli("synth", "--events", 100, "--out", tmp_path / "afile"), "afile")
