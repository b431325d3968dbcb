"""Named compilation pipelines: the pass lists that take an imported model to each executable stage.

One source of truth: `lstmc-opt -p` pipelines, the stages of `lstmc run/verify` and the lit pipeline tests
all use these lists.
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import PassPipeline
from xdsl.utils.exceptions import DiagnosticException

from lstmc.errors import LstmcError

# stage name -> passes applied after import
STAGE_PASSES: dict[str, list[str]] = {
    "qrnn": [],
    "integer": ["qrnn-canonicalize", "qrnn-fold-constants", "qrnn-legalize-precision"],
    "dataflow": ["qrnn-canonicalize", "qrnn-fold-constants", "qrnn-legalize-precision", "qrnn-to-dataflow"],
}


def make_context() -> Context:
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func

    from lstmc.dialects.dataflow import DATAFLOW
    from lstmc.dialects.hlscpp import HLSCPP
    from lstmc.dialects.qrnn import QRNN

    ctx = Context()
    for dialect in (Builtin, Func, QRNN, DATAFLOW, HLSCPP):
        ctx.load_dialect(dialect)
    return ctx


def apply_pipeline(module: ModuleOp, spec: str | list[str]) -> ModuleOp:
    """Apply a pass pipeline (an `-p` string or a list of pass names) in place; errors become LstmcError."""
    from lstmc.passes import get_all_passes

    text = spec if isinstance(spec, str) else ",".join(spec)
    if not text:
        return module
    try:
        pipeline = PassPipeline.parse_spec(get_all_passes(), text)
        pipeline.apply(make_context(), module)
        module.verify()
    except DiagnosticException as e:
        raise LstmcError(str(e)) from e
    return module


def lower_to_stage(module: ModuleOp, stage: str) -> ModuleOp:
    if stage not in STAGE_PASSES:
        raise LstmcError(f"unknown stage '{stage}' (available: {', '.join(STAGE_PASSES)})")
    return apply_pipeline(module, STAGE_PASSES[stage])
