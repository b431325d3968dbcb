"""qrnn-to-dataflow: integer recurrences -> streaming hardware units.

At the top level, every accumulator that sums integer products of constant weights — a convolution's
sliding-window patches [V, K] times its weight matrix, a dense layer on a vector — becomes a `dataflow.mvau`
(over V vectors for patches). In every `qrnn.recurrence` body, the gate accumulators — `qrnn.scaled_sum`s whose terms are (slices of)
integer matrix products of the step's input vectors by constant weights — become ONE `dataflow.mvau` over
the concatenated inputs ([x_t; h_{t-1}]): weights of all gates stacked into one [I + H, G * H] matrix, the
per-part fixed-point multipliers and the biases carried over exactly, so the unit computes bit for bit what
the scaled_sums computed. Each gate reads its rows through `qrnn.slice`. Activation units and the
elementwise cell update stay as they are; the carried h and c stay on chip (the recurrence's state).

A recurrence over B independent sequences (torch's layout: state [B, H], x_t [B, I]) gets the same units on
[B, ...] values: one MVAU whose B input vectors are the B sequences, which qrnn-to-hlscpp interleaves.

The streamed step (`step_schedule`, the one schedule analysis that qrnn-to-hlscpp builds and lstmc.qor
counts): a body made of one MVAU over the step's inputs, slices of it one gate of H rows each, and
elementwise units on [H] (or [B, H]) vectors runs as a pipeline. The MVAU emits its rows interleaved by gate
in groups of E elements (all G gates of elements kE..kE+E-1, E = PE / gcd(PE, G) lanes), and every
elementwise unit consumes one group per iteration from FIFOs, E lanes wide. A value's group is ready
`UNIT_LATENCY` cycles after the last of its unit's stream operands; a FIFO holds what waits for the slowest
operand of its consumer, so its depth (words per lane) is that slack + `FIFO_MIN_DEPTH`, recorded as
`fifo_depth` on the producing op (a slice for the MVAU's gates) — the depth qrnn-to-hlscpp emits and the
QoR model reads. Other bodies keep the per-unit sequential schedule, whose `fifo_depth` is the number of
elements a unit produces per step (what a consumer reading in another order may need to buffer).
Folding starts at PE = SIMD = 1; `qrnn-set-folding` chooses it (the FIFO depths do not depend on it).

The streamed top level (`top_streams`, the other schedule analysis qrnn-to-hlscpp lowers and lstmc.qor
counts): which top-level values travel in FIFOs between processes, and how many elements a word carries.
It depends on the folding (an MVAU writes PE-wide words and reads SIMD-wide ones), so it is computed where
it is used, after `qrnn-set-folding`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, TensorType, i64
from xdsl.ir import Block, BlockArgument, Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern
from xdsl.rewriter import InsertPoint
from xdsl.traits import Pure

from lstmc.dense import array_from_dense, dense_from_array
from lstmc.dialects import dataflow, qrnn


@dataclass
class _Term:
    vector: SSAValue  # the matmul's input vector
    weights: np.ndarray  # [K, n] columns used by this term
    producers: list  # ops that become dead once fused
    name: str | None = None  # name hint of the product (what an unfused layer is called)


def _matmul_term(value: SSAValue) -> _Term | None:
    """(slice of) imatmul(vector, constant) -> its vector and the weight columns it reads."""
    start, size, producers = 0, None, []
    if isinstance(value, OpResult) and isinstance(value.op, qrnn.SliceOp):
        start, size = value.op.start, value.op.size
        producers.append(value.op)
        value = value.op.input
    if not (isinstance(value, OpResult) and isinstance(value.op, qrnn.IMatMulOp)):
        return None
    mm = value.op
    w = mm.rhs
    if not (isinstance(w, OpResult) and isinstance(w.op, qrnn.ConstantOp)) or len(mm.lhs.type.get_shape()) not in (
        1,
        2,
    ):
        return None
    weights = array_from_dense(w.op.value).astype(np.int64)
    if weights.ndim != 2:
        return None
    size = weights.shape[1] if size is None else size
    return _Term(mm.lhs, weights[:, start : start + size], producers + [mm, w.op], mm.result.name_hint)


def _gate_terms(op: qrnn.ScaledSumOp) -> tuple[frozenset[SSAValue], list[_Term]] | None:
    """The input vectors and matmul terms of a gate accumulator (a scaled_sum of (slices of) matrix products
    of distinct vectors by constants), else None."""
    if len(op.result.type.get_shape()) not in (1, 2):
        return None
    terms = [t for t in map(_matmul_term, op.terms) if t is not None]
    if not terms or len(terms) != len(op.terms):
        return None
    vectors = tuple(t.vector for t in terms)
    if len(set(vectors)) != len(vectors):
        return None  # two terms on the same vector: not a gate accumulator
    return frozenset(vectors), terms


class FuseGateProducts(RewritePattern):
    """The gate accumulators of one block that sum products of the same input vectors (the matched one and
    its siblings, in block order) become one `dataflow.mvau` over the concatenated vectors and a slice per gate."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.ScaledSumOp, rewriter: PatternRewriter) -> None:
        block = op.parent_block()
        mine = _gate_terms(op)
        if block is None or mine is None:
            return
        members = []
        for other in block.ops:
            if (
                isinstance(other, qrnn.ScaledSumOp)
                and (found := _gate_terms(other)) is not None
                and found[0] == mine[0]
            ):
                members.append((other, found[1]))
        _build_mvau(block, members, rewriter)


class WrapBareProducts(RewritePattern):
    """A (slice of a) constant matrix product read by something other than a gate accumulator, e.g. a threshold
    that absorbed its scale (qrnn-legalize-precision's threshold-input=accumulator, as for GRU's W_hn h), gets
    an identity scaled_sum (multiplier 1, bias 0) in front of that reader, so FuseGateProducts moves it into an
    MVAU like every other gate."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: qrnn.IMatMulOp, rewriter: PatternRewriter) -> None:
        values = [op.result] + [u.operation.result for u in op.result.uses if isinstance(u.operation, qrnn.SliceOp)]
        for value in values:
            bare = [u for u in value.uses if not isinstance(u.operation, (qrnn.ScaledSumOp, qrnn.SliceOp))]
            if not bare or _matmul_term(value) is None:
                continue
            n = value.type.get_shape()[-1]
            ident = qrnn.ScaledSumOp(
                [value],
                dense_from_array(np.ones((1, n), np.int64), i64),
                dense_from_array(np.zeros(n, np.int64), i64),
                value.type,
            )
            rewriter.insert(ident, InsertPoint.after(value.owner))
            for use in bare:
                use.operation.operands[use.index] = ident.result


def _erase_dead_pure_ops(block: Block, rewriter: PatternRewriter) -> None:
    """Erase side-effect-free ops whose results are unused, innermost regions first, until none is left."""
    changed = True
    while changed:
        changed = False
        for op in reversed(list(block.ops)):
            for region in op.regions:
                for inner in region.blocks:
                    _erase_dead_pure_ops(inner, rewriter)
            if op.results and all(not r.uses for r in op.results) and op.has_trait(Pure):
                rewriter.erase(op)
                changed = True


def _build_mvau(block: Block, members, rewriter: PatternRewriter) -> None:
    # parts in order of first use (x_t before h_{t-1} for importer-built cells)
    parts: list[SSAValue] = []
    for _, terms in members:
        for t in terms:
            if t.vector not in parts:
                parts.append(t.vector)
    sizes = [p.type.get_shape()[-1] for p in parts]
    row0 = np.concatenate([[0], np.cumsum(sizes)])
    lead = tuple(members[0][0].result.type.get_shape()[:-1])  # () for a vector, (V,) for V patches
    if any(tuple(p.type.get_shape()[:-1]) != lead for p in parts):
        return
    n_total = sum(op.result.type.get_shape()[-1] for op, _ in members)
    weights = np.zeros((row0[-1], n_total), np.int64)
    mults = np.zeros((len(parts), n_total), np.int64)
    bias = np.zeros(n_total, np.int64)
    offsets = []
    col = 0
    for op, terms in members:
        n = op.result.type.get_shape()[-1]
        m = array_from_dense(op.multipliers).astype(np.int64)
        for t_index, t in enumerate(terms):
            p = parts.index(t.vector)
            weights[row0[p] : row0[p + 1], col : col + n] = t.weights
            mults[p, col : col + n] = m[t_index]
        bias[col : col + n] = array_from_dense(op.bias).astype(np.int64)
        offsets.append(col)
        col += n
    # interval analysis of the fused accumulator (per column, over the inputs' type ranges)
    lo = bias.copy()
    hi = bias.copy()
    for p, vec in enumerate(parts):
        v_lo, v_hi = qrnn.integer_range_of(vec.type.get_element_type())
        w = weights[row0[p] : row0[p + 1]]
        pos, neg = np.clip(w, 0, None).sum(axis=0), np.clip(w, None, 0).sum(axis=0)
        p_hi, p_lo = pos * v_hi + neg * v_lo, pos * v_lo + neg * v_hi
        m = mults[p]
        lo += np.minimum(m * p_lo, m * p_hi)
        hi += np.maximum(m * p_lo, m * p_hi)
    acc_type = TensorType(qrnn.integer_type_for_range(int(lo.min()), int(hi.max())), (*lead, n_total))
    if len(members) == 1:  # the unit replaces the sum itself: keep the type its users were built for
        acc_type = members[0][0].result.type
    w_type = qrnn.integer_type_for_range(int(weights.min(initial=0)), int(weights.max(initial=0)))
    mvau = dataflow.MVAUOp(
        parts, dense_from_array(weights, w_type), dense_from_array(mults, i64), dense_from_array(bias, i64), acc_type
    )
    # a layer outside a recurrence is named after its product (the importer names it after the ONNX node)
    single = members[0][0].result.name_hint or members[0][1][0].name
    mvau.result.name_hint = "gates" if len(members) > 1 else single
    mvau.attributes["fifo_depth"] = IntegerAttr(n_total * int(np.prod(lead)), i64)
    first = min((op for op, _ in members), key=lambda o: block.get_operation_index(o))
    rewriter.insert(mvau, InsertPoint.before(first))
    if len(members) == 1:
        rewriter.replace_all_uses_with(members[0][0].result, mvau.result)
    for (op, _), offset in zip(members if len(members) > 1 else [], offsets):
        gate = qrnn.SliceOp(mvau.result, offset, op.result.type.get_shape()[-1])
        gate.result.name_hint = op.result.name_hint
        rewriter.insert(gate, InsertPoint.before(op))
        rewriter.replace_all_uses_with(op.result, gate.result)
    _erase_dead_pure_ops(block, rewriter)


def _record_fifo_depths(rec: qrnn.RecurrenceOp) -> None:
    schedule = step_schedule(rec)
    if schedule is not None:
        schedule.mvau.attributes.pop("fifo_depth", None)  # its gates leave through the slices' FIFOs
        for value, depth in schedule.fifo.items():
            value.op.attributes["fifo_depth"] = IntegerAttr(depth, i64)
        return
    for op in rec.body.block.ops:
        if isinstance(op, (qrnn.ThresholdOp, qrnn.LutOp, qrnn.RequantOp, qrnn.ScaledSumOp, qrnn.IMulOp)):
            shape = op.results[0].type.get_shape()
            if len(shape) in (1, 2):  # [N] or B sequences [B, N]
                op.attributes["fifo_depth"] = IntegerAttr(int(np.prod(shape)), i64)


# ------------------------------------------------------------------------------------------ the streamed step
UNIT_LATENCY = 2  # a streamed elementwise unit: read its FIFOs, compute and write (lstmc.qor.ELEMENTWISE_DEPTH)
FIFO_MIN_DEPTH = 2  # what a FIFO between two units running at the same rate needs
STREAM_UNITS = (qrnn.ThresholdOp, qrnn.LutOp, qrnn.IMulOp, qrnn.ScaledSumOp, qrnn.RequantOp)


@dataclass
class StepSchedule:
    """How one step of a recurrence streams (see the module docstring).

    Times are in cycles after a group of gate values leaves the MVAU. `fifo` maps every value that travels
    in a FIFO (the gate slices, or the MVAU result itself for one gate, and unit results with a unit
    consumer) to its depth in words per lane.
    """

    rec: qrnn.RecurrenceOp
    mvau: dataflow.MVAUOp
    gates: int  # G
    hidden: int  # H: elements of one gate
    sequences: int  # B (1 for vectors [H])
    units: list[Operation]  # the elementwise units, in body (topological) order
    gate_of: dict[SSAValue, int]  # gate values (slices of the MVAU, or the MVAU result when G = 1) -> gate
    done: dict[SSAValue, int] = field(default_factory=dict)  # value -> cycle its group is ready
    fifo: dict[SSAValue, int] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        """Cycles from the last group leaving the MVAU to the last unit writing it: the longest unit chain."""
        return max((self.done[u.results[0]] for u in self.units), default=0)

    @property
    def element_shape(self) -> tuple[int, ...]:
        """The units' vectors: [H], or [B, H] for B sequences."""
        return (*self.mvau.result.type.get_shape()[:-1], self.hidden)

    def lanes(self, pe: int | None = None) -> int:
        """E: elements per group, so that a group (G * E rows) is a whole number of the MVAU's PE-row folds."""
        pe = self.mvau.pe.value.data if pe is None else pe
        return pe // math.gcd(pe, self.gates)

    def unit_iterations(self, pe: int | None = None) -> int:
        """Iterations of every unit's loop per step: one group (E lanes) each, for all B sequences."""
        return self.sequences * self.hidden // self.lanes(pe)

    def row_order(self, pe: int | None = None) -> np.ndarray:
        """The gate interleaving: MVAU row r computes the original column row_order[r] (gate g of element
        k*E + e at r = (k*G + g)*E + e)."""
        e_, g_, h_ = self.lanes(pe), self.gates, self.hidden
        r = np.arange(g_ * h_)
        k, rem = np.divmod(r, g_ * e_)
        g, e = np.divmod(rem, e_)
        return g * h_ + k * e_ + e

    def stream_operands(self, unit: Operation) -> list[SSAValue]:
        return [v for v in unit.operands if v in self.gate_of or (isinstance(v, OpResult) and v.op in self.units)]

    def stream_consumers(self, value: SSAValue) -> list[Operation]:
        """The units reading `value` from a FIFO, one per distinct consumer, in body order."""
        users = {use.operation for use in value.uses if use.operation in self.units}
        return [u for u in self.units if u in users]


def fifo_depth(op: Operation, schedule: StepSchedule | None = None) -> int:
    """The depth of the FIFO(s) carrying `op`'s result: its `fifo_depth` attribute (what qrnn-to-dataflow
    recorded), else the streamed schedule's, else 0. The one place the emitter and the QoR model read it."""
    attr = op.attributes.get("fifo_depth")
    if isinstance(attr, IntegerAttr):
        return attr.value.data
    if schedule is not None:
        return schedule.fifo.get(op.results[0], 0)
    return 0


def step_schedule(rec: qrnn.RecurrenceOp) -> StepSchedule | None:
    """The streamed schedule of `rec`'s step, or None when its body is not an MVAU followed by elementwise
    units on its gates (then the step runs its units one after the other)."""
    body = rec.body.block
    n_state = len(rec.init)
    mvaus = [op for op in body.ops if isinstance(op, dataflow.MVAUOp)]
    if len(mvaus) != 1 or rec.seq_len < 1:
        return None
    mvau = mvaus[0]
    if any(not (isinstance(v, BlockArgument) and v.owner is body) for v in mvau.inputs):
        return None
    lead = tuple(mvau.result.type.get_shape()[:-1])
    rows = mvau.rows
    slices = [u.operation for u in mvau.result.uses]
    if all(isinstance(s, qrnn.SliceOp) for s in slices) and slices:
        hidden = slices[0].size
        if rows % hidden or any(s.size != hidden or s.start % hidden for s in slices):
            return None
        gate_of = {s.result: s.start // hidden for s in slices}
    elif not any(isinstance(s, qrnn.SliceOp) for s in slices):
        hidden, gate_of = rows, {mvau.result: 0}
    else:
        return None
    shape = (*lead, hidden)
    units, consts = [], set()
    for op in body.ops:
        if op is mvau or isinstance(op, (qrnn.SliceOp, qrnn.YieldOp)):
            continue
        if isinstance(op, qrnn.ConstantOp):
            consts.add(op.result)
        elif isinstance(op, STREAM_UNITS) and tuple(op.results[0].type.get_shape()) == shape:
            units.append(op)
        else:
            return None
    produced = {u.results[0] for u in units}
    for u in units:
        for v in u.operands:
            if tuple(v.type.get_shape()) != shape:
                return None
            if not (v in gate_of or v in produced or v in consts or (isinstance(v, BlockArgument) and v.owner is body)):
                return None
    if any(u.operation not in units for v in gate_of for u in v.uses):
        return None  # a gate yielded or used by something else than a unit
    if any(u.operation not in units for v in consts for u in v.uses):
        return None
    if any(v not in produced for v in body.last_op.operands):
        return None  # a yielded state or output that no unit computes (a pass-through)
    for arg in body.args[n_state:]:  # a scanned input is one array: it may have one reader in the step
        readers = {u.operation for u in arg.uses}
        if len(readers) > 1:
            return None
    schedule = StepSchedule(rec, mvau, rows // hidden, hidden, lead[0] if lead else 1, units, gate_of)
    done = schedule.done
    for v in gate_of:
        done[v] = 0
    ready: dict[Operation, int] = {}
    for u in units:
        ready[u] = max((done[v] for v in schedule.stream_operands(u)), default=0)
        done[u.results[0]] = ready[u] + UNIT_LATENCY
    for v in list(gate_of) + [u.results[0] for u in units]:
        consumers = schedule.stream_consumers(v)
        if consumers:
            schedule.fifo[v] = max(ready[c] - done[v] for c in consumers) + FIFO_MIN_DEPTH
    return schedule


@dataclass(frozen=True)
class QrnnToDataflowPass(ModulePass):
    """Fuse each recurrence's gate products into one dataflow.mvau and size the FIFOs between units."""

    name = "qrnn-to-dataflow"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # top level (convolutions' window patches, dense layers) and recurrence bodies alike
        PatternRewriteWalker(WrapBareProducts(), apply_recursively=False).rewrite_module(op)
        PatternRewriteWalker(FuseGateProducts()).rewrite_module(op)
        for rec in list(op.walk()):
            if isinstance(rec, qrnn.RecurrenceOp):
                _record_fifo_depths(rec)


# ------------------------------------------------------------------------------------ the streamed top level
TOP_FIFO_DEPTH = 2  # a FIFO between two top-level processes of a streamed chain (words per lane)


@dataclass(frozen=True)
class TopStream:
    """One FIFO of the streamed top level: `producer` writes `value` in row-major order, `lanes` consecutive
    elements per word (one FIFO per lane); `consumer` reads it as `view` (`value` or a reshape chain of it,
    which keeps the row-major order and so costs neither a process nor a buffer)."""

    producer: Operation  # a qrnn.quantize for an input port
    value: SSAValue
    view: SSAValue
    consumer: Operation  # a qrnn.dequantize for an output port
    lanes: int
    reshapes: tuple[Operation, ...] = ()


def streamable_window(op: qrnn.WindowOp) -> bool:
    """A window the line buffer generates: one image row per output row (kernel height 1, row stride 1)."""
    (kh, _), (sh, _), (ho, _) = op.kernel_size, op.stride, op.out_hw
    return kh == 1 and sh == 1 and ho == op.input.type.get_shape()[0]


def top_streams(block: Block) -> dict[SSAValue, TopStream]:
    """The FIFOs of the top-level DATAFLOW region, keyed by the value the producer writes (the one analysis
    qrnn-to-hlscpp lowers and lstmc.qor counts). A value streams when it has a single reader (through
    reshapes) that consumes it in the producer's row-major order, one word after the other:
    - producers: an input port's reader (1 element per word), a convolution's or dense layer's MVAU
      (PE rows per word), an elementwise unit (the width of its streamed operand, else 1), a line buffer
      (`streamable_window`: the SIMD of the MVAU it feeds), a streamed recurrence's forward scan output
      (y_t as its step computes it, E elements per word);
    - readers: an elementwise unit (one streamed operand), an MVAU over one input part whose SIMD is the
      word width, a line buffer, a forward scanned input of a streamed recurrence (x_t in time order), an
      output port's writer (a `qrnn.dequantize`) of a recurrence's output.
    A reverse direction reads or writes row T - 1 - t at step t, and a value with several readers is needed
    whole by at least one of them (or read twice): those keep their [T][N] buffer.
    The word width must divide the last axis of the value and of the view. Chains only: every process has
    at most one streamed operand and one streamed result."""
    fn = block.parent_op()
    if fn is not None and "lstmc.max_seq_len" in fn.attributes:
        # a run-time T keeps the buffers: the x_{t+1} prefetch and the QoR's reader/writer cycles assume T = N
        return {}
    width: dict[Operation, int] = {}
    streamed_in: set[Operation] = set()
    out: dict[SSAValue, TopStream] = {}

    def consumer_accepts(producer: Operation, consumer: Operation, view: SSAValue, lanes: int) -> bool:
        if consumer in streamed_in:
            return False
        if isinstance(consumer, STREAM_UNITS):
            return tuple(consumer.results[0].type.get_shape()) == tuple(view.type.get_shape())
        if isinstance(consumer, dataflow.MVAUOp):
            return len(consumer.inputs) == 1 and consumer.simd.value.data == lanes
        if isinstance(consumer, qrnn.WindowOp):
            return streamable_window(consumer)
        if isinstance(consumer, qrnn.DequantizeOp):  # the port's writer: Y leaves as the steps compute it
            return isinstance(producer, qrnn.RecurrenceOp)
        if isinstance(consumer, qrnn.RecurrenceOp):
            n_state = len(consumer.init)
            index = [i for i, v in enumerate(consumer.operands) if v is view]
            return (
                len(index) == 1
                and index[0] >= n_state
                and consumer.in_dirs[index[0] - n_state] == qrnn.FORWARD
                and step_schedule(consumer) is not None
            )
        return False

    for op in block.ops:
        values = op.results[:1]
        if isinstance(op, qrnn.QuantizeOp):
            lanes = 1
        elif isinstance(op, dataflow.MVAUOp):
            lanes = op.pe.value.data
        elif isinstance(op, STREAM_UNITS):
            lanes = width.get(op, 1)
        elif isinstance(op, qrnn.WindowOp) and streamable_window(op) and op in streamed_in:
            users = [u.operation for u in op.result.uses]
            lanes = users[0].simd.value.data if len(users) == 1 and isinstance(users[0], dataflow.MVAUOp) else 1
        elif isinstance(op, qrnn.RecurrenceOp) and (schedule := step_schedule(op)) is not None:
            values = [v for v, d in zip(op.outputs, op.out_dirs) if d == qrnn.FORWARD]
            lanes = schedule.lanes()
        else:
            continue
        for value in values:
            view, reshapes = value, []
            while len(users := [u.operation for u in view.uses]) == 1 and isinstance(users[0], qrnn.ReshapeOp):
                reshapes.append(users[0])
                view = users[0].result
            if len(users) != 1 or len(value.type.get_shape()) == 0:
                continue
            consumer = users[0]
            if value.type.get_shape()[-1] % lanes or view.type.get_shape()[-1] % lanes:
                continue
            if not consumer_accepts(op, consumer, view, lanes):
                continue
            out[value] = TopStream(op, value, view, consumer, lanes, tuple(reshapes))
            streamed_in.add(consumer)
            if isinstance(consumer, STREAM_UNITS):
                width[consumer] = lanes
            break  # one streamed result per process (a chain)
    return out
