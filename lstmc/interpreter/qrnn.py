"""xDSL interpreter implementations of the qrnn ops.

Values are numpy arrays. A value computed from the model inputs carries one extra leading batch axis (one
entry per sequence); constants do not. An op recognises a batched operand by its rank (the IR type's rank
plus one), so thousands of sequences run through one interpretation of the IR.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from contextlib import contextmanager

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
from lstmc.dense import array_from_dense
from lstmc.dialects import qrnn
from lstmc.numerics import quant_params

# Product types by the largest magnitude they hold exactly: int32 below 2^31, float64's integers below 2^53.
_EXACT_TYPES = ((np.int32, 2.0**31), (np.float64, 2.0**53))


def exact_type(bound: float):
    """The cheapest type in which a matrix product whose every partial sum is at most `bound` in magnitude is
    exact (no overflow, no rounding, in whatever order the terms are added); int64 beyond. `bound` is computed
    in float64 itself, hence the small margin."""
    return next((t for t, limit in _EXACT_TYPES if bound * (1 + 1e-9) < limit), np.int64)


def _max_abs(a: np.ndarray) -> float:
    """max |a| of an int64 array, without an |a| temporary."""
    return float(max(int(a.max(initial=0)), -int(a.min(initial=0))))


# ------------------------------------------------------------------------------------------------ BLAS on one thread
_blas_lock = threading.Lock()
_blas_state: dict = {"control": None, "depth": 0, "before": 1}  # control: (get, set) once looked up, or False


def _blas_control():
    """(get_num_threads, set_num_threads) of the OpenBLAS numpy ships in its wheel (numpy.libs), or None (another
    BLAS, or a numpy built without one: the products then stay in numpy's loops)."""
    if _blas_state["control"] is None:
        _blas_state["control"] = False
        libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
        for path in sorted(glob.glob(os.path.join(libs, "*openblas*.so*"))):
            try:
                lib = ctypes.CDLL(path)  # the copy numpy has loaded already
            except OSError:
                continue
            for get, put in (
                ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
                ("openblas_get_num_threads", "openblas_set_num_threads"),
            ):
                if hasattr(lib, get) and hasattr(lib, put):
                    getter, setter = getattr(lib, get), getattr(lib, put)
                    getter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
                    _blas_state["control"] = (getter, setter)
                    break
            if _blas_state["control"]:
                break
    return _blas_state["control"] or None


@contextmanager
def single_threaded_blas():
    """OpenBLAS on one thread while the block runs (the thread count before is restored when the last of
    nested or concurrent blocks ends). One thread makes sgemm/dgemm the fastest exact products here (a
    [256, 128] x [128, 512] step: 0.3 ms, against 2.6 ms in numpy's int32 loops), where OpenBLAS' own threads
    spin against the other processes of a busy 2-core machine (22 ms, 20-100x slower on small products)."""
    control = _blas_control()
    if control is None:
        yield
        return
    with _blas_lock:
        if _blas_state["depth"] == 0:
            _blas_state["before"] = control[0]()
            control[1](1)
        _blas_state["depth"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_state["depth"] -= 1
            if _blas_state["depth"] == 0:
                control[1](_blas_state["before"])


def _blas() -> bool:
    """Whether products may go to BLAS now: on one thread (single_threaded_blas)."""
    return _blas_state["depth"] > 0


def _product_type(bound: float):
    """exact_type, or with BLAS on one thread the float type (sgemm, else dgemm) that holds `bound` exactly:
    below 2^24 every partial sum is an integer float32 represents, in any order of the terms, fused or not."""
    if _blas() and bound * (1 + 1e-9) < 2.0**53:
        return np.float32 if bound * (1 + 1e-9) < 2.0**24 else np.float64
    return exact_type(bound)


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b by numpy's own single-threaded SIMD loops (np.einsum without `optimize`): np.matmul has no
    integer BLAS (int64 is 10-20x slower) and OpenBLAS' threads make small float products 20-100x slower on a
    busy 2-core machine, while these loops take the same time loaded or not. With BLAS held on one thread
    (single_threaded_blas), float products go to BLAS."""
    if b.ndim == 2:  # a [..., K] @ b [K, M]
        if a.dtype.kind == "f" and _blas():
            return np.matmul(a, b)
        return np.einsum("...k,km->...m", a, b)
    if a.ndim == 1:  # a [K] @ b [N, K, M]
        return np.einsum("k,nkm->nm", a, b)
    return np.matmul(a, b)


class ExactMatrix:
    """A constant integer matrix W [K, M] for exact products a @ W, computed in int32 or float64 when max|a|
    times the largest column sum of |W| bounds every partial sum inside that type's exact range."""

    def __init__(self, w: np.ndarray):
        self.w = w
        self.colsum = float(np.abs(w).sum(axis=-2, dtype=np.float64).max(initial=0.0))
        self._as: dict[type, np.ndarray] = {np.int64: w}

    def rmatmul(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.int64)
        dtype = _product_type(_max_abs(a) * self.colsum)
        if dtype not in self._as:
            self._as[dtype] = self.w.astype(dtype)
        return _product(a.astype(dtype, copy=False), self._as[dtype]).astype(np.int64, copy=False)


def exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b of integer arrays, exactly (see ExactMatrix); the bound is K * max|a| * max|b|."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    bound = float(a.shape[-1]) * _max_abs(a) * _max_abs(b)
    dtype = _product_type(bound)
    return _product(a.astype(dtype, copy=False), b.astype(dtype, copy=False)).astype(np.int64, copy=False)


class ThresholdTable:
    """#{k : x >= t[..., k]} for sorted integer thresholds t ([K] shared or [N, K] per channel) as one table
    look-up: x below t[..., 0] counts 0 and from t[..., -1] on counts K, so only the span between needs
    entries; several times faster than a binary search per element. Wider spans use numerics.count_thresholds."""

    MAX_ENTRIES = 1 << 22

    def __init__(self, t: np.ndarray):
        self.t = t
        self.table = None
        if t.size == 0 or t.ndim > 2:
            return
        rows = t.reshape(-1, t.shape[-1])
        self.base = rows[:, 0] - 1  # index 0: every x below the first threshold
        self.top = rows[:, -1] - self.base  # index of the last threshold: every x from there on
        width = int(self.top.max()) + 1
        if width * rows.shape[0] > self.MAX_ENTRIES:
            return
        values = self.base[:, None] + np.arange(width)
        self.table = np.stack([np.searchsorted(r, v, side="right") for r, v in zip(rows, values)]).astype(np.int64)
        if t.ndim == 1:
            self.base, self.top, self.table = self.base[0], self.top[0], self.table[0]

    def count(self, x: np.ndarray) -> np.ndarray:
        if self.table is None:
            return numerics.count_thresholds(x, self.t)
        index = x - self.base
        np.clip(index, 0, self.top, out=index)
        if self.table.ndim == 1:
            return self.table[index]
        return self.table[np.arange(self.table.shape[0]), index]  # channel n reads row n


class ConstantCache:
    """Dense attributes of ops as read-only int64 arrays, converted once per interpretation: the ops inside a
    recurrence run once per step."""

    def __init__(self):
        self._int64: dict[tuple, np.ndarray] = {}
        self._matrices: dict[tuple, ExactMatrix] = {}
        self._tables: dict[object, ThresholdTable] = {}
        self._operands: dict[object, tuple[np.ndarray, ExactMatrix]] = {}

    def int64(self, op, prop: str) -> np.ndarray:
        key = (op, prop)
        if key not in self._int64:
            arr = array_from_dense(getattr(op, prop)).astype(np.int64)
            arr.setflags(write=False)
            self._int64[key] = arr
        return self._int64[key]

    def matrix(self, op, prop: str, lo: int, hi: int) -> ExactMatrix:
        """Rows lo:hi of a matrix attribute, for exact products."""
        key = (op, prop, lo, hi)
        if key not in self._matrices:
            self._matrices[key] = ExactMatrix(self.int64(op, prop)[lo:hi])
        return self._matrices[key]

    def thresholds(self, op) -> ThresholdTable:
        if op not in self._tables:
            self._tables[op] = ThresholdTable(self.int64(op, "thresholds"))
        return self._tables[op]

    def operand(self, op, value: np.ndarray) -> ExactMatrix:
        """An ExactMatrix for an operand of `op`, reused while the operand stays the same array object (a
        cached constant, every step); only the latest one per op is kept."""
        entry = self._operands.get(op)
        if entry is None or entry[0] is not value:
            entry = self._operands[op] = (value, ExactMatrix(np.asarray(value, np.int64)))
        return entry[1]


def align_batched(op, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The operands of a binary elementwise op, shaped to broadcast: a batched operand's batch axis must not
    broadcast against a non-batched operand's leading axes."""
    a_b, b_b = is_batched(a, op.lhs), is_batched(b, op.rhs)
    if a_b != b_b:
        rank = len(op.result.type.get_shape())
        if a_b:
            b = b.reshape((1,) * (rank + 1 - b.ndim) + b.shape)
        else:
            a = a.reshape((1,) * (rank + 1 - a.ndim) + a.shape)
    return a, b


def is_batched(value: np.ndarray, ssa) -> bool:
    return value.ndim == len(ssa.type.get_shape()) + 1


def _time_axis(batched: bool) -> int:
    return 1 if batched else 0


@register_impls
class QrnnFunctions(InterpreterFunctions):
    def __init__(self):
        super().__init__()
        self.constants = ConstantCache()
        self._dense: dict = {}

    @impl(qrnn.ConstantOp)
    def run_constant(self, interpreter: Interpreter, op: qrnn.ConstantOp, args: PythonValues):
        if op not in self._dense:  # converted once (inside a recurrence the op runs every step), never written
            value = array_from_dense(op.value)
            value.setflags(write=False)
            self._dense[op] = value
        return (self._dense[op],)

    @impl(qrnn.QuantOp)
    def run_quant(self, interpreter: Interpreter, op: qrnn.QuantOp, args: PythonValues):
        (x,) = args
        return (numerics.fake_quant(x, quant_params(op.quant), is_batched(x, op.input)),)

    @impl(qrnn.QuantDequantOp)
    def run_quant_dequant(self, interpreter: Interpreter, op: qrnn.QuantDequantOp, args: PythonValues):
        (x,) = args
        batched = is_batched(x, op.input)
        codes = numerics.quantize(x, quant_params(op.quant), batched)
        return (numerics.dequantize(codes, quant_params(op.dequant), batched),)

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
        a, b = align_batched(op, *args)
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
            outputs.append(stack_time(acc, len(ssa.type.get_shape()) - 1))
        return (*states, *outputs)

    # ------------------------------------------------------------------------------------ folded constants
    @impl(qrnn.QConstantOp)
    def run_qconstant(self, interpreter: Interpreter, op: qrnn.QConstantOp, args: PythonValues):
        if op not in self._dense:
            value = numerics.dequantize(self.constants.int64(op, "codes"), quant_params(op.quant))
            value.setflags(write=False)
            self._dense[op] = value
        return (self._dense[op],)

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
        patches = [
            x[..., i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :]
            for i in range(kh)
            for j in range(kw)
        ]  # each [..., Ho, Wo, C]
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
        return (numerics.centred_codes(x, q, batched),)

    @impl(qrnn.DequantizeOp)
    def run_dequantize(self, interpreter: Interpreter, op: qrnn.DequantizeOp, args: PythonValues):
        (v,) = args
        q = quant_params(op.quant)
        s = numerics.channel_values(q.scale, q.axis, v.ndim, np.float32, is_batched(v, op.input))
        return (v.astype(np.float32) * s,)

    @impl(qrnn.IMatMulOp)
    def run_imatmul(self, interpreter: Interpreter, op: qrnn.IMatMulOp, args: PythonValues):
        a, b = args
        if is_batched(b, op.rhs) and b.ndim == 3 and not is_batched(a, op.lhs):
            if a.ndim == 1:
                return (exact_matmul(a, b),)
            return (np.einsum("...k,nkm->nm", np.asarray(a, np.int64), np.asarray(b, np.int64)),)
        if b.ndim == 2 and not is_batched(b, op.rhs):  # constant weights: the same array every step
            return (self.constants.operand(op, b).rmatmul(a),)
        return (exact_matmul(a, b),)

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
        mult = self.constants.int64(op, "multipliers")
        total = self.constants.int64(op, "bias")
        for i, term in enumerate(args):
            term = np.asarray(term, dtype=np.int64)
            part = term if (mult[i] == 1).all() else mult[i] * term
            if i > 0 and total.shape == np.broadcast_shapes(total.shape, part.shape):
                total += part  # a sum this op allocated: neither the cached bias nor an input is written
            else:
                total = total + part
        return (total,)

    @impl(qrnn.RequantOp)
    def run_requant(self, interpreter: Interpreter, op: qrnn.RequantOp, args: PythonValues):
        x, shift, mode = np.asarray(args[0], np.int64), op.shift.value.data, op.rounding.data
        out = shift_round_half_even(x, shift) if mode == "half_even" else numerics.shift_round(x, shift, mode)
        return (np.clip(out, op.lo.value.data, op.hi.value.data, out=out),)

    @impl(qrnn.ThresholdOp)
    def run_threshold(self, interpreter: Interpreter, op: qrnn.ThresholdOp, args: PythonValues):
        x = np.asarray(args[0], np.int64)
        return (op.base.value.data + self.constants.thresholds(op).count(x),)

    @impl(qrnn.LutOp)
    def run_lut(self, interpreter: Interpreter, op: qrnn.LutOp, args: PythonValues):
        table = self.constants.int64(op, "table")
        index = np.asarray(args[0], np.int64) - op.offset.value.data
        if index.size and (index.min() < 0 or index.max() >= table.size):
            raise ValueError(f"qrnn.lut index out of range [0, {table.size}): an input outside its proven range")
        return (table[index],)

    @impl_terminator(qrnn.YieldOp)
    def run_yield(
        self, interpreter: Interpreter, op: qrnn.YieldOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()


def shift_round_half_even(x: np.ndarray, shift: int) -> np.ndarray:
    """numerics.shift_round(x, shift, "half_even") in four in-place passes (the hot op of a requantizing
    convolution): with x = q * 2^s + r, adding 2^(s-1) - 1 + (q & 1) carries into q exactly when r > 2^(s-1),
    or r == 2^(s-1) and q is odd. Needs |x| < 2^62 (legalized values are at most 62 bits)."""
    if shift == 0:
        return x.copy()
    out = x >> shift
    out &= 1
    out += x
    out += (1 << (shift - 1)) - 1
    out >>= shift
    return out


def stack_time(values: list[np.ndarray], step_rank: int) -> np.ndarray:
    """Stack per-step values along the time axis (axis 1 when batched, else 0).

    Steps may mix batched and unbatched values (a step output that is a constant): broadcast those.
    """
    batch = next((v.shape[0] for v in values if v.ndim == step_rank + 1), None)
    if batch is None:
        return np.stack(values, axis=0)
    full = [v if v.ndim == step_rank + 1 else np.broadcast_to(v, (batch, *v.shape)) for v in values]
    return np.stack(full, axis=1)
