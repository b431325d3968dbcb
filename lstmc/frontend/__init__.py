"""Frontends: read a model file and import it into the qrnn dialect."""

from __future__ import annotations

import os

import onnx
import onnx.external_data_helper
from google.protobuf.message import DecodeError
from xdsl.dialects.builtin import ModuleOp

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
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid model"
        raise LstmcError(f"{label}: the ONNX model is invalid: {first}") from e
    return model


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

    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                consts[node.output[0]] = numpy_helper.to_array(value)
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
        live = [n for n in graph.node
                if any(o in used for o in n.output) or (op_types is not None and n.op_type not in op_types)]
        if len(live) == len(graph.node):
            break
        replace(graph.node, live)
    dropped = {i.name for i in graph.initializer if i.name not in used}
    replace(graph.initializer, [i for i in graph.initializer if i.name not in dropped])
    replace(graph.input, [i for i in graph.input if i.name not in dropped])


def import_onnx_file(path: str) -> ModuleOp:
    from lstmc.frontend.onnx_import import import_model

    return import_model(load_onnx(path))
