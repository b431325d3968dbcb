"""Interpreter implementations of the dataflow dialect (bit-exact with the integer ops they replace)."""

from __future__ import annotations

import numpy as np
from xdsl.interpreter import Interpreter, InterpreterFunctions, PythonValues, impl, register_impls

from lstmc.dense import array_from_dense
from lstmc.dialects import dataflow


@register_impls
class DataflowFunctions(InterpreterFunctions):
    @impl(dataflow.MVAUOp)
    def run_mvau(self, interpreter: Interpreter, op: dataflow.MVAUOp, args: PythonValues):
        weights = array_from_dense(op.weights).astype(np.int64)
        mults = array_from_dense(op.multipliers).astype(np.int64)
        acc = array_from_dense(op.bias).astype(np.int64)
        row = 0
        for p, vec in enumerate(args):
            size = op.part_sizes[p]
            acc = acc + mults[p] * (np.asarray(vec, np.int64) @ weights[row : row + size])
            row += size
        return (acc,)
