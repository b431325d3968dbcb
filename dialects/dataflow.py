"""The `dataflow` dialect: hardware units of a streaming recurrent kernel.

After `qrnn-to-dataflow`, the integer gate matrix products of a recurrence body are one matrix-vector
activation unit (`dataflow.mvau`, FINN's MVAU) over the concatenation of its inputs ([x_t; h_{t-1}]), with
the fixed-point alignment of each input part, the bias and the folding (PE rows and SIMD columns processed
per cycle) as properties. Activation units (`qrnn.threshold`/`qrnn.lut`) and the elementwise cell update
(`qrnn.imul`/`qrnn.scaled_sum`/`qrnn.requant`) stay qrnn ops; SSA edges between units are the FIFOs, whose
depths `qrnn-to-dataflow` records on the producing unit (`fifo_depth`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from xdsl.dialects.builtin import (
    I64,
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    IntegerType,
    TensorType,
    i64,
)
from xdsl.ir import Dialect, SSAValue
from xdsl.irdl import IRDLOperation, irdl_op_definition, prop_def, result_def, traits_def, var_operand_def
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException


@irdl_op_definition
class MVAUOp(IRDLOperation):
    """out[n] = bias[n] + sum_p multipliers[p, n] * sum_{k in part p} inputs_p[k] * weights[k, n].

    `weights` is [sum of part sizes, N]: the parts' matrices stacked along K (x-part rows, then h-part rows).
    Inputs are vectors [K_p] (a recurrence step) or V vectors [V, K_p] processed one after the other (a
    convolution's sliding-window patches, V = output pixels), giving [N] or [V, N].
    Folding: the unit computes PE output rows and SIMD input columns per cycle, so one product takes
    (N / PE) * (K / SIMD) cycles; PE must divide N and SIMD must divide K (a fold of SIMD columns of the
    concatenated input may take columns of two parts).
    """

    name = "dataflow.mvau"
    inputs = var_operand_def(TensorType)
    weights = prop_def(DenseIntOrFPElementsAttr)
    multipliers = prop_def(DenseIntOrFPElementsAttr)
    bias = prop_def(DenseIntOrFPElementsAttr)
    pe = prop_def(IntegerAttr[I64])
    simd = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "`(` $inputs `)` `weights` `(` $weights `)` `multipliers` `(` $multipliers `)` `bias` `(` $bias `)` "
        "`pe` `(` $pe `)` `simd` `(` $simd `)` attr-dict `:` functional-type($inputs, $result)"
    )

    def __init__(
        self,
        inputs: Sequence[SSAValue],
        weights: DenseIntOrFPElementsAttr,
        multipliers: DenseIntOrFPElementsAttr,
        bias: DenseIntOrFPElementsAttr,
        result_type: TensorType,
        pe: int = 1,
        simd: int = 1,
    ):
        super().__init__(
            operands=[list(inputs)],
            properties={
                "weights": weights,
                "multipliers": multipliers,
                "bias": bias,
                "pe": IntegerAttr(pe, i64),
                "simd": IntegerAttr(simd, i64),
            },
            result_types=[result_type],
        )

    @property
    def part_sizes(self) -> list[int]:
        return [cast(TensorType, v.type).get_shape()[-1] for v in self.inputs]

    @property
    def rows(self) -> int:
        """N: output rows (gates x hidden size, or output channels)."""
        return self.result.type.get_shape()[-1]

    @property
    def vectors(self) -> int:
        """V: input vectors per invocation (1 for a vector input)."""
        shape = self.result.type.get_shape()
        return shape[0] if len(shape) == 2 else 1

    @property
    def columns(self) -> int:
        """K: input columns (the concatenated input vector)."""
        return sum(self.part_sizes)

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("'dataflow.mvau' needs at least one input vector")
        shape = tuple(self.result.type.get_shape())
        if len(shape) not in (1, 2) or not isinstance(self.result.type.get_element_type(), IntegerType):
            raise VerifyException(
                f"'dataflow.mvau' result must be an integer [N] or [V, N] tensor, got {self.result.type}"
            )
        for i, v in enumerate(self.inputs):
            ty = cast(TensorType, v.type)
            vs = tuple(ty.get_shape())
            if len(vs) != len(shape) or vs[:-1] != shape[:-1] or not isinstance(ty.get_element_type(), IntegerType):
                raise VerifyException(
                    f"'dataflow.mvau' input {i} must be an integer tensor of shape [{', '.join(map(str, shape[:-1] + ('K',)))}], got {v.type}"
                )
        n, k = shape[-1], self.columns
        if tuple(self.weights.get_shape()) != (k, n):
            raise VerifyException(f"'dataflow.mvau' weights must be [{k}, {n}], got {list(self.weights.get_shape())}")
        if tuple(self.multipliers.get_shape()) != (len(self.inputs), n):
            raise VerifyException(
                f"'dataflow.mvau' multipliers must be [{len(self.inputs)}, {n}], got {list(self.multipliers.get_shape())}"
            )
        if tuple(self.bias.get_shape()) != (n,):
            raise VerifyException(f"'dataflow.mvau' bias must be [{n}], got {list(self.bias.get_shape())}")
        pe, simd = self.pe.value.data, self.simd.value.data
        if pe < 1 or n % pe:
            raise VerifyException(f"'dataflow.mvau' PE={pe} must divide the {n} output rows")
        if simd < 1 or k % simd:
            raise VerifyException(
                f"'dataflow.mvau' SIMD={simd} must divide the {k} input columns (part sizes {self.part_sizes})"
            )


DATAFLOW = Dialect("dataflow", [MVAUOp], [])
