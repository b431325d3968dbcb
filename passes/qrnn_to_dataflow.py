"""qrnn-to-dataflow: integer recurrences -> streaming hardware units.

At the top level, every accumulator that sums integer products of constant weights — a convolution's
sliding-window patches [V, K] times its weight matrix, a dense layer on a vector — becomes a `dataflow.mvau`
(over V vectors for patches). In every `qrnn.recurrence` body, the gate accumulators — `qrnn.scaled_sum`s whose terms are (slices of)
integer matrix products of the step's input vectors by constant weights — become ONE `dataflow.mvau` over
the concatenated inputs ([x_t; h_{t-1}]): weights of all gates stacked into one [I + H, G * H] matrix, the
per-part fixed-point multipliers and the biases carried over exactly, so the unit computes bit for bit what
the scaled_sums computed. Each gate reads its rows through `qrnn.slice`. Activation units and the
elementwise cell update stay as they are; the carried h and c stay on chip (the recurrence's state).

A recurrence over B independent sequences (torch's layout: state [B, H], x_t [B, I]) gets the same units on
[B, ...] values: one MVAU whose B input vectors are the B sequences, which qrnn-to-hlscpp interleaves.

The streamed step (`lstmc.schedule.step_schedule`, the one schedule analysis that qrnn-to-hlscpp builds and
lstmc.qor counts) sizes the FIFOs between the units of a recurrence's step: this pass records each depth as
`fifo_depth` on the producing op (a slice for the MVAU's gates). Other bodies keep the per-unit sequential
schedule, whose `fifo_depth` is the number of elements a unit produces per step (what a consumer reading in
another order may need to buffer). Folding starts at PE = SIMD = 1; `qrnn-set-folding` chooses it (the FIFO
depths do not depend on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, TensorType, i64
from xdsl.ir import Block, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern
from xdsl.rewriter import InsertPoint
from xdsl.traits import Pure

from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import dataflow, qrnn
from lstmc.schedule import shape_of, step_schedule


@dataclass
class _Term:
    vector: SSAValue  # the matmul's input vector
    weights: np.ndarray  # [K, n] columns used by this term
    producers: list  # ops that become dead once fused
    name: str | None = None  # name hint of the product (what an unfused layer is called)


def _matmul_term(value: SSAValue) -> _Term | None:
    """(slice of) imatmul(vector, constant) -> its vector and the weight columns it reads."""
    start, size, producers = 0, None, []
    if isinstance(value, OpResult) and isinstance(value.op, qrnn.SliceOp):
        start, size = value.op.start, value.op.size
        producers.append(value.op)
        value = value.op.input
    if not (isinstance(value, OpResult) and isinstance(value.op, qrnn.IMatMulOp)):
        return None
    mm = value.op
    w = mm.rhs
    if not (isinstance(w, OpResult) and isinstance(w.op, qrnn.ConstantOp)) or len(shape_of(mm.lhs)) not in (1, 2):
        return None
    weights = array_from_dense(w.op.value).astype(np.int64)
    if weights.ndim != 2:
        return None
    size = weights.shape[1] if size is None else size
    return _Term(mm.lhs, weights[:, start : start + size], producers + [mm, w.op], mm.result.name_hint)


def _gate_terms(op: qrnn.ScaledSumOp) -> tuple[frozenset[SSAValue], list[_Term]] | None:
    """The input vectors and matmul terms of a gate accumulator (a scaled_sum of (slices of) matrix products
    of distinct vectors by constants), else None."""
    if len(op.result.type.get_shape()) not in (1, 2):
        return None
    terms = [t for t in map(_matmul_term, op.terms) if t is not None]
    if not terms or len(terms) != len(op.terms):
        return None
    vectors = tuple(t.vector for t in terms)
    if len(set(vectors)) != len(vectors):
        return None  # two terms on the same vector: not a gate accumulator
    return frozenset(vectors), terms


class FuseGateProducts(RewritePattern):
    """The gate accumulators of one block that sum products of the same input vectors (the matched one and
    its siblings, in block order) become one `dataflow.mvau` over the concatenated vectors and a slice per gate."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.ScaledSumOp, rewriter: PatternRewriter) -> None:
        block = op.parent_block()
        mine = _gate_terms(op)
        if block is None or mine is None:
            return
        members = []
        for other in block.ops:
            if (
                isinstance(other, qrnn.ScaledSumOp)
                and (found := _gate_terms(other)) is not None
                and found[0] == mine[0]
            ):
                members.append((other, found[1]))
        _build_mvau(block, members, rewriter)


class WrapBareProducts(RewritePattern):
    """A (slice of a) constant matrix product read by something other than a gate accumulator, e.g. a threshold
    that absorbed its scale (qrnn-legalize-precision's threshold-input=accumulator, as for GRU's W_hn h), gets
    an identity scaled_sum (multiplier 1, bias 0) in front of that reader, so FuseGateProducts moves it into an
    MVAU like every other gate."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.IMatMulOp, rewriter: PatternRewriter) -> None:
        values = [op.result] + [u.operation.result for u in op.result.uses if isinstance(u.operation, qrnn.SliceOp)]
        for value in values:
            bare = [u for u in value.uses if not isinstance(u.operation, (qrnn.ScaledSumOp, qrnn.SliceOp))]
            if not bare or _matmul_term(value) is None:
                continue
            n = value.type.get_shape()[-1]
            ident = qrnn.ScaledSumOp(
                [value],
                dense_from_array(np.ones((1, n), np.int64), i64),
                dense_from_array(np.zeros(n, np.int64), i64),
                value.type,
            )
            rewriter.insert(ident, InsertPoint.after(value.owner))
            for use in bare:
                use.operation.operands[use.index] = ident.result


def _erase_dead_pure_ops(block: Block, rewriter: PatternRewriter) -> None:
    """Erase side-effect-free ops whose results are unused, innermost regions first, until none is left."""
    changed = True
    while changed:
        changed = False
        for op in reversed(list(block.ops)):
            for region in op.regions:
                for inner in region.blocks:
                    _erase_dead_pure_ops(inner, rewriter)
            if op.results and all(not r.uses for r in op.results) and op.has_trait(Pure):
                rewriter.erase(op)
                changed = True


def _build_mvau(block: Block, members, rewriter: PatternRewriter) -> None:
    # parts in order of first use (x_t before h_{t-1} for importer-built cells)
    parts: list[SSAValue] = []
    for _, terms in members:
        for t in terms:
            if t.vector not in parts:
                parts.append(t.vector)
    sizes = [shape_of(p)[-1] for p in parts]
    row0 = np.concatenate([[0], np.cumsum(sizes)])
    lead = tuple(members[0][0].result.type.get_shape()[:-1])  # () for a vector, (V,) for V patches
    if any(shape_of(p)[:-1] != lead for p in parts):
        return
    n_total = sum(op.result.type.get_shape()[-1] for op, _ in members)
    weights = np.zeros((row0[-1], n_total), np.int64)
    mults = np.zeros((len(parts), n_total), np.int64)
    bias = np.zeros(n_total, np.int64)
    offsets = []
    col = 0
    for op, terms in members:
        n = op.result.type.get_shape()[-1]
        m = array_from_dense(op.multipliers).astype(np.int64)
        for t_index, t in enumerate(terms):
            p = parts.index(t.vector)
            weights[row0[p] : row0[p + 1], col : col + n] = t.weights
            mults[p, col : col + n] = m[t_index]
        bias[col : col + n] = array_from_dense(op.bias).astype(np.int64)
        offsets.append(col)
        col += n
    # interval analysis of the fused accumulator (per column, over the inputs' type ranges)
    lo = bias.copy()
    hi = bias.copy()
    for p, vec in enumerate(parts):
        v_lo, v_hi = qrnn.integer_range_of(SSAValue.get(vec, type=TensorType).type.get_element_type())
        w = weights[row0[p] : row0[p + 1]]
        pos, neg = np.clip(w, 0, None).sum(axis=0), np.clip(w, None, 0).sum(axis=0)
        p_hi, p_lo = pos * v_hi + neg * v_lo, pos * v_lo + neg * v_hi
        m = mults[p]
        lo += np.minimum(m * p_lo, m * p_hi)
        hi += np.maximum(m * p_lo, m * p_hi)
    acc_type = TensorType(qrnn.integer_type_for_range(int(lo.min()), int(hi.max())), (*lead, n_total))
    if len(members) == 1:  # the unit replaces the sum itself: keep the type its users were built for
        acc_type = members[0][0].result.type
    w_type = qrnn.integer_type_for_range(int(weights.min(initial=0)), int(weights.max(initial=0)))
    mvau = dataflow.MVAUOp(
        parts, dense_from_array(weights, w_type), dense_from_array(mults, i64), dense_from_array(bias, i64), acc_type
    )
    # a layer outside a recurrence is named after its product (the importer names it after the ONNX node)
    single = members[0][0].result.name_hint or members[0][1][0].name
    mvau.result.name_hint = "gates" if len(members) > 1 else single
    mvau.attributes["fifo_depth"] = IntegerAttr(n_total * int(np.prod(lead)), i64)
    first = min((op for op, _ in members), key=lambda o: block.get_operation_index(o))
    rewriter.insert(mvau, InsertPoint.before(first))
    if len(members) == 1:
        rewriter.replace_all_uses_with(members[0][0].result, mvau.result)
    for (op, _), offset in zip(members if len(members) > 1 else [], offsets):
        gate = qrnn.SliceOp(mvau.result, offset, op.result.type.get_shape()[-1])
        gate.result.name_hint = op.result.name_hint
        rewriter.insert(gate, InsertPoint.before(op))
        rewriter.replace_all_uses_with(op.result, gate.result)
    _erase_dead_pure_ops(block, rewriter)


def _record_fifo_depths(rec: qrnn.RecurrenceOp) -> None:
    schedule = step_schedule(rec)
    if schedule is not None:
        schedule.mvau.attributes.pop("fifo_depth", None)  # its gates leave through the slices' FIFOs
        for value, depth in schedule.fifo.items():
            assert isinstance(value, OpResult), "a FIFO carries a unit's or a gate slice's result"
            value.op.attributes["fifo_depth"] = IntegerAttr(depth, i64)
        return
    for op in rec.body.block.ops:
        if isinstance(op, (qrnn.ThresholdOp, qrnn.LutOp, qrnn.RequantOp, qrnn.ScaledSumOp, qrnn.IMulOp)):
            shape = shape_of(op.results[0])
            if len(shape) in (1, 2):  # [N] or B sequences [B, N]
                op.attributes["fifo_depth"] = IntegerAttr(int(np.prod(shape)), i64)


@dataclass(frozen=True)
class QrnnToDataflowPass(ModulePass):
    """Fuse each recurrence's gate products into one dataflow.mvau and size the FIFOs between units."""

    name = "qrnn-to-dataflow"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # top level (convolutions' window patches, dense layers) and recurrence bodies alike
        PatternRewriteWalker(WrapBareProducts(), apply_recursively=False).rewrite_module(op)
        PatternRewriteWalker(FuseGateProducts()).rewrite_module(op)
        for rec in list(op.walk()):
            if isinstance(rec, qrnn.RecurrenceOp):
                _record_fifo_depths(rec)
