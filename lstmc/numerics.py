"""Float reference semantics of the qrnn ops, bit-exact with onnxruntime (CPU, basic optimisations).

Why some ops call onnxruntime kernels instead of numpy:
- MatMul: onnxruntime's MLAS uses a different accumulation order for a vector-matrix product (M = 1,
  as in an LSTM cell run one sequence at a time) than for a matrix product (M > 1, sequential FMA along K),
  and neither equals numpy/OpenBLAS. A float32 ulp moves a value across a quantizer's rounding boundary
  often enough to matter, so "the qrnn stage equals the reference bit for bit" needs the same kernel. We batch
  sequences by running the M = 1 kernel inside an ONNX Scan over the batch axis (one call per step).
- Sigmoid/Tanh: MLAS uses polynomial approximations that differ from libm by a few ulps. They are
  elementwise and position-independent (checked in tests), so one call covers a whole batch.
- QuantizeLinear divides by the scale (not multiply by a reciprocal) and rounds half to even; that and
  the other elementwise ops are plain IEEE float32 in numpy.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

F32 = np.float32


@dataclass(frozen=True)
class QuantParams:
    """A quantizer in numeric form (mirrors `#qrnn.quant`)."""

    bits: int
    signed: bool
    narrow: bool
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int | None = None
    rounding: str = "half_even"

    @property
    def qmin(self) -> int:
        if self.signed:
            return -(2 ** (self.bits - 1)) + int(self.narrow)
        return 0

    @property
    def qmax(self) -> int:
        if self.signed:
            return 2 ** (self.bits - 1) - 1
        return 2**self.bits - 1 - int(self.narrow)


def quant_params(attr) -> QuantParams:
    """Numeric form of a `#qrnn.quant` attribute: how every stage reads a quantizer."""
    return QuantParams(
        bits=attr.bits.data,
        signed=attr.is_signed,
        narrow=attr.is_narrow,
        scale=tuple(attr.scales),
        zero_point=tuple(attr.zero_points),
        axis=attr.channel_axis,
        rounding=attr.rounding.data,
    )


def round_mode(v: np.ndarray, mode: str) -> np.ndarray:
    """Round float32 values to integers (as float) with a QONNX/Brevitas rounding mode."""
    if mode == "half_even":
        return np.rint(v)
    if mode == "floor":
        return np.floor(v)
    if mode == "ceil":
        return np.ceil(v)
    if mode == "down":  # toward zero
        return np.trunc(v)
    if mode == "up":  # away from zero
        return np.sign(v) * np.ceil(np.abs(v))
    if mode == "half_up":  # ties away from zero
        return np.sign(v) * np.floor(np.abs(v) + F32(0.5))
    if mode == "half_down":  # ties toward zero
        return np.sign(v) * np.ceil(np.abs(v) - F32(0.5))
    raise ValueError(f"unknown rounding mode '{mode}'")


def channel_values(values, axis: int | None, ndim: int, dtype, batched: bool = False) -> np.ndarray:
    """Per-tensor (axis None) or per-channel quantizer values shaped to broadcast against a tensor."""
    if axis is not None and batched:
        axis = axis + 1 if axis >= 0 else axis
    return _per_channel(values, axis, ndim, dtype)


def shift_round(x: np.ndarray, shift: int, mode: str) -> np.ndarray:
    """round(x / 2^shift) of int64 values, exactly, with a rounding mode (integer-only arithmetic)."""
    if shift == 0:
        return x.copy()
    floor = x >> shift  # arithmetic shift: floor division
    rem = x - (floor << shift)  # in [0, 2^shift)
    half = 1 << (shift - 1)
    if mode == "floor":
        return floor
    if mode == "ceil":
        return floor + (rem != 0)
    if mode == "down":  # toward zero
        return np.where(x < 0, floor + (rem != 0), floor)
    if mode == "up":  # away from zero
        return np.where(x < 0, floor, floor + (rem != 0))
    above, tie = rem > half, rem == half
    if mode == "half_even":
        return floor + (above | (tie & (floor & 1 == 1)))
    if mode == "half_up":  # ties away from zero
        return floor + (above | (tie & (x >= 0)))
    if mode == "half_down":  # ties toward zero
        return floor + (above | (tie & (x < 0)))
    raise ValueError(f"unknown rounding mode '{mode}'")


def count_thresholds(x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """#{k : x >= thresholds[..., k]} for shared [K] or per-channel [N, K] non-decreasing thresholds."""
    if thresholds.ndim == 1:
        return np.searchsorted(thresholds, x, side="right").astype(np.int64)
    out = np.empty(x.shape, np.int64)
    for n in range(thresholds.shape[0]):
        out[..., n] = np.searchsorted(thresholds[n], x[..., n], side="right")
    return out


def _per_channel(values, axis: int | None, ndim: int, dtype) -> np.ndarray:
    arr = np.asarray(values, dtype=dtype)
    if axis is None:
        return arr.reshape(())
    shape = [1] * ndim
    shape[axis] = arr.size
    return arr.reshape(shape)


def quantize(x: np.ndarray, q: QuantParams, batched: bool = False) -> np.ndarray:
    """Integer codes (int64) of QuantizeLinear -> Clip: clamp(round(x / s) + zp, qmin, qmax).

    `batched` says x has an extra leading batch axis that the quantizer's channel axis does not count.
    """
    x = np.asarray(x, dtype=F32)
    axis = q.axis
    if axis is not None and batched:
        axis = axis + 1 if axis >= 0 else axis
    s = _per_channel(q.scale, axis, x.ndim, F32)
    zp = _per_channel(q.zero_point, axis, x.ndim, np.int64)
    r = round_mode(x / s, q.rounding)
    return np.clip(r.astype(np.int64) + zp, q.qmin, q.qmax)


def dequantize(codes: np.ndarray, q: QuantParams, batched: bool = False) -> np.ndarray:
    """DequantizeLinear: (code - zp) * s in float32."""
    axis = q.axis
    if axis is not None and batched:
        axis = axis + 1 if axis >= 0 else axis
    s = _per_channel(q.scale, axis, codes.ndim, F32)
    zp = _per_channel(q.zero_point, axis, codes.ndim, np.int64)
    return (codes - zp).astype(F32) * s


def fake_quant(x: np.ndarray, q: QuantParams, batched: bool = False) -> np.ndarray:
    return dequantize(quantize(x, q, batched), q, batched)


# --------------------------------------------------------------------------------------------------------
# onnxruntime-backed kernels
# --------------------------------------------------------------------------------------------------------


def _session(model_bytes: bytes):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=None)
def _unary_session(op_type: str):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node(op_type, ["x"], ["y"])],
        op_type.lower(),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    return _session(model.SerializeToString())


def _unary(op_type: str, x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=F32)
    if x.size == 0:
        return x.copy()
    (y,) = _unary_session(op_type).run(None, {"x": x.reshape(-1)})
    return y.reshape(x.shape)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return _unary("Sigmoid", x)


def tanh(x: np.ndarray) -> np.ndarray:
    return _unary("Tanh", x)


@functools.lru_cache(maxsize=None)
def _matmul_session(a_shape: tuple[int, ...], b_shape: tuple[int, ...], a_batched: bool, b_batched: bool):
    """MatMul of per-sequence operands, run for every sequence of a batch by a Scan over axis 0."""
    from onnx import TensorProto, helper

    from lstmc.dialects.qrnn import matmul_shape

    out_shape = list(matmul_shape(a_shape, b_shape))
    vi = helper.make_tensor_value_info
    body_inputs = [vi(n, TensorProto.FLOAT, list(s)) for n, s, b in (("a", a_shape, a_batched), ("b", b_shape, b_batched)) if b]
    body = helper.make_graph(
        [helper.make_node("MatMul", ["a" if a_batched else "A", "b" if b_batched else "B"], ["y"])],
        "per_sequence",
        body_inputs,
        [vi("y", TensorProto.FLOAT, out_shape)],
    )
    outer = [
        vi("A", TensorProto.FLOAT, (["n"] if a_batched else []) + list(a_shape)),
        vi("B", TensorProto.FLOAT, (["n"] if b_batched else []) + list(b_shape)),
    ]
    scan_in = [n for n, b in (("A", a_batched), ("B", b_batched)) if b]
    graph = helper.make_graph(
        [helper.make_node("Scan", scan_in, ["Y"], body=body, num_scan_inputs=len(scan_in))],
        "batched_matmul",
        outer,
        [vi("Y", TensorProto.FLOAT, ["n"] + out_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    return _session(model.SerializeToString())


def matmul(a: np.ndarray, b: np.ndarray, a_batched: bool = False, b_batched: bool = False) -> np.ndarray:
    """onnxruntime MatMul; a batched operand has a leading batch axis and is multiplied sequence by sequence."""
    a = np.ascontiguousarray(a, dtype=F32)
    b = np.ascontiguousarray(b, dtype=F32)
    if not (a_batched or b_batched):
        a, b, a_batched = a[None], b, True
        return matmul(a, b, True, False)[0]
    a_shape = a.shape[1:] if a_batched else a.shape
    b_shape = b.shape[1:] if b_batched else b.shape
    session = _matmul_session(tuple(a_shape), tuple(b_shape), a_batched, b_batched)
    (y,) = session.run(None, {"A": a, "B": b})
    return y
