"""The kernel's ports, defined once: which values cross the kernel boundary, in which order, with which
quantizer and shape (`kernel_ports`), which of them carry a run-time-length sequence (`sequence_ports`), and
which reshapes next to a port are views of its stream (`port_views`).

The kernel boundary is where the integer design starts and ends: each `qrnn.quantize` of a graph input is an
input port carrying that input's integer codes (row-major; `port_packing`: one code per beat, or with
`lstmc.axis_bits` = N as many as fit an N-bit beat, TLAST on the last beat), in block order; each
`qrnn.dequantize` of a graph output an output port, in return order. Ports are named after the graph's inputs
and outputs (`lstmc.input_names` / `lstmc.output_names` on the function, else in<k> / out<k>).

`qrnn-to-hlscpp` builds the top function's stream ports from `kernel_ports` and records them on the top
`hlscpp.func` (`PORTS_ATTR`, read back by `ports_of_top`); the project writer (`lstmc.hls.project`) and the
QoR model read the same list, so the testbench, the kernel and the estimate agree on one port list.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    IntAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, OpResult, SSAValue
from xdsl.utils.exceptions import DiagnosticException

from lstmc.dialects import qrnn
from lstmc.entry import entry_function

PORTS_ATTR = "lstmc.ports"  # the port record on the top hlscpp.func


class HlsConversionError(DiagnosticException):
    """The integer design cannot become a hardware kernel (raised by qrnn-to-hlscpp and the port analyses)."""


def _shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(SSAValue.get(value, type=TensorType).type.get_shape())


def _err(op: Operation, message: str) -> HlsConversionError:
    return HlsConversionError(f"qrnn-to-hlscpp: '{op.name}': {message}")


MAX_SEQ_LEN = "lstmc.max_seq_len"
SEQ_LEN_PORT = "seq_len"
AXIS_BITS = "lstmc.axis_bits"  # TDATA bits of every port (`--axis-bits`); absent: one code per beat
MAX_AXIS_BITS = 1024  # ap_uint's default widest type (AP_INT_MAX_W), and far beyond any DMA's stream


def axis_bits_of(fn: func.FuncOp) -> int | None:
    """N when the kernel's ports are N-bit AXI4-Streams carrying several codes per beat (the
    `lstmc.axis_bits` attribute, set by `--axis-bits N` / qrnn-to-hlscpp's axis-bits=N), else None."""
    attr = fn.attributes.get(AXIS_BITS)
    if attr is None:
        return None
    n = attr.value.data if isinstance(attr, IntegerAttr) else attr.data if isinstance(attr, IntAttr) else None
    if not isinstance(n, int):
        raise HlsConversionError(f"qrnn-to-hlscpp: {AXIS_BITS} must be an integer, got {attr}")
    return n


def mark_axis_bits(module: ModuleOp, axis_bits: int) -> None:
    """Tell qrnn-to-hlscpp (and the QoR model, which counts the ports' readers and writers) that every port is
    an `axis_bits`-wide AXI4-Stream packing several codes per beat; 0 leaves one code per beat."""
    if axis_bits:
        entry_function(module).attributes[AXIS_BITS] = IntegerAttr(axis_bits, i64)


def check_axis_bits(n: int, option: str = "--axis-bits", error: type[Exception] | None = None) -> None:
    """The word width alone: a whole number of bytes, at most MAX_AXIS_BITS (one line naming `option`)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 8 or n % 8 or n > MAX_AXIS_BITS:
        raise (error or HlsConversionError)(
            f"{option} {n!r}: the AXI4-Stream data width must be a multiple of 8 bits from 8 to {MAX_AXIS_BITS}"
        )


def port_packing(bits: int, axis_bits: int | None, name: str = "", option: str = "--axis-bits") -> tuple[int, int]:
    """(W, P): the TDATA bits of a port carrying `bits`-bit codes and the codes in one beat. Without
    axis_bits one code per beat (W = bits rounded up to bytes); with it W = axis_bits and P = W // bits."""
    if axis_bits is None:
        return -(-bits // 8) * 8, 1
    check_axis_bits(axis_bits, option)
    if axis_bits < bits:
        raise HlsConversionError(
            f"{option} {axis_bits}: narrower than the {bits}-bit codes of port '{name}' (give at least "
            f"{-(-bits // 8) * 8})"
        )
    return axis_bits, axis_bits // bits


def check_port_packing(module: ModuleOp) -> None:
    """With --axis-bits, the kernel's ports (`kernel_ports`) checked before anything estimates or simulates
    the kernel: those pack each port's codes without the port's name, so a word narrower than a port's codes
    would be reported for port ''."""
    fn = next((f for f in module.ops if isinstance(f, func.FuncOp)), None)
    if fn is not None and axis_bits_of(fn) is not None:
        kernel_ports(fn)


def port_rate(lanes: int, per_beat: int) -> int:
    """Codes a port's reader or writer moves per cycle between beats of P = `per_beat` codes and FIFO words of
    `lanes` codes: min(lanes, P) when one divides the other (a beat split into words of a part of it, or a
    word gathered from or spread over whole beats, one beat per cycle), else 1 (a code per cycle). The one
    rule the lowering (`_reader`, `_writer`) and the QoR model count by."""
    return min(lanes, per_beat) if lanes % per_beat == 0 or per_beat % lanes == 0 else 1


def reader_widths(per_beat: int, row: int) -> tuple[int, ...]:
    """The word widths a port's reader offers its streamed consumer, preferred first (`top_streams` takes the
    first that divides the row and that the consumer accepts): a beat, whole beats (an MVAU taking SIMD = k x P
    codes a word), then parts of a beat, widest first; all but the last at P codes per cycle (`port_rate`)."""
    beats = [per_beat * k for k in range(1, row // per_beat + 1)]
    parts = [d for d in range(per_beat - 1, 1, -1) if per_beat % d == 0]
    return (*beats, *parts) if per_beat > 1 else ()


def max_seq_len_of(fn: func.FuncOp) -> int | None:
    """N when the function's sequence length is a run-time value up to N (the `lstmc.max_seq_len` attribute,
    set by `lstmc compile --max-seq-len N` on a model imported at T = N), else None."""
    attr = fn.attributes.get(MAX_SEQ_LEN)
    if attr is None:
        return None
    n = attr.value.data if isinstance(attr, IntegerAttr) else attr.data if isinstance(attr, IntAttr) else None
    if not isinstance(n, int) or n < 1:
        raise HlsConversionError(f"qrnn-to-hlscpp: {MAX_SEQ_LEN} must be a positive integer, got {attr}")
    return n


def sequence_ports(fn: func.FuncOp) -> tuple[list[bool], list[bool]]:
    """Which input ports (in qrnn.quantize order) and output ports (in return order) carry a sequence whose
    length is the run-time `seq_len` (time on axis 0) when the function has `lstmc.max_seq_len`: the ports
    that reach (through port views) a recurrence's scanned input or scan output. Every other value on the
    time axis is refused: only recurrences know to stop at `seq_len`."""
    n = max_seq_len_of(fn)
    block = fn.body.block
    read_views, write_views = port_views(block)
    quantizes = [op for op in block.ops if isinstance(op, qrnn.QuantizeOp)]
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    if n is None:
        return [False] * len(quantizes), [False] * len(ret.arguments)
    timed: set[SSAValue] = set()
    for op in block.ops:
        if isinstance(op, qrnn.RecurrenceOp):
            for v in list(op.inputs) + list(op.outputs):
                if op.seq_len != n or _shape(v)[0] != n:
                    raise _err(op, f"runs {op.seq_len} steps but {MAX_SEQ_LEN} is {n}: import the model at T = {n}")
                timed.add(v)
    ins = []
    for q in quantizes:
        views = [v for v, root in read_views.items() if root is q.result]
        is_seq = any(v in timed for v in views)
        if is_seq:
            for v in views:
                if _shape(v)[:1] != (n,):
                    raise _err(
                        q,
                        f"a view of a sequence input has shape {list(_shape(v))}: a run-time sequence "
                        f"length needs time on axis 0 (length {n})",
                    )
                timed.add(v)
        ins.append(is_seq)
    outs = []
    for v in ret.arguments:
        chain: list[SSAValue] = [v.op.input] if isinstance(v, OpResult) and isinstance(v.op, qrnn.DequantizeOp) else []
        while (
            chain
            and isinstance(last := chain[-1], OpResult)
            and isinstance(last.op, qrnn.ReshapeOp)
            and last.op in write_views
        ):
            chain.append(last.op.input)
        is_seq = bool(chain) and chain[-1] in timed
        if is_seq:
            for w in chain:
                if _shape(w)[:1] != (n,):
                    raise _err(
                        w.owner if isinstance(w.owner, Operation) else ret,
                        f"a view of a sequence output has shape {list(_shape(w))}: a run-time "
                        f"sequence length needs time on axis 0 (length {n})",
                    )
                timed.add(w)
        outs.append(is_seq)
    for op in block.ops:
        if (
            isinstance(op, (qrnn.QuantizeOp, qrnn.DequantizeOp, func.ReturnOp))
            or op in write_views
            or (op.results and op.results[0] in read_views)
        ):
            continue
        touched = list(op.init) if isinstance(op, qrnn.RecurrenceOp) else list(op.operands) + list(op.results)
        if any(v in timed for v in touched):
            raise _err(
                op,
                "works on a whole sequence, which only a recurrence can do with a run-time sequence "
                f"length ({MAX_SEQ_LEN}): compile with a fixed --seq-len",
            )
    return ins, outs


def port_views(block: Block) -> tuple[dict[SSAValue, SSAValue], set[Operation]]:
    """Top-level reshapes next to a port, which become no process and no buffer: a stream carries its tensor
    in row-major order, which a reshape keeps, so an input's reader fills the reshaped buffers and an output's
    writer drains the unreshaped one (torch's [T, 1, I] input of a [T, I] recurrence costs no copy).
    Returns (read views: every value the reader fills -> its port's quantized value, the port values included;
    write views: reshapes whose every user is an output port or another write view)."""
    read_views: dict[SSAValue, SSAValue] = {}
    for op in block.ops:
        if isinstance(op, qrnn.QuantizeOp):
            read_views[op.result] = op.result
        elif isinstance(op, qrnn.ReshapeOp) and op.input in read_views:
            read_views[op.result] = read_views[op.input]
    write_views: set[Operation] = set()
    for op in reversed(list(block.ops)):
        if (
            isinstance(op, qrnn.ReshapeOp)
            and op.result not in read_views
            and op.result.uses
            and all(isinstance(u.operation, qrnn.DequantizeOp) or u.operation in write_views for u in op.result.uses)
        ):
            write_views.add(op)
    return read_views, write_views


@dataclass(frozen=True)
class KernelPort:
    """One AXI4-Stream port of the kernel: `direction` "in" (a `qrnn.quantize` of a graph input) or "out" (a
    `qrnn.dequantize` of a graph output); `shape` and `element_type` are the integer codes' (a sequence port:
    at the largest T); `sequence`: time on axis 0, as long as the run-time seq_len. Packing (`port_packing`):
    `beat_bits` TDATA bits per beat, `codes_per_beat` codes in each (code i of a beat at bits [i*b, (i+1)*b),
    b the element type's width; the last beat of an inference may hold fewer, padded with zeros, and is the
    only one with TLAST)."""

    name: str
    direction: str
    shape: tuple[int, ...]
    element_type: IntegerType
    quant: qrnn.QuantAttr
    sequence: bool = False
    beat_bits: int = 0  # 0: one code per beat, bits rounded up to bytes (`port_packing`)
    codes_per_beat: int = 1

    @property
    def bits(self) -> int:
        return self.element_type.width.data

    def to_attr(self) -> DictionaryAttr:
        return DictionaryAttr(
            {
                "name": StringAttr(self.name),
                "direction": StringAttr(self.direction),
                "shape": DenseArrayBase.from_list(i64, self.shape),
                "element_type": self.element_type,
                "quant": self.quant,
                "sequence": IntegerAttr(int(self.sequence), IntegerType(1)),
                "beat_bits": IntegerAttr(self.beat_bits, i64),
                "codes_per_beat": IntegerAttr(self.codes_per_beat, i64),
            }
        )

    @staticmethod
    def from_attr(attr: Attribute) -> KernelPort:
        assert isinstance(attr, DictionaryAttr)
        d = attr.data
        name, direction, shape = d["name"], d["direction"], d["shape"]
        element_type, quant, sequence = d["element_type"], d["quant"], d["sequence"]
        assert isinstance(name, StringAttr) and isinstance(direction, StringAttr)
        assert isinstance(shape, DenseArrayBase) and isinstance(element_type, IntegerType)
        assert isinstance(quant, qrnn.QuantAttr) and isinstance(sequence, IntegerAttr)
        dims = tuple(int(v) for v in shape.get_values())
        # a record without packing (written before it existed): one code per beat
        beat_bits, per_beat = d.get("beat_bits"), d.get("codes_per_beat")
        packing = (
            (beat_bits.value.data, per_beat.value.data)
            if isinstance(beat_bits, IntegerAttr) and isinstance(per_beat, IntegerAttr)
            else port_packing(element_type.width.data, None)
        )
        return KernelPort(name.data, direction.data, dims, element_type, quant, bool(sequence.value.data), *packing)


def _names(fn: func.FuncOp, key: str) -> list[str]:
    """The port names the importer records under `key` (lstmc.input_names / lstmc.output_names)."""
    attr = fn.attributes.get(key)
    if not isinstance(attr, ArrayAttr):
        return []
    return [a.data for a in attr.data if isinstance(a, StringAttr)]


def _codes(value: SSAValue) -> tuple[tuple[int, ...], IntegerType]:
    ty = SSAValue.get(value, type=TensorType).type
    elem = ty.get_element_type()
    assert isinstance(elem, IntegerType), "ports carry integer codes"
    return tuple(ty.get_shape()), elem


def port_ops(fn: func.FuncOp) -> tuple[list[qrnn.QuantizeOp], list[qrnn.DequantizeOp]]:
    """The readers (`qrnn.quantize`, block order) and writers (`qrnn.dequantize`, return order) of the ports."""
    block = fn.body.block
    quantizes = [op for op in block.ops if isinstance(op, qrnn.QuantizeOp)]
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    dequantizes = []
    for i, v in enumerate(ret.arguments):
        producer = v.op if isinstance(v, OpResult) else None
        if not isinstance(producer, qrnn.DequantizeOp):
            raise HlsConversionError(f"qrnn-to-hlscpp: output {i} is not dequantized integer codes")
        dequantizes.append(producer)
    return quantizes, dequantizes


def kernel_ports(fn: func.FuncOp) -> list[KernelPort]:
    """The kernel's ports in order, inputs then outputs (see the module docstring): THE port list."""
    quantizes, dequantizes = port_ops(fn)
    seq_in, seq_out = sequence_ports(fn)
    names_in, names_out = _names(fn, "lstmc.input_names"), _names(fn, "lstmc.output_names")
    axis_bits = axis_bits_of(fn)
    ports = []

    def port(name: str, direction: str, value: SSAValue, quant: qrnn.QuantAttr, timed: bool) -> KernelPort:
        shape, elem = _codes(value)
        return KernelPort(name, direction, shape, elem, quant, timed, *port_packing(elem.width.data, axis_bits, name))

    for q, timed in zip(quantizes, seq_in):
        index = q.input.index if isinstance(q.input, BlockArgument) else 0
        name = names_in[index] if index < len(names_in) else f"in{index}"
        ports.append(port(name, "in", q.result, q.quant, timed))
    for i, (dq, timed) in enumerate(zip(dequantizes, seq_out)):
        name = names_out[i] if i < len(names_out) else f"out{i}"
        ports.append(port(name, "out", dq.input, dq.quant, timed))
    return ports


def ports_attr(ports: list[KernelPort]) -> ArrayAttr[DictionaryAttr]:
    return ArrayAttr([p.to_attr() for p in ports])


def recorded_ports(op: Operation) -> list[KernelPort] | None:
    """The port record `qrnn-to-hlscpp` left on a top hlscpp.func, or None."""
    attr = op.attributes.get(PORTS_ATTR)
    if not isinstance(attr, ArrayAttr):
        return None
    return [KernelPort.from_attr(a) for a in attr.data]
