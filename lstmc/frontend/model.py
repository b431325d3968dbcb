"""Reading and checking ONNX models, and the graph utilities the frontends share (no IR is built here).

The public entry points are re-exported by `lstmc.frontend`."""

from __future__ import annotations

import os
import re

import numpy as np
import onnx
import onnx.external_data_helper
import onnx.shape_inference
from google.protobuf.message import DecodeError

from lstmc.errors import LstmcError


def load_onnx(path: str) -> onnx.ModelProto:
    """Read and check an ONNX file; every failure is an LstmcError naming the file and the problem."""
    if not os.path.exists(path):
        raise LstmcError(f"{path}: no such file")
    if os.path.isdir(path):
        raise LstmcError(f"{path}: is a directory, expected an .onnx file")
    with open(path, "rb") as f:
        data = f.read()
    return load_onnx_bytes(data, path, base_dir=os.path.dirname(os.path.abspath(path)))


def load_onnx_bytes(data: bytes, label: str, base_dir: str | None = None) -> onnx.ModelProto:
    try:
        model = onnx.ModelProto.FromString(data)
    except DecodeError as e:
        raise LstmcError(f"{label}: not a valid ONNX model (protobuf cannot decode it: {str(e).strip()})") from e
    except Exception as e:  # protobuf raises assorted errors on garbage
        raise LstmcError(f"{label}: not a valid ONNX model ({type(e).__name__})") from e
    _check_strings(model, label)
    if model.HasField("graph") and not model.graph.node and model.graph.output:
        _refuse_constant_graph(model, label)
    if not model.HasField("graph") or not model.graph.node:
        raise LstmcError(f"{label}: not an ONNX model with a graph (no nodes found)")
    if base_dir is not None:
        try:
            onnx.external_data_helper.load_external_data_for_model(model, base_dir)
        except Exception as e:
            raise LstmcError(f"{label}: cannot load external tensor data ({e})") from e
    _check_defined(model.graph, set())
    _check_initializers(model.graph, label)
    _check_opsets(model, label)
    # full_check adds type checking and strict shape inference (onnx.shape_inference) to the structural checks:
    # it catches e.g. float64 weights of a QuantizeLinear and Scan axes/inputs that disagree, which onnxruntime
    # refuses as well. Nodes of custom domains (qonnx Quant, QuantLSTMCell) have no schema and pass unchecked.
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, ValueError) as e:
        raise LstmcError(f"{label}: the ONNX model is invalid: {_one_line(str(e))}") from e
    return model


def _check_strings(message, label: str, where: str = "the model") -> None:
    """Every string field must be valid UTF-8: protobuf hands an invalid one (e.g. a flipped bit in a name) back
    as bytes, which nothing downstream expects."""
    for field, value in message.ListFields():
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        values = value if repeated else [value]
        if field.type == field.TYPE_STRING:
            if any(isinstance(v, bytes) for v in values):
                raise LstmcError(f"{label}: not a valid ONNX model ({field.name} of {where} is not valid UTF-8)")
        elif field.type == field.TYPE_MESSAGE:
            for v in values:
                name = getattr(v, "name", None)
                inner = f"{field.name} '{name}'" if isinstance(name, str) and name else f"a {field.name} in {where}"
                _check_strings(v, label, inner)


def dtype_name(data_type: int) -> str:
    """The TensorProto.DataType name of an element type, also for numbers no enum value has."""
    try:
        return onnx.TensorProto.DataType.Name(data_type)
    except ValueError:
        return f"<unknown type {data_type}>"


def _check_initializers(graph: onnx.GraphProto, label: str) -> None:
    """An initializer has a known element type and agrees with its graph-input/value_info declaration (the
    checker's messages for these name no value, or it misses them in graphs of custom operators)."""
    declared = {v.name: v for v in list(graph.input) + list(graph.value_info)}
    for init in graph.initializer:
        if init.data_type == onnx.TensorProto.UNDEFINED or dtype_name(init.data_type).startswith("<"):
            raise LstmcError(f"{label}: initializer '{init.name}' has an invalid element type {init.data_type}")
        info = declared.get(init.name)
        if info is None or not info.type.HasField("tensor_type"):
            continue
        tt = info.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if tt.elem_type and tt.elem_type != init.data_type:
            raise LstmcError(
                f"{label}: initializer '{init.name}' has element type {dtype_name(init.data_type)} but "
                f"is declared {dtype_name(tt.elem_type)}"
            )
        if tt.HasField("shape") and (
            len(dims) != len(init.dims) or any(d is not None and d != i for d, i in zip(dims, init.dims))
        ):
            raise LstmcError(
                f"{label}: initializer '{init.name}' has shape {list(init.dims)} but is declared "
                f"{['?' if d is None else d for d in dims]}"
            )
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _check_initializers(attr.g, label)


# ai.onnx opsets of onnxruntime 1.32, lstmc's reference: below 7 it has no kernels, above 28 it refuses the model
# ("under development"), and it has no kernel for the opset-28 schema of QuantizeLinear/DequantizeLinear.
ORT_OPSETS = (7, 28)
_ORT_LAST_OPSET = {"QuantizeLinear": 27, "DequantizeLinear": 27}


def _check_opsets(model: onnx.ModelProto, label: str) -> None:
    versions = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    version = versions.get("ai.onnx")
    if version is None:
        return  # the checker says what is missing
    lo, hi = ORT_OPSETS
    if not lo <= version <= hi:
        raise LstmcError(
            f"{label}: ai.onnx opset {version} is not supported (onnxruntime 1.32, the reference, runs "
            f"opsets {lo}..{hi})"
        )

    def visit(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            last = _ORT_LAST_OPSET.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            if last is not None and version > last:
                name = f"node '{node.name}'" if node.name else f"unnamed node producing '{', '.join(node.output)}'"
                raise LstmcError(
                    f"{label}: {name} ({node.op_type}): onnxruntime 1.32 has no {node.op_type} for "
                    f"opset {version} (at most {last})"
                )
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)

    visit(model.graph)


def _one_line(message: str) -> str:
    """A checker/shape-inference message on one line, naming the node its context line names."""
    text, _, context = message.strip().partition("==> Context:")
    text = " ".join(text.split()).replace("[ShapeInferenceError] Inference error(s): ", "") or "invalid model"
    node = re.search(r"Bad node spec for node\. Name: (.*?) OpType: (\S+)", context)
    if node:
        text += f" (in node '{node.group(1)}' ({node.group(2)}))"
    return text


def _refuse_constant_graph(model: onnx.ModelProto, label: str) -> None:
    """A graph with no nodes whose outputs are initializers: what Brevitas' export_qonnx(dynamo=True) writes
    for a QuantLSTM (it drops the recurrence and bakes one run's results in as constants)."""
    constants = {i.name for i in model.graph.initializer}
    if all(o.name in constants for o in model.graph.output):
        raise LstmcError(
            f"{label}: the graph has no operators and its outputs are constants, which is what Brevitas' "
            "export_qonnx(dynamo=True) writes for a QuantLSTM: the LSTM was dropped at export. Re-export with lstmc.export.export_quant_lstm (Scan/QCDQ) or export_qonnx(..., dynamo=False)"
        )


def _check_defined(graph: onnx.GraphProto, outer: set[str]) -> None:
    """Every node input must be a graph input, an initializer, an earlier node's output or an outer name.

    Checked before onnx.checker, whose message for this ("must be topologically sorted") misleads.
    """
    known = set(outer) | {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    for node in graph.node:
        for name in node.input:
            if name not in known:
                label = f"node '{node.name}'" if node.name else f"node producing '{node.output[0]}'"
                raise LstmcError(
                    f"{label} ({node.op_type}): input '{name}' is not defined (missing initializer, graph input "
                    "or producing node)"
                )
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _check_defined(attr.g, known)
        known.update(node.output)


def graph_constants(graph: onnx.GraphProto) -> dict:
    """name -> numpy array of every initializer and Constant node (value attribute) of a graph."""
    from onnx import numpy_helper

    def read(tensor: onnx.TensorProto, name: str):
        try:
            return numpy_helper.to_array(tensor)
        except Exception as e:  # unknown data type, raw data of the wrong size
            raise LstmcError(f"constant '{name}' cannot be read: {type(e).__name__}: {e}") from e

    consts = {i.name: read(i, i.name) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                consts[node.output[0]] = read(value, node.output[0])
    return consts


def remove_unused(graph: onnx.GraphProto, op_types: set[str] | None = None) -> None:
    """Drop nodes (of `op_types`, or any) whose outputs nothing reads, repeatedly, then the initializers and
    initializer-backed graph inputs nothing reads. Subgraph (Scan body) inputs count as reads."""

    def reads(g: onnx.GraphProto) -> set[str]:
        names = set()
        for node in g.node:
            names.update(node.input)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    names |= reads(attr.g)
        return names

    def replace(field, kept) -> None:  # copies: protobuf elements must not outlive their deleted container
        kept = [type(m).FromString(m.SerializeToString()) for m in kept]
        del field[:]
        field.extend(kept)

    while True:
        used = reads(graph) | {o.name for o in graph.output}
        live = [
            n
            for n in graph.node
            if any(o in used for o in n.output) or (op_types is not None and n.op_type not in op_types)
        ]
        if len(live) == len(graph.node):
            break
        replace(graph.node, live)
    dropped = {i.name for i in graph.initializer if i.name not in used}
    replace(graph.initializer, [i for i in graph.initializer if i.name not in dropped])
    replace(graph.input, [i for i in graph.input if i.name not in dropped])


def bind_sequence_length(
    model: onnx.ModelProto, seq_len: int | None = None, arrays: dict | None = None, option: str = "--seq-len"
) -> onnx.ModelProto:
    """`model` specialized to one sequence length: every graph input whose leading axis (time, in every layout
    lstmc reads) is symbolic gets it from `arrays` (the run's inputs, one sequence or a batch with a leading
    axis) or else from `seq_len`. The model itself is returned when nothing is symbolic. Inputs sharing a
    named dimension must agree; a symbolic dimension on any other axis is an error (lstmc binds only T)."""
    initializers = {i.name for i in model.graph.initializer}
    bound: dict[str, tuple[int, str]] = {}  # dim_param -> (length, input that set it)
    todo = []
    for inp in model.graph.input:
        if inp.name in initializers or not inp.type.HasField("tensor_type"):
            continue
        dims = inp.type.tensor_type.shape.dim
        for axis, d in enumerate(dims):
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            if axis != 0:
                raise LstmcError(
                    f"graph input '{inp.name}' has a symbolic dimension '{d.dim_param or '?'}' "
                    f"at axis {axis}; lstmc binds only the sequence length (axis 0): export the model "
                    "with that dimension fixed"
                )
            if arrays is not None and inp.name in arrays:
                shape = np.shape(arrays[inp.name])
                length = shape[1] if len(shape) == len(dims) + 1 else shape[0] if shape else None
                where = f"the arrays of input '{inp.name}'"
            elif seq_len is not None:
                length, where = seq_len, option
            else:
                raise LstmcError(
                    f"graph input '{inp.name}' has a symbolic dimension '{d.dim_param or '?'}' "
                    f"(axis 0, the sequence length): give it with {option} N"
                )
            if not isinstance(length, int) or length < 1:
                raise LstmcError(f"graph input '{inp.name}': cannot take a sequence length from {where}")
            if d.dim_param:
                length0, who = bound.setdefault(d.dim_param, (length, where))
                if length0 != length:
                    raise LstmcError(
                        f"graph input '{inp.name}': sequence length '{d.dim_param}' is {length} from "
                        f"{where} but {length0} from {who}"
                    )
            todo.append((inp.name, length))
    if not todo:
        return model
    if seq_len is not None and arrays is not None:
        for name, length in todo:
            if length != seq_len:
                raise LstmcError(
                    f"{option} {seq_len} disagrees with input '{name}', whose sequences have {length} steps"
                )
    model = type(model).FromString(model.SerializeToString())
    lengths = dict(todo)
    for inp in model.graph.input:
        if inp.name in lengths:
            d = inp.type.tensor_type.shape.dim[0]
            d.Clear()
            d.dim_value = lengths[inp.name]
    return model


def static_shape(type_proto: onnx.TypeProto, what: str) -> tuple[int, ...]:
    """The static shape of a float32 tensor type (a graph input's), refused with `what` in the message."""
    if not type_proto.HasField("tensor_type"):
        raise LstmcError(f"{what} is not a tensor")
    tt = type_proto.tensor_type
    if tt.elem_type != onnx.TensorProto.FLOAT:
        raise LstmcError(f"{what} has element type {dtype_name(tt.elem_type)}; lstmc models take float32 tensors")
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
