"""A module's entry function and the names of its inputs and outputs (the `lstmc.input_names` /
`lstmc.output_names` attributes the importer sets): read by analyses, passes, the interpreter and the CLI."""

from __future__ import annotations

from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr

from lstmc.errors import LstmcError


def io_names(fn: func.FuncOp, key: str, count: int, prefix: str) -> list[str]:
    """The names under attribute `key` (lstmc.input_names/lstmc.output_names), or prefix0, prefix1, ..."""
    attr = fn.attributes.get(key)
    if isinstance(attr, ArrayAttr):
        return [a.data for a in attr.data if isinstance(a, StringAttr)]
    return [f"{prefix}{i}" for i in range(count)]


def entry_function(module: ModuleOp) -> func.FuncOp:
    """The first func.func of the module, the one every stage runs."""
    funcs = [op for op in module.ops if isinstance(op, func.FuncOp)]
    if not funcs:
        raise LstmcError("the module has no func.func to run")
    return funcs[0]
