"""ONNX -> qrnn import.

Op for op: every ONNX node becomes a qrnn op (or an alias), every quantizer is kept. QuantizeLinear ->
optional Clip -> DequantizeLinear chains and QONNX `Quant` nodes become one `qrnn.quant` each; a `Scan`
becomes a `qrnn.recurrence` whose body is imported the same way; Transpose and Gather (constant indices,
axis 0) are data movement. LSTM/GRU operators (onnx_rnn.py) and Conv (onnx_conv.py) have their own modules;
Brevitas' QuantLSTMCell nodes are first rewritten into Scans (brevitas_cell.py). Integer tensors never become SSA values:
a QuantizeLinear output is only legal as the start of such a chain.

Shapes are computed here (not by onnx shape inference) so that every result type is known and static; a
model with symbolic dimensions is rejected with the name of the input (a symbolic sequence length is bound
first by `lstmc.frontend.bind_sequence_length`, from the run's inputs or `--seq-len`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr, TensorType, f32
from xdsl.ir import Block, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from lstmc import numerics
from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import qrnn
from lstmc.errors import LstmcError
from lstmc.frontend import dtype_name

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
# Operators whose import lives in another frontend module: (domain, op_type) -> module exposing
# `import_node(importer: OnnxImporter, node, scope)`, which builds qrnn ops with the importer's helpers.
EXTENSIONS = {
    ("", "LSTM"): "lstmc.frontend.onnx_rnn",
    ("", "GRU"): "lstmc.frontend.onnx_rnn",
    ("", "Conv"): "lstmc.frontend.onnx_conv",
}
_ELEMENTWISE = {"Add": qrnn.AddOp, "Sub": qrnn.SubOp, "Mul": qrnn.MulOp}
_UNARY = {"Sigmoid": qrnn.SigmoidOp, "Tanh": qrnn.TanhOp, "Relu": qrnn.ReluOp}


def node_error(node: onnx.NodeProto, message: str) -> LstmcError:
    label = f"node '{node.name}'" if node.name else f"unnamed node producing '{', '.join(node.output)}'"
    return LstmcError(f"{label} ({node.op_type}): {message}")


@dataclass
class _Pending:
    """A QuantizeLinear (+ Clip) output: an integer tensor waiting for its DequantizeLinear."""

    source: str  # float tensor that was quantized
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None
    lo: int
    hi: int
    node: onnx.NodeProto


@dataclass
class _Scope:
    """Names visible in one graph (main graph or a Scan body), chained to the enclosing graph."""

    block: Block
    parent: _Scope | None = None
    values: dict[str, SSAValue] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    pending: dict[str, _Pending] = field(default_factory=dict)

    def lookup(self, name: str, table: str):
        scope: _Scope | None = self
        while scope is not None:
            found = getattr(scope, table).get(name)
            if found is not None:
                return found
            scope = scope.parent
        return None


def _sanitize(name: str) -> str | None:
    hint = re.sub(r"[^A-Za-z0-9_.$]", "_", name)
    if not hint or not re.match(r"[A-Za-z_]", hint[0]):
        hint = "v" + hint
    return hint


def _static_shape(type_proto: onnx.TypeProto, what: str) -> tuple[int, ...]:
    if not type_proto.HasField("tensor_type"):
        raise LstmcError(f"{what} is not a tensor")
    tt = type_proto.tensor_type
    if tt.elem_type != onnx.TensorProto.FLOAT:
        raise LstmcError(
            f"{what} has element type {dtype_name(tt.elem_type)}; lstmc models take float32 tensors"
        )
    if not tt.HasField("shape"):
        raise LstmcError(f"{what} has no shape; lstmc needs static shapes")
    dims = []
    for axis, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        elif axis == 0:  # the sequence length: lstmc.frontend.bind_sequence_length fixes it before import
            raise LstmcError(
                f"{what} has a symbolic dimension '{d.dim_param or '?'}' (axis 0, the sequence length); lstmc "
                "compiles one length at a time: bind it first (lstmc import/compile/verify --seq-len N, or the "
                "arrays of lstmc run/verify --inputs)"
            )
        else:
            raise LstmcError(
                f"{what} has a symbolic dimension '{d.dim_param or '?'}' at axis {axis}; lstmc binds only the "
                "sequence length (axis 0): export the model with that dimension fixed"
            )
    return tuple(dims)


def _tensor_type(shape) -> TensorType:
    return TensorType(f32, tuple(shape))


def _shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(value.type.get_shape())


class OnnxImporter:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}.get("ai.onnx", 0)
        self.handlers: dict[str, Callable[[onnx.NodeProto, _Scope], None]] = {
            "QuantizeLinear": self._quantize_linear,
            "Clip": self._clip,
            "DequantizeLinear": self._dequantize_linear,
            "Quant": self._qonnx_quant,
            "MatMul": self._matmul,
            "Identity": self._identity,
            "Constant": self._constant,
            "Concat": self._concat,
            "Reshape": self._reshape,
            "Unsqueeze": self._reshape,
            "Squeeze": self._reshape,
            "Flatten": self._reshape,
            "Scan": self._scan,
            "Transpose": self._transpose,
            "Gather": self._gather,
        }
        for name in _ELEMENTWISE:
            self.handlers[name] = self._binary
        for name in _UNARY:
            self.handlers[name] = self._unary

    # ----------------------------------------------------------------------------------------------------
    def run(self) -> ModuleOp:
        graph = self.model.graph
        if not graph.node:
            raise LstmcError("the ONNX graph has no nodes")
        initializer_names = {init.name for init in graph.initializer}
        inputs = [i for i in graph.input if i.name not in initializer_names]
        arg_types = [_tensor_type(_static_shape(i.type, f"graph input '{i.name}'")) for i in inputs]
        block = Block(arg_types=arg_types)
        scope = _Scope(block)
        for arg, inp in zip(block.args, inputs):
            arg.name_hint = _sanitize(inp.name)
            scope.values[inp.name] = arg
        self._add_initializers(graph, scope)
        self._import_nodes(graph, scope)
        results = [self._value(o.name, scope, what=f"graph output '{o.name}'") for o in graph.output]
        block.add_op(func.ReturnOp(*results))
        fn = func.FuncOp("main", ([a.type for a in block.args], [r.type for r in results]), Region(block))
        fn.attributes["lstmc.input_names"] = ArrayAttr([StringAttr(i.name) for i in inputs])
        fn.attributes["lstmc.output_names"] = ArrayAttr([StringAttr(o.name) for o in graph.output])
        module = ModuleOp([fn])
        try:
            module.verify()
        except VerifyException as e:  # an importer bug or an inconsistent model: say which
            raise LstmcError(f"the imported IR does not verify: {e}") from e
        return module

    def _add_initializers(self, graph: onnx.GraphProto, scope: _Scope) -> None:
        for init in graph.initializer:
            try:
                scope.consts[init.name] = numpy_helper.to_array(init)
            except Exception as e:  # external data missing, corrupt raw data
                raise LstmcError(f"initializer '{init.name}' cannot be read: {e}") from e

    def _import_nodes(self, graph: onnx.GraphProto, scope: _Scope) -> None:
        for node in graph.node:
            extension = EXTENSIONS.get((node.domain if node.domain != "ai.onnx" else "", node.op_type))
            if extension is not None:
                try:
                    module = importlib.import_module(extension)
                except ModuleNotFoundError as e:
                    raise node_error(node, "this operator is not supported yet") from e
                module.import_node(self, node, scope)
                continue
            if node.domain not in ("", "ai.onnx") + QONNX_DOMAINS:
                raise node_error(node, f"operator domain '{node.domain}' is not supported")
            handler = self.handlers.get(node.op_type)
            if handler is None or (node.domain in QONNX_DOMAINS) != (node.op_type == "Quant"):
                supported = ", ".join(sorted(set(self.handlers) | {op for _, op in EXTENSIONS}))
                raise node_error(node, f"unsupported operator (lstmc imports: {supported})")
            handler(node, scope)

    # ---------------------------------------------------------------------------------------------------- lookups
    def _const(self, name: str, scope: _Scope, node: onnx.NodeProto, what: str) -> np.ndarray:
        value = scope.lookup(name, "consts")
        if value is None:
            if scope.lookup(name, "values") is not None or scope.lookup(name, "pending") is not None:
                raise node_error(node, f"{what} '{name}' must be a constant (initializer or Constant node)")
            raise node_error(node, f"{what} '{name}' is not defined (missing initializer?)")
        if np.asarray(value).dtype.kind not in "biuf":  # strings, complex: nothing here reads them
            raise node_error(node, f"{what} '{name}' has element type {np.asarray(value).dtype}, expected numbers")
        return value

    def _value(self, name: str, scope: _Scope, node: onnx.NodeProto | None = None, what: str = "input") -> SSAValue:
        value = scope.lookup(name, "values")
        if value is not None:
            return value
        const = scope.lookup(name, "consts")
        if const is not None:
            return self._materialize(name, const, scope)
        pending = scope.lookup(name, "pending")
        if pending is not None:
            msg = f"uses the integer output '{name}' of QuantizeLinear '{pending.node.name}' directly"
            msg += "; lstmc supports integer tensors only inside QuantizeLinear -> Clip -> DequantizeLinear"
            if node is None:
                raise LstmcError(f"{what} {msg}")
            raise node_error(node, msg)
        if node is None:
            raise LstmcError(f"{what} is not produced by any node")
        raise node_error(node, f"{what} '{name}' is not defined (missing initializer or producer)")

    def constant_operand(self, name: str, scope: _Scope, node: onnx.NodeProto, what: str):
        """(float values, quantizer or None, SSA value read or None) of a constant input: an initializer or
        Constant, or the quantized constant a QCDQ chain / QONNX Quant of one made (its quantizer is kept)."""
        array = scope.lookup(name, "consts")
        if array is not None:
            return np.asarray(array, np.float32), None, None
        value = self._value(name, scope, node, what)
        op = value.owner
        if isinstance(op, qrnn.ConstantOp):
            return array_from_dense(op.value).astype(np.float32), None, value
        if isinstance(op, qrnn.QuantOp) and isinstance(op.input.owner, qrnn.ConstantOp):
            return array_from_dense(op.input.owner.value).astype(np.float32), op.quant, value
        raise node_error(node, f"{what} '{name}' must be a constant: an initializer, or a quantizer (QCDQ, Quant) of one")

    def drop_if_unused(self, value: SSAValue | None, scope: _Scope, node: onnx.NodeProto) -> None:
        """Erase the constant (and its quantizer) a node read as a constant if nothing else uses it."""
        if value is None or scope.parent is not None or value.uses:
            return
        graph = self.model.graph
        names = [k for k, v in scope.values.items() if v is value]
        if any(n in other.input for other in graph.node if other is not node for n in names) or \
                any(o.name in names for o in graph.output):
            return
        while value is not None and not value.uses and isinstance(value.owner, (qrnn.QuantOp, qrnn.ConstantOp)):
            for key in [k for k, v in scope.values.items() if v is value]:
                del scope.values[key]  # a cached constant of an initializer is re-made on demand
            op = value.owner
            value = op.input if isinstance(op, qrnn.QuantOp) else None
            op.detach()
            op.erase()

    def _materialize(self, name: str, array: np.ndarray, scope: _Scope) -> SSAValue:
        if array.dtype.kind not in "fiub":
            raise LstmcError(f"constant '{name}' has unsupported dtype {array.dtype}")
        op = qrnn.ConstantOp(dense_from_array(np.asarray(array, dtype=np.float32)))
        op.result.name_hint = _sanitize(name)
        scope.block.add_op(op)
        scope.values[name] = op.result  # reuse within this block
        return op.result

    def _define(self, name: str, value: SSAValue, scope: _Scope) -> None:
        if not value.name_hint:
            value.name_hint = _sanitize(name)
        scope.values[name] = value

    def _inputs(self, node: onnx.NodeProto, scope: _Scope, count: int | None = None) -> list[SSAValue]:
        names = list(node.input if count is None else node.input[:count])
        return [self._value(n, scope, node) for n in names]

    def _add(self, op, scope: _Scope):
        scope.block.add_op(op)
        return op

    # ---------------------------------------------------------------------------------------------------- quantizers
    def _quant_attr(self, node, scale, zero_point, axis, lo, hi, rounding, shape) -> qrnn.QuantAttr:
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
            raise node_error(node, f"quantizer scale {scale.max():g} times its integer range [{lo}, {hi}] overflows "
                                   "float32")
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

    def _check_qdq_params(self, node, scale: np.ndarray, zp: np.ndarray | None) -> None:
        """onnxruntime's rules for a QuantizeLinear/DequantizeLinear scale and zero point (PrepareForQDQ): float32
        scale (lstmc computes in float32); per tensor, both are scalars or 1-element vectors; per axis, both are
        1-D of one size (the axis size is checked with the input's shape in _quant_attr)."""
        scale = np.asarray(scale)
        if scale.dtype != np.float32:
            raise node_error(node, f"scale '{node.input[1]}' has element type {scale.dtype}; lstmc supports float32 scales")
        flat = scale.reshape(-1)
        if flat.size and (not np.all(np.isfinite(flat)) or np.any(flat < np.finfo(np.float32).tiny)):
            bad = flat[~np.isfinite(flat) | (flat < np.finfo(np.float32).tiny)][0]
            raise node_error(node, f"scale '{node.input[1]}' contains {float(bad):g}; a scale must be a finite, "
                                   "positive, normal float32")
        if scale.ndim > 1 or scale.size == 0:
            raise node_error(node, f"scale '{node.input[1]}' has shape {list(scale.shape)}; expected a scalar (per "
                                   "tensor) or a 1-D vector (per axis; blocked quantization is not supported)")
        if zp is None:
            return
        zp = np.asarray(zp)
        per_tensor = scale.size == 1
        if (per_tensor and (zp.size != 1 or zp.ndim > 1)) or (not per_tensor and zp.shape != scale.shape):
            raise node_error(node, f"zero point '{node.input[2]}' has shape {list(zp.shape)}, which does not match "
                                   f"scale '{node.input[1]}' of shape {list(scale.shape)}")

    def _quantize_linear(self, node, scope):
        if len(node.input) < 2:
            raise node_error(node, "QuantizeLinear needs a scale input")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("block_size", 0):
            raise node_error(node, "blocked quantization (block_size) is not supported")
        if attrs.get("saturate", 1) != 1:
            raise node_error(node, "saturate=0 is not supported")
        if attrs.get("precision", 0) not in (0, onnx.TensorProto.FLOAT):
            raise node_error(node, f"precision {dtype_name(attrs['precision'])} is not supported (lstmc divides by "
                                   "the scale in float32)")
        scale = self._const(node.input[1], scope, node, "scale")
        if len(node.input) > 2 and node.input[2]:
            zp_array = self._const(node.input[2], scope, node, "zero point")
            qtype = onnx.helper.np_dtype_to_tensor_dtype(zp_array.dtype)
        else:
            zp_array = np.zeros((), np.int64)
            qtype = attrs.get("output_dtype", onnx.TensorProto.UINT8) or onnx.TensorProto.UINT8
        self._check_qdq_params(node, scale, zp_array if len(node.input) > 2 and node.input[2] else None)
        if qtype not in _QTYPES or qtype == onnx.TensorProto.INT32:
            raise node_error(node, f"quantized type {dtype_name(qtype)} is not supported")
        bits, signed = _QTYPES[qtype]
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        axis = attrs.get("axis", 1) if np.asarray(scale).size > 1 else None
        source = node.input[0]
        if scope.lookup(source, "values") is None and scope.lookup(source, "consts") is None:
            self._value(source, scope, node)  # raises the right error
        if axis is not None:  # the axis must fit the input here, not only at the DequantizeLinear
            const = scope.lookup(source, "consts")
            shape = np.shape(const) if const is not None else _shape(self._value(source, scope, node))
            self._quant_attr(node, scale, zp_array.astype(np.int64), axis, lo, hi, "half_even", shape)
            axis = axis + len(shape) if axis < 0 else axis
        scope.pending[node.output[0]] = _Pending(source, scale, zp_array.astype(np.int64), axis, lo, hi, node)

    def _clip(self, node, scope):
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
                bound = np.asarray(self._const(node.input[i], scope, node, key))
                if bound.size != 1 or bound.ndim > 1:  # onnxruntime: "min should be a scalar"
                    raise node_error(node, f"{key} '{node.input[i]}' has shape {list(bound.shape)}; Clip bounds are scalars")
                bounds.append(int(bound.reshape(())))
            elif key in attrs:
                bounds.append(int(attrs[key]))
            else:
                bounds.append(None)
        new_lo = lo if bounds[0] is None else max(lo, bounds[0])
        new_hi = hi if bounds[1] is None else min(hi, bounds[1])
        if new_lo > new_hi:
            raise node_error(node, f"Clip range [{bounds[0]}, {bounds[1]}] leaves no value of the integer type")
        scope.pending[node.output[0]] = _Pending(
            pending.source, pending.scale, pending.zero_point, pending.axis, new_lo, new_hi, node
        )

    def _dequantize_linear(self, node, scope):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if len(node.input) < 2:
            raise node_error(node, "DequantizeLinear needs a scale input")
        if attrs.get("block_size", 0):  # onnxruntime dequantizes by blocks; lstmc would not
            raise node_error(node, "blocked quantization (block_size) is not supported")
        if attrs.get("output_dtype", 0) not in (0, onnx.TensorProto.FLOAT):
            raise node_error(node, f"output_dtype {dtype_name(attrs['output_dtype'])} is not supported (lstmc "
                                   "computes in float32)")
        scale = self._const(node.input[1], scope, node, "scale")
        has_zp = len(node.input) > 2 and node.input[2]
        zp = self._const(node.input[2], scope, node, "zero point") if has_zp else np.zeros((), np.int64)
        self._check_qdq_params(node, scale, zp if has_zp else None)
        zp = zp.astype(np.int64)
        axis = attrs.get("axis", 1) if np.asarray(scale).size > 1 else None
        pending = scope.lookup(node.input[0], "pending")
        if pending is not None:
            if not _same_values(pending.zero_point, zp):
                raise node_error(
                    node, f"zero point differs from that of QuantizeLinear '{pending.node.name}'; lstmc supports a "
                    "Q -> DQ pair with different scales but one zero point"
                )
            source = self._value(pending.source, scope, node)
            rank = len(_shape(source))
            dq_axis = None if axis is None else axis + rank if axis < 0 else axis
            if None not in (dq_axis, pending.axis) and dq_axis != pending.axis:
                raise node_error(node, f"axis {axis} differs from axis {pending.axis} of QuantizeLinear "
                                       f"'{pending.node.name}'")
            attr = self._quant_attr(node, scale, zp, axis, pending.lo, pending.hi, "half_even", _shape(source))
            if _same_values(np.asarray(pending.scale, np.float32), np.asarray(scale, np.float32)):
                op = self._add(qrnn.QuantOp(source, attr), scope)
            else:  # a requantization: codes on the QuantizeLinear's scale, values on this node's
                # one integer grid: if either side is per channel, both are, along that axis
                grid_axis = pending.axis if pending.axis is not None else dq_axis
                shape = _shape(source)
                n = 1 if grid_axis is None else shape[grid_axis]
                if np.asarray(scale).size not in (1, n):
                    raise node_error(node, f"{np.asarray(scale).size} scales for axis {grid_axis} of size {n}")
                q_scale, dq_scale, grid_zp = (np.broadcast_to(np.asarray(v).reshape(-1), (n,))
                                              for v in (np.asarray(pending.scale, np.float32), scale, zp))
                q_attr = self._quant_attr(pending.node, q_scale, grid_zp, grid_axis, pending.lo, pending.hi,
                                          "half_even", shape)
                attr = self._quant_attr(node, dq_scale, grid_zp, grid_axis, pending.lo, pending.hi, "half_even", shape)
                op = self._add(qrnn.QuantDequantOp(source, q_attr, attr), scope)
            self._define(node.output[0], op.result, scope)
            return
        # DequantizeLinear of an integer initializer (pre-quantized weights, int32 biases).
        codes = self._const(node.input[0], scope, node, "quantized input")
        if codes.dtype.kind not in "iu":
            raise node_error(node, f"DequantizeLinear input must be an integer tensor, got {codes.dtype}")
        bits = codes.dtype.itemsize * 8
        signed = codes.dtype.kind == "i"
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        attr = self._quant_attr(node, scale, zp, axis, lo, hi, "half_even", codes.shape)
        q = _params(attr)
        if codes.dtype == np.int32:  # onnxruntime subtracts in int32: a code - zero point overflow wraps around
            centred = codes.astype(np.int64) - numerics.channel_values(q.zero_point, q.axis, codes.ndim, np.int64)
            wrapped = (centred < -(2**31)) | (centred >= 2**31)
            if np.any(wrapped):
                zps = q.zero_point[0] if len(set(q.zero_point)) == 1 else list(q.zero_point)[:4]
                raise node_error(node, f"zero point {zps} of int32 input '{node.input[0]}': code - zero point "
                                       f"overflows int32 for {int(wrapped.sum())} of {codes.size} codes (onnxruntime "
                                       "wraps it around)")
        values = numerics.dequantize(codes.astype(np.int64), q)
        const = self._materialize(node.output[0], values, scope)
        # Keep the quantizer when re-quantizing the float values reproduces them (always, unless huge codes
        # do not fit float32): later passes recover the integers from it.
        if np.array_equal(numerics.fake_quant(values, q), values):
            op = self._add(qrnn.QuantOp(const, attr), scope)
            self._define(node.output[0], op.result, scope)

    def _qonnx_quant(self, node, scope):
        if len(node.input) != 4:
            raise node_error(node, "Quant needs 4 inputs (x, scale, zeropt, bitwidth)")
        const = scope.lookup(node.input[0], "consts")
        if const is not None and np.asarray(const).dtype != np.float32:  # would be rounded to float32 silently
            raise node_error(node, f"input '{node.input[0]}' has element type {np.asarray(const).dtype}; QONNX Quant "
                                   "takes float32")
        source = self._value(node.input[0], scope, node)
        shape = _shape(source)
        scale, zp, bits, signed, narrow, mode = quant_parameters(
            node, *(self._const(node.input[i], scope, node, what) for i, what in
                    ((1, "scale"), (2, "zero point"), (3, "bit width"))))
        # QONNX broadcasts scale and zero point against x; the result must keep x's shape.
        try:
            per_shape = np.broadcast_shapes(scale.shape, zp.shape)
            out_shape = np.broadcast_shapes(per_shape, shape)
        except ValueError:
            out_shape = None
        if out_shape != tuple(shape):
            raise node_error(node, f"scale '{node.input[1]}' {list(scale.shape)} and zero point '{node.input[2]}' "
                                   f"{list(zp.shape)} do not broadcast to the input's shape {list(shape)}")
        axis = None
        if scale.size > 1 or zp.size > 1:
            big = [i for i, d in enumerate(per_shape) if d > 1]
            if len(big) != 1:
                raise node_error(node, f"scale of shape {list(per_shape)} is neither per-tensor nor per-channel")
            axis = big[0] + len(shape) - len(per_shape)
            scale = np.broadcast_to(scale, per_shape)
            zp = np.broadcast_to(zp, per_shape)
        lo, hi = _int_range(bits, signed, narrow)
        attr = self._quant_attr(node, scale, zp, axis, lo, hi, mode, shape)
        op = self._add(qrnn.QuantOp(source, attr), scope)
        self._define(node.output[0], op.result, scope)

    # ---------------------------------------------------------------------------------------------------- compute
    def _binary(self, node, scope):
        a, b = self._inputs(node, scope, 2)
        shape = qrnn.broadcast_shapes(_shape(a), _shape(b))
        if shape is None:
            raise node_error(node, f"operand shapes {list(_shape(a))} and {list(_shape(b))} do not broadcast")
        op = self._add(_ELEMENTWISE[node.op_type](a, b, _tensor_type(shape)), scope)
        self._define(node.output[0], op.result, scope)

    def _unary(self, node, scope):
        (a,) = self._inputs(node, scope, 1)
        op = self._add(_UNARY[node.op_type](a), scope)
        self._define(node.output[0], op.result, scope)

    def _matmul(self, node, scope):
        a, b = self._inputs(node, scope, 2)
        shape = qrnn.matmul_shape(_shape(a), _shape(b))
        if shape is None:
            raise node_error(
                node, f"MatMul of shapes {list(_shape(a))} and {list(_shape(b))} is not a rank-1/2 product lstmc supports"
            )
        op = self._add(qrnn.MatMulOp(a, b, _tensor_type(shape)), scope)
        self._define(node.output[0], op.result, scope)

    def _identity(self, node, scope):
        if scope.lookup(node.input[0], "pending") is not None:
            scope.pending[node.output[0]] = scope.lookup(node.input[0], "pending")
            return
        self._define(node.output[0], self._value(node.input[0], scope, node), scope)

    def _constant(self, node, scope):
        attr = next((a for a in node.attribute if a.name == "value"), None)
        if attr is None:
            raise node_error(node, "only Constant nodes with a 'value' tensor are supported")
        scope.consts[node.output[0]] = numpy_helper.to_array(attr.t)

    def _concat(self, node, scope):
        values = self._inputs(node, scope)
        axis = next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), None)
        if axis is None:
            raise node_error(node, "Concat needs an axis attribute")
        rank = len(_shape(values[0]))
        axis = axis + rank if axis < 0 else axis
        shapes = [_shape(v) for v in values]
        if not 0 <= axis < rank or any(len(s) != rank for s in shapes):
            raise node_error(node, f"cannot concatenate shapes {[list(s) for s in shapes]} along axis {axis}")
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        op = self._add(qrnn.ConcatOp(values, axis, _tensor_type(out)), scope)
        self._define(node.output[0], op.result, scope)

    def _reshape(self, node, scope):
        x = self._value(node.input[0], scope, node)
        shape = list(_shape(x))
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        second = self._const(node.input[1], scope, node, "shape/axes") if len(node.input) > 1 and node.input[1] else None
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
        op = self._add(qrnn.ReshapeOp(x, _tensor_type(target)), scope)
        self._define(node.output[0], op.result, scope)

    def _transpose(self, node, scope):
        x = self._value(node.input[0], scope, node)
        rank = len(_shape(x))
        perm = next((list(onnx.helper.get_attribute_value(a)) for a in node.attribute if a.name == "perm"),
                    list(reversed(range(rank))))
        if sorted(perm) != list(range(rank)):
            raise node_error(node, f"perm {perm} is not a permutation of {rank} axes")
        op = self._add(qrnn.TransposeOp(x, perm), scope)
        self._define(node.output[0], op.result, scope)

    def _gather(self, node, scope):
        """Gather of constant indices along axis 0 (e.g. the last step of a sequence): data movement, one slice
        of the flattened tensor per index."""
        x = self._value(node.input[0], scope, node)
        shape = list(_shape(x))
        indices = np.asarray(self._const(node.input[1], scope, node, "indices")).astype(np.int64)
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
        flat = self._add(qrnn.ReshapeOp(x, _tensor_type((size * row,))), scope).result
        rows = [self._add(qrnn.SliceOp(flat, int(i) * row, row), scope).result for i in flat_idx]
        out = rows[0] if len(rows) == 1 else self._add(qrnn.ConcatOp(rows, 0, _tensor_type((len(rows) * row,))), scope).result
        op = self._add(qrnn.ReshapeOp(out, _tensor_type(list(indices.shape) + rest)), scope)
        self._define(node.output[0], op.result, scope)

    # ---------------------------------------------------------------------------------------------------- Scan
    def _scan(self, node, scope):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if self.opset < 9:
            raise node_error(node, "Scan from opset < 9 (with sequence_lens) is not supported")
        body: onnx.GraphProto = attrs["body"]
        n_scan_in = attrs["num_scan_inputs"]
        n_state = len(node.input) - n_scan_in
        n_scan_out = len(body.output) - n_state
        if n_state < 0 or n_scan_out < 0 or len(body.input) != len(node.input):
            raise node_error(node, "inconsistent numbers of state variables, scan inputs and body inputs/outputs")
        in_dirs = list(attrs.get("scan_input_directions", [0] * n_scan_in))
        out_dirs = list(attrs.get("scan_output_directions", [0] * n_scan_out))
        for key, values, count in (("scan_input_directions", in_dirs, n_scan_in),
                                   ("scan_output_directions", out_dirs, n_scan_out)):
            if len(values) != count:
                raise node_error(node, f"{key} has {len(values)} entries for {count} scan {key.split('_')[1]}s")
        if any(d not in (0, 1) for d in in_dirs + out_dirs):
            raise node_error(node, "scan directions must be 0 (forward) or 1 (reverse)")
        operands = self._inputs(node, scope)
        init, seqs = operands[:n_state], operands[n_state:]
        self._check_scan_axes(node, attrs, "scan_input_axes", [len(_shape(s)) for s in seqs])
        lengths = {_shape(s)[0] if _shape(s) else None for s in seqs}
        if len(lengths) != 1 or None in lengths:
            raise node_error(node, f"scan inputs must share one sequence length, got shapes {[list(_shape(s)) for s in seqs]}")
        (steps,) = lengths
        arg_types = [v.type for v in init] + [_tensor_type(_shape(s)[1:]) for s in seqs]
        body_block = Block(arg_types=arg_types)
        body_scope = _Scope(body_block, parent=scope)
        for arg, inp in zip(body_block.args, body.input):
            arg.name_hint = _sanitize(inp.name)
            body_scope.values[inp.name] = arg
        self._add_initializers(body, body_scope)
        self._import_nodes(body, body_scope)
        yielded = [self._value(o.name, body_scope, what=f"Scan '{node.name}' body output '{o.name}'") for o in body.output]
        self._check_scan_axes(node, attrs, "scan_output_axes", [len(_shape(y)) + 1 for y in yielded[n_state:]])
        for i, (v, y) in enumerate(zip(init, yielded[:n_state])):
            if v.type != y.type:
                raise node_error(node, f"state {i} enters as {list(_shape(v))} but the body yields {list(_shape(y))}")
        body_block.add_op(qrnn.YieldOp(*yielded))
        out_types = [_tensor_type((steps, *_shape(y))) for y in yielded[n_state:]]
        op = self._add(qrnn.RecurrenceOp(init, seqs, out_types, in_dirs, out_dirs, Region(body_block)), scope)
        # stable name for folding configs and reports
        op.attributes["lstmc.onnx_node"] = StringAttr(node.name or f"scan_{'_'.join(node.output)}")
        for name, res in zip(node.output, op.results):
            if name:
                self._define(name, res, scope)

    @staticmethod
    def _check_scan_axes(node, attrs, key: str, ranks: list[int]) -> None:
        """Scan axes must all be 0 (negative axes count from the back of a tensor of the given rank)."""
        axes = [int(a) for a in attrs.get(key, [0] * len(ranks))]
        if len(axes) != len(ranks):
            raise node_error(node, f"{key} has {len(axes)} entries for {len(ranks)} scan {key.split('_')[1]}s")
        if any(a + r if a < 0 else a for a, r in zip(axes, ranks)):
            raise node_error(node, f"{key} {axes} are not supported: lstmc scans along axis 0 (time must be the "
                                   "leading axis)")


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
        raise node_error(node, f"scale '{node.input[1]}' has element type {scale.dtype}; QONNX Quant scales are float32")
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
        raise node_error(node, f"scale '{node.input[1]}' contains {float(flat[bad][0]):g}; a scale must be a finite, "
                               "positive, normal float32")
    flat = zp.reshape(-1)
    if not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat)):
        raise node_error(node, f"zero point must be a finite integer, got {flat.tolist()[:4]}")
    lo, hi = _int_range(bits, signed, narrow)
    if np.any((flat < lo) | (flat > hi)):
        raise node_error(node, f"zero point {flat[(flat < lo) | (flat > hi)][0]:.0f} is outside the integer range "
                               f"[{lo}, {hi}]")
    return scale, zp, bits, signed, narrow, _ROUNDING[mode.upper()]


def _params(attr: qrnn.QuantAttr) -> numerics.QuantParams:
    from lstmc.numerics import quant_params

    return quant_params(attr)


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


def import_model(model: onnx.ModelProto) -> ModuleOp:
    from lstmc.frontend.brevitas_cell import expand_quant_lstm_cells

    return OnnxImporter(expand_quant_lstm_cells(model)).run()
