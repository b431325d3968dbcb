"""qrnn-to-hlscpp: the integer/dataflow-level model -> structured HLS C++ (the `hlscpp` dialect).

The kernel boundary is where the integer design starts and ends: each `qrnn.quantize` of a graph input
becomes an AXI-Stream input port carrying that input's integer codes (row-major, one code per beat), each
`qrnn.dequantize` of a graph output an AXI-Stream output port. The top function is a DATAFLOW region of
processes, one per top-level op (input readers, one function per recurrence, concatenations and
reshapes, output writers), joined by arrays (ping-pong buffers), one copy per consumer so that every buffer
has a single producer and a single consumer. Reshapes next to a port are views (`port_views`): the reader
or writer indexes the stream in the other shape, so they cost neither a process nor a buffer.

A recurrence function keeps its carried state in on-chip arrays and runs the time loop; each step reads
the scanned input slices, then runs its units one after the other, each a loop over its vector with II=1:
the MVAU as (rows/PE) x (cols/SIMD) pipelined iterations with PE x SIMD unrolled multiply-accumulates,
thresholds with all comparators unrolled, the elementwise cell update; then updates the state and writes the
step's outputs. This is the schedule lstmc/qor.py counts.
A recurrence over B independent sequences (states [B][H], x_t [B][I]) interleaves them: the MVAU's flat loop
runs B x (rows/PE) x (cols/SIMD) iterations, the sequences taking turns after each full pass over the rows,
and every other unit loops over [B][N]; so each unit's pipeline fills once per step for all B sequences.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import IndexType, IntegerType, MemRefType, ModuleOp, Signedness
from xdsl.ir import Block, Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import DiagnosticException

from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import dataflow, hlscpp, qrnn
from lstmc.passes.hlscpp_prepare_emission import is_cpp_identifier

INDEX = IndexType()
BOOL = IntegerType(1)  # signless i1 prints as bool; data never uses it (ui1 is ap_uint<1>)


class HlsConversionError(DiagnosticException):
    pass


def _err(op: Operation, message: str) -> HlsConversionError:
    return HlsConversionError(f"qrnn-to-hlscpp: '{op.name}': {message}")


def _int_type_for(values: np.ndarray) -> IntegerType:
    return qrnn.integer_type_for_range(int(values.min(initial=0)), int(values.max(initial=0)))


def _bits_type(lo: int, hi: int) -> IntegerType:
    return qrnn.integer_type_for_range(int(lo), int(hi))


def _range(ty: IntegerType) -> tuple[int, int]:
    return qrnn.integer_range_of(ty)


class _Builder:
    """Appends hlscpp ops at an insertion point; loops are context managers yielding their index."""

    def __init__(self, block: Block):
        self.block = block

    def add(self, op: Operation) -> Operation:
        self.block.add_op(op)
        return op

    def const(self, value: int, ty=INDEX) -> SSAValue:
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
    def loop(self, ub: int, step: int = 1, pipeline: int | None = None, unroll: int | None = None,
             label: str | None = None, lb: int = 0) -> Iterator[SSAValue]:
        op = self.add(hlscpp.ForOp(lb, ub, step, pipeline, unroll, label))
        outer, self.block = self.block, op.body.block
        try:
            yield op.body.block.args[0]
        finally:
            self.block = outer

    def for_each(self, shape, body, label: str | None = None) -> None:
        """Row-major loop nest over `shape` (innermost loop pipelined); body(indices) emits the loop body."""
        idx: list[SSAValue] = []

        def nest(d: int):
            if d == len(shape):
                body(list(idx))
                return
            with self.loop(shape[d], pipeline=1 if d == len(shape) - 1 else None, label=label if d == 0 else None) as i:
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
        shape = src.type.get_shape() if dst_index else dst.type.get_shape()

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

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        funcs = [f for f in op.ops if isinstance(f, func.FuncOp)]
        if len(funcs) != 1:
            raise HlsConversionError(f"qrnn-to-hlscpp: expected one func.func, found {len(funcs)}")
        reason = is_cpp_identifier(self.kernel)
        if reason:  # the kernel name is the one name the user types straight into the C++
            raise HlsConversionError(f"qrnn-to-hlscpp: kernel name {self.kernel!r} is not usable as a C++ function name: {reason}")
        fn = funcs[0]
        for inner in fn.walk():
            if isinstance(inner, (qrnn.QuantOp, qrnn.MatMulOp, qrnn.SigmoidOp, qrnn.TanhOp, qrnn.QConstantOp)):
                raise _err(inner, "float ops remain; run qrnn-legalize-precision (and qrnn-to-dataflow) first")
        new_ops = _TopConverter(self.kernel).convert(fn)
        fn.detach()
        fn.erase()
        for f in new_ops:
            op.body.block.add_op(f)


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
        if isinstance(op, qrnn.ReshapeOp) and op.result not in read_views and op.result.uses and all(
                isinstance(u.operation, qrnn.DequantizeOp) or u.operation in write_views for u in op.result.uses):
            write_views.add(op)
    return read_views, write_views


class _TopConverter:
    def __init__(self, kernel: str):
        self.kernel = kernel
        self.functions: list[hlscpp.FuncOp] = []

    def convert(self, fn: func.FuncOp) -> list[hlscpp.FuncOp]:
        block = fn.body.block
        ret = block.last_op
        assert isinstance(ret, func.ReturnOp)
        # ports: quantized inputs and dequantized outputs
        in_ports, out_ports = [], []
        input_names = [a.data for a in fn.attributes["lstmc.input_names"].data] if "lstmc.input_names" in fn.attributes else []
        output_names = [a.data for a in fn.attributes["lstmc.output_names"].data] if "lstmc.output_names" in fn.attributes else []
        processes = []
        for op in block.ops:
            if isinstance(op, qrnn.QuantizeOp):
                arg_index = op.input.index if hasattr(op.input, "index") else 0
                name = input_names[arg_index] if arg_index < len(input_names) else f"in{arg_index}"
                in_ports.append((name, op))
            elif isinstance(op, qrnn.DequantizeOp):
                pass
            elif isinstance(op, _TOP_PROCESSES):
                processes.append(op)
            elif isinstance(op, func.ReturnOp):
                continue
            else:
                raise _err(op, "is not supported at the top level of a hardware kernel")
        for i, v in enumerate(ret.arguments):
            producer = v.op if hasattr(v, "op") else None
            if not isinstance(producer, qrnn.DequantizeOp):
                raise HlsConversionError(f"qrnn-to-hlscpp: output {i} is not dequantized integer codes")
            out_ports.append((output_names[i] if i < len(output_names) else f"out{i}", producer))

        read_views, write_views = port_views(block)

        def written(v: SSAValue) -> SSAValue:
            while isinstance(v, OpResult) and v.op in write_views:
                v = v.op.input
            return v

        processes = [op for op in processes
                     if op not in write_views and not (op.results and op.results[0] in read_views)]
        # every top-level integer value gets one buffer per consumer (single producer / single consumer)
        consumers: dict[SSAValue, list[Operation]] = {}
        for op in processes:
            for v in op.operands:
                consumers.setdefault(v, []).append(op)
        for _, dq in out_ports:
            consumers.setdefault(written(dq.input), []).append(dq)
        top_types, top_names = [], []
        for name, q in in_ports:
            top_types.append(hlscpp.StreamType(q.result.type.get_element_type()))
            top_names.append(name)
        for name, dq in out_ports:
            top_types.append(hlscpp.StreamType(dq.input.type.get_element_type()))
            top_names.append(name)
        top = hlscpp.FuncOp(self.kernel, top_types, top_names, ["axis"] * len(top_types), top=True, dataflow=True)
        b = _Builder(top.body.block)
        buffers: dict[tuple[SSAValue, Operation], SSAValue] = {}
        for v, users in consumers.items():
            for k, user in enumerate(users):
                arr = b.array(v.type.get_shape(), v.type.get_element_type(), name=f"{v.name_hint or 'buf'}_{k}")
                buffers[(v, user)] = arr

        def outputs_of(v: SSAValue) -> list[SSAValue]:
            return [buffers[(v, u)] for u in consumers.get(v, [])]

        # input readers
        for (name, q), port in zip(in_ports, top.body.block.args):
            outs = [a for v, root in read_views.items() if root is q.result for a in outputs_of(v)]
            self._process(b, f"read_{name}", [port] + outs, ["in"] + [f"out{k}" for k in range(len(outs))],
                          lambda pb, args: self._reader(pb, args[0], args[1:]))
        for op in processes:
            ins = [buffers[(v, op)] for v in op.operands]
            outs_per_result = [outputs_of(r) for r in op.results]
            flat_outs = [a for outs in outs_per_result for a in outs]
            label = self._label(op)
            self._process(
                b, label, ins + flat_outs,
                [f"in{k}" for k in range(len(ins))] + [f"out{k}" for k in range(len(flat_outs))],
                lambda pb, args, op=op, n_in=len(ins), shape=[len(o) for o in outs_per_result]:
                    self._top_op(pb, op, args[:n_in], _regroup(args[n_in:], shape)),
            )
        for (name, dq), port in zip(out_ports, top.body.block.args[len(in_ports):]):
            src = buffers[(written(dq.input), dq)]
            self._process(b, f"write_{name}", [src, port], ["in", "out"],
                          lambda pb, args: self._writer(pb, args[0], args[1]))
        return self.functions + [top]

    def _label(self, op: Operation) -> str:
        if isinstance(op, qrnn.RecurrenceOp):
            name = op.attributes.get("lstmc.onnx_node")
            return "rec_" + (name.data if name is not None else str(len(self.functions)))
        hint = next((r.name_hint for r in op.results if r.name_hint), None) or str(len(self.functions))
        return op.name.replace("qrnn.", "") + "_" + hint

    def _process(self, b: _Builder, name: str, args: list[SSAValue], arg_names: list[str], body) -> None:
        """Create a process function taking `args` and call it from the top function."""
        taken = {f.sym_name.data for f in self.functions} | {self.kernel}
        base, n = name, 1
        while name in taken:  # symbols must be unique for the IR to verify
            name, n = f"{base}n{n}", n + 1
        f = hlscpp.FuncOp(name, [a.type for a in args], arg_names)
        body(_Builder(f.body.block), list(f.body.block.args))
        self.functions.append(f)
        b.add(hlscpp.CallOp(name, args))

    # -------------------------------------------------------------------------------------- top-level ops
    def _reader(self, b: _Builder, port: SSAValue, outs: list[SSAValue]) -> None:
        shape = outs[0].type.get_shape() if outs else []

        def body(idx):
            v = b.add(hlscpp.ReadOp(port)).result
            for o in outs:  # a view of the port (another shape) is indexed by the same row-major position
                o_shape = o.type.get_shape()
                b.store(v, o, idx if o_shape == shape else _unflatten(b, o_shape, _flat_index(b, shape, idx)))

        b.for_each(shape, body)

    def _writer(self, b: _Builder, src: SSAValue, port: SSAValue) -> None:
        b.for_each(src.type.get_shape(), lambda idx: b.add(hlscpp.WriteOp(port, b.load(src, idx))))

    def _top_op(self, b: _Builder, op: Operation, ins: list[SSAValue], outs: list[list[SSAValue]]) -> None:
        if isinstance(op, qrnn.RecurrenceOp):
            _RecurrenceConverter(b, op, ins, outs).convert()
        elif isinstance(op, qrnn.ConstantOp):
            values = array_from_dense(op.value).astype(np.int64)
            c = b.const_array(values, "value")
            for o in outs[0]:
                b.copy(c, o)
        elif isinstance(op, _DATA_MOVEMENT):
            _convert_data_movement(b, op, ins, outs[0])
        else:  # a compute unit on whole tensors: into the first buffer, copied to the others
            target = outs[0][0]
            if isinstance(op, dataflow.MVAUOp):
                _emit_mvau(b, op, ins, target)
            else:
                _emit_elementwise(b, op, ins, target)
            for other in outs[0][1:]:
                b.copy(target, other)


_DATA_MOVEMENT = (qrnn.ConcatOp, qrnn.ReshapeOp, qrnn.SliceOp, qrnn.TransposeOp, qrnn.WindowOp)
# Ops that become processes of the top-level DATAFLOW region (with the readers and writers of the ports).
_TOP_PROCESSES = (qrnn.RecurrenceOp, qrnn.ConstantOp, dataflow.MVAUOp, qrnn.ThresholdOp, qrnn.LutOp, qrnn.RequantOp,
                  qrnn.ScaledSumOp, qrnn.IMulOp) + _DATA_MOVEMENT


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
            in_shape, out_shape = op.input.type.get_shape(), op.result.type.get_shape()
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
                b.copy(src, out, dst_index=lambda idx, off=off: idx[:axis] + [b.bin("add", idx[axis], b.const(off), INDEX)] + idx[axis + 1:])
                offset += v.type.get_shape()[axis]
        else:
            raise _err(op, "is not supported in a hardware kernel")


def _sliding_window(b: _Builder, op: qrnn.WindowOp, src: SSAValue, out: SSAValue) -> None:
    """FINN's ConvolutionInputGenerator as a copy: out[ho * Wo + wo, (i * kw + j) * C + c] =
    src[ho * sh + i, wo * sw + j, c], iterating in output order (one patch element per cycle)."""
    (kh, kw), (sh, sw), (ho, wo) = op.kernel_size, op.stride, op.out_hw
    c = op.input.type.get_shape()[2]

    def body(idx):
        y, x, i, j, ch = idx
        row = b.bin("add", b.bin("mul", y, b.const(wo), INDEX), x, INDEX)
        col = b.bin("add", b.bin("mul", b.bin("add", b.bin("mul", i, b.const(kw), INDEX), j, INDEX), b.const(c), INDEX), ch, INDEX)
        src_y = b.bin("add", b.bin("mul", y, b.const(sh), INDEX), i, INDEX)
        src_x = b.bin("add", b.bin("mul", x, b.const(sw), INDEX), j, INDEX)
        b.store(b.load(src, [src_y, src_x, ch]), out, [row, col])

    b.for_each([ho, wo, kh, kw, c], body, "window")


# --------------------------------------------------------------------------------------------------------
class _RecurrenceConverter:
    def __init__(self, b: _Builder, op: qrnn.RecurrenceOp, ins: list[SSAValue], outs: list[list[SSAValue]]):
        self.b, self.op, self.ins, self.outs = b, op, ins, outs
        self.arrays: dict[SSAValue, SSAValue] = {}

    def convert(self) -> None:
        b, op = self.b, self.op
        n_state = len(op.init)
        steps = op.seq_len
        states = []
        for i, init in enumerate(op.init):
            st = b.array(init.type.get_shape(), init.type.get_element_type(), name=f"state{i}")
            b.copy(self.ins[i], st, label=f"init_state{i}")
            states.append(st)
        body = op.body.block
        for arg, st in zip(body.args[:n_state], states):
            self.arrays[arg] = st
        with b.loop(steps, label="steps") as t:
            for j, (seq, arg) in enumerate(zip(self.ins[n_state:], body.args[n_state:])):
                t_in = t if op.in_dirs[j] == qrnn.FORWARD else b.bin("sub", b.const(steps - 1), t, INDEX)
                x = b.array(arg.type.get_shape(), arg.type.get_element_type(), name=arg.name_hint or f"x{j}")
                b.copy(seq, x, src_index=lambda idx, t_in=t_in: [t_in] + idx, label=f"read_input{j}")
                self.arrays[arg] = x
            term = body.last_op
            for inner in body.ops:
                if inner is not term:
                    self._unit(inner)
            yielded = [self.arrays[v] for v in term.values]
            # state update after every unit has read the old state
            for i, st in enumerate(states):
                b.copy(yielded[i], st, label=f"update_state{i}")
            for k, y in enumerate(yielded[n_state:]):
                t_out = t if op.out_dirs[k] == qrnn.FORWARD else b.bin("sub", b.const(steps - 1), t, INDEX)
                for dst in self.outs[n_state + k]:
                    b.copy(y, dst, dst_index=lambda idx, t_out=t_out: [t_out] + idx, label=f"write_output{k}")
        for i, st in enumerate(states):
            for dst in self.outs[i]:
                b.copy(st, dst, label=f"final_state{i}")

    def _out_array(self, value: SSAValue) -> SSAValue:
        arr = self.b.array(value.type.get_shape(), value.type.get_element_type(), name=value.name_hint)
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
        if len(op.results) != 1 or len(op.results[0].type.get_shape()) not in (1, 2):
            raise _err(op, "only vector units ([N], or [B, N] for B interleaved sequences) are supported inside "
                           "a recurrence")
        out = self._out_array(op.results[0])
        _emit_elementwise(b, op, [self.arrays[v] for v in op.operands], out)

    def _mvau(self, op: dataflow.MVAUOp) -> None:
        _emit_mvau(self.b, op, [self.arrays[v] for v in op.inputs], self._out_array(op.result), interleave=True)


def _emit_elementwise(b: _Builder, op: Operation, ins: list[SSAValue], out: SSAValue) -> None:
    """An activation / cell-update unit over its whole tensor (a vector inside a recurrence step, any shape
    at the top level): a loop nest with the innermost loop pipelined at II = 1; per-channel parameters are
    indexed by the last axis."""
    shape = op.results[0].type.get_shape()
    out_ty = op.results[0].type.get_element_type()
    if isinstance(op, qrnn.ThresholdOp):
        thr = array_from_dense(op.thresholds).astype(np.int64)
        t_arr = b.const_array(thr, "thresholds", partition=[hlscpp.PartitionAttr("complete", 0, thr.ndim)])

        def body(idx):
            x = b.load(ins[0], idx)
            b.store(b.const(op.base.value.data, out_ty), out, idx)
            with b.loop(thr.shape[-1], unroll=0) as k:
                tk = b.load(t_arr, [idx[-1], k] if thr.ndim == 2 else [k])
                ge = b.bin("ge", x, tk, BOOL)
                one = b.select(ge, b.const(1, out_ty), b.const(0, out_ty), out_ty)
                b.store(b.bin("add", b.load(out, idx), one, out_ty), out, idx)

        b.for_each(shape, body, "threshold")
    elif isinstance(op, qrnn.LutOp):
        table = array_from_dense(op.table).astype(np.int64)
        t_arr = b.const_array(table, "table")

        def body(idx):
            x = b.cast(b.load(ins[0], idx), INDEX)
            j = b.bin("sub", x, b.const(op.offset.value.data), INDEX)
            b.store(b.cast(b.load(t_arr, [j]), out_ty), out, idx)

        b.for_each(shape, body, "lut")
    elif isinstance(op, qrnn.IMulOp):
        b.for_each(shape, lambda idx: b.store(b.bin("mul", b.load(ins[0], idx), b.load(ins[1], idx), out_ty), out, idx), "mul")
    elif isinstance(op, qrnn.ScaledSumOp):
        mults = array_from_dense(op.multipliers).astype(np.int64)
        bias = array_from_dense(op.bias).astype(np.int64)
        m_arr, b_arr = b.const_array(mults, "mult"), b.const_array(bias, "bias")

        def body(idx):
            acc = b.cast(b.load(b_arr, [idx[-1]]), out_ty)
            for t, term in enumerate(ins):
                prod = b.bin("mul", b.load(m_arr, [b.const(t), idx[-1]]), b.load(term, idx), out_ty)
                acc = b.bin("add", acc, prod, out_ty)
            b.store(acc, out, idx)

        b.for_each(shape, body, "scaled_sum")
    elif isinstance(op, qrnn.RequantOp):
        def body(idx):
            v = _shift_round(b, b.load(ins[0], idx), op.shift.value.data, op.rounding.data)
            lo, hi = op.lo.value.data, op.hi.value.data
            # clamp in a type holding both the rounded value and the bounds (a bound may lie outside the
            # input's range: a clamp that cannot bind)
            v_lo, v_hi = _range(v.type)
            wide = _bits_type(min(lo, v_lo), max(hi, v_hi))
            v = b.cast(v, wide)
            v = b.bin("max", v, b.const(lo, wide), wide)
            v = b.bin("min", v, b.const(hi, wide), wide)
            b.store(b.cast(v, out_ty), out, idx)

        b.for_each(shape, body, "requant")
    else:
        raise _err(op, "is not supported in a hardware kernel")


def _emit_mvau(b: _Builder, op: dataflow.MVAUOp, parts: list[SSAValue], out: SSAValue,
               interleave: bool = False) -> None:
    """FINN-style MVAU: one flat loop of (rows/PE) * (cols/SIMD) iterations at II = 1 per input vector (an
    outer loop over the V vectors of a [V, K] input, e.g. a convolution's patches). Each iteration takes SIMD
    columns of one input part for PE rows; the part accumulators reset at the first column fold and the
    aligned sum (multipliers, bias) is written at the last.
    With `interleave` (the B sequences of a recurrence step, [B, K]) the V vectors take turns in ONE flat loop
    of V * (rows/PE) * (cols/SIMD) iterations: the pipeline fills once per step, not once per sequence."""
    pe, simd = op.pe.value.data, op.simd.value.data
    weights = array_from_dense(op.weights).astype(np.int64)
    mults = array_from_dense(op.multipliers).astype(np.int64)
    bias = array_from_dense(op.bias).astype(np.int64)
    partition = []
    if simd > 1:
        partition.append(hlscpp.PartitionAttr("cyclic", simd, 1))
    if pe > 1:
        partition.append(hlscpp.PartitionAttr("cyclic", pe, 2))
    w_arr = b.const_array(weights, "weights", partition)
    m_arr, b_arr = b.const_array(mults, "mult"), b.const_array(bias, "bias")
    acc_ty = op.result.type.get_element_type()
    sizes = op.part_sizes
    row0 = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    folds = [size // simd for size in sizes]  # column folds per part
    fold0 = np.concatenate([[0], np.cumsum(folds)]).astype(int)
    column_folds = int(fold0[-1])
    # per-part partial sums: their proven range from the weights and the input types
    accs = []
    for p, v in enumerate(op.inputs):
        v_lo, v_hi = _range(v.type.get_element_type())
        w = weights[row0[p] : row0[p + 1]]
        pos, neg = np.clip(w, 0, None).sum(axis=0), np.clip(w, None, 0).sum(axis=0)
        pty = _bits_type(min(0, int((pos * v_lo + neg * v_hi).min())), max(0, int((pos * v_hi + neg * v_lo).max())))
        accs.append(b.array([pe], pty, partition=[hlscpp.PartitionAttr("complete", 0, 1)], name=f"acc{p}"))
    nf = b.array([], INDEX, name="nf")
    sf = b.array([], INDEX, name="sf")
    row_folds = op.rows // pe
    turns = op.vectors if interleave and op.result.type.get_shape()[:-1] else 1
    vf = b.array([], INDEX, name="vf") if turns > 1 else None

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
            with b.loop(pe, unroll=0) as q:
                n = b.bin("add", b.bin("mul", nf_v, b.const(pe), INDEX), q, INDEX)
                for p, (vec, acc) in enumerate(zip(parts, accs)):
                    pty = acc.type.element_type
                    with b.if_(first):
                        b.store(b.const(0, pty), acc, [q])
                    in_part = b.bin("and", b.bin("ge", sf_v, b.const(int(fold0[p])), BOOL),
                                    b.bin("lt", sf_v, b.const(int(fold0[p + 1])), BOOL), BOOL)
                    with b.if_(in_part):
                        k0 = b.bin("mul", b.bin("sub", sf_v, b.const(int(fold0[p])), INDEX), b.const(simd), INDEX)
                        for s in range(simd):
                            k = b.bin("add", k0, b.const(s), INDEX)
                            x = b.load(vec, lead + [k])
                            w = b.load(w_arr, [b.bin("add", k, b.const(int(row0[p])), INDEX), n])
                            prod = b.bin("mul", x, w, _bits_type(*_product_range(x.type, w.type)))
                            b.store(b.bin("add", b.load(acc, [q]), prod, pty), acc, [q])
                with b.if_(last):
                    total = b.cast(b.load(b_arr, [n]), acc_ty)
                    for p, acc in enumerate(accs):
                        scaled = b.bin("mul", b.load(m_arr, [b.const(p), n]), b.load(acc, [q]), acc_ty)
                        total = b.bin("add", total, scaled, acc_ty)
                    b.store(total, out, lead + [n])
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
    elif op.result.type.get_shape()[:-1]:
        with b.loop(op.vectors, label="vectors") as v:
            one_vector([v])
    else:
        one_vector([])


def _product_range(a: IntegerType, b: IntegerType) -> tuple[int, int]:
    alo, ahi = _range(a)
    blo, bhi = _range(b)
    corners = [alo * blo, alo * bhi, ahi * blo, ahi * bhi]
    return min(corners), max(corners)


def _shift_round(b: _Builder, x: SSAValue, shift: int, mode: str) -> SSAValue:
    """round(x / 2^shift) with a rounding mode, in integer ops (mirrors lstmc.numerics.shift_round)."""
    if shift == 0:
        return x
    ty = x.type
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
