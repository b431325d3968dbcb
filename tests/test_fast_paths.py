"""The fast paths of emission and interpretation compute exactly what the plain ones do.

- The bulk weight formatter (emit._initializer) prints what `str(int(v))` per element printed, for any shape
  (empty axes included) and any int64 values (small ranges use a table, wide ones np.unique). Breaks on a
  misplaced brace or separator at an axis boundary, or a number padded or cut.
- Exact integer products (interpreter ExactMatrix / exact_matmul) equal int64 products (checked against Python
  ints) with partial sums right at the edges of the int32 and float64 exact ranges, where choosing the narrower
  type one step too early would overflow or round.
- The threshold table equals numerics.count_thresholds (binary search) for shared and per-channel thresholds
  with repeated values, and inputs below, between, on and above them.
- The four-pass half-to-even shift equals numerics.shift_round(..., "half_even") on ties of both parities,
  negative values and 62-bit magnitudes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lstmc import numerics
from lstmc.hls.emit import _initializer
from lstmc.interpreter.qrnn import (
    ExactMatrix,
    ThresholdTable,
    exact_matmul,
    exact_type,
    shift_round_half_even,
    single_threaded_blas,
)


def _per_element(values: np.ndarray) -> str:
    if values.ndim == 0:
        return str(int(values))
    return "{" + ", ".join(_per_element(v) for v in values) + "}"


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.int64,
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
        elements=st.one_of(st.integers(-20, 20), st.integers(-(2**62), 2**62)),
    )
)
def test_bulk_initializer_prints_what_str_per_element_printed(values):
    assert _initializer(values) == _per_element(values)


def test_bulk_initializer_on_a_weight_matrix():
    w = np.random.default_rng(0).integers(-8, 8, size=(300, 257))
    assert _initializer(w) == _per_element(w)
    assert _initializer(np.array(-5, np.int64)) == "-5"


def _python_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([[sum(int(x) * int(y) for x, y in zip(row, col)) for col in b.T] for row in a], dtype=object)


@pytest.mark.parametrize("limit", [2**31, 2**53])
@pytest.mark.parametrize("side", ["far below", -1, 0, 1])
def test_exact_products_at_the_edges_of_the_exact_ranges(limit, side):
    """A column of W whose |values| sum to limit + side, and a row of a that adds them all with one sign: that
    sum is the bound. Well below the limit the narrow type is used; at or above it, choosing it would overflow
    int32 or round in float64 (2^53 + 1 is no float64). Right below it either choice is exact."""
    total, k = limit + (-(limit >> 20) if side == "far below" else side), 4
    col = np.array([total // k + (1 if i < total % k else 0) for i in range(k)], np.int64) * [1, -1, 1, -1]
    w = np.stack([col, np.ones(k, np.int64)], axis=1)
    a = np.array([[1, -1, 1, -1], [1, 1, 1, 1], [0, -1, 0, 1]], np.int64)
    narrow = np.int32 if limit == 2**31 else np.float64
    if total >= limit:
        assert exact_type(float(total)) is not narrow
    elif side == "far below":
        assert exact_type(float(total)) is narrow
    want = _python_matmul(a, w)
    assert want[0, 0] == total
    assert (ExactMatrix(w).rmatmul(a).astype(object) == want).all()
    assert (exact_matmul(a, w).astype(object) == want).all()


@pytest.mark.parametrize("total", [2**24 - 1, 2**24, 2**24 + 1, 2**31 + 1, 2**53 - 1, 2**53 + 1])
def test_exact_products_through_blas_at_the_float_limits(total):
    """With BLAS held on one thread (as run_function holds it) products go to sgemm when every partial sum is
    below 2^24 and to dgemm below 2^53. A row adding a whole column with one sign reaches the bound: 2^24 + 1
    is no float32 and 2^53 + 1 no float64, so the narrower type chosen there would round."""
    k = 4
    col = np.array([total // k + (1 if i < total % k else 0) for i in range(k)], np.int64) * [1, -1, 1, -1]
    w = np.stack([col, np.ones(k, np.int64)], axis=1)
    a = np.array([[1, -1, 1, -1], [1, 1, 1, 1], [0, -1, 0, 1]], np.int64)
    want = _python_matmul(a, w)
    assert want[0, 0] == total
    with single_threaded_blas():
        assert (ExactMatrix(w).rmatmul(a).astype(object) == want).all()
        assert (exact_matmul(a, w).astype(object) == want).all()


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 12), st.integers(1, 6), st.integers(0, 61), st.integers(0, 2**32))
def test_exact_products_equal_python_integers(k, m, n, bits, seed):
    rng = np.random.default_rng(seed)
    bits = min(bits, 61 - k.bit_length())  # with w_bits >= 0 below: every sum below 2^62
    a = rng.integers(-(2**bits), 2**bits, size=(n, k), endpoint=True) >> rng.integers(0, 3)
    w_bits = 61 - bits - k.bit_length()  # every sum below 2^62, as legalized accumulators are
    w = rng.integers(-(2**w_bits), 2**w_bits, size=(k, m), endpoint=True)
    want = _python_matmul(a, w)
    assert (ExactMatrix(w).rmatmul(a).astype(object) == want).all()
    assert (exact_matmul(a, w).astype(object) == want).all()
    with single_threaded_blas():  # as the interpreters run: float products in BLAS
        assert (ExactMatrix(w).rmatmul(a).astype(object) == want).all()
        assert (exact_matmul(a, w).astype(object) == want).all()
    batched = rng.integers(-100, 100, size=(3, k, m))  # a [K] against a batch of matrices
    assert np.array_equal(exact_matmul(a[0], batched), np.einsum("k,nkm->nm", a[0], batched))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 20), st.booleans(), st.integers(1, 40))
def test_threshold_table_counts_like_binary_search(seed, k, per_channel, span):
    rng = np.random.default_rng(seed)
    channels = 5
    t = np.sort(rng.integers(-span, span, size=(channels, k) if per_channel else (k,)), axis=-1)
    x = rng.integers(-2 * span - 3, 2 * span + 3, size=(7, channels))
    assert np.array_equal(ThresholdTable(t).count(x), numerics.count_thresholds(x, t))


def test_threshold_table_with_a_wide_span_falls_back_to_binary_search():
    t = np.array([-(2**40), 0, 2**40])
    table = ThresholdTable(t)
    assert table.table is None
    x = np.array([-(2**41), -(2**40), -1, 0, 2**40 - 1, 2**40, 2**50])
    assert np.array_equal(table.count(x), numerics.count_thresholds(x, t))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 45),
    hnp.arrays(np.int64, 64, elements=st.one_of(st.integers(-(2**61), 2**61), st.integers(-1000, 1000))),
)
def test_half_even_shift_equals_shift_round(shift, x):
    ties = (np.arange(-8, 8, dtype=np.int64) * 2 + 1) << max(shift - 1, 0)  # odd multiples of the half: ties
    for values in (x, ties):
        assert np.array_equal(shift_round_half_even(values, shift), numerics.shift_round(values, shift, "half_even"))
