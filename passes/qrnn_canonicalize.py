"""qrnn-canonicalize: move data movement out of the way of the arithmetic, before folding and legalization.

Frontends write layouts as they find them: an ONNX Conv works on NCHW, lstmc's convolution form is
channels-last, so every imported Conv is wrapped in transposes, and models reshape/transpose between the conv
front-end and the LSTM. The rewrites here (applied to a fixed point) leave one straight-line computation:
- a per-tensor elementwise op (relu, sigmoid, tanh, a per-tensor quantizer) of a reshape/transpose that has
  no other user is applied first and the data movement after it (the op commutes with any permutation);
- two consecutive reshapes/transposes become one transpose, one reshape, or nothing, decided by applying
  both to an index array: a chain that keeps the row-major order of the elements is a reshape;
- relu followed by a quantizer whose smallest value is >= 0 (unsigned, zero point 0) is that quantizer alone:
  negative inputs round to a code <= zp and clamp to the same smallest code (Brevitas' QuantReLU).
Semantics are unchanged bit for bit: only data movement moves, and the relu fold is exact.
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
    op_type_rewrite_pattern,
)

from lstmc.dialects import qrnn

_MOVES = (qrnn.ReshapeOp, qrnn.TransposeOp)


def _single_use_move(value: SSAValue) -> Operation | None:
    if isinstance(value, OpResult) and isinstance(value.op, _MOVES) and value.has_one_use():
        return value.op
    return None


def _clone_move(move: Operation, source: SSAValue) -> Operation:
    if isinstance(move, qrnn.TransposeOp):
        return qrnn.TransposeOp(source, move.permutation)
    return qrnn.ReshapeOp(source, TensorType(source.type.get_element_type(), move.result.type.get_shape()))


def _apply_move(move: Operation, index: np.ndarray) -> np.ndarray:
    if isinstance(move, qrnn.TransposeOp):
        return np.transpose(index, move.permutation)
    return index.reshape(tuple(move.result.type.get_shape()))


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
        if source.type == op.results[0].type and (isinstance(op, qrnn.ReshapeOp) or op.permutation == tuple(range(len(op.permutation)))):
            rewriter.replace(op, [], [source])
            return
        chain = [op]
        while (prev := _single_use_move(chain[0].operands[0])) is not None:
            chain.insert(0, prev)
        for k in range(len(chain) - 1):  # longest order-keeping chain first
            origin = chain[k].operands[0]
            shape = tuple(origin.type.get_shape())
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
    return qrnn.ReshapeOp(source, TensorType(source.type.get_element_type(), like.results[0].type.get_shape()))


class FoldReluIntoQuant(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.QuantOp, rewriter: PatternRewriter) -> None:
        relu = op.input
        if not (isinstance(relu, OpResult) and isinstance(relu.op, qrnn.ReluOp)):
            return
        if all(op.quant.qmin >= zp for zp in op.quant.zero_points):
            rewriter.replace(op, qrnn.QuantOp(relu.op.input, op.quant))
            if not relu.uses:
                rewriter.erase(relu.op)


@dataclass(frozen=True)
class QrnnCanonicalizePass(ModulePass):
    """Sink and cancel reshapes/transposes, fold relu into unsigned quantizers."""

    name = "qrnn-canonicalize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([SinkMoveBelowElementwise(), CollapseMoves(), FoldReluIntoQuant()]),
            apply_recursively=True,
        ).rewrite_module(op)
