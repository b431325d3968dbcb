"""Named compilation pipelines: the pass lists that take an imported model to each executable stage.

One source of truth: `lstmc-opt -p` pipelines, the stages of `lstmc run/verify` and the lit pipeline tests
all use these lists.
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException

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


def apply_pipeline(module: ModuleOp, spec: str | list[str | ModulePass]) -> ModuleOp:
    """Apply a pass pipeline (an `-p` string or a list of pass names) in place; errors become LstmcError."""
    from lstmc.passes import get_all_passes

    if isinstance(spec, list) and any(isinstance(p, ModulePass) for p in spec):
        # pass objects: options that hold user text (kernel names, paths) never go through the -p syntax
        passes = [p if isinstance(p, ModulePass) else PassPipeline.parse_spec(get_all_passes(), p).passes[0]
                  for p in spec]
        pipeline = PassPipeline(tuple(passes))
    else:
        text = spec if isinstance(spec, str) else ",".join(spec)
        if not text:
            return module
        try:
            pipeline = PassPipeline.parse_spec(get_all_passes(), text)
        except ArgSpecParseError as e:  # a BaseException in xDSL, whose message quotes the spec over three lines
            reason = str(e).strip().splitlines()[-1].strip()
            raise LstmcError(f"cannot parse the pass pipeline {text!r}: {reason}") from None
        except ValueError as e:  # xDSL's unknown pass name or bad option value
            raise LstmcError(f"pass pipeline {text!r}: {e}") from e
    try:
        pipeline.apply(make_context(), module)
        module.verify()
    except DiagnosticException as e:
        raise LstmcError(str(e)) from e
    return module


def lower_to_stage(module: ModuleOp, stage: str) -> ModuleOp:
    if stage not in STAGE_PASSES:
        raise LstmcError(f"unknown stage '{stage}' (available: {', '.join(STAGE_PASSES)})")
    return apply_pipeline(module, STAGE_PASSES[stage])
