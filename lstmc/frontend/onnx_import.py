"""ONNX -> qrnn import.

Op for op: every ONNX node becomes a qrnn op (or an alias), every quantizer is kept. QuantizeLinear ->
optional Clip -> DequantizeLinear chains and QONNX `Quant` nodes become one `qrnn.quant` each; a `Scan`
becomes a `qrnn.recurrence` whose body is imported the same way; Transpose and Gather (constant indices,
axis 0) are data movement. Integer tensors never become SSA values: a QuantizeLinear output is only legal as
the start of such a chain. Brevitas' QuantLSTMCell nodes are first rewritten into Scans (brevitas_cell.py).

This module is the importer's API (`import_model`, `OnnxImporter`); the operators are imported by handler
modules: onnx_quant.py (quantizers), onnx_ops.py (compute, data movement, Scan), onnx_rnn.py (LSTM/GRU) and
onnx_conv.py (Conv).

Shapes are computed here (not by onnx shape inference) so that every result type is known and static; a
model with symbolic dimensions is rejected with the name of the input (a symbolic sequence length is bound
first by `lstmc.frontend.bind_sequence_length`, from the run's inputs or `--seq-len`).
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr
from xdsl.ir import Block, Region, SSAValue
from xdsl.utils.exceptions import VerifyException

from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import qrnn
from lstmc.errors import LstmcError
from lstmc.frontend.model import static_shape
from lstmc.frontend.onnx_conv import import_node as import_conv
from lstmc.frontend.onnx_ops import HANDLERS as OP_HANDLERS
from lstmc.frontend.onnx_quant import HANDLERS as QUANT_HANDLERS
from lstmc.frontend.onnx_quant import QONNX_DOMAINS, quant_parameters  # noqa: F401 (re-exported)
from lstmc.frontend.onnx_rnn import import_node as import_rnn
from lstmc.frontend.scope import Scope, node_error, sanitize, tensor_type

# Operators whose import lives in another frontend module: (domain, op_type) -> its
# `import_node(importer: OnnxImporter, node, scope)`, which builds qrnn ops with the importer's helpers.
EXTENSIONS = {
    ("", "LSTM"): import_rnn,
    ("", "GRU"): import_rnn,
    ("", "Conv"): import_conv,
}
# every other operator: op_type -> handler(importer, node, scope)
HANDLERS = {**QUANT_HANDLERS, **OP_HANDLERS}


class OnnxImporter:
    """The import of one model: the graph walk, the names in scope, and the helpers the per-operator handlers
    build with (value, const, constant_operand, define, add, ...)."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}.get("ai.onnx", 0)

    # ----------------------------------------------------------------------------------------------------
    def run(self) -> ModuleOp:
        graph = self.model.graph
        if not graph.node:
            raise LstmcError("the ONNX graph has no nodes")
        initializer_names = {init.name for init in graph.initializer}
        inputs = [i for i in graph.input if i.name not in initializer_names]
        arg_types = [tensor_type(static_shape(i.type, f"graph input '{i.name}'")) for i in inputs]
        block = Block(arg_types=arg_types)
        scope = Scope(block)
        for arg, inp in zip(block.args, inputs):
            arg.name_hint = sanitize(inp.name)
            scope.values[inp.name] = arg
        self.add_initializers(graph, scope)
        self.import_nodes(graph, scope)
        results = [self.value(o.name, scope, what=f"graph output '{o.name}'") for o in graph.output]
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

    def add_initializers(self, graph: onnx.GraphProto, scope: Scope) -> None:
        for init in graph.initializer:
            try:
                scope.consts[init.name] = numpy_helper.to_array(init)
            except Exception as e:  # external data missing, corrupt raw data
                raise LstmcError(f"initializer '{init.name}' cannot be read: {e}") from e

    def import_nodes(self, graph: onnx.GraphProto, scope: Scope) -> None:
        for node in graph.node:
            extension = EXTENSIONS.get((node.domain if node.domain != "ai.onnx" else "", node.op_type))
            if extension is not None:
                extension(self, node, scope)
                continue
            if node.domain not in ("", "ai.onnx") + QONNX_DOMAINS:
                raise node_error(node, f"operator domain '{node.domain}' is not supported")
            handler = HANDLERS.get(node.op_type)
            if handler is None or (node.domain in QONNX_DOMAINS) != (node.op_type == "Quant"):
                supported = ", ".join(sorted(set(HANDLERS) | {op for _, op in EXTENSIONS}))
                raise node_error(node, f"unsupported operator (lstmc imports: {supported})")
            handler(self, node, scope)

    # ---------------------------------------------------------------------------------------------------- lookups
    def const(self, name: str, scope: Scope, node: onnx.NodeProto, what: str) -> np.ndarray:
        value = scope.lookup(name, "consts")
        if value is None:
            if scope.lookup(name, "values") is not None or scope.lookup(name, "pending") is not None:
                raise node_error(node, f"{what} '{name}' must be a constant (initializer or Constant node)")
            raise node_error(node, f"{what} '{name}' is not defined (missing initializer?)")
        if np.asarray(value).dtype.kind not in "biuf":  # strings, complex: nothing here reads them
            raise node_error(node, f"{what} '{name}' has element type {np.asarray(value).dtype}, expected numbers")
        return value

    def value(self, name: str, scope: Scope, node: onnx.NodeProto | None = None, what: str = "input") -> SSAValue:
        value = scope.lookup(name, "values")
        if value is not None:
            return value
        const = scope.lookup(name, "consts")
        if const is not None:
            return self.materialize(name, const, scope)
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

    def constant_operand(self, name: str, scope: Scope, node: onnx.NodeProto, what: str):
        """(float values, quantizer or None, SSA value read or None) of a constant input: an initializer or
        Constant, or the quantized constant a QCDQ chain / QONNX Quant of one made (its quantizer is kept)."""
        array = scope.lookup(name, "consts")
        if array is not None:
            return np.asarray(array, np.float32), None, None
        value = self.value(name, scope, node, what)
        op = value.owner
        if isinstance(op, qrnn.ConstantOp):
            return array_from_dense(op.value).astype(np.float32), None, value
        if isinstance(op, qrnn.QuantOp) and isinstance(op.input.owner, qrnn.ConstantOp):
            return array_from_dense(op.input.owner.value).astype(np.float32), op.quant, value
        raise node_error(
            node, f"{what} '{name}' must be a constant: an initializer, or a quantizer (QCDQ, Quant) of one"
        )

    def drop_if_unused(self, value: SSAValue | None, scope: Scope, node: onnx.NodeProto) -> None:
        """Erase the constant (and its quantizer) a node read as a constant if nothing else uses it."""
        if value is None or scope.parent is not None or value.uses:
            return
        graph = self.model.graph
        names = [k for k, v in scope.values.items() if v is value]
        if any(n in other.input for other in graph.node if other is not node for n in names) or any(
            o.name in names for o in graph.output
        ):
            return
        while value is not None and not value.uses and isinstance(value.owner, (qrnn.QuantOp, qrnn.ConstantOp)):
            for key in [k for k, v in scope.values.items() if v is value]:
                del scope.values[key]  # a cached constant of an initializer is re-made on demand
            op = value.owner
            value = op.input if isinstance(op, qrnn.QuantOp) else None
            op.detach()
            op.erase()

    def materialize(self, name: str, array: np.ndarray, scope: Scope) -> SSAValue:
        if array.dtype.kind not in "fiub":
            raise LstmcError(f"constant '{name}' has unsupported dtype {array.dtype}")
        op = qrnn.ConstantOp(dense_from_array(np.asarray(array, dtype=np.float32)))
        op.result.name_hint = sanitize(name)
        scope.block.add_op(op)
        scope.values[name] = op.result  # reuse within this block
        return op.result

    def define(self, name: str, value: SSAValue, scope: Scope) -> None:
        if not value.name_hint:
            value.name_hint = sanitize(name)
        scope.values[name] = value

    def inputs(self, node: onnx.NodeProto, scope: Scope, count: int | None = None) -> list[SSAValue]:
        names = list(node.input if count is None else node.input[:count])
        return [self.value(n, scope, node) for n in names]

    def add(self, op, scope: Scope):
        scope.block.add_op(op)
        return op


def import_model(model: onnx.ModelProto) -> ModuleOp:
    from lstmc.frontend.brevitas_cell import expand_quant_lstm_cells

    return OnnxImporter(expand_quant_lstm_cells(model)).run()
