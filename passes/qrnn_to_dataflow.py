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

Every unit gets `fifo_depth` on its result: the number of elements it produces per step, which is what the
consumer may need to buffer when it reads in a different order (a conservative, deadlock-free sizing).
Folding starts at PE = SIMD = 1; `qrnn-set-folding` chooses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, TensorType, i64
from xdsl.ir import Block, OpResult, SSAValue
from xdsl.passes import ModulePass

from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import dataflow, qrnn
from lstmc.passes.common import erase_dead_pure_ops


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
    if not (isinstance(w, OpResult) and isinstance(w.op, qrnn.ConstantOp)) or len(mm.lhs.type.get_shape()) not in (1, 2):
        return None
    weights = array_from_dense(w.op.value).astype(np.int64)
    if weights.ndim != 2:
        return None
    size = weights.shape[1] if size is None else size
    return _Term(mm.lhs, weights[:, start : start + size], producers + [mm, w.op], mm.result.name_hint)


def _fuse_block(block: Block) -> None:
    for op in list(block.ops):
        for region in op.regions:
            for inner in region.blocks:
                _fuse_block(inner)
    _fuse_ops(block)


def _fuse_ops(block: Block) -> None:
    groups: dict[tuple, list[tuple[qrnn.ScaledSumOp, list[_Term]]]] = {}
    for op in block.ops:
        if not isinstance(op, qrnn.ScaledSumOp) or len(op.result.type.get_shape()) not in (1, 2):
            continue
        terms = [_matmul_term(t) for t in op.terms]
        if not terms or any(t is None for t in terms):
            continue
        vectors = tuple(t.vector for t in terms)
        if len(set(vectors)) != len(vectors):
            continue  # two terms on the same vector: not a gate accumulator
        groups.setdefault(frozenset(vectors), []).append((op, terms))
    for members in groups.values():
        _build_mvau(block, members)


def _build_mvau(block: Block, members) -> None:
    # parts in order of first use (x_t before h_{t-1} for importer-built cells)
    parts: list[SSAValue] = []
    for _, terms in members:
        for t in terms:
            if t.vector not in parts:
                parts.append(t.vector)
    sizes = [p.type.get_shape()[-1] for p in parts]
    row0 = np.concatenate([[0], np.cumsum(sizes)])
    lead = tuple(members[0][0].result.type.get_shape()[:-1])  # () for a vector, (V,) for V patches
    if any(tuple(p.type.get_shape()[:-1]) != lead for p in parts):
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
        v_lo, v_hi = qrnn.integer_range_of(vec.type.get_element_type())
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
    mvau = dataflow.MVAUOp(parts, dense_from_array(weights, w_type), dense_from_array(mults, i64),
                           dense_from_array(bias, i64), acc_type)
    # a layer outside a recurrence is named after its product (the importer names it after the ONNX node)
    single = members[0][0].result.name_hint or members[0][1][0].name
    mvau.result.name_hint = "gates" if len(members) > 1 else single
    mvau.attributes["fifo_depth"] = IntegerAttr(n_total * int(np.prod(lead)), i64)
    first = min((op for op, _ in members), key=lambda o: block.get_operation_index(o))
    block.insert_op_before(mvau, first)
    if len(members) == 1:
        members[0][0].result.replace_all_uses_with(mvau.result)
    for (op, _), offset in zip(members if len(members) > 1 else [], offsets):
        gate = qrnn.SliceOp(mvau.result, offset, op.result.type.get_shape()[-1])
        gate.result.name_hint = op.result.name_hint
        block.insert_op_before(gate, op)
        op.result.replace_all_uses_with(gate.result)
    erase_dead_pure_ops(block)


def _record_fifo_depths(block: Block) -> None:
    for op in block.walk():
        if isinstance(op, (qrnn.ThresholdOp, qrnn.LutOp, qrnn.RequantOp, qrnn.ScaledSumOp, qrnn.IMulOp)):
            shape = op.results[0].type.get_shape()
            if len(shape) in (1, 2) and isinstance(op.parent_op(), qrnn.RecurrenceOp):  # [N] or B sequences [B, N]
                op.attributes["fifo_depth"] = IntegerAttr(int(np.prod(shape)), i64)


@dataclass(frozen=True)
class QrnnToDataflowPass(ModulePass):
    """Fuse each recurrence's gate products into one dataflow.mvau and size the FIFOs between units."""

    name = "qrnn-to-dataflow"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for fn in list(op.ops):  # top level: convolutions (window patches) and dense layers
            for region in fn.regions:
                for block in region.blocks:
                    _fuse_ops(block)  # recurrence bodies: _fuse_block below
        for rec in list(op.walk()):
            if isinstance(rec, qrnn.RecurrenceOp):
                _fuse_block(rec.body.block)
                _record_fifo_depths(rec.body.block)
