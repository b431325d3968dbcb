"""qrnn-legalize-precision{requant-impl=auto}: requantizers that stay units of their own become the cheapest exact
implementation within `datapath-bits` (thresholds or a table on their accumulator, or the smallest exact multiplier),
and recurrence states are lowered on the range they reach.

Properties (each test says which inputs would break it):
- `_multiplier`'s (shift, M, B) rounds exactly like the exact value on EVERY accumulator value of the range, for
  random rational ratios and offsets, every rounding mode, ranges that clamp or not, and offsets on exact ties
  (checked here by brute force with exact rational rounding, independently of the threshold argument it uses);
- on every fixture and the tiny LSTM the default design equals Brevitas on its inputs, equals the former design
  (rounded multipliers) on random and saturating inputs, and every value fits its type;
- the widest integer of the integer design is <= 24 bits on the models whose weights and activations are <= 8
  bits (issue 12), the CIFG cell included (f = 1 - i makes its f*c requantizer c - i*c, two terms with no narrow
  exact accumulator: a table packed over the codes of i and c);
- a narrowed state never leaves its range: the recurrence's carried values stay within the clamp that says it.
"""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, load_expected
from test_legalize_precision import equal_designs_in_range, random_and_extreme_inputs
from xdsl.dialects.builtin import IntegerType, TensorType

import lstmc.passes.qrnn_legalize_precision as legalize
from lstmc import numerics
from lstmc.dialects import qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.pipeline import apply_pipeline

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "tiny_lstm" / "model.onnx"
FRONT = ["qrnn-canonicalize", "qrnn-fold-constants"]
OLD = "qrnn-legalize-precision{threshold-input=aligned act-impl=threshold requant-impl=aligned}"
MODELS = [TINY] + [
    FIXTURES / f"{n}.onnx"
    for n in (
        "l1_w8_float",
        "l1_acc16_float",
        "l1_bidir_float",
        "l1_cifg_io6_float",
        "l1_t64_w2_perchannel_float",
        "l2_w4_float",
        "l1_w4_po2",
        "l2_bidir_w3_po2",
    )
]
EIGHT_BIT = [p for p in MODELS if p.stem not in ("l1_acc16_float",)]  # acc16: 16-bit gate and cell codes


def integer(path: Path, spec: str = "qrnn-legalize-precision"):
    return apply_pipeline(import_model(onnx.load(str(path))), FRONT + [spec])


# ------------------------------------------------------------------------------------------ the multiplier
@pytest.mark.parametrize("mode", qrnn.ROUNDING_MODES)
def test_multiplier_is_exact_on_every_accumulator_value(mode):
    """Random exact forms round((p A + q) / d) over random ranges, clamped to random code ranges: whatever
    `_multiplier` returns must give the same code as exact rational rounding at every A. Offsets q/d = k/2 put
    exact ties on the grid. Breaks on a proof that skips a threshold, the clamp ends, or a tie rule."""
    rng = random.Random(qrnn.ROUNDING_MODES.index(mode))
    checked = 0
    for _ in range(40):
        d = rng.choice([3, 5, 6, 7, 12, 2 ** rng.randint(1, 6) * 3, rng.randint(2, 1000)])
        p = rng.randint(1, 3 * d)
        q = rng.choice([0, d // 2 if d % 2 == 0 else 0, rng.randint(-5 * d, 5 * d)])
        a_lo = rng.randint(-3000, 0)
        a_hi = a_lo + rng.randint(1, 5000)
        lo, hi = sorted(rng.sample(range(-300, 300), 2))
        exact = [
            min(max(legalize._round_fraction(Fraction(p * a + q, d), mode), lo), hi) for a in range(a_lo, a_hi + 1)
        ]
        base, top = min(exact), max(exact)
        if base == top:
            continue
        levels = np.arange(base + 1, top + 1)
        thr = np.array([a_lo + exact.index(next(e for e in exact if e >= j)) for j in levels], dtype=np.int64)
        t = legalize._Thresholds(None, thr, base, top, p=[p], q=[q], d=[d], ch_lo=[a_lo], ch_hi=[a_hi])
        found = legalize._multiplier(t, lo, hi, mode, 1)
        if found is None:  # only when ties of a non-dyadic ratio must round two ways no approximation can
            ties = [
                a
                for a in range(a_lo, a_hi + 1)
                if 2 * lo < (2 * (p * a + q)) // d < 2 * hi
                and Fraction(2 * (p * a + q), d).denominator == 1
                and (2 * (p * a + q) // d) % 2
            ]
            assert len(ties) > 1 and Fraction(p, d).denominator & (Fraction(p, d).denominator - 1), (
                p,
                q,
                d,
                a_lo,
                a_hi,
                lo,
                hi,
            )
            continue
        s, (m,), (b,) = found
        acc = np.arange(a_lo, a_hi + 1, dtype=np.int64)
        got = np.clip(numerics.shift_round(acc * m + b, s, mode), lo, hi)
        assert np.array_equal(got, np.array(exact)), (p, q, d, a_lo, a_hi, lo, hi, s, m, b)
        checked += 1
    assert checked >= 20


# ------------------------------------------------------------------------------------------ fixtures
@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem if p != TINY else "tiny")
def test_default_design_exact_and_equal_to_the_former(path):
    """The default design equals Brevitas on the model's inputs and the former design (rounded multipliers,
    aligned thresholds) on random and saturating inputs, and every computed value fits its type (the narrowed
    state ranges included). Breaks on a wrong threshold or multiplier, or a state range that is not reached
    only in the lowering's imagination."""
    module, old = integer(path), integer(path, OLD)
    data = load_expected(path) if path != TINY else dict(np.load(ROOT / "examples" / "tiny_lstm" / "expected.npz"))
    if path == TINY:
        data["X"] = np.load(ROOT / "examples" / "tiny_lstm" / "inputs.npz")["X"]
    got = run_function(module, {"X": data["X"]})
    for k in got:
        if k in data:
            assert np.array_equal(got[k], data[k]), f"{k} differs from Brevitas"
    x = random_and_extreme_inputs(tuple(data["X"].shape[1:]), n=16, seed=8)
    values = equal_designs_in_range(module, old, x)
    for op, arrays in values.items():
        t_lo, _ = qrnn.integer_range_of(op.results[0].type.get_element_type())
        lo, hi = min(int(v.min()) for v in arrays), max(int(v.max()) for v in arrays)
        if isinstance(op, qrnn.RequantOp):  # a narrowed clamp is a claim about the values: it must hold
            assert op.lo.value.data <= lo and hi <= op.hi.value.data or op.lo.value.data == t_lo, op


def _widest(module) -> int:
    widths = [
        r.type.get_element_type().width.data
        for op in module.walk()
        for r in op.results
        if isinstance(r.type, TensorType) and isinstance(r.type.get_element_type(), IntegerType)
    ]
    return max(widths)


@pytest.mark.parametrize("path", EIGHT_BIT, ids=lambda p: p.stem if p != TINY else "tiny")
def test_widest_integer_within_24_bits(path):
    """Issue 12's criterion on the integer design (the kernel's ap_int types follow it): with weights and
    activations of <= 8 bits, no integer is wider than 24 bits; the former design had 41-55-bit ones on the
    float-scale models. Breaks if a requantizer keeps a wide multiplier although an exact narrow unit exists."""
    assert _widest(integer(path)) <= 24


def test_packed_table_and_its_exact_map_agree():
    """CIFG: f*c becomes a table packed over (i, c); the exact value map recorded for the tie tracer
    (`Code.absorbed`, decoded from the index) rounds to the table's entry at EVERY index, with the quantizer's
    rounding and clamp (tie_trace's own `round_exact`, not the pass's threshold solver). Breaks on a wrong
    mixed-radix decode, stride or bias, or a table built off a different accumulator than the one recorded."""
    from xdsl.dialects import func

    from lstmc.dense import array_from_dense
    from lstmc.tie_trace import round_exact

    forms = {}

    class Recording(legalize.Legalizer):
        def _op_quant(self, op):
            super()._op_quant(op)
            forms[op.result.name_hint] = self.forms[op.result]

    module = apply_pipeline(import_model(onnx.load(str(FIXTURES / "l1_cifg_io6_float.onnx"))), FRONT)
    (fn,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    Recording(legalize.QrnnLegalizePrecisionPass()).run_function(fn)
    code = forms["l0_fwd_f_c_dq"]
    unit = code.value.owner
    assert isinstance(unit, qrnn.LutOp) and isinstance(code.absorbed, legalize._PackedAbsorbed)
    assert code.absorbed.acc is unit.input and unit.offset.value.data == 0
    table = array_from_dense(unit.table).astype(np.int64)
    i = forms["l0_fwd_input_act_dq"]  # the sigmoid's codes reach [i.lo, i.hi]; c: all 256 s8 codes
    assert table.size == (i.hi - i.lo + 1) * 256
    index = np.arange(table.size, dtype=np.int64)[:, None].repeat(8, axis=1)  # every index on every channel
    exact = code.absorbed.values(index)
    want = np.vectorize(lambda v: round_exact(v, code.absorbed.rounding), otypes=[np.int64])(exact)
    assert np.array_equal(np.clip(want, code.lo, code.hi), table[:, None].repeat(8, axis=1))
