"""What the per-operator importers (onnx_import, onnx_rnn, onnx_conv) share: the names visible in a graph,
SSA name hints and shapes of values, and errors that name the node."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import onnx
from xdsl.dialects.builtin import TensorType, f32
from xdsl.ir import Block, SSAValue

from lstmc.errors import LstmcError


def node_error(node: onnx.NodeProto, message: str) -> LstmcError:
    """An import error that names the node (or, unnamed, its outputs) and its operator."""
    label = f"node '{node.name}'" if node.name else f"unnamed node producing '{', '.join(node.output)}'"
    return LstmcError(f"{label} ({node.op_type}): {message}")


@dataclass
class Pending:
    """A QuantizeLinear (+ Clip) output: an integer tensor waiting for its DequantizeLinear."""

    source: str  # float tensor that was quantized
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None
    lo: int
    hi: int
    node: onnx.NodeProto


@dataclass
class Scope:
    """Names visible in one graph (main graph or a Scan body), chained to the enclosing graph."""

    block: Block
    parent: Scope | None = None
    values: dict[str, SSAValue] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)

    def lookup(self, name: str, table: str):
        scope: Scope | None = self
        while scope is not None:
            found = getattr(scope, table).get(name)
            if found is not None:
                return found
            scope = scope.parent
        return None


def sanitize(name: str) -> str | None:
    """An ONNX name as an SSA name hint (`%name`): other characters become `_`, and it starts with a letter."""
    hint = re.sub(r"[^A-Za-z0-9_.$]", "_", name)
    if not hint or not re.match(r"[A-Za-z_]", hint[0]):
        hint = "v" + hint
    return hint


def value_shape(value: SSAValue) -> tuple[int, ...]:
    """The static shape of a tensor-typed SSA value."""
    return tuple(SSAValue.get(value, type=TensorType).type.get_shape())


def tensor_type(shape) -> TensorType:
    """The f32 tensor type of a shape (every float value the importer makes)."""
    return TensorType(f32, tuple(shape))
