"""Applying pass pipelines, and the stages an imported model is lowered to.

One source of truth: the pass list is `lstmc.passes.lstm_to_hls.pipeline_passes` (the `lstm-to-hls` named
pipeline); the stages of `lstmc run/verify`, `lstmc compile`, `STAGE_PASSES` here and
`lstmc.hls.build.lower_to_hlscpp` are slices of it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import cast

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException

from lstmc.errors import LstmcError

# The stages `lower_to_stage` reaches (the hlscpp stage is `lstmc.hls.build.lower_to_hlscpp`'s).
INTERPRETED_STAGES = ("qrnn", "integer", "dataflow")


def __getattr__(name: str):
    # STAGE_PASSES (stage name -> the `-p` names of the passes applied after import), sliced from the one list
    # in passes/lstm_to_hls.py; computed on first use so that importing this module imports no pass
    if name == "STAGE_PASSES":
        return _stage_pass_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _stage_pass_names() -> dict[str, list[str]]:
    from lstmc.passes.lstm_to_hls import passes_between

    return {stage: [str(p.spec()) for p in passes_between("qrnn", stage)] for stage in INTERPRETED_STAGES}


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


def apply_pipeline(module: ModuleOp, spec: str | Sequence[str | ModulePass]) -> ModuleOp:
    """Apply a pass pipeline (an `-p` string or a list of pass names) in place; errors become LstmcError."""
    from lstmc.passes import get_all_passes

    if not isinstance(spec, str) and any(isinstance(p, ModulePass) for p in spec):
        # pass objects: options that hold user text (kernel names, paths) never go through the -p syntax
        passes = [
            p if isinstance(p, ModulePass) else PassPipeline.parse_spec(get_all_passes(), p).passes[0] for p in spec
        ]
        pipeline = PassPipeline(tuple(passes))
    else:
        text = spec if isinstance(spec, str) else ",".join(cast("Sequence[str]", spec))  # names only, here
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
    from lstmc.passes.lstm_to_hls import passes_between

    if stage not in INTERPRETED_STAGES:
        raise LstmcError(f"unknown stage '{stage}' (available: {', '.join(INTERPRETED_STAGES)})")
    return apply_pipeline(module, passes_between("qrnn", stage))


def lower_and_fold(
    model, pe: int = 0, simd: int = 0, folding: str = "", target_cycles: int = 0, axis_bits: int = 0
) -> ModuleOp:
    """Import `model` (an onnx.ModelProto or a path), lower it to the dataflow stage and fold (the one list's
    slice to dataflow, qrnn-set-folding included when a folding option is given); returns the module. With
    `axis_bits` (`--axis-bits`) the ports pack several codes per beat (checked against every port's codes)."""
    from lstmc.entry import entry_function
    from lstmc.frontend import import_model, load_onnx
    from lstmc.passes.lstm_to_hls import passes_between
    from lstmc.ports import HlsConversionError, kernel_ports, mark_axis_bits

    module = import_model(load_onnx(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else model)
    mark_axis_bits(module, axis_bits)
    module = apply_pipeline(
        module, passes_between("qrnn", "dataflow", pe=pe, simd=simd, config=folding, target_cycles=target_cycles)
    )
    if axis_bits:
        try:
            kernel_ports(entry_function(module))
        except HlsConversionError as e:
            raise LstmcError(str(e)) from e
    return module
