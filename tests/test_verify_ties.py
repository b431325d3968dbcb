"""`lstmc verify` tells a float32 tie from a bug (lstmc/tie_trace.py, lstmc/verify.py).

- l1_acc16_float over 300 random sequences: its 5 mismatching c_n elements each trace to a float32 tie, so verify
  passes and reports them; every sequence that diverges internally (most never reach an output) is a tie too.
- Injected bugs fail however rare, named by quantizer and step: one activation threshold moved by one input code
  (a compiler bug hit once in 300 sequences), one code flipped in one step of one sequence (interpreter level).
- The float32 error bound holds on every quantizer execution before a divergence (the soundness claim).
- The classifier on hand-made values just inside / just outside the bound.
- qrnn.quant_dequant (Q/DQ with two scales) is traced like a quantizer: a hand-made tie at one is found there,
  with the hand-computed bound, and its value downstream carries the dequantizer's error; a FINN cell with two
  Q/DQ scales, whose ties at that pair reach h, verifies with those ties listed.
- Unquantized outputs (FINN's carried c_T): their float32 rounding passes verify as its own class, the bound holds
  on every element and is tight; one LSB on c_T, a thousandth of an LSB on c_T and one ulp on h (a quantized
  output) each fail; the acceptance rule is checked on hand-made values just inside / outside B and 2 B < s.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np
import onnx
import pytest
from conftest import FIXTURES
from xdsl.interpreter import impl, register_impls

import lstmc.interpreter.qrnn as interp_qrnn
import lstmc.passes.qrnn_legalize_precision as legalize
from lstmc import tie_trace
from lstmc.analysis import all_scales_power_of_two, output_lsbs
from lstmc.cli import main as lstmc_main
from lstmc.cli import random_inputs
from lstmc.dense import array_from_dense
from lstmc.dialects import qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.stages import run_stage
from lstmc.testing import build_lstm
from lstmc.tie_trace import TieTracer, classify, half_ulp, rounding_boundary
from lstmc.verify import check_stage

pytest.importorskip("onnxruntime")

ACC16 = FIXTURES / "l1_acc16_float.onnx"
N, SEED = 300, 0  # the README's benchmark: 5 of 2400 c_n elements differ, all at ties


def _counts(values: Iterable[int | None]) -> list[int]:
    """Per-row counts that lstmc.verify fills in on every row it traces."""
    counts = []
    for v in values:
        assert v is not None
        counts.append(v)
    return counts


@pytest.fixture(scope="module")
def acc16():
    model = onnx.load(ACC16)
    inputs = random_inputs(model, N, SEED)
    imported = import_model(model)
    return {
        "model": model,
        "inputs": inputs,
        "imported": imported,
        "lsbs": output_lsbs(imported),
        "po2": all_scales_power_of_two(imported),
        "reference": run_stage("reference", model, inputs),
    }


def _check(d, got):
    return check_stage("integer", d["reference"], got, d["lsbs"], d["po2"], TieTracer(d["imported"], d["inputs"]))


# ------------------------------------------------------------------------------------------------ (a) ties pass
def test_acc16_mismatches_are_ties_and_pass(acc16):
    report = _check(acc16, run_stage("integer", acc16["model"], acc16["inputs"]))
    assert not acc16["po2"]
    assert report.ok, [v.describe() for v in report.real]
    rows = {r.output: r for r in report.rows}
    assert (rows["c_n"].mismatches, rows["c_n"].ties, rows["c_n"].real) == (5, 5, 0)
    assert sum(r.mismatches for r in report.rows) == 5 and len(report.ties) == 5 and not report.real
    assert report.tie_max_lsb == 1.0
    for v in report.ties:  # one code apart at a 16-bit quantizer, the reference within its bound of the boundary
        d = v.divergence
        assert d is not None and d.test.boundary is not None
        assert abs(d.code_float - d.code_int) == 1 and "<s16" in d.quantizer
        assert abs(d.v_float - d.test.boundary) <= d.bound < 0.01


def test_acc16_every_internal_divergence_is_a_tie(acc16):
    """Many more sequences diverge inside (a 16-bit gate code rarely moves an 8-bit sigmoid): all ties."""
    tracer = TieTracer(acc16["imported"], acc16["inputs"])
    f_out, _, first = tracer.first_divergences(acc16["inputs"])
    assert all(np.array_equal(f_out[k], acc16["reference"][k]) for k in f_out)
    assert len(first) > 50, len(first)
    assert all(v.tie for v in first.values()), [v.describe() for v in first.values() if not v.tie]


def test_cli_reports_ties_and_passes(acc16, capsys):
    status = lstmc_main(["verify", str(ACC16), "--random", str(N), "--seed", str(SEED), "--stages", "qrnn", "integer"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "5 mismatching sequences first diverge at a float32 rounding tie" in out
    assert "all stages meet the contract" in out and "REAL" not in out


def test_mismatches_without_a_tracer_fail(acc16):
    got = run_stage("integer", acc16["model"], acc16["inputs"])
    report = check_stage("integer", acc16["reference"], got, acc16["lsbs"], acc16["po2"])
    assert not report.ok and "no tie tracer" in report.reason


# ------------------------------------------------------------------------------------------------ (b) bugs fail
def _int_values(tracer: TieTracer, inputs, ssa) -> np.ndarray:
    """[N, steps, ...] values of one SSA value of the integer design (a recurrence body value)."""
    _, int_module, _ = tracer._build()
    trace = tie_trace._IntTrace(int_module, {ssa})
    tie_trace._run(int_module, inputs, trace)
    return np.stack(trace.values[ssa], axis=1)


def _op_named(module, cls, hint):
    return next(o for o in module.walk() if isinstance(o, cls) and o.results[0].name_hint == hint)


def test_one_moved_threshold_fails_naming_quantizer_and_step(acc16, monkeypatch):
    """A compiler bug: one threshold of tanh(c) one input code too high. Its input hits that exact code in one
    sequence and step, so only a handful of output elements change; verify must still fail, at that step."""
    tracer = TieTracer(acc16["imported"], acc16["inputs"])
    _, int_module, _ = tracer._build()
    thr_op = _op_named(int_module, qrnn.ThresholdOp, "l0_fwd_tanh_c_dq")
    c_sum = _int_values(tracer, acc16["inputs"], thr_op.operands[0])  # [N, T, H]
    thresholds = array_from_dense(thr_op.thresholds)
    once = [int(t) for t in thresholds if np.count_nonzero(c_sum == t) == 1]
    original = legalize._acc_thresholds
    elements = sum(r.size for r in acc16["reference"].values())
    for moved in once:  # not every moved code changes an output (h is 8-bit): take the first that does

        def shifted(code_thr, shift, rounding, moved=moved):
            thr = original(code_thr, shift, rounding)
            return np.where(thr == moved, thr + 1, thr) if shift == 0 else thr  # tanh(c) reads c_sum unshifted

        monkeypatch.setattr(legalize, "_acc_thresholds", shifted)
        got = run_stage("integer", acc16["model"], acc16["inputs"])
        report = _check(acc16, got)
        monkeypatch.setattr(legalize, "_acc_thresholds", original)
        if report.real:
            break
    else:
        pytest.fail("no moved threshold changed an output")
    seq, step, h = (int(i[0]) for i in np.nonzero(c_sum == moved))
    assert not report.ok and "do not start at a float32 tie" in report.reason
    assert [v.sequence for v in report.real] == [seq]
    d = report.real[0].divergence
    assert d is not None
    assert "%l0_fwd_tanh_c_dq" in d.quantizer and d.step == step and d.element == (h,)
    assert d.code_int == d.code_float - 1 and "same float32 value" in d.test.why
    assert len(report.ties) == 5  # the genuine ties are still told apart
    real = sum(_counts(r.real for r in report.rows))
    assert 0 < real and real / elements < 1e-3  # a rate the old 1e-4-of-elements rule was built to absorb


def test_one_flipped_code_fails_naming_quantizer_and_step(acc16, monkeypatch, capsys):
    """One h code one LSB off in the last step of one sequence: 2 of 33600 output elements, 1 LSB each (the old
    rule, <= 1e-4 of the elements and <= 1 LSB, accepted that). verify names the step, quantizer and values.
    The unit making h is a requantizer or, with requant-impl=auto, thresholds on the product o * tanh(c): the
    flip is injected into whichever it is, on the accumulator value the tracer reads its exact value from."""
    tracer = TieTracer(acc16["imported"], acc16["inputs"])
    _, int_module, sources = tracer._build()
    units = (qrnn.RequantOp, qrnn.ThresholdOp, qrnn.LutOp)
    unit = _op_named(int_module, units, "l0_fwd_h_out")
    src = next(s for s in sources.values() if s.value is unit.results[0])
    assert src.acc is unit.operands[0]
    acc = _int_values(tracer, acc16["inputs"], src.acc)  # [N, T, H]
    last, h = acc.shape[1] - 1, 3
    if src.absorbed is not None:  # its exact value p acc + q over d
        v = np.array([float(x) for x in src.absorbed.values(acc[:, last])[:, h]])
    else:
        v = acc[:, last, h] / 2.0**src.shift
    unique = np.array([np.count_nonzero(acc[..., h] == a) == 1 for a in acc[:, last, h]])
    far = np.abs(v - np.round(v)) < 0.4  # far from a rounding boundary: surely not a tie
    below_max = np.round(v) < src.hi
    _, _, first = tracer.first_divergences(acc16["inputs"])
    clean = ~np.isin(np.arange(N), list(first))  # no tie anywhere in it (a tie would come first)
    seq = int(np.flatnonzero(unique & far & below_max & clean)[0])
    target = int(acc[seq, last, h])

    def flip(op, args, codes):
        if op.results[0].name_hint == "l0_fwd_h_out":
            hit = np.asarray(args[0])[..., h] == target
            codes = codes.copy()
            codes[..., h] += hit
        return (codes,)

    @register_impls
    class FlipOne(interp_qrnn.QrnnFunctions):
        @impl(qrnn.RequantOp)
        def run_requant(self, interpreter, op, args):
            return flip(op, args, super().run_requant(interpreter, op, args).values[0])

        @impl(qrnn.ThresholdOp)
        def run_threshold(self, interpreter, op, args):
            return flip(op, args, super().run_threshold(interpreter, op, args).values[0])

        @impl(qrnn.LutOp)
        def run_lut(self, interpreter, op, args):
            return flip(op, args, super().run_lut(interpreter, op, args).values[0])

    monkeypatch.setattr(interp_qrnn, "QrnnFunctions", FlipOne)  # run_function looks it up at call time
    got = run_stage("integer", acc16["model"], acc16["inputs"])
    report = _check(acc16, got)
    assert not report.ok
    assert [v.sequence for v in report.real] == [seq] and len(report.ties) == 5
    d = report.real[0].divergence
    assert d is not None
    assert "%l0_fwd_h_out" in d.quantizer and d.step == last and d.element == (h,)
    assert d.code_int == d.code_float + 1 and "the integer code is not its value" in d.test.why
    real_rows = {r.output: r.real for r in report.rows}
    assert real_rows == {"Y": 1, "h_n": 1, "c_n": 0}
    assert sum(_counts(real_rows.values())) / sum(r.elements for r in report.rows) < 1e-4

    status = lstmc_main(["verify", str(ACC16), "--random", str(N), "--seed", str(SEED), "--stages", "integer"])
    out = capsys.readouterr().out
    assert status == 1
    real_lines = [line for line in out.splitlines() if " REAL " in line]
    assert len(real_lines) == 1, out
    assert f"sequence {seq}, step {last} of l0_fwd_scan, %l0_fwd_h_out" in real_lines[0]
    assert f"-> code {d.code_float}, integer code {d.code_int}" in real_lines[0]
    assert "FAIL - 1 of 6 mismatching sequences do not start at a float32 tie" in out


# ------------------------------------------------------------------------------------------------ the bound
def _bound_margin(tracer: TieTracer, inputs) -> tuple[float, int, dict]:
    """Largest |reference x/s - integer acc/2^F (or the absorbed exact value)| / (E + error_bound) over every
    requantizer execution that still
    sees the same codes on both levels, the number of executions checked, and the first divergences."""
    float_module, int_module, sources = tracer._build()
    ftrace = tie_trace._FloatTrace(float_module)
    tie_trace._run(float_module, inputs, ftrace)
    itrace = tie_trace._IntTrace(int_module, {v for s in sources.values() for v in (s.acc, s.value) if v is not None})
    tie_trace._run(int_module, inputs, itrace)
    n = next(iter(inputs.values())).shape[0]
    alive = np.ones(n, bool)
    worst, checked = 0.0, 0
    for event in ftrace.events:
        src = sources.get(event.op)
        found = None if src is None else tie_trace._int_codes(src, itrace, event.occurrence, n)
        if src is None or found is None:
            continue
        if src.acc is not None and not event.same_float:
            acc = tie_trace._batch(np.asarray(itrace.values[src.acc][event.occurrence]), src.acc, n)
            if src.absorbed is not None:  # thresholds or a narrowed multiplier: the exact value p acc + q over d
                v_int = np.vectorize(float)(src.absorbed.values(acc)).astype(np.float64)
            else:
                v_int = acc.astype(np.float64) / 2.0**src.shift  # exact: |acc| < 2^53 here
            v = tie_trace._batch(event.v, event.op.result, n).astype(np.float64)
            bound = tie_trace._batch(event.bound, event.op.result, n) + src.error_bound
            ratio = (np.abs(v - v_int) / bound)[alive]
            worst, checked = max(worst, float(ratio.max(initial=0))), checked + ratio.size
        c_float = tie_trace._batch(event.codes, event.op.result, n)
        alive &= ~(c_float != found[0]).reshape(n, -1).any(axis=1)
    return worst, checked, tracer.first_divergences(inputs)[2]


def test_float32_bound_holds_before_every_divergence(acc16):
    """Soundness, measured: at every requantizer execution that still sees the same codes on both levels,
    |reference x/s - integer acc/2^F| <= E + error_bound. Dropping a term of the bound breaks this."""
    worst, checked, _ = _bound_margin(TieTracer(acc16["imported"], acc16["inputs"]), acc16["inputs"])
    assert checked > 100_000
    assert worst <= 1.0, worst
    assert worst > 0.5  # and not vacuous: the bound is within a factor 2 of errors that occur


@pytest.mark.parametrize(
    "name", ["EDGE_TIE_PROPAGATES", "EDGE_FLOAT_PER_CHANNEL", "EDGE_SIGNED_SIGMOID_QUANT", "EDGE_ASYM_IO"]
)
def test_bound_and_ties_on_edge_models(name):
    """The same on test_integer_property's edge cases: 2 layers x 2 directions, per-channel weights, zero points,
    signed sigmoid, 2-bit accumulators, QONNX Quant. Every first divergence is a tie (the first two models have
    9 and 1 over these inputs); the power-of-two ones never diverge, and the float stage is exact there."""
    import test_integer_property as prop

    spec = getattr(prop, name)
    x = prop.random_inputs(spec, 64, spec.seed)
    imported = import_model(build_lstm(spec))
    worst, checked, first = _bound_margin(TieTracer(imported, {"X": x}), {"X": x})
    assert checked and worst <= 1.0, worst
    assert all(v.tie for v in first.values()), [v.describe() for v in first.values() if not v.tie]
    if all_scales_power_of_two(imported):
        assert worst == 0.0 and not first
    else:
        assert first


# ------------------------------------------------------------------------------------------------ (c) classifier
def test_classifier_just_inside_and_outside_the_bound():
    """A hand-made tie: codes c1, c2 on scale s summed in float32 and requantized to scale 2s. The exact value is
    7232.5 (half to even: 7232); float32 gives 7232.50049 (7233). The bound, from the ulps of the operands."""
    f32 = np.float32
    s = f32(1.8857025e-05)
    c1, c2 = -2840, 17305
    a, b = f32(c1) * s, f32(c2) * s
    x = a + b
    v = x / (f32(2) * s)
    exact = Fraction(c1 + c2, 2)
    assert int(np.rint(v)) == 7233 and round(exact) == 7232
    dequant_err = sum(abs(Fraction(float(fl)) - c * Fraction(float(s))) for fl, c in ((a, c1), (b, c2)))
    e = float(dequant_err) + float(half_ulp(x))  # e(a) + e(b) + ulp(a + b) / 2
    bound = float(half_ulp(v)) + e / float(2 * s)  # ulp(v) / 2 + e / s_out
    dist = abs(Fraction(float(v)) - exact)
    assert 0 < dist <= bound  # the float error is within the bound
    assert classify(float(v), 7233, 7232, bound, exact).tie
    assert classify(float(v), 7233, 7232, bound).tie  # no integer value: distance to the boundary 7232.5
    # just inside / just outside: the integer value moved away from the float one
    slack = Fraction(bound) - dist
    assert classify(float(v), 7233, 7232, bound, exact - slack + Fraction(1, 10**9)).tie
    assert not classify(float(v), 7233, 7232, bound, exact - slack - Fraction(1, 10**9)).tie
    assert classify(float(v), 7233, 7232, float(dist) * (1 + 1e-9)).tie
    assert not classify(float(v), 7233, 7232, float(dist) * (1 - 1e-9)).tie
    # never a tie: an integer code that is not the rounding of the integer value (however close), two codes
    # apart, both levels rounding the same float32, no bound on the path
    assert not classify(float(v), 7233, 7232, bound, exact + Fraction(1, 10**9)).tie
    assert not classify(float(v), 7234, 7232, 10.0, exact).tie
    assert not classify(float(v), 7233, 7232, bound, exact, same_float=True).tie
    assert not classify(float(v), 7233, 7232, float("inf"), exact).tie


def test_rounding_boundaries():
    assert rounding_boundary(3, "half_even") == 3.5 and rounding_boundary(-4, "half_up") == -3.5
    assert rounding_boundary(3, "floor") == 4 and rounding_boundary(3, "ceil") == 3
    assert rounding_boundary(3, "down") == 4 and rounding_boundary(-4, "down") == -4  # toward zero
    assert rounding_boundary(3, "up") == 3 and rounding_boundary(-4, "up") == -3  # away from zero
    assert classify(3.9999, 3, 4, 2e-4, rounding="floor").tie and not classify(3.9999, 3, 4, 5e-5, rounding="floor").tie
    assert not classify(3.9999, 3, 4, 1e-3, rounding="half_even").tie  # that boundary is 3.5


def test_power_of_two_stage_stays_bit_exact():
    ref = {"Y": np.zeros((2, 3), np.float32)}
    got = {"Y": np.array([[0, 0, 0.5], [0, 0, 0]], np.float32)}
    report = check_stage("integer", ref, got, {"Y": 0.5}, True)
    assert not report.ok and report.contract == "bit-exact with the reference" and not report.verdicts


# ----------------------------------------------------------------------------------------------- (d) qrnn.quant_dequant
QDQ = """
func.func @f(%a: tensor<1xf32>, %b: tensor<1xf32>) -> tensor<1xf32> {
  %aq = qrnn.quant %a by <s16, scale = S, zp = 0> : tensor<1xf32>
  %bq = qrnn.quant %b by <s16, scale = S, zp = 0> : tensor<1xf32>
  %x = qrnn.add %aq, %bq : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
  %y = qrnn.quant_dequant %x by <s16, scale = S2, zp = 0> to <s16, scale = SDQ, zp = 0> : tensor<1xf32>
  %w = qrnn.add %y, %y : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
  %wq = qrnn.quant %w by <s16, scale = SDQ, zp = 0> : tensor<1xf32>
  func.return %wq : tensor<1xf32>
}
"""


def test_quant_dequant_tie_is_traced_and_bounded():
    """The hand-made tie of the classifier test, at a Q/DQ pair with two scales: codes c1, c2 on s summed in
    float32 and quantized by 2s (exact 7232.5 -> 7232, float32 7232.50049 -> 7233), then read on s_dq. The
    recording legalizer must give the pair's integer codes (the divergence is found there, not downstream), the
    float trace the quantizer's bound (by s_q) and the dequantizer's error (by s_dq)."""
    from xdsl.parser import Parser

    from lstmc.pipeline import make_context

    f32 = np.float32
    s, s_dq = f32(1.8857025e-05), f32(3.0e-05)
    text = QDQ.replace("S2", repr(float(2 * s))).replace("SDQ", repr(float(s_dq))).replace("S", repr(float(s)))
    c1, c2 = -2840, 17305
    a, b = f32(c1) * s, f32(c2) * s
    inputs = {"arg0": np.array([[a]], f32), "arg1": np.array([[b]], f32)}
    tracer = TieTracer(Parser(make_context(), text).parse_module(), inputs)
    _, _, first = tracer.first_divergences(inputs)
    d = first[0].divergence
    assert d is not None
    assert "qrnn.quant_dequant" in d.quantizer and (d.code_float, d.code_int) == (7233, 7232), d.describe()
    assert first[0].tie and d.v_int == 7232.5
    # the bound, by hand: ulp(v)/2 + (e(a) + e(b) + ulp(a + b)/2) / (2 s), e(code) = |fl(c s) - c s|
    x = a + b
    v = x / (f32(2) * s)
    dequant_err = sum(abs(Fraction(float(fl)) - c * Fraction(float(s))) for fl, c in ((a, c1), (b, c2)))
    e = float(dequant_err) + float(half_ulp(x))
    bound = (float(half_ulp(v)) + e / float(2 * s)) * tie_trace.BOUND_SLACK
    assert d.bound == pytest.approx(bound, rel=1e-12)
    dist = abs(Fraction(d.v_float) - Fraction(7232.5))
    slack = Fraction(d.bound) - dist
    assert classify(d.v_float, 7233, 7232, d.bound, Fraction(14465, 2) - slack + Fraction(1, 10**9)).tie
    assert not classify(d.v_float, 7233, 7232, d.bound, Fraction(14465, 2) - slack - Fraction(1, 10**9)).tie
    # downstream, the pair's value is its code read on s_dq: error |fl(c s_dq) - c s_dq|, exact (not by s_q)
    float_module, _, _ = tracer._build()
    ftrace = tie_trace._FloatTrace(float_module)
    tie_trace._run(float_module, inputs, ftrace)
    (qdq,) = [op for op in float_module.walk() if isinstance(op, qrnn.QuantDequantOp)]
    y = f32(7233) * s_dq
    assert float(ftrace.entries[qdq.result].err[0, 0]) == abs(Fraction(float(y)) - 7233 * Fraction(float(s_dq))) > 0
    assert ftrace.entries[qdq.result].kind == "code"


def test_finn_cell_with_two_qdq_scales_verifies_with_ties_at_the_pair(tmp_path, capsys):
    """FINN-GL's cell with the forget pre-activation quantized by one scale and dequantized by another: in two of
    these sequences the reference sits on a tie of that pair, and the flipped code reaches h and c_T. verify
    traces both to the pair, calls them ties, and passes (without the pair's rule and record it called them
    bugs: the divergence surfaced two codes apart at the sigmoid behind it)."""
    from lstmc.testing_finn_cell import FinnCellSpec, build_finn_cell, finn_cell_inputs

    spec = FinnCellSpec(input_size=4, hidden_size=8, po2=False, same_qdq_scale=False, seed=4)
    model = build_finn_cell(spec)
    x: dict[str, Any] = {k: v[[703, 1838, *range(20)]] for k, v in finn_cell_inputs(spec, 2000, 10, seed=0).items()}
    onnx.save(model, tmp_path / "finn.onnx")
    np.savez(tmp_path / "x.npz", **x)
    status = lstmc_main(
        ["verify", str(tmp_path / "finn.onnx"), "--inputs", str(tmp_path / "x.npz"), "--stages", "qrnn", "integer"]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    tie_lines = [line for line in out.splitlines() if "  tie " in line]
    assert len(tie_lines) == 2 and all("%f_t_dql1 = qrnn.quant_dequant by" in line for line in tie_lines), out
    assert "2 mismatching sequences first diverge at a float32 rounding tie" in out
    assert "REAL" not in out and "all stages meet the contract" in out
    h_row = next(line for line in out.splitlines() if line.startswith("integer    scan_out_hidden_state_concat"))
    assert h_row.split()[3] != "0", "the ties no longer reach h: the test lost its point"


# ---------------------------------------------------------------------------------------------- (e) unquantized outputs
FINN_SAME7: dict[str, Any] = dict(
    input_size=3, hidden_size=7, weight_bits=6, act_bits=7, sigmoid_bits=6, po2=False, seed=6
)
C_T = "scan_out_cell_state"


@pytest.fixture(scope="module")
def finn(tmp_path_factory):
    """FINN-GL's cell with float scales: c_T = DQ(c1) + DQ(c2) is carried and returned unquantized."""
    from lstmc.frontend import bind_sequence_length
    from lstmc.testing_finn_cell import FinnCellSpec, build_finn_cell, cell_quantizers

    spec = FinnCellSpec(**FINN_SAME7)
    model = build_finn_cell(spec)  # symbolic T, as the notebook writes it
    path = tmp_path_factory.mktemp("finn") / "finn.onnx"
    onnx.save(model, path)
    inputs = random_inputs(bind_sequence_length(model, 10), 50, 0)  # what `verify --random 50 --seq-len 10` draws
    imported = import_model(bind_sequence_length(model, arrays=inputs))
    return {
        "model": model,
        "path": path,
        "inputs": inputs,
        "imported": imported,
        "lsbs": output_lsbs(imported),
        "reference": run_stage("reference", model, inputs),
        "integer": run_stage("integer", model, inputs),
        "c_lsb": float(np.float32(cell_quantizers(spec)["c"].scale)),
    }


def _finn_check(d, got):
    return check_stage("integer", d["reference"], got, d["lsbs"], False, TieTracer(d["imported"], d["inputs"]))


def test_unquantized_cell_state_rounding_passes_as_its_own_class(finn, capsys):
    status = lstmc_main(
        ["verify", str(finn["path"]), "--random", "50", "--seq-len", "10", "--stages", "qrnn", "integer"]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    report = _finn_check(finn, finn["integer"])
    rows = {r.output: r for r in report.rows}
    c = rows[C_T]
    assert c.mismatches > 20 and c.rounded == c.mismatches and c.ties == 0 and c.real == 0  # about 1 in 3
    assert all(r.rounded == r.mismatches == 0 for k, r in rows.items() if k != C_T)
    assert not report.ties and len(report.rounded) == len(report.verdicts)
    assert report.rounded_max_ulp is not None and 1 <= report.rounded_max_ulp <= 64
    assert (
        f"integer    rounding     {c.mismatches} elements in {len(report.rounded)} sequences differ by float32 "
        f"rounding of an unquantized output"
    ) in out
    assert "REAL" not in out and "rounding tie" not in out and "all stages meet the contract" in out


def test_unquantized_output_bound_holds_and_is_tight(finn):
    """Soundness, measured on every c_T element of every sequence (equal or not): |y_i - y_f| <= e + ulp(y_i)/2,
    the bound is far below half a grid step, and errors come close to it."""
    tracer = TieTracer(finn["imported"], finn["inputs"])
    _, _, first, errors = tracer._trace(finn["inputs"])
    assert not first  # no quantizer diverges in these sequences: every c_T difference is float rounding
    y_f, y_i = (finn[k][C_T].astype(np.float64) for k in ("reference", "integer"))
    bound = (errors[C_T] + half_ulp(finn["integer"][C_T])) * tie_trace.BOUND_SLACK
    ratio = np.abs(y_i - y_f) / bound
    assert ratio.max() <= 1.0 and ratio.max() > 0.5, ratio.max()
    assert 2 * bound.max() < finn["c_lsb"] / 1000
    assert tracer.unquantized_outputs() == {C_T: finn["c_lsb"]}


def _wrong_output(d, monkeypatch, scale: float, delta) -> int:
    """Make the integer design (so the integer stage and the tracer's integer run alike) wrong on one element: of
    the [N, H, 1] output dequantized by `scale`, element [0, 0] of the sequence whose codes there are those of a
    sequence where nothing differs (no quantizer diverges, every output equal); returns that sequence."""
    ref, got = d["reference"], d["integer"]
    n = len(d["inputs"]["scan_input"])
    equal = np.ones(n, bool)
    for k in ref:
        equal &= (ref[k] == got[k]).reshape(n, -1).all(axis=1)
    name = next(k for k in ref if got[k].ndim == 3 and np.allclose(got[k] / scale, np.round(got[k] / scale)))
    codes = np.round(got[name][:, :, 0] / scale).astype(np.int64)
    unique = [i for i in np.flatnonzero(equal) if np.count_nonzero((codes == codes[i]).all(axis=1)) == 1]
    seq = unique[0]
    target = codes[seq]

    @register_impls
    class Wrong(interp_qrnn.QrnnFunctions):
        @impl(qrnn.DequantizeOp)
        def run_dequantize(self, interpreter, op, args):
            (y,) = super().run_dequantize(interpreter, op, args).values
            v = np.asarray(args[0])
            if v.ndim == 3 and list(op.quant.scales) == [scale]:
                y = y.copy()
                hit = (v[:, :, 0] == target).all(axis=1)
                y[hit, 0, 0] = delta(y[hit, 0, 0])
            return (y,)

    monkeypatch.setattr(interp_qrnn, "QrnnFunctions", Wrong)  # run_function looks it up at call time
    return int(seq)


def test_one_lsb_on_the_cell_state_fails(finn, monkeypatch, capsys):
    """A real error of one LSB of the state's grid on c_T, in one sequence where nothing else differs: REAL,
    named by output and element, while the genuine rounding elsewhere is still its own class."""
    s = finn["c_lsb"]
    seq = _wrong_output(finn, monkeypatch, s, lambda y: y + np.float32(s))
    status = lstmc_main(["verify", str(finn["path"]), "--random", "50", "--seq-len", "10", "--stages", "integer"])
    out = capsys.readouterr().out
    assert status == 1, out
    real = [line for line in out.splitlines() if " REAL " in line]
    assert len(real) == 1, out
    assert f"sequence {seq}: outputs differ but no traced quantizer diverges: {C_T} element [0, 0]" in real[0]
    assert "> float32 error bound" in real[0]
    assert "rounding of an unquantized output (no quantizer diverges there)" in out


@pytest.mark.parametrize("what", ["c_T by 1/1000 LSB", "h by 1 ulp"])
def test_sub_lsb_errors_beyond_the_bound_fail(finn, monkeypatch, what):
    """Far below an LSB but beyond the float32 bound on c_T (a wrong dequantization), or a single ulp on a
    quantized output (h): neither is float rounding of an unquantized output."""
    from lstmc.testing_finn_cell import FinnCellSpec, cell_quantizers

    if what.startswith("c_T"):
        seq = _wrong_output(finn, monkeypatch, finn["c_lsb"], lambda y: y + np.float32(finn["c_lsb"] / 1000))
        output, why = C_T, "> float32 error bound"
    else:
        h = float(np.float32(cell_quantizers(FinnCellSpec(**FINN_SAME7))["h"].scale))
        seq = _wrong_output(finn, monkeypatch, h, lambda y: y + np.spacing(np.abs(y)))
        output, why = "scan_out_hidden_state", "a quantizer's output differs"
    got = run_stage("integer", finn["model"], finn["inputs"])
    assert np.count_nonzero(got[output] != finn["integer"][output]) == 1
    report = _finn_check(finn, got)
    assert not report.ok and [v.sequence for v in report.real] == [seq]
    assert why in report.real[0].reason and f"{output} element [0, 0]" in report.real[0].reason
    assert len(report.rounded) == len(report.verdicts) - 1  # every other sequence is still float rounding


def test_rounding_check_just_inside_and_outside_the_bound():
    """Hand-made: c1 s and c2 s rounded and summed in float32 against (c1 + c2) s rounded once, with the float
    trace's error e = e(c1 s) + e(c2 s) + ulp(sum)/2. Accepted iff |y_i - y_f| <= B = e + ulp(y_i)/2 and 2 B < s."""
    f32 = np.float32
    s = f32(0.021885743)
    c1, c2 = 41, -60
    a, b = f32(c1) * s, f32(c2) * s
    y_f, y_i = a + b, f32(c1 + c2) * s
    assert y_f != y_i
    e = float(sum(abs(Fraction(float(fl)) - c * Fraction(float(s))) for fl, c in ((a, c1), (b, c2)))) + float(
        half_ulp(y_f)
    )
    check = tie_trace._rounding_check
    assert check("c", (0,), y_f, y_i, e, True, float(s)).ok
    dist = abs(Fraction(float(y_i)) - Fraction(float(y_f)))
    h = float(half_ulp(y_i))
    slack = tie_trace.BOUND_SLACK
    inside, outside = float(dist) / slack - h + 1e-18, float(dist) / slack - h - 1e-18  # err making B = dist +- ~
    assert inside >= 0 and check("c", (0,), y_f, y_i, inside, True, float(s)).ok
    assert not check("c", (0,), y_f, y_i, outside, True, float(s)).ok
    b_e = (e + h) * slack
    assert check("c", (0,), y_f, y_i, e, True, 2 * b_e * (1 + 1e-12)).ok
    assert not check("c", (0,), y_f, y_i, e, True, 2 * b_e).ok  # a code one step off could hide in B
    assert not check("c", (0,), y_f, y_i, e, False, float(s)).ok  # a quantized output: no allowance
    assert not check("c", (0,), y_f, y_i, e, True, None).ok
    assert not check("c", (0,), y_f, y_i, float("inf"), True, float(s)).ok
