"""The `hlscpp` dialect: the structured C++ that Vitis HLS synthesizes, one op per C++ construct.

Functions, static arrays (with their initializers and ARRAY_PARTITION directives), hls::stream FIFOs (with
depths; an array of them is the lanes of a unit that handles several elements per cycle), AXI4-Stream beats
(`!hlscpp.axis<W>`: the kernel's ports; `pack`/`unpack` put codes in and take them out), counted loops
(with PIPELINE/UNROLL directives), loads/stores, stream reads/writes and integer arithmetic on ap_int/ap_uint
(builtin siN/uiN element types). Every HLS directive is an attribute of the op it applies to; closed sets of
choices (storage, interface mode, block-level protocol, partition kind, binary kind) are enum attributes. The
`hls-cpp` target only prints (lstmc/hls/emit.py).

Side effects are declared, so xDSL's `dce` and `cse` work on this IR: const/binary/select/cast are pure, an
array or a FIFO allocates (removable when unused, never merged), a load reads, a store or a stream write writes,
and a stream read both reads and writes (it pops the FIFO: two reads are never merged, an unused one stays).
Calls have unknown effects; loops and ifs have those of their bodies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from xdsl.dialects.builtin import (
    I64,
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
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.interfaces import ConditionallySpeculatableInterface, HasFolderInterface
from xdsl.ir import (
    Attribute,
    Block,
    Dialect,
    Operation,
    ParametrizedAttribute,
    Region,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
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
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import (
    ConstantLike,
    EffectInstance,
    IsolatedFromAbove,
    MemoryEffect,
    MemoryEffectKind,
    MemoryReadEffect,
    MemoryWriteEffect,
    NoMemoryEffect,
    NoTerminator,
    Pure,
    RecursiveMemoryEffect,
    SymbolOpInterface,
)
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from lstmc.dialects.enum_syntax import enum_attr, expected, parse_enum


# ------------------------------------------------------------------------------------------ enums
class Storage(StrEnum):
    """Where an array lives: a local variable, a `static` one (kept across calls), or `static const` (a ROM)."""

    LOCAL = "local"
    STATIC = "static"
    STATIC_CONST = "static_const"


class Interface(StrEnum):
    """The INTERFACE directive of a function parameter (`#pragma HLS INTERFACE mode=...`); `default` prints no
    directive, leaving the port to Vitis (it is not the `ap_none` protocol)."""

    DEFAULT = "default"
    AXIS = "axis"
    AP_NONE = "ap_none"
    AP_MEMORY = "ap_memory"
    BRAM = "bram"
    S_AXILITE = "s_axilite"


class BlockControl(StrEnum):
    """The top function's block-level protocol (`#pragma HLS INTERFACE mode=... port=return`)."""

    AP_CTRL_HS = "ap_ctrl_hs"
    AP_CTRL_CHAIN = "ap_ctrl_chain"
    AP_CTRL_NONE = "ap_ctrl_none"


class PartitionKind(StrEnum):
    """`type=` of an ARRAY_PARTITION directive."""

    COMPLETE = "complete"
    CYCLIC = "cyclic"
    BLOCK = "block"


class BinaryKind(StrEnum):
    """The operator of an `hlscpp.binary`: arithmetic, shifts, bitwise/logical and/or, comparisons, min/max."""

    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    MOD = "mod"
    SHR = "shr"
    SHL = "shl"
    AND = "and"
    OR = "or"
    GE = "ge"
    GT = "gt"
    LE = "le"
    LT = "lt"
    EQ = "eq"
    NE = "ne"
    MIN = "min"
    MAX = "max"


@irdl_attr_definition
class StorageAttr(EnumAttribute[Storage], SpacedOpaqueSyntaxAttribute):
    """`#hlscpp<storage static_const>`."""

    name = "hlscpp.storage"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> Storage:
        return parse_enum(parser, Storage, "array storage")


@irdl_attr_definition
class InterfaceAttr(EnumAttribute[Interface], SpacedOpaqueSyntaxAttribute):
    """`#hlscpp<interface axis>`."""

    name = "hlscpp.interface"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> Interface:
        return parse_enum(parser, Interface, "interface")


@irdl_attr_definition
class BlockControlAttr(EnumAttribute[BlockControl], SpacedOpaqueSyntaxAttribute):
    """`#hlscpp<block_control ap_ctrl_chain>`."""

    name = "hlscpp.block_control"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> BlockControl:
        return parse_enum(parser, BlockControl, "block_control")


@irdl_attr_definition
class PartitionKindAttr(EnumAttribute[PartitionKind], SpacedOpaqueSyntaxAttribute):
    """`#hlscpp<partition_kind cyclic>` (inside `#hlscpp.partition<...>` just `cyclic`)."""

    name = "hlscpp.partition_kind"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> PartitionKind:
        return parse_enum(parser, PartitionKind, "partition kind")


@irdl_attr_definition
class BinaryKindAttr(EnumAttribute[BinaryKind], SpacedOpaqueSyntaxAttribute):
    """`#hlscpp<binary_kind add>` (in `hlscpp.binary`'s custom syntax just `add`)."""

    name = "hlscpp.binary_kind"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> BinaryKind:
        return parse_enum(parser, BinaryKind, "binary kind")


# ------------------------------------------------------------------------------------------ types and attributes
@irdl_attr_definition
class StreamType(ParametrizedAttribute, TypeAttribute):
    """hls::stream<T>."""

    name = "hlscpp.stream"
    element_type: Attribute = param_def()


@irdl_attr_definition
class AxisType(ParametrizedAttribute, TypeAttribute):
    """One AXI4-Stream beat of `width` data bits (a multiple of 8) with TKEEP/TSTRB and TLAST: Vitis HLS's
    `ap_axiu<W, 0, 0, 0>` (the C-simulation twin's `lstmc_tb::axis<W>`). A kernel port is
    `!hlscpp.stream<!hlscpp.axis<W>>`: `hlscpp.pack` builds a beat from codes, `hlscpp.unpack` takes one out."""

    name = "hlscpp.axis"
    width: IntAttr = param_def()

    def __init__(self, width: int):
        super().__init__(IntAttr(width))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            width = parser.parse_integer()
        return (IntAttr(width),)

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<{self.width.data}>")

    def verify(self) -> None:
        if self.width.data < 8 or self.width.data % 8:
            raise VerifyException(f"an AXI4-Stream beat has a multiple of 8 data bits, got {self.width.data}")


@irdl_attr_definition
class PartitionAttr(ParametrizedAttribute):
    """One ARRAY_PARTITION directive: `#hlscpp.partition<cyclic, 4, 1>` = cyclic factor 4 on dimension 1."""

    name = "hlscpp.partition"
    kind: PartitionKindAttr = param_def()
    factor: IntAttr = param_def()
    dim: IntAttr = param_def()

    def __init__(self, kind: str | PartitionKind | PartitionKindAttr, factor: int, dim: int):
        super().__init__(enum_attr(PartitionKindAttr, kind, "partition kind"), IntAttr(factor), IntAttr(dim))

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            kind = parse_enum(parser, PartitionKind, "partition kind")
            parser.parse_punctuation(",")
            factor = parser.parse_integer()
            parser.parse_punctuation(",")
            dim = parser.parse_integer()
        return (PartitionKindAttr(kind), IntAttr(factor), IntAttr(dim))

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string(f"<{self.kind.data}, {self.factor.data}, {self.dim.data}>")

    def verify(self) -> None:
        if self.factor.data < 0 or self.dim.data < 0:
            raise VerifyException("partition factor and dim must be >= 0")


def _scalar(ty: Attribute) -> bool:
    return isinstance(ty, (IntegerType, IndexType))


# ------------------------------------------------------------------------------------------ effects
class AllocatesResult(MemoryEffect):
    """The op allocates its result (an array or a FIFO): removable when nothing uses it, never merged with another."""

    @classmethod
    def get_effects(cls, op: Operation) -> frozenset[EffectInstance]:
        return frozenset(EffectInstance(MemoryEffectKind.ALLOC, r) for r in op.results)


# ------------------------------------------------------------------------------------------ ops
@irdl_op_definition
class FuncOp(IRDLOperation):
    """A C++ function. `arg_names` name the parameters; `interfaces` gives each parameter's INTERFACE
    directive (`default`: none); `top` marks the synthesis top; `dataflow` adds `#pragma HLS DATAFLOW`;
    `block_control` is the top's block-level protocol (`ap_ctrl_chain`: a new call may start before the
    previous one is done, so DATAFLOW inferences overlap; default `ap_ctrl_hs`).

    Custom syntax, each parameter with its C++ name and its interface (none printed for `default`):
    `hlscpp.func @k(%x: !hlscpp.stream<si8> "x" axis, %n: index "n" s_axilite) top dataflow
    block_control(ap_ctrl_chain) attributes {...} { ... }`."""

    name = "hlscpp.func"
    sym_name = prop_def(StringAttr)
    function_type = prop_def(FunctionType)
    arg_names = prop_def(ArrayAttr[StringAttr])
    interfaces = prop_def(ArrayAttr[InterfaceAttr])
    top = opt_prop_def(UnitAttr)
    dataflow = opt_prop_def(UnitAttr)
    block_control = opt_prop_def(BlockControlAttr)
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove(), NoTerminator(), SymbolOpInterface())

    def __init__(
        self,
        name: str,
        arg_types: Sequence[Attribute],
        arg_names: Sequence[str],
        interfaces: Sequence[str | Interface] | None = None,
        top: bool = False,
        dataflow: bool = False,
        block_control: str | BlockControl | None = None,
    ):
        block = Block(arg_types=list(arg_types))
        props: dict[str, Attribute] = {
            "sym_name": StringAttr(name),
            "function_type": FunctionType.from_lists(list(arg_types), []),
            "arg_names": ArrayAttr([StringAttr(n) for n in arg_names]),
            "interfaces": ArrayAttr(
                [
                    enum_attr(InterfaceAttr, i or Interface.DEFAULT, "interface")
                    for i in (interfaces or [Interface.DEFAULT] * len(arg_names))
                ]
            ),
        }
        if top:
            props["top"] = UnitAttr()
        if dataflow:
            props["dataflow"] = UnitAttr()
        if block_control is not None:
            props["block_control"] = enum_attr(BlockControlAttr, block_control, "block_control")
        super().__init__(properties=props, regions=[Region(block)])

    def verify_(self) -> None:
        n = len(self.function_type.inputs.data)
        if len(self.arg_names.data) != n or len(self.interfaces.data) != n:
            raise VerifyException(f"'hlscpp.func' @{self.sym_name.data} needs {n} argument names and interfaces")
        if [a.type for a in self.body.block.args] != list(self.function_type.inputs.data):
            raise VerifyException("'hlscpp.func' block arguments must match the function type")
        if self.block_control is not None and self.top is None:
            raise VerifyException(f"'hlscpp.func' @{self.sym_name.data}: only the top function has a block_control")

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        printer.print_string("(")

        def argument(arg: tuple[SSAValue, StringAttr, InterfaceAttr]) -> None:
            value, name, interface = arg
            printer.print_ssa_value(value)
            printer.print_string(": ")
            printer.print_attribute(value.type)
            printer.print_string(" ")
            printer.print_string_literal(name.data)
            if interface.data != Interface.DEFAULT:
                printer.print_string(f" {interface.data}")

        printer.print_list(zip(self.body.block.args, self.arg_names.data, self.interfaces.data), argument)
        printer.print_string(")")
        if self.top is not None:
            printer.print_string(" top")
        if self.dataflow is not None:
            printer.print_string(" dataflow")
        if self.block_control is not None:
            printer.print_string(f" block_control({self.block_control.data})")
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=False)

    @classmethod
    def parse(cls, parser: Parser) -> FuncOp:
        sym_name = parser.parse_symbol_name()
        args: list[Parser.Argument] = []
        names: list[StringAttr] = []
        interfaces: list[InterfaceAttr] = []

        def argument() -> None:
            args.append(parser.parse_argument())
            names.append(StringAttr(parser.parse_str_literal(" (the parameter's C++ name)")))
            start = parser.pos
            kind = parser.parse_optional_identifier()
            if kind is not None and kind not in Interface.__members__.values():
                parser.raise_error(
                    f"unknown interface '{kind}' (expected one of {expected(Interface)})", start, parser.pos
                )
            interfaces.append(InterfaceAttr(Interface(kind or Interface.DEFAULT)))

        parser.parse_comma_separated_list(Parser.Delimiter.PAREN, argument, " in the parameters of 'hlscpp.func'")
        props: dict[str, Attribute] = {
            "sym_name": sym_name,
            "function_type": FunctionType.from_lists([a.type for a in args], []),
            "arg_names": ArrayAttr(names),
            "interfaces": ArrayAttr(interfaces),
        }
        if parser.parse_optional_keyword("top") is not None:
            props["top"] = UnitAttr()
        if parser.parse_optional_keyword("dataflow") is not None:
            props["dataflow"] = UnitAttr()
        if parser.parse_optional_keyword("block_control") is not None:
            with parser.in_parens():
                props["block_control"] = BlockControlAttr(parse_enum(parser, BlockControl, "block_control"))
        attributes = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region(args)
        return cls.create(properties=props, attributes=attributes.data if attributes else {}, regions=[body])


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
    optional initializer, ARRAY_PARTITION directives:
    `%w = hlscpp.array static_const partition [#hlscpp.partition<cyclic, 2, 1>] init dense<...> : tensor<4x2xsi4>
    : memref<4x2xsi4>`."""

    name = "hlscpp.array"
    storage = prop_def(StorageAttr)
    init = opt_prop_def(DenseIntOrFPElementsAttr)
    partition = prop_def(ArrayAttr[PartitionAttr], default_value=ArrayAttr([]))
    result = result_def(MemRefType)
    traits = traits_def(AllocatesResult())
    assembly_format = "$storage (`partition` $partition^)? (`init` $init^)? attr-dict `:` type($result)"

    def __init__(
        self,
        memref_type: MemRefType,
        storage: str | Storage = Storage.LOCAL,
        init: DenseIntOrFPElementsAttr | None = None,
        partition: Sequence[PartitionAttr] = (),
    ):
        props: dict[str, Attribute] = {
            "storage": enum_attr(StorageAttr, storage, "array storage"),
            "partition": ArrayAttr(list(partition)),
        }
        if init is not None:
            props["init"] = init
        super().__init__(properties=props, result_types=[memref_type])

    def verify_(self) -> None:
        shape = tuple(self.result.type.get_shape())
        if self.init is not None and tuple(self.init.get_shape()) != shape:
            raise VerifyException(f"array initializer shape {list(self.init.get_shape())} differs from {list(shape)}")
        if self.storage.data == Storage.STATIC_CONST and self.init is None:
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
    (`memref<E x !hlscpp.stream<T>>`): the lanes of a unit folded by E, one FIFO per lane, each `depth` deep:
    `%s = hlscpp.stream depth(2) : !hlscpp.stream<si8>`."""

    name = "hlscpp.stream"
    depth = prop_def(IntegerAttr[I64])
    result = result_def()
    traits = traits_def(AllocatesResult())
    assembly_format = "`depth` `(` $depth `)` attr-dict `:` type($result)"

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


def _print_int_option(printer: Printer, keyword: str, attr: IntegerAttr | None) -> None:
    if attr is not None:
        printer.print_string(f" {keyword}({attr.value.data})")


def _parse_int_option(parser: Parser, keyword: str) -> IntegerAttr | None:
    if parser.parse_optional_keyword(keyword) is None:
        return None
    with parser.in_parens():
        return IntegerAttr(parser.parse_integer(allow_boolean=False), i64)


@irdl_op_definition
class ForOp(IRDLOperation):
    """for (int i = lb; i < ub; i += step) with optional `pipeline` (target II) and `unroll` (factor, 0 = full).

    With a `bound` operand (an index known only at run time, e.g. the kernel's `seq_len` port) the loop is
    `i < bound` and `ub` is the largest bound it is ever given: Vitis cannot count a variable trip count, so the
    emitter prints `LOOP_TRIPCOUNT max=` from it (reports only; the caller guarantees bound <= ub, which also
    sizes the arrays the loop indexes).

    Custom syntax: `hlscpp.for %i = 0 to 8 step 1 pipeline(1) unroll(2) label("copy") { ... }`, with a
    run-time bound `hlscpp.for %t = 0 to %seq_len max 8 step 1 ...`."""

    name = "hlscpp.for"
    bound = opt_operand_def(IndexType)
    lb = prop_def(IntegerAttr[I64])
    ub = prop_def(IntegerAttr[I64])
    step = prop_def(IntegerAttr[I64])
    pipeline = opt_prop_def(IntegerAttr[I64])
    unroll = opt_prop_def(IntegerAttr[I64])
    label = opt_prop_def(StringAttr)
    body = region_def("single_block")
    traits = traits_def(NoTerminator(), RecursiveMemoryEffect())

    def __init__(
        self,
        lb: int,
        ub: int,
        step: int = 1,
        pipeline: int | None = None,
        unroll: int | None = None,
        label: str | None = None,
        bound: SSAValue | None = None,
    ):
        props: dict[str, Attribute] = {
            "lb": IntegerAttr(lb, i64),
            "ub": IntegerAttr(ub, i64),
            "step": IntegerAttr(step, i64),
        }
        if pipeline is not None:
            props["pipeline"] = IntegerAttr(pipeline, i64)
        if unroll is not None:
            props["unroll"] = IntegerAttr(unroll, i64)
        if label:
            props["label"] = StringAttr(label)
        super().__init__(
            operands=[[bound] if bound is not None else []],
            properties=props,
            regions=[Region(Block(arg_types=[IndexType()]))],
        )

    @property
    def trip_count(self) -> int:
        """The trip count (with a run-time `bound`: the largest)."""
        lb, ub, st = self.lb.value.data, self.ub.value.data, self.step.value.data
        return max(0, -(-(ub - lb) // st))

    def verify_(self) -> None:
        args = self.body.block.args
        if len(args) != 1 or not isinstance(args[0].type, IndexType):
            raise VerifyException("'hlscpp.for' body needs exactly one block argument, the index (of type index)")
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

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_ssa_value(self.body.block.args[0])
        printer.print_string(f" = {self.lb.value.data} to ")
        if self.bound is not None:
            printer.print_ssa_value(self.bound)
            printer.print_string(" max ")
        printer.print_string(f"{self.ub.value.data} step {self.step.value.data}")
        _print_int_option(printer, "pipeline", self.pipeline)
        _print_int_option(printer, "unroll", self.unroll)
        if self.label is not None:
            printer.print_string(" label(")
            printer.print_string_literal(self.label.data)
            printer.print_string(")")
        printer.print_op_attributes(self.attributes, print_keyword=True)
        printer.print_string(" ")
        printer.print_region(self.body, print_entry_block_args=False, print_empty_block=False)

    @classmethod
    def parse(cls, parser: Parser) -> ForOp:
        index = parser.parse_argument(expect_type=False).resolve(IndexType())
        parser.parse_punctuation("=")
        props: dict[str, Attribute] = {"lb": IntegerAttr(parser.parse_integer(allow_boolean=False), i64)}
        parser.parse_keyword("to")
        operands: list[SSAValue] = []
        if (bound := parser.parse_optional_operand(IndexType())) is not None:
            operands.append(bound)
            parser.parse_keyword("max")
        props["ub"] = IntegerAttr(parser.parse_integer(allow_boolean=False), i64)
        parser.parse_keyword("step")
        props["step"] = IntegerAttr(parser.parse_integer(allow_boolean=False), i64)
        for keyword in ("pipeline", "unroll"):
            if (value := _parse_int_option(parser, keyword)) is not None:
                props[keyword] = value
        if parser.parse_optional_keyword("label") is not None:
            with parser.in_parens():
                props["label"] = StringAttr(parser.parse_str_literal())
        attributes = parser.parse_optional_attr_dict_with_keyword()
        body = parser.parse_region([index])
        return cls.create(
            operands=operands, properties=props, attributes=attributes.data if attributes else {}, regions=[body]
        )


@irdl_op_definition
class IfOp(IRDLOperation):
    """if (cond) { then } — no results; values flow through arrays."""

    name = "hlscpp.if"
    cond = operand_def()
    then = region_def("single_block")
    traits = traits_def(NoTerminator(), RecursiveMemoryEffect())
    assembly_format = "$cond `:` type($cond) $then attr-dict"

    def __init__(self, cond: SSAValue):
        super().__init__(operands=[cond], regions=[Region(Block())])


@irdl_op_definition
class ConstOp(IRDLOperation, HasFolderInterface):
    """A constant of an integer or index type: `%c = hlscpp.const -3 : si8`."""

    name = "hlscpp.const"
    value = prop_def(IntegerAttr)
    result = result_def()
    traits = traits_def(Pure(), ConstantLike())

    def __init__(self, value: int, ty: Attribute):
        super().__init__(properties={"value": IntegerAttr(value, cast(IntegerType | IndexType, ty))}, result_types=[ty])

    def verify_(self) -> None:
        if self.value.type != self.result.type:
            raise VerifyException(
                f"'hlscpp.const' value type {self.value.type} differs from the result type {self.result.type}"
            )

    def fold(self) -> Sequence[SSAValue | Attribute]:
        return (self.value,)

    def print(self, printer: Printer) -> None:
        value = self.value.value.data
        if self.result.type == IntegerType(1):  # i1 keeps true as -1; print it as MLIR does
            printer.print_string(" true" if value else " false")
        else:
            printer.print_string(f" {value}")
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> ConstOp:
        value = parser.parse_integer()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        start = parser.pos
        ty = parser.parse_type()
        if not isinstance(ty, (IntegerType, IndexType)):
            parser.raise_error(f"'hlscpp.const' needs an integer or index type, got {ty}", start, parser.pos)
        op = cls(value, ty)
        op.attributes |= attributes
        return op


@irdl_op_definition
class LoadOp(IRDLOperation):
    name = "hlscpp.load"
    array = operand_def(MemRefType)
    indices = var_operand_def(IndexType)
    result = result_def()
    traits = traits_def(MemoryReadEffect())
    assembly_format = "$array `[` $indices `]` attr-dict `:` type($array) `->` type($result)"

    def __init__(self, array: SSAValue, indices: Sequence[SSAValue]):
        super().__init__(operands=[array, list(indices)], result_types=[cast(MemRefType, array.type).element_type])

    def verify_(self) -> None:
        if len(self.indices) != len(cast(MemRefType, self.array.type).get_shape()):
            raise VerifyException("'hlscpp.load' needs one index per array dimension")


@irdl_op_definition
class StoreOp(IRDLOperation):
    name = "hlscpp.store"
    value = operand_def()
    array = operand_def(MemRefType)
    indices = var_operand_def(IndexType)
    traits = traits_def(MemoryWriteEffect())
    assembly_format = "$value `,` $array `[` $indices `]` attr-dict `:` type($value) `,` type($array)"

    def __init__(self, value: SSAValue, array: SSAValue, indices: Sequence[SSAValue]):
        super().__init__(operands=[value, array, list(indices)])

    def verify_(self) -> None:
        if len(self.indices) != len(cast(MemRefType, self.array.type).get_shape()):
            raise VerifyException("'hlscpp.store' needs one index per array dimension")


def _verify_stream_access(
    op: IRDLOperation, stream: SSAValue, indices: Iterable[SSAValue], value_type: Attribute
) -> None:
    element = stream_element_type(stream.type)
    if element is None:
        raise VerifyException(f"'{op.name}' needs a stream or an array of streams, got {stream.type}")
    n = len(list(indices))
    if n != _stream_rank(stream.type):
        raise VerifyException(
            f"'{op.name}' needs one index per dimension of the stream array ({_stream_rank(stream.type)}), got {n}"
        )
    if value_type != element:
        raise VerifyException(f"'{op.name}' value type {value_type} differs from the stream element type {element}")


@irdl_op_definition
class ReadOp(IRDLOperation):
    """`s.read()`, or `s[i].read()` on one lane of an array of streams. A read pops the FIFO, so it also
    writes: two reads are two elements, and a read whose value is unused still consumes one."""

    name = "hlscpp.read"
    stream = operand_def()
    indices = var_operand_def(IndexType)
    result = result_def()
    traits = traits_def(MemoryReadEffect(), MemoryWriteEffect())
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
    traits = traits_def(MemoryWriteEffect())
    assembly_format = "$stream (`[` $indices^ `]`)? `,` $value attr-dict `:` type($stream) `,` type($value)"

    def __init__(self, stream: SSAValue, value: SSAValue, indices: Sequence[SSAValue] = ()):
        super().__init__(operands=[stream, value, list(indices)])

    def verify_(self) -> None:
        _verify_stream_access(self, self.stream, self.indices, self.value.type)


def _code_bits(ty: Attribute) -> int:
    if not isinstance(ty, IntegerType):
        raise VerifyException(f"a code in an AXI4-Stream beat is an integer, got {ty}")
    return ty.width.data


@irdl_op_definition
class PackOp(IRDLOperation):
    """An AXI4-Stream beat from P codes of one integer type (b bits): code i at data bits [i*b, (i+1)*b)
    (little-endian), for i < `count` (a run-time index, 1..P); the other data bits are zero. TKEEP and TSTRB
    mark the bytes holding those count*b bits (the first ceil(count*b / 8)), TLAST is `last`:
    `%w = hlscpp.pack %c0, %c1 count %n last %l : si8, si8 -> !hlscpp.axis<16>`."""

    name = "hlscpp.pack"
    codes = var_operand_def()
    count = operand_def(IndexType)
    last = operand_def(IntegerType(1))
    result = result_def(AxisType)
    traits = traits_def(Pure())
    assembly_format = "$codes `count` $count `last` $last attr-dict `:` type($codes) `->` type($result)"

    def __init__(self, codes: Sequence[SSAValue], count: SSAValue, last: SSAValue, width: int):
        super().__init__(operands=[list(codes), count, last], result_types=[AxisType(width)])

    def verify_(self) -> None:
        types = {c.type for c in self.codes}
        if len(types) != 1:
            raise VerifyException("'hlscpp.pack' needs one or more codes of one integer type")
        bits = _code_bits(self.codes[0].type)
        if len(self.codes) * bits > self.result.type.width.data:
            raise VerifyException(
                f"'hlscpp.pack': {len(self.codes)} codes of {bits} bits exceed the {self.result.type.width.data}-bit beat"
            )


@irdl_op_definition
class UnpackOp(IRDLOperation):
    """Code `lane` of an AXI4-Stream beat: data bits [lane*b, (lane+1)*b) as the result type (b bits):
    `%c = hlscpp.unpack %w [%lane] : !hlscpp.axis<16> -> si8`."""

    name = "hlscpp.unpack"
    beat = operand_def(AxisType)
    lane = operand_def(IndexType)
    result = result_def(IntegerType)
    traits = traits_def(Pure())
    assembly_format = "$beat `[` $lane `]` attr-dict `:` type($beat) `->` type($result)"

    def __init__(self, beat: SSAValue, lane: SSAValue, result_type: Attribute):
        super().__init__(operands=[beat, lane], result_types=[result_type])

    def verify_(self) -> None:
        beat = self.beat.type
        assert isinstance(beat, AxisType)
        if _code_bits(self.result.type) > beat.width.data:
            raise VerifyException(
                f"'hlscpp.unpack': a {self.result.type} code does not fit a {beat.width.data}-bit beat"
            )


@irdl_op_definition
class BinaryOp(IRDLOperation, ConditionallySpeculatableInterface):
    """Integer arithmetic/comparison; the result type is the C++ type of the result variable:
    `%s = hlscpp.binary add %a, %b : (si8, si8) -> si9`. No memory effects; div and mod are not speculatable
    (a zero divisor must stay behind the branch that guards it)."""

    name = "hlscpp.binary"
    kind = prop_def(BinaryKindAttr)
    lhs = operand_def()
    rhs = operand_def()
    result = result_def()
    traits = traits_def(NoMemoryEffect())
    assembly_format = "$kind $lhs `,` $rhs attr-dict `:` functional-type(operands, results)"

    def __init__(self, kind: str | BinaryKind, lhs: SSAValue, rhs: SSAValue, result_type: Attribute):
        super().__init__(
            operands=[lhs, rhs],
            properties={"kind": enum_attr(BinaryKindAttr, kind, "binary kind")},
            result_types=[result_type],
        )

    def is_speculatable(self) -> bool:
        return self.kind.data not in (BinaryKind.DIV, BinaryKind.MOD)

    def verify_(self) -> None:
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
    traits = traits_def(Pure())
    assembly_format = "$cond `,` $if_true `,` $if_false attr-dict `:` functional-type(operands, results)"

    def __init__(self, cond: SSAValue, if_true: SSAValue, if_false: SSAValue, result_type: Attribute):
        super().__init__(operands=[cond, if_true, if_false], result_types=[result_type])


@irdl_op_definition
class CastOp(IRDLOperation):
    name = "hlscpp.cast"
    input = operand_def()
    result = result_def()
    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `to` type($result)"

    def __init__(self, input: SSAValue, result_type: Attribute):
        super().__init__(operands=[input], result_types=[result_type])


HLSCPP = Dialect(
    "hlscpp",
    [
        FuncOp,
        CallOp,
        ArrayOp,
        StreamOp,
        ForOp,
        IfOp,
        ConstOp,
        LoadOp,
        StoreOp,
        ReadOp,
        WriteOp,
        PackOp,
        UnpackOp,
        BinaryOp,
        SelectOp,
        CastOp,
    ],
    [
        StreamType,
        AxisType,
        PartitionAttr,
        StorageAttr,
        InterfaceAttr,
        BlockControlAttr,
        PartitionKindAttr,
        BinaryKindAttr,
    ],
)
