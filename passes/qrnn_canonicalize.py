"""qrnn-canonicalize: move data movement out of the way of the arithmetic, before folding and legalization.

Frontends write layouts as they find them: an ONNX Conv works on NCHW, lstmc's convolution form is
channels-last, so every imported Conv is wrapped in transposes, and models reshape/transpose between the conv
front-end and the LSTM. The rewrites here (applied to a fixed point) leave one straight-line computation:
- a per-tensor elementwise op (relu, sigmoid, tanh, a per-tensor quantizer) of a reshape/transpose that has
  no other user is applied first and the data movement after it (the op commutes with any permutation);
- two consecutive reshapes/transposes become one transpose, one reshape, or nothing, decided by applying
  both to an index array: a chain that keeps the row-major order of the elements is a reshape;
- relu followed by a quantizer whose smallest value is >= 0 (unsigned, zero point 0) is that quantizer alone:
  negative inputs round to a code <= zp and clamp to the same smallest code (Brevitas' QuantReLU);
- a reshape/transpose of a constant (or of a quantizer of a constant, e.g. torch's `MatMul(x, W^T)` with W
  quantized per output channel) is the moved constant (under the quantizer, its channel axis moved along);
- a unit batch axis of a recurrence goes away: a `qrnn.recurrence` whose carried states, step inputs and step
  outputs all have a leading dimension of 1 (torch's layout with batch 1: state [1, H], x_t [1, I]) becomes
  the same recurrence on [H] and [I], with reshapes at its boundary; the reshapes that restore the unit axis
  at the top of the body sink below the body's ops (elementwise, per-channel quantizers, vector-matrix
  products) until they meet the reshapes in front of `qrnn.yield` and cancel, so the body is the one a
  [T, I] model has. Reshapes that only add leading unit axes are free to duplicate, so these patterns do
  not need a single use. A batch of B > 1 sequences is left as it is.
- column vectors go the same way (FINN-GL's reference cell: state [H, 1], x_t [I, 1]): the recurrence runs on
  [H] and [I] and the trailing unit axis sinks below elementwise ops; products MatMul(W [H, I], x [I, 1])
  stay as written (onnxruntime rounds them differently from x^T W^T), followed by a reshape to [H];
- a quantizer of a scanned input's slice inside the body (the reference cell's input quantizer) becomes the
  same quantizer of the whole sequence in front of the recurrence.
Semantics are unchanged bit for bit: only data movement moves, and the relu fold is exact.
The patterns of a single op (the relu fold, reshape of reshape, the recurrence's unit axes and hoisted input
quantizer) are defined with the qrnn dialect and attached to their ops, so xDSL's generic `canonicalize` applies
them too; the data-movement patterns that span several op kinds are here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import qrnn

_MOVES = (qrnn.ReshapeOp, qrnn.TransposeOp)


def _tensor(value: SSAValue) -> TensorType:
    """The type of a value of the tensor-level IR."""
    return SSAValue.get(value, type=TensorType).type


def _single_use_move(value: SSAValue) -> qrnn.ReshapeOp | qrnn.TransposeOp | None:
    if isinstance(value, OpResult) and isinstance(value.op, _MOVES) and value.has_one_use():
        return value.op
    return None


def _clone_move(move: Operation, source: SSAValue) -> Operation:
    if isinstance(move, qrnn.TransposeOp):
        return qrnn.TransposeOp(source, move.permutation)
    return qrnn.ReshapeOp(source, TensorType(_tensor(source).get_element_type(), _tensor(move.results[0]).get_shape()))


def _apply_move(move: Operation, index: np.ndarray) -> np.ndarray:
    if isinstance(move, qrnn.TransposeOp):
        return np.transpose(index, move.permutation)
    return index.reshape(tuple(_tensor(move.results[0]).get_shape()))


class SinkMoveBelowElementwise(RewritePattern):
    """unary(move(x)) -> move(unary(x)) for per-tensor unary ops."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if isinstance(op, (qrnn.SigmoidOp, qrnn.TanhOp)):
            make = lambda src: type(op)(src, op.kernel_name)  # noqa: E731
        elif isinstance(op, qrnn.ReluOp):
            make = lambda src: qrnn.ReluOp(src)  # noqa: E731
        elif isinstance(op, qrnn.QuantOp) and op.quant.channel_axis is None:
            make = lambda src: qrnn.QuantOp(src, op.quant)  # noqa: E731
        else:
            return
        move = _single_use_move(op.operands[0])
        if move is None:
            return
        inner = make(move.operands[0])
        inner.results[0].name_hint = op.results[0].name_hint
        outer = _clone_move(move, inner.results[0])
        rewriter.replace(op, [inner, outer])
        rewriter.erase(move)


class CollapseMoves(RewritePattern):
    """A chain of single-use reshapes/transposes -> one reshape when it keeps the element order (found by
    running the chain on an index array), two adjacent transposes -> one transpose, identities -> nothing."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, _MOVES):
            return
        source = op.operands[0]
        if source.type == op.results[0].type and (
            isinstance(op, qrnn.ReshapeOp) or op.permutation == tuple(range(len(op.permutation)))
        ):
            rewriter.replace(op, [], [source])
            return
        chain: list[qrnn.ReshapeOp | qrnn.TransposeOp] = [op]
        while (prev := _single_use_move(chain[0].operands[0])) is not None:
            chain.insert(0, prev)
        for k in range(len(chain) - 1):  # longest order-keeping chain first
            origin = chain[k].operands[0]
            shape = tuple(_tensor(origin).get_shape())
            index = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
            for move in chain[k:]:
                index = _apply_move(move, index)
            if np.array_equal(index.reshape(-1), np.arange(index.size)):
                if origin.type == op.results[0].type:
                    rewriter.replace(op, [], [origin])
                else:
                    rewriter.replace(op, _clone_move_to_reshape(origin, op))
                for dead in reversed(chain[k:-1]):
                    rewriter.erase(dead)
                return
        first = chain[-2] if len(chain) > 1 else None
        if isinstance(first, qrnn.TransposeOp) and isinstance(op, qrnn.TransposeOp):
            rewriter.replace(op, qrnn.TransposeOp(first.operands[0], [first.permutation[p] for p in op.permutation]))
            rewriter.erase(first)


def _clone_move_to_reshape(source: SSAValue, like: Operation) -> Operation:
    return qrnn.ReshapeOp(source, TensorType(_tensor(source).get_element_type(), _tensor(like.results[0]).get_shape()))


# ------------------------------------------------------------------------- constants under data movement
def _moved_axis(move: Operation, axis: int) -> int | None:
    """Where axis `axis` of the move's input lies in its result; None when a reshape merges or splits it."""
    src, dst = tuple(_tensor(move.operands[0]).get_shape()), tuple(_tensor(move.results[0]).get_shape())
    axis %= len(src)
    if isinstance(move, qrnn.TransposeOp):
        return move.permutation.index(axis)
    # a reshape that only adds or removes unit axes keeps the other axes in order
    kept_src = [d for d, n in enumerate(src) if n != 1]
    kept_dst = [d for d, n in enumerate(dst) if n != 1]
    if [src[d] for d in kept_src] != [dst[d] for d in kept_dst] or axis not in kept_src:
        return None
    return kept_dst[kept_src.index(axis)]


def _with_axis(q: qrnn.QuantAttr, axis: int | None) -> qrnn.QuantAttr:
    return q.with_axis(axis)


def _moved_quant(move: Operation, q: qrnn.QuantAttr) -> qrnn.QuantAttr | None:
    if q.channel_axis is None:
        return q
    axis = _moved_axis(move, q.channel_axis)
    return None if axis is None else _with_axis(q, axis)


class FoldMoveOfConstant(RewritePattern):
    """move(constant) -> constant, move(qconstant) -> qconstant, and move(quant(constant)) ->
    quant(moved constant) when the quantizer has no other user (a quantizer is elementwise: its per-channel
    axis moves with the data)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, _MOVES) or not isinstance(src := op.operands[0], OpResult):
            return
        producer = src.op
        if isinstance(producer, qrnn.ConstantOp):
            values = _apply_move(op, array_from_dense(producer.value))
            new = qrnn.ConstantOp(dense_from_array(values, producer.value.get_element_type()))
        elif isinstance(producer, qrnn.QConstantOp):
            if (q := _moved_quant(op, producer.quant)) is None:
                return
            codes = _apply_move(op, array_from_dense(producer.codes))
            new = qrnn.QConstantOp(dense_from_array(codes, producer.codes.get_element_type()), q)
        elif (
            isinstance(producer, qrnn.QuantOp)
            and src.has_one_use()
            and isinstance(producer.input, OpResult)
            and isinstance(producer.input.op, qrnn.ConstantOp)
        ):
            if (q := _moved_quant(op, producer.quant)) is None:
                return
            const = producer.input.op
            # one step, so that SinkMoveBelowElementwise never sees quant(move(constant))
            moved = qrnn.ConstantOp(
                dense_from_array(_apply_move(op, array_from_dense(const.value)), const.value.get_element_type())
            )
            moved.result.name_hint = const.result.name_hint
            new = qrnn.QuantOp(moved.result, q)
            new.result.name_hint = op.results[0].name_hint
            rewriter.replace(op, [moved, new])
            rewriter.erase(producer)
            return
        else:
            return
        new.result.name_hint = op.results[0].name_hint or src.name_hint
        rewriter.replace(op, new)


# ------------------------------------------------------------------------------------- unit (batch) axes
def _unit_expand(value: SSAValue) -> tuple[SSAValue, int] | None:
    """(x, k) when `value` is a reshape of x that only puts k >= 1 unit axes in front of x's shape."""
    if not (isinstance(value, OpResult) and isinstance(value.op, qrnn.ReshapeOp)):
        return None
    src, dst = tuple(_tensor(value.op.input).get_shape()), tuple(_tensor(value).get_shape())
    k = len(dst) - len(src)
    if k >= 1 and dst[k:] == src and all(d == 1 for d in dst[:k]):
        return value.op.input, k
    return None


def _as_shape(value: SSAValue, shape: tuple[int, ...]) -> tuple[SSAValue, list[Operation]]:
    """`value` reshaped to `shape`: the reshape's own input when it has that shape, else a new reshape."""
    if (
        isinstance(value, OpResult)
        and isinstance(value.op, qrnn.ReshapeOp)
        and tuple(_tensor(value.op.input).get_shape()) == shape
    ):
        return value.op.input, []
    r = qrnn.ReshapeOp(value, TensorType(_tensor(value).get_element_type(), shape))
    r.result.name_hint = value.name_hint
    return r.result, [r]


class SinkUnitAxes(RewritePattern):
    """op(reshape(x)) -> reshape(op(x)) when the reshape only puts unit axes in front of x: activations,
    quantizers (a per-channel axis is renumbered), broadcasting add/sub/mul (the other operand loses the same
    leading unit axes; broadcasting aligns trailing axes, so nothing else changes), concatenations of such
    reshapes along another axis, and the vector-matrix product [1, K] x [K, N]. No single use needed: such a
    reshape is free, copies of it cost nothing."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        new: list[Operation] = []
        if isinstance(op, (qrnn.SigmoidOp, qrnn.TanhOp, qrnn.ReluOp, qrnn.QuantOp)):
            if (found := _unit_expand(op.operands[0])) is None:
                return
            src, k = found
            if isinstance(op, qrnn.QuantOp):
                axis = op.quant.channel_axis
                if axis is not None and 0 <= axis < k:
                    return
                inner = qrnn.QuantOp(src, op.quant if axis is None or axis < 0 else _with_axis(op.quant, axis - k))
            elif isinstance(op, qrnn.ReluOp):
                inner = qrnn.ReluOp(src)
            else:
                inner = type(op)(src, op.kernel_name)
        elif isinstance(op, (qrnn.AddOp, qrnn.SubOp, qrnn.MulOp)):
            found = next((f for f in map(_unit_expand, op.operands) if f is not None), None)
            shape = tuple(_tensor(op.result).get_shape())
            if found is None or any(d != 1 for d in shape[: found[1]]):
                return
            rank = len(shape) - found[1]
            operands = []
            for v in op.operands:
                v_shape = tuple(_tensor(v).get_shape())
                drop = max(0, len(v_shape) - rank)  # these axes broadcast into the unit axes: all 1
                value, moves = _as_shape(v, v_shape[drop:]) if drop else (v, [])
                new += moves
                operands.append(value)
            inner = type(op)(
                operands[0],
                operands[1],
                TensorType(_tensor(op.result).get_element_type(), shape[-rank:] if rank else ()),
            )
        elif isinstance(op, qrnn.ConcatOp):  # e.g. [x_t; h] of a cell that concatenates before its product
            found = [_unit_expand(v) for v in op.inputs]
            k = found[0][1] if found[0] is not None else 0
            axis = op.axis.value.data
            expanded = [f for f in found if f is not None]
            if not k or axis < k or len(expanded) != len(found) or any(f[1] != k for f in expanded):
                return
            shape = tuple(_tensor(op.result).get_shape())[k:]
            inner = qrnn.ConcatOp(
                [f[0] for f in expanded], axis - k, TensorType(_tensor(op.result).get_element_type(), shape)
            )
        elif isinstance(op, qrnn.MatMulOp):
            found = _unit_expand(op.lhs)
            if found is None or len(_tensor(found[0]).get_shape()) != 1 or len(_tensor(op.rhs).get_shape()) != 2:
                return
            inner = qrnn.MatMulOp(
                found[0],
                op.rhs,
                TensorType(_tensor(op.result).get_element_type(), _tensor(op.result).get_shape()[found[1] :]),
                op.kernel_name,
            )
        else:
            return
        inner.results[0].name_hint = op.results[0].name_hint
        rewriter.replace(op, new + [inner, qrnn.ReshapeOp(inner.results[0], _tensor(op.results[0]))])


# ------------------------------------------------------------------------------ column vectors ([N, 1])
def _column_expand(value: SSAValue) -> SSAValue | None:
    """x when `value` is a reshape of x [..., N] to [..., N, 1]."""
    if not (isinstance(value, OpResult) and isinstance(value.op, qrnn.ReshapeOp)):
        return None
    src, dst = tuple(_tensor(value.op.input).get_shape()), tuple(_tensor(value).get_shape())
    return value.op.input if src and dst == (*src, 1) else None


def _column_product(value: SSAValue) -> bool:
    """`value` is MatMul(W [M, K], x [K, 1]), kept in that form: onnxruntime rounds a matrix-column product
    differently from the row-vector product [K] x [K, M] (checked in tests/test_finn_cell.py), so the float op
    stays as the model wrote it and qrnn-legalize-precision, whose integers do not round, transposes it."""
    return (
        isinstance(value, OpResult)
        and isinstance(value.op, qrnn.MatMulOp)
        and len(_tensor(value.op.lhs).get_shape()) == 2
        and len(_tensor(value.op.rhs).get_shape()) == 2
        and _tensor(value.op.rhs).get_shape()[1] == 1
    )


def _without_column(value: SSAValue) -> tuple[SSAValue, list[Operation]]:
    """`value` [..., N, 1] as [..., N]."""
    if (source := _column_expand(value)) is not None:
        return source, []
    shape = tuple(_tensor(value).get_shape())[:-1]
    r = qrnn.ReshapeOp(value, TensorType(_tensor(value).get_element_type(), shape))
    r.result.name_hint = value.name_hint
    return r.result, [r]


def _column_axis(axis: int | None, rank: int) -> int | None | bool:
    """A quantizer's channel axis on [..., N, 1] renumbered for [..., N]; False when it is the unit axis."""
    if axis is None:
        return None
    axis %= rank
    return False if axis == rank - 1 else axis


class SinkUnitColumn(RewritePattern):
    """op(column) -> reshape(op(vector)) for values [..., N, 1] that are a reshape of [..., N] or a
    matrix-column product: activations, quantizers (a per-channel axis other than the unit one keeps its
    number) and broadcasting add/sub/mul (operands of rank >= 2 lose their last axis, which is 1 because the
    result's is; rank <= 1 operands broadcast as before). Elementwise ops compute the same float32 values in
    any layout, so this is exact; the matrix-column products themselves are left alone."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if len(op.results) != 1:
            return
        shape = tuple(_tensor(op.results[0]).get_shape())
        if len(shape) < 2 or shape[-1] != 1:
            return
        anchors = [v for v in op.operands if _column_expand(v) is not None or _column_product(v)]
        new: list[Operation] = []
        if isinstance(op, (qrnn.SigmoidOp, qrnn.TanhOp, qrnn.ReluOp, qrnn.QuantOp, qrnn.QuantDequantOp)):
            if not anchors:
                return
            src, new = _without_column(op.operands[0])
            if isinstance(op, (qrnn.QuantOp, qrnn.QuantDequantOp)):
                axis = _column_axis(op.quant.channel_axis, len(shape))
                if axis is False:
                    return
                if isinstance(op, qrnn.QuantOp):
                    inner = qrnn.QuantOp(src, op.quant if axis is None else _with_axis(op.quant, axis))
                else:
                    inner = qrnn.QuantDequantOp(
                        src, *(q if axis is None else _with_axis(q, axis) for q in (op.quant, op.dequant))
                    )
            elif isinstance(op, qrnn.ReluOp):
                inner = qrnn.ReluOp(src)
            else:
                inner = type(op)(src, op.kernel_name)
        elif isinstance(op, (qrnn.AddOp, qrnn.SubOp, qrnn.MulOp)):
            if not anchors:
                return
            operands = []
            for v in op.operands:
                if len(_tensor(v).get_shape()) >= 2:
                    v, moves = _without_column(v)
                    new += moves
                operands.append(v)
            inner = type(op)(
                operands[0], operands[1], TensorType(_tensor(op.results[0]).get_element_type(), shape[:-1])
            )
        else:
            return
        inner.results[0].name_hint = op.results[0].name_hint
        rewriter.replace(op, new + [inner, qrnn.ReshapeOp(inner.results[0], _tensor(op.results[0]))])


@dataclass(frozen=True)
class QrnnCanonicalizePass(ModulePass):
    """Sink and cancel reshapes/transposes, fold moved constants, drop unit batch axes of recurrences, fold
    relu into unsigned quantizers."""

    name = "qrnn-canonicalize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier(
                [
                    SinkMoveBelowElementwise(),
                    CollapseMoves(),
                    qrnn.FoldReluIntoQuant(),
                    FoldMoveOfConstant(),
                    qrnn.DropUnitBatch(),
                    SinkUnitAxes(),
                    qrnn.FoldReshapeOfReshape(),
                    qrnn.DropUnitColumn(),
                    SinkUnitColumn(),
                    qrnn.HoistScannedInputQuant(),
                ]
            ),
            apply_recursively=True,
        ).rewrite_module(op)
