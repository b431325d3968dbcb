"""The `qrnn` dialect: quantized recurrences as they come out of ONNX.

A model is a `func.func` whose body holds float tensor ops, `qrnn.quant` fake-quantizers that keep every
quantizer of the trained model (bits, signedness, narrow range, scale, zero point, rounding), and
`qrnn.recurrence` ops. A recurrence is the ONNX `Scan` form of an RNN layer: carried state, scanned inputs
and outputs with a direction each, and a body region run once per time step. The body is a generic
dataflow graph, so LSTM, GRU and custom cells are all representable; recognising a cell is an analysis.

Semantics (what the interpreter implements) follow ONNX: float32 arithmetic, `qrnn.quant` is
QuantizeLinear -> Clip -> DequantizeLinear (or one QONNX `Quant`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import ClassVar, cast

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float32Type,
    FloatData,
    IntAttr,
    IntegerAttr,
    IntegerType,
    Signedness,
    TensorType,
    f32,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Block,
    Dialect,
    Operation,
    OpResult,
    ParametrizedAttribute,
    Region,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
)
from xdsl.irdl import (
    AttrSizedOperandSegments,
    AttrSizedResultSegments,
    IRDLOperation,
    VarConstraint,
    base,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    param_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern, op_type_rewrite_pattern
from xdsl.printer import Printer
from xdsl.rewriter import InsertPoint
from xdsl.traits import ConstantLike, HasCanonicalizationPatternsTrait, HasParent, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from lstmc.dialects.enum_syntax import enum_attr, parse_enum

MAX_QUANT_BITS = 32
PER_TENSOR = -(2**31)  # QuantAttr.axis of a per-tensor quantizer


def _to_f32(value: float) -> float:
    """Scales are float32 in ONNX and in every stage's arithmetic: store exactly the float32 value, so a
    hand-written 0.3 means float32(0.3) everywhere (the pass's error bounds included)."""
    return struct.unpack("<f", struct.pack("<f", float(value)))[0]


def _fmt_float(value: float) -> str:
    """The shortest decimal that parses back to the same float32 (e.g. 0.1, not 0.10000000149011612)."""
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if _to_f32(float(text)) == value:
            return text if any(c in text for c in ".en") else text + ".0"
    return repr(value)


# ---------------------------------------------------------------------------------------------------------
# Enums: the closed sets of choices. Members are strings ("half_even" == RoundingMode.HALF_EVEN), so the
# numerics, which take plain strings, accept them as they are.
# ---------------------------------------------------------------------------------------------------------


class RoundingMode(StrEnum):
    """How a quantizer or requantizer rounds x / s to an integer (lstmc.numerics.round_mode): to nearest with
    ties to even/up/down, or towards -inf (floor), +inf (ceil), away from zero (up) or towards zero (down)."""

    HALF_EVEN = "half_even"
    HALF_UP = "half_up"
    HALF_DOWN = "half_down"
    FLOOR = "floor"
    CEIL = "ceil"
    UP = "up"
    DOWN = "down"


ROUNDING_MODES = tuple(m.value for m in RoundingMode)


class ScanDirection(StrEnum):
    """The direction a `qrnn.recurrence` reads a scanned input or writes a scan output (ONNX Scan's 0 / 1)."""

    FORWARD = "forward"
    REVERSE = "reverse"


FORWARD, REVERSE = ScanDirection.FORWARD, ScanDirection.REVERSE


class MatMulKernel(StrEnum):
    """The onnxruntime kernel whose float rounding a `qrnn.matmul` reproduces (see MATMUL_KERNELS below)."""

    MATMUL = "matmul"
    M1_TRANSB = "m1_transb"


class ActivationKernel(StrEnum):
    """The onnxruntime kernel whose float rounding a `qrnn.sigmoid`/`qrnn.tanh` reproduces (see below)."""

    MLAS = "mlas"
    RATIONAL = "rational"


class QuantSignedness(StrEnum):
    """Whether a quantizer's integer grid is signed (`s8`) or unsigned (`u8`)."""

    SIGNED = "signed"
    UNSIGNED = "unsigned"


class QuantRange(StrEnum):
    """A quantizer's full integer range, or the narrow one that drops the most negative (signed) or the largest
    (unsigned) code (`s4 narrow`: [-7, 7])."""

    FULL = "full"
    NARROW = "narrow"


@irdl_attr_definition
class RoundingModeAttr(EnumAttribute[RoundingMode], SpacedOpaqueSyntaxAttribute):
    """`#qrnn<rounding half_even>` (in `qrnn.requant` and `#qrnn.quant<...>` just `half_even`)."""

    name = "qrnn.rounding"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> RoundingMode:
        return parse_enum(parser, RoundingMode, "rounding mode")


@irdl_attr_definition
class QuantSignednessAttr(EnumAttribute[QuantSignedness], SpacedOpaqueSyntaxAttribute):
    """`#qrnn<signedness unsigned>` (in `#qrnn.quant<...>` the s/u of `s8`/`u8`)."""

    name = "qrnn.signedness"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> QuantSignedness:
        return parse_enum(parser, QuantSignedness, "quantizer signedness")


@irdl_attr_definition
class QuantRangeAttr(EnumAttribute[QuantRange], SpacedOpaqueSyntaxAttribute):
    """`#qrnn<range narrow>` (in `#qrnn.quant<...>` the `narrow` keyword, or nothing)."""

    name = "qrnn.range"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> QuantRange:
        return parse_enum(parser, QuantRange, "quantizer range")


@irdl_attr_definition
class ScanDirectionAttr(EnumAttribute[ScanDirection], SpacedOpaqueSyntaxAttribute):
    """`#qrnn<direction reverse>` (in `qrnn.recurrence`'s custom syntax just `reverse`)."""

    name = "qrnn.direction"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> ScanDirection:
        return parse_enum(parser, ScanDirection, "scan direction")


@irdl_attr_definition
class MatMulKernelAttr(EnumAttribute[MatMulKernel], SpacedOpaqueSyntaxAttribute):
    """`#qrnn<matmul_kernel m1_transb>` (in `qrnn.matmul` just `kernel m1_transb`)."""

    name = "qrnn.matmul_kernel"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> MatMulKernel:
        return parse_enum(parser, MatMulKernel, "'qrnn.matmul' kernel")


@irdl_attr_definition
class ActivationKernelAttr(EnumAttribute[ActivationKernel], SpacedOpaqueSyntaxAttribute):
    """`#qrnn<activation_kernel rational>` (in `qrnn.sigmoid`/`qrnn.tanh` just `kernel rational`)."""

    name = "qrnn.activation_kernel"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> ActivationKernel:
        return parse_enum(parser, ActivationKernel, "activation kernel")


# ---------------------------------------------------------------------------------------------------------
# Quantizer attribute
# ---------------------------------------------------------------------------------------------------------


@irdl_attr_definition
class QuantAttr(ParametrizedAttribute):
    """One quantizer: integer grid [qmin, qmax] of `bits` bits, scale(s) and zero point(s).

    `#qrnn.quant<s4 narrow, scale = 0.125, zp = 0>` is a signed narrow-range 4-bit quantizer;
    `u8` is unsigned. Per-channel quantizers carry `axis = k` and one scale/zp per channel in brackets.
    """

    name = "qrnn.quant"

    bits: IntAttr = param_def()
    signed: QuantSignednessAttr = param_def()
    narrow: QuantRangeAttr = param_def()
    scale: ArrayAttr[FloatData] = param_def()
    zero_point: ArrayAttr[IntAttr] = param_def()
    axis: IntAttr = param_def()  # PER_TENSOR for a per-tensor quantizer
    rounding: RoundingModeAttr = param_def()

    def __init__(
        self,
        bits: int,
        signed: bool,
        narrow: bool,
        scale: Sequence[float],
        zero_point: Sequence[int],
        axis: int | None = None,
        rounding: str | RoundingModeAttr = RoundingMode.HALF_EVEN,
    ):
        super().__init__(
            IntAttr(bits),
            QuantSignednessAttr(QuantSignedness.SIGNED if signed else QuantSignedness.UNSIGNED),
            QuantRangeAttr(QuantRange.NARROW if narrow else QuantRange.FULL),
            ArrayAttr([FloatData(_to_f32(s)) for s in scale]),
            ArrayAttr([IntAttr(int(z)) for z in zero_point]),
            IntAttr(PER_TENSOR if axis is None else axis),
            enum_attr(RoundingModeAttr, rounding, "rounding mode"),
        )

    # Convenience accessors -------------------------------------------------------------------------------
    @property
    def is_signed(self) -> bool:
        return self.signed.data == QuantSignedness.SIGNED

    @property
    def is_narrow(self) -> bool:
        return self.narrow.data == QuantRange.NARROW

    @property
    def channel_axis(self) -> int | None:
        return None if self.axis.data == PER_TENSOR else self.axis.data

    @property
    def scales(self) -> list[float]:
        return [s.data for s in self.scale.data]

    @property
    def zero_points(self) -> list[int]:
        return [z.data for z in self.zero_point.data]

    @property
    def qmin(self) -> int:
        b = self.bits.data
        if self.is_signed:
            return -(2 ** (b - 1)) + (1 if self.is_narrow else 0)
        return 0

    @property
    def qmax(self) -> int:
        b = self.bits.data
        if self.is_signed:
            return 2 ** (b - 1) - 1
        return 2**b - 1 - (1 if self.is_narrow else 0)

    def with_axis(self, axis: int | None) -> QuantAttr:
        """This quantizer with its per-channel axis at `axis` (None: per tensor)."""
        return QuantAttr(
            self.bits.data, self.is_signed, self.is_narrow, self.scales, self.zero_points, axis, self.rounding.data
        )

    @property
    def is_power_of_two(self) -> bool:
        return all(s > 0 and math.frexp(s)[0] == 0.5 for s in self.scales)

    # Syntax ---------------------------------------------------------------------------------------------
    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            kind = parser.parse_identifier(" integer kind such as s8 or u4")
            if len(kind) < 2 or kind[0] not in "su" or not kind[1:].isdigit():
                parser.raise_error(f"expected a quantizer kind like s8 or u4, got '{kind}'")
            signed, bits = kind[0] == "s", int(kind[1:])
            narrow = parser.parse_optional_keyword("narrow") is not None
            parser.parse_punctuation(",")
            parser.parse_keyword("scale")
            parser.parse_punctuation("=")
            scale = cls._parse_number_list(parser, parser.parse_float)
            parser.parse_punctuation(",")
            parser.parse_keyword("zp")
            parser.parse_punctuation("=")
            zp = cls._parse_number_list(parser, parser.parse_integer)
            axis: int | None = None
            rounding = RoundingMode.HALF_EVEN
            while parser.parse_optional_punctuation(",") is not None:
                key = parser.parse_identifier()
                parser.parse_punctuation("=")
                if key == "axis":
                    axis = parser.parse_integer()
                elif key == "rounding":
                    rounding = parse_enum(parser, RoundingMode, "rounding mode")
                else:
                    parser.raise_error(f"unknown quantizer field '{key}' (expected axis or rounding)")
        return cls(bits, signed, narrow, scale, zp, axis, rounding).parameters

    @staticmethod
    def _parse_number_list(parser: AttrParser, parse_one) -> list:
        if parser.parse_optional_punctuation("[") is None:
            return [parse_one()]
        values = [parse_one()]
        while parser.parse_optional_punctuation(",") is not None:
            values.append(parse_one())
        parser.parse_punctuation("]")
        return values

    def print_parameters(self, printer: Printer) -> None:
        def fmt(values: list, one) -> str:
            if self.channel_axis is None and len(values) == 1:
                return one(values[0])
            return "[" + ", ".join(one(v) for v in values) + "]"

        kind = f"{'s' if self.is_signed else 'u'}{self.bits.data}"
        text = f"<{kind}{' narrow' if self.is_narrow else ''}, scale = {fmt(self.scales, _fmt_float)}"
        text += f", zp = {fmt(self.zero_points, str)}"
        if self.channel_axis is not None:
            text += f", axis = {self.channel_axis}"
        if self.rounding.data != RoundingMode.HALF_EVEN:
            text += f", rounding = {self.rounding.data}"
        printer.print_string(text + ">")

    def verify(self) -> None:
        bits = self.bits.data
        if not 1 <= bits <= MAX_QUANT_BITS:
            raise VerifyException(f"quantizer bit width must be in [1, {MAX_QUANT_BITS}], got {bits}")
        if self.is_signed and self.is_narrow and bits < 2:
            raise VerifyException("a signed narrow-range quantizer needs at least 2 bits")
        scales, zps = self.scales, self.zero_points
        if not scales or len(scales) != len(zps):
            raise VerifyException(
                f"quantizer needs as many zero points as scales (got {len(scales)} scales, {len(zps)} zero points)"
            )
        if self.channel_axis is None and len(scales) != 1:
            raise VerifyException("a per-tensor quantizer has exactly one scale; give axis = k for per-channel")
        for s in scales:
            if not (math.isfinite(s) and s > 0):
                raise VerifyException(f"quantizer scale must be finite and positive, got {s}")
        for z in zps:
            if not self.qmin <= z <= self.qmax:
                raise VerifyException(f"zero point {z} is outside the integer range [{self.qmin}, {self.qmax}]")


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by verifiers
# ---------------------------------------------------------------------------------------------------------


def _tensor_type(value: SSAValue, what: str) -> TensorType:
    if not isinstance(value.type, TensorType):
        raise VerifyException(f"{what} must be a tensor, got {value.type}")
    return value.type


def _tensor_shape(value: SSAValue, what: str) -> tuple[int, ...]:
    return tuple(_tensor_type(value, what).get_shape())


def broadcast_shapes(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """numpy/ONNX multidirectional broadcasting; None when the shapes do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(reversed(out))


def matmul_shape(a: Sequence[int], b: Sequence[int]) -> tuple[int, ...] | None:
    """Result shape of numpy.matmul for rank-1/2 operands; None when the inner dimensions differ."""
    if not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
        return None
    k_a = a[-1]
    k_b = b[0] if len(b) == 1 else b[-2]
    if k_a != k_b:
        return None
    return tuple(a[:-1]) + tuple(b[1:] if len(b) == 2 else ())


# ---------------------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------------------


# Canonicalization patterns of single ops (defined at the end of this file, looked up when `canonicalize` runs)
class QuantOpHasCanonicalizationPatterns(HasCanonicalizationPatternsTrait):
    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        return (FoldReluIntoQuant(),)


class ReshapeOpHasCanonicalizationPatterns(HasCanonicalizationPatternsTrait):
    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        return (FoldReshapeOfReshape(),)


class RecurrenceOpHasCanonicalizationPatterns(HasCanonicalizationPatternsTrait):
    @classmethod
    def get_canonicalization_patterns(cls) -> tuple[RewritePattern, ...]:
        return (DropUnitBatch(), DropUnitColumn(), HoistScannedInputQuant())


class _UnaryOp(IRDLOperation):
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    result = result_def(T)
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($result)"

    def __init__(self, input: SSAValue | Operation):
        super().__init__(operands=[input], result_types=[SSAValue.get(input).type])

    def verify_(self) -> None:
        if self.input.type != self.result.type:
            raise VerifyException(
                f"'{self.name}' result type {self.result.type} must equal the operand type {self.input.type}"
            )


class _BinaryOp(IRDLOperation):
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation, result_type: Attribute):
        super().__init__(operands=[lhs, rhs], result_types=[result_type])

    def expected_shape(self, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
        return broadcast_shapes(a, b)

    def verify_(self) -> None:
        a, b = _tensor_shape(self.lhs, "lhs"), _tensor_shape(self.rhs, "rhs")
        r = _tensor_shape(self.result, "result")
        expected = self.expected_shape(a, b)
        if expected is None:
            raise VerifyException(f"'{self.name}' operand shapes {list(a)} and {list(b)} are incompatible")
        if expected != r:
            raise VerifyException(f"'{self.name}' result shape {list(r)} should be {list(expected)}")


# Dense constants print as literal lists up to this many elements and in hex form above it (xDSL's own switch
# is at 100); hex keeps big weights fast: 1M elements print and parse in 0.01 s that way, 18 s as a list.
# Both forms parse back.
DENSE_LIST_LIMIT = 256


def print_dense(printer: Printer, attr: DenseIntOrFPElementsAttr) -> None:
    """`dense<[[...]]> : type` for up to DENSE_LIST_LIMIT elements, xDSL's `dense<"0x...">` above."""
    n, et = len(attr), attr.get_element_type()
    if not 100 < n <= DENSE_LIST_LIMIT or not isinstance(et, IntegerType | Float32Type) or attr.is_splat():
        printer.print_attribute(attr)  # xDSL prints these as we would: a list, a splat, or hex
        return

    def element(v) -> None:
        if isinstance(et, IntegerType):
            printer.print_int(v, et)
        else:
            printer.print_float(v, et)

    def nested(values: Sequence, shape: Sequence[int]) -> None:
        printer.print_string("[")
        if len(shape) > 1:
            k = len(values) // shape[0]
            printer.print_list([values[i : i + k] for i in range(0, len(values), k)], lambda v: nested(v, shape[1:]))
        else:
            printer.print_list(values, element)
        printer.print_string("]")

    printer.print_string("dense<")
    nested(attr.get_values(), attr.get_shape())
    printer.print_string("> : ")
    printer.print_attribute(attr.get_type())


@irdl_op_definition
class ConstantOp(IRDLOperation):
    """A constant tensor (weights, biases, initial states); large values print in hex form (`print_dense`)."""

    name = "qrnn.constant"
    value = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure(), ConstantLike())

    def __init__(self, value: DenseIntOrFPElementsAttr):
        super().__init__(properties={"value": value}, result_types=[value.type])

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        print_dense(printer, self.value)
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        value = parser.parse_attribute()
        if not isinstance(value, DenseIntOrFPElementsAttr):
            parser.raise_error(f"expected a dense elements attribute, got {value}")
        op = cls(value)
        attrs = parser.parse_optional_attr_dict()
        op.attributes.update(attrs)
        return op

    def verify_(self) -> None:
        if self.value.type != self.result.type:
            raise VerifyException(f"constant type {self.value.type} must equal result type {self.result.type}")


@irdl_op_definition
class QuantOp(IRDLOperation):
    """Fake quantization: y = (clamp(round(x / s) + zp, qmin, qmax) - zp) * s, in float32."""

    name = "qrnn.quant"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    quant = prop_def(QuantAttr)
    result = result_def(T)
    traits = traits_def(Pure(), QuantOpHasCanonicalizationPatterns())
    assembly_format = "$input `by` $quant attr-dict `:` type($result)"

    def __init__(self, input: SSAValue | Operation, quant: QuantAttr):
        super().__init__(operands=[input], properties={"quant": quant}, result_types=[SSAValue.get(input).type])

    def verify_(self) -> None:
        shape = _tensor_shape(self.input, "quant input")
        if self.input.type != self.result.type:
            raise VerifyException(f"'qrnn.quant' result type {self.result.type} must equal its input type")
        axis = self.quant.channel_axis
        if axis is not None:
            if not -len(shape) <= axis < len(shape):
                raise VerifyException(f"quantizer axis {axis} is out of range for a rank-{len(shape)} tensor")
            if len(self.quant.scales) != shape[axis]:
                raise VerifyException(
                    f"per-channel quantizer has {len(self.quant.scales)} scales but axis {axis} has size {shape[axis]}"
                )


@irdl_op_definition
class QuantDequantOp(IRDLOperation):
    """QuantizeLinear by `quant`, then DequantizeLinear of the same integer codes by `dequant`, whose scales
    differ: y = (clamp(round(x / s_q) + zp, qmin, qmax) - zp) * s_dq, in float32 (a requantization written as
    one Q -> DQ pair, e.g. FINN-GL's reference cell). Both quantizers describe one integer grid: same bits,
    signedness, range, zero points and axis; only the scales (and the quantizer's rounding) are free."""

    name = "qrnn.quant_dequant"
    T: ClassVar = VarConstraint("T", base(TensorType))
    input = operand_def(T)
    quant = prop_def(QuantAttr)
    dequant = prop_def(QuantAttr)
    result = result_def(T)
    traits = traits_def(Pure())
    assembly_format = "$input `by` $quant `to` $dequant attr-dict `:` type($result)"

    def __init__(self, input: SSAValue | Operation, quant: QuantAttr, dequant: QuantAttr):
        super().__init__(
            operands=[input], properties={"quant": quant, "dequant": dequant}, result_types=[SSAValue.get(input).type]
        )

    def verify_(self) -> None:
        shape = _tensor_shape(self.input, "quant_dequant input")
        q, d = self.quant, self.dequant
        for what, a, b in (
            ("bit width", q.bits.data, d.bits.data),
            ("signedness", q.is_signed, d.is_signed),
            ("narrow range", q.is_narrow, d.is_narrow),
            ("zero points", q.zero_points, d.zero_points),
            ("axis", q.channel_axis, d.channel_axis),
        ):
            if a != b:
                raise VerifyException(
                    f"'qrnn.quant_dequant' quantizer and dequantizer must share one integer grid: {what} {a} vs {b}"
                )
        axis = q.channel_axis
        if axis is not None:
            if not -len(shape) <= axis < len(shape):
                raise VerifyException(f"quantizer axis {axis} is out of range for a rank-{len(shape)} tensor")
            if len(q.scales) != shape[axis]:
                raise VerifyException(
                    f"per-channel quantizer has {len(q.scales)} scales but axis {axis} has size {shape[axis]}"
                )


@irdl_op_definition
class AddOp(_BinaryOp):
    name = "qrnn.add"


@irdl_op_definition
class SubOp(_BinaryOp):
    name = "qrnn.sub"


@irdl_op_definition
class MulOp(_BinaryOp):
    name = "qrnn.mul"


# Float kernels of qrnn.matmul (lstmc.numerics implements each, bit-exact with onnxruntime):
# - "matmul" (the default, not printed): onnxruntime's MatMul operator with this op's operand shapes;
# - "m1_transb": MLAS' M = 1 transposed-B kernel (MlasSgemmKernelM1TransposeBAvx), which onnxruntime's
#   RNN kernels run for a one-row product by weights they could not pre-pack (weights a DequantizeLinear
#   computes at run time). Its summation order depends on the column's position in blocks of 4 counted from
#   column 0, so the op must hold the whole onnxruntime GEMM. The lhs is one row: [K] or [1, K].
MATMUL_KERNELS = tuple(k.value for k in MatMulKernel)


@irdl_op_definition
class MatMulOp(_BinaryOp):
    """numpy.matmul of a rank-1/2 tensor by a rank-1/2 tensor (vector-matrix in LSTM cells), rounded as
    onnxruntime's kernel `kernel` does (see MATMUL_KERNELS)."""

    name = "qrnn.matmul"
    kernel = opt_prop_def(MatMulKernelAttr)
    assembly_format = "$lhs `,` $rhs (`kernel` $kernel^)? attr-dict `:` functional-type(operands, results)"

    def __init__(
        self,
        lhs: SSAValue | Operation,
        rhs: SSAValue | Operation,
        result_type: Attribute,
        kernel: str | MatMulKernelAttr | None = None,
    ):
        props = (
            {} if kernel in (None, MatMulKernel.MATMUL) else {"kernel": enum_attr(MatMulKernelAttr, kernel, "kernel")}
        )
        super(_BinaryOp, self).__init__(operands=[lhs, rhs], result_types=[result_type], properties=props)

    @property
    def kernel_name(self) -> MatMulKernel:
        return MatMulKernel.MATMUL if self.kernel is None else self.kernel.data

    def expected_shape(self, a, b):
        return matmul_shape(a, b)

    def verify_(self) -> None:
        super().verify_()
        a, b = _tensor_shape(self.lhs, "lhs"), _tensor_shape(self.rhs, "rhs")
        if self.kernel_name == MatMulKernel.M1_TRANSB and (
            len(b) != 2 or not (len(a) == 1 or (len(a) == 2 and a[0] == 1))
        ):
            raise VerifyException(
                f"'qrnn.matmul' kernel m1_transb multiplies one row ([K] or [1, K]) by a [K, N] matrix, got "
                f"{list(a)} and {list(b)}"
            )


# Float kernels of qrnn.sigmoid / qrnn.tanh (lstmc.numerics implements each, bit-exact with onnxruntime):
# - "mlas" (the default, not printed): MLAS' vectorised logistic/tanh, what onnxruntime's Sigmoid/Tanh
#   operators and its LSTM kernel use;
# - "rational": the scalar rational approximation p(x)/q(x) of onnxruntime's GRU kernel (rnn_helpers.cc,
#   deepcpu::gru_reset_gate_sigmoid / gru_output_gate_tanh), input clamped to [-20, 20] for sigmoid
#   (then evaluated at x/2 as 0.5 * (1 + p/q)) and to [-10, 10] for tanh.
ACTIVATION_KERNELS = tuple(k.value for k in ActivationKernel)


class _ActivationOp(_UnaryOp):
    """Elementwise sigmoid/tanh; `kernel rational` selects onnxruntime's GRU approximation (see above)."""

    kernel = opt_prop_def(ActivationKernelAttr)
    assembly_format = "$input (`kernel` $kernel^)? attr-dict `:` type($result)"

    def __init__(self, input: SSAValue | Operation, kernel: str | ActivationKernelAttr | None = None):
        props = (
            {}
            if kernel in (None, ActivationKernel.MLAS)
            else {"kernel": enum_attr(ActivationKernelAttr, kernel, "activation kernel")}
        )
        super(_UnaryOp, self).__init__(operands=[input], result_types=[SSAValue.get(input).type], properties=props)

    @property
    def kernel_name(self) -> ActivationKernel:
        return ActivationKernel.MLAS if self.kernel is None else self.kernel.data


@irdl_op_definition
class SigmoidOp(_ActivationOp):
    name = "qrnn.sigmoid"


@irdl_op_definition
class TanhOp(_ActivationOp):
    name = "qrnn.tanh"


@irdl_op_definition
class ReluOp(_UnaryOp):
    name = "qrnn.relu"


@irdl_op_definition
class ReshapeOp(IRDLOperation):
    """Reshape to a static shape with the same number of elements (Reshape/Unsqueeze/Squeeze/Flatten)."""

    name = "qrnn.reshape"
    input = operand_def(TensorType)
    result = result_def(TensorType)
    traits = traits_def(Pure(), ReshapeOpHasCanonicalizationPatterns())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, result_type: TensorType):
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        a, r = _tensor_shape(self.input, "input"), _tensor_shape(self.result, "result")
        if math.prod(a) != math.prod(r):
            raise VerifyException(f"'qrnn.reshape' cannot reshape {list(a)} ({math.prod(a)} elements) to {list(r)}")


@irdl_op_definition
class ConcatOp(IRDLOperation):
    """Concatenation along `axis` (e.g. forward and backward directions of a bidirectional layer)."""

    name = "qrnn.concat"
    inputs = var_operand_def(TensorType)
    axis = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$inputs `axis` `(` $axis `)` attr-dict `:` functional-type($inputs, $result)"

    def __init__(self, inputs: Sequence[SSAValue], axis: int, result_type: TensorType):
        super().__init__(operands=[inputs], properties={"axis": IntegerAttr(axis, i64)}, result_types=[result_type])

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("'qrnn.concat' needs at least one input")
        shapes = [_tensor_shape(v, "concat input") for v in self.inputs]
        rank = len(shapes[0])
        axis = self.axis.value.data
        if not 0 <= axis < rank:
            raise VerifyException(
                f"'qrnn.concat' axis {axis} is out of range for rank {rank} (use a non-negative axis)"
            )
        for s in shapes:
            if len(s) != rank or any(s[i] != shapes[0][i] for i in range(rank) if i != axis):
                raise VerifyException(f"'qrnn.concat' inputs {[list(x) for x in shapes]} differ outside axis {axis}")
        expected = list(shapes[0])
        expected[axis] = sum(s[axis] for s in shapes)
        if list(_tensor_shape(self.result, "result")) != expected:
            raise VerifyException(f"'qrnn.concat' result shape should be {expected}")


@irdl_op_definition
class TransposeOp(IRDLOperation):
    """Permutation of the axes (ONNX Transpose; also the NCHW <-> channels-last moves around a Conv)."""

    name = "qrnn.transpose"
    input = operand_def(TensorType)
    perm = prop_def(DenseArrayBase.constr(i64))
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input `perm` `(` $perm `)` attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, perm: Sequence[int]):
        ty = SSAValue.get(input, type=TensorType).type
        shape = [ty.get_shape()[p] for p in perm]
        super().__init__(
            operands=[input],
            properties={"perm": DenseArrayBase.from_list(i64, list(perm))},
            result_types=[TensorType(ty.get_element_type(), shape)],
        )

    @property
    def permutation(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.perm.get_values())

    def verify_(self) -> None:
        a, r = _tensor_shape(self.input, "input"), _tensor_shape(self.result, "result")
        perm = self.permutation
        if sorted(perm) != list(range(len(a))):
            raise VerifyException(f"'qrnn.transpose' perm {list(perm)} is not a permutation of {len(a)} axes")
        if list(r) != [a[p] for p in perm]:
            raise VerifyException(f"'qrnn.transpose' result shape {list(r)} should be {[a[p] for p in perm]}")
        if _tensor_type(self.input, "input").get_element_type() != self.result.type.get_element_type():
            raise VerifyException("'qrnn.transpose' must keep the element type")


@irdl_op_definition
class WindowOp(IRDLOperation):
    """Sliding window (im2col) of a channels-last image [H, W, C] for a convolution with kernel (kh, kw) and
    strides (sh, sw), no padding: result [Ho * Wo, kh * kw * C], row (ho, wo), column (i, j, c) holding
    input[ho * sh + i, wo * sw + j, c] — FINN's ConvolutionInputGenerator order, so a Conv is this window
    times a [kh * kw * C, C_out] weight matrix."""

    name = "qrnn.window"
    input = operand_def(TensorType)
    kernel = prop_def(DenseArrayBase.constr(i64))
    strides = prop_def(DenseArrayBase.constr(i64))
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "$input `kernel` `(` $kernel `)` `strides` `(` $strides `)` attr-dict `:` type($input) `->` type($result)"
    )

    def __init__(self, input: SSAValue | Operation, kernel: Sequence[int], strides: Sequence[int]):
        ty = SSAValue.get(input, type=TensorType).type
        h, w, c = ty.get_shape()
        ho, wo = window_output_size((h, w), kernel, strides)
        super().__init__(
            operands=[input],
            properties={
                "kernel": DenseArrayBase.from_list(i64, list(kernel)),
                "strides": DenseArrayBase.from_list(i64, list(strides)),
            },
            result_types=[TensorType(ty.get_element_type(), (ho * wo, kernel[0] * kernel[1] * c))],
        )

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.kernel.get_values())

    @property
    def stride(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.strides.get_values())

    @property
    def out_hw(self) -> tuple[int, int]:
        h, w, _ = SSAValue.get(self.input, type=TensorType).type.get_shape()
        return window_output_size((h, w), self.kernel_size, self.stride)

    def verify_(self) -> None:
        a, r = _tensor_shape(self.input, "input"), _tensor_shape(self.result, "result")
        k, st = self.kernel_size, self.stride
        if len(a) != 3 or len(k) != 2 or len(st) != 2 or min(k + st) < 1:
            raise VerifyException("'qrnn.window' takes an [H, W, C] input, a 2-d kernel and 2 positive strides")
        if k[0] > a[0] or k[1] > a[1]:
            raise VerifyException(f"'qrnn.window' kernel {list(k)} is larger than the image {list(a[:2])}")
        ho, wo = window_output_size(a[:2], k, st)
        if list(r) != [ho * wo, k[0] * k[1] * a[2]]:
            raise VerifyException(f"'qrnn.window' result shape {list(r)} should be {[ho * wo, k[0] * k[1] * a[2]]}")


def window_output_size(hw: Sequence[int], kernel: Sequence[int], strides: Sequence[int]) -> tuple[int, int]:
    return (hw[0] - kernel[0]) // strides[0] + 1, (hw[1] - kernel[1]) // strides[1] + 1


def _directions(directions: Sequence[str | ScanDirectionAttr]) -> ArrayAttr[ScanDirectionAttr]:
    return ArrayAttr([enum_attr(ScanDirectionAttr, d, "scan direction") for d in directions])


@irdl_op_definition
class RecurrenceOp(IRDLOperation):
    """A recurrence over time (ONNX Scan semantics).

    Operands: `init` (initial carried state), `inputs` (sequences scanned along dimension 0, each with a
    direction). The body block takes (state..., one slice of each input...) and yields (next state...,
    one slice of each scan output...). Results: the final state values, then each scan output stacked
    along a new leading time dimension, written in its output direction.
    """

    name = "qrnn.recurrence"
    init = var_operand_def(TensorType)
    inputs = var_operand_def(TensorType)
    final_states = var_result_def(TensorType)
    outputs = var_result_def(TensorType)
    input_directions = prop_def(ArrayAttr[ScanDirectionAttr])
    output_directions = prop_def(ArrayAttr[ScanDirectionAttr])
    body = region_def("single_block")
    traits = traits_def(RecurrenceOpHasCanonicalizationPatterns())
    irdl_options = (AttrSizedOperandSegments(as_property=True), AttrSizedResultSegments(as_property=True))

    def __init__(
        self,
        init: Sequence[SSAValue],
        inputs: Sequence[SSAValue],
        output_types: Sequence[Attribute],
        input_directions: Sequence[str | ScanDirectionAttr],
        output_directions: Sequence[str | ScanDirectionAttr],
        body: Region,
    ):
        super().__init__(
            operands=[list(init), list(inputs)],
            result_types=[[v.type for v in init], list(output_types)],
            properties={
                "input_directions": _directions(input_directions),
                "output_directions": _directions(output_directions),
            },
            regions=[body],
        )

    @property
    def in_dirs(self) -> tuple[ScanDirection, ...]:
        return tuple(d.data for d in self.input_directions)

    @property
    def out_dirs(self) -> tuple[ScanDirection, ...]:
        return tuple(d.data for d in self.output_directions)

    @property
    def seq_len(self) -> int:
        return _tensor_shape(self.inputs[0], "scan input")[0]

    def verify_(self) -> None:
        n_state, n_in, n_out = len(self.init), len(self.inputs), len(self.outputs)
        if n_in == 0:
            raise VerifyException("'qrnn.recurrence' needs at least one scanned input")
        if len(self.in_dirs) != n_in:
            raise VerifyException(
                f"'qrnn.recurrence' has {n_in} scanned inputs but {len(self.in_dirs)} input directions"
            )
        if len(self.out_dirs) != n_out:
            raise VerifyException(
                f"'qrnn.recurrence' has {n_out} scan outputs but {len(self.out_dirs)} output directions"
            )
        lengths = {_tensor_shape(v, "scan input")[0] for v in self.inputs if _tensor_shape(v, "scan input")}
        if any(len(_tensor_shape(v, "scan input")) == 0 for v in self.inputs):
            raise VerifyException("scanned inputs must have at least rank 1 (the time dimension)")
        if len(lengths) != 1:
            raise VerifyException(f"all scanned inputs must have the same sequence length, got {sorted(lengths)}")
        (seq_len,) = lengths
        block = self.body.block
        expected_args = [v.type for v in self.init] + [
            TensorType(t.get_element_type(), t.get_shape()[1:])
            for t in (_tensor_type(v, "scan input") for v in self.inputs)
        ]
        got_args = [a.type for a in block.args]
        if got_args != expected_args:
            raise VerifyException(
                "'qrnn.recurrence' body arguments must be the state types then one time slice of each input: "
                f"expected ({', '.join(map(str, expected_args))}), got ({', '.join(map(str, got_args))})"
            )
        term = block.last_op
        if not isinstance(term, YieldOp):
            raise VerifyException("'qrnn.recurrence' body must end with 'qrnn.yield'")
        yielded = [v.type for v in term.values]
        if len(yielded) != n_state + n_out:
            raise VerifyException(
                f"'qrnn.yield' must give {n_state} state values and {n_out} scan outputs, got {len(yielded)} values"
            )
        for i, (init, y) in enumerate(zip(self.init, yielded[:n_state])):
            if init.type != y:
                raise VerifyException(f"state {i} is initialised as {init.type} but the body yields {y}")
        for i, (res, y) in enumerate(zip(self.outputs, yielded[n_state:])):
            if not isinstance(y, TensorType):
                raise VerifyException(f"scan output {i} must be a tensor, got {y}")
            expected = TensorType(y.get_element_type(), (seq_len, *y.get_shape()))
            if res.type != expected:
                raise VerifyException(f"scan output {i} should have type {expected}, got {res.type}")

    # Custom syntax:
    #   %r:3 = qrnn.recurrence state(%h0, %c0) scan(%x reverse) -> (%y forward) : (types) -> (types) { body }
    # is too heavy; we use
    #   %h, %c, %y = qrnn.recurrence(%h0, %c0) scan(%x) directions [reverse] -> [reverse]
    #                  : (tensor<8xf32>, tensor<8xf32>, tensor<50x4xf32>) -> (..., tensor<50x8xf32>) { ... }
    def print(self, printer: Printer) -> None:
        printer.print_string("(")
        printer.print_list(self.init, printer.print_operand)
        printer.print_string(") scan(")
        printer.print_list(self.inputs, printer.print_operand)
        names = lambda ds: "[" + ", ".join(ds) + "]"  # noqa: E731
        printer.print_string(f") directions {names(self.in_dirs)} -> {names(self.out_dirs)} : (")
        printer.print_list([v.type for v in (*self.init, *self.inputs)], printer.print_attribute)
        printer.print_string(") -> (")
        printer.print_list([r.type for r in self.results], printer.print_attribute)
        printer.print_string(") ")
        printer.print_region(self.body, print_entry_block_args=True)
        extra = {k: v for k, v in self.attributes.items()}
        if extra:
            printer.print_op_attributes(extra, print_keyword=True)

    @classmethod
    def parse(cls, parser: Parser) -> RecurrenceOp:
        init = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_unresolved_operand)
        parser.parse_keyword("scan")
        inputs = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_unresolved_operand)
        parser.parse_keyword("directions")
        in_dirs = cls._parse_directions(parser)
        parser.parse_punctuation("->")
        out_dirs = cls._parse_directions(parser)
        parser.parse_punctuation(":")
        operand_types = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_type)
        parser.parse_punctuation("->")
        result_types = parser.parse_comma_separated_list(parser.Delimiter.PAREN, parser.parse_type)
        if len(operand_types) != len(init) + len(inputs):
            parser.raise_error(f"expected {len(init) + len(inputs)} operand types, got {len(operand_types)}")
        operands = parser.resolve_operands(init + inputs, operand_types, parser.pos)
        body = parser.parse_region()
        attrs = parser.parse_optional_attr_dict_with_keyword()
        n_state = len(init)
        if len(result_types) < n_state:
            parser.raise_error(f"expected at least {n_state} result types (one per state)")
        op = cls(operands[:n_state], operands[n_state:], result_types[n_state:], in_dirs, out_dirs, body)
        if attrs is not None:
            op.attributes.update(attrs.data)
        return op

    @staticmethod
    def _parse_directions(parser: Parser) -> list[ScanDirection]:
        return parser.parse_comma_separated_list(
            parser.Delimiter.SQUARE, lambda: parse_enum(parser, ScanDirection, "scan direction")
        )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Ends a recurrence body: the next state values, then this step's scan outputs."""

    name = "qrnn.yield"
    values = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), HasParent(RecurrenceOp))
    assembly_format = "($values^ `:` type($values))? attr-dict"

    def __init__(self, *values: SSAValue | Operation):
        super().__init__(operands=[[SSAValue.get(v) for v in values]])


# ---------------------------------------------------------------------------------------------------------
# Folded constants and slicing (float level, after qrnn-fold-constants)
# ---------------------------------------------------------------------------------------------------------


def integer_type_for_range(lo: int, hi: int) -> IntegerType:
    """The narrowest signed (siN) or unsigned (uiN) integer type holding every value of [lo, hi]."""
    if lo >= 0:
        return IntegerType(max(int(hi).bit_length(), 1), Signedness.UNSIGNED)
    bits = max((-int(lo) - 1).bit_length(), int(hi).bit_length()) + 1
    return IntegerType(bits, Signedness.SIGNED)


def integer_range_of(ty: Attribute) -> tuple[int, int]:
    """The value range of an siN/uiN/iN element type (signless counts as signed)."""
    assert isinstance(ty, IntegerType)
    w = ty.width.data
    if ty.signedness.data == Signedness.UNSIGNED:
        return 0, 2**w - 1
    return -(2 ** (w - 1)), 2 ** (w - 1) - 1


def _int_tensor(value: SSAValue, what: str) -> tuple[int, ...]:
    shape = _tensor_shape(value, what)
    if not isinstance(_tensor_type(value, what).get_element_type(), IntegerType):
        raise VerifyException(f"{what} must be an integer tensor, got {value.type}")
    return shape


def _float_tensor(value: SSAValue, what: str) -> tuple[int, ...]:
    shape = _tensor_shape(value, what)
    if not isinstance(_tensor_type(value, what).get_element_type(), Float32Type):
        raise VerifyException(f"{what} must be an f32 tensor, got {value.type}")
    return shape


def _dense_ints(attr: DenseIntOrFPElementsAttr) -> list[int]:
    # integer or float elements (never complex ones): each converts to an int
    return [int(v) for v in cast("tuple[float, ...]", attr.get_values())]


@irdl_op_definition
class QConstantOp(IRDLOperation):
    """A quantized constant: integer codes and their quantizer; the result is the dequantized f32 tensor,
    (codes - zp) * scale, bit-identical to quantizing the original float constant."""

    name = "qrnn.qconstant"
    codes = prop_def(DenseIntOrFPElementsAttr)
    quant = prop_def(QuantAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure(), ConstantLike())

    def __init__(self, codes: DenseIntOrFPElementsAttr, quant: QuantAttr):
        result_type = TensorType(f32, codes.get_shape())
        super().__init__(properties={"codes": codes, "quant": quant}, result_types=[result_type])

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        print_dense(printer, self.codes)
        printer.print_string(" by ")
        self.quant.print_parameters(printer)
        printer.print_op_attributes(self.attributes)

    @classmethod
    def parse(cls, parser: Parser) -> QConstantOp:
        codes = parser.parse_attribute()
        if not isinstance(codes, DenseIntOrFPElementsAttr):
            parser.raise_error(f"expected dense integer codes, got {codes}")
        parser.parse_keyword("by")
        quant = QuantAttr.new(QuantAttr.parse_parameters(parser))
        op = cls(codes, quant)
        op.attributes.update(parser.parse_optional_attr_dict())
        return op

    def verify_(self) -> None:
        et = self.codes.get_element_type()
        q = self.quant
        if not isinstance(et, IntegerType):
            raise VerifyException(f"'qrnn.qconstant' codes must be integers, got {et}")
        want = IntegerType(q.bits.data, Signedness.SIGNED if q.is_signed else Signedness.UNSIGNED)
        if et != want:
            raise VerifyException(
                f"'qrnn.qconstant' codes of a {q.bits.data}-bit quantizer must have type {want}, got {et}"
            )
        shape = tuple(self.codes.get_shape())
        if tuple(self.result.type.get_shape()) != shape or not isinstance(
            self.result.type.get_element_type(), Float32Type
        ):
            raise VerifyException(f"'qrnn.qconstant' result must be tensor<{'x'.join(map(str, shape))}xf32>")
        axis = q.channel_axis
        if axis is not None and (not -len(shape) <= axis < len(shape) or len(q.scales) != shape[axis]):
            raise VerifyException(f"per-channel quantizer with {len(q.scales)} scales does not fit shape {list(shape)}")


@irdl_op_definition
class SliceOp(IRDLOperation):
    """Elements [offset, offset + size) of the last axis (one gate of a fused gate matrix)."""

    name = "qrnn.slice"
    input = operand_def(TensorType)
    offset = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())

    def __init__(self, input: SSAValue | Operation, offset: int, size: int):
        ty = SSAValue.get(input, type=TensorType).type
        shape = (*ty.get_shape()[:-1], size)
        super().__init__(
            operands=[input],
            properties={"offset": IntegerAttr(offset, i64)},
            result_types=[TensorType(ty.get_element_type(), shape)],
        )

    @property
    def start(self) -> int:
        return self.offset.value.data

    @property
    def size(self) -> int:
        return self.result.type.get_shape()[-1]

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.input)
        printer.print_string(f"[{self.start}:{self.start + self.size}]")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.input.type)
        printer.print_string(" -> ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> SliceOp:
        operand = parser.parse_unresolved_operand()
        parser.parse_punctuation("[")
        start = parser.parse_integer()
        parser.parse_punctuation(":")
        stop = parser.parse_integer()
        parser.parse_punctuation("]")
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        in_type = parser.parse_type()
        parser.parse_punctuation("->")
        out_type = parser.parse_type()
        (value,) = parser.resolve_operands([operand], [in_type], parser.pos)
        op = cls.create(operands=[value], properties={"offset": IntegerAttr(start, i64)}, result_types=[out_type])
        op.attributes.update(attrs)
        if stop - start != (out_type.get_shape()[-1] if isinstance(out_type, TensorType) else -1):
            parser.raise_error(f"slice [{start}:{stop}] does not match the result type {out_type}")
        return op

    def verify_(self) -> None:
        a, r = _tensor_shape(self.input, "slice input"), _tensor_shape(self.result, "slice result")
        if not a or len(a) != len(r) or a[:-1] != r[:-1]:
            raise VerifyException(
                f"'qrnn.slice' result shape {list(r)} must equal the input shape {list(a)} but in the last axis"
            )
        if _tensor_type(self.input, "slice input").get_element_type() != self.result.type.get_element_type():
            raise VerifyException("'qrnn.slice' must keep the element type")
        if self.start < 0 or self.start + r[-1] > a[-1]:
            raise VerifyException(f"'qrnn.slice' [{self.start}:{self.start + r[-1]}] is out of bounds for size {a[-1]}")


# ---------------------------------------------------------------------------------------------------------
# Integer level (after qrnn-legalize-precision)
#
# An integer value v of a quantizer with scale s and zero point zp stands for the real number v * s: codes
# are kept centred (v = code - zp), so zero points never enter arithmetic. Types are the narrowest siN/uiN
# that hold the value's proven range.
# ---------------------------------------------------------------------------------------------------------


class _BoundaryOp(IRDLOperation):
    """A conversion between float values and centred integer codes at the model boundary."""

    input = operand_def(TensorType)
    quant = prop_def(QuantAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = "$input `by` $quant attr-dict `:` type($input) `->` type($result)"
    FLOAT_INPUT: ClassVar[bool]

    def verify_(self) -> None:
        check_in, check_out = (_float_tensor, _int_tensor) if self.FLOAT_INPUT else (_int_tensor, _float_tensor)
        a = check_in(self.input, f"'{self.name}' input")
        r = check_out(self.result, f"'{self.name}' result")
        if a != r:
            raise VerifyException(f"'{self.name}' result shape {list(r)} must equal the input shape {list(a)}")


@irdl_op_definition
class QuantizeOp(_BoundaryOp):
    """Float -> centred integer codes at the model boundary: clamp(round(x / s) + zp) - zp."""

    name = "qrnn.quantize"
    FLOAT_INPUT: ClassVar[bool] = True

    def __init__(self, input: SSAValue | Operation, quant: QuantAttr):
        ty = SSAValue.get(input, type=TensorType).type
        zp_lo, zp_hi = min(quant.zero_points), max(quant.zero_points)
        rt = TensorType(integer_type_for_range(quant.qmin - zp_hi, quant.qmax - zp_lo), ty.get_shape())
        super().__init__(operands=[input], properties={"quant": quant}, result_types=[rt])


@irdl_op_definition
class DequantizeOp(_BoundaryOp):
    """Centred integer codes -> float at the model boundary: v * s in float32."""

    name = "qrnn.dequantize"
    FLOAT_INPUT: ClassVar[bool] = False

    def __init__(self, input: SSAValue | Operation, quant: QuantAttr):
        ty = SSAValue.get(input, type=TensorType).type
        super().__init__(operands=[input], properties={"quant": quant}, result_types=[TensorType(f32, ty.get_shape())])


class _IntBinaryOp(_BinaryOp):
    def verify_(self) -> None:
        for v, what in ((self.lhs, "lhs"), (self.rhs, "rhs"), (self.result, "result")):
            _int_tensor(v, f"'{self.name}' {what}")
        super().verify_()


@irdl_op_definition
class IMatMulOp(_IntBinaryOp):
    """Exact integer matrix product; the result type is wide enough for every reachable sum."""

    name = "qrnn.imatmul"

    def expected_shape(self, a, b):
        return matmul_shape(a, b)


@irdl_op_definition
class IMulOp(_IntBinaryOp):
    """Exact elementwise integer product."""

    name = "qrnn.imul"


@irdl_op_definition
class ScaledSumOp(IRDLOperation):
    """Exact fixed-point sum: sum_t multipliers[t, n] * terms_t[..., n] + bias[n].

    Terms on different scales (x-path, h-path, bias, products in the cell update) are aligned to one
    fixed-point scale by integer multipliers per term and per channel of the last axis.
    """

    name = "qrnn.scaled_sum"
    terms = var_operand_def(TensorType)
    multipliers = prop_def(DenseIntOrFPElementsAttr)
    bias = prop_def(DenseIntOrFPElementsAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "`(` $terms `)` `multipliers` `(` $multipliers `)` `bias` `(` $bias `)` attr-dict `:` "
        "functional-type($terms, $result)"
    )

    def __init__(
        self,
        terms: Sequence[SSAValue],
        multipliers: DenseIntOrFPElementsAttr,
        bias: DenseIntOrFPElementsAttr,
        result_type: TensorType,
    ):
        super().__init__(
            operands=[list(terms)], properties={"multipliers": multipliers, "bias": bias}, result_types=[result_type]
        )

    def verify_(self) -> None:
        r = _int_tensor(self.result, "'qrnn.scaled_sum' result")
        n = r[-1] if r else 1
        for i, t in enumerate(self.terms):
            s = _int_tensor(t, f"'qrnn.scaled_sum' term {i}")
            if s != r:
                raise VerifyException(f"'qrnn.scaled_sum' term {i} has shape {list(s)}, expected {list(r)}")
        m = tuple(self.multipliers.get_shape())
        if m != (len(self.terms), n):
            raise VerifyException(
                f"'qrnn.scaled_sum' multipliers must have shape [{len(self.terms)}, {n}], got {list(m)}"
            )
        if tuple(self.bias.get_shape()) != (n,):
            raise VerifyException(f"'qrnn.scaled_sum' bias must have shape [{n}], got {list(self.bias.get_shape())}")


@irdl_op_definition
class RequantOp(IRDLOperation):
    """clamp(round(input / 2^shift), lo, hi) with an explicit rounding mode (a requantizer)."""

    name = "qrnn.requant"
    input = operand_def(TensorType)
    shift = prop_def(IntegerAttr[I64])
    lo = prop_def(IntegerAttr[I64])
    hi = prop_def(IntegerAttr[I64])
    rounding = prop_def(RoundingModeAttr)
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "$input `shift` `(` $shift `)` `clamp` `(` $lo `,` $hi `)` `rounding` `(` $rounding `)` attr-dict `:` "
        "type($input) `->` type($result)"
    )

    def __init__(self, input: SSAValue, shift: int, lo: int, hi: int, rounding: str | RoundingModeAttr):
        ty = SSAValue.get(input, type=TensorType).type
        super().__init__(
            operands=[input],
            properties={
                "shift": IntegerAttr(shift, i64),
                "lo": IntegerAttr(lo, i64),
                "hi": IntegerAttr(hi, i64),
                "rounding": enum_attr(RoundingModeAttr, rounding, "rounding mode"),
            },
            result_types=[TensorType(integer_type_for_range(lo, hi), ty.get_shape())],
        )

    def verify_(self) -> None:
        a = _int_tensor(self.input, "'qrnn.requant' input")
        r = _int_tensor(self.result, "'qrnn.requant' result")
        if a != r:
            raise VerifyException(f"'qrnn.requant' result shape {list(r)} must equal the input shape {list(a)}")
        if self.shift.value.data < 0:
            raise VerifyException(f"'qrnn.requant' shift must be >= 0, got {self.shift.value.data}")
        lo, hi = self.lo.value.data, self.hi.value.data
        if lo > hi:
            raise VerifyException(f"'qrnn.requant' clamp range [{lo}, {hi}] is empty")
        t_lo, t_hi = integer_range_of(self.result.type.get_element_type())
        if lo < t_lo or hi > t_hi:
            raise VerifyException(
                f"'qrnn.requant' clamp range [{lo}, {hi}] does not fit {self.result.type.get_element_type()}"
            )


@irdl_op_definition
class ThresholdOp(IRDLOperation):
    """Multi-threshold activation (FINN style): base + #{k : input >= thresholds[..., k]}.

    Thresholds are [K] (shared) or [N, K] (per channel of the last axis), each row non-decreasing.
    """

    name = "qrnn.threshold"
    input = operand_def(TensorType)
    thresholds = prop_def(DenseIntOrFPElementsAttr)
    base = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "$input `thresholds` `(` $thresholds `)` `base` `(` $base `)` attr-dict `:` type($input) `->` type($result)"
    )

    def verify_(self) -> None:
        a = _int_tensor(self.input, "'qrnn.threshold' input")
        r = _int_tensor(self.result, "'qrnn.threshold' result")
        if a != r:
            raise VerifyException(f"'qrnn.threshold' result shape {list(r)} must equal the input shape {list(a)}")
        t = tuple(self.thresholds.get_shape())
        if len(t) not in (1, 2) or (len(t) == 2 and (not a or t[0] != a[-1])):
            raise VerifyException(f"'qrnn.threshold' thresholds must be [K] or [{a[-1] if a else 1}, K], got {list(t)}")
        base = self.base.value.data
        t_lo, t_hi = integer_range_of(self.result.type.get_element_type())
        if base < t_lo or base + t[-1] > t_hi:
            raise VerifyException(
                f"'qrnn.threshold' outputs [{base}, {base + t[-1]}] do not fit {self.result.type.get_element_type()}"
            )
        # The interpreter counts by binary search, the kernel by comparing all: they agree only on sorted rows.
        values, k = _dense_ints(self.thresholds), t[-1]
        for row in range(len(values) // k if k else 0):
            for j in range(row * k + 1, (row + 1) * k):
                if values[j] < values[j - 1]:
                    raise VerifyException(
                        f"'qrnn.threshold' thresholds must be non-decreasing along each row: row "
                        f"{row} has {values[j - 1]} before {values[j]}"
                    )


@irdl_op_definition
class LutOp(IRDLOperation):
    """Table lookup: table[input - offset] (an activation and its output quantizer, tabulated)."""

    name = "qrnn.lut"
    input = operand_def(TensorType)
    table = prop_def(DenseIntOrFPElementsAttr)
    offset = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)
    traits = traits_def(Pure())
    assembly_format = (
        "$input `table` `(` $table `)` `offset` `(` $offset `)` attr-dict `:` type($input) `->` type($result)"
    )

    def verify_(self) -> None:
        a = _int_tensor(self.input, "'qrnn.lut' input")
        r = _int_tensor(self.result, "'qrnn.lut' result")
        if a != r:
            raise VerifyException(f"'qrnn.lut' result shape {list(r)} must equal the input shape {list(a)}")
        if len(self.table.get_shape()) != 1:
            raise VerifyException("'qrnn.lut' table must be one-dimensional")


# ---------------------------------------------------------------------------------------------------------
# Canonicalization patterns, attached to their ops (so xDSL's generic `canonicalize` applies them) and run by
# qrnn-canonicalize with its multi-op patterns. Each keeps the float semantics bit for bit.
# ---------------------------------------------------------------------------------------------------------


def _ttype(value: SSAValue) -> TensorType:
    """The type of a value of the tensor-level IR."""
    return SSAValue.get(value, type=TensorType).type


class FoldReluIntoQuant(RewritePattern):
    """quant(relu(x)) -> quant(x) when the quantizer's smallest code is >= its zero point: a negative input rounds
    to a code <= zp and clamps to that smallest code anyway (Brevitas' QuantReLU)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: QuantOp, rewriter: PatternRewriter) -> None:
        relu = op.input
        if not (isinstance(relu, OpResult) and isinstance(relu.op, ReluOp)):
            return
        if all(op.quant.qmin >= zp for zp in op.quant.zero_points):
            rewriter.replace(op, QuantOp(relu.op.input, op.quant))
            if not relu.uses:
                rewriter.erase(relu.op)


class FoldReshapeOfReshape(RewritePattern):
    """reshape(reshape(x)) -> reshape(x), or x when the shapes agree (whatever other users the inner one has)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: ReshapeOp, rewriter: PatternRewriter) -> None:
        inner = op.input
        if not (isinstance(inner, OpResult) and isinstance(inner.op, ReshapeOp)):
            return
        source = inner.op.input
        if source.type == op.result.type:
            rewriter.replace(op, [], [source])
        else:
            rewriter.replace(
                op, ReshapeOp(source, TensorType(_ttype(source).get_element_type(), op.result.type.get_shape()))
            )


def _drop_first(ty: TensorType, axis: int = 0) -> TensorType:
    shape = list(ty.get_shape())
    del shape[axis]
    return TensorType(ty.get_element_type(), shape)


def _drop_unit_axis(op: RecurrenceOp, rewriter: PatternRewriter, axis: int) -> None:
    """Run `op` on its per-step values without their unit axis `axis` (0 or -1; scanned sequences lose the axis
    behind time): reshapes at the body's entry and exit (which the sinking patterns and FoldReshapeOfReshape then
    cancel) and around the recurrence keep every value as it was."""
    body = op.body.block
    term = body.last_op
    assert isinstance(term, YieldOp)
    seq_axis = 1 if axis == 0 else axis
    init = [ReshapeOp(v, _drop_first(_ttype(v), axis)) for v in op.init]
    seqs = [ReshapeOp(v, _drop_first(_ttype(v), seq_axis)) for v in op.inputs]
    for r in init + seqs:
        r.result.name_hint = r.input.name_hint
    block = Block(arg_types=[_drop_first(_ttype(a), axis) for a in body.args])
    for old, arg in zip(body.args, block.args):
        arg.name_hint = old.name_hint
        entry = ReshapeOp(arg, _ttype(old))
        block.add_op(entry)
        old.replace_all_uses_with(entry.result)
    values = list(term.values)
    rewriter.erase(term)
    for inner in list(body.ops):
        inner.detach()
        block.add_op(inner)
    exits = [ReshapeOp(v, _drop_first(_ttype(v), axis)) for v in values]
    block.add_ops([*exits, YieldOp(*(e.result for e in exits))])
    rec = RecurrenceOp(
        [r.result for r in init],
        [r.result for r in seqs],
        [_drop_first(_ttype(r), seq_axis) for r in op.outputs],
        op.in_dirs,
        op.out_dirs,
        Region(block),
    )
    rec.attributes.update(op.attributes)
    restored = [ReshapeOp(new, _ttype(old)) for new, old in zip(rec.results, op.results)]
    for new, old in zip(rec.results, op.results):
        new.name_hint = old.name_hint
    rewriter.replace(op, [*init, *seqs, rec, *restored], [r.result for r in restored])


def _per_step_shapes(op: RecurrenceOp) -> list[tuple[int, ...]]:
    body = op.body.block
    term = body.last_op
    assert term is not None
    return [tuple(_ttype(a).get_shape()) for a in body.args] + [tuple(_ttype(v).get_shape()) for v in term.operands]


class DropUnitBatch(RewritePattern):
    """A recurrence whose carried states, step inputs and step outputs all lead with a unit axis (one sequence
    in torch's [T, B, I] layout) runs on the slices without it."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: RecurrenceOp, rewriter: PatternRewriter) -> None:
        if all(len(s) >= 2 and s[0] == 1 for s in _per_step_shapes(op)):
            _drop_unit_axis(op, rewriter, 0)


class DropUnitColumn(RewritePattern):
    """A recurrence on column vectors (FINN-GL's reference cell: state [H, 1], x_t [I, 1], scanned input
    [T, I, 1]) runs on [H] and [I]: every per-step value ends with a unit axis, which goes away."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: RecurrenceOp, rewriter: PatternRewriter) -> None:
        shapes = _per_step_shapes(op)
        if all(len(s) >= 2 and s[-1] == 1 for s in shapes) and not all(s[0] == 1 for s in shapes):
            _drop_unit_axis(op, rewriter, -1)


class HoistScannedInputQuant(RewritePattern):
    """A recurrence whose body only quantizes a scanned input's slice (FINN-GL's reference cell quantizes x_t
    inside the body) scans the quantized sequence instead: an elementwise quantizer of every slice is that
    quantizer of the whole sequence (a per-channel axis moves one place right, behind time)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: RecurrenceOp, rewriter: PatternRewriter) -> None:
        n_state = len(op.init)
        for j, arg in enumerate(op.body.block.args[n_state:]):
            users = [u.operation for u in arg.uses]
            quants = [u for u in users if isinstance(u, QuantOp)]
            if not users or len(quants) != len(users) or len({u.quant for u in quants}) > 1:
                continue
            q = quants[0].quant
            if q.channel_axis is not None:
                q = q.with_axis(q.channel_axis % len(_ttype(arg).get_shape()) + 1)
            hoisted = QuantOp(op.inputs[j], q)
            hoisted.result.name_hint = quants[0].result.name_hint or op.inputs[j].name_hint
            rewriter.insert(hoisted, InsertPoint.before(op))
            op.operands[n_state + j] = hoisted.result
            rewriter.notify_op_modified(op)
            for u in users:
                rewriter.replace(u, [], [arg])
            return


QRNN = Dialect(
    "qrnn",
    [
        ConstantOp,
        QuantOp,
        QuantDequantOp,
        AddOp,
        SubOp,
        MulOp,
        MatMulOp,
        SigmoidOp,
        TanhOp,
        ReluOp,
        ReshapeOp,
        ConcatOp,
        RecurrenceOp,
        YieldOp,
        QConstantOp,
        SliceOp,
        TransposeOp,
        WindowOp,
        QuantizeOp,
        DequantizeOp,
        IMatMulOp,
        IMulOp,
        ScaledSumOp,
        RequantOp,
        ThresholdOp,
        LutOp,
    ],
    [
        QuantAttr,
        RoundingModeAttr,
        QuantSignednessAttr,
        QuantRangeAttr,
        ScanDirectionAttr,
        MatMulKernelAttr,
        ActivationKernelAttr,
    ],
)
