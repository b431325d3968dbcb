"""Property: the integer design (import -> qrnn-legalize-precision -> interpreter) of any small quantized LSTM
meets the verification contract (lstmc/verify.py) against the onnxruntime reference.

- Every scale a power of two: the integer outputs equal the reference bit for bit (the float reference never
  rounds but in its quantizers, and the pass aligns dyadic scales exactly: error_bound 0).
- Float scales (random float32 scales, per-channel weights): the integer design computes every quantizer input
  exactly, the reference in float32. They may disagree only where the exact value is a rounding tie (or within
  float32 error of one): there the reference lands on either side. So, per sequence, the FIRST quantizer
  (in execution order) whose codes differ must differ by 1 code, at an element whose reference value x / s is
  within float32 error of a tie. What comes after is a different (valid) trajectory: in a recurrence one flipped
  code of the cell state moves a coarse tanh and then h by several LSBs, so "at most 1 LSB at the outputs"
  does NOT hold in general (see EDGE_TIE_PROPAGATES); that count is reported, not asserted. The rate criterion of
  the contract (<= 1e-4) is meaningless for one tie among the few hundred elements of a small example, so it
  is aggregated over all examples by `test_aggregate_float_scale_mismatch_rate`, which prints it.

Models come from lstmc.testing.build_lstm (no torch): 1-6 inputs/hidden, 1-12 steps, 1-2 layers, uni- or
bidirectional, 2-8 bit weights (signed, narrow or not, per tensor or per output channel), 2-8 (or 16) bit io,
accumulators, sigmoid (unsigned or signed), tanh and cell state, asymmetric unsigned io (zero point = mid range),
signed accumulators with a small non-zero zero point, QCDQ or QONNX Quant. The builder cannot express zero
points on per-channel weights or on biases (always 0), nor rounding modes other than half-to-even. QCDQ cannot express 9..15-bit quantizers (the builder refuses them), Quant can.
Inputs that break it are the near-saturation ones, so X spans a bit more than the io quantizer's range.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from xdsl.interpreter import impl, register_impls

import lstmc.interpreter.qrnn as interp_qrnn
from lstmc import numerics
from lstmc.analysis import all_scales_power_of_two, output_lsbs
from lstmc.dialects import qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.pipeline import apply_pipeline
from lstmc.reference import run_reference
from lstmc.stages import compare
from lstmc.testing import LstmSpec, Q, build_lstm
from lstmc.verify import check_stage

pytest.importorskip("onnxruntime")

# Aggregate over every float-scale example of this module: [mismatching elements, elements, examples].
FLOAT_TOTALS = {"mismatches": 0, "elements": 0, "examples": 0, "worst_lsb": 0.0, "beyond_1lsb": 0, "ties": 0}
PO2_TOTALS = {"elements": 0, "examples": 0}


# ------------------------------------------------------------------------------------------------ strategies
def _bits(draw, fmt: str, lo: int = 2, hi: int = 8, allow16: bool = False) -> int:
    choices = list(range(lo, hi + 1))
    if allow16:
        choices.append(16)
    if fmt == "quant" and allow16:
        choices += [10, 12]  # QONNX Quant expresses any width; the reference clips 9..15 bits in int16
    return draw(st.sampled_from(choices))


def _scale(draw, po2: bool, magnitude: float, qmax: int) -> float:
    """A scale putting `magnitude` near the top of the code range: a power of two, or a random float32."""
    ideal = magnitude / max(qmax, 1)
    if po2:
        return float(2.0 ** round(np.log2(ideal)))
    jitter = draw(st.floats(0.55, 1.8, allow_nan=False, allow_infinity=False))
    return float(np.float32(ideal * jitter))


def _q(
    draw, fmt, po2, magnitude, *, signed: bool, narrow: bool = False, zero_point: int = 0, allow16=False, lo_bits=2
) -> Q:
    """zero_point: 0, or 1 for mid-range (asymmetric unsigned), or a small offset for a signed quantizer."""
    bits = _bits(draw, fmt, lo=lo_bits, allow16=allow16)
    q = Q(bits, signed, narrow, 0.0, 0)
    lo, hi = q.qrange
    if zero_point and not signed:  # asymmetric unsigned: zero in the middle of the range
        q.zero_point = (lo + hi + 1) // 2
    elif zero_point:
        q.zero_point = int(np.clip(zero_point, lo, hi))
    q.scale = _scale(draw, po2, magnitude, max(hi - q.zero_point, 1))
    return q


@st.composite
def lstm_specs(draw) -> LstmSpec:
    fmt = draw(st.sampled_from(["qcdq", "quant"]))
    po2 = draw(st.booleans())
    per_channel = draw(st.booleans()) if not po2 else False  # per-channel weight scales are float by construction
    w_signed_narrow = draw(st.booleans())
    weight = _q(draw, fmt, po2, 1.2, signed=True, narrow=w_signed_narrow, lo_bits=2)
    io_unsigned = draw(st.booleans())
    io = _q(
        draw, fmt, po2, 1.0, signed=not io_unsigned, zero_point=int(io_unsigned and draw(st.booleans())), allow16=True
    )
    acc = _q(
        draw,
        fmt,
        po2,
        draw(st.sampled_from([2.0, 6.0])),
        signed=True,
        allow16=True,
        zero_point=draw(st.sampled_from([0, 0, 1, -2])),
    )
    sig_signed = draw(st.booleans())
    sigmoid = _q(draw, fmt, po2, 1.0, signed=sig_signed)
    tanh = _q(draw, fmt, po2, 1.0, signed=True)
    cell = _q(draw, fmt, po2, draw(st.sampled_from([1.0, 3.0])), signed=True, allow16=True)
    return LstmSpec(
        input_size=draw(st.integers(1, 6)),
        hidden_size=draw(st.integers(1, 6)),
        seq_len=draw(st.integers(1, 12)),
        num_layers=draw(st.integers(1, 2)),
        bidirectional=draw(st.booleans()),
        weight=weight,
        io=io,
        acc=acc,
        sigmoid=sigmoid,
        tanh=tanh,
        cell=cell,
        per_channel_weights=per_channel,
        quant_format=fmt,
        seed=draw(st.integers(0, 2**16)),
    )


# ------------------------------------------------------------------------------------------------ the check
def integer_design(model, act_impl: str = "threshold"):
    """(float-level module, integer module) of an ONNX model, legalized directly (no fold pass needed)."""
    float_module = import_model(model)
    int_module = apply_pipeline(import_model(model), [f"qrnn-legalize-precision{{act-impl={act_impl}}}"])
    return float_module, int_module


def random_inputs(spec: LstmSpec, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, spec.seq_len, spec.input_size)) * 0.8
    x[0] = 3.0 * np.sign(x[0])  # saturating sequence: every code at a clamp
    return x.astype(np.float32)


def check_contract(spec: LstmSpec, n: int = 8) -> None:
    model = build_lstm(spec)
    float_module, int_module = integer_design(model)
    x = random_inputs(spec, n, spec.seed)
    ref = run_reference(model, {"X": x})
    got = run_function(int_module, {"X": x})
    lsbs = output_lsbs(float_module)
    po2 = all_scales_power_of_two(float_module)
    report = check_stage("integer", ref, got, lsbs, po2)
    rows = compare(ref, got, lsbs)
    mismatches = sum(r.mismatches for r in rows)
    elements = sum(r.elements for r in rows)
    if po2:
        PO2_TOTALS["elements"] += elements
        PO2_TOTALS["examples"] += 1
        assert report.ok, f"power-of-two scales must be bit-exact: {report.reason}\n{spec}"
        return
    worst = max((r.max_lsb for r in rows if r.max_lsb is not None), default=0.0)
    assert all(r.max_lsb is not None for r in rows if r.mismatches), f"an output has no known LSB: {rows}"
    FLOAT_TOTALS["mismatches"] += mismatches
    FLOAT_TOTALS["elements"] += elements
    FLOAT_TOTALS["examples"] += 1
    FLOAT_TOTALS["worst_lsb"] = max(FLOAT_TOTALS["worst_lsb"], worst)
    FLOAT_TOTALS["beyond_1lsb"] += int(worst > 1.0 + 1e-3)
    if mismatches:
        FLOAT_TOTALS["ties"] += assert_divergences_start_at_ties(model, float_module, x, got, spec)


# ------------------------------------------------------------------------------------------------ attribution
@contextmanager
def recording(events: list):
    """Run the interpreter with every quantizer's result recorded as (name hint, input, result) in execution
    order: qrnn.quant (float level), qrnn.quantize / requant / lut / threshold (integer level)."""

    @register_impls
    class Recording(interp_qrnn.QrnnFunctions):
        def _rec(self, op, args, values):
            events.append((op.results[0].name_hint, op, args[0], values[0]))
            return values

        @impl(qrnn.QuantOp)
        def run_quant(self, interpreter, op, args):
            return self._rec(op, args, super().run_quant(interpreter, op, args).values)

        @impl(qrnn.QuantizeOp)
        def run_quantize(self, interpreter, op, args):
            return self._rec(op, args, super().run_quantize(interpreter, op, args).values)

        @impl(qrnn.RequantOp)
        def run_requant(self, interpreter, op, args):
            return self._rec(op, args, super().run_requant(interpreter, op, args).values)

        @impl(qrnn.LutOp)
        def run_lut(self, interpreter, op, args):
            return self._rec(op, args, super().run_lut(interpreter, op, args).values)

        @impl(qrnn.ThresholdOp)
        def run_threshold(self, interpreter, op, args):
            return self._rec(op, args, super().run_threshold(interpreter, op, args).values)

    saved = interp_qrnn.QrnnFunctions
    interp_qrnn.QrnnFunctions = Recording  # run_function looks the class up at call time
    try:
        yield events
    finally:
        interp_qrnn.QrnnFunctions = saved


def assert_divergences_start_at_ties(model, float_module, x, got, spec) -> int:
    """Per sequence, the first quantizer whose integer codes differ from the float (= reference) codes differs by
    one code where the float value x / s sits within float32 error of a rounding tie. Uses the act-impl=lut
    design, whose requantizers all run (thresholds fuse them away), after checking it gives the same outputs.
    Returns the number of sequences that diverged."""
    lut_module = integer_design(model, "lut")[1]
    float_events, int_events = [], []
    with recording(float_events):
        qrnn_out = run_function(float_module, {"X": x})
    with recording(int_events):
        lut_out = run_function(lut_module, {"X": x})
    for name in got:
        assert np.array_equal(lut_out[name], got[name]), f"threshold and lut designs differ on {name}\n{spec}"
    ref = run_reference(model, {"X": x})
    assert all(np.array_equal(qrnn_out[k], ref[k]) for k in ref), "qrnn stage != reference"
    by_name = defaultdict(list)
    for name, op, _, value in int_events:
        if isinstance(op, qrnn.RequantOp) and "error_bound" not in op.attributes:
            continue  # a type cast (shift 0), not a quantizer
        by_name[name].append(value)
    seen: dict[str, int] = defaultdict(int)
    open_seqs = set(range(x.shape[0]))
    diverged = 0
    for name, op, f_in, f_out in float_events:
        k = seen[name]
        seen[name] += 1
        if name not in by_name or not open_seqs:
            continue  # constants' quantizers and identity quantizers have no integer counterpart
        i_out = np.asarray(by_name[name][k])
        if f_out.ndim != i_out.ndim:  # a quantizer on a constant (not batched): folded away
            continue
        params = interp_qrnn.quant_params(op.quant)
        zp = numerics.channel_values(params.zero_point, params.axis, f_out.ndim, np.int64, True)
        f_codes = numerics.quantize(f_out, params, True) - zp
        diff = f_codes != i_out
        for n in sorted(open_seqs):
            if not diff[n].any():
                continue
            open_seqs.discard(n)
            diverged += 1
            assert np.abs(f_codes[n] - i_out[n]).max() <= 1, (
                f"sequence {n}: first divergence at {name} step {k} is more than one code: "
                f"{f_codes[n].tolist()} vs {i_out[n].tolist()}\n{spec}"
            )
            s = numerics.channel_values(params.scale, params.axis, f_out.ndim, np.float64, True)
            v = (np.asarray(f_in, np.float64) / np.broadcast_to(s, f_in.shape))[n][diff[n]]
            tie_distance = np.abs(np.abs(v - np.floor(v)) - 0.5)
            # A value outside the clamp range cannot differ; inside, the reference is near k + 1/2.
            assert tie_distance.max() <= 1e-3, (
                f"sequence {n}: first divergence at {name} step {k} is not at a rounding tie: x / s = {v.tolist()}\n{spec}"
            )
    return diverged


EDGE_2BIT_SIGMOID = LstmSpec(input_size=2, hidden_size=3, seq_len=4, sigmoid=Q(2, False, False, 0.25))
EDGE_2BIT_NARROW_WEIGHTS = LstmSpec(input_size=3, hidden_size=2, seq_len=5, weight=Q(2, True, True, 0.5))
EDGE_T1 = LstmSpec(input_size=1, hidden_size=1, seq_len=1)
EDGE_ASYM_IO = LstmSpec(input_size=3, hidden_size=4, seq_len=6, io=Q(8, False, False, 2.0**-6, 128))
EDGE_SIGNED_SIGMOID_QUANT = LstmSpec(
    input_size=2,
    hidden_size=2,
    seq_len=3,
    num_layers=2,
    bidirectional=True,
    sigmoid=Q(5, True, False, 2.0**-4),
    acc=Q(12, True, False, 2.0**-8),
    quant_format="quant",
)
# Found by this test: an exact tie in the cell state (f = 0.5 times c = -7 codes of scale float32(1/7) is exactly
# -3.5 LSB; float32 computes -3.4999998) flips c by one code, a 2-bit tanh and then h by 3 LSBs later on.
EDGE_TIE_PROPAGATES = LstmSpec(
    input_size=3,
    hidden_size=6,
    seq_len=9,
    num_layers=2,
    bidirectional=True,
    weight=Q(6, True, True, 0.06120353192090988),
    io=Q(4, True, False, 0.1428571492433548),
    acc=Q(2, True, False, 1.6332865953445435),
    sigmoid=Q(3, True, False, 0.5),
    tanh=Q(2, True, False, 0.8245608806610107),
    cell=Q(4, True, False, 0.1428571492433548),
    per_channel_weights=True,
    seed=1918,
)
EDGE_FLOAT_PER_CHANNEL = LstmSpec(
    input_size=3,
    hidden_size=3,
    seq_len=8,
    per_channel_weights=True,
    io=Q(8, True, False, 0.0291),
    acc=Q(8, True, False, 0.0517),
    sigmoid=Q(8, False, False, 0.00392),
    tanh=Q(8, True, False, 0.00787),
    cell=Q(16, True, False, 0.000123),
)


# Every pre-activation of layer 1's h requantizer lies below its unsigned clamp: it reaches the single code 0
# (the legalizer once computed the empty range [0, -1] for it and failed on its thresholds).
EDGE_CLAMPED_CONSTANT = LstmSpec(
    input_size=2,
    hidden_size=1,
    seq_len=1,
    num_layers=2,
    bidirectional=True,
    weight=Q(2, True, False, 1.0),
    io=Q(2, False, False, 0.25),
    acc=Q(3, True, False, 0.5),
    sigmoid=Q(2, False, False, 0.25),
    tanh=Q(3, True, False, 0.25),
    cell=Q(3, True, False, 0.25),
    seed=27097,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(spec=lstm_specs())
@example(spec=EDGE_CLAMPED_CONSTANT)
@example(spec=EDGE_2BIT_SIGMOID)
@example(spec=EDGE_2BIT_NARROW_WEIGHTS)
@example(spec=EDGE_T1)
@example(spec=EDGE_ASYM_IO)
@example(spec=EDGE_SIGNED_SIGMOID_QUANT)
@example(spec=EDGE_FLOAT_PER_CHANNEL)
def test_integer_meets_contract(spec):
    check_contract(spec)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(spec=lstm_specs())
@example(spec=EDGE_FLOAT_PER_CHANNEL)
@example(spec=EDGE_SIGNED_SIGMOID_QUANT)
def test_integer_stage_equals_direct_legalization(spec):
    """The `integer` stage (qrnn-fold-constants, then legalize) computes exactly what legalizing the imported IR
    computes. Breaks if folding (gate fusion, dropped quantizers) changes the integer design's numerics."""
    pytest.importorskip("lstmc.passes.qrnn_fold_constants")
    from lstmc.stages import run_stage

    model = build_lstm(spec)
    x = random_inputs(spec, 4, spec.seed + 1)
    direct = run_function(integer_design(model)[1], {"X": x})
    staged = run_stage("integer", model, {"X": x})
    for name in direct:
        assert np.array_equal(direct[name], staged[name]), f"{name}\n{spec}"


def test_tie_propagates_beyond_one_lsb():
    """The case that refutes "every output mismatch <= 1 LSB": it starts at an exact tie (checked) and grows."""
    saved = dict(FLOAT_TOTALS)  # a constructed case: keep it out of the aggregate rate
    try:
        check_contract(EDGE_TIE_PROPAGATES, n=16)
        assert FLOAT_TOTALS["beyond_1lsb"] == saved["beyond_1lsb"] + 1
        assert FLOAT_TOTALS["ties"] >= saved["ties"] + 1
    finally:
        FLOAT_TOTALS.update(saved)


def test_aggregate_float_scale_mismatch_rate():
    """Over all float-scale examples above: the rate of (<= 1 LSB) tie mismatches, printed for the report.
    Fails only on a rate far beyond float32 ties (1e-2): small random models are not the 1e-4 benchmark."""
    if not FLOAT_TOTALS["examples"]:
        pytest.skip("run together with test_integer_meets_contract")
    rate = FLOAT_TOTALS["mismatches"] / FLOAT_TOTALS["elements"]
    print(
        f"\nfloat scales: {FLOAT_TOTALS['mismatches']} mismatches / {FLOAT_TOTALS['elements']} elements "
        f"over {FLOAT_TOTALS['examples']} models (rate {rate:.2e}, worst {FLOAT_TOTALS['worst_lsb']:.3g} LSB, "
        f"{FLOAT_TOTALS['beyond_1lsb']} models beyond 1 LSB, {FLOAT_TOTALS['ties']} sequences diverged at a tie); "
        f"power of two: {PO2_TOTALS['examples']} models, {PO2_TOTALS['elements']} elements, all exact"
    )
    assert rate <= 1e-2
