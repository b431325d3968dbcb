"""Frontends: read a model file and import it into the qrnn dialect.

The public importer API. Inside the package, modules import one way (each from the ones before it):
  model.py        reading and checking ONNX models, graph utilities (no IR)
  scope.py        what the per-op importers share: name scopes, value names and shapes, node errors
  brevitas_cell   Brevitas QuantLSTMCell nodes -> Scan/QCDQ (an ONNX-to-ONNX rewrite)
  onnx_quant.py, onnx_ops.py, onnx_rnn.py, onnx_conv.py
                  the per-operator handlers: quantizers; compute, data movement and Scan; LSTM/GRU; Conv
  onnx_import.py  the importer (OnnxImporter, import_model): the graph walk and the dispatch to the handlers
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp

from lstmc.frontend.model import (
    ORT_OPSETS,
    bind_sequence_length,
    dtype_name,
    graph_constants,
    load_onnx,
    load_onnx_bytes,
    remove_unused,
    static_shape,
)

__all__ = [
    "ORT_OPSETS",
    "bind_sequence_length",
    "dtype_name",
    "graph_constants",
    "import_model",
    "import_onnx_file",
    "load_onnx",
    "load_onnx_bytes",
    "remove_unused",
    "static_shape",
]


def import_model(model) -> ModuleOp:
    """An ONNX model (static shapes) as a qrnn-dialect module (lstmc/frontend/onnx_import.py)."""
    from lstmc.frontend.onnx_import import (
        import_model as run_import,  # imported on use: xDSL IR building
    )

    return run_import(model)


def import_onnx_file(path: str, seq_len: int | None = None) -> ModuleOp:
    return import_model(bind_sequence_length(load_onnx(path), seq_len))
