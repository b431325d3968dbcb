"""ONNX quantizer nodes -> qrnn: QuantizeLinear -> optional Clip -> DequantizeLinear chains and QONNX `Quant`
nodes become one `qrnn.quant` each (a `qrnn.quant_dequant` where the two ends have different scales); a
DequantizeLinear of an integer initializer becomes a constant with its quantizer kept. Integer tensors never
become SSA values: a QuantizeLinear output waits in the scope (`Pending`) for its DequantizeLinear.

Handlers take (importer, node, scope), like every per-operator module of the importer (onnx_import.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx
from xdsl.utils.exceptions import VerifyException

from lstmc import numerics
from lstmc.dialects import qrnn
from lstmc.frontend.model import dtype_name
from lstmc.frontend.scope import Pending, Scope, node_error, value_shape

if TYPE_CHECKING:  # the importer calls these handlers, so only its type is imported
    from lstmc.frontend.onnx_import import OnnxImporter

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")
_ROUNDING = {
    "ROUND": "half_even",
    "HALF_EVEN": "half_even",
    "ROUND_HALF_EVEN": "half_even",
    "HALF_UP": "half_up",
    "HALF_DOWN": "half_down",
    "FLOOR": "floor",
    "CEIL": "ceil",
    "UP": "up",
    "DOWN": "down",
    "ROUND_TO_ZERO": "down",
}
# ONNX integer element types a QuantizeLinear can produce: (bits, signed)
_QTYPES = {
    onnx.TensorProto.INT8: (8, True),
    onnx.TensorProto.UINT8: (8, False),
    onnx.TensorProto.INT16: (16, True),
    onnx.TensorProto.UINT16: (16, False),
    onnx.TensorProto.INT4: (4, True),
    onnx.TensorProto.UINT4: (4, False),
    onnx.TensorProto.INT32: (32, True),
}


def quant_attr(node, scale, zero_point, axis, lo, hi, rounding, shape) -> qrnn.QuantAttr:
    bits_signed_narrow = _range_kind(lo, hi)
    if bits_signed_narrow is None:
        raise node_error(
            node,
            f"integer range [{lo}, {hi}] is not the range of a signed or unsigned (narrow) integer of 1..32 bits",
        )
    bits, signed, narrow = bits_signed_narrow
    scale = np.asarray(scale, dtype=np.float32).reshape(-1)
    zp = np.asarray(zero_point).reshape(-1)
    if axis is None and (scale.size != 1 or zp.size != 1):
        raise node_error(node, "a per-tensor quantizer needs a scalar scale and zero point")
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise node_error(node, f"quantizer scale must be finite and positive, got {scale.tolist()[:4]}")
    if np.any(scale < np.finfo(np.float32).tiny):  # x / s overflows for nearly every x: no grid left
        raise node_error(node, f"quantizer scale {scale.min():g} is subnormal; scales must be normal float32")
    if not np.all(np.isfinite(zp)) or np.any(zp != np.round(zp)):
        raise node_error(node, f"zero point must be a finite integer, got {zp.tolist()[:4]}")
    # (code - zp) * scale must stay a float32: a grid reaching past FLT_MAX dequantizes to inf
    reach = np.maximum(np.abs(lo - zp.astype(np.float64)), np.abs(hi - zp.astype(np.float64))) * scale
    if np.any(reach > np.finfo(np.float32).max):
        raise node_error(
            node, f"quantizer scale {scale.max():g} times its integer range [{lo}, {hi}] overflows float32"
        )
    if axis is not None:
        axis = axis + len(shape) if axis < 0 else axis
        if not 0 <= axis < len(shape):
            raise node_error(node, f"quantization axis {axis} is out of range for shape {list(shape)}")
        if zp.size == 1:
            zp = np.repeat(zp, scale.size)
        if scale.size != shape[axis]:
            raise node_error(node, f"{scale.size} scales for axis {axis} of size {shape[axis]}")
    try:  # the attribute verifies itself on construction (e.g. a zero point outside [qmin, qmax])
        attr = qrnn.QuantAttr(bits, signed, narrow, scale.tolist(), [int(z) for z in zp], axis, rounding)
        attr.verify()
    except VerifyException as e:
        raise node_error(node, str(e)) from e
    return attr


def check_qdq_params(node, scale: np.ndarray, zp: np.ndarray | None) -> None:
    """onnxruntime's rules for a QuantizeLinear/DequantizeLinear scale and zero point (PrepareForQDQ): float32
    scale (lstmc computes in float32); per tensor, both are scalars or 1-element vectors; per axis, both are
    1-D of one size (the axis size is checked with the input's shape in _quant_attr)."""
    scale = np.asarray(scale)
    if scale.dtype != np.float32:
        raise node_error(node, f"scale '{node.input[1]}' has element type {scale.dtype}; lstmc supports float32 scales")
    flat = scale.reshape(-1)
    if flat.size and (not np.all(np.isfinite(flat)) or np.any(flat < np.finfo(np.float32).tiny)):
        bad = flat[~np.isfinite(flat) | (flat < np.finfo(np.float32).tiny)][0]
        raise node_error(
            node, f"scale '{node.input[1]}' contains {float(bad):g}; a scale must be a finite, positive, normal float32"
        )
    if scale.ndim > 1 or scale.size == 0:
        raise node_error(
            node,
            f"scale '{node.input[1]}' has shape {list(scale.shape)}; expected a scalar (per "
            "tensor) or a 1-D vector (per axis; blocked quantization is not supported)",
        )
    if zp is None:
        return
    zp = np.asarray(zp)
    per_tensor = scale.size == 1
    if (per_tensor and (zp.size != 1 or zp.ndim > 1)) or (not per_tensor and zp.shape != scale.shape):
        raise node_error(
            node,
            f"zero point '{node.input[2]}' has shape {list(zp.shape)}, which does not match "
            f"scale '{node.input[1]}' of shape {list(scale.shape)}",
        )


def import_quantize_linear(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    if len(node.input) < 2:
        raise node_error(node, "QuantizeLinear needs a scale input")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("block_size", 0):
        raise node_error(node, "blocked quantization (block_size) is not supported")
    if attrs.get("saturate", 1) != 1:
        raise node_error(node, "saturate=0 is not supported")
    if attrs.get("precision", 0) not in (0, onnx.TensorProto.FLOAT):
        raise node_error(
            node, f"precision {dtype_name(attrs['precision'])} is not supported (lstmc divides by the scale in float32)"
        )
    scale = importer.const(node.input[1], scope, node, "scale")
    if len(node.input) > 2 and node.input[2]:
        zp_array = importer.const(node.input[2], scope, node, "zero point")
        qtype = onnx.helper.np_dtype_to_tensor_dtype(zp_array.dtype)
    else:
        zp_array = np.zeros((), np.int64)
        qtype = attrs.get("output_dtype", onnx.TensorProto.UINT8) or onnx.TensorProto.UINT8
    check_qdq_params(node, scale, zp_array if len(node.input) > 2 and node.input[2] else None)
    if qtype not in _QTYPES or qtype == onnx.TensorProto.INT32:
        raise node_error(node, f"quantized type {dtype_name(qtype)} is not supported")
    bits, signed = _QTYPES[qtype]
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    axis = attrs.get("axis", 1) if np.asarray(scale).size > 1 else None
    source = node.input[0]
    if scope.lookup(source, "values") is None and scope.lookup(source, "consts") is None:
        importer.value(source, scope, node)  # raises the right error
    if axis is not None:  # the axis must fit the input here, not only at the DequantizeLinear
        const = scope.lookup(source, "consts")
        shape = np.shape(const) if const is not None else value_shape(importer.value(source, scope, node))
        quant_attr(node, scale, zp_array.astype(np.int64), axis, lo, hi, "half_even", shape)
        axis = axis + len(shape) if axis < 0 else axis
    scope.pending[node.output[0]] = Pending(source, scale, zp_array.astype(np.int64), axis, lo, hi, node)


def import_clip(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    pending = scope.lookup(node.input[0], "pending")
    if pending is None:
        raise node_error(
            node, "Clip is supported only on the integer output of QuantizeLinear (QCDQ); a float Clip is not"
        )
    lo, hi = pending.lo, pending.hi
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    bounds = []
    for i, key in ((1, "min"), (2, "max")):
        if len(node.input) > i and node.input[i]:
            bound = np.asarray(importer.const(node.input[i], scope, node, key))
            if bound.size != 1 or bound.ndim > 1:  # onnxruntime: "min should be a scalar"
                raise node_error(
                    node, f"{key} '{node.input[i]}' has shape {list(bound.shape)}; Clip bounds are scalars"
                )
            bounds.append(int(bound.reshape(())))
        elif key in attrs:
            bounds.append(int(attrs[key]))
        else:
            bounds.append(None)
    new_lo = lo if bounds[0] is None else max(lo, bounds[0])
    new_hi = hi if bounds[1] is None else min(hi, bounds[1])
    if new_lo > new_hi:
        raise node_error(node, f"Clip range [{bounds[0]}, {bounds[1]}] leaves no value of the integer type")
    scope.pending[node.output[0]] = Pending(
        pending.source, pending.scale, pending.zero_point, pending.axis, new_lo, new_hi, node
    )


def import_dequantize_linear(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if len(node.input) < 2:
        raise node_error(node, "DequantizeLinear needs a scale input")
    if attrs.get("block_size", 0):  # onnxruntime dequantizes by blocks; lstmc would not
        raise node_error(node, "blocked quantization (block_size) is not supported")
    if attrs.get("output_dtype", 0) not in (0, onnx.TensorProto.FLOAT):
        raise node_error(
            node, f"output_dtype {dtype_name(attrs['output_dtype'])} is not supported (lstmc computes in float32)"
        )
    scale = importer.const(node.input[1], scope, node, "scale")
    has_zp = len(node.input) > 2 and node.input[2]
    zp = importer.const(node.input[2], scope, node, "zero point") if has_zp else np.zeros((), np.int64)
    check_qdq_params(node, scale, zp if has_zp else None)
    zp = zp.astype(np.int64)
    axis = attrs.get("axis", 1) if np.asarray(scale).size > 1 else None
    pending = scope.lookup(node.input[0], "pending")
    if pending is not None:
        if not _same_values(pending.zero_point, zp):
            raise node_error(
                node,
                f"zero point differs from that of QuantizeLinear '{pending.node.name}'; lstmc supports a "
                "Q -> DQ pair with different scales but one zero point",
            )
        source = importer.value(pending.source, scope, node)
        rank = len(value_shape(source))
        dq_axis = None if axis is None else axis + rank if axis < 0 else axis
        if None not in (dq_axis, pending.axis) and dq_axis != pending.axis:
            raise node_error(
                node, f"axis {axis} differs from axis {pending.axis} of QuantizeLinear '{pending.node.name}'"
            )
        attr = quant_attr(node, scale, zp, axis, pending.lo, pending.hi, "half_even", value_shape(source))
        if _same_values(np.asarray(pending.scale, np.float32), np.asarray(scale, np.float32)):
            op = importer.add(qrnn.QuantOp(source, attr), scope)
        else:  # a requantization: codes on the QuantizeLinear's scale, values on this node's
            # one integer grid: if either side is per channel, both are, along that axis
            grid_axis = pending.axis if pending.axis is not None else dq_axis
            shape = value_shape(source)
            n = 1 if grid_axis is None else shape[grid_axis]
            if np.asarray(scale).size not in (1, n):
                raise node_error(node, f"{np.asarray(scale).size} scales for axis {grid_axis} of size {n}")
            q_scale, dq_scale, grid_zp = (
                np.broadcast_to(np.asarray(v).reshape(-1), (n,))
                for v in (np.asarray(pending.scale, np.float32), scale, zp)
            )
            q_attr = quant_attr(pending.node, q_scale, grid_zp, grid_axis, pending.lo, pending.hi, "half_even", shape)
            attr = quant_attr(node, dq_scale, grid_zp, grid_axis, pending.lo, pending.hi, "half_even", shape)
            op = importer.add(qrnn.QuantDequantOp(source, q_attr, attr), scope)
        importer.define(node.output[0], op.result, scope)
        return
    # DequantizeLinear of an integer initializer (pre-quantized weights, int32 biases).
    codes = importer.const(node.input[0], scope, node, "quantized input")
    if codes.dtype.kind not in "iu":
        raise node_error(node, f"DequantizeLinear input must be an integer tensor, got {codes.dtype}")
    bits = codes.dtype.itemsize * 8
    signed = codes.dtype.kind == "i"
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    attr = quant_attr(node, scale, zp, axis, lo, hi, "half_even", codes.shape)
    q = numerics.quant_params(attr)
    if codes.dtype == np.int32:  # onnxruntime subtracts in int32: a code - zero point overflow wraps around
        centred = codes.astype(np.int64) - numerics.channel_values(q.zero_point, q.axis, codes.ndim, np.int64)
        wrapped = (centred < -(2**31)) | (centred >= 2**31)
        if np.any(wrapped):
            zps = q.zero_point[0] if len(set(q.zero_point)) == 1 else list(q.zero_point)[:4]
            raise node_error(
                node,
                f"zero point {zps} of int32 input '{node.input[0]}': code - zero point "
                f"overflows int32 for {int(wrapped.sum())} of {codes.size} codes (onnxruntime "
                "wraps it around)",
            )
    values = numerics.dequantize(codes.astype(np.int64), q)
    const = importer.materialize(node.output[0], values, scope)
    # Keep the quantizer when re-quantizing the float values reproduces them (always, unless huge codes
    # do not fit float32): later passes recover the integers from it.
    if np.array_equal(numerics.fake_quant(values, q), values):
        op = importer.add(qrnn.QuantOp(const, attr), scope)
        importer.define(node.output[0], op.result, scope)


def import_qonnx_quant(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    if len(node.input) != 4:
        raise node_error(node, "Quant needs 4 inputs (x, scale, zeropt, bitwidth)")
    const = scope.lookup(node.input[0], "consts")
    if const is not None and np.asarray(const).dtype != np.float32:  # would be rounded to float32 silently
        raise node_error(
            node, f"input '{node.input[0]}' has element type {np.asarray(const).dtype}; QONNX Quant takes float32"
        )
    source = importer.value(node.input[0], scope, node)
    shape = value_shape(source)
    scale, zp, bits, signed, narrow, mode = quant_parameters(
        node,
        *(
            importer.const(node.input[i], scope, node, what)
            for i, what in ((1, "scale"), (2, "zero point"), (3, "bit width"))
        ),
    )
    # QONNX broadcasts scale and zero point against x; the result must keep x's shape.
    try:
        per_shape = np.broadcast_shapes(scale.shape, zp.shape)
        out_shape = np.broadcast_shapes(per_shape, shape)
    except ValueError:
        out_shape = None
    if out_shape != tuple(shape):
        raise node_error(
            node,
            f"scale '{node.input[1]}' {list(scale.shape)} and zero point '{node.input[2]}' "
            f"{list(zp.shape)} do not broadcast to the input's shape {list(shape)}",
        )
    axis = None
    if scale.size > 1 or zp.size > 1:
        big = [i for i, d in enumerate(per_shape) if d > 1]
        if len(big) != 1:
            raise node_error(node, f"scale of shape {list(per_shape)} is neither per-tensor nor per-channel")
        axis = big[0] + len(shape) - len(per_shape)
        scale = np.broadcast_to(scale, per_shape)
        zp = np.broadcast_to(zp, per_shape)
    lo, hi = _int_range(bits, signed, narrow)
    attr = quant_attr(node, scale, zp, axis, lo, hi, mode, shape)
    op = importer.add(qrnn.QuantOp(source, attr), scope)
    importer.define(node.output[0], op.result, scope)


def _same_values(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal as quantizer parameters: element for element, a single value standing for all."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    if a.size != b.size and 1 not in (a.size, b.size):
        return False
    return bool(np.all(a == b))


def _int_range(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - int(narrow)


def quant_parameters(node: onnx.NodeProto, scale, zero_point, bit_width):
    """(scale float32, zero point float64, bits, signed, narrow, rounding mode) of a QONNX Quant node, checked:
    float32 finite, positive, normal scales; finite integer zero points inside the integer range; one integer bit
    width in 1..32; `signed`/`narrow` 0 or 1; a known rounding mode. Anything else is an LstmcError naming the
    node: qonnx would compute something meaningless (NaN codes, a 2.5-bit grid) or lstmc would differ from it."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    scale, zp, bw = np.asarray(scale), np.asarray(zero_point), np.asarray(bit_width)
    if scale.dtype != np.float32:  # QONNX: float32; another type would be rounded to float32 silently
        raise node_error(
            node, f"scale '{node.input[1]}' has element type {scale.dtype}; QONNX Quant scales are float32"
        )
    for array, what, i in ((zp, "zero point", 2), (bw, "bit width", 3)):
        if array.dtype.kind not in "biuf":
            raise node_error(node, f"{what} '{node.input[i]}' has element type {array.dtype}, expected numbers")
    zp, bw = zp.astype(np.float64), bw.astype(np.float64).reshape(-1)
    if bw.size != 1 or not np.isfinite(bw[0]) or bw[0] != round(bw[0]):
        raise node_error(node, f"bit width '{node.input[3]}' must be one integer, got {bw.tolist()[:4]}")
    bits = int(bw[0])
    if not 1 <= bits <= qrnn.MAX_QUANT_BITS:
        raise node_error(node, f"bit width {bits} is outside the supported range 1..{qrnn.MAX_QUANT_BITS}")
    for key, default in (("signed", 1), ("narrow", 0)):
        if attrs.get(key, default) not in (0, 1):
            raise node_error(node, f"attribute '{key}' = {attrs[key]} is not 0 or 1")
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    if signed and narrow and bits < 2:
        raise node_error(node, "a signed narrow-range quantizer needs at least 2 bits")
    mode = attrs.get("rounding_mode", "ROUND")
    mode = mode.decode(errors="replace") if isinstance(mode, bytes) else mode
    if not isinstance(mode, str) or mode.upper() not in _ROUNDING:
        raise node_error(node, f"rounding_mode {mode!r} is not supported ({', '.join(_ROUNDING)})")
    flat = scale.reshape(-1)
    bad = ~np.isfinite(flat) | (flat < np.finfo(np.float32).tiny)  # zero, negative, subnormal, NaN, inf
    if np.any(bad):
        raise node_error(
            node,
            f"scale '{node.input[1]}' contains {float(flat[bad][0]):g}; a scale must be a finite, "
            "positive, normal float32",
        )
    flat = zp.reshape(-1)
    if not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat)):
        raise node_error(node, f"zero point must be a finite integer, got {flat.tolist()[:4]}")
    lo, hi = _int_range(bits, signed, narrow)
    if np.any((flat < lo) | (flat > hi)):
        raise node_error(
            node, f"zero point {flat[(flat < lo) | (flat > hi)][0]:.0f} is outside the integer range [{lo}, {hi}]"
        )
    return scale, zp, bits, signed, narrow, _ROUNDING[mode.upper()]


def _range_kind(lo: int, hi: int) -> tuple[int, bool, bool] | None:
    """(bits, signed, narrow) whose integer range is exactly [lo, hi], or None."""
    for bits in range(1, qrnn.MAX_QUANT_BITS + 1):
        half = 2 ** (bits - 1)
        if (lo, hi) == (-half, half - 1):
            return bits, True, False
        if bits >= 2 and (lo, hi) == (-half + 1, half - 1):
            return bits, True, True
        if (lo, hi) == (0, 2**bits - 1):
            return bits, False, False
        if (lo, hi) == (0, 2**bits - 2):
            return bits, False, True
    return None


HANDLERS = {
    "QuantizeLinear": import_quantize_linear,
    "Clip": import_clip,
    "DequantizeLinear": import_dequantize_linear,
    "Quant": import_qonnx_quant,
}
