"""qrnn-legalize-precision{threshold-input=accumulator}: thresholds on the raw integer accumulator, and
act-impl=auto's table-or-thresholds choice.

Properties (each test says which inputs would break it):
- `_first_acc` is the smallest accumulator value whose code reaches k, for every rounding mode, against
  tie_trace's independent exact rounding (`round_exact`), on values that land exactly on rounding boundaries;
- where the float reference is exact (small dyadic codes and bias, acc scale 3/4), absorbed thresholds equal it
  on every input code pair, for every rounding mode and zero point (the aligned design may differ at ties);
- on the tiny LSTM, every absorbed gate reads x + h with multipliers 1, and its thresholds give, at EVERY value of
  the accumulator and on every channel, the activation of the accumulator quantizer's code computed here from
  the float IR's own scales and bias (independent of the pass);
- the absorbed requantizer's form records its accumulator and exact value map (what a tie trace reads);
- on every float-scale fixture the design is exact on the Brevitas outputs, equals the aligned design on random
  and saturating inputs, never overflows a type, and the activations read accumulators >= 20 bits narrower;
- power-of-two fixtures keep the aligned design (it is already exact and cheaper): the pass must not fire;
- act-impl=auto computes the same function as thresholds, and takes tables exactly where lstmc.qor's formulas
  make them cheaper without a second unit in a recurrence step (a 9-bit cell sum: yes; a 17-bit cell sum, whose
  table needs 64 BRAM18: no);
- integer == dataflow == csim with absorbed per-channel thresholds, folded (two lanes per unit).
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, load_expected, needs_csim
from test_legalize_precision import _every_code_pair, equal_designs_in_range, random_and_extreme_inputs
from xdsl.dialects.builtin import IntegerType, TensorType
from xdsl.ir import Operation

import lstmc.passes.qrnn_legalize_precision as legalize
from lstmc import numerics
from lstmc.dense import array_from_dense
from lstmc.dialects import qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.pipeline import apply_pipeline
from lstmc.tie_trace import round_exact

OpT = TypeVar("OpT", bound=Operation)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "tiny_lstm" / "model.onnx"
FLOAT_FIXTURES = [
    FIXTURES / f"{n}.onnx"
    for n in (
        "l1_w8_float",
        "l1_acc16_float",
        "l1_bidir_float",
        "l1_cifg_io6_float",
        "l1_t64_w2_perchannel_float",
        "l2_w4_float",
    )
]
PO2_FIXTURES = [FIXTURES / f"{n}.onnx" for n in ("l1_w4_po2", "l2_bidir_w3_po2")]
FRONT = ["qrnn-canonicalize", "qrnn-fold-constants"]
# The former default (thresholds on the aligned sum, rounded multipliers) and the former opt-in accumulator
# thresholds, each with the other options pinned, so these tests keep checking what they were written for
# (the pass's defaults are tested in test_requant_impl.py and below).
OLD = "threshold-input=aligned act-impl=threshold requant-impl=aligned"
ACC = "threshold-input=accumulator act-impl=threshold requant-impl=aligned"


def integer(path: Path, options: str = ACC):
    return apply_pipeline(import_model(onnx.load(str(path))), FRONT + [f"qrnn-legalize-precision{{{options}}}"])


def named(module, cls: type[OpT]) -> dict[str, OpT]:
    """The ops of type `cls` by the name of their result (each named after its ONNX value)."""
    found = {}
    for op in module.walk():
        if isinstance(op, cls):
            name = op.results[0].name_hint
            assert name is not None, op
            found[name] = op
    return found


def units(module) -> dict[str, qrnn.ThresholdOp]:
    return named(module, qrnn.ThresholdOp)


# ------------------------------------------------------------------------------------------ the solver
@pytest.mark.parametrize("mode", qrnn.ROUNDING_MODES)
def test_first_acc_is_the_smallest_accumulator(mode):
    """For random (p, q, d), including d | 2q so that (p A + q) / d lands on k - 1/2 and on k exactly: A* =
    _first_acc(k) rounds to >= k and A* - 1 to < k. Breaks on a tie sent the wrong way by one mode (e.g.
    half_up below zero) or an off-by-one in the strict/inclusive case."""
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(300):
        d = int(rng.choice([1, 2, 3, 4, 6, 10, 7 * 2**20]))
        p = int(rng.integers(1, 3 * d + 1))
        q = int(rng.integers(-5 * d, 5 * d))
        for k in range(-6, 7):
            a = legalize._first_acc(k, p, q, d, mode)
            assert round_exact(Fraction(p * a + q, d), mode) >= k, (mode, p, q, d, k, a)
            assert round_exact(Fraction(p * (a - 1) + q, d), mode) < k, (mode, p, q, d, k, a)
            checked += 1
    assert checked == 300 * 13


@pytest.mark.parametrize("mode", qrnn.ROUNDING_MODES)
def test_round_fraction_matches_round_exact(mode):
    """The pass's exact rounding equals tie_trace's on halves, integers and thirds around zero."""
    for num in range(-40, 41):
        for den in (1, 2, 3, 4, 6):
            v = Fraction(num, den)
            assert legalize._round_fraction(v, mode) == round_exact(v, mode), (mode, v)


# ------------------------------------------------------------------------------------------ exhaustive codes
BIAS_IR = """
func.func @f(%x: tensor<2xf32>, %y: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>) attributes {{lstmc.input_names = ["x", "y"], lstmc.output_names = ["s", "t"]}} {{
  %xq = qrnn.quant %x by <s6, scale = 0.125, zp = 0> : tensor<2xf32>
  %yq = qrnn.quant %y by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %a = qrnn.add %xq, %yq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %b = qrnn.constant dense<[0.1875, -0.25]> : tensor<2xf32>
  %ab = qrnn.add %a, %b : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %aq = qrnn.quant %ab by <s4, scale = {acc}, zp = {zp}, rounding = {mode}> : tensor<2xf32>
  %s = qrnn.sigmoid %aq : tensor<2xf32>
  %sq = qrnn.quant %s by <u3, scale = 0.125, zp = 0> : tensor<2xf32>
  %t = qrnn.tanh %aq : tensor<2xf32>
  %tq = qrnn.quant %t by <s3, scale = 0.25, zp = 0> : tensor<2xf32>
  func.return %sq, %tq : tensor<2xf32>, tensor<2xf32>
}}
"""


@pytest.mark.parametrize("mode", qrnn.ROUNDING_MODES)
@pytest.mark.parametrize("acc,zp", [("0.75", 0), ("0.75", 3), ("0.375", -2), ("0.5", 1)])
def test_absorbed_thresholds_equal_the_float_model_everywhere(mode, acc, zp):
    """Every (x, y) code pair, a bias off the accumulator's grid (different per channel), a non-dyadic
    accumulator scale: the float model is exact here (sums of multiples of 1/16, quotients k/12 or k/6 that sit
    either exactly on a rounding boundary or >= 1/12 away), so thresholds that absorb scale, bias, rounding,
    zero point and clamp must equal it on every pair, ties included; the aligned design may differ there.
    (With acc scale 1/2 the aligned sum is exact and kept; it must equal the model as well.) Breaks on any
    wrong threshold, tie rule or clamp in `_absorb`."""
    from xdsl.parser import Parser

    from lstmc.pipeline import make_context

    text = BIAS_IR.format(mode=mode, acc=acc, zp=zp)
    x, y = _every_code_pair()
    ref = run_function(Parser(make_context(), text).parse_module(), {"x": x, "y": y})
    module = apply_pipeline(
        Parser(make_context(), text).parse_module(), ["qrnn-legalize-precision{threshold-input=accumulator}"]
    )
    got = run_function(module, {"x": x, "y": y})
    for k in ref:
        assert np.array_equal(ref[k], got[k]), f"{k}: {int((ref[k] != got[k]).sum())} mismatches"
    if acc == "0.5":
        return  # dyadic: the aligned sum is exact too, with shared thresholds, so the pass keeps it
    # the pairs include exact ties: the aligned design (multipliers off by < 2^-20 LSB) rounds some wrongly
    aligned = apply_pipeline(Parser(make_context(), text).parse_module(), [f"qrnn-legalize-precision{{{OLD}}}"])
    assert any(np.any(ref[k] != v) for k, v in run_function(aligned, {"x": x, "y": y}).items())
    # both activations read x + 4 y (scales 1/8 and 1/2): one row of thresholds per channel (two biases)
    (ssum,) = [op for op in module.walk() if isinstance(op, qrnn.ScaledSumOp)]
    assert array_from_dense(ssum.multipliers).tolist() == [[1, 1], [4, 4]]
    assert array_from_dense(ssum.bias).tolist() == [0, 0]
    assert not any(isinstance(op, qrnn.RequantOp) for op in module.walk())
    assert all(op.operands[0] is ssum.result and len(op.thresholds.get_shape()) == 2 for op in units(module).values())


# ------------------------------------------------------------------------------------------ the tiny LSTM
GATES = {"input": "sigmoid", "forget": "sigmoid", "cell": "tanh", "output": "sigmoid"}


def _float_ops(path: Path) -> dict[str, object]:
    module = apply_pipeline(import_model(onnx.load(str(path))), FRONT)
    return {op.results[0].name_hint: op for op in module.walk() if op.results and op.results[0].name_hint}


def _input_bits(op: qrnn.ThresholdOp) -> int:
    """The width of the integer codes a threshold unit compares."""
    ty = op.input.type
    assert isinstance(ty, TensorType)
    element = ty.get_element_type()
    assert isinstance(element, IntegerType)
    return element.width.data


def _quant(op: object) -> qrnn.QuantAttr:
    q = getattr(op, "quant")
    assert isinstance(q, qrnn.QuantAttr), op
    return q


def _scale(op) -> Fraction:
    q = op.quant
    assert q.channel_axis is None and q.rounding.data == "half_even"
    return Fraction(float(q.scales[0]))


def _dequantized(op) -> list[Fraction]:
    """A quantized constant as DequantizeLinear gives it: code * scale rounded to float32, exactly."""
    scale = np.float32(op.quant.scales[0])
    return [Fraction(float(np.float32(c) * scale)) for c in array_from_dense(op.codes)]


def _half_even(num: np.ndarray, den: int) -> np.ndarray:
    """round(num / den), half to even, on Python-int object arrays."""
    fl = num // den
    twice = 2 * (num - fl * den)
    return fl + ((twice > den) | ((twice == den) & (fl % 2 == 1)))


@pytest.mark.parametrize("gate", list(GATES))
def test_tiny_gate_thresholds_at_every_accumulator_value(gate):
    """x and h share one scale, so the gate accumulator is x@Wx + h@Wh with multipliers 1. From the FLOAT IR's
    own quantizers (io, weights, bias, accumulator, activation output) this test computes, for every value A of
    the accumulator's type and every channel, code = clamp(round(A s_x s_w / s_acc + b s_b / s_acc)) and the
    activation's output code (float32 sigmoid/tanh of code * s_acc, quantized): the thresholds must give exactly
    that (the bias as DequantizeLinear gives it, b * s_b in float32). Breaks on a threshold one off anywhere
    (e.g. a bias or scale misread, or a tie rounded the wrong way), not only where random inputs land."""
    ops = _float_ops(TINY)
    s_x, s_h = _scale(ops["x_dq"]), _scale(ops["l0_fwd_h_out"])
    w_x, w_h = ops[f"l0_fwd_w_x_{gate}_dq"], ops[f"l0_fwd_w_h_{gate}_dq"]
    bias, acc_q, act_q = ops[f"l0_fwd_b_{gate}_dq"], ops[f"l0_fwd_{gate}_acc_dq"], ops[f"l0_fwd_{gate}_act_dq"]
    s_acc = _scale(acc_q)
    r_x, r_h = s_x * _scale(w_x) / s_acc, s_h * _scale(w_h) / s_acc
    assert r_x == r_h  # the tiny model's x- and h-parts are on one scale
    beta = [b / s_acc for b in _dequantized(bias)]
    lo, hi = _quant(acc_q).qmin, _quant(acc_q).qmax

    module = integer(TINY)
    thr_op = units(module)[f"l0_fwd_{gate}_act_dq"]
    ssum = thr_op.input.owner
    assert isinstance(ssum, qrnn.ScaledSumOp) and np.all(array_from_dense(ssum.multipliers) == 1)
    thresholds = array_from_dense(thr_op.thresholds).astype(np.int64)
    assert thresholds.ndim == 2  # one row per channel: the bias differs per row
    acc_type = thr_op.input.type
    assert isinstance(acc_type, TensorType)
    a_lo, a_hi = qrnn.integer_range_of(acc_type.get_element_type())
    acc = np.arange(a_lo, a_hi + 1, dtype=np.int64)
    got = thr_op.base.value.data + numerics.count_thresholds(
        np.broadcast_to(acc[:, None], (acc.size, 8)).copy(), thresholds
    )
    p = numerics.quant_params(_quant(act_q))
    acc_obj = acc.astype(object)
    for n in range(8):  # the code is round(r_x A + beta_n): over one denominator, in integers
        den = math.lcm(r_x.denominator, beta[n].denominator)
        num = acc_obj * (r_x.numerator * (den // r_x.denominator)) + beta[n].numerator * (den // beta[n].denominator)
        code = np.clip(_half_even(num, den).astype(np.int64), lo, hi)
        x = code.astype(np.float32) * np.float32(float(s_acc))
        want = numerics.quantize(numerics.activation(GATES[gate], x), p) - p.zero_point[0]  # centred codes
        assert np.array_equal(got[:, n], want), f"channel {n}: {int((got[:, n] != want).sum())} accumulator values"


def test_absorbed_requantizer_is_recorded_exactly():
    """The accumulator quantizer of each tiny-LSTM gate is absorbed: its codes are never computed, and its form
    records the accumulator (the thresholds' input) and the exact value p A + q over d per channel, which must
    be A s_x s_w / s_acc + fl32(b s_b) / s_acc from the float IR (what a tie trace compares the reference with).
    Breaks if the record is missing, names another value, or its map is off by any amount."""
    from xdsl.dialects import func

    forms = {}

    class Recording(legalize.Legalizer):
        def _op_quant(self, op):
            super()._op_quant(op)
            forms[op.result.name_hint] = self.forms[op.result]

    module = apply_pipeline(import_model(onnx.load(str(TINY))), FRONT)
    ops = {op.results[0].name_hint: op for op in module.walk() if op.results and op.results[0].name_hint}
    (fn,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    Recording(legalize.QrnnLegalizePrecisionPass(threshold_input="accumulator")).run_function(fn)
    thresholds = units(module)
    acc = np.arange(-300, 300, dtype=np.int64)[:, None].repeat(8, axis=1)
    for gate in GATES:
        absorbed = forms[f"l0_fwd_{gate}_acc_dq"].absorbed
        assert absorbed is not None and absorbed.acc is thresholds[f"l0_fwd_{gate}_act_dq"].input
        s_acc = _scale(ops[f"l0_fwd_{gate}_acc_dq"])
        alpha = _scale(ops["x_dq"]) * _scale(ops[f"l0_fwd_w_x_{gate}_dq"]) / s_acc
        bias = ops[f"l0_fwd_b_{gate}_dq"]
        beta = np.array([b / s_acc for b in _dequantized(bias)], dtype=object)
        assert np.array_equal(absorbed.values(acc), acc.astype(object) * alpha + beta)


# ------------------------------------------------------------------------------------------ fixtures
@pytest.mark.parametrize("path", FLOAT_FIXTURES, ids=lambda p: p.stem)
def test_float_fixtures_exact_and_narrow(path):
    """Exact on the Brevitas outputs; equal to the aligned design on random and saturating inputs (both compute
    the model: the aligned one within 2^-20 LSB, these exactly); every value fits its type; every activation
    behind a gate accumulator reads an accumulator at least 20 bits narrower than the aligned design's. Breaks
    on a wrong threshold, an unsound accumulator type, or absorption not taken where it is exact and cheaper."""
    module, aligned = integer(path), integer(path, OLD)
    data = load_expected(path)
    got = run_function(module, {"X": data["X"]})
    for k in data:
        if k != "X":
            assert np.array_equal(got[k], data[k]), f"{k} differs from Brevitas"
    x = random_and_extreme_inputs(tuple(data["X"].shape[1:]), n=16, seed=5)
    equal_designs_in_range(module, aligned, x)
    new, old = units(module), units(aligned)
    gates = [name for name in old if name.endswith("_act_dq") and "tanh" not in name]
    assert gates and set(gates) <= set(new)
    for name in gates:
        narrow, wide = (_input_bits(u) for u in (new[name], old[name]))
        assert narrow + 20 <= wide, f"{name}: {narrow} vs {wide} bits"


@pytest.mark.parametrize("path", PO2_FIXTURES, ids=lambda p: p.stem)
def test_power_of_two_fixtures_keep_the_aligned_design(path):
    """With power-of-two scales the aligned sum is exact with multipliers 1 and an integer bias, so its shared
    thresholds are cheaper than per-channel ones: threshold-input=accumulator must change nothing."""
    assert str(integer(path)) == str(integer(path, OLD))


# ------------------------------------------------------------------------------------------ act-impl=auto
@pytest.mark.parametrize(
    "path,options,tables",
    [
        (TINY, "threshold-input=aligned act-impl=auto requant-impl=aligned", 1),
        (TINY, "threshold-input=accumulator act-impl=auto requant-impl=aligned", 1),
        (FIXTURES / "l1_acc16_float.onnx", "threshold-input=accumulator act-impl=auto requant-impl=aligned", 0),
    ],
    ids=["tiny-auto", "tiny-acc-auto", "acc16-acc-auto"],
)
def test_auto_is_the_same_function_and_picks_tables_where_cheaper(path, options, tables):
    """act-impl=auto equals threshold mode on random and saturating inputs, and takes a table where lstmc.qor
    makes it cheaper. Tiny LSTM, aligned: only the cell's tanh (512 entries over the 9-bit cell sum against 255
    comparators); a 256-entry table of each 8-bit gate code would be cheaper than 165-230 comparators of 43 bits
    but needs the requantizer as a second unit in every step's chain, which auto does not take in a recurrence
    (never a longer step). With absorbed thresholds also only the cell's tanh: per-channel thresholds have no
    table form and are not traded back for the aligned sum. acc16 (16-bit gate codes and cell state): none, the cell sum's
    table would need 2^17 entries (64 BRAM18). Breaks if the choice ignores the cost or a table is not the
    thresholds' function."""
    thr = integer(path, OLD)
    auto = integer(path, options)
    x = random_and_extreme_inputs(tuple(load_expected(path)["X"].shape[1:]) if path != TINY else (20, 4), n=16, seed=6)
    a, b = run_function(thr, {"X": x}), run_function(auto, {"X": x})
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert len(named(auto, qrnn.LutOp)) == tables
    assert len(units(auto)) == len(units(thr)) - tables


# ------------------------------------------------------------------------------------------ hardware levels


@needs_csim
def test_integer_dataflow_csim_agree_with_absorbed_thresholds():
    """The tiny LSTM with per-channel absorbed thresholds, folded PE = 8 (two lanes per unit, thresholds
    partitioned by channel): integer == dataflow == csim on 16 random sequences. Breaks on a threshold row read
    for the wrong channel in a lane, or an accumulator typed too narrow in C++."""
    from lstmc.cli import random_inputs
    from lstmc.hls.build import csim_stage
    from lstmc.passes.qrnn_legalize_precision import QrnnLegalizePrecisionPass
    from lstmc.passes.qrnn_set_folding import QrnnSetFoldingPass
    from lstmc.passes.qrnn_to_dataflow import QrnnToDataflowPass

    model = onnx.load(str(TINY))
    x = random_inputs(model, 16, 11)
    module = apply_pipeline(import_model(model), FRONT + [QrnnLegalizePrecisionPass(threshold_input="accumulator")])
    df = apply_pipeline(module.clone(), [QrnnToDataflowPass(), QrnnSetFoldingPass(pe=8, simd=2)])
    assert any(len(op.thresholds.get_shape()) == 2 for op in df.walk() if isinstance(op, qrnn.ThresholdOp))
    want, mid, got = run_function(module, x), run_function(df, x), csim_stage(df, x)
    for k in want:
        assert np.array_equal(want[k], mid[k]), f"dataflow {k}"
        assert np.array_equal(want[k], got[k]), f"csim {k}"
