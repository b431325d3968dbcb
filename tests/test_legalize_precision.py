"""qrnn-legalize-precision on the Brevitas fixtures and on generated models.

Properties (each test's docstring says which inputs would break it):
- after legalization no float is left but at the function boundary (func signature, the operand of
  qrnn.quantize, the result of qrnn.dequantize), and every integer type has at most 62 bits;
- the integer design reproduces the Brevitas outputs of every fixture exactly, with act-impl=threshold and lut,
  and the two activation implementations agree on any input;
- every integer type is sound (no reachable value overflows it: checked by an independent interval analysis
  and by recording the interpreter's values on random and extreme inputs) and tight (it is the narrowest type
  of the proven range, at most one bit wider than an independent recomputation of that range);
- error-budget trades shift width for a recorded error bound that never exceeds the budget;
- the pass scales to 512x512 gates (timed, printed, not asserted).
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import load_expected
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IntegerType,
    ModuleOp,
    TensorType,
)
from xdsl.interpreter import impl, register_impls
from xdsl.ir import BlockArgument, OpResult, SSAValue

import lstmc.interpreter.qrnn as interp_qrnn
from lstmc.dense import array_from_dense
from lstmc.dialects import qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.pipeline import apply_pipeline
from lstmc.testing import LstmSpec, Q, build_lstm

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted((ROOT / "tests" / "fixtures").glob("*.onnx"))
MAX_BITS = 62


def legalize(model: onnx.ModelProto, options: str = "") -> ModuleOp:
    spec = "qrnn-legalize-precision" + (f"{{{options}}}" if options else "")
    return apply_pipeline(import_model(model), [spec])


_CACHE: dict[tuple[str, str], ModuleOp] = {}


def legalized_fixture(path: Path, options: str = "") -> ModuleOp:
    key = (str(path), options)
    if key not in _CACHE:
        _CACHE[key] = legalize(onnx.load(str(path)), options)
    return _CACHE[key]


def random_and_extreme_inputs(x_shape: tuple[int, ...], n: int = 24, seed: int = 0) -> np.ndarray:
    """n random sequences at several magnitudes, plus saturating, zero and alternating-sign sequences."""
    rng = np.random.default_rng(seed)
    t, i = x_shape[0], x_shape[-1]  # [T, I], or [T, 1, I] for Brevitas' own export
    parts = [rng.standard_normal((n, t, i)) * s for s in (0.3, 1.0, 4.0)]
    parts.append(np.stack([np.full((t, i), v) for v in (-100.0, 100.0, 0.0)]))
    alt = np.where((np.arange(t)[:, None] + np.arange(i)[None, :]) % 2 == 0, 100.0, -100.0)
    parts.append(np.stack([alt, -alt]))
    signs = rng.choice([-100.0, 100.0], size=(n, t, i))
    parts.append(signs)
    return np.concatenate(parts).astype(np.float32).reshape((-1, *x_shape))


# ------------------------------------------------------------------------------------------ no float left
def float_leftovers(module) -> list[str]:
    """Every place a float type appears that is not the function boundary."""
    bad = []
    for op in module.walk():
        if isinstance(op, func.FuncOp):
            continue
        for i, v in enumerate(op.operands):
            if _is_float(v.type) and not isinstance(op, (qrnn.QuantizeOp, func.ReturnOp)):
                bad.append(f"{op.name} operand {i}: {v.type}")
        for i, r in enumerate(op.results):
            if _is_float(r.type) and not isinstance(op, qrnn.DequantizeOp):
                bad.append(f"{op.name} result {i}: {r.type}")
        for region in op.regions:
            for block in region.blocks:
                for a in block.args:
                    if _is_float(a.type):
                        bad.append(f"{op.name} block argument: {a.type}")
        if isinstance(op, func.ReturnOp):
            for v in op.operands:
                if not (isinstance(v, OpResult) and isinstance(v.op, qrnn.DequantizeOp)) and not isinstance(
                    v, BlockArgument
                ):
                    bad.append(f"func.return of {v.type} not produced by qrnn.dequantize")
    return bad


def _is_float(ty) -> bool:
    et = ty.get_element_type() if isinstance(ty, TensorType) else ty
    return isinstance(et, (Float16Type, Float32Type, Float64Type, BFloat16Type))


@pytest.mark.parametrize("impl_name", ["threshold", "lut"])
@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_integer_only_and_exact(path, impl_name):
    """No float but at the boundary; the integer design equals Brevitas bit for bit on the fixture inputs.
    Breaks if a float op survives (e.g. an unsupported producer kept as is) or any alignment is inexact."""
    # requantizers as they were: requant-impl=auto may make some of them thresholds or tables (test_requant_impl)
    module = legalized_fixture(path, f"act-impl={impl_name} requant-impl=aligned")
    assert float_leftovers(module) == []
    for op in module.walk():
        for r in op.results:
            et = r.type.get_element_type() if isinstance(r.type, TensorType) else None
            if isinstance(et, IntegerType):
                assert et.width.data <= MAX_BITS, f"{op.name}: {r.type}"
    assert not any(
        isinstance(
            op,
            (
                qrnn.QuantOp,
                qrnn.MatMulOp,
                qrnn.SigmoidOp,
                qrnn.TanhOp,
                qrnn.AddOp,
                qrnn.MulOp,
                qrnn.SubOp,
                qrnn.QConstantOp,
            ),
        )
        for op in module.walk()
    )
    kind = qrnn.ThresholdOp if impl_name == "threshold" else qrnn.LutOp
    other = qrnn.LutOp if impl_name == "threshold" else qrnn.ThresholdOp
    assert any(isinstance(op, kind) for op in module.walk())
    assert not any(isinstance(op, other) for op in module.walk())
    data = load_expected(path)
    got = run_function(module, {"X": data["X"]})
    for name in data:
        if name != "X":
            assert np.array_equal(got[name], data[name]), f"{path.stem} ({impl_name}): {name} differs from Brevitas"


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_threshold_equals_lut(path):
    """Thresholds (requantizer fused in) and tables compute the same function on random and saturating inputs.
    Breaks on a wrong fused threshold at a rounding tie of the requantizer or at its clamp."""
    x_shape = tuple(load_expected(path)["X"].shape[1:])
    x = random_and_extreme_inputs(x_shape, seed=1)
    a = run_function(legalized_fixture(path, "act-impl=threshold"), {"X": x})
    b = run_function(legalized_fixture(path, "act-impl=lut"), {"X": x})
    for name in a:
        assert np.array_equal(a[name], b[name]), name


# ------------------------------------------------------------------------------------------ interval analysis
def _range_of_type(ty) -> tuple[int, int]:
    return qrnn.integer_range_of(ty.get_element_type())


def _type_bounds(ty) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _range_of_type(ty)
    return np.asarray(lo), np.asarray(hi)


def _yielded(rec: qrnn.RecurrenceOp, index: int) -> SSAValue:
    """Operand `index` of the recurrence body's terminator (the next state or a per-step output)."""
    last = rec.body.block.last_op
    assert last is not None
    return last.operands[index]


class Intervals:
    """An independent interval analysis of integer qrnn: value -> (lo, hi) of every element."""

    def __init__(self):
        self.memo: dict = {}

    def of(self, v) -> tuple[np.ndarray, np.ndarray]:
        """Per last-axis channel bounds (arrays broadcastable to the last axis)."""
        if v in self.memo:
            return self.memo[v]
        self.memo[v] = _type_bounds(v.type)  # guard against cycles
        r = self._compute(v)
        self.memo[v] = r
        return r

    def _compute(self, v) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(v, BlockArgument):
            rec = v.block.parent_op()
            if isinstance(rec, qrnn.RecurrenceOp):
                n_state = len(rec.init)
                if v.index < n_state:  # initial state or a yielded next state
                    y = _yielded(rec, v.index)
                    lo0, hi0 = self.of(rec.init[v.index])
                    self.memo[v] = (lo0, hi0)
                    lo1, hi1 = self.of(y)
                    return np.minimum(lo0, lo1), np.maximum(hi0, hi1)
                lo, hi = self.of(rec.inputs[v.index - n_state])
                return lo, hi
            return _type_bounds(v.type)
        op = v.op
        if isinstance(op, qrnn.QuantizeOp):
            q = op.quant
            return np.asarray(q.qmin - max(q.zero_points)), np.asarray(q.qmax - min(q.zero_points))
        if isinstance(op, qrnn.ConstantOp):
            a = array_from_dense(op.value).astype(np.int64)
            a2 = a.reshape(-1, a.shape[-1]) if a.ndim else a.reshape(1, 1)
            return a2.min(axis=0), a2.max(axis=0)
        if isinstance(op, qrnn.RequantOp):
            return np.asarray(op.lo.value.data), np.asarray(op.hi.value.data)
        if isinstance(op, qrnn.ThresholdOp):
            k = op.thresholds.get_shape()[-1]
            return np.asarray(op.base.value.data), np.asarray(op.base.value.data + k)
        if isinstance(op, qrnn.LutOp):
            t = array_from_dense(op.table)
            return np.asarray(t.min()), np.asarray(t.max())
        if isinstance(op, qrnn.IMatMulOp):
            a_lo, a_hi = (int(np.min(b)) if i == 0 else int(np.max(b)) for i, b in enumerate(self.of(op.lhs)))
            w_op = op.rhs.owner
            assert isinstance(w_op, qrnn.ConstantOp)
            w = array_from_dense(w_op.value).astype(np.int64)
            pos, neg = np.clip(w, 0, None).sum(axis=0), np.clip(w, None, 0).sum(axis=0)
            return pos * a_lo + neg * a_hi, pos * a_hi + neg * a_lo
        if isinstance(op, qrnn.IMulOp):
            (al, ah), (bl, bh) = self.of(op.lhs), self.of(op.rhs)
            corners = [al * bl, al * bh, ah * bl, ah * bh]
            return np.minimum.reduce(corners), np.maximum.reduce(corners)
        if isinstance(op, qrnn.ScaledSumOp):
            m = array_from_dense(op.multipliers).astype(np.int64)
            lo = hi = array_from_dense(op.bias).astype(np.int64)
            for t, term in enumerate(op.terms):
                tl, th = self.of(term)
                lo = lo + np.minimum(m[t] * tl, m[t] * th)
                hi = hi + np.maximum(m[t] * tl, m[t] * th)
            return lo, hi
        if isinstance(op, qrnn.SliceOp):
            lo, hi = self.of(op.input)
            cut = lambda b: b if b.ndim == 0 else b[op.start : op.start + op.size]  # noqa: E731
            return cut(lo), cut(hi)
        if isinstance(op, (qrnn.ReshapeOp, qrnn.ConcatOp)):
            bounds = [self.of(i) for i in op.operands]
            return (
                np.asarray(min(int(np.min(b[0])) for b in bounds)),
                np.asarray(max(int(np.max(b[1])) for b in bounds)),
            )
        if isinstance(op, qrnn.RecurrenceOp):
            y = _yielded(op, v.index)
            if v.index < len(op.init):
                lo0, hi0 = self.of(op.init[v.index])
                lo1, hi1 = self.of(y)
                return np.minimum(lo0, lo1), np.maximum(hi0, hi1)
            lo, hi = self.of(y)
            return np.asarray(np.min(lo)), np.asarray(np.max(hi))
        return _type_bounds(v.type)


ARITH = (qrnn.IMatMulOp, qrnn.IMulOp, qrnn.ScaledSumOp)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_types_are_the_proven_ranges(path):
    """Each imatmul/imul/scaled_sum result type holds the independently computed range (sound) and is the
    narrowest type of it, give or take one bit (tight). Breaks on a pass that forgets the bias, a multiplier or
    a negative weight in its bound (too narrow), or that widens types "to be safe" (too wide)."""
    module = legalized_fixture(path)
    iv = Intervals()
    checked = 0
    for op in module.walk():
        if not isinstance(op, ARITH):
            continue
        lo, hi = (int(np.min(iv.of(op.results[0])[0])), int(np.max(iv.of(op.results[0])[1])))
        result_type = op.results[0].type
        assert isinstance(result_type, TensorType)
        ty = result_type.get_element_type()
        t_lo, t_hi = qrnn.integer_range_of(ty)
        assert t_lo <= lo and hi <= t_hi, f"{op.name}: range [{lo}, {hi}] overflows {ty}"
        tight = qrnn.integer_type_for_range(lo, hi)
        assert ty.width.data <= tight.width.data + 1, f"{op.name}: {ty} is wider than {tight} for [{lo}, {hi}]"
        checked += 1
    assert checked >= 4


@contextmanager
def recording_arith(values: dict):
    """Interpreter whose imatmul/imul/scaled_sum/requant record every result (op -> list of arrays)."""

    @register_impls
    class Recording(interp_qrnn.QrnnFunctions):
        def _rec(self, op, out):
            values[op].append(np.asarray(out.values[0]))
            return out.values

        @impl(qrnn.IMatMulOp)
        def run_imatmul(self, interpreter, op, args):
            return self._rec(op, super().run_imatmul(interpreter, op, args))

        @impl(qrnn.IMulOp)
        def run_imul(self, interpreter, op, args):
            return self._rec(op, super().run_imul(interpreter, op, args))

        @impl(qrnn.ScaledSumOp)
        def run_scaled_sum(self, interpreter, op, args):
            return self._rec(op, super().run_scaled_sum(interpreter, op, args))

        @impl(qrnn.RequantOp)
        def run_requant(self, interpreter, op, args):
            return self._rec(op, super().run_requant(interpreter, op, args))

    saved = interp_qrnn.QrnnFunctions
    interp_qrnn.QrnnFunctions = Recording  # run_function looks the class up at call time
    try:
        yield values
    finally:
        interp_qrnn.QrnnFunctions = saved


def equal_designs_in_range(module, other, x) -> dict:
    """Runs two integer designs of one model on `x`: their outputs are equal and every value `module`'s
    imatmul/imul/scaled_sum/requant computes fits its result type. Returns those values (op -> arrays)."""
    values: dict = defaultdict(list)
    with recording_arith(values):
        a = run_function(module, {"X": x})
    b = run_function(other, {"X": x})
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    for op, arrays in values.items():
        result_type = op.results[0].type
        assert isinstance(result_type, TensorType)
        t_lo, t_hi = qrnn.integer_range_of(result_type.get_element_type())
        lo, hi = min(int(v.min()) for v in arrays), max(int(v.max()) for v in arrays)
        assert t_lo <= lo and hi <= t_hi, f"{op.name}: [{lo}, {hi}] overflows {result_type}"
    return values


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_no_overflow_on_random_and_extreme_inputs(path):
    """Every value the interpreter computes fits its integer type, on random, saturating (+-100), zero and
    alternating inputs. Breaks on an unsound bound (the interpreter works in int64 and would not wrap)."""
    module = legalized_fixture(path)
    x_shape = tuple(load_expected(path)["X"].shape[1:])
    values: dict = defaultdict(list)
    with recording_arith(values):
        run_function(module, {"X": random_and_extreme_inputs(x_shape, seed=2)})
    assert values
    headroom = []
    for op, arrays in values.items():
        result_type = op.results[0].type
        assert isinstance(result_type, TensorType)
        ty = result_type.get_element_type()
        t_lo, t_hi = qrnn.integer_range_of(ty)
        lo, hi = min(int(a.min()) for a in arrays), max(int(a.max()) for a in arrays)
        assert t_lo <= lo and hi <= t_hi, f"{op.name}: observed [{lo}, {hi}] overflows {ty}"
        if isinstance(op, ARITH):
            headroom.append(ty.width.data - qrnn.integer_type_for_range(lo, hi).width.data)
    # The types are worst-case bounds over the weights: some slack is expected, a lot is suspicious.
    assert min(headroom) <= 1


# ------------------------------------------------------------------------------------------ error budget
FLOAT_SPEC = LstmSpec(
    input_size=3,
    hidden_size=4,
    seq_len=6,
    weight=Q(4, True, True, 0.1937),
    io=Q(8, True, False, 0.02291),
    acc=Q(8, True, False, 0.04713),
    sigmoid=Q(6, False, False, 0.015873),
    tanh=Q(6, True, False, 0.031746),
    cell=Q(8, True, False, 0.02713),
)


def requants(module) -> list[qrnn.RequantOp]:
    return [op for op in module.walk() if isinstance(op, qrnn.RequantOp) and "error_bound" in op.attributes]


def _error_bound(op: qrnn.RequantOp) -> float:
    bound = op.attributes["error_bound"]
    assert isinstance(bound, FloatAttr)
    return bound.value.data


@pytest.mark.parametrize("act_impl", ["lut"])
def test_error_budget_trades_shift_for_bound(act_impl):
    """With float scales, error-budget=2^-4 gives smaller shifts than 2^-20 on the same requantizers, and every
    recorded error_bound stays within its budget. Breaks if the budget is ignored or the bound not recorded.
    (act-impl=lut keeps every requantizer, so both designs have the same list of them; requant-impl=aligned keeps
    the rounded multipliers the budget is about.)"""
    model = build_lstm(FLOAT_SPEC)
    loose = requants(legalize(model, f"act-impl={act_impl} requant-impl=aligned error-budget={2.0**-4}"))
    tight = requants(legalize(model, f"act-impl={act_impl} requant-impl=aligned error-budget={2.0**-20}"))
    assert len(loose) == len(tight) > 0
    smaller = 0
    for a, b in zip(loose, tight):
        assert a.results[0].name_hint == b.results[0].name_hint
        bound_a, bound_b = a.attributes["error_bound"], b.attributes["error_bound"]
        assert isinstance(bound_a, FloatAttr) and isinstance(bound_b, FloatAttr)
        assert 0 <= bound_a.value.data <= 2.0**-4
        assert 0 <= bound_b.value.data <= 2.0**-20
        sa, sb = a.shift.value.data, b.shift.value.data
        assert sa <= sb, f"{a.results[0].name_hint}: shift {sa} with the larger budget > {sb}"
        smaller += sa < sb
        if bound_b.value.data > 0:  # a non-dyadic ratio: the small budget needs ~16 more fraction bits
            assert sb - sa >= 10
    assert smaller > 0
    # The smaller shifts give narrower accumulators.
    widths = lambda ops: sum(op.operands[0].type.get_element_type().width.data for op in ops)  # noqa: E731
    assert widths(loose) < widths(tight)


def test_power_of_two_scales_need_only_shifts():
    """All scales powers of two: every requantizer is exact (error_bound 0) and every scaled_sum multiplier is a
    power of two (a shift in hardware). Breaks if dyadic ratios are rounded or over-aligned."""
    for spec in (
        LstmSpec(input_size=2, hidden_size=3, seq_len=3),
        LstmSpec(
            input_size=3,
            hidden_size=2,
            seq_len=2,
            num_layers=2,
            bidirectional=True,
            io=Q(6, False, False, 2.0**-4, 32),
            quant_format="quant",
        ),
    ):
        module = legalize(build_lstm(spec))
        assert requants(module)
        assert all(_error_bound(op) == 0.0 for op in requants(module))
        for op in module.walk():
            if isinstance(op, qrnn.ScaledSumOp):
                m = array_from_dense(op.multipliers).astype(np.int64)
                assert np.all((m > 0) & ((m & (m - 1)) == 0)), f"multipliers {m.tolist()}"


# ------------------------------------------------------------------------------------------ stage & scale
def test_integer_stage_equals_direct_legalization():
    """The `integer` stage (fold, then legalize) computes what legalizing the imported IR computes, and
    both equal Brevitas on a fixture. Breaks if folding changes numerics."""
    pytest.importorskip("lstmc.passes.qrnn_fold_constants")
    from lstmc.stages import run_stage

    for name in ("l1_w8_float", "l2_bidir_w3_po2_quant", "l1_t64_w2_perchannel_float"):
        path = ROOT / "tests" / "fixtures" / f"{name}.onnx"
        data = load_expected(path)
        x = random_and_extreme_inputs(tuple(data["X"].shape[1:]), n=8, seed=3)
        staged = run_stage("integer", onnx.load(str(path)), {"X": x})
        direct = run_function(legalized_fixture(path), {"X": x})
        for k in direct:
            assert np.array_equal(staged[k], direct[k]), f"{name}: {k}"
        staged_fx = run_stage("integer", onnx.load(str(path)), {"X": data["X"]})
        for k in data:
            if k != "X":
                assert np.array_equal(staged_fx[k], data[k]), f"{name}: {k}"


@pytest.mark.parametrize(
    "spec",
    [
        LstmSpec(input_size=512, hidden_size=512, seq_len=2),
        # float scales, per-channel weights and 16-bit accumulators: 2^16-code activation tables
        LstmSpec(
            input_size=512,
            hidden_size=512,
            seq_len=2,
            per_channel_weights=True,
            io=Q(8, True, False, 0.0291),
            acc=Q(16, True, False, 0.000517),
        ),
    ],
    ids=["po2", "float-acc16"],
)
def test_scale_512(spec, capsys):
    """A 512x512 LSTM legalizes (import excluded) in seconds; printed for the report, not asserted."""
    module = import_model(build_lstm(spec))
    t0 = time.perf_counter()
    apply_pipeline(module, ["qrnn-legalize-precision"])
    elapsed = time.perf_counter() - t0
    assert float_leftovers(module) == []
    with capsys.disabled():
        print(f"\nqrnn-legalize-precision on I=H=512, T=2 ({spec.acc.bits}-bit acc): {elapsed:.2f} s")


# ------------------------------------------------------------------------------------------ rounding modes
ROUNDING_IR = """
func.func @f(%x: tensor<2xf32>, %y: tensor<2xf32>) -> (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) attributes {{lstmc.input_names = ["x", "y"], lstmc.output_names = ["s", "t", "a"]}} {{
  %xq = qrnn.quant %x by <s6, scale = 0.125, zp = 0> : tensor<2xf32>
  %yq = qrnn.quant %y by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
  %a = qrnn.add %xq, %yq : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %aq = qrnn.quant %a by <s4, scale = {acc}, zp = {zp}, rounding = {mode}> : tensor<2xf32>
  %s = qrnn.sigmoid %aq : tensor<2xf32>
  %sq = qrnn.quant %s by <u3, scale = 0.125, zp = 0> : tensor<2xf32>
  %t = qrnn.tanh %aq : tensor<2xf32>
  %tq = qrnn.quant %t by <s3, scale = 0.25, zp = 0> : tensor<2xf32>
  func.return %sq, %tq, %aq : tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
}}
"""


def _every_code_pair():
    cx, cy = np.meshgrid(np.arange(-32, 32), np.arange(-8, 8))
    x = np.stack([cx.ravel(), cx.ravel()[::-1]], 1).astype(np.float32) * np.float32(0.125)
    y = np.stack([cy.ravel(), cy.ravel()], 1).astype(np.float32) * np.float32(0.5)
    return x, y


@pytest.mark.parametrize("mode", qrnn.ROUNDING_MODES)
@pytest.mark.parametrize("acc,zp", [("0.5", 0), ("1.0", 3), ("0.25", -2), ("0.75", 0), ("0.75", 3)])
def test_rounding_modes_exhaustive(mode, acc, zp):
    """Every (x, y) code pair through a requantizer with each rounding mode (and a zero point), then sigmoid and
    tanh, fused into thresholds or tabulated, against the float qrnn semantics. With dyadic scale ratios all
    three agree everywhere. With acc scale 3/4 the ratio 1/6 is not dyadic: the multiplier round(2^F / 6) is off
    by < 2^-20 LSB, so where (x + y) / s sits exactly on a rounding boundary (k + 1/2 for the half modes, an
    integer k for floor/ceil/up/down) the integer design rounds by the sign of that error, not by the mode, and
    may differ by one accumulator code; nowhere else. (For the directed modes exact integers are common: see
    the report.) Breaks on a wrong tie or clamp in the fused thresholds (`_acc_thresholds`) for a rounding mode,
    or a zero point entering the arithmetic."""
    from xdsl.parser import Parser

    from lstmc.pipeline import make_context

    text = ROUNDING_IR.format(mode=mode, acc=acc, zp=zp)
    x, y = _every_code_pair()
    ref = run_function(Parser(make_context(), text).parse_module(), {"x": x, "y": y})
    outs = {}
    for act_impl in ("threshold", "lut"):
        module = apply_pipeline(
            Parser(make_context(), text).parse_module(), [f"qrnn-legalize-precision{{act-impl={act_impl}}}"]
        )
        outs[act_impl] = run_function(module, {"x": x, "y": y})
    for k in ref:
        assert np.array_equal(outs["threshold"][k], outs["lut"][k]), k
    exact = (x.astype(np.float64) + y.astype(np.float64)) / float(acc)
    boundary = 0.5 if mode.startswith("half") else 0.0
    is_tie = np.abs(exact - np.floor(exact)) == boundary
    dyadic = acc != "0.75"
    for k in ref:
        differs = ref[k] != outs["lut"][k]
        if dyadic:
            assert not differs.any(), f"{k}: {int(differs.sum())} mismatches"
        else:
            assert not (differs & ~is_tie).any(), f"{k}: mismatches away from a tie"
    if not dyadic:
        code_diff = np.abs(np.rint(ref["a"] / np.float32(acc)) - np.rint(outs["lut"]["a"] / np.float32(acc)))
        assert code_diff.max() <= 1
