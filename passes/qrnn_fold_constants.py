"""`qrnn-fold-constants`: fold quantized constants, redundant quantizers, identities, and fuse gate MatMuls.

Works on float-level qrnn IR (what the importer produces) and keeps it bit-for-bit equivalent under the
interpreter's semantics (`lstmc.numerics`):

- `qrnn.quant` of a `qrnn.constant` (or of a `qrnn.qconstant`) becomes one `qrnn.qconstant` holding the integer
  codes; its dequantized value is exactly the old fake-quantized one, because both are
  `numerics.dequantize(numerics.quantize(x))`. A `qrnn.quant_dequant` of one becomes the qconstant of its
  quantizer's codes under its dequantizer (same codes, the dequantizer's scale: the same float32 values).
- A `qrnn.quant` whose input comes from a quantizer with the same scales/zero points/axis and an integer range
  inside its own cannot bind and is dropped. Float is not trusted to round-trip: every code of the producing
  quantizer is pushed through the consuming one (per distinct scale/zero point) and must come back bit for bit.
  Quantizers with more than 2^24 such codes are kept (too costly to enumerate, and not provably exact).
- Identities: a `qrnn.reshape` to its own type, a reshape of a reshape, a `qrnn.concat` of one input.
- Gate fusion (option `fuse-gates`, default true): vector-matrix `qrnn.matmul`s in one block sharing the lhs and
  whose rhs are `qrnn.qconstant`s with compatible quantizers become one matmul over the weights concatenated
  along the columns, followed by one `qrnn.slice` per original matmul. Compatible: same bits/signedness/narrow/
  rounding and either one per-tensor scale and zero point, or all per-channel along axis 1 (scales concatenate);
  per-tensor weights with different scales per gate (Brevitas' default) are left apart. This is exact only because
  onnxruntime's M = 1 MatMul (what `numerics.matmul` runs) computes each output column independently of the
  other columns: checked for K up to 2100 and N up to 512 per gate (2 to 5 gates, widths not multiples of 16)
  on onnxruntime 1.32 / AVX-512; `tests/test_fold_constants.py` repeats that check so a kernel change is caught.
- Dead pure ops (constants, qconstants, quants left without users) are erased by the rewriter's DCE.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import Float32Type, IntegerType, ModuleOp, Signedness, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from lstmc import numerics
from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import qrnn

# Codes enumerated to prove that a quantizer cannot bind (16M float32 round trips, ~0.3 s worst case).
MAX_ENUMERATED_CODES = 2**24


def _code_type(q: qrnn.QuantAttr) -> IntegerType:
    return IntegerType(q.bits.data, Signedness.SIGNED if q.is_signed else Signedness.UNSIGNED)


def _qconstant(codes: np.ndarray, q: qrnn.QuantAttr) -> qrnn.QConstantOp:
    return qrnn.QConstantOp(dense_from_array(codes, _code_type(q)), q)


def _grid(q: qrnn.QuantAttr, rank: int) -> tuple[int | None, tuple[float, ...], tuple[int, ...]]:
    """(axis, scales, zero points); a per-channel quantizer whose channels all agree counts as per-tensor."""
    pairs = set(zip(q.scales, q.zero_points))
    if q.channel_axis is None or len(pairs) == 1:
        ((s, z),) = pairs
        return None, (s,), (z,)
    return q.channel_axis % rank, tuple(q.scales), tuple(q.zero_points)


def _rank(value: SSAValue) -> int:
    return len(SSAValue.get(value, type=TensorType).type.get_shape())


@functools.lru_cache(maxsize=None)
def _never_binds(inner: numerics.QuantParams, outer: numerics.QuantParams) -> bool:
    """Whether `outer` returns every value that `inner` can produce unchanged, bit for bit.

    Both are per-tensor with the same scale and zero point (callers split per-channel quantizers).
    """
    if not outer.qmin <= inner.qmin <= inner.qmax <= outer.qmax:
        return False
    codes = np.arange(inner.qmin, inner.qmax + 1, dtype=np.int64)
    values = numerics.dequantize(codes, inner)
    return np.array_equal(values.view(np.uint32), numerics.fake_quant(values, outer).view(np.uint32))


def _grid_source(value: SSAValue) -> qrnn.QuantOp | None:
    """The quantizer whose output `value` is, looking through ops that only move values around."""
    owner = value.owner
    while isinstance(owner, (qrnn.ReshapeOp, qrnn.SliceOp)):
        owner = owner.input.owner
    return owner if isinstance(owner, qrnn.QuantOp) else None


def _constant_value(src) -> np.ndarray | None:
    """The float32 values of a float constant or of a quantized constant (dequantized), else None."""
    if isinstance(src, qrnn.ConstantOp) and isinstance(src.value.get_element_type(), Float32Type):
        return array_from_dense(src.value)
    if isinstance(src, qrnn.QConstantOp):
        return numerics.dequantize(array_from_dense(src.codes).astype(np.int64), numerics.quant_params(src.quant))
    return None


class FoldQuantOfConstant(RewritePattern):
    """quant(constant) / quant(qconstant) -> qconstant of the integer codes."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.QuantOp, rewriter: PatternRewriter) -> None:
        src = op.input.owner
        value = _constant_value(src)
        if value is None:
            return
        codes = numerics.quantize(value, numerics.quant_params(op.quant))
        if (
            isinstance(src, qrnn.QConstantOp)
            and src.quant == op.quant
            and np.array_equal(codes, array_from_dense(src.codes))
        ):
            rewriter.replace(op, [], [op.input])
            return
        rewriter.replace(op, _qconstant(codes, op.quant))


class FoldQuantDequantOfConstant(RewritePattern):
    """quant_dequant(constant) -> qconstant of the codes by the dequantizer: the codes are the quantizer's, the
    values the dequantizer's, which is exactly what qconstant(codes by dequant) dequantizes to."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.QuantDequantOp, rewriter: PatternRewriter) -> None:
        value = _constant_value(op.input.owner)
        if value is None:
            return
        rewriter.replace(op, _qconstant(numerics.quantize(value, numerics.quant_params(op.quant)), op.dequant))


class FoldRedundantQuant(RewritePattern):
    """quant(x) by q2 where x is already on q2's grid and within its range -> x."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.QuantOp, rewriter: PatternRewriter) -> None:
        src = _grid_source(op.input)
        if src is None:
            return
        inner, outer = src.quant, op.quant
        # Through a reshape/slice only elementwise-uniform (per-tensor) grids survive unchanged.
        moved = src.result is not op.input
        grid = _grid(inner, _rank(src.result))
        if grid != _grid(outer, _rank(op.input)) or (moved and grid[0] is not None):
            return
        p_in, p_out = numerics.quant_params(inner), numerics.quant_params(outer)
        channels = sorted(set(zip(grid[1], grid[2])))
        if len(channels) * (p_in.qmax - p_in.qmin + 1) > MAX_ENUMERATED_CODES:
            return
        for s, z in channels:
            if not _never_binds(
                numerics.QuantParams(p_in.bits, p_in.signed, p_in.narrow, (s,), (z,), None, p_in.rounding),
                numerics.QuantParams(p_out.bits, p_out.signed, p_out.narrow, (s,), (z,), None, p_out.rounding),
            ):
                return
        rewriter.replace(op, [], [op.input])


class FoldIdentityReshape(RewritePattern):
    """reshape to the same type -> input; reshape(reshape(x)) -> reshape(x)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.ReshapeOp, rewriter: PatternRewriter) -> None:
        if op.input.type == op.result.type:
            rewriter.replace(op, [], [op.input])
        elif isinstance(inner := op.input.owner, qrnn.ReshapeOp):
            rewriter.replace(op, qrnn.ReshapeOp(inner.input, op.result.type))


class FoldSingleConcat(RewritePattern):
    """concat of one input -> that input."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.ConcatOp, rewriter: PatternRewriter) -> None:
        if len(op.inputs) == 1 and op.inputs[0].type == op.result.type:
            rewriter.replace(op, [], [op.inputs[0]])


def _weight_of(op: Operation) -> qrnn.QConstantOp | None:
    """The 2-D qconstant rhs of a vector-matrix matmul, if that is what `op` is."""
    if not isinstance(op, qrnn.MatMulOp) or _rank(op.lhs) != 1 or _rank(op.rhs) != 2:
        return None
    w = op.rhs.owner
    return w if isinstance(w, qrnn.QConstantOp) else None


def _fusion_key(w: qrnn.QConstantOp) -> tuple | None:
    """Weights with equal keys concatenate along columns into one quantizer; None: cannot take part."""
    q = w.quant
    kind = (q.bits.data, q.is_signed, q.is_narrow, q.rounding.data)
    axis, scales, zps = _grid(q, 2)
    if axis is None:
        return kind, "per-tensor", scales, zps
    if axis == 1:
        return kind, "per-column"
    return None


class FuseGateMatMuls(RewritePattern):
    """matmul(v, W_i) for several compatible quantized W_i -> slices of matmul(v, [W_1 | W_2 | ...])."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.MatMulOp, rewriter: PatternRewriter) -> None:
        w = _weight_of(op)
        key = _fusion_key(w) if w is not None else None
        if key is None:
            return
        block = op.parent_block()
        assert block is not None  # an op the walker visits is in a block
        group = {
            use.operation
            for use in op.lhs.uses
            if use.index == 0
            and use.operation.parent_block() is block
            and (uw := _weight_of(use.operation)) is not None
            and _fusion_key(uw) == key
        }
        if len(group) < 2:
            return
        # order of first appearance (each a matmul with a weight: _weight_of said so)
        matmuls = [o for o in block.ops if o in group and isinstance(o, qrnn.MatMulOp)]
        weights = []
        for m in matmuls:
            w_m = _weight_of(m)
            assert w_m is not None
            weights.append(w_m)
        codes = np.concatenate([array_from_dense(x.codes) for x in weights], axis=1)
        bits, signed, narrow, rounding = key[0]
        if key[1] == "per-tensor":
            scales, zps, axis = key[2], key[3], None
        else:
            scales = [s for x in weights for s in x.quant.scales]
            zps, axis = [z for x in weights for z in x.quant.zero_points], 1
        fused_w = _qconstant(codes, qrnn.QuantAttr(bits, signed, narrow, scales, zps, axis, rounding))
        fused = qrnn.MatMulOp(op.lhs, fused_w, TensorType(op.result.type.get_element_type(), (codes.shape[1],)))
        fused_w.result.name_hint, fused.result.name_hint = "gate_weights", "gates"
        rewriter.insert([fused_w, fused], InsertPoint.before(matmuls[0]))
        offset = 0
        for m in matmuls:
            width = m.result.type.get_shape()[-1]
            rewriter.replace(m, qrnn.SliceOp(fused, offset, width))
            offset += width


@dataclass(frozen=True)
class QrnnFoldConstantsPass(ModulePass):
    """Fold constant quantizers into integer constants, drop quantizers and shape ops that do nothing, and
    (with `fuse-gates`) fuse the per-gate MatMuls that share an input into one gate matrix."""

    name = "qrnn-fold-constants"

    fuse_gates: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        folds = [
            FoldQuantOfConstant(),
            FoldQuantDequantOfConstant(),
            FoldRedundantQuant(),
            FoldIdentityReshape(),
            FoldSingleConcat(),
        ]
        # Users first, so a constant is visited (and erased as dead) after the quant that consumed it.
        PatternRewriteWalker(GreedyRewritePatternApplier(folds), walk_reverse=True).rewrite_module(op)
        if self.fuse_gates:
            # Only once every weight is a qconstant, so each group is fused whole (not in pieces of slices).
            PatternRewriteWalker(GreedyRewritePatternApplier([FuseGateMatMuls()])).rewrite_module(op)
