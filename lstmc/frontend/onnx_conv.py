"""ONNX `Conv` -> channels-last sliding window times a weight matrix (the FINN form of a convolution).

A 2-d Conv of an NCHW input [1, C, H, W] by constant weights [M, C, kh, kw] is imported as

    transpose(0, 2, 3, 1) -> reshape [H, W, C] -> qrnn.window (im2col: [Ho * Wo, kh * kw * C])
    -> qrnn.matmul by the weights as a [kh * kw * C, M] matrix (rows in (i, j, c) order) [-> + bias [M]]
    -> reshape [1, Ho, Wo, M] -> transpose(0, 3, 1, 2)

so every later pass sees the product it already knows (a matmul by quantized constant weights, per-channel
scales on the last axis). The NCHW transposes are data movement that `qrnn-canonicalize` sinks through
per-tensor activations and cancels between consecutive convolutions. Quantized weights (QCDQ or QONNX Quant
of an initializer) keep their quantizer; a per-output-channel weight quantizer (axis 0) becomes axis 1 of the
matrix. Supported: group 1, dilation 1, no padding (pads all zero or auto_pad VALID), batch 1.

Float semantics: with power-of-two scales every product and sum of quantized values is exact in float32, so
the result equals onnxruntime's Conv bit for bit; with arbitrary float scales the summation order (onnxruntime's
MatMul kernel here, its Conv kernel in the reference) can differ in the last float32 bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx
from xdsl.dialects.builtin import TensorType, f32

from lstmc.dense import dense_from_array
from lstmc.dialects import qrnn
from lstmc.frontend.scope import Scope, node_error, value_shape

if TYPE_CHECKING:  # the importer calls this module's import_node, so only its type is imported
    from lstmc.frontend.onnx_import import OnnxImporter

_ATTRS = {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}


def _tt(shape) -> TensorType:
    return TensorType(f32, tuple(shape))


def import_node(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    for name in attrs:
        if name not in _ATTRS:
            raise node_error(node, f"attribute '{name}' is not supported")
    if len(node.input) < 2:
        raise node_error(node, "Conv needs inputs X and W")
    x = importer.value(node.input[0], scope, node, "input 'X'")
    x_shape = value_shape(x)
    if len(x_shape) != 4:
        raise node_error(node, f"input 'X' has shape {list(x_shape)}; lstmc supports 2-d convolutions (NCHW)")
    if x_shape[0] != 1:
        raise node_error(node, f"input 'X' has batch size {x_shape[0]}; lstmc runs one sequence per inference")
    w, w_quant, w_read = importer.constant_operand(node.input[1], scope, node, "weight 'W'")
    if w.ndim != 4 or w.shape[1] != x_shape[1]:
        raise node_error(node, f"weight 'W' has shape {list(w.shape)}, expected [M, {x_shape[1]}, kh, kw]")
    m, c, kh, kw = w.shape
    if attrs.get("group", 1) != 1:
        raise node_error(node, f"attribute 'group' = {attrs['group']} is not supported (only group = 1)")
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise node_error(node, f"attribute 'dilations' = {list(attrs['dilations'])} is not supported (only 1)")
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode(errors="replace") if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad not in ("NOTSET", "VALID") or any(p != 0 for p in attrs.get("pads", [0, 0, 0, 0])):
        raise node_error(node, "padding is not supported (pads must be zero, auto_pad NOTSET or VALID)")
    if "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != (kh, kw):
        raise node_error(
            node, f"attribute 'kernel_shape' {list(attrs['kernel_shape'])} disagrees with W {list(w.shape)}"
        )
    strides = tuple(attrs.get("strides", [1, 1]))
    if len(strides) != 2 or min(strides) < 1:
        raise node_error(node, f"attribute 'strides' = {list(strides)} is not two positive integers")
    h, wd = x_shape[2], x_shape[3]
    if kh > h or kw > wd:
        raise node_error(node, f"kernel {[kh, kw]} is larger than the input image {[h, wd]}")
    ho, wo = qrnn.window_output_size((h, wd), (kh, kw), strides)

    def add(op, hint=None):
        importer.add(op, scope)
        if hint:
            op.results[0].name_hint = hint
        return op.results[0]

    label = (node.name or node.output[0]).replace("/", "_").strip("_")
    hwc = add(qrnn.TransposeOp(x, (0, 2, 3, 1)))
    image = add(qrnn.ReshapeOp(hwc, _tt((h, wd, c))))
    patches = add(qrnn.WindowOp(image, (kh, kw), strides), f"{label}_window")
    matrix = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(kh * kw * c, m))
    weight = add(qrnn.ConstantOp(dense_from_array(matrix)), f"{label}_W")
    if w_quant is not None:
        weight = add(qrnn.QuantOp(weight, _matrix_quant(node, w_quant)), f"{label}_Wq")
    out = add(qrnn.MatMulOp(patches, weight, _tt((ho * wo, m))), f"{label}_mm")
    if len(node.input) > 2 and node.input[2]:
        bias, b_quant, b_read = importer.constant_operand(node.input[2], scope, node, "bias 'B'")
        if bias.shape != (m,):
            raise node_error(node, f"bias 'B' has shape {list(bias.shape)}, expected [{m}]")
        b = add(qrnn.ConstantOp(dense_from_array(bias)), f"{label}_B")
        if b_quant is not None:
            b = add(qrnn.QuantOp(b, b_quant), f"{label}_Bq")
        out = add(qrnn.AddOp(out, b, _tt((ho * wo, m))), f"{label}_acc")
        importer.drop_if_unused(b_read, scope, node)
    importer.drop_if_unused(w_read, scope, node)
    nhwc = add(qrnn.ReshapeOp(out, _tt((1, ho, wo, m))))
    importer.define(node.output[0], add(qrnn.TransposeOp(nhwc, (0, 3, 1, 2))), scope)


def _matrix_quant(node: onnx.NodeProto, q: qrnn.QuantAttr) -> qrnn.QuantAttr:
    """The weight quantizer of the [kh * kw * C, M] matrix: per-tensor stays, per output channel -> axis 1."""
    axis = q.channel_axis
    if axis is None:
        return q
    if axis != 0:
        raise node_error(node, f"weight quantizer on axis {axis} is not supported (per-tensor or per output channel)")
    return qrnn.QuantAttr(
        q.bits.data, q.is_signed, q.is_narrow, list(q.scales), list(q.zero_points), 1, q.rounding.data
    )
