"""xDSL interpreter implementations of the qrnn ops.

Values are numpy arrays. A value computed from the model inputs carries one extra leading batch axis (one
entry per sequence); constants do not. An op recognises a batched operand by its rank (the IR type's rank
plus one), so thousands of sequences run through one interpretation of the IR.
"""

from __future__ import annotations

import numpy as np
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    ReturnedValues,
    TerminatorValue,
    impl,
    impl_terminator,
    register_impls,
)

from lstmc import numerics
from lstmc.numerics import quant_params
from lstmc.dense import array_from_dense
from lstmc.dialects import qrnn


def is_batched(value: np.ndarray, ssa) -> bool:
    return value.ndim == len(ssa.type.get_shape()) + 1


def _time_axis(batched: bool) -> int:
    return 1 if batched else 0


@register_impls
class QrnnFunctions(InterpreterFunctions):
    @impl(qrnn.ConstantOp)
    def run_constant(self, interpreter: Interpreter, op: qrnn.ConstantOp, args: PythonValues):
        return (array_from_dense(op.value),)

    @impl(qrnn.QuantOp)
    def run_quant(self, interpreter: Interpreter, op: qrnn.QuantOp, args: PythonValues):
        (x,) = args
        return (numerics.fake_quant(x, quant_params(op.quant), is_batched(x, op.input)),)

    @impl(qrnn.AddOp)
    def run_add(self, interpreter: Interpreter, op: qrnn.AddOp, args: PythonValues):
        return (self._elementwise(op, args, np.add),)

    @impl(qrnn.SubOp)
    def run_sub(self, interpreter: Interpreter, op: qrnn.SubOp, args: PythonValues):
        return (self._elementwise(op, args, np.subtract),)

    @impl(qrnn.MulOp)
    def run_mul(self, interpreter: Interpreter, op: qrnn.MulOp, args: PythonValues):
        return (self._elementwise(op, args, np.multiply),)

    @staticmethod
    def _elementwise(op, args, fn):
        a, b = args
        a_b, b_b = is_batched(a, op.lhs), is_batched(b, op.rhs)
        # A batched operand's batch axis must not broadcast against a non-batched operand's leading axes.
        rank = len(op.result.type.get_shape())
        if a_b != b_b:
            if a_b:
                b = b.reshape((1,) * (rank + 1 - b.ndim) + b.shape)
            else:
                a = a.reshape((1,) * (rank + 1 - a.ndim) + a.shape)
        return fn(a.astype(np.float32, copy=False), b.astype(np.float32, copy=False))

    @impl(qrnn.MatMulOp)
    def run_matmul(self, interpreter: Interpreter, op: qrnn.MatMulOp, args: PythonValues):
        a, b = args
        return (numerics.matmul(a, b, is_batched(a, op.lhs), is_batched(b, op.rhs), op.kernel_name),)

    @impl(qrnn.SigmoidOp)
    def run_sigmoid(self, interpreter: Interpreter, op: qrnn.SigmoidOp, args: PythonValues):
        return (numerics.sigmoid(args[0], op.kernel_name),)

    @impl(qrnn.TanhOp)
    def run_tanh(self, interpreter: Interpreter, op: qrnn.TanhOp, args: PythonValues):
        return (numerics.tanh(args[0], op.kernel_name),)

    @impl(qrnn.ReluOp)
    def run_relu(self, interpreter: Interpreter, op: qrnn.ReluOp, args: PythonValues):
        return (np.maximum(args[0], np.float32(0)),)

    @impl(qrnn.ReshapeOp)
    def run_reshape(self, interpreter: Interpreter, op: qrnn.ReshapeOp, args: PythonValues):
        (x,) = args
        shape = tuple(op.result.type.get_shape())
        return (x.reshape((x.shape[0], *shape) if is_batched(x, op.input) else shape),)

    @impl(qrnn.ConcatOp)
    def run_concat(self, interpreter: Interpreter, op: qrnn.ConcatOp, args: PythonValues):
        batched = [is_batched(v, ssa) for v, ssa in zip(args, op.inputs)]
        if not any(batched):
            return (np.concatenate(args, axis=op.axis.value.data),)
        n = next(v.shape[0] for v, b in zip(args, batched) if b)
        parts = [v if b else np.broadcast_to(v, (n, *v.shape)) for v, b in zip(args, batched)]
        return (np.concatenate(parts, axis=op.axis.value.data + 1),)

    @impl(qrnn.RecurrenceOp)
    def run_recurrence(self, interpreter: Interpreter, op: qrnn.RecurrenceOp, args: PythonValues):
        n_state = len(op.init)
        states = list(args[:n_state])
        seqs = args[n_state:]
        seq_batched = [is_batched(s, ssa) for s, ssa in zip(seqs, op.inputs)]
        steps = op.seq_len
        collected: list[list[np.ndarray]] = [[] for _ in op.outputs]
        for t in range(steps):
            slices = []
            for seq, batched, direction in zip(seqs, seq_batched, op.in_dirs):
                index = t if direction == qrnn.FORWARD else steps - 1 - t
                slices.append(np.take(seq, index, axis=_time_axis(batched)))
            yielded = interpreter.run_ssacfg_region(op.body, (*states, *slices), "qrnn.recurrence")
            states = list(yielded[:n_state])
            for acc, value in zip(collected, yielded[n_state:]):
                acc.append(value)
        outputs = []
        for acc, direction, ssa in zip(collected, op.out_dirs, op.outputs):
            if direction == qrnn.REVERSE:
                acc = acc[::-1]
            outputs.append(_stack_time(acc, len(ssa.type.get_shape()) - 1))
        return (*states, *outputs)

    # ------------------------------------------------------------------------------------ folded constants
    @impl(qrnn.QConstantOp)
    def run_qconstant(self, interpreter: Interpreter, op: qrnn.QConstantOp, args: PythonValues):
        codes = array_from_dense(op.codes).astype(np.int64)
        return (numerics.dequantize(codes, quant_params(op.quant)),)

    @impl(qrnn.SliceOp)
    def run_slice(self, interpreter: Interpreter, op: qrnn.SliceOp, args: PythonValues):
        return (args[0][..., op.start : op.start + op.size],)

    @impl(qrnn.TransposeOp)
    def run_transpose(self, interpreter: Interpreter, op: qrnn.TransposeOp, args: PythonValues):
        (x,) = args
        perm = op.permutation
        if is_batched(x, op.input):
            perm = (0, *(p + 1 for p in perm))
        return (np.ascontiguousarray(np.transpose(x, perm)),)

    @impl(qrnn.WindowOp)
    def run_window(self, interpreter: Interpreter, op: qrnn.WindowOp, args: PythonValues):
        (x,) = args
        (kh, kw), (sh, sw), (ho, wo) = op.kernel_size, op.stride, op.out_hw
        patches = [x[..., i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :]
                   for i in range(kh) for j in range(kw)]  # each [..., Ho, Wo, C]
        stacked = np.stack(patches, axis=-2)  # [..., Ho, Wo, kh * kw, C]: columns in (i, j, c) order
        return (stacked.reshape(*x.shape[:-3], ho * wo, kh * kw * x.shape[-1]),)

    # ------------------------------------------------------------------------------------ integer level
    # Integer values are int64 arrays holding centred codes; the legalization pass guarantees (and states
    # in the types) that every value fits its siN/uiN type, with N <= 62.
    @impl(qrnn.QuantizeOp)
    def run_quantize(self, interpreter: Interpreter, op: qrnn.QuantizeOp, args: PythonValues):
        (x,) = args
        q = quant_params(op.quant)
        batched = is_batched(x, op.input)
        codes = numerics.quantize(x, q, batched)
        zp = numerics.channel_values(q.zero_point, q.axis, codes.ndim, np.int64, batched)
        return (codes - zp,)

    @impl(qrnn.DequantizeOp)
    def run_dequantize(self, interpreter: Interpreter, op: qrnn.DequantizeOp, args: PythonValues):
        (v,) = args
        q = quant_params(op.quant)
        s = numerics.channel_values(q.scale, q.axis, v.ndim, np.float32, is_batched(v, op.input))
        return (v.astype(np.float32) * s,)

    @impl(qrnn.IMatMulOp)
    def run_imatmul(self, interpreter: Interpreter, op: qrnn.IMatMulOp, args: PythonValues):
        a, b = (np.asarray(v, dtype=np.int64) for v in args)
        if is_batched(b, op.rhs) and b.ndim == 3 and not is_batched(a, op.lhs):
            return (np.einsum("...k,nkm->nm", a, b),)
        return (np.matmul(a, b),)

    @impl(qrnn.IMulOp)
    def run_imul(self, interpreter: Interpreter, op: qrnn.IMulOp, args: PythonValues):
        return (self._int_elementwise(op, args, np.multiply),)

    @staticmethod
    def _int_elementwise(op, args, fn):
        a, b = (np.asarray(v, dtype=np.int64) for v in args)
        rank = len(op.result.type.get_shape())
        a_b, b_b = is_batched(a, op.lhs), is_batched(b, op.rhs)
        if a_b != b_b:
            if a_b:
                b = b.reshape((1,) * (rank + 1 - b.ndim) + b.shape)
            else:
                a = a.reshape((1,) * (rank + 1 - a.ndim) + a.shape)
        return fn(a, b)

    @impl(qrnn.ScaledSumOp)
    def run_scaled_sum(self, interpreter: Interpreter, op: qrnn.ScaledSumOp, args: PythonValues):
        mult = array_from_dense(op.multipliers).astype(np.int64)
        total = array_from_dense(op.bias).astype(np.int64)
        for i, term in enumerate(args):
            total = total + mult[i] * np.asarray(term, dtype=np.int64)
        return (total,)

    @impl(qrnn.RequantOp)
    def run_requant(self, interpreter: Interpreter, op: qrnn.RequantOp, args: PythonValues):
        return (numerics.shift_round(np.asarray(args[0], np.int64), op.shift.value.data, op.rounding.data)
                .clip(op.lo.value.data, op.hi.value.data),)

    @impl(qrnn.ThresholdOp)
    def run_threshold(self, interpreter: Interpreter, op: qrnn.ThresholdOp, args: PythonValues):
        x = np.asarray(args[0], np.int64)
        t = array_from_dense(op.thresholds).astype(np.int64)
        return (op.base.value.data + numerics.count_thresholds(x, t),)

    @impl(qrnn.LutOp)
    def run_lut(self, interpreter: Interpreter, op: qrnn.LutOp, args: PythonValues):
        table = array_from_dense(op.table).astype(np.int64)
        index = np.asarray(args[0], np.int64) - op.offset.value.data
        if index.size and (index.min() < 0 or index.max() >= table.size):
            raise ValueError(f"qrnn.lut index out of range [0, {table.size}): an input outside its proven range")
        return (table[index],)

    @impl_terminator(qrnn.YieldOp)
    def run_yield(
        self, interpreter: Interpreter, op: qrnn.YieldOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()


def _stack_time(values: list[np.ndarray], step_rank: int) -> np.ndarray:
    """Stack per-step values along the time axis (axis 1 when batched, else 0).

    Steps may mix batched and unbatched values (a step output that is a constant): broadcast those.
    """
    batch = next((v.shape[0] for v in values if v.ndim == step_rank + 1), None)
    if batch is None:
        return np.stack(values, axis=0)
    full = [v if v.ndim == step_rank + 1 else np.broadcast_to(v, (batch, *v.shape)) for v in values]
    return np.stack(full, axis=1)
