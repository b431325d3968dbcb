"""qrnn-to-hlscpp: the integer/dataflow-level model -> structured HLS C++ (the `hlscpp` dialect).

The kernel boundary is where the integer design starts and ends: each `qrnn.quantize` of a graph input
becomes an AXI4-Stream input port (`!hlscpp.stream<!hlscpp.axis<W>>`, Vitis's `ap_axiu<W, 0, 0, 0>`) carrying
that input's integer codes row-major, P codes per beat (the port's packing, `lstmc.ports.port_packing`: one
code per beat, or `axis-bits=N` / `lstmc.axis_bits`: N-bit beats of N // b codes), TKEEP/TSTRB on the bytes
holding codes and TLAST on the last beat of each call; each `qrnn.dequantize` of a graph output an AXI4-Stream
output port likewise (`_reader`, `_writer`: a beat per cycle as one word of P lanes when the FIFO on the
other side has P lanes, else a code per cycle): the one port list of `lstmc.ports.kernel_ports`,
which the top function records (`lstmc.ports`: names, order, direction, codes, quantizer, shape; read by
`lstmc.hls.project.kernel_interface`). The top function is a DATAFLOW region of
processes, one per top-level op (input readers, one function per recurrence, concatenations and
reshapes, output writers), joined by arrays (ping-pong buffers), one copy per consumer so that every buffer
has a single producer and a single consumer. Reshapes next to a port are views (`port_views`): the reader
or writer indexes the stream in the other shape, so they cost neither a process nor a buffer.
The streamed top level (`lstmc.schedule.top_streams`, which lstmc/qor.py counts too): where a value has
one reader that consumes it in the producer's row-major order, the two processes are joined by an
`hls::stream` FIFO of words of several lanes (an array of streams) instead of a buffer, and the reshapes
between them are views: the input reader writes one code per word; a window becomes a line buffer
(`_line_buffer`, FINN's ConvolutionInputGenerator, `lstmc.schedule.LineBuffer`: kh + 1 image rows used
circularly, not the [Ho*Wo, kh*kw*C] patches in ping-pong buffers; phases each read a row and, once a
window's kh rows are in, emit its output row's patches, SIMD elements per word); a convolution's MVAU runs one flat loop
over its patches, reads a SIMD-wide word per iteration of the first row fold into its input buffer and
writes PE-wide words (`_streamed_mvau`); an elementwise unit handles one word per iteration
(`_streamed_elementwise`); a streamed recurrence reads one x_t per step from the FIFO into a register array
(`_read_vector`) instead of indexing a [T][I] buffer (also straight from the input port's reader), and the
unit computing a forward scan output writes y_t to a FIFO, E lanes per word, as it computes it instead of
storing it at row t of a [T][H] buffer: into the next forward layer's x_t, or to the output port's writer,
which takes the lanes of a word apart (one element per cycle).
A top-level MVAU whose accumulator only feeds a requantizer, threshold or table unit
(`lstmc.schedule.fused_epilogues`) applies that unit to each row at its last column fold, with the unit's
own per-element code (`_epilogue`, `_Elementwise`), and writes the unit's codes (FINN's MVTU): the unit has
no process, and no FIFO or buffer of accumulators is left between them (one loop control, one pipeline
fill, a FIFO as narrow as the codes). Streamed or between buffers alike: both MVAU processes write through
`_emit_mvau`'s `write_row`.

A recurrence whose step streams (`lstmc.schedule.step_schedule`: an MVAU and elementwise units on its
gates, every LSTM cell) becomes a recurrence function around a DATAFLOW step function (`_StreamedRecurrence`):
the MVAU emits its rows interleaved by gate into a `hls::stream` FIFO per gate (depths: the `fifo_depth`
attributes) and the cell, one process running every elementwise unit, E lanes wide, consumes each group of
G gates x E elements as it leaves the MVAU. The next step's MVAU needs all of h_t, so each step starts when
the previous one has written its last element: a step takes the MVAU's folded cycles, B * (4H/PE) *
((I+H)/SIMD) + its depth, plus the cell's depth behind the last group and a constant (lstmc/qor.py counts
exactly this). Within a step every row fold reads x_t's
columns first, then h_{t-1}'s; a fold of SIMD columns may take columns of both. Where it pays
(`lstmc.schedule.x_overlap`, the x-overlapped step, `_emit_overlapped_mvau`) the same MVAU computes the
x-only column folds of step t + 1 behind the h-dependent folds of step t in the same flat loop, while the
units drain step t; each row of step t + 1 then starts from that carried x-part (step 0's loop computes its
own x-part first, on the same multipliers; the last step's loop stops after its h folds).
Any other recurrence keeps its carried state in on-chip arrays and runs the time loop; each step reads
the scanned input slices, then runs its units one after the other, each a loop over its vector with II=1:
the MVAU as (rows/PE) x (cols/SIMD) pipelined iterations with PE x SIMD unrolled multiply-accumulates,
thresholds with all comparators unrolled, the elementwise cell update; then updates the state and writes the
step's outputs. This is the schedule lstmc/qor.py counts for them.
A function with `lstmc.max_seq_len = N` (imported at T = N; `lstmc compile --max-seq-len`) takes T at run time:
the top function gets an `int seq_len` AXI-Lite port, and the readers and writers of its sequence ports
(`sequence_ports`) and every recurrence's `steps` loop run seq_len iterations (hlscpp.for with a run-time
bound, ub = N); buffers keep size N, and FIFOs stream as with a fixed T (a recurrence reads x_{t+1}, x_{t+2}
ahead only while they exist). Only recurrences may touch the time axis then.
A recurrence over B independent sequences (states [B][H], x_t [B][I]) interleaves them: the MVAU's flat loop
runs B x (rows/PE) x (cols/SIMD) iterations, the sequences taking turns after each full pass over the rows,
and every other unit loops over [B][N]; so each unit's pipeline fills once per step for all B sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import IndexType, IntegerAttr, IntegerType, MemRefType, ModuleOp, StringAttr, TensorType, i64
from xdsl.ir import Attribute, Block, Operation, OpResult, SSAValue
from xdsl.passes import ModulePass

from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import dataflow, hlscpp, qrnn
from lstmc.passes.hlscpp_prepare_emission import is_cpp_identifier
from lstmc.ports import (
    AXIS_BITS,
    MAX_SEQ_LEN,
    PORTS_ATTR,
    SEQ_LEN_PORT,
    HlsConversionError,
    KernelPort,
    axis_bits_of,
    check_axis_bits,
    kernel_ports,
    max_seq_len_of,
    port_ops,
    port_views,
    ports_attr,
    sequence_ports,
)
from lstmc.qor import STEP_OVERHEAD, mvau_depth
from lstmc.schedule import (
    STREAM_UNITS,
    XOverlap,
    fifo_depth,
    fused_epilogues,
    line_buffer,
    step_schedule,
    top_fifo_depth,
    top_streams,
)

INDEX = IndexType()
_OpT = TypeVar("_OpT", bound=Operation)
BOOL = IntegerType(1)  # signless i1 prints as bool; data never uses it (ui1 is ap_uint<1>)


def _err(op: Operation, message: str) -> HlsConversionError:
    return HlsConversionError(f"qrnn-to-hlscpp: '{op.name}': {message}")


def _int_type_for(values: np.ndarray) -> IntegerType:
    return qrnn.integer_type_for_range(int(values.min(initial=0)), int(values.max(initial=0)))


def _bits_type(lo: int, hi: int) -> IntegerType:
    return qrnn.integer_type_for_range(int(lo), int(hi))


def _range(ty: Attribute) -> tuple[int, int]:
    assert isinstance(ty, IntegerType), "integer data"
    return qrnn.integer_range_of(ty)


def _shape(value: SSAValue) -> tuple[int, ...]:
    """The shape of a tensor value or of an array."""
    ty = value.type
    assert isinstance(ty, (TensorType, MemRefType)), f"{ty} has no shape"
    return tuple(ty.get_shape())


def _elem(value: SSAValue) -> Attribute:
    """The element type of a tensor value or of an array."""
    ty = value.type
    assert isinstance(ty, (TensorType, MemRefType)), f"{ty} has no element type"
    return ty.get_element_type()


class _Builder:
    """Appends hlscpp ops at an insertion point; loops are context managers yielding their index."""

    def __init__(self, block: Block):
        self.block = block

    def add(self, op: _OpT) -> _OpT:
        self.block.add_op(op)
        return op

    def const(self, value: int, ty: Attribute = INDEX) -> SSAValue:
        return self.add(hlscpp.ConstOp(int(value), ty)).result

    def array(self, shape, elem, storage="local", init: np.ndarray | None = None, partition=(), name=None) -> SSAValue:
        dense = dense_from_array(init, elem) if init is not None else None
        arr = self.add(hlscpp.ArrayOp(MemRefType(elem, list(shape)), storage, dense, partition)).result
        if name:
            arr.name_hint = name
        return arr

    def const_array(self, values: np.ndarray, name: str, partition=()) -> SSAValue:
        values = np.asarray(values, dtype=np.int64)
        return self.array(values.shape, _int_type_for(values), "static_const", values, partition, name)

    def load(self, arr: SSAValue, idx) -> SSAValue:
        return self.add(hlscpp.LoadOp(arr, list(idx))).result

    def store(self, value: SSAValue, arr: SSAValue, idx) -> None:
        self.add(hlscpp.StoreOp(value, arr, list(idx)))

    def bin(self, kind: str, a: SSAValue, b: SSAValue, ty) -> SSAValue:
        return self.add(hlscpp.BinaryOp(kind, a, b, ty)).result

    def cast(self, a: SSAValue, ty) -> SSAValue:
        return self.add(hlscpp.CastOp(a, ty)).result

    def select(self, c: SSAValue, a: SSAValue, b: SSAValue, ty) -> SSAValue:
        return self.add(hlscpp.SelectOp(c, a, b, ty)).result

    @contextmanager
    def loop(
        self,
        ub: int,
        step: int = 1,
        pipeline: int | None = None,
        unroll: int | None = None,
        label: str | None = None,
        lb: int = 0,
        bound: SSAValue | None = None,
    ) -> Iterator[SSAValue]:
        """With `bound` (a run-time index) the loop stops there; `ub` is then its largest value."""
        op = self.add(hlscpp.ForOp(lb, ub, step, pipeline, unroll, label, bound))
        outer, self.block = self.block, op.body.block
        try:
            yield op.body.block.args[0]
        finally:
            self.block = outer

    def for_each(self, shape, body, label: str | None = None, bound: SSAValue | None = None) -> None:
        """Row-major loop nest over `shape` (innermost loop pipelined); body(indices) emits the loop body.
        `bound`: the outermost loop runs that many (run-time) iterations of at most shape[0]."""
        idx: list[SSAValue] = []

        def nest(d: int):
            if d == len(shape):
                body(list(idx))
                return
            with self.loop(
                shape[d],
                pipeline=1 if d == len(shape) - 1 else None,
                label=label if d == 0 else None,
                bound=bound if d == 0 else None,
            ) as i:
                idx.append(i)
                nest(d + 1)
                idx.pop()

        nest(0)

    @contextmanager
    def if_(self, cond: SSAValue) -> Iterator[None]:
        op = self.add(hlscpp.IfOp(cond))
        outer, self.block = self.block, op.then.block
        try:
            yield
        finally:
            self.block = outer

    def copy(self, src: SSAValue, dst: SSAValue, src_index=None, dst_index=None, label=None) -> None:
        """dst[f(idx)] = src[g(idx)]: iterates over src's shape when dst_index maps it into dst (writing a
        slice of dst), else over dst's shape."""
        shape = _shape(src) if dst_index else _shape(dst)

        def body(idx):
            s_idx = src_index(idx) if src_index else idx
            d_idx = dst_index(idx) if dst_index else idx
            self.store(self.load(src, s_idx), dst, d_idx)

        self.for_each(shape, body, label)


# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QrnnToHlscppPass(ModulePass):
    """Convert the integer model's entry function into an hlscpp top function `kernel` + process functions."""

    name = "qrnn-to-hlscpp"

    kernel: str = "lstmc_kernel"
    max_seq_len: int = 0  # > 0: the module was imported at T = max_seq_len and the kernel takes T at run time
    axis_bits: int = 0  # > 0: every port an N-bit AXI4-Stream packing N // b codes per beat; 0: one per beat

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        funcs = [f for f in op.ops if isinstance(f, func.FuncOp)]
        if len(funcs) != 1:
            raise HlsConversionError(f"qrnn-to-hlscpp: expected one func.func, found {len(funcs)}")
        reason = is_cpp_identifier(self.kernel)
        if reason:  # the kernel name is the one name the user types straight into the C++
            raise HlsConversionError(
                f"qrnn-to-hlscpp: kernel name {self.kernel!r} is not usable as a C++ function name: {reason}"
            )
        fn = funcs[0]
        if self.max_seq_len:
            _mark_run_time_length(fn, self.max_seq_len)
        if self.axis_bits:
            check_axis_bits(self.axis_bits, "axis-bits")
            if axis_bits_of(fn) not in (None, self.axis_bits):
                raise HlsConversionError(
                    f"qrnn-to-hlscpp: axis-bits={self.axis_bits} but the function says {AXIS_BITS} = {axis_bits_of(fn)}"
                )
            fn.attributes[AXIS_BITS] = IntegerAttr(self.axis_bits, i64)
        for inner in fn.walk():
            if isinstance(inner, (qrnn.QuantOp, qrnn.MatMulOp, qrnn.SigmoidOp, qrnn.TanhOp, qrnn.QConstantOp)):
                raise _err(inner, "float ops remain; run qrnn-legalize-precision (and qrnn-to-dataflow) first")
        new_ops = _TopConverter(self.kernel, max_seq_len_of(fn)).convert(fn)
        fn.detach()
        fn.erase()
        for f in new_ops:
            op.body.block.add_op(f)


def _mark_run_time_length(fn: func.FuncOp, n: int) -> None:
    """The max-seq-len option: buffers are sized by the imported T, so it must be N on every sequence port
    (a smaller T would let the testbench and host write past them)."""
    if n < 0:
        raise HlsConversionError(f"qrnn-to-hlscpp: max-seq-len must be positive, got {n}")
    if max_seq_len_of(fn) not in (None, n):
        raise HlsConversionError(
            f"qrnn-to-hlscpp: max-seq-len={n} but the function says {MAX_SEQ_LEN} = {max_seq_len_of(fn)}"
        )
    fn.attributes[MAX_SEQ_LEN] = IntegerAttr(n, i64)
    inputs, _ = sequence_ports(fn)
    quantizes = [op for op in fn.body.block.ops if isinstance(op, qrnn.QuantizeOp)]
    for q, is_sequence in zip(quantizes, inputs):
        t = _shape(q.result)[0]
        if is_sequence and t != n:
            raise HlsConversionError(
                f"qrnn-to-hlscpp: max-seq-len={n} but the sequence input is imported with T = "
                f"{t}; import it at T = {n} (--seq-len {n})"
            )


class _TopConverter:
    def __init__(self, kernel: str, max_seq_len: int | None = None):
        self.kernel = kernel
        self.max_seq_len = max_seq_len  # set: the sequence length is the top function's `seq_len` port
        self.functions: list[hlscpp.FuncOp] = []

    def convert(self, fn: func.FuncOp) -> list[hlscpp.FuncOp]:
        block = fn.body.block
        ret = block.last_op
        assert isinstance(ret, func.ReturnOp)
        processes = []
        for op in block.ops:
            if isinstance(op, _TOP_PROCESSES):
                processes.append(op)
            elif not isinstance(op, (qrnn.QuantizeOp, qrnn.DequantizeOp, func.ReturnOp)):
                raise _err(op, "is not supported at the top level of a hardware kernel")
        # ports: quantized inputs and dequantized outputs (the one port list, recorded on the top function)
        ports = kernel_ports(fn)
        quantizes, dequantizes = port_ops(fn)
        in_ports = [(p.name, q) for p, q in zip(ports, quantizes)]
        out_ports = [(p.name, dq) for p, dq in zip(ports[len(quantizes) :], dequantizes)]

        read_views, write_views = port_views(block)

        def written(v: SSAValue) -> SSAValue:
            while isinstance(v, OpResult) and isinstance(v.op, qrnn.ReshapeOp) and v.op in write_views:
                v = v.op.input
            return v

        streams = top_streams(block)  # the FIFOs of the streamed top level; their reshapes are views
        stream_of_view = {st.view: st for st in streams.values()}

        def fifo_key(st) -> tuple[SSAValue, Operation]:
            """The (value, consumer) a FIFO replaces the buffer of: an output port's writer drains the
            unreshaped value (`written`), any other consumer reads the view."""
            return (st.value if isinstance(st.consumer, qrnn.DequantizeOp) else st.view, st.consumer)

        fifo_of = {fifo_key(st): st for st in streams.values()}
        stream_views = {r for st in streams.values() for r in st.reshapes}
        epilogues = fused_epilogues(block)  # the MVAU process applies the unit: no process, no buffer between

        def written_by(op: Operation) -> list[SSAValue]:
            """The values a process writes: a fused MVAU's, its epilogue's result."""
            return list(epilogues[op].results) if op in epilogues else list(op.results)

        absorbed = set(epilogues.values())
        processes = [
            op
            for op in processes
            if op not in write_views
            and op not in stream_views
            and op not in absorbed
            and not (op.results and op.results[0] in read_views)
        ]
        # every top-level integer value gets one buffer per consumer (single producer / single consumer)
        consumers: dict[SSAValue, list[Operation]] = {}
        for op in processes:
            for v in op.operands:
                consumers.setdefault(v, []).append(op)
        for _, dq in out_ports:
            consumers.setdefault(written(dq.input), []).append(dq)
        # every port an AXI4-Stream of beats with TLAST (KernelPort's packing: codes_per_beat per beat)
        top_types: list[Attribute] = [hlscpp.StreamType(hlscpp.AxisType(p.beat_bits)) for p in ports]
        top_names = [p.name for p in ports]
        interfaces = ["axis"] * len(top_types)
        seq_in = [p.sequence for p in ports[: len(in_ports)]]
        seq_out = [p.sequence for p in ports[len(in_ports) :]]
        if self.max_seq_len is not None:
            # T as a scalar on the AXI-Lite control interface: the host writes it with the start bit, every
            # process reads it once per call, and the streams carry only data (a header word would make one
            # input stream's first beat special and its reader a process every other process waits for)
            top_types.append(INDEX)
            top_names.append(SEQ_LEN_PORT)
            interfaces.append("s_axilite")
        # ap_ctrl_chain: the host may start the next inference while this one drains (the DATAFLOW
        # processes then overlap inferences, one initiation interval apart)
        top = hlscpp.FuncOp(
            self.kernel, top_types, top_names, interfaces, top=True, dataflow=True, block_control="ap_ctrl_chain"
        )
        top.attributes[PORTS_ATTR] = ports_attr(ports)
        if self.max_seq_len is not None:
            top.attributes[MAX_SEQ_LEN] = IntegerAttr(self.max_seq_len, i64)
        seq_len = top.body.block.args[-1] if self.max_seq_len is not None else None
        b = _Builder(top.body.block)
        # a streamed recurrence reads SIMD (or E) consecutive elements of its scanned inputs per cycle and
        # writes E of its scan outputs: those buffers are split cyclically on their last axis
        factor: dict[tuple[SSAValue, Operation | None], int] = {}
        for op in processes:
            schedule = step_schedule(op) if isinstance(op, qrnn.RecurrenceOp) else None
            if schedule is not None:
                for key, f in _streamed_partitions(op, schedule).items():
                    factor[key] = max(factor.get(key, 1), f)
        for st in streams.values():  # arrays next to a streamed unit: its lanes on the last axis per cycle
            for op, lanes in ((st.producer, st.lanes), (st.consumer, st.lanes)):
                if isinstance(op, dataflow.MVAUOp):
                    lanes = op.pe.value.data
                if lanes > 1 and isinstance(op, STREAM_UNITS + (dataflow.MVAUOp,)):
                    for r in written_by(op):
                        factor[(r, None)] = max(factor.get((r, None), 1), lanes)
                    for v in op.operands:
                        f = op.simd.value.data if isinstance(op, dataflow.MVAUOp) else lanes
                        factor[(v, op)] = max(factor.get((v, op), 1), f)
        buffers: dict[tuple[SSAValue, Operation], SSAValue] = {}
        for v, users in consumers.items():
            for k, user in enumerate(users):
                st = fifo_of.get((v, user))
                if st is not None:
                    fifo = b.add(
                        hlscpp.StreamOp(_elem(v), top_fifo_depth(st), st.lanes if st.lanes > 1 else None)
                    ).result
                    fifo.name_hint = f"{st.value.name_hint or 'value'}_fifo"
                    buffers[(v, user)] = fifo
                    continue
                f = max(factor.get((v, user), 1), factor.get((v, None), 1))
                split = [hlscpp.PartitionAttr("cyclic", f, len(_shape(v)))] if f > 1 else []
                arr = b.array(_shape(v), _elem(v), partition=split, name=f"{v.name_hint or 'buf'}_{k}")
                buffers[(v, user)] = arr

        def outputs_of(v: SSAValue) -> list[SSAValue]:
            if v in streams:  # the producer writes the FIFO its consumer reads through the views
                return [buffers[fifo_key(streams[v])]]
            if v in stream_of_view:  # a view of a FIFO: written by the FIFO's producer
                return []
            return [buffers[(v, u)] for u in consumers.get(v, [])]

        # the processes that stop at the run-time sequence length take it as their last argument
        def with_len(args, names, timed):
            return (args + [seq_len], names + [SEQ_LEN_PORT]) if timed and seq_len is not None else (args, names)

        # input readers
        for (name, q), port, timed, kp in zip(in_ports, top.body.block.args, seq_in, ports):
            outs = [a for v, root in read_views.items() if root is q.result for a in outputs_of(v)]
            # a FIFO alone: the loop nest of the shape its consumer reads (torch's [T, 1, I] as [T, I])
            port_shape = _shape(streams[q.result].view if q.result in streams else q.result)
            args, names = with_len([port] + outs, ["in"] + [f"out{k}" for k in range(len(outs))], timed)
            self._process(
                b,
                f"read_{name}",
                args,
                names,
                lambda pb, a, k=len(outs), timed=timed, shape=port_shape, kp=kp: self._reader(
                    pb, a[0], a[1 : 1 + k], a[-1] if timed and seq_len is not None else None, shape, kp
                ),
            )
        for op in processes:
            ins = [buffers[(v, op)] for v in op.operands]
            outs_per_result = [outputs_of(r) for r in written_by(op)]
            flat_outs = [a for outs in outs_per_result for a in outs]
            label = self._label(op, epilogues.get(op))
            timed = isinstance(op, qrnn.RecurrenceOp) and seq_len is not None
            args, names = with_len(
                ins + flat_outs, [f"in{k}" for k in range(len(ins))] + [f"out{k}" for k in range(len(flat_outs))], timed
            )
            self._process(
                b,
                label,
                args,
                names,
                lambda pb,
                a,
                op=op,
                n_in=len(ins),
                shape=[len(o) for o in outs_per_result],
                label=label,
                n_out=len(flat_outs),
                timed=timed: self._top_op(
                    pb,
                    op,
                    a[:n_in],
                    _regroup(a[n_in : n_in + n_out], shape),
                    label,
                    a[-1] if timed else None,
                    epilogues.get(op),
                ),
            )
        out_args = top.body.block.args[len(in_ports) :]
        for (name, dq), port, timed, kp in zip(out_ports, out_args, seq_out, ports[len(in_ports) :]):
            src = buffers[(written(dq.input), dq)]
            args, names = with_len([src, port], ["in", "out"], timed)
            self._process(
                b,
                f"write_{name}",
                args,
                names,
                lambda pb, a, timed=timed, shape=_shape(written(dq.input)), kp=kp: self._writer(
                    pb, a[0], a[1], a[-1] if timed and seq_len is not None else None, shape, kp
                ),
            )
        return self.functions + [top]

    def _label(self, op: Operation, epilogue: Operation | None = None) -> str:
        """The process's name: the op's kind and value; a fused MVAU's also names the unit it applies."""
        if isinstance(op, qrnn.RecurrenceOp):
            name = op.attributes.get("lstmc.onnx_node")
            return "rec_" + (name.data if isinstance(name, StringAttr) else str(len(self.functions)))
        hint = next((r.name_hint for r in op.results if r.name_hint), None) or str(len(self.functions))
        label = op.name.replace("qrnn.", "") + "_" + hint
        if epilogue is not None:
            label += "_" + (epilogue.results[0].name_hint or epilogue.name.replace("qrnn.", ""))
        return label

    def _process(
        self, b: _Builder, name: str, args: list[SSAValue], arg_names: list[str], body, dataflow: bool = False
    ) -> None:
        """Create a process function taking `args` and call it where `b` builds (the top function, or a
        DATAFLOW region of its own)."""
        taken = {f.sym_name.data for f in self.functions} | {self.kernel}
        base, n = name, 1
        while name in taken:  # symbols must be unique for the IR to verify
            name, n = f"{base}n{n}", n + 1
        f = hlscpp.FuncOp(name, [a.type for a in args], arg_names, dataflow=dataflow)
        body(_Builder(f.body.block), list(f.body.block.args))
        self.functions.append(f)
        b.add(hlscpp.CallOp(name, args))

    # -------------------------------------------------------------------------------------- top-level ops
    def _reader(
        self,
        b: _Builder,
        port: SSAValue,
        outs: list[SSAValue],
        seq_len: SSAValue | None,
        port_shape,
        kp: KernelPort,
    ) -> None:
        """The port's beats into its consumers, row-major (`lstmc.ports.port_rate`). Into a FIFO of words of
        L = k x P lanes (P the codes per beat; `top_streams` chose so): one beat per cycle, its P codes into
        lanes of the word, a word every k beats. Into a FIFO of words of L lanes, L a divisor of P (1 for
        buffers): one word per cycle, a beat read every P / L words into a register array of its codes."""
        arrays = [o for o in outs if hlscpp.stream_element_type(o.type) is None]
        shape = _shape(arrays[0]) if arrays else port_shape
        per_beat, elem = kp.codes_per_beat, kp.element_type
        lanes = next((n for n in map(_stream_lanes, outs) if n is not None), 1)
        if per_beat > 1 and lanes % per_beat == 0:  # (top_streams: L divides the port's last axis)
            (fifo,) = outs
            shape, beats = kp.shape, lanes // per_beat
            part = _counter(b, "part") if beats > 1 else None

            def beat(idx):
                data = b.add(hlscpp.ReadOp(port)).result
                q_now = b.load(part, []) if part is not None else None
                for q in range(beats):  # the part of the word this beat fills: lanes qP .. qP + P - 1
                    with b.if_(b.bin("eq", q_now, b.const(q), BOOL)) if q_now is not None else nullcontext():
                        for e in range(per_beat):
                            code = b.add(hlscpp.UnpackOp(data, b.const(e), elem)).result
                            _write_lane(b, fifo, code, b.const(q * per_beat + e))
                if part is not None:
                    _advance(b, part, beats, q_now)

            b.for_each([*shape[:-1], shape[-1] // per_beat], beat, bound=seq_len)
            return
        assert per_beat % lanes == 0, "top_streams: a reader's words are whole beats or parts of a beat"
        if per_beat > 1:
            lane_var = _counter(b, "lane")
            codes = b.array([per_beat], elem, partition=[hlscpp.PartitionAttr("complete", 0, 1)], name="codes")

        def word() -> list[SSAValue]:
            if per_beat == 1:
                return [b.add(hlscpp.UnpackOp(b.add(hlscpp.ReadOp(port)).result, b.const(0), elem)).result]
            lane = b.load(lane_var, [])
            with b.if_(b.bin("eq", lane, b.const(0), BOOL)):
                data = b.add(hlscpp.ReadOp(port)).result
                for e in range(per_beat):
                    b.store(b.add(hlscpp.UnpackOp(data, b.const(e), elem)).result, codes, [b.const(e)])
            if lanes == 1:
                vs = [b.load(codes, [lane])]
            else:
                base = b.bin("mul", lane, b.const(lanes), INDEX)
                vs = [b.load(codes, [_plus(b, base, e)]) for e in range(lanes)]
            _advance(b, lane_var, per_beat // lanes, lane)
            return vs

        def body(idx):
            vs = word()
            for o in outs:  # a view of the port (another shape) is indexed by the same row-major position
                if o not in arrays:  # the FIFO of a streamed consumer: L elements per word
                    for e, v in enumerate(vs):
                        _write_lane(b, o, v, b.const(e) if lanes > 1 else None)
                    continue
                o_shape = _shape(o)
                b.store(vs[0], o, idx if o_shape == shape else _unflatten(b, o_shape, _flat_index(b, shape, idx)))

        # a sequence port: seq_len rows of its views' shape; words of L lanes run along the port's own rows
        # (which top_streams checked L divides: a line buffer takes them across a row's W x C codes)
        nest = [*kp.shape[:-1], kp.shape[-1] // lanes] if lanes > 1 else shape
        b.for_each(nest, body, bound=seq_len)

    def _writer(
        self, b: _Builder, src: SSAValue, port: SSAValue, seq_len: SSAValue | None, shape, kp: KernelPort
    ) -> None:
        """The codes into the port's beats, row-major, TLAST on the last (`lstmc.ports.port_rate`). From a FIFO
        of words of L = k x P lanes (P the codes per beat): one beat per cycle, a word read every k beats into
        a register array. From a FIFO of words of L lanes, L a divisor of P: a word per cycle into a register
        array of a beat's codes, a beat written every P / L words and after the last (zero-padded). Otherwise
        (a buffer, or a word width and P that do not divide each other) one code per cycle the same way."""
        per_beat, width = kp.codes_per_beat, kp.beat_bits
        lanes = _stream_lanes(src)
        if lanes is not None and per_beat > 1 and lanes % per_beat == 0:
            nest, beats = [*shape[:-1], shape[-1] // per_beat], lanes // per_beat
            if beats > 1:
                part = _counter(b, "part")
                held = b.array(
                    [lanes], kp.element_type, partition=[hlscpp.PartitionAttr("complete", 0, 1)], name="word"
                )

            def beat(idx):
                if beats == 1:
                    codes = [_read_lane(b, src, b.const(e)) for e in range(lanes)]
                else:
                    q = b.load(part, [])
                    with b.if_(b.bin("eq", q, b.const(0), BOOL)):
                        for e in range(lanes):
                            b.store(_read_lane(b, src, b.const(e)), held, [b.const(e)])
                    base = b.bin("mul", q, b.const(per_beat), INDEX)
                    codes = [b.load(held, [_plus(b, base, e)]) for e in range(per_beat)]
                    _advance(b, part, beats, q)
                last = _is_last(b, idx, nest, seq_len)
                b.add(hlscpp.WriteOp(port, b.add(hlscpp.PackOp(codes, b.const(per_beat), last, width)).result))

            b.for_each(nest, beat, bound=seq_len)
            return
        step = 1  # codes taken per iteration: a word of L lanes when L divides P, else one
        if lanes is None:
            nest = list(_shape(src))

            def get(idx):
                return [b.load(src, idx)]
        elif lanes > 1 and per_beat % lanes == 0:
            nest, step = [*shape[:-1], shape[-1] // lanes], lanes

            def get(idx):
                return [_read_lane(b, src, b.const(e)) for e in range(lanes)]
        else:
            # a FIFO of words of E lanes (a recurrence's y_t): the innermost loop walks the lanes of a word
            # (one flattened pipeline, one element per cycle)
            nest = [*shape[:-1], shape[-1] // lanes] + ([lanes] if lanes > 1 else [])

            def get(idx):
                return [_read_lane(b, src, idx[-1] if lanes > 1 else None)]

        if per_beat == 1:

            def one(idx):
                (v,), last = get(idx), _is_last(b, idx, nest, seq_len)
                b.add(hlscpp.WriteOp(port, b.add(hlscpp.PackOp([v], b.const(1), last, width)).result))

            b.for_each(nest, one, bound=seq_len)
            return
        lane_var = _counter(b, "lane")
        codes = b.array([per_beat], kp.element_type, partition=[hlscpp.PartitionAttr("complete", 0, 1)], name="codes")

        def body(idx):
            vs, lane = get(idx), b.load(lane_var, [])
            if step == 1:
                b.store(vs[0], codes, [lane])
            else:
                base = b.bin("mul", lane, b.const(step), INDEX)
                for e, v in enumerate(vs):
                    b.store(v, codes, [_plus(b, base, e)])
            last = _is_last(b, idx, nest, seq_len)
            flush = b.bin("or", b.bin("eq", lane, b.const(per_beat // step - 1), BOOL), last, BOOL)
            with b.if_(flush):
                words = [b.load(codes, [b.const(e)]) for e in range(per_beat)]
                count = b.bin("add", lane, b.const(1), INDEX)
                if step > 1:
                    count = b.bin("mul", count, b.const(step), INDEX)
                b.add(hlscpp.WriteOp(port, b.add(hlscpp.PackOp(words, count, last, width)).result))
            b.store(b.select(flush, b.const(0), b.bin("add", lane, b.const(1), INDEX), INDEX), lane_var, [])

        b.for_each(nest, body, bound=seq_len)

    def _top_op(
        self,
        b: _Builder,
        op: Operation,
        ins: list[SSAValue],
        outs: list[list[SSAValue]],
        label: str = "",
        seq_len: SSAValue | None = None,
        epilogue: Operation | None = None,
    ) -> None:
        """`epilogue`: the unit a top-level MVAU applies to each row (`fused_epilogues`); `outs` are then
        the unit's result's buffers or FIFO."""
        if isinstance(op, qrnn.RecurrenceOp):
            schedule = step_schedule(op)
            if schedule is not None:
                _StreamedRecurrence(self, b, op, schedule, label, ins, outs, seq_len).convert()
            else:
                _RecurrenceConverter(b, op, ins, outs, seq_len).convert()
        elif isinstance(op, qrnn.ConstantOp):
            values = array_from_dense(op.value).astype(np.int64)
            c = b.const_array(values, "value")
            for o in outs[0]:
                b.copy(c, o)
        elif any(hlscpp.stream_element_type(a.type) is not None for a in ins + outs[0]):
            _top_streamed_unit(b, op, ins, outs[0], epilogue)
        elif isinstance(op, _DATA_MOVEMENT):
            _convert_data_movement(b, op, ins, outs[0])
        else:  # a compute unit on whole tensors: into the first buffer, copied to the others
            target = outs[0][0]
            if isinstance(op, dataflow.MVAUOp):
                _mvau_to_array(b, op, ins, target, epilogue=epilogue)
            else:
                _emit_elementwise(b, op, ins, target)
            for other in outs[0][1:]:
                b.copy(target, other)


_DATA_MOVEMENT = (qrnn.ConcatOp, qrnn.ReshapeOp, qrnn.SliceOp, qrnn.TransposeOp, qrnn.WindowOp)
# Ops that become processes of the top-level DATAFLOW region (with the readers and writers of the ports).
_TOP_PROCESSES = (
    qrnn.RecurrenceOp,
    qrnn.ConstantOp,
    dataflow.MVAUOp,
    qrnn.ThresholdOp,
    qrnn.LutOp,
    qrnn.RequantOp,
    qrnn.ScaledSumOp,
    qrnn.IMulOp,
) + _DATA_MOVEMENT


def _is_last(b: _Builder, idx: list[SSAValue], nest, seq_len: SSAValue | None) -> SSAValue:
    """Whether `idx` is the last iteration of a row-major loop nest over `nest` (whose outermost loop runs
    seq_len times when given): the TLAST of a port's last beat."""
    last = None
    for d, (i, n) in enumerate(zip(idx, nest)):
        if d == 0 and seq_len is not None:
            end = b.bin("eq", i, b.bin("sub", seq_len, b.const(1), INDEX), BOOL)
        elif n == 1:
            continue
        else:
            end = b.bin("eq", i, b.const(n - 1), BOOL)
        last = end if last is None else b.bin("and", last, end, BOOL)
    return last if last is not None else b.const(1, BOOL)


def _regroup(flat: list, sizes: list[int]) -> list[list]:
    out, i = [], 0
    for n in sizes:
        out.append(flat[i : i + n])
        i += n
    return out


def _flat_index(b: _Builder, shape, idx) -> SSAValue:
    flat = b.const(0)
    for d, i in enumerate(idx):
        flat = b.bin("add", b.bin("mul", flat, b.const(shape[d]), INDEX), i, INDEX)
    return flat


def _unflatten(b: _Builder, shape, flat: SSAValue) -> list[SSAValue]:
    idx = []
    for d in reversed(range(len(shape))):
        idx.append(b.bin("mod", flat, b.const(shape[d]), INDEX))
        flat = b.bin("div", flat, b.const(shape[d]), INDEX)
    return list(reversed(idx))


def _convert_data_movement(b: _Builder, op: Operation, ins: list[SSAValue], outs: list[SSAValue]) -> None:
    """Concat / reshape / slice between arrays (used at top level and inside recurrence bodies)."""
    for out in outs:
        if isinstance(op, qrnn.ReshapeOp):
            in_shape, out_shape = _shape(op.input), _shape(op.result)
            b.copy(ins[0], out, src_index=lambda idx: _unflatten(b, in_shape, _flat_index(b, out_shape, idx)))
        elif isinstance(op, qrnn.SliceOp):
            start = op.start
            b.copy(ins[0], out, src_index=lambda idx: idx[:-1] + [b.bin("add", idx[-1], b.const(start), INDEX)])
        elif isinstance(op, qrnn.TransposeOp):
            perm = op.permutation
            inverse = [perm.index(d) for d in range(len(perm))]
            b.copy(ins[0], out, src_index=lambda idx: [idx[inverse[d]] for d in range(len(perm))])
        elif isinstance(op, qrnn.WindowOp):
            _sliding_window(b, op, ins[0], out)
        elif isinstance(op, qrnn.ConcatOp):
            axis = op.axis.value.data
            offset = 0
            for src, v in zip(ins, op.inputs):
                off = offset
                b.copy(
                    src,
                    out,
                    dst_index=lambda idx, off=off: idx[:axis]
                    + [b.bin("add", idx[axis], b.const(off), INDEX)]
                    + idx[axis + 1 :],
                )
                offset += _shape(v)[axis]
        else:
            raise _err(op, "is not supported in a hardware kernel")


def _sliding_window(b: _Builder, op: qrnn.WindowOp, src: SSAValue, out: SSAValue) -> None:
    """FINN's ConvolutionInputGenerator as a copy: out[ho * Wo + wo, (i * kw + j) * C + c] =
    src[ho * sh + i, wo * sw + j, c], iterating in output order (one patch element per cycle)."""
    (kh, kw), (sh, sw), (ho, wo) = op.kernel_size, op.stride, op.out_hw
    c = _shape(op.input)[2]

    def body(idx):
        y, x, i, j, ch = idx
        row = b.bin("add", b.bin("mul", y, b.const(wo), INDEX), x, INDEX)
        col = b.bin(
            "add",
            b.bin("mul", b.bin("add", b.bin("mul", i, b.const(kw), INDEX), j, INDEX), b.const(c), INDEX),
            ch,
            INDEX,
        )
        src_y = b.bin("add", b.bin("mul", y, b.const(sh), INDEX), i, INDEX)
        src_x = b.bin("add", b.bin("mul", x, b.const(sw), INDEX), j, INDEX)
        b.store(b.load(src, [src_y, src_x, ch]), out, [row, col])

    b.for_each([ho, wo, kh, kw, c], body, "window")


# ------------------------------------------------------------------------------------ the streamed top level
def _stream_lanes(arr: SSAValue) -> int | None:
    """The lanes of a FIFO argument (1 for a plain hls::stream), None for an array."""
    if hlscpp.stream_element_type(arr.type) is None:
        return None
    return _shape(arr)[0] if isinstance(arr.type, MemRefType) else 1


def _read_lane(b: _Builder, fifo: SSAValue, e: SSAValue | None) -> SSAValue:
    return b.add(hlscpp.ReadOp(fifo, [e] if e is not None else [])).result


def _write_lane(b: _Builder, fifo: SSAValue, v: SSAValue, e: SSAValue | None) -> None:
    b.add(hlscpp.WriteOp(fifo, v, [e] if e is not None else []))


def _counter(b: _Builder, name: str) -> SSAValue:
    """A register counting a port's codes or beats within a beat or word, from 0."""
    var = b.array([], INDEX, name=name)
    b.store(b.const(0), var, [])
    return var


def _plus(b: _Builder, base: SSAValue, e: int) -> SSAValue:
    """base + e, an index (base itself for e = 0)."""
    return b.bin("add", base, b.const(e), INDEX) if e else base


def _advance(b: _Builder, var: SSAValue, n: int, value: SSAValue | None = None) -> None:
    """var = var + 1, wrapping to 0 after n - 1 (`value`: var's value, already loaded)."""
    value = b.load(var, []) if value is None else value
    end = b.bin("eq", value, b.const(n - 1), BOOL)
    b.store(b.select(end, b.const(0), b.bin("add", value, b.const(1), INDEX), INDEX), var, [])


def _top_streamed_unit(
    b: _Builder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], epilogue: Operation | None = None
) -> None:
    """A process of the streamed top level (`lstmc.schedule.top_streams`): FIFO operands are read and FIFO
    results written one word (its lanes) per iteration, in row-major order; other operands are arrays.
    `epilogue`: the unit an MVAU applies to its rows (`lstmc.schedule.fused_epilogues`)."""
    if isinstance(op, qrnn.WindowOp):
        _line_buffer(b, op, ins[0], outs)
    elif isinstance(op, dataflow.MVAUOp):
        _streamed_mvau(b, op, ins, outs, epilogue)
    else:
        lanes = next(n for n in map(_stream_lanes, ins + outs) if n is not None)
        _streamed_elementwise(b, op, ins, outs, lanes)


def _streamed_elementwise(b: _Builder, op: Operation, ins: list[SSAValue], outs: list[SSAValue], lanes: int) -> None:
    """An activation / requantizer unit: a loop nest over the result whose innermost loop (II = 1) handles
    `lanes` consecutive elements of the last axis per iteration, unrolled."""
    unit = _Elementwise(b, op, lanes)

    def body(lead: list[SSAValue], j: SSAValue, e: SSAValue | None) -> None:
        xs = [_read_lane(b, a, e) if _stream_lanes(a) is not None else b.load(a, lead + [j]) for a in ins]
        y = unit.value(b, xs, j)
        for o in outs:
            if _stream_lanes(o) is not None:
                _write_lane(b, o, y, e)
            else:
                b.store(y, o, lead + [j])

    _lane_loops(b, _shape(op.results[0]), lanes, _LOOP_LABEL[type(op)], body)


def _lane_loops(
    b: _Builder,
    shape,
    lanes: int,
    label: str | None,
    body: Callable[[list[SSAValue], SSAValue, SSAValue | None], None],
) -> None:
    """A loop nest over `shape` whose innermost loop (II = 1) takes `lanes` consecutive elements of the last
    axis per iteration, unrolled: body(leading indices, last-axis index j, lane e or None) per element. The
    outermost loop carries `label`."""

    def nest(lead: list[SSAValue]) -> None:
        if len(lead) < len(shape) - 1:
            with b.loop(shape[len(lead)], label=None if lead else label) as i:
                nest(lead + [i])
            return
        with b.loop(shape[-1] // lanes, pipeline=1, label=None if lead else label) as k:
            with _lanes(b, lanes) as e:
                j = b.bin("add", b.bin("mul", k, b.const(lanes), INDEX), e, INDEX) if e is not None else k
                body(lead, j, e)

    nest([])


def _streamed_mvau(
    b: _Builder, op: dataflow.MVAUOp, ins: list[SSAValue], outs: list[SSAValue], epilogue: Operation | None = None
) -> None:
    """A convolution's / dense layer's MVAU in the streamed top level: ONE flat loop of V * (rows/PE) *
    (cols/SIMD) iterations (the V patches take turns, so the pipeline fills once). A FIFO input is read one
    SIMD-wide word per iteration of the first row fold into the input buffer the other row folds reuse
    (FINN's MVAU); the PE rows of a fold leave as one PE-wide word, each row through the fused `epilogue`
    unit first when there is one (`_epilogue`)."""
    simd, pe = op.simd.value.data, op.pe.value.data
    apply = _epilogue(b, epilogue, pe)
    before_fold: Callable[[list[SSAValue], SSAValue, SSAValue], None] | None = None
    if _stream_lanes(ins[0]) is not None:  # top_streams: one input part, words of SIMD elements
        fifo = ins[0]
        inbuf = b.array(
            [op.columns],
            _elem(op.inputs[0]),
            partition=[hlscpp.PartitionAttr("cyclic", simd, 1)] if simd > 1 else [],
            name="inbuf",
        )

        def read_input_word(lead: list[SSAValue], nf_v: SSAValue, sf_v: SSAValue) -> None:
            with b.if_(b.bin("eq", nf_v, b.const(0), BOOL)):
                k0 = b.bin("mul", sf_v, b.const(simd), INDEX)
                with _lanes(b, simd) as e:
                    k = b.bin("add", k0, e, INDEX) if e is not None else k0
                    b.store(_read_lane(b, fifo, e), inbuf, [k])

        before_fold = read_input_word

        def read(p, lead, k):
            return b.load(inbuf, [k])
    else:

        def read(p, lead, k):
            return b.load(ins[p], lead + [k])

    def write_row(lead, n, q, total):
        y = apply(total, n)
        for o in outs:
            if _stream_lanes(o) is not None:
                _write_lane(b, o, y, q if pe > 1 else None)
            else:
                b.store(y, o, lead + [n])

    _emit_mvau(b, op, read, write_row, interleave=True, before_fold=before_fold)


def _line_buffer(b: _Builder, op: qrnn.WindowOp, src: SSAValue, outs: list[SSAValue]) -> None:
    """FINN's ConvolutionInputGenerator (`lstmc.schedule.LineBuffer`): a circular buffer of S = kh + 1 image
    rows. Phase y reads image row y (y < H) from its FIFO (R = W*C / lanes_in words) into slot y mod S while,
    when y = yo * sh + kh, it emits the patches of output row yo (P = Wo*K / lanes_out words) from the kh
    slots of rows yo * sh .. y - 1, which the write never touches; one loop nest of phases x max(R, P)
    iterations at II = 1. Patch element (x, (i * kw + j) * C + c) is element x*sw*C + j*C + c of the row in
    slot ((y - kh) mod S + i) mod S: qrnn.window's order, so the MVAU's weight rows stay as they are."""
    (kh, kw), (sh, sw), (_, wo) = op.kernel_size, op.stride, op.out_hw
    h, w, c = _shape(op.input)
    sched = line_buffer(op)
    slots, row_cols, k_cols = sched.slots, kw * c, kh * kw * c
    lanes_in = _stream_lanes(src)
    assert lanes_in is not None, "a line buffer reads its image rows from a FIFO"
    lanes_out = next((n for n in map(_stream_lanes, outs) if n is not None), 1)
    reads, writes = w * c // lanes_in, wo * k_cols // lanes_out
    split = max(lanes_in, lanes_out)
    line = b.array(
        [slots, w * c],
        _elem(op.input),
        name="line",
        partition=[hlscpp.PartitionAttr("complete", 0, 1)]
        + ([hlscpp.PartitionAttr("cyclic", split, 2)] if split > 1 else []),
    )
    phase = max(reads, writes)
    last = sched.emit_phase(sched.out_rows - 1)
    assert sched.iterations(reads, writes) == sched.phases * phase
    with b.loop(sched.phases, label="rows") as y:
        with b.loop(phase, pipeline=1, label="line_buffer") as i:
            cond = b.bin("lt", y, b.const(h), BOOL) if sched.phases > h else None
            if reads < phase:
                more = b.bin("lt", i, b.const(reads), BOOL)
                cond = more if cond is None else b.bin("and", cond, more, BOOL)
            with b.if_(cond) if cond is not None else _nothing():
                slot = b.bin("mod", y, b.const(slots), INDEX)
                with _lanes(b, lanes_in) as e:
                    col = b.bin("add", b.bin("mul", i, b.const(lanes_in), INDEX), e, INDEX) if e is not None else i
                    b.store(_read_lane(b, src, e), line, [slot, col])
            # the emitting phases: kh, kh + sh, ..., the last window's (`LineBuffer.emit_phase`)
            cond = b.bin("ge", y, b.const(kh), BOOL)
            if last < sched.phases - 1:  # rows below the last window: read, never emitted
                cond = b.bin("and", cond, b.bin("le", y, b.const(last), BOOL), BOOL)
            if sh > 1:
                on_stride = b.bin("eq", b.bin("mod", y, b.const(sh), INDEX), b.const(kh % sh), BOOL)
                cond = b.bin("and", cond, on_stride, BOOL)
            if writes < phase:
                cond = b.bin("and", cond, b.bin("lt", i, b.const(writes), BOOL), BOOL)
            with b.if_(cond):
                first = b.bin("mod", b.bin("add", y, b.const(slots - kh % slots), INDEX), b.const(slots), INDEX)
                with _lanes(b, lanes_out) as e:
                    flat = b.bin("add", b.bin("mul", i, b.const(lanes_out), INDEX), e, INDEX) if e is not None else i
                    x = b.bin("div", flat, b.const(k_cols), INDEX)
                    col = b.bin("mod", flat, b.const(k_cols), INDEX)
                    slot, at = first, col
                    if kh > 1:  # kernel row i = col / (kw*C) comes from slot first + i, wrapped without a division
                        ky = b.bin("div", col, b.const(row_cols), INDEX)
                        at = b.bin("mod", col, b.const(row_cols), INDEX)
                        s = b.bin("add", first, ky, INDEX)
                        wrap = b.bin("ge", s, b.const(slots), BOOL)
                        slot = b.select(wrap, b.bin("sub", s, b.const(slots), INDEX), s, INDEX)
                    v = b.load(line, [slot, b.bin("add", b.bin("mul", x, b.const(sw * c), INDEX), at, INDEX)])
                    for o in outs:
                        if _stream_lanes(o) is not None:
                            _write_lane(b, o, v, e)
                        else:
                            yo = b.bin("div", b.bin("sub", y, b.const(kh), INDEX), b.const(sh), INDEX)
                            b.store(v, o, [b.bin("add", b.bin("mul", yo, b.const(wo), INDEX), x, INDEX), col])


_CELL = "cell"  # the step's cell process, as a reader of the carried states


# --------------------------------------------------------------------------------------------------------
class _StreamedRecurrence:
    """A recurrence whose step streams (`lstmc.schedule.step_schedule`).

    The recurrence function holds the state on chip: one fully partitioned array per reader of each carried
    state in the step (the MVAU, the cell) and one for its next value. Its `steps` loop calls
    the step function, then copies the next state into the readers' arrays (all elements at once); the step
    function is a DATAFLOW region of processes connected by `hls::stream` FIFOs, E lanes wide (one FIFO per
    lane, `fifo_depth` deep):
    - the MVAU, reading x_t straight from the scanned input and h_{t-1} from its state array, computes its
      rows interleaved by gate (`StepSchedule.row_order`) and writes each completed group (G gates x E
      elements) to the gates' FIFOs;
    - the cell (`_cell`), a loop of B * H / E iterations at II = 1 with E lanes unrolled, reads one group
      from the gate FIFOs (and its state, input or constant arrays), runs every unit on it in body order,
      and stores what the body yields into the next-state arrays and the scan outputs at step t (or writes
      it to a scan output's top-level FIFO, `top_streams`).
    Within a step nothing waits for a whole vector: the cell finishes `StepSchedule.depth` cycles after the
    MVAU's last group. Between steps the recurrence is respected: the MVAU of step t + 1 reads h_t, whose
    last element the step t region writes before it returns, so a step takes the MVAU's folded cycles plus
    that depth plus the region's start/finish and the state copy (lstmc.qor counts exactly this).
    On the x-overlapped schedule (`StepSchedule.x_overlap`, decided in `convert` from the word widths of x's
    FIFOs) the MVAU process runs the h-dependent folds of step t, each row starting from the x-part carried
    in `xacc` (fully partitioned, copied from `xacc_next` with the state), then the x-only folds of step
    t + 1 into `xacc_next`, in one flat loop (`_emit_overlapped_mvau`); at step 0, which has no carried
    x-part, the loop runs all the folds of step 0 first (a longer trip count). A scanned input from a [T][I]
    buffer is read by the MVAU at row t (step 0's x folds, a fold straddling x and h) and at the row of step
    t + 1 (the x phase; row t at the last step, whose x-part nobody reads). One arriving in a FIFO is read
    two steps ahead (in DATAFLOW an array that one process of a region writes may not be read by another
    while it runs, so the step t region must not read what it reads from the FIFO): x_0 and x_1 into `x` and
    `x_next` before the steps (T > 1: `x_overlap` needs a step 1), and x_{t+2}, while
    t + 2 < T, by a prefetch process of its own (as the other schedule's x_{t+1}) into `x_next2`, which no
    other process of the region touches; the MVAU reads x_t's straddling columns from `x` and x_{t+1} from
    `x_next`, and after the step x_next -> x and x_next2 -> x_next.
    """

    def __init__(
        self,
        conv: _TopConverter,
        b: _Builder,
        op: qrnn.RecurrenceOp,
        schedule,
        label: str,
        ins: list[SSAValue],
        outs: list[list[SSAValue]],
        seq_len: SSAValue | None = None,
    ):
        self.conv, self.b, self.op, self.s, self.label, self.ins, self.outs = conv, b, op, schedule, label, ins, outs
        self.seq_len = seq_len  # the run-time step count (None: op.seq_len)
        # what a process indexing the sequence at step t takes: t, and the run-time length when a reverse
        # direction indexes seq_len - 1 - t
        reverse = any(d != qrnn.FORWARD for d in list(op.in_dirs) + list(op.out_dirs))
        self.t_names = ["t", SEQ_LEN_PORT] if seq_len is not None and reverse else ["t"]
        body = op.body.block
        self.n_state = len(op.init)
        self.state_args: list[SSAValue] = list(body.args[: self.n_state])
        self.input_args: list[SSAValue] = list(body.args[self.n_state :])
        self.lanes = schedule.lanes()
        self.step_buffered: set[int] = set()  # scanned inputs read from a FIFO into a register array per step
        # the processes of the step reading each carried state (a register copy each): the MVAU, the cell
        self.readers: list[list[Operation | str]] = [
            [schedule.mvau] * (arg in schedule.mvau.operands) + [_CELL] * any(arg in u.operands for u in schedule.units)
            for arg in self.state_args
        ]
        assert body.last_op is not None
        self.yielded = list(body.last_op.operands)

    # ------------------------------------------------------------------------------------------ recurrence
    def convert(self) -> None:
        b, op = self.b, self.op
        complete = [hlscpp.PartitionAttr("complete", 0, 0)]
        reads: list[dict[Operation | str, SSAValue]] = []
        nexts: list[SSAValue] = []
        for i, arg in enumerate(self.state_args):
            ty, shape = _elem(arg), _shape(arg)
            reads.append({u: b.array(shape, ty, partition=complete, name=f"state{i}") for u in self.readers[i]})
            nexts.append(b.array(shape, ty, partition=complete, name=f"next_state{i}"))
            for arr in reads[i].values():
                b.copy(self.ins[i], arr, label=f"init_state{i}")
        # a scanned input arriving in a FIFO (x_t in time order, `top_streams`): no [T][I] buffer; x_0 is read
        # into a register array before the first step, and each step's region also reads x_{t+1} into a
        # second one (a process of its own, in parallel with the MVAU), copied over after the step
        seqs = list(self.ins[self.n_state :])
        fifos = {j: seq for j, seq in enumerate(seqs) if _stream_lanes(seq) is not None}
        # the x-overlapped schedule (lstmc.schedule.x_overlap), decided from the word widths of x's FIFOs: a
        # FIFO the MVAU reads is then read two steps ahead (x_0 and x_1 before the steps, x_{t+2} during step
        # t), and the x-part of each row is carried from one step to the next (xacc, xacc_next)
        mv = self.s.mvau
        x_inputs = [self.input_args.index(v) for v in mv.inputs[: self.s.x_parts()]]
        lanes = [_stream_lanes(self.ins[self.n_state + j]) for j in x_inputs]
        self.plan = self.s.x_overlap(lanes, depth=mvau_depth(mv.simd.value.data), overhead=STEP_OVERHEAD)
        self.x_inputs = x_inputs if self.plan is not None else []
        ahead = [j for j in fifos if j in self.x_inputs]  # read two steps ahead
        prefetch, overlap = [], []
        for j, fifo in fifos.items():
            arg = self.input_args[j]
            shape, ty = _shape(arg), _elem(arg)
            seqs[j] = b.array(shape, ty, partition=complete, name=f"x{j}")
            x_next = b.array(shape, ty, partition=complete, name=f"x_next{j}")
            _read_vector(b, fifo, seqs[j], f"read_x{j}")
            if j in ahead:  # x_1 (the plan needs T > 1; a run-time T may be 1)
                with b.if_(b.bin("lt", b.const(1), self.seq_len, BOOL)) if self.seq_len is not None else _nothing():
                    _read_vector(b, fifo, x_next, f"read_x_next{j}")
                overlap += [fifo, x_next, b.array(shape, ty, partition=complete, name=f"x_next2_{j}")]
            else:
                prefetch += [fifo, x_next]
        self.step_buffered = set(fifos)
        self.prefetched = [j for j in fifos if j not in ahead]
        self.ahead = ahead
        if self.seq_len is not None and (self.plan is not None or fifos):
            # the MVAU stops at the run-time T, and the FIFO reads stop at the last x_t
            self.t_names = ["t", SEQ_LEN_PORT]
        xaccs, xacc_nexts = [], []
        if self.plan is not None:  # the x-part carried into the step, and the next one (step 0 needs none)
            lead = list(_shape(mv.result)[:-1])
            types = _part_acc_types(mv)
            for p in range(len(x_inputs)):
                xaccs.append(b.array(lead + [mv.rows], types[p], partition=complete, name=f"xacc{p}"))
                xacc_nexts.append(b.array(lead + [mv.rows], types[p], partition=complete, name=f"xacc_next{p}"))
        scan_outs = [dst for outs in self.outs[self.n_state :] for dst in outs]
        state_reads = [arr for per_state in reads for arr in per_state.values()]
        step_args = seqs + state_reads + nexts + scan_outs + prefetch + xaccs + xacc_nexts + overlap
        names = (
            [f"x{j}" for j in range(len(seqs))]
            + [f"state{k}" for k in range(len(state_reads))]
            + [f"next{i}" for i in range(len(nexts))]
            + [f"y{k}" for k in range(len(scan_outs))]
            + [n for j in self.prefetched for n in (f"xin{j}", f"x_next{j}")]
            + [f"xacc{p}" for p in range(len(xaccs))]
            + [f"xacc_next{p}" for p in range(len(xaccs))]
            + [n for j in ahead for n in (f"xin{j}", f"x_next{j}", f"x_next2_{j}")]
        )
        k = len(self.t_names)
        with b.loop(op.seq_len, label="steps", bound=self.seq_len) as t:
            self.conv._process(
                b,
                f"{self.label}_step",
                [t, self.seq_len][:k] + step_args,
                self.t_names + names,
                lambda pb, args: self._step(pb, args[:k], args[k:], reads, nexts),
                dataflow=True,
            )
            for i, per_state in enumerate(reads):  # h_t, c_t become the next step's h_{t-1}, c_{t-1}
                if per_state:
                    _unrolled_copy(b, nexts[i], list(per_state.values()), f"copy_state{i}")
            for p, (xacc, xacc_next) in enumerate(zip(xaccs, xacc_nexts)):  # the x-part of step t + 1
                _unrolled_copy(b, xacc_next, [xacc], f"copy_xacc{p}")
            for j in self.prefetched:  # x_{t+1} becomes the next step's x_t
                _unrolled_copy(b, prefetch[2 * self.prefetched.index(j) + 1], [seqs[j]], f"copy_x{j}")
            for j in ahead:  # x_{t+1}, x_{t+2} become the next step's x_t, x_{t+1}
                x_next, x_next2 = overlap[3 * ahead.index(j) + 1 : 3 * ahead.index(j) + 3]
                _unrolled_copy(b, x_next, [seqs[j]], f"copy_x{j}")
                _unrolled_copy(b, x_next2, [x_next], f"copy_x_next{j}")
        for i, nxt in enumerate(nexts):
            for dst in self.outs[i]:
                b.copy(nxt, dst, label=f"final_state{i}")

    # ------------------------------------------------------------------------------------------ the step
    def _step(self, b: _Builder, t: list[SSAValue], args: list[SSAValue], reads, nexts) -> None:
        """The DATAFLOW region of one step: FIFOs, then the processes in body order."""
        s = self.s
        n_seq = len(self.input_args)
        seqs, rest = args[:n_seq], args[n_seq:]
        n_reads = sum(len(r) for r in reads)
        flat_reads, rest = rest[:n_reads], rest[n_reads:]
        n_scan = sum(len(o) for o in self.outs[self.n_state :])
        step_nexts, scan_outs = rest[: len(nexts)], rest[len(nexts) : len(nexts) + n_scan]
        rest = rest[len(nexts) + n_scan :]
        prefetch, rest = rest[: 2 * len(self.prefetched)], rest[2 * len(self.prefetched) :]
        n_x = len(self.x_inputs)
        xaccs, xacc_nexts, ahead = rest[:n_x], rest[n_x : 2 * n_x], rest[2 * n_x :]
        for j, (fifo, _, x_next2) in zip(self.ahead, _regroup(ahead, [3] * len(self.ahead))):
            self.conv._process(  # x_{t+2}, which no other process of this step reads
                b,
                f"{self.label}_prefetch_x{j}",
                t + [fifo, x_next2],
                self.t_names + ["in", "out"],
                lambda pb, a, j=j: self._prefetch(pb, a[: len(t)], a[-2], a[-1], j, ahead=2),
            )
        read_of: dict[tuple[int, Operation | str], SSAValue] = {}
        it = iter(flat_reads)
        for i, per_state in enumerate(reads):
            for u in per_state:
                read_of[(i, u)] = next(it)
        out_groups = _regroup(scan_outs, [len(o) for o in self.outs[self.n_state :]])
        fifos: dict[SSAValue, SSAValue] = {}
        for v in s.fifo:  # a FIFO per gate, from the MVAU to the cell
            lanes = self.lanes if self.lanes > 1 else None  # one lane: a plain hls::stream
            st = b.add(hlscpp.StreamOp(_elem(v), _fifo_depth(v, s), lanes)).result
            st.name_hint = f"gate{s.gate_of[v]}"
            fifos[v] = st

        def source(reader: Operation | str, v: SSAValue) -> SSAValue | None:
            """The array the MVAU or the cell reads `v` from (a state, a scanned input), or None (a gate, a
            unit's result or a constant)."""
            if v in self.state_args:
                return read_of[(self.state_args.index(v), reader)]
            if v in self.input_args:
                return seqs[self.input_args.index(v)]
            return None

        for j, (fifo, x_next) in zip(self.prefetched, _regroup(prefetch, [2] * len(self.prefetched))):
            self.conv._process(
                b,
                f"{self.label}_prefetch_x{j}",
                t + [fifo, x_next],
                self.t_names + ["in", "out"],
                lambda pb, a, j=j: self._prefetch(pb, a[: len(t)], a[-2], a[-1], j),
            )
        # the MVAU
        mv = s.mvau
        parts: list[SSAValue] = []
        for v in mv.inputs:
            part = source(mv, v)
            assert part is not None, "the MVAU reads the state and the scanned inputs from arrays"
            parts.append(part)
        gate_fifos = [[fifos[v] for v in s.gate_of if s.gate_of[v] == g] for g in range(s.gates)]
        flat_gates = sum(gate_fifos, [])
        if self.plan is not None:  # the x-overlapped MVAU: t, its x-part accumulators, x_{t+1} of the FIFOs
            extra = xaccs + xacc_nexts + [x_next for _, x_next, _ in _regroup(ahead, [3] * len(self.ahead))]
            n_parts, n_extra = len(parts), len(extra)
            self.conv._process(
                b,
                f"{self.label}_{mv.result.name_hint or 'mvau'}",
                list(t) + parts + extra + flat_gates,
                self.t_names
                + [f"in{p}" for p in range(n_parts)]
                + [f"xacc{p}" for p in range(n_x)]
                + [f"xacc_next{p}" for p in range(n_x)]
                + [f"x_next{j}" for j in self.ahead]
                + [f"out{k}" for k in range(len(flat_gates))],
                lambda pb, a: self._mvau(
                    pb,
                    a[: len(t)],
                    a[len(t) : len(t) + n_parts],
                    _regroup(a[len(t) + n_parts + n_extra :], [len(g) for g in gate_fifos]),
                    a[len(t) + n_parts : len(t) + n_parts + n_extra],
                ),
            )
            self._cell(b, t, fifos, source, step_nexts, out_groups)
            return
        t_arg = list(t) if any(self._indexed_by_t(v) for v in mv.inputs) else []
        n_t, n_parts = len(t_arg), len(parts)
        self.conv._process(
            b,
            f"{self.label}_{mv.result.name_hint or 'mvau'}",
            t_arg + parts + flat_gates,
            self.t_names[:n_t] + [f"in{p}" for p in range(n_parts)] + [f"out{k}" for k in range(len(flat_gates))],
            lambda pb, a: self._mvau(
                pb,
                a[:n_t] if n_t else None,
                a[n_t : n_t + n_parts],
                _regroup(a[n_t + n_parts :], [len(g) for g in gate_fifos]),
            ),
        )
        self._cell(b, t, fifos, source, step_nexts, out_groups)

    def _cell(self, b: _Builder, t: list[SSAValue], fifos, source, step_nexts, out_groups) -> None:
        """The cell: ONE process running every elementwise unit of the step on each group (`step_schedule`),
        B * H / E iterations at II = 1, E lanes unrolled. It reads a group from each gate FIFO, the states and
        scanned inputs the units read from their register arrays, and writes the next states and y_t."""
        s = self.s
        gates = sorted(fifos, key=lambda v: s.gate_of[v])
        arrays = list(dict.fromkeys(v for u in s.units for v in u.operands if source(_CELL, v) is not None))
        states = [(step_nexts[i], v) for i, v in enumerate(self.yielded[: self.n_state])]
        ys = [(k, v, dst) for k, v in enumerate(self.yielded[self.n_state :]) for dst in out_groups[k]]
        at_t = any(_stream_lanes(dst) is None for _, _, dst in ys)  # y_t into a [T][H] buffer, not a FIFO
        t_arg = list(t) if at_t or any(self._indexed_by_t(v) for v in arrays) else []
        args = t_arg + [fifos[v] for v in gates] + [source(_CELL, v) for v in arrays]
        args += [nxt for nxt, _ in states] + [dst for _, _, dst in ys]
        names = self.t_names[: len(t_arg)] + [f"gate{s.gate_of[v]}" for v in gates]
        names += [f"in{k}" for k in range(len(arrays))] + [f"next{k}" for k in range(len(states))]
        names += [f"y{k}" for k in range(len(ys))]

        def cell(pb: _Builder, a: list[SSAValue]) -> None:
            t_in, gate_in, array_in, next_out, y_out = _regroup(
                a, [len(t_arg), len(gates), len(arrays), len(states), len(ys)]
            )
            lanes = self.lanes
            units = [_Elementwise(pb, u, lanes) for u in s.units]
            consts = {}
            for v in dict.fromkeys(v for u in s.units for v in u.operands if isinstance(v, OpResult)):
                if isinstance(v.op, qrnn.ConstantOp):
                    values = array_from_dense(v.op.value).astype(np.int64)
                    split = [hlscpp.PartitionAttr("cyclic", lanes, values.ndim)] if lanes > 1 else []
                    consts[v] = pb.const_array(values, v.name_hint or "const", split)
            rows = [self._x_row(pb, t_in, self.input_args.index(v)) if v in self.input_args else [] for v in arrays]
            # a buffer takes y_t at its row of the sequence; a FIFO (`top_streams`: forward) in the order computed
            t_outs = [
                None if _stream_lanes(dst) is not None else self._t_index(pb, t_in, self.op.out_dirs[k])
                for (k, _, _), dst in zip(ys, y_out)
            ]

            def body(lead: list[SSAValue], j: SSAValue, e: SSAValue | None) -> None:
                lane = [e] if e is not None else []
                values: dict[SSAValue, SSAValue] = {}
                for v, f in zip(gates, gate_in):
                    values[v] = pb.add(hlscpp.ReadOp(f, lane)).result
                for v, arr, row in zip(arrays, array_in, rows):
                    values[v] = pb.load(arr, row + lead + [j])
                for v, arr in consts.items():
                    values[v] = pb.load(arr, lead + [j])
                for u, unit in zip(s.units, units):
                    values[u.results[0]] = unit.value(pb, [values[v] for v in u.operands], j)
                for nxt, (_, v) in zip(next_out, states):
                    pb.store(values[v], nxt, lead + [j])
                for dst, (_, v, _), t_out in zip(y_out, ys, t_outs):
                    if t_out is None:
                        _write_lane(pb, dst, values[v], e)
                    else:
                        pb.store(values[v], dst, [t_out] + lead + [j])

            _lane_loops(pb, s.element_shape, lanes, "cell", body)

        self.conv._process(b, f"{self.label}_cell", args, names, cell)

    def _prefetch(
        self, b: _Builder, t: list[SSAValue], fifo: SSAValue, x_next: SSAValue, j: int, ahead: int = 1
    ) -> None:
        """x_{t+1} (x_{t+2} on the x-overlapped schedule: `ahead`) from the FIFO while step t runs (none past
        the last step: t = [t, the run-time T] or [t])."""
        later = b.bin("add", t[0], b.const(ahead), INDEX)
        more = b.bin("lt", later, t[1] if len(t) > 1 else b.const(self.op.seq_len), BOOL)
        with b.if_(more):
            _read_vector(b, fifo, x_next, f"read_x{j}")

    def _indexed_by_t(self, v: SSAValue) -> bool:
        """A scanned input the step indexes at its row of the sequence (not one read from a FIFO)."""
        return v in self.input_args and self.input_args.index(v) not in self.step_buffered

    def _x_row(self, b: _Builder, t: list[SSAValue] | None, j: int) -> list[SSAValue]:
        """The leading index of scanned input j in the step: its row of the sequence, none for x_t read
        from a FIFO into a register array."""
        if j in self.step_buffered:
            return []
        return [self._t_index(b, t, self.op.in_dirs[j])]

    def _t_index(self, b: _Builder, t: list[SSAValue] | None, direction: qrnn.ScanDirection) -> SSAValue:
        """The sequence row of step t: t, or T - 1 - t in reverse (T the run-time seq_len when given)."""
        assert t is not None, "a step that indexes a sequence takes t"
        if direction == qrnn.FORWARD:
            return t[0]
        return b.bin("sub", _last_step(b, t[1] if len(t) > 1 else None, self.op.seq_len), t[0], INDEX)

    def _mvau(
        self,
        b: _Builder,
        t: list[SSAValue] | None,
        parts: list[SSAValue],
        gate_fifos: list[list[SSAValue]],
        extra: list[SSAValue] | None = None,
    ) -> None:
        """The MVAU process: rows in gate-interleaved order; a group buffer collects the G * E values of one
        group over its G * E / PE row folds and writes them to the gates' FIFOs at once. On the x-overlapped
        schedule (`_emit_overlapped_mvau`; `extra`: xacc, xacc_next per scanned part, then x_next per FIFO read
        two steps ahead) it reads x_t's straddling columns at row t (or from x{j}) and x_{t+1}'s at the row of
        step t + 1 (or from x_next{j})."""
        s, mv = self.s, self.s.mvau
        pe, lanes, gates = mv.pe.value.data, self.lanes, s.gates
        folds_per_group = gates * lanes // pe
        starts = {}
        for p, v in enumerate(mv.inputs):
            if v in self.input_args:
                starts[p] = self._x_row(b, t, self.input_args.index(v))
        acc_ty = _elem(mv.result)
        group = b.array([gates * lanes], acc_ty, partition=[hlscpp.PartitionAttr("complete", 0, 1)], name="group")
        sg = b.array([], INDEX, name="sg") if folds_per_group > 1 else None
        if sg is not None:
            b.store(b.const(0), sg, [])

        def read(p, lead, k):
            return b.load(parts[p], starts.get(p, []) + lead + [k])

        def write_row(lead, n, q, total):
            slot = q if sg is None else b.bin("add", b.bin("mul", b.load(sg, []), b.const(pe), INDEX), q, INDEX)
            b.store(total, group, [slot])

        def after_row_fold(lead, last, nf_v):
            sg_v = b.load(sg, []) if sg is not None else None
            done = last
            if sg_v is not None:  # the group's last fold
                done = b.bin("and", last, b.bin("eq", sg_v, b.const(folds_per_group - 1), BOOL), BOOL)
            with b.if_(done):
                for g, fifos in enumerate(gate_fifos):
                    if fifos:
                        with _lanes(b, lanes) as e:
                            slot = b.bin("add", e, b.const(g * lanes), INDEX) if e is not None else b.const(g)
                            v = b.load(group, [slot])
                            for f in fifos:
                                b.add(hlscpp.WriteOp(f, v, [e] if e is not None else []))
            if sg is not None and sg_v is not None:
                nxt = b.bin("add", sg_v, b.const(1), INDEX)
                wrapped = b.select(b.bin("eq", nxt, b.const(folds_per_group), BOOL), b.const(0), nxt, INDEX)
                b.store(b.select(last, wrapped, sg_v, INDEX), sg, [])

        if self.plan is None:
            _emit_mvau(b, mv, read, write_row, interleave=True, row_order=s.row_order(), after_row_fold=after_row_fold)
            return
        assert t is not None, "the x-overlapped MVAU takes t"
        n_x, extra = len(self.x_inputs), extra or []
        xaccs, xacc_nexts, rest = list(extra[:n_x]), list(extra[n_x : 2 * n_x]), list(extra[2 * n_x :])
        steps = t[1] if len(t) > 1 else b.const(self.op.seq_len)
        t1 = b.bin("add", t[0], b.const(1), INDEX)
        t_next = [b.select(b.bin("lt", t1, steps, BOOL), t1, t[0], INDEX)] + t[1:]  # the last step reads row t
        rows_next = {}
        for p, j in enumerate(self.x_inputs):
            if j not in self.step_buffered:
                rows_next[p] = [self._t_index(b, t_next, self.op.in_dirs[j])]
        x_nexts = dict(zip(self.ahead, rest))  # x_{t+1} of a FIFO (read in the step before)

        def read_x(p: int, lead: list[SSAValue], col: SSAValue, which: str) -> SSAValue:
            j = self.x_inputs[p]
            if j in x_nexts:  # x_t in x{j}, x_{t+1} in x_next{j}
                return b.load(parts[p] if which == "cur" else x_nexts[j], lead + [col])
            return b.load(parts[p], (starts[p] if which == "cur" else rows_next[p]) + lead + [col])

        def read_h(p: int, lead: list[SSAValue], col: SSAValue) -> SSAValue:
            return b.load(parts[p], lead + [col])

        _emit_overlapped_mvau(
            b,
            mv,
            self.plan,
            b.bin("eq", t[0], b.const(0), BOOL),
            b.bin("eq", t1, steps, BOOL),
            read_x,
            read_h,
            xaccs,
            xacc_nexts,
            s.row_order(),
            write_row,
            after_row_fold,
        )


def _read_vector(b: _Builder, fifo: SSAValue, dst: SSAValue, label: str) -> None:
    """dst (one step's [N] or [B, N]) from a FIFO in row-major order, one word (its lanes) per iteration."""
    lanes = _stream_lanes(fifo)
    assert lanes is not None, "x_t comes from a FIFO"
    _lane_loops(b, _shape(dst), lanes, label, lambda lead, j, e: b.store(_read_lane(b, fifo, e), dst, lead + [j]))


def _last_step(b: _Builder, seq_len: SSAValue | None, steps: int) -> SSAValue:
    """The index of the last step: seq_len - 1 at run time, else the static steps - 1."""
    return b.bin("sub", seq_len, b.const(1), INDEX) if seq_len is not None else b.const(steps - 1)


def _streamed_partitions(rec: qrnn.RecurrenceOp, schedule) -> dict[tuple[SSAValue, Operation | None], int]:
    """Cyclic factors on the last axis of the top-level buffers a streamed recurrence accesses several
    elements of per cycle: (scanned input, rec) -> SIMD for the MVAU's part or E for a unit; (scan output,
    None: every consumer's copy) -> E."""
    body = rec.body.block
    n_state = len(rec.init)
    simd, lanes = schedule.mvau.simd.value.data, schedule.lanes()
    out: dict[tuple[SSAValue, Operation | None], int] = {}
    for arg, value in zip(body.args[n_state:], rec.inputs):
        readers = {u.operation for u in arg.uses}
        out[(value, rec)] = simd if schedule.mvau in readers else lanes
    for value in rec.outputs:
        out[(value, None)] = lanes
    return out


@contextmanager
def _lanes(b: _Builder, lanes: int) -> Iterator[SSAValue | None]:
    """The E lanes of a streamed unit: a fully unrolled loop yielding the lane index (None for one lane)."""
    if lanes == 1:
        yield None
        return
    with b.loop(lanes, unroll=0, label="lanes") as e:
        yield e


def _fifo_depth(value: SSAValue, schedule) -> int:
    assert isinstance(value, OpResult)
    return max(fifo_depth(value.op, schedule), 1)  # a hand-written fifo_depth of 0 still needs one slot


def _unrolled_copy(b: _Builder, src: SSAValue, dsts: list[SSAValue], label: str) -> None:
    """dst[...] = src[...] for every dst, all elements at once (fully partitioned arrays)."""
    shape = _shape(src)

    def nest(idx: list[SSAValue]) -> None:
        if len(idx) == len(shape):
            v = b.load(src, idx)
            for d in dsts:
                b.store(v, d, idx)
            return
        with b.loop(shape[len(idx)], unroll=0, label=label if not idx else None) as i:
            nest(idx + [i])

    nest([])


# --------------------------------------------------------------------------------------------------------
class _RecurrenceConverter:
    def __init__(
        self,
        b: _Builder,
        op: qrnn.RecurrenceOp,
        ins: list[SSAValue],
        outs: list[list[SSAValue]],
        seq_len: SSAValue | None = None,
    ):
        self.b, self.op, self.ins, self.outs, self.seq_len = b, op, ins, outs, seq_len
        self.arrays: dict[SSAValue, SSAValue] = {}

    def convert(self) -> None:
        b, op = self.b, self.op
        n_state = len(op.init)
        steps = op.seq_len
        states = []
        for i, init in enumerate(op.init):
            st = b.array(_shape(init), _elem(init), name=f"state{i}")
            b.copy(self.ins[i], st, label=f"init_state{i}")
            states.append(st)
        body = op.body.block
        for arg, st in zip(body.args[:n_state], states):
            self.arrays[arg] = st
        with b.loop(steps, label="steps", bound=self.seq_len) as t:
            for j, (seq, arg) in enumerate(zip(self.ins[n_state:], body.args[n_state:])):
                t_in = (
                    t if op.in_dirs[j] == qrnn.FORWARD else b.bin("sub", _last_step(b, self.seq_len, steps), t, INDEX)
                )
                x = b.array(_shape(arg), _elem(arg), name=arg.name_hint or f"x{j}")
                b.copy(seq, x, src_index=lambda idx, t_in=t_in: [t_in] + idx, label=f"read_input{j}")
                self.arrays[arg] = x
            term = body.last_op
            assert isinstance(term, qrnn.YieldOp)
            for inner in body.ops:
                if inner is not term:
                    self._unit(inner)
            yielded = [self.arrays[v] for v in term.values]
            # state update after every unit has read the old state
            for i, st in enumerate(states):
                b.copy(yielded[i], st, label=f"update_state{i}")
            for k, y in enumerate(yielded[n_state:]):
                t_out = (
                    t if op.out_dirs[k] == qrnn.FORWARD else b.bin("sub", _last_step(b, self.seq_len, steps), t, INDEX)
                )
                for dst in self.outs[n_state + k]:
                    b.copy(y, dst, dst_index=lambda idx, t_out=t_out: [t_out] + idx, label=f"write_output{k}")
        for i, st in enumerate(states):
            for dst in self.outs[i]:
                b.copy(st, dst, label=f"final_state{i}")

    def _out_array(self, value: SSAValue) -> SSAValue:
        arr = self.b.array(_shape(value), _elem(value), name=value.name_hint)
        self.arrays[value] = arr
        return arr

    def _unit(self, op: Operation) -> None:
        b = self.b
        if isinstance(op, qrnn.ConstantOp):
            values = array_from_dense(op.value).astype(np.int64)
            self.arrays[op.result] = b.const_array(values, op.result.name_hint or "const")
            return
        if isinstance(op, dataflow.MVAUOp):
            return self._mvau(op)
        if isinstance(op, _DATA_MOVEMENT):
            out = self._out_array(op.result)
            return _convert_data_movement(b, op, [self.arrays[v] for v in op.operands], [out])
        if len(op.results) != 1 or len(_shape(op.results[0])) not in (1, 2):
            raise _err(
                op, "only vector units ([N], or [B, N] for B interleaved sequences) are supported inside a recurrence"
            )
        out = self._out_array(op.results[0])
        _emit_elementwise(b, op, [self.arrays[v] for v in op.operands], out)

    def _mvau(self, op: dataflow.MVAUOp) -> None:
        _mvau_to_array(self.b, op, [self.arrays[v] for v in op.inputs], self._out_array(op.result), interleave=True)


class _Elementwise:
    """One activation / cell-update unit, element by element. Creating it declares its constant tables in
    the current function (per-channel ones partitioned for `lanes` elements per cycle); `value` emits the
    ops computing one output element from its operands' elements and its channel (index on the last axis)."""

    def __init__(self, b: _Builder, op: Operation, lanes: int = 1):
        self.op = op
        self.out_ty = _elem(op.results[0])
        lane_split = [hlscpp.PartitionAttr("cyclic", lanes, 1)] if lanes > 1 else []
        if isinstance(op, qrnn.ThresholdOp):
            thr = array_from_dense(op.thresholds).astype(np.int64)
            partition = [hlscpp.PartitionAttr("complete", 0, thr.ndim)] + (lane_split if thr.ndim == 2 else [])
            self.tables = [b.const_array(thr, "thresholds", partition=partition)]
        elif isinstance(op, qrnn.LutOp):
            self.tables = [b.const_array(array_from_dense(op.table).astype(np.int64), "table")]
        elif isinstance(op, qrnn.ScaledSumOp):
            mults = array_from_dense(op.multipliers).astype(np.int64)
            bias = array_from_dense(op.bias).astype(np.int64)
            by_channel = [hlscpp.PartitionAttr("cyclic", lanes, 2)] if lanes > 1 else []
            self.tables = [b.const_array(mults, "mult", by_channel), b.const_array(bias, "bias", lane_split)]
        elif isinstance(op, (qrnn.IMulOp, qrnn.RequantOp)):
            self.tables = []
        else:
            raise _err(op, "is not supported in a hardware kernel")

    def value(self, b: _Builder, xs: list[SSAValue], channel: SSAValue) -> SSAValue:
        op, out_ty = self.op, self.out_ty
        if isinstance(op, qrnn.ThresholdOp):
            (t_arr,) = self.tables
            base, steps = op.base.value.data, _shape(t_arr)[-1]
            lo, hi = _range(out_ty)
            # count in a type that holds the increment 1 (not si1's {-1, 0}) and every partial count
            count_ty = out_ty
            if not (lo <= base and base + steps <= hi and hi >= 1):
                count_ty = _bits_type(min(lo, base), max(hi, base + steps, 1))
            count = b.array([], count_ty, name="count")  # one register per element
            b.store(b.const(base, count_ty), count, [])
            with b.loop(steps, unroll=0) as k:
                tk = b.load(t_arr, [channel, k] if len(_shape(t_arr)) == 2 else [k])
                one = b.select(b.bin("ge", xs[0], tk, BOOL), b.const(1, count_ty), b.const(0, count_ty), count_ty)
                b.store(b.bin("add", b.load(count, []), one, count_ty), count, [])
            total = b.load(count, [])
            return total if count_ty == out_ty else b.cast(total, out_ty)
        if isinstance(op, qrnn.LutOp):
            j = b.bin("sub", b.cast(xs[0], INDEX), b.const(op.offset.value.data), INDEX)
            return b.cast(b.load(self.tables[0], [j]), out_ty)
        if isinstance(op, qrnn.IMulOp):
            return b.bin("mul", xs[0], xs[1], out_ty)
        if isinstance(op, qrnn.ScaledSumOp):
            m_arr, b_arr = self.tables
            acc = b.cast(b.load(b_arr, [channel]), out_ty)
            for t, x in enumerate(xs):
                acc = b.bin("add", acc, b.bin("mul", b.load(m_arr, [b.const(t), channel]), x, out_ty), out_ty)
            return acc
        assert isinstance(op, qrnn.RequantOp), f"no elementwise unit for {op.name}"
        v = _shift_round(b, xs[0], op.shift.value.data, op.rounding.data)
        lo, hi = op.lo.value.data, op.hi.value.data
        # clamp in a type holding both the rounded value and the bounds (a bound may lie outside the
        # input's range: a clamp that cannot bind)
        v_lo, v_hi = _range(v.type)
        wide = _bits_type(min(lo, v_lo), max(hi, v_hi))
        v = b.cast(v, wide)
        v = b.bin("max", v, b.const(lo, wide), wide)
        v = b.bin("min", v, b.const(hi, wide), wide)
        return b.cast(v, out_ty)


_LOOP_LABEL = {
    qrnn.ThresholdOp: "threshold",
    qrnn.LutOp: "lut",
    qrnn.IMulOp: "mul",
    qrnn.ScaledSumOp: "scaled_sum",
    qrnn.RequantOp: "requant",
}


def _emit_elementwise(b: _Builder, op: Operation, ins: list[SSAValue], out: SSAValue) -> None:
    """An activation / cell-update unit over its whole tensor (a vector inside a recurrence step, any shape
    at the top level): a loop nest with the innermost loop pipelined at II = 1; per-channel parameters are
    indexed by the last axis."""
    unit = _Elementwise(b, op)

    def body(idx):
        b.store(unit.value(b, [b.load(a, idx) for a in ins], idx[-1]), out, idx)

    b.for_each(_shape(op.results[0]), body, _LOOP_LABEL[type(op)])


def _emit_mvau(
    b: _Builder,
    op: dataflow.MVAUOp,
    read,
    write_row,
    interleave: bool = False,
    row_order: np.ndarray | None = None,
    after_row_fold=None,
    before_fold=None,
) -> None:
    """FINN-style MVAU: one flat loop of (rows/PE) * (cols/SIMD) iterations at II = 1 per input vector (an
    outer loop over the V vectors of a [V, K] input, e.g. a convolution's patches). Each iteration takes SIMD
    columns of the concatenated input ([x_t; h_{t-1}]: a fold may straddle two parts) for PE rows; the
    per-part accumulators reset at the first column fold and the aligned sum (multipliers, bias) of each row
    is handed to `write_row(lead, n, q, total)` at the last. `read(p, lead, k)` loads column k of part p.
    With `interleave` (the B sequences of a recurrence step, [B, K]) the V vectors take turns in ONE flat loop
    of V * (rows/PE) * (cols/SIMD) iterations: the pipeline fills once per step, not once per sequence.
    `row_order` computes the rows in another order (row r is the unit's row row_order[r]);
    `after_row_fold(lead, last, nf)` emits code after the PE rows of an iteration, `before_fold(lead, nf, sf)`
    before them (reading the input of the fold)."""
    pe, simd = op.pe.value.data, op.simd.value.data
    weights = array_from_dense(op.weights).astype(np.int64)
    mults = array_from_dense(op.multipliers).astype(np.int64)
    bias = array_from_dense(op.bias).astype(np.int64)
    if row_order is not None:
        weights, mults, bias = weights[:, row_order], mults[:, row_order], bias[row_order]
    partition = []
    if simd > 1:
        partition.append(hlscpp.PartitionAttr("cyclic", simd, 1))
    if pe > 1:
        partition.append(hlscpp.PartitionAttr("cyclic", pe, 2))
    by_row = [hlscpp.PartitionAttr("cyclic", pe, 1)] if pe > 1 else []
    w_arr = b.const_array(weights, "weights", partition)
    m_arr = b.const_array(mults, "mult", [hlscpp.PartitionAttr("cyclic", pe, 2)] if pe > 1 else [])
    b_arr = b.const_array(bias, "bias", by_row)
    acc_ty = _elem(op.result)
    sizes = op.part_sizes
    row0 = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    column_folds = op.columns // simd
    aligned = all(size % simd == 0 for size in sizes)  # every fold lies in one part
    # per-part partial sums: their proven range from the weights and the input types
    accs = []
    for p, v in enumerate(op.inputs):
        v_lo, v_hi = _range(_elem(v))
        w = weights[row0[p] : row0[p + 1]]
        pos, neg = np.clip(w, 0, None).sum(axis=0), np.clip(w, None, 0).sum(axis=0)
        pty = _bits_type(min(0, int((pos * v_lo + neg * v_hi).min())), max(0, int((pos * v_hi + neg * v_lo).max())))
        accs.append(b.array([pe], pty, partition=[hlscpp.PartitionAttr("complete", 0, 1)], name=f"acc{p}"))
    nf = b.array([], INDEX, name="nf")
    sf = b.array([], INDEX, name="sf")
    row_folds = op.rows // pe
    turns = op.vectors if interleave and _shape(op.result)[:-1] else 1
    vf = b.array([], INDEX, name="vf") if turns > 1 else None

    def mac(p: int, lead, k: SSAValue, n: SSAValue, q: SSAValue) -> None:
        acc = accs[p]
        pty = acc.type.element_type
        x = read(p, lead, b.bin("sub", k, b.const(int(row0[p])), INDEX) if row0[p] else k)
        w = b.load(w_arr, [k, n])
        prod = b.bin("mul", x, w, _bits_type(*_product_range(x.type, w.type)))
        b.store(b.bin("add", b.load(acc, [q]), prod, pty), acc, [q])

    def one_vector(lead: list[SSAValue]) -> None:
        b.store(b.const(0), nf, [])
        b.store(b.const(0), sf, [])
        if vf is not None:
            b.store(b.const(0), vf, [])
        with b.loop(turns * row_folds * column_folds, pipeline=1, label="mvau"):
            nf_v, sf_v = b.load(nf, []), b.load(sf, [])
            if vf is not None:
                vf_v = b.load(vf, [])
                lead = [vf_v]
            first = b.bin("eq", sf_v, b.const(0), BOOL)
            last = b.bin("eq", sf_v, b.const(column_folds - 1), BOOL)
            if before_fold is not None:
                before_fold(lead, nf_v, sf_v)
            with b.loop(pe, unroll=0) as q:
                n = b.bin("add", b.bin("mul", nf_v, b.const(pe), INDEX), q, INDEX)
                for acc in accs:
                    with b.if_(first):
                        b.store(b.const(0, acc.type.element_type), acc, [q])
                _fold_macs(b, sf_v, simd, row0, aligned, column_folds, lambda p, k: mac(p, lead, k, n, q))
                with b.if_(last):
                    write_row(lead, n, q, _row_total(b, b_arr, m_arr, accs, n, q, acc_ty))
            if after_row_fold is not None:
                after_row_fold(lead, last, nf_v)
            # column-fold / row-fold (/ vector) counters (no division in the pipelined loop)
            sf_next = b.bin("add", sf_v, b.const(1), INDEX)
            wrap = b.bin("eq", sf_next, b.const(column_folds), BOOL)
            b.store(b.select(wrap, b.const(0), sf_next, INDEX), sf, [])
            nf_next = b.select(wrap, b.bin("add", nf_v, b.const(1), INDEX), nf_v, INDEX)
            if vf is None:
                b.store(nf_next, nf, [])
            else:  # the next sequence's turn after the last row fold
                turn = b.bin("eq", nf_next, b.const(row_folds), BOOL)
                b.store(b.select(turn, b.const(0), nf_next, INDEX), nf, [])
                b.store(b.select(turn, b.bin("add", vf_v, b.const(1), INDEX), vf_v, INDEX), vf, [])

    if turns > 1:
        one_vector([])
    elif _shape(op.result)[:-1]:
        with b.loop(op.vectors, label="vectors") as v:
            one_vector([v])
    else:
        one_vector([])


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _in_range(b: _Builder, x: SSAValue, lo: int, hi: int, end: int) -> SSAValue | None:
    """lo <= x < hi (None when it always holds for 0 <= x < end)."""
    conds = ([b.bin("ge", x, b.const(lo), BOOL)] if lo > 0 else []) + (
        [b.bin("lt", x, b.const(hi), BOOL)] if hi < end else []
    )
    return conds[0] if len(conds) == 1 else (b.bin("and", conds[0], conds[1], BOOL) if conds else None)


def _row_total(
    b: _Builder, bias: SSAValue, mults: SSAValue, accs: list[SSAValue], n: SSAValue, q: SSAValue, ty: Attribute
) -> SSAValue:
    """Row n of an MVAU at its last column fold: its bias plus each part's accumulator (PE lane q) times the
    part's multiplier (the alignment of the parts' fixed-point scales)."""
    total = b.cast(b.load(bias, [n]), ty)
    for p, acc in enumerate(accs):
        total = b.bin("add", total, b.bin("mul", b.load(mults, [b.const(p), n]), b.load(acc, [q]), ty), ty)
    return total


def _fold_macs(
    b: _Builder,
    fold: SSAValue,
    simd: int,
    row0: np.ndarray,
    aligned: bool,
    folds: int,
    mac: Callable[[int, SSAValue], None],
) -> None:
    """The SIMD multiply-accumulates of column fold `fold` (of `folds`) of an MVAU whose input parts start at
    columns `row0`: `mac(p, k)` for column k of part p. When every fold lies in one part (`aligned`), one
    range check per part; else the fold may straddle parts and each lane checks the part of its column."""
    k0 = b.bin("mul", fold, b.const(simd), INDEX)
    parts = len(row0) - 1
    if aligned:
        for p in range(parts):
            cond = _in_range(b, fold, int(row0[p]) // simd, int(row0[p + 1]) // simd, folds)
            with b.if_(cond) if cond is not None else _nothing():
                for s in range(simd):
                    mac(p, b.bin("add", k0, b.const(s), INDEX))
    else:
        for s in range(simd):
            k = b.bin("add", k0, b.const(s), INDEX)
            for p in range(parts):
                cond = _in_range(b, k, int(row0[p]), int(row0[p + 1]), folds * simd)
                with b.if_(cond) if cond is not None else _nothing():
                    mac(p, k)


def _part_acc_types(op: dataflow.MVAUOp) -> list[IntegerType]:
    """The per-part partial sums' types: their proven range from the weights and the input types."""
    weights = array_from_dense(op.weights).astype(np.int64)
    row0 = np.concatenate([[0], np.cumsum(op.part_sizes)]).astype(int)
    types = []
    for p, v in enumerate(op.inputs):
        v_lo, v_hi = _range(_elem(v))
        w = weights[row0[p] : row0[p + 1]]
        pos, neg = np.clip(w, 0, None).sum(axis=0), np.clip(w, None, 0).sum(axis=0)
        types.append(
            _bits_type(min(0, int((pos * v_lo + neg * v_hi).min())), max(0, int((pos * v_hi + neg * v_lo).max())))
        )
    return types


def _emit_overlapped_mvau(
    b: _Builder,
    op: dataflow.MVAUOp,
    plan: XOverlap,
    step0: SSAValue,
    last_step: SSAValue,
    read_x,
    read_h,
    xacc_in: list[SSAValue],
    xacc_out: list[SSAValue],
    row_order: np.ndarray,
    write_row,
    after_row_fold,
) -> None:
    """The MVAU of a step on the x-overlapped schedule (`lstmc.schedule.XOverlap`): ONE flat loop at II = 1
    (one pipeline fill) whose fold counter sf walks up to three ranges, rows interleaved by `row_order`, the B
    sequences taking turns after each pass over the row folds:
    - at step 0 (`step0`: t == 0) only, all folds of step 0, numbered CF .. 2CF - 1 (column fold sf - CF), of
      every row fold (B * RF * CF iterations): as in `_emit_mvau`, every accumulator starts from 0 at the
      first, x_0's columns are `read_x(p, lead, col, "cur")`, and the last hands the row's aligned sum to
      `write_row(lead, n, q, total)`;
    - at steps t > 0, the h phase, folds XF .. CF - 1 of every row fold (B * RF * (CF - XF) iterations): the
      h-dependent folds of step t. At its first fold a scanned part's accumulator starts from the x-part of
      this row that the previous step left in `xacc_in` (a state part's from 0); a fold straddling x and h
      takes x_t's columns (`read_x(p, lead, col, "cur")`); at its last fold the row's aligned sum goes to
      `write_row`;
    - the x phase, folds 0 .. XF - 1 of every row fold (B * RF * XF iterations): the x-only folds of step
      t + 1 from x_{t+1} (`read_x(p, lead, col, "next")`) into the scanned parts' accumulators, stored at the
      last of them into `xacc_out[p][lead..., n]`.
    So the counter starts at CF at step 0 and at XF after, and the loop runs B * RF * (CF + XF) iterations at
    step 0 (`plan.first_iterations`), B * RF * CF after, and at the last step (`last_step`: t == T - 1) it
    stops before the x phase: B * RF * (CF - XF) iterations (`plan.last_iterations`), or B * RF * CF when step
    0 is the last (a run-time T of 1). A run-time bound; its largest, step 0's, sizes the LOOP_TRIPCOUNT. The same PE x SIMD multipliers and weights serve every phase (one multiply per lane and
    part: the x operand is selected, the weight row is the column fold's); `after_row_fold(lead, last, nf)`
    sees the row's last fold (2CF - 1 or CF - 1) as the last. `read_h(p, lead, col)` loads column col of state
    part p."""
    pe, simd = op.pe.value.data, op.simd.value.data
    weights = array_from_dense(op.weights).astype(np.int64)[:, row_order]
    mults = array_from_dense(op.multipliers).astype(np.int64)[:, row_order]
    bias = array_from_dense(op.bias).astype(np.int64)[row_order]
    partition = []
    if simd > 1:
        partition.append(hlscpp.PartitionAttr("cyclic", simd, 1))
    if pe > 1:
        partition.append(hlscpp.PartitionAttr("cyclic", pe, 2))
    w_arr = b.const_array(weights, "weights", partition)
    m_arr = b.const_array(mults, "mult", [hlscpp.PartitionAttr("cyclic", pe, 2)] if pe > 1 else [])
    b_arr = b.const_array(bias, "bias", [hlscpp.PartitionAttr("cyclic", pe, 1)] if pe > 1 else [])
    sizes = op.part_sizes
    row0 = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    n_x = len(xacc_out)
    xf, cf, rf, turns = plan.x_folds, plan.column_folds, plan.row_folds, plan.sequences
    aligned = all(size % simd == 0 for size in sizes)
    types = _part_acc_types(op)
    complete = [hlscpp.PartitionAttr("complete", 0, 1)]
    accs = [b.array([pe], types[p], partition=complete, name=f"acc{p}") for p in range(len(sizes))]
    nf, sf = b.array([], INDEX, name="nf"), b.array([], INDEX, name="sf")
    vf = b.array([], INDEX, name="vf") if turns > 1 else None
    b.store(b.const(0), nf, [])
    b.store(b.select(step0, b.const(cf), b.const(xf), INDEX), sf, [])  # step 0 runs its own x folds too
    if vf is not None:
        b.store(b.const(0), vf, [])
    has_lead = bool(_shape(op.result)[:-1])
    first = b.select(last_step, b.const(plan.iterations), b.const(plan.first_iterations), INDEX)
    later = b.select(last_step, b.const(plan.last_iterations), b.const(plan.iterations), INDEX)
    trips = b.select(step0, first, later, INDEX)

    def mac(acc: SSAValue, x: SSAValue, k: SSAValue, n: SSAValue, q: SSAValue) -> None:
        assert isinstance(acc.type, MemRefType)
        pty = acc.type.element_type
        w = b.load(w_arr, [k, n])
        prod = b.bin("mul", x, w, _bits_type(*_product_range(x.type, w.type)))
        b.store(b.bin("add", b.load(acc, [q]), prod, pty), acc, [q])

    with b.loop(plan.first_iterations, pipeline=1, label="mvau", bound=trips):
        nf_v, sf_v = b.load(nf, []), b.load(sf, [])
        vf_v = b.load(vf, []) if vf is not None else None
        lead = [vf_v] if vf_v is not None else ([b.const(0)] if has_lead else [])
        first_x = b.bin("eq", sf_v, b.const(0), BOOL)
        last_x = b.bin("eq", sf_v, b.const(xf - 1), BOOL)
        first_h = b.bin("eq", sf_v, b.const(xf), BOOL)
        first_0 = b.bin("eq", sf_v, b.const(cf), BOOL)
        last = b.bin("or", b.bin("eq", sf_v, b.const(cf - 1), BOOL), b.bin("eq", sf_v, b.const(2 * cf - 1), BOOL), BOOL)
        x_phase = b.bin("lt", sf_v, b.const(xf), BOOL)
        step0_fold = b.bin("ge", sf_v, b.const(cf), BOOL)
        fold = b.select(step0_fold, b.bin("sub", sf_v, b.const(cf), INDEX), sf_v, INDEX)  # the column fold

        def x_value(p: int, k: SSAValue) -> SSAValue:
            col = b.bin("sub", k, b.const(int(row0[p])), INDEX) if row0[p] else k
            if p >= n_x:
                return read_h(p, lead, col)
            nxt, cur = read_x(p, lead, col, "next"), read_x(p, lead, col, "cur")  # x_{t+1} in the x phase
            return b.select(x_phase, nxt, cur, nxt.type)

        with b.loop(pe, unroll=0) as q:
            n = b.bin("add", b.bin("mul", nf_v, b.const(pe), INDEX), q, INDEX)
            with b.if_(first_x):
                for p in range(n_x):
                    b.store(b.const(0, types[p]), accs[p], [q])
            with b.if_(first_h):  # the x-part of this row from the previous step, h from 0
                for p in range(len(sizes)):
                    start = b.load(xacc_in[p], lead + [n]) if p < n_x else b.const(0, types[p])
                    b.store(start, accs[p], [q])
            with b.if_(first_0):  # step 0: every part from 0
                for p in range(len(sizes)):
                    b.store(b.const(0, types[p]), accs[p], [q])
            _fold_macs(b, fold, simd, row0, aligned, cf, lambda p, k: mac(accs[p], x_value(p, k), k, n, q))
            with b.if_(last_x):  # the x-part of this row for the next step
                for p in range(n_x):
                    b.store(b.load(accs[p], [q]), xacc_out[p], lead + [n])
            acc_ty = _elem(op.result)
            with b.if_(last):
                write_row(lead, n, q, _row_total(b, b_arr, m_arr, accs, n, q, acc_ty))
        after_row_fold(lead, last, nf_v)
        # the counters (no division in the pipelined loop)
        sf_next = b.bin("add", sf_v, b.const(1), INDEX)
        wrap_x = b.bin("eq", sf_next, b.const(xf), BOOL)
        wrap_h = b.bin("eq", sf_next, b.const(cf), BOOL)
        wrap_0 = b.bin("eq", sf_next, b.const(2 * cf), BOOL)
        wrap = b.bin("or", b.bin("or", wrap_x, wrap_h, BOOL), wrap_0, BOOL)
        nf_next = b.select(wrap, b.bin("add", nf_v, b.const(1), INDEX), nf_v, INDEX)
        row_end = b.bin("eq", nf_next, b.const(rf), BOOL)
        b.store(b.select(row_end, b.const(0), nf_next, INDEX), nf, [])
        phase_end = row_end
        if vf is not None and vf_v is not None:  # the next sequence's turn after the last row fold
            vf_next = b.select(row_end, b.bin("add", vf_v, b.const(1), INDEX), vf_v, INDEX)
            phase_end = b.bin("eq", vf_next, b.const(turns), BOOL)
            b.store(b.select(phase_end, b.const(0), vf_next, INDEX), vf, [])
        # after the last row of a phase of step t, the x phase (fold 0); else the phase's first fold again
        restart_h = b.select(phase_end, b.const(0), b.const(xf), INDEX)
        restart_0 = b.select(phase_end, b.const(0), b.const(cf), INDEX)
        rest = b.select(wrap_h, restart_h, b.select(wrap_0, restart_0, sf_next, INDEX), INDEX)
        b.store(b.select(wrap_x, b.const(0), rest, INDEX), sf, [])


def _mvau_to_array(
    b: _Builder,
    op: dataflow.MVAUOp,
    parts: list[SSAValue],
    out: SSAValue,
    interleave: bool = False,
    epilogue: Operation | None = None,
) -> None:
    """An MVAU reading whole arrays (one per part, [K_p] or [V, K_p]) and writing its result array (a fused
    `epilogue`'s result, `_epilogue`)."""
    apply = _epilogue(b, epilogue, op.pe.value.data)
    _emit_mvau(
        b,
        op,
        lambda p, lead, k: b.load(parts[p], lead + [k]),
        lambda lead, n, q, total: b.store(apply(total, n), out, lead + [n]),
        interleave=interleave,
    )


def _epilogue(b: _Builder, unit: Operation | None, pe: int) -> Callable[[SSAValue, SSAValue], SSAValue]:
    """The fused epilogue of a top-level MVAU (`lstmc.schedule.fused_epilogues`) as a function of a row's
    aligned sum and its row index (the unit's channel): the unit's own per-element arithmetic
    (`_Elementwise.value`), PE lanes wide (its tables declared here, before the MVAU's loop, split for PE
    rows per cycle); the identity without one."""
    if unit is None:
        return lambda total, n: total
    elementwise = _Elementwise(b, unit, pe)
    return lambda total, n: elementwise.value(b, [total], n)


def _product_range(a: Attribute, b: Attribute) -> tuple[int, int]:
    alo, ahi = _range(a)
    blo, bhi = _range(b)
    corners = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
    return min(corners), max(corners)


def _shift_round(b: _Builder, x: SSAValue, shift: int, mode: str) -> SSAValue:
    """round(x / 2^shift) with a rounding mode, in integer ops (mirrors lstmc.numerics.shift_round)."""
    if shift == 0:
        return x
    ty = x.type
    lo, hi = _range(ty)
    if (1 << shift) - 1 > hi:
        # a shift as wide as x (an accumulator narrowed by its range, e.g. all-zero weights): the mask and the
        # half below need a wider type; the rounded value still fits x's
        ty = _bits_type(min(lo, 0), (1 << shift) - 1)
        x = b.cast(x, ty)
    floor = b.bin("shr", x, b.const(shift, INDEX), ty)
    rem = b.bin("and", x, b.const((1 << shift) - 1, ty), ty)
    half = b.const(1 << (shift - 1), ty)
    zero = b.const(0, ty)
    one, nil = b.const(1, ty), b.const(0, ty)

    def inc(cond):
        return b.bin("add", floor, b.select(cond, one, nil, ty), ty)

    nonzero = b.bin("ne", rem, zero, BOOL)
    negative = b.bin("lt", x, zero, BOOL)
    if mode == "floor":
        return floor
    if mode == "ceil":
        return inc(nonzero)
    if mode == "down":
        return inc(b.bin("and", negative, nonzero, BOOL))
    if mode == "up":
        return inc(b.bin("and", b.bin("eq", negative, b.const(0, BOOL), BOOL), nonzero, BOOL))
    above = b.bin("gt", rem, half, BOOL)
    tie = b.bin("eq", rem, half, BOOL)
    if mode == "half_even":
        odd = b.bin("ne", b.bin("and", floor, one, ty), zero, BOOL)
        return inc(b.bin("or", above, b.bin("and", tie, odd, BOOL), BOOL))
    if mode == "half_up":
        return inc(b.bin("or", above, b.bin("and", tie, b.bin("eq", negative, b.const(0, BOOL), BOOL), BOOL), BOOL))
    if mode == "half_down":
        return inc(b.bin("or", above, b.bin("and", tie, negative, BOOL), BOOL))
    raise HlsConversionError(f"qrnn-to-hlscpp: unknown rounding mode '{mode}'")
