"""Analyses over qrnn IR: plain functions module -> facts."""

from __future__ import annotations

from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import OpResult, SSAValue

from lstmc.dialects import qrnn
from lstmc.interpreter import entry_function, io_names


def producing_quantizer_scale(value: SSAValue, depth: int = 0) -> float | None:
    """The smallest scale of the quantizer(s) a value comes from, looking through data movement."""
    if depth > 64 or not isinstance(value, OpResult):
        return None
    op = value.op
    if isinstance(op, qrnn.QuantOp):
        return min(op.quant.scales)
    if isinstance(op, qrnn.ReshapeOp):
        return producing_quantizer_scale(op.input, depth + 1)
    if isinstance(op, qrnn.ConcatOp):
        scales = [producing_quantizer_scale(v, depth + 1) for v in op.inputs]
        return None if None in scales else min(scales)
    if isinstance(op, qrnn.RecurrenceOp):
        yield_op = op.body.block.last_op
        assert isinstance(yield_op, qrnn.YieldOp)
        return producing_quantizer_scale(yield_op.values[value.index], depth + 1)
    return None


def output_lsbs(module: ModuleOp) -> dict[str, float]:
    """Graph output name -> the LSB (quantizer scale) of that output, for outputs that have one."""
    fn = entry_function(module)
    ret = fn.body.block.last_op
    assert isinstance(ret, func.ReturnOp)
    names = io_names(fn, "lstmc.output_names", len(ret.arguments), "result")
    lsbs = {}
    for name, value in zip(names, ret.arguments):
        scale = producing_quantizer_scale(value)
        if scale is not None:
            lsbs[name] = scale
    return lsbs


def all_scales_power_of_two(module: ModuleOp) -> bool:
    """True when every quantizer of the (float-level) model has power-of-two scales: then the integer
    design must equal the float reference exactly, because no float operation of the reference rounds."""
    return all(op.quant.is_power_of_two for op in module.walk() if isinstance(op, qrnn.QuantOp))
