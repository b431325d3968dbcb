"""The `hlscpp` dialect: the structured C++ that Vitis HLS synthesizes, one op per C++ construct.

Functions, static arrays (with their initializers and ARRAY_PARTITION directives), hls::stream FIFOs (with
depths; an array of them is the lanes of a unit that handles several elements per cycle), counted loops
(with PIPELINE/UNROLL directives), loads/stores, stream reads/writes and integer arithmetic on ap_int/ap_uint
(builtin siN/uiN element types) and ap_fixed (`!hlscpp.fixed`). Every HLS directive is an attribute of the op
it applies to; the `hls-cpp` target only prints (lstmc/hls/emit.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    FunctionType,
    IndexType,
    IntAttr,
    IntegerAttr,
    IntegerType,
    MemRefType,
    StringAttr,
    SymbolRefAttr,
    UnitAttr,
    I64,
    i64,
)
from xdsl.ir import Attribute, Block, Dialect, ParametrizedAttribute, Region, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    param_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import IsolatedFromAbove, NoTerminator, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException

BINARY_KINDS = ("add", "sub", "mul", "div", "mod", "shr", "shl", "and", "or", "ge", "gt", "le", "lt", "eq", "ne", "min", "max")
PARTITION_KINDS = ("complete", "cyclic", "block")
STORAGE = ("local", "static", "static_const")
INTERFACES = ("axis", "ap_none", "ap_memory", "bram", "s_axilite")


@irdl_attr_definition
class StreamType(ParametrizedAttribute, TypeAttribute):
    """hls::stream<T>."""

    name = "hlscpp.stream"
    element_type: Attribute = param_def()


@irdl_attr_definition
class FixedType(ParametrizedAttribute, TypeAttribute):
    """ap_fixed<W, I> (signed) or ap_ufixed<W, I>: W bits of which I integer bits."""

    name = "hlscpp.fixed"
    width: IntAttr = param_def()
    int_bits: IntAttr = param_def()
    signed: IntAttr = param_def()

    def __init__(self, width: int, int_bits: int, signed: bool = True):
        super().__init__(IntAttr(width), IntAttr(int_bits), IntAttr(int(signed)))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        """`!hlscpp.fixed<16, 6>` (signed) or `!hlscpp.fixed<16, 6, unsigned>`."""
        with parser.in_angle_brackets():
            width = parser.parse_integer()
            parser.parse_punctuation(",")
            int_bits = parser.parse_integer()
            signed = True
            if parser.parse_optional_punctuation(",") is not None:
                parser.parse_keyword("unsigned")
                signed = False
        return (IntAttr(width), IntAttr(int_bits), IntAttr(int(signed)))

    def print_parameters(self, printer: Printer) -> None:
        suffix = "" if self.signed.data else ", unsigned"
        printer.print_string(f"<{self.width.data}, {self.int_bits.data}{suffix}>")

    def verify(self) -> None:
        if self.width.data < 1:
            raise VerifyException(f"ap_fixed width must be positive, got {self.width.data}")


@irdl_attr_definition
class PartitionAttr(ParametrizedAttribute):
    """One ARRAY_PARTITION directive: `#hlscpp.partition<cyclic, 4, 1>` = cyclic factor 4 on dimension 1."""

    name = "hlscpp.partition"
    kind: StringAttr = param_def()
    factor: IntAttr = param_def()
    dim: IntAttr = param_def()

    def __init__(self, kind: str, factor: int, dim: int):
        super().__init__(StringAttr(kind), IntAttr(factor), IntAttr(dim))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            kind = parser.parse_identifier()
            parser.parse_punctuation(",")
            factor = parser.parse_integer()
            parser.parse_punctuation(",")
            dim = parser.parse_integer()
        return (StringAttr(kind), IntAttr(factor), IntAttr(dim))

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<{self.kind.data}, {self.factor.data}, {self.dim.data}>")

    def verify(self) -> None:
        if self.kind.data not in PARTITION_KINDS:
            raise VerifyException(f"partition kind must be one of {', '.join(PARTITION_KINDS)}, got '{self.kind.data}'")
        if self.factor.data < 0 or self.dim.data < 0:
            raise VerifyException("partition factor and dim must be >= 0")


def _scalar(ty: Attribute) -> bool:
    return isinstance(ty, (IntegerType, IndexType, FixedType))


@irdl_op_definition
class FuncOp(IRDLOperation):
    """A C++ function. `arg_names` name the parameters; `interfaces` gives each parameter's INTERFACE
    directive (empty string: none); `top` marks the synthesis top; `dataflow` adds `#pragma HLS DATAFLOW`."""

    name = "hlscpp.func"
    sym_name = prop_def(StringAttr)
    function_type = prop_def(FunctionType)
    arg_names = prop_def(ArrayAttr[StringAttr])
    interfaces = prop_def(ArrayAttr[StringAttr])
    top = opt_prop_def(UnitAttr)
    dataflow = opt_prop_def(UnitAttr)
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove(), NoTerminator(), SymbolOpInterface())

    def __init__(self, name: str, arg_types: Sequence[Attribute], arg_names: Sequence[str],
                 interfaces: Sequence[str] | None = None, top: bool = False, dataflow: bool = False):
        block = Block(arg_types=list(arg_types))
        props: dict[str, Attribute] = {
            "sym_name": StringAttr(name),
            "function_type": FunctionType.from_lists(list(arg_types), []),
            "arg_names": ArrayAttr([StringAttr(n) for n in arg_names]),
            "interfaces": ArrayAttr([StringAttr(i) for i in (interfaces or [""] * len(arg_names))]),
        }
        if top:
            props["top"] = UnitAttr()
        if dataflow:
            props["dataflow"] = UnitAttr()
        super().__init__(properties=props, regions=[Region(block)])

    def verify_(self) -> None:
        n = len(self.function_type.inputs.data)
        if len(self.arg_names.data) != n or len(self.interfaces.data) != n:
            raise VerifyException(f"'hlscpp.func' @{self.sym_name.data} needs {n} argument names and interfaces")
        for i in self.interfaces.data:
            if i.data and i.data not in INTERFACES:
                raise VerifyException(f"unknown interface '{i.data}' (expected one of {', '.join(INTERFACES)})")
        if [a.type for a in self.body.block.args] != list(self.function_type.inputs.data):
            raise VerifyException("'hlscpp.func' block arguments must match the function type")


@irdl_op_definition
class CallOp(IRDLOperation):
    name = "hlscpp.call"
    callee = prop_def(SymbolRefAttr)
    args = var_operand_def()
    assembly_format = "$callee `(` $args `)` attr-dict `:` type($args)"

    def __init__(self, callee: str, args: Sequence[SSAValue]):
        super().__init__(operands=[list(args)], properties={"callee": SymbolRefAttr(callee)})


@irdl_op_definition
class ArrayOp(IRDLOperation):
    """An array (or, with shape [], a scalar variable): `storage` local | static | static_const,
    optional initializer, ARRAY_PARTITION directives."""

    name = "hlscpp.array"
    storage = prop_def(StringAttr)
    init = opt_prop_def(DenseIntOrFPElementsAttr)
    partition = prop_def(ArrayAttr[PartitionAttr])
    result = result_def(MemRefType)

    def __init__(self, memref_type: MemRefType, storage: str = "local", init: DenseIntOrFPElementsAttr | None = None,
                 partition: Sequence[PartitionAttr] = ()):
        props: dict[str, Attribute] = {"storage": StringAttr(storage), "partition": ArrayAttr(list(partition))}
        if init is not None:
            props["init"] = init
        super().__init__(properties=props, result_types=[memref_type])

    def verify_(self) -> None:
        if self.storage.data not in STORAGE:
            raise VerifyException(f"array storage must be one of {', '.join(STORAGE)}, got '{self.storage.data}'")
        shape = tuple(self.result.type.get_shape())
        if self.init is not None and tuple(self.init.get_shape()) != shape:
            raise VerifyException(f"array initializer shape {list(self.init.get_shape())} differs from {list(shape)}")
        if self.storage.data == "static_const" and self.init is None:
            raise VerifyException("a static_const array needs an initializer")
        for p in self.partition.data:
            if p.dim.data > len(shape):
                raise VerifyException(f"partition dim {p.dim.data} exceeds the array rank {len(shape)}")


def stream_element_type(ty: Attribute) -> Attribute | None:
    """T of `!hlscpp.stream<T>` or of an array of streams `memref<E x !hlscpp.stream<T>>`, else None."""
    if isinstance(ty, StreamType):
        return ty.element_type
    if isinstance(ty, MemRefType) and isinstance(ty.element_type, StreamType):
        return ty.element_type.element_type
    return None


def _stream_rank(ty: Attribute) -> int:
    return len(ty.get_shape()) if isinstance(ty, MemRefType) else 0


@irdl_op_definition
class StreamOp(IRDLOperation):
    """A local hls::stream FIFO with a depth (`#pragma HLS STREAM depth=`), or an array of E of them
    (`memref<E x !hlscpp.stream<T>>`): the lanes of a unit folded by E, one FIFO per lane, each `depth` deep."""

    name = "hlscpp.stream"
    depth = prop_def(IntegerAttr[I64])
    result = result_def()

    def __init__(self, element_type: Attribute, depth: int, lanes: int | None = None):
        ty = StreamType(element_type) if lanes is None else MemRefType(StreamType(element_type), [lanes])
        super().__init__(properties={"depth": IntegerAttr(depth, i64)}, result_types=[ty])

    def verify_(self) -> None:
        ty = self.result.type
        if stream_element_type(ty) is None or (isinstance(ty, MemRefType) and len(ty.get_shape()) != 1):
            raise VerifyException(f"'hlscpp.stream' must give a stream or a 1-D array of streams, got {ty}")
        if isinstance(ty, MemRefType) and ty.get_shape()[0] < 1:
            raise VerifyException("'hlscpp.stream' needs at least one lane")
        if self.depth.value.data < 1:
            raise VerifyException(f"'hlscpp.stream' depth must be >= 1, got {self.depth.value.data}")


@irdl_op_definition
class ForOp(IRDLOperation):
    """for (int i = lb; i < ub; i += step) with optional `pipeline` (target II) and `unroll` (factor, 0 = full).

    With a `bound` operand (an index known only at run time, e.g. the kernel's `seq_len` port) the loop is
    `i < bound` and `ub` is the largest bound it is ever given: Vitis cannot count a variable trip count, so the
    emitter prints `LOOP_TRIPCOUNT max=` from it (reports only; the caller guarantees bound <= ub, which also
    sizes the arrays the loop indexes)."""

    name = "hlscpp.for"
    bound = opt_operand_def(IndexType)
    lb = prop_def(IntegerAttr[I64])
    ub = prop_def(IntegerAttr[I64])
    step = prop_def(IntegerAttr[I64])
    pipeline = opt_prop_def(IntegerAttr[I64])
    unroll = opt_prop_def(IntegerAttr[I64])
    label = opt_prop_def(StringAttr)
    body = region_def("single_block")
    traits = traits_def(NoTerminator())

    def __init__(self, lb: int, ub: int, step: int = 1, pipeline: int | None = None, unroll: int | None = None,
                 label: str | None = None, bound: SSAValue | None = None):
        props: dict[str, Attribute] = {"lb": IntegerAttr(lb, i64), "ub": IntegerAttr(ub, i64), "step": IntegerAttr(step, i64)}
        if pipeline is not None:
            props["pipeline"] = IntegerAttr(pipeline, i64)
        if unroll is not None:
            props["unroll"] = IntegerAttr(unroll, i64)
        if label:
            props["label"] = StringAttr(label)
        super().__init__(operands=[[bound] if bound is not None else []], properties=props,
                         regions=[Region(Block(arg_types=[IndexType()]))])

    @property
    def trip_count(self) -> int:
        """The trip count (with a run-time `bound`: the largest)."""
        lb, ub, st = self.lb.value.data, self.ub.value.data, self.step.value.data
        return max(0, -(-(ub - lb) // st))

    def verify_(self) -> None:
        if self.step.value.data <= 0:
            raise VerifyException("'hlscpp.for' step must be positive")
        if self.pipeline is not None and self.pipeline.value.data < 1:
            raise VerifyException("'hlscpp.for' pipeline II must be >= 1")
        if self.pipeline is not None and self.unroll is not None and self.unroll.value.data == 0:
            raise VerifyException("'hlscpp.for' cannot be both pipelined and fully unrolled")
        if self.bound is not None:
            if self.unroll is not None:  # an unrolled copy per iteration needs the count at compile time
                raise VerifyException("'hlscpp.for' with a run-time bound cannot be unrolled")
            if self.trip_count < 1:
                raise VerifyException("'hlscpp.for' with a run-time bound needs ub > lb (ub is its largest bound)")


@irdl_op_definition
class IfOp(IRDLOperation):
    """if (cond) { then } — no results; values flow through arrays."""

    name = "hlscpp.if"
    cond = operand_def()
    then = region_def("single_block")
    traits = traits_def(NoTerminator())
    assembly_format = "$cond `:` type($cond) $then attr-dict"

    def __init__(self, cond: SSAValue):
        super().__init__(operands=[cond], regions=[Region(Block())])


@irdl_op_definition
class ConstOp(IRDLOperation):
    name = "hlscpp.const"
    value = prop_def(IntegerAttr)
    result = result_def()
    assembly_format = "$value attr-dict `:` type($result)"

    def __init__(self, value: int, ty: Attribute):
        super().__init__(properties={"value": IntegerAttr(value, ty)}, result_types=[ty])


@irdl_op_definition
class LoadOp(IRDLOperation):
    name = "hlscpp.load"
    array = operand_def(MemRefType)
    indices = var_operand_def(IndexType)
    result = result_def()
    assembly_format = "$array `[` $indices `]` attr-dict `:` type($array) `->` type($result)"

    def __init__(self, array: SSAValue, indices: Sequence[SSAValue]):
        super().__init__(operands=[array, list(indices)], result_types=[array.type.element_type])

    def verify_(self) -> None:
        if len(self.indices) != len(self.array.type.get_shape()):
            raise VerifyException("'hlscpp.load' needs one index per array dimension")


@irdl_op_definition
class StoreOp(IRDLOperation):
    name = "hlscpp.store"
    value = operand_def()
    array = operand_def(MemRefType)
    indices = var_operand_def(IndexType)
    assembly_format = "$value `,` $array `[` $indices `]` attr-dict `:` type($value) `,` type($array)"

    def __init__(self, value: SSAValue, array: SSAValue, indices: Sequence[SSAValue]):
        super().__init__(operands=[value, array, list(indices)])

    def verify_(self) -> None:
        if len(self.indices) != len(self.array.type.get_shape()):
            raise VerifyException("'hlscpp.store' needs one index per array dimension")


def _verify_stream_access(op: IRDLOperation, stream: SSAValue, indices, value_type: Attribute) -> None:
    element = stream_element_type(stream.type)
    if element is None:
        raise VerifyException(f"'{op.name}' needs a stream or an array of streams, got {stream.type}")
    if len(indices) != _stream_rank(stream.type):
        raise VerifyException(f"'{op.name}' needs one index per dimension of the stream array "
                              f"({_stream_rank(stream.type)}), got {len(indices)}")
    if value_type != element:
        raise VerifyException(f"'{op.name}' value type {value_type} differs from the stream element type {element}")


@irdl_op_definition
class ReadOp(IRDLOperation):
    """`s.read()`, or `s[i].read()` on one lane of an array of streams."""

    name = "hlscpp.read"
    stream = operand_def()
    indices = var_operand_def(IndexType)
    result = result_def()
    assembly_format = "$stream (`[` $indices^ `]`)? attr-dict `:` type($stream) `->` type($result)"

    def __init__(self, stream: SSAValue, indices: Sequence[SSAValue] = ()):
        super().__init__(operands=[stream, list(indices)], result_types=[stream_element_type(stream.type)])

    def verify_(self) -> None:
        _verify_stream_access(self, self.stream, self.indices, self.result.type)


@irdl_op_definition
class WriteOp(IRDLOperation):
    """`s.write(v)`, or `s[i].write(v)` on one lane of an array of streams."""

    name = "hlscpp.write"
    stream = operand_def()
    value = operand_def()
    indices = var_operand_def(IndexType)
    assembly_format = "$stream (`[` $indices^ `]`)? `,` $value attr-dict `:` type($stream) `,` type($value)"

    def __init__(self, stream: SSAValue, value: SSAValue, indices: Sequence[SSAValue] = ()):
        super().__init__(operands=[stream, value, list(indices)])

    def verify_(self) -> None:
        _verify_stream_access(self, self.stream, self.indices, self.value.type)


@irdl_op_definition
class BinaryOp(IRDLOperation):
    """Integer arithmetic/comparison; the result type is the C++ type of the result variable."""

    name = "hlscpp.binary"
    kind = prop_def(StringAttr)
    lhs = operand_def()
    rhs = operand_def()
    result = result_def()
    assembly_format = "$kind $lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, kind: str, lhs: SSAValue, rhs: SSAValue, result_type: Attribute):
        super().__init__(operands=[lhs, rhs], properties={"kind": StringAttr(kind)}, result_types=[result_type])

    def verify_(self) -> None:
        if self.kind.data not in BINARY_KINDS:
            raise VerifyException(f"unknown binary kind '{self.kind.data}' (expected one of {', '.join(BINARY_KINDS)})")
        for v in (self.lhs, self.rhs, self.result):
            if not _scalar(v.type):
                raise VerifyException(f"'hlscpp.binary' works on scalars, got {v.type}")


@irdl_op_definition
class SelectOp(IRDLOperation):
    name = "hlscpp.select"
    cond = operand_def()
    if_true = operand_def()
    if_false = operand_def()
    result = result_def()
    assembly_format = "$cond `,` $if_true `,` $if_false attr-dict `:` functional-type(operands, results)"

    def __init__(self, cond: SSAValue, if_true: SSAValue, if_false: SSAValue, result_type: Attribute):
        super().__init__(operands=[cond, if_true, if_false], result_types=[result_type])


@irdl_op_definition
class CastOp(IRDLOperation):
    name = "hlscpp.cast"
    input = operand_def()
    result = result_def()
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def __init__(self, input: SSAValue, result_type: Attribute):
        super().__init__(operands=[input], result_types=[result_type])


HLSCPP = Dialect(
    "hlscpp",
    [FuncOp, CallOp, ArrayOp, StreamOp, ForOp, IfOp, ConstOp, LoadOp, StoreOp, ReadOp, WriteOp, BinaryOp, SelectOp,
     CastOp],
    [StreamType, FixedType, PartitionAttr],
)
