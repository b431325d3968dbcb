"""ONNX compute and data-movement nodes -> qrnn ops (Add/Sub/Mul, Sigmoid/Tanh/Relu, MatMul, Concat, the
reshapes, Transpose, Gather of constant indices along axis 0, Identity, Constant), and Scan -> `qrnn.recurrence`,
whose body the same importer imports.

Handlers take (importer, node, scope), like every per-operator module of the importer (onnx_import.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.dialects.builtin import StringAttr
from xdsl.ir import Block, Region

from lstmc.dialects import qrnn
from lstmc.frontend.scope import Scope, node_error, sanitize, tensor_type, value_shape

if TYPE_CHECKING:  # the importer calls these handlers, so only its type is imported
    from lstmc.frontend.onnx_import import OnnxImporter

_ELEMENTWISE = {"Add": qrnn.AddOp, "Sub": qrnn.SubOp, "Mul": qrnn.MulOp}
_UNARY = {"Sigmoid": qrnn.SigmoidOp, "Tanh": qrnn.TanhOp, "Relu": qrnn.ReluOp}


def import_binary(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    a, b = importer.inputs(node, scope, 2)
    shape = qrnn.broadcast_shapes(value_shape(a), value_shape(b))
    if shape is None:
        raise node_error(node, f"operand shapes {list(value_shape(a))} and {list(value_shape(b))} do not broadcast")
    op = importer.add(_ELEMENTWISE[node.op_type](a, b, tensor_type(shape)), scope)
    importer.define(node.output[0], op.result, scope)


def import_unary(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    (a,) = importer.inputs(node, scope, 1)
    op = importer.add(_UNARY[node.op_type](a), scope)
    importer.define(node.output[0], op.result, scope)


def import_matmul(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    a, b = importer.inputs(node, scope, 2)
    shape = qrnn.matmul_shape(value_shape(a), value_shape(b))
    if shape is None:
        raise node_error(
            node,
            f"MatMul of shapes {list(value_shape(a))} and {list(value_shape(b))} is not a rank-1/2 product lstmc supports",
        )
    op = importer.add(qrnn.MatMulOp(a, b, tensor_type(shape)), scope)
    importer.define(node.output[0], op.result, scope)


def import_identity(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    pending = scope.lookup(node.input[0], "pending")
    if pending is not None:
        scope.pending[node.output[0]] = pending
        return
    importer.define(node.output[0], importer.value(node.input[0], scope, node), scope)


def import_constant(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    attr = next((a for a in node.attribute if a.name == "value"), None)
    if attr is None:
        raise node_error(node, "only Constant nodes with a 'value' tensor are supported")
    scope.consts[node.output[0]] = numpy_helper.to_array(attr.t)


def import_concat(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    values = importer.inputs(node, scope)
    axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), None)
    if axis is None:
        raise node_error(node, "Concat needs an axis attribute")
    rank = len(value_shape(values[0]))
    axis = axis + rank if axis < 0 else axis
    shapes = [value_shape(v) for v in values]
    if not 0 <= axis < rank or any(len(s) != rank for s in shapes):
        raise node_error(node, f"cannot concatenate shapes {[list(s) for s in shapes]} along axis {axis}")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    op = importer.add(qrnn.ConcatOp(values, axis, tensor_type(out)), scope)
    importer.define(node.output[0], op.result, scope)


def import_reshape(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    x = importer.value(node.input[0], scope, node)
    shape = list(value_shape(x))
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    second = importer.const(node.input[1], scope, node, "shape/axes") if len(node.input) > 1 and node.input[1] else None
    kind = node.op_type

    def axes_in(values, rank: int) -> list[int]:
        """Axes in [-rank, rank), normalised; duplicates and out-of-range axes are errors (onnxruntime's too)."""
        axes = [int(a) + rank if int(a) < 0 else int(a) for a in values]
        if any(not 0 <= a < rank for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(f"axes {[int(a) for a in values]} are out of range or repeated for rank {rank}")
        return axes

    try:
        if second is not None and second.ndim > 1:
            raise ValueError(f"input '{node.input[1]}' has shape {list(second.shape)}, expected a 1-D tensor")
        if kind == "Reshape":
            if second is None:
                raise ValueError("Reshape has no 'shape' input")
            target = [int(v) for v in second.reshape(-1)]
            target = [shape[i] if v == 0 and not attrs.get("allowzero", 0) else v for i, v in enumerate(target)]
            if target.count(-1) == 1:
                known = int(np.prod([v for v in target if v != -1]))
                target[target.index(-1)] = int(np.prod(shape)) // max(known, 1)
        elif kind == "Unsqueeze":
            values = second.reshape(-1) if second is not None else attrs["axes"]
            target = list(shape)
            for ax in sorted(axes_in(values, len(shape) + len(values))):
                target.insert(ax, 1)
        elif kind == "Squeeze":
            axes = second.reshape(-1).tolist() if second is not None else attrs.get("axes")
            if axes is None:
                target = [d for d in shape if d != 1]
            else:
                axes = axes_in(axes, len(shape))
                if any(shape[a] != 1 for a in axes):
                    raise ValueError(f"cannot squeeze axes {axes} of shape {shape}: not all of size 1")
                target = [d for i, d in enumerate(shape) if i not in axes]
        else:  # Flatten
            ax = attrs.get("axis", 1)
            if not -len(shape) <= ax <= len(shape):
                raise ValueError(f"axis {ax} is out of range for rank {len(shape)}")
            ax = ax + len(shape) if ax < 0 else ax
            target = [int(np.prod(shape[:ax])), int(np.prod(shape[ax:]))]
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise node_error(node, f"cannot compute the result shape ({e})") from e
    if int(np.prod(target)) != int(np.prod(shape)) or any(v < 0 for v in target):
        raise node_error(node, f"cannot reshape {shape} to {target}")
    op = importer.add(qrnn.ReshapeOp(x, tensor_type(target)), scope)
    importer.define(node.output[0], op.result, scope)


def import_transpose(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    x = importer.value(node.input[0], scope, node)
    rank = len(value_shape(x))
    perm = next(
        (list(onnx.helper.get_attribute_value(a)) for a in node.attribute if a.name == "perm"),
        list(reversed(range(rank))),
    )
    if sorted(perm) != list(range(rank)):
        raise node_error(node, f"perm {perm} is not a permutation of {rank} axes")
    op = importer.add(qrnn.TransposeOp(x, perm), scope)
    importer.define(node.output[0], op.result, scope)


def import_gather(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    """Gather of constant indices along axis 0 (e.g. the last step of a sequence): data movement, one slice
    of the flattened tensor per index."""
    x = importer.value(node.input[0], scope, node)
    shape = list(value_shape(x))
    indices = np.asarray(importer.const(node.input[1], scope, node, "indices")).astype(np.int64)
    axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
    axis = axis + len(shape) if axis < 0 else axis
    if axis != 0:
        raise node_error(node, f"Gather along axis {axis} is not supported (only axis 0)")
    size = shape[axis]
    flat_idx = indices.reshape(-1)
    if np.any(flat_idx < -size) or np.any(flat_idx >= size):
        raise node_error(node, f"indices {flat_idx.tolist()} are out of range for axis {axis} of size {size}")
    flat_idx = np.where(flat_idx < 0, flat_idx + size, flat_idx)
    rest = shape[1:]
    row = int(np.prod(rest))
    flat = importer.add(qrnn.ReshapeOp(x, tensor_type((size * row,))), scope).result
    rows = [importer.add(qrnn.SliceOp(flat, int(i) * row, row), scope).result for i in flat_idx]
    out = (
        rows[0]
        if len(rows) == 1
        else importer.add(qrnn.ConcatOp(rows, 0, tensor_type((len(rows) * row,))), scope).result
    )
    op = importer.add(qrnn.ReshapeOp(out, tensor_type(list(indices.shape) + rest)), scope)
    importer.define(node.output[0], op.result, scope)


def import_scan(importer: OnnxImporter, node: onnx.NodeProto, scope: Scope) -> None:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if importer.opset < 9:
        raise node_error(node, "Scan from opset < 9 (with sequence_lens) is not supported")
    body: onnx.GraphProto = attrs["body"]
    n_scan_in = attrs["num_scan_inputs"]
    n_state = len(node.input) - n_scan_in
    n_scan_out = len(body.output) - n_state
    if n_state < 0 or n_scan_out < 0 or len(body.input) != len(node.input):
        raise node_error(node, "inconsistent numbers of state variables, scan inputs and body inputs/outputs")
    in_dirs = list(attrs.get("scan_input_directions", [0] * n_scan_in))
    out_dirs = list(attrs.get("scan_output_directions", [0] * n_scan_out))
    for key, values, count in (
        ("scan_input_directions", in_dirs, n_scan_in),
        ("scan_output_directions", out_dirs, n_scan_out),
    ):
        if len(values) != count:
            raise node_error(node, f"{key} has {len(values)} entries for {count} scan {key.split('_')[1]}s")
    if any(d not in (0, 1) for d in in_dirs + out_dirs):
        raise node_error(node, "scan directions must be 0 (forward) or 1 (reverse)")
    operands = importer.inputs(node, scope)
    init, seqs = operands[:n_state], operands[n_state:]
    _check_scan_axes(node, attrs, "scan_input_axes", [len(value_shape(s)) for s in seqs])
    lengths = {value_shape(s)[0] if value_shape(s) else None for s in seqs}
    if len(lengths) != 1 or None in lengths:
        raise node_error(
            node, f"scan inputs must share one sequence length, got shapes {[list(value_shape(s)) for s in seqs]}"
        )
    (steps,) = lengths
    arg_types = [v.type for v in init] + [tensor_type(value_shape(s)[1:]) for s in seqs]
    body_block = Block(arg_types=arg_types)
    body_scope = Scope(body_block, parent=scope)
    for arg, inp in zip(body_block.args, body.input):
        arg.name_hint = sanitize(inp.name)
        body_scope.values[inp.name] = arg
    importer.add_initializers(body, body_scope)
    importer.import_nodes(body, body_scope)
    yielded = [
        importer.value(o.name, body_scope, what=f"Scan '{node.name}' body output '{o.name}'") for o in body.output
    ]
    _check_scan_axes(node, attrs, "scan_output_axes", [len(value_shape(y)) + 1 for y in yielded[n_state:]])
    for i, (v, y) in enumerate(zip(init, yielded[:n_state])):
        if v.type != y.type:
            raise node_error(
                node, f"state {i} enters as {list(value_shape(v))} but the body yields {list(value_shape(y))}"
            )
    body_block.add_op(qrnn.YieldOp(*yielded))
    out_types = [tensor_type((steps, *value_shape(y))) for y in yielded[n_state:]]
    onnx_dirs = (qrnn.FORWARD, qrnn.REVERSE)  # ONNX Scan's 0 and 1
    op = importer.add(
        qrnn.RecurrenceOp(
            init, seqs, out_types, [onnx_dirs[d] for d in in_dirs], [onnx_dirs[d] for d in out_dirs], Region(body_block)
        ),
        scope,
    )
    # stable name for folding configs and reports
    op.attributes["lstmc.onnx_node"] = StringAttr(node.name or f"scan_{'_'.join(node.output)}")
    for name, res in zip(node.output, op.results):
        if name:
            importer.define(name, res, scope)


def _check_scan_axes(node, attrs, key: str, ranks: list[int]) -> None:
    """Scan axes must all be 0 (negative axes count from the back of a tensor of the given rank)."""
    axes = [int(a) for a in attrs.get(key, [0] * len(ranks))]
    if len(axes) != len(ranks):
        raise node_error(node, f"{key} has {len(axes)} entries for {len(ranks)} scan {key.split('_')[1]}s")
    if any(a + r if a < 0 else a for a, r in zip(axes, ranks)):
        raise node_error(
            node, f"{key} {axes} are not supported: lstmc scans along axis 0 (time must be the leading axis)"
        )


HANDLERS = {
    "MatMul": import_matmul,
    "Identity": import_identity,
    "Constant": import_constant,
    "Concat": import_concat,
    "Reshape": import_reshape,
    "Unsqueeze": import_reshape,
    "Squeeze": import_reshape,
    "Flatten": import_reshape,
    "Scan": import_scan,
    "Transpose": import_transpose,
    "Gather": import_gather,
    **{name: import_binary for name in _ELEMENTWISE},
    **{name: import_unary for name in _UNARY},
}
