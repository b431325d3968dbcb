"""Interpreter implementations of the dataflow dialect (bit-exact with the integer ops they replace)."""

from __future__ import annotations

from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls

from lstmc.dialects import dataflow
from lstmc.interpreter.qrnn import ConstantCache


@register_impls
class DataflowFunctions(InterpreterFunctions):
    def __init__(self):
        super().__init__()
        self.constants = ConstantCache()  # a recurrence runs its MVAU once per step: convert the weights once

    @impl(dataflow.MVAUOp)
    def run_mvau(self, interpreter: Interpreter, op: dataflow.MVAUOp, args: PythonValues):
        mults = self.constants.int64(op, "multipliers")
        acc = self.constants.int64(op, "bias")
        row = 0
        for p, vec in enumerate(args):
            size = op.part_sizes[p]
            acc = acc + mults[p] * self.constants.matrix(op, "weights", row, row + size).rmatmul(vec)
            row += size
        return (acc,)
