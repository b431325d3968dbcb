"""Float reference semantics of the qrnn ops, bit-exact with onnxruntime (CPU, basic optimisations).

Why some ops call onnxruntime kernels instead of numpy:
- MatMul: onnxruntime's MLAS uses a different accumulation order for a vector-matrix product (M = 1,
  as in an LSTM cell run one sequence at a time) than for a matrix product (M > 1, sequential FMA along K),
  and neither equals numpy/OpenBLAS. A float32 ulp moves a value across a quantizer's rounding boundary
  often enough to matter, so "the qrnn stage equals the reference bit for bit" needs the same kernel. We batch
  sequences by running the M = 1 kernel inside an ONNX Scan over the batch axis (one call per step).
- Sigmoid/Tanh: MLAS uses polynomial approximations that differ from libm by a few ulps. They are
  elementwise and position-independent (checked in tests), so one call covers a whole batch.
Kernels emulated in numpy, operation for operation (float32 ops round like the C++/assembly they mirror):
- `kernel rational` of sigmoid/tanh: onnxruntime's GRU kernel evaluates its reset gate and candidate with a
  scalar rational approximation after a clamp (rnn_helpers.cc), not MLAS (rational_sigmoid, rational_tanh);
- `kernel m1_transb` of matmul: MLAS' M = 1 transposed-B AVX kernel, which onnxruntime's RNN kernels use for
  one-row products by weights computed at run time (matmul_m1_transb; the same on any x86-64 CPU with AVX).
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
    with np.errstate(all="ignore"):  # x / s may overflow to inf: saturates below like any large value
        r = round_mode(x / s, q.rounding).astype(np.float64)
    # Saturate in float before the integer cast, as onnxruntime's QuantizeLinear does: a float cast of
    # |r| >= 2^63 or +-inf is undefined (numpy gives INT64_MIN, i.e. the wrong sign). float64 holds every
    # integer of a <= 32-bit range plus its zero point exactly. NaN becomes qmin, which is onnxruntime's result
    # (the container type's minimum, then a QCDQ Clip to [qmin, qmax] clamps it to qmin).
    codes = np.clip(r + zp, q.qmin, q.qmax)
    return np.where(np.isnan(codes), q.qmin, codes).astype(np.int64)


def dequantize(codes: np.ndarray, q: QuantParams, batched: bool = False) -> np.ndarray:
    """DequantizeLinear: (code - zp) * s in float32."""
    axis = q.axis
    if axis is not None and batched:
        axis = axis + 1 if axis >= 0 else axis
    s = _per_channel(q.scale, axis, codes.ndim, F32)
    zp = _per_channel(q.zero_point, axis, codes.ndim, np.int64)
    return (codes - zp).astype(F32) * s


def centred_codes(x: np.ndarray, q: QuantParams, batched: bool = False) -> np.ndarray:
    """QuantizeLinear's codes minus the zero point (int64): the integers the integer stages, the kernel's ports
    and its testbench carry; a centred code c stands for the value c * s."""
    codes = quantize(x, q, batched)
    return codes - channel_values(q.zero_point, q.axis, codes.ndim, np.int64, batched)


def codes_of_values(value: np.ndarray, q: QuantParams, batched: bool = False) -> np.ndarray:
    """The centred codes c of values that are fl32(c * s) (what `dequantize` of centred codes gives), by exact
    division: fl32(c * s) / s is within 2^-24 relative of c, so rounding recovers c. No clamp to q's range:
    a port may carry codes of several quantizers with different zero points, whose union is wider."""
    s = channel_values(q.scale, q.axis, np.ndim(value), np.float64, batched)
    return np.rint(np.asarray(value, np.float32).astype(np.float64) / s).astype(np.int64)


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
    assert isinstance(y, np.ndarray)  # a dense tensor output
    return y.reshape(x.shape)


def sigmoid(x: np.ndarray, kernel: str = "mlas") -> np.ndarray:
    """Sigmoid with a kernel of `qrnn.sigmoid`: "mlas" (onnxruntime's Sigmoid) or "rational" (its GRU kernel)."""
    if kernel == "rational":
        return rational_sigmoid(x)
    _check_kernel(kernel)
    return _unary("Sigmoid", x)


def tanh(x: np.ndarray, kernel: str = "mlas") -> np.ndarray:
    """Tanh with a kernel of `qrnn.tanh`: "mlas" (onnxruntime's Tanh) or "rational" (its GRU kernel)."""
    if kernel == "rational":
        return rational_tanh(x)
    _check_kernel(kernel)
    return _unary("Tanh", x)


def activation(kind: str, x: np.ndarray, kernel: str = "mlas") -> np.ndarray:
    """sigmoid/tanh by name (what precision legalization tabulates)."""
    return {"sigmoid": sigmoid, "tanh": tanh}[kind](x, kernel)


def _check_kernel(kernel: str) -> None:
    if kernel != "mlas":
        raise ValueError(f"unknown activation kernel '{kernel}' (expected mlas or rational)")


# --------------------------------------------------------------------------------------------------------
# onnxruntime's GRU activations: a scalar rational approximation, emulated operation for operation
# --------------------------------------------------------------------------------------------------------
# onnxruntime's CPU GRU kernel (deep_cpu_gru.cc) does not call MLAS for the reset gate and the candidate: it
# calls rnn_helpers.cc deepcpu::gru_reset_gate_sigmoid and deepcpu::gru_output_gate_tanh, which clamp their
# input (clip_for_sigmoid_in_place: [-20, 20]; clip_for_tanh_in_place: [-10, 10]; NaN passes) and evaluate
# tanh(x) ~ p(x) / q(x) in float32, Horner in x^2:
#     x2 = x * x
#     p = x2 * a13 + a11;  p = x2 * p + a9;  ...  p = x2 * p + a1;  p = x * p
#     q = x2 * b6 + b4;    q = x2 * q + b2;  q = x2 * q + b0
#     tanh: p / q                  sigmoid(v): x = 0.5f * v, then 0.5f * (1 + p / q)
# Every multiply and add rounds on its own (x86-64 builds have no FMA contraction in this file; verified
# bit-exact against onnxruntime 1.32 in tests/test_onnx_rnn.py). numpy float32 arithmetic rounds the same way.
# The update gate z keeps MLAS' logistic (deepcpu::sigmoid -> MlasComputeLogistic).


def _f32_literal(text: str) -> np.float32:
    """The float32 a C++ literal like `4.89352455891786e-03f` denotes: the decimal rounded once, to nearest even
    (float(text) then float32 could round twice)."""
    from fractions import Fraction

    exact = Fraction(text)
    near = np.float32(float(text))
    candidates = [np.nextafter(near, np.float32(-np.inf)), near, np.nextafter(near, np.float32(np.inf))]
    best = min(candidates, key=lambda c: (abs(Fraction(float(c)) - exact), int(np.array(c).view(np.int32)) & 1))
    return np.float32(best)


_RATIONAL_ALPHA = tuple(
    _f32_literal(t)
    for t in (  # alpha_1, alpha_3, ..., alpha_13
        "4.89352455891786e-03",
        "6.37261928875436e-04",
        "1.48572235717979e-05",
        "5.12229709037114e-08",
        "-8.60467152213735e-11",
        "2.00018790482477e-13",
        "-2.76076847742355e-16",
    )
)
_RATIONAL_BETA = tuple(
    _f32_literal(t)
    for t in (  # beta_0, beta_2, beta_4, beta_6
        "4.89352518554385e-03",
        "2.26843463243900e-03",
        "1.18534705686654e-04",
        "1.19825839466702e-06",
    )
)
SIGMOID_BOUND, TANH_BOUND = F32(20.0), F32(10.0)  # deepcpu::sigmoid_bound, deepcpu::tanh_bound


def _clamp(x: np.ndarray, bound: np.float32) -> np.ndarray:
    """`if (x < -b) x = -b; else if (x > b) x = b;` (NaN stays NaN)."""
    return np.where(x < -bound, -bound, np.where(x > bound, bound, x)).astype(F32)


def _rational_tanh_core(x: np.ndarray) -> np.ndarray:
    """p(x) / q(x) of rnn_helpers.cc, in its operation order (no clamp)."""
    a1, a3, a5, a7, a9, a11, a13 = _RATIONAL_ALPHA
    b0, b2, b4, b6 = _RATIONAL_BETA
    x2 = x * x
    p = x2 * a13 + a11
    for a in (a9, a7, a5, a3, a1):
        p = x2 * p + a
    p = x * p
    q = x2 * b6 + b4
    q = x2 * q + b2
    q = x2 * q + b0
    return p / q


def rational_tanh(x: np.ndarray) -> np.ndarray:
    """onnxruntime's GRU tanh (deepcpu::gru_output_gate_tanh / gru_reset_gate_tanh): p/q after clamping to ±10."""
    x = np.asarray(x, dtype=F32)
    with np.errstate(all="ignore"):
        return np.asarray(_rational_tanh_core(_clamp(x, TANH_BOUND)), dtype=F32)


def rational_sigmoid(x: np.ndarray) -> np.ndarray:
    """onnxruntime's GRU sigmoid (deepcpu::gru_reset_gate_sigmoid): 0.5f * (1 + p/q) at 0.5f * clamp(x, ±20).

    onnxruntime stores this value (ps2[i] = 0.5f * (1 + p / q)) and then multiplies it into h, which is what
    `qrnn.sigmoid kernel rational` followed by `qrnn.mul` computes. (Older onnxruntime wrote
    ps1[i] * 0.5f * (1 + p / q); that differs only when the product is subnormal, since * 0.5f is exact.)
    """
    x = np.asarray(x, dtype=F32)
    half, one = F32(0.5), F32(1.0)
    with np.errstate(all="ignore"):
        return np.asarray(half * (one + _rational_tanh_core(half * _clamp(x, SIGMOID_BOUND))), dtype=F32)


@functools.lru_cache(maxsize=None)
def _matmul_session(a_shape: tuple[int, ...], b_shape: tuple[int, ...], a_batched: bool, b_batched: bool):
    """MatMul of per-sequence operands, run for every sequence of a batch by a Scan over axis 0."""
    from onnx import TensorProto, helper

    from lstmc.dialects.qrnn import matmul_shape

    shape = matmul_shape(a_shape, b_shape)
    assert shape is not None, f"MatMul of {a_shape} and {b_shape}"  # the op verifier checked the shapes
    out_shape = list(shape)
    vi = helper.make_tensor_value_info
    body_inputs = [
        vi(n, TensorProto.FLOAT, list(s)) for n, s, b in (("a", a_shape, a_batched), ("b", b_shape, b_batched)) if b
    ]
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


def matmul(
    a: np.ndarray, b: np.ndarray, a_batched: bool = False, b_batched: bool = False, kernel: str = "matmul"
) -> np.ndarray:
    """onnxruntime MatMul (kernel "matmul"), or MLAS' M = 1 transposed-B kernel ("m1_transb", see
    matmul_m1_transb); a batched operand has a leading batch axis and is multiplied sequence by sequence."""
    a = np.ascontiguousarray(a, dtype=F32)
    b = np.ascontiguousarray(b, dtype=F32)
    if kernel == "m1_transb":
        if b_batched:
            return np.stack([matmul_m1_transb(a[i] if a_batched else a, b[i]) for i in range(b.shape[0])])
        return matmul_m1_transb(a, b)
    if kernel != "matmul":
        raise ValueError(f"unknown matmul kernel '{kernel}' (expected matmul or m1_transb)")
    if not (a_batched or b_batched):
        a, b, a_batched = a[None], b, True
        return matmul(a, b, True, False)[0]
    a_shape = a.shape[1:] if a_batched else a.shape
    b_shape = b.shape[1:] if b_batched else b.shape
    session = _matmul_session(tuple(a_shape), tuple(b_shape), a_batched, b_batched)
    (y,) = session.run(None, {"A": a, "B": b})
    assert isinstance(y, np.ndarray)  # a dense tensor output
    return y


# --------------------------------------------------------------------------------------------------------
# MLAS' M = 1 transposed-B kernel (weights computed at run time), emulated summation order for order
# --------------------------------------------------------------------------------------------------------


def matmul_m1_transb(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row vectors a [..., K] times b [K, N] exactly as MLAS' MlasSgemmKernelM1TransposeBAvx rounds.

    onnxruntime's RNN kernels multiply by weights they could not pre-pack (e.g. weights that a
    DequantizeLinear computes at run time) through math::GemmEx(NoTrans, Trans) -> MlasGemm; with M = 1,
    alpha = 1 and beta in {0, 1}, MlasSgemmOperation calls MlasPlatform.KernelM1TransposeBRoutine, which on
    every x86-64 CPU with AVX (AVX, AVX2/FMA3 and AVX-512 alike: no platform overrides it) is the AVX kernel
    x86_64/SgemmKernelM1TransposeBAvx.S:
    - per output column j, 8 lane accumulators (starting at +0) run over K in blocks of 8:
      lane[l] = lane[l] + a[k] * b[k, j] for k = 8 i + l, with vmulps then vaddps (two roundings, no FMA);
      a last partial block is loaded masked (missing lanes add 0 * 0);
    - the 8 lanes are reduced horizontally in an order that depends on how the column was processed: columns
      go in blocks of 4 while 4 remain, then (N mod 4 >= 2) one block of 2, then (N odd) one single column:
        block of 4: (((l0 + l1) + l2) + l3) + (((l4 + l5) + l6) + l7)
        block of 2: ((l0 + l2) + (l4 + l6)) + ((l1 + l3) + (l5 + l7))
        single:     ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))
    - with beta = 1 the old C is added last (C + dot, what a following qrnn.add does).
    So the column grouping counts from column 0 of b: a qrnn.matmul with this kernel must hold the whole GEMM
    of onnxruntime (all gates), not one gate's columns. CPUs without AVX, and ARM64, take MLAS' general
    (packed, FMA) path instead; lstmc emulates the x86-64 AVX kernel.
    """
    a = np.asarray(a, dtype=F32)
    b = np.asarray(b, dtype=F32)
    K, N = b.shape
    lead = a.shape[:-1]
    rows = a.reshape(-1, K)
    bt = np.ascontiguousarray(b.T)  # [N, K]: the rows of onnxruntime's transposed B
    acc = np.zeros((rows.shape[0], N, 8), dtype=F32)
    with np.errstate(all="ignore"):
        full = K - K % 8
        for k in range(0, full, 8):
            acc = acc + rows[:, None, k : k + 8] * bt[None, :, k : k + 8]
        if K % 8:
            pa = np.zeros((rows.shape[0], 8), dtype=F32)
            pb = np.zeros((N, 8), dtype=F32)
            pa[:, : K - full] = rows[:, full:]
            pb[:, : K - full] = bt[:, full:]
            acc = acc + pa[:, None, :] * pb[None, :, :]
        lane = [acc[..., i] for i in range(8)]
        four = (((lane[0] + lane[1]) + lane[2]) + lane[3]) + (((lane[4] + lane[5]) + lane[6]) + lane[7])
        two = ((lane[0] + lane[2]) + (lane[4] + lane[6])) + ((lane[1] + lane[3]) + (lane[5] + lane[7]))
        one = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]))
    n4 = N - N % 4
    out = four.copy()
    if N % 4 >= 2:
        out[:, n4 : n4 + 2] = two[:, n4 : n4 + 2]
    if N % 2:
        out[:, N - 1] = one[:, N - 1]
    return out.reshape(*lead, N)
