"""The schedule analyses of the streaming kernel: how a recurrence's step streams (`step_schedule`), which
top-level values travel in FIFOs (`top_streams`) and which units a top-level MVAU applies itself
(`fused_epilogues`). Defined once, below `passes/`: `qrnn-to-dataflow` records the FIFO depths,
`qrnn-to-hlscpp` lowers the analyses to loops and FIFOs, and `lstmc.qor` counts their cycles.

The streamed step (`step_schedule`): a body made of one MVAU over the step's inputs, slices of it one gate of
H rows each, and elementwise units on [H] (or [B, H]) vectors runs as a pipeline of two processes. The MVAU
emits its rows interleaved by gate in groups of E elements (all G gates of elements kE..kE+E-1, E = PE /
gcd(PE, G) lanes) into one FIFO per gate, a group's G gates at once; the cell, ONE process, reads a group
from every gate FIFO per iteration and runs all the units on it, E lanes wide, in body order (FINN-GL runs
the cell as a chain of layers, one FIFO and one loop control per unit: the fused loop has neither, and the
chain's pipeline depth is one stage per unit instead of a read, a compute and a write per unit). A value is
ready `UNIT_STAGE` cycle after the last of its unit's operands, the gates `CELL_READ` after the group left
the MVAU; the depth of the cell (`StepSchedule.depth`) is the latest. The gate FIFOs hold `FIFO_MIN_DEPTH`
words per lane (written and read a group at a time), recorded as `fifo_depth` on the gate slices by
qrnn-to-dataflow: the depth qrnn-to-hlscpp emits and the QoR model reads (`fifo_depth`).

The x-overlapped step (`x_overlap`, `XOverlap`): the columns of x_t do not depend on h_{t-1}, so the MVAU
may compute the x-only column folds of step t + 1 (from x_{t+1}) behind the h-dependent folds of step t, in
the same flat loop, while the units drain step t; each row then starts from the x-part carried over. Step 0
has no carried x-part: its loop also runs its own x-only folds first (a longer trip count, the same
multipliers); the last step prepares no step T: its loop runs its h folds only. It depends on the folding and on the word width of the FIFO x_t may arrive in, so it is decided
where it is used, in this one function, by `qrnn-to-hlscpp` (which lowers it) and `lstmc.qor` (which counts
it): as the MVAU's `x_overlap` attribute says (qrnn-set-folding records it from the whole kernel's cycles
with and without, `choose_x_overlap`), else by the stage's own cycles.

The streamed top level (`top_streams`): which top-level values travel in FIFOs between processes, and how
many elements a word carries. It depends on the folding (an MVAU writes PE-wide words and reads SIMD-wide
ones), so it is computed where it is used, after `qrnn-set-folding`.

The line buffer (`LineBuffer`, FINN's ConvolutionInputGenerator): a window (kh x kw, strides sh, sw, no
padding) fed by a FIFO reads its image one row per phase into a circular buffer of kh + 1 rows and emits
output row yo in phase yo * sh + kh, right after its last row came in; the slot being written is the one
row no pending window needs, so rows are never copied or shifted. Phases all have one length, max(words in,
words out), so the lowering is one loop nest at II = 1 and its cycles a closed form; the phases before the
first window and between windows (sh > 1) only read. Which phase emits which row and the slot count are
decided here, once, for the lowering and the QoR model.

Fused epilogues (`fused_epilogues`): a convolution's or dense layer's MVAU whose accumulator has one reader,
the requantizer (its ReLU as the clamp), threshold or table unit that qrnn-legalize-precision chose, applies
that unit to each row before writing it, as FINN's MVTU applies thresholds to its accumulator. A separate
unit process would cost its own loop control and pipeline fill and a FIFO of accumulator words between the
two; fused, the MVAU's process writes the narrow codes. Decided once here; `top_streams`, qrnn-to-hlscpp and
lstmc.qor read it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, IntegerType, TensorType
from xdsl.ir import Block, BlockArgument, Operation, OpResult, SSAValue

from lstmc.dialects import dataflow, qrnn
from lstmc.ports import axis_bits_of, port_packing, reader_widths

CELL_READ = 1  # the cell process reads a group's gates from their FIFOs
UNIT_STAGE = 1  # one pipeline stage per unit of the cell (the last one also writes the states and y_t)
FIFO_MIN_DEPTH = 2  # what a FIFO between two processes running at the same rate needs


def shape_of(value: SSAValue) -> tuple[int, ...]:
    """The shape of a tensor value."""
    return tuple(SSAValue.get(value, type=TensorType).type.get_shape())


STREAM_UNITS = (qrnn.ThresholdOp, qrnn.LutOp, qrnn.IMulOp, qrnn.ScaledSumOp, qrnn.RequantOp)


def group_lanes(pe: int, gates: int) -> int:
    """E: elements per group of an MVAU with PE rows in parallel over G gates, so that a group (G * E rows)
    is a whole number of its PE-row folds."""
    return pe // math.gcd(pe, gates)


def row_order(pe: int, gates: int, hidden: int) -> np.ndarray:
    """The gate interleaving: MVAU row r computes the original column row_order[r] (gate g of element
    k*E + e at r = (k*G + g)*E + e, E = `group_lanes`)."""
    e_, g_, h_ = group_lanes(pe, gates), gates, hidden
    r = np.arange(g_ * h_)
    k, rem = np.divmod(r, g_ * e_)
    g, e = np.divmod(rem, e_)
    return g * h_ + k * e_ + e


@dataclass
class StepSchedule:
    """How one step of a recurrence streams (see the module docstring).

    Times are in cycles after a group of gate values leaves the MVAU. `fifo` maps every value that travels
    in a FIFO from the MVAU to the cell (the gate slices, or the MVAU result itself for one gate) to its depth
    in words per lane.
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
        """Cycles from the last group leaving the MVAU to the cell writing it: its read and the longest unit
        chain, a stage per unit."""
        return max((self.done[u.results[0]] for u in self.units), default=0)

    @property
    def element_shape(self) -> tuple[int, ...]:
        """The units' vectors: [H], or [B, H] for B sequences."""
        return (*self.mvau.result.type.get_shape()[:-1], self.hidden)

    def lanes(self, pe: int | None = None) -> int:
        """E: elements per group, so that a group (G * E rows) is a whole number of the MVAU's PE-row folds."""
        return group_lanes(self.mvau.pe.value.data if pe is None else pe, self.gates)

    def unit_iterations(self, pe: int | None = None) -> int:
        """Iterations of every unit's loop per step: one group (E lanes) each, for all B sequences."""
        return self.sequences * self.hidden // self.lanes(pe)

    def row_order(self, pe: int | None = None) -> np.ndarray:
        """The gate interleaving of this step's MVAU (`row_order`)."""
        return row_order(self.mvau.pe.value.data if pe is None else pe, self.gates, self.hidden)

    def stream_operands(self, unit: Operation) -> list[SSAValue]:
        return [v for v in unit.operands if v in self.gate_of or (isinstance(v, OpResult) and v.op in self.units)]

    def fed_part(self, view: SSAValue) -> int | None:
        """The MVAU input part that the recurrence's scanned input `view` feeds (its x_t), None if none."""
        arg = self.rec.body.block.args[len(self.rec.init) + list(self.rec.inputs).index(view)]
        return list(self.mvau.inputs).index(arg) if arg in self.mvau.inputs else None

    def x_parts(self) -> int:
        """How many of the MVAU's input parts are scanned inputs (x_t) ahead of its state parts (h_{t-1}):
        the parts whose x-only column folds can run a step ahead (`x_overlap`); 0 when the parts are in
        another order."""
        body = self.rec.body.block
        state = set(body.args[: len(self.rec.init)])
        kinds = [v in state for v in self.mvau.inputs]
        n = kinds.index(True) if True in kinds else len(kinds)
        return n if all(kinds[n:]) else 0

    def x_overlap(self, lanes: list[int | None] | None = None, *, depth: int, overhead: int) -> XOverlap | None:
        """The x-overlapped schedule of this step at the MVAU's folding (`x_overlap`), `lanes`: per scanned
        part the word width of the FIFO it arrives in (None: read from its [T][I] buffer), `depth`: the
        MVAU's pipeline depth (`lstmc.qor.mvau_depth`), `overhead`: the step region's (`lstmc.qor.STEP_OVERHEAD`)."""
        mv = self.mvau
        n = self.x_parts()
        return x_overlap(
            mv.rows,
            tuple(mv.part_sizes),
            n,
            mv.pe.value.data,
            mv.simd.value.data,
            self.sequences,
            self.depth,
            depth,
            self.rec.seq_len,
            tuple(lanes) if lanes is not None else (None,) * n,
            overhead,
            overlap_choice(mv),
        )


# the x-overlapped schedule is taken when it saves at least this fraction of the stage's cycles: all it costs
# is the carried x-part, 2 x B x rows accumulator registers (flip-flops, and the multiplexers that index them
# by row); the multipliers and the weights are the step's own
OVERLAP_MIN_GAIN = (1, 50)


@dataclass(frozen=True)
class XOverlap:
    """The x-overlapped step (`x_overlap`): the MVAU's flat loop runs, per step t, its h-dependent column
    folds of step t (folds `x_folds` .. CF - 1, combining each row with the x-part accumulated in the
    previous step), then the x-only column folds 0 .. `x_folds` - 1 of step t + 1 from x_{t+1} into the next
    x-part accumulators. Step 0 has no x-part carried over: its loop runs all CF folds of each row of step 0
    (the x-only ones from x_0) before the x-only folds of step 1, `x_iterations` more (`first_iterations`),
    on the same multipliers. The last step has no step T to prepare: its loop runs its h folds only
    (`last_iterations`). A scanned part arriving in a FIFO is read two steps ahead by a process of its
    own beside the MVAU (`read` cycles per step)."""

    x_folds: int  # XF: column folds made of scanned-input columns only (floor(I / SIMD))
    column_folds: int  # CF
    row_folds: int  # RF = rows / PE
    sequences: int  # B (turns of the flat loop)
    read: int = 0  # the process reading x_{t+2} from a FIFO beside the loop: words + 2 cycles (0: buffers)

    @property
    def h_iterations(self) -> int:
        """B * RF * (CF - XF): the h-dependent folds of step t (the critical path to the units)."""
        return self.sequences * self.row_folds * (self.column_folds - self.x_folds)

    @property
    def x_iterations(self) -> int:
        """B * RF * XF: the x-only folds of step t + 1 (and, at step 0, those of step 0 too)."""
        return self.sequences * self.row_folds * self.x_folds

    @property
    def iterations(self) -> int:
        """The flat loop's trip count at steps t > 0: h_iterations + x_iterations (B * RF * CF, as the full
        MVAU's)."""
        return self.h_iterations + self.x_iterations

    @property
    def first_iterations(self) -> int:
        """The flat loop's trip count at step 0: all CF folds of step 0, then the x-only folds of step 1,
        B * RF * (CF + XF)."""
        return self.iterations + self.x_iterations

    @property
    def last_iterations(self) -> int:
        """The flat loop's trip count at the last step: its h folds only (there is no step T to prepare)."""
        return self.h_iterations

    def step(self, depth: int, chain: int) -> int:
        """Cycles of a step t > 0 without the region's overhead: the loop with its pipeline `depth`, the last
        group (after h_iterations) through the unit `chain`, or the read of x_{t+2}, whichever ends last."""
        return max(self.iterations + depth, self.h_iterations + depth + chain, self.read)

    def first_step(self, depth: int, chain: int) -> int:
        """Cycles of step 0 without the region's overhead: its loop with its pipeline `depth`, its last group
        (after all B * RF * CF folds of step 0) through the unit `chain`, or the read of x_2."""
        return max(self.first_iterations + depth, self.iterations + depth + chain, self.read)

    def last_step(self, depth: int, chain: int) -> int:
        """Cycles of the last step (t = T - 1 > 0) without the region's overhead: its h folds, then its last
        group through the unit `chain` (no x-only folds, and no x_{t+2} to read)."""
        return self.last_iterations + depth + chain

    def once(self, depth: int, chain: int) -> int:
        """What step 0 takes more and the last step less than a step t in between, once per inference."""
        step = self.step(depth, chain)
        return self.first_step(depth, chain) - step + self.last_step(depth, chain) - step


X_OVERLAP = "x_overlap"  # on a recurrence's dataflow.mvau: 1/0 takes/refuses the x-overlapped step


def overlap_choice(mvau: Operation) -> bool | None:
    """The MVAU's `X_OVERLAP` attribute (qrnn-set-folding records which schedule gives the fewer cycles per
    inference, judged in the whole top-level chain), or None: then `x_overlap`'s rule on the stage decides."""
    attr = mvau.attributes.get(X_OVERLAP)
    return bool(attr.value.data) if isinstance(attr, IntegerAttr) else None


def x_overlap(
    rows: int,
    part_sizes: tuple[int, ...],
    x_parts: int,
    pe: int,
    simd: int,
    sequences: int,
    chain: int,
    depth: int,
    steps: int,
    lanes: tuple[int | None, ...],
    overhead: int,
    choice: bool | None = None,
) -> XOverlap | None:
    """Whether a streamed step runs the x-only column folds of step t + 1 behind the h-dependent folds of step
    t (the one decision the lowering and the QoR model read), and how. The MVAU's parts are `x_parts` scanned
    inputs, then the states; `lanes[p]`: the word width of the FIFO scanned part p arrives in, None for a
    buffer; `depth`: the MVAU's pipeline depth, `overhead`: a step region's start/finish and state copy
    (`lstmc.qor.STEP_OVERHEAD`). A FIFO part is read two steps ahead: x_0 and x_1 before the steps, x_{t+2}
    during step t by a process of its own into a register array that no other process of the step reads
    (x_{t+1}, which the x phase reads, came in the step before), R = words + 2 cycles beside the loop. Needs a
    step 1 (T > 1; a run-time T may be 1: step 0 is then the last step too, without an x phase). Taken when
    the whole stage takes at most (1 - `OVERLAP_MIN_GAIN`) of its cycles without it:
        2R + T * (step + overhead) + once <= (1 - 1/50) * (R + T * (old step + overhead))
    (`XOverlap.step`, `XOverlap.once`: step 0's extra cycles less the last step's; the old step is max(full MVAU + depth + chain, R), R = 0 without
    a FIFO). `choice` (the MVAU's `X_OVERLAP` attribute, `overlap_choice`) overrides that rule: False never,
    True whenever the schedule applies."""
    if choice is False or x_parts == 0 or steps < 2 or rows % pe or sum(part_sizes) % simd:
        return None
    cols = sum(part_sizes)
    column_folds, row_folds = cols // simd, rows // pe
    x_folds = sum(part_sizes[:x_parts]) // simd
    if x_folds == 0:
        return None
    words = max((sequences * size // w for size, w in zip(part_sizes, lanes) if w is not None), default=0)
    read = words + 2 if words else 0  # a read loop of `words` iterations and its depth (ELEMENTWISE_DEPTH)
    plan = XOverlap(x_folds, column_folds, row_folds, sequences, read)
    old = read + steps * (max(sequences * row_folds * column_folds + depth + chain, read) + overhead)
    new = 2 * read + steps * (plan.step(depth, chain) + overhead) + plan.once(depth, chain)
    gain, whole = OVERLAP_MIN_GAIN
    if choice is None and whole * new > (whole - gain) * old:
        return None
    return plan


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
    lead = shape_of(mvau.result)[:-1]
    rows = mvau.rows
    users = [u.operation for u in mvau.result.uses]
    slices = [s for s in users if isinstance(s, qrnn.SliceOp)]
    gate_of: dict[SSAValue, int]
    if slices and len(slices) == len(users):
        hidden = slices[0].size
        if rows % hidden or any(s.size != hidden or s.start % hidden for s in slices):
            return None
        gate_of = {}
        for s in slices:
            gate_of[s.result] = s.start // hidden
    elif not slices:
        hidden, gate_of = rows, {}
        gate_of[mvau.result] = 0
    else:
        return None
    shape = (*lead, hidden)
    units: list[Operation] = []
    consts: set[SSAValue] = set()
    for op in body.ops:
        if op is mvau or isinstance(op, (qrnn.SliceOp, qrnn.YieldOp)):
            continue
        if isinstance(op, qrnn.ConstantOp):
            consts.add(op.result)
        elif isinstance(op, STREAM_UNITS) and shape_of(op.results[0]) == shape:
            units.append(op)
        else:
            return None
    produced = {u.results[0] for u in units}
    for u in units:
        for v in u.operands:
            if shape_of(v) != shape:
                return None
            if not (v in gate_of or v in produced or v in consts or (isinstance(v, BlockArgument) and v.owner is body)):
                return None
    if any(u.operation not in units for v in gate_of for u in v.uses):
        return None  # a gate yielded or used by something else than a unit
    if any(u.operation not in units for v in consts for u in v.uses):
        return None
    assert body.last_op is not None
    if any(v not in produced for v in body.last_op.operands):
        return None  # a yielded state or output that no unit computes (a pass-through)
    for arg in body.args[n_state:]:  # a scanned input is one array: it may have one reader in the step
        readers = {u.operation for u in arg.uses}
        if len(readers) > 1:
            return None
    schedule = StepSchedule(rec, mvau, rows // hidden, hidden, lead[0] if lead else 1, units, gate_of)
    done = schedule.done
    for v in gate_of:
        done[v] = CELL_READ
        schedule.fifo[v] = FIFO_MIN_DEPTH
    for u in units:
        done[u.results[0]] = max((done[v] for v in schedule.stream_operands(u)), default=CELL_READ) + UNIT_STAGE
    return schedule


TOP_FIFO_DEPTH = 2  # the least a FIFO between two top-level processes of a streamed chain holds (words per lane)
TOP_FIFO_DEPTH_ATTR = "top_fifo_depth"  # on a top-level process: the depth qrnn-size-fifos gave the FIFO it writes


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


def top_fifo_depth(st: TopStream) -> int:
    """The depth of a streamed chain's FIFO, in words per lane: what qrnn-size-fifos recorded on its producer
    (`TOP_FIFO_DEPTH_ATTR`, sized by simulating the chain: `lstmc.chain_sim.size_fifos`), else
    `TOP_FIFO_DEPTH`. The one place qrnn-to-hlscpp (which emits it) and lstmc.qor (which costs it) read it."""
    attr = st.producer.attributes.get(TOP_FIFO_DEPTH_ATTR)
    return attr.value.data if isinstance(attr, IntegerAttr) else TOP_FIFO_DEPTH


@dataclass(frozen=True)
class LineBuffer:
    """The row schedule of a line buffer (FINN's ConvolutionInputGenerator) over an image of `rows` (H) rows
    for a kernel `kernel` (kh) rows high at row stride `stride` (sh), no padding: Ho = (H - kh) // sh + 1
    output rows. It runs `phases` phases of one length; phase p reads image row p (p < H) into row slot
    p mod `slots` and, when p = yo * sh + kh (`emit_phase`), emits the patches of output row yo, whose rows
    yo * sh .. p - 1 all came in the phases before. A pure function of the sizes, the one schedule
    qrnn-to-hlscpp lowers and lstmc.qor counts."""

    rows: int  # H
    kernel: int  # kh
    stride: int  # sh

    @property
    def out_rows(self) -> int:
        """Ho: the output rows (no padding)."""
        return (self.rows - self.kernel) // self.stride + 1

    def emit_phase(self, out_row: int) -> int:
        """The phase emitting output row yo: the one after the phase reading its last row, yo * sh + kh - 1."""
        return out_row * self.stride + self.kernel

    def emits(self, phase: int) -> int | None:
        """The output row phase p emits, or None (before the first window is complete, between two windows
        at a row stride > 1, or after the last one)."""
        yo, rem = divmod(phase - self.kernel, self.stride)
        return yo if phase >= self.kernel and rem == 0 and yo < self.out_rows else None

    @property
    def phases(self) -> int:
        """Every image row is read (the FIFO carries them all, also rows below the last window) and every
        output row emitted: max(H, emit_phase(Ho - 1) + 1), H + 1 when the last window ends at row H - 1."""
        return max(self.rows, self.emit_phase(self.out_rows - 1) + 1)

    @property
    def slots(self) -> int:
        """Row slots of the circular buffer: an emitting phase reads its kh rows while it writes the next
        image row into another slot, kh + 1 (kh when the window is the whole image: no phase does both)."""
        return self.kernel + 1 if self.kernel < self.rows else self.kernel

    def iterations(self, reads: int, writes: int) -> int:
        """The loop nest's trip count: `phases` x max(reads, writes), `reads` words in per image row and
        `writes` words out per output row (a phase reads and emits in parallel, one word each per cycle)."""
        return self.phases * max(reads, writes)

    def fill_iterations(self, reads: int, writes: int) -> int:
        """Iterations before the first word out: the kh phases reading the first window."""
        return self.kernel * max(reads, writes)


def line_buffer(op: qrnn.WindowOp) -> LineBuffer:
    """The row schedule of `op`'s line buffer."""
    return LineBuffer(shape_of(op.input)[0], op.kernel_size[0], op.stride[0])


def streamable_window(op: qrnn.WindowOp) -> bool:
    """A window the line buffer generates (`LineBuffer`): every window without padding, any kernel height and
    row stride (kh + 1 rows of W x C words instead of a whole-array patch copy between ping-pong buffers)."""
    return line_buffer(op).out_rows >= 1


EPILOGUE_UNITS = (qrnn.RequantOp, qrnn.ThresholdOp, qrnn.LutOp)  # one operand: applied to an accumulator alone


def fused_epilogues(block: Block) -> dict[Operation, Operation]:
    """The top-level MVAUs that apply the elementwise unit behind them to each output row before writing it
    (FINN's MVTU: the activation on the accumulator), MVAU -> unit; the one decision `top_streams`,
    qrnn-to-hlscpp and lstmc.qor read. Fused: a convolution's or dense layer's MVAU (not inside a
    recurrence) whose result has exactly one use, by a requantizer, threshold or table unit over the same
    shape (whichever qrnn-legalize-precision chose). The unit's own process, its loop control and pipeline
    fill and the FIFO (or buffer) of accumulators between them go away; what leaves the MVAU is the unit's
    narrow codes."""
    if not isinstance(block.parent_op(), func.FuncOp):
        return {}
    out: dict[Operation, Operation] = {}
    for op in block.ops:
        if not isinstance(op, dataflow.MVAUOp):
            continue
        uses = list(op.result.uses)
        if len(uses) != 1:
            continue
        unit = uses[0].operation
        if (
            isinstance(unit, EPILOGUE_UNITS)
            and len(unit.operands) == 1
            and len(unit.results) == 1
            and shape_of(unit.results[0]) == shape_of(op.result)
        ):
            out[op] = unit
    return out


def top_streams(block: Block) -> dict[SSAValue, TopStream]:
    """The FIFOs of the top-level DATAFLOW region, keyed by the value the producer writes (the one analysis
    qrnn-to-hlscpp lowers and lstmc.qor counts). A value streams when it has a single reader (through
    reshapes) that consumes it in the producer's row-major order, one word after the other:
    - producers: an input port's reader (words of the first of `lstmc.ports.reader_widths` that divides the
      last axis and that its consumer takes: a beat of P codes, whole beats, a part of a beat; else 1
      element per word), a convolution's or dense layer's MVAU
      (PE rows per word), an elementwise unit (the width of its streamed operand, else 1), a line buffer
      (`streamable_window`: the SIMD of the MVAU it feeds), a streamed recurrence's forward scan output
      (y_t as its step computes it, E elements per word);
    - readers: an elementwise unit (one streamed operand), an MVAU over one input part whose SIMD is the
      word width, a line buffer, a forward scanned input of a streamed recurrence (x_t in time order), an
      output port's writer (a `qrnn.dequantize`) of a recurrence's output.
    A reverse direction reads or writes row T - 1 - t at step t, and a value with several readers is needed
    whole by at least one of them (or read twice): those keep their [T][N] buffer.
    The word width must divide the last axis of the value and of the view. Chains only: every process has
    at most one streamed operand and one streamed result. An MVAU with a fused epilogue (`fused_epilogues`)
    writes the epilogue's result (PE codes per word); the epilogue is no process of its own. A run-time T
    (`lstmc.max_seq_len`) changes nothing here: only port readers, recurrences and port writers touch the time
    axis then, and each of them moves seq_len rows."""
    fn = block.parent_op()
    width: dict[Operation, int] = {}
    streamed_in: set[Operation] = set()
    out: dict[SSAValue, TopStream] = {}

    def consumer_accepts(producer: Operation, consumer: Operation, view: SSAValue, lanes: int) -> bool:
        if consumer in streamed_in:
            return False
        if isinstance(consumer, STREAM_UNITS):
            return shape_of(consumer.results[0]) == shape_of(view)
        if isinstance(consumer, dataflow.MVAUOp):
            return len(consumer.inputs) == 1 and consumer.simd.value.data == lanes
        if isinstance(consumer, qrnn.WindowOp):
            if isinstance(producer, qrnn.QuantizeOp) and lanes > 1:  # row buffers split by the wider word
                users = [u.operation for u in consumer.result.uses]
                out = users[0].simd.value.data if len(users) == 1 and isinstance(users[0], dataflow.MVAUOp) else 1
                if lanes % out and out % lanes:
                    return False
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

    axis_bits = axis_bits_of(fn) if isinstance(fn, func.FuncOp) else None
    epilogues = fused_epilogues(block)
    absorbed = set(epilogues.values())
    for op in block.ops:
        if op in absorbed:
            continue
        values = epilogues[op].results[:1] if op in epilogues else op.results[:1]
        choices: tuple[int, ...] = ()  # other word widths to try, widest first (an input port's reader)
        if isinstance(op, qrnn.QuantizeOp):
            # the port's reader: a beat's P codes as one word of P lanes when its consumer takes them, else a
            # word of whole beats or of a part of a beat (`reader_widths`)
            lanes = 1
            bits = SSAValue.get(op.result, type=TensorType).type.get_element_type()
            per_beat = port_packing(bits.width.data, axis_bits)[1] if isinstance(bits, IntegerType) else 1
            choices = reader_widths(per_beat, (shape_of(op.result) or (1,))[-1])
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
            if len(users) != 1 or len(shape_of(value)) == 0:
                continue
            consumer = users[0]
            # a line buffer fed by a port's reader takes its words across the channels of a row (W * C)
            row = shape_of(view)[-1]
            if isinstance(op, qrnn.QuantizeOp) and isinstance(consumer, qrnn.WindowOp) and len(shape_of(view)) == 3:
                row *= shape_of(view)[-2]
            fits = [
                n
                for n in (*choices, lanes)
                if not (shape_of(value)[-1] % n or row % n) and consumer_accepts(op, consumer, view, n)
            ]
            if not fits:
                continue
            lanes = fits[0]
            out[value] = TopStream(op, value, view, consumer, lanes, tuple(reshapes))
            streamed_in.add(consumer)
            if isinstance(consumer, STREAM_UNITS):
                width[consumer] = lanes
            break  # one streamed result per process (a chain)
    return out


@dataclass(frozen=True)
class Chain:
    """One chain of processes joined by FIFOs (`top_streams`), in stream order."""

    ops: tuple[Operation, ...]
    streams: tuple[TopStream, ...]  # streams[k] joins ops[k] and ops[k + 1]


def chains(block: Block, streams: dict[SSAValue, TopStream] | None = None) -> list[Chain]:
    """The chains of the streamed top level of `block` (a kernel function's body); `streams`: its
    `top_streams`, when the caller has them."""
    streams = top_streams(block) if streams is None else streams
    out_of = {st.producer: st for st in streams.values()}
    into = {st.consumer: st for st in streams.values()}
    found = []
    for head in [op for op in block.ops if op in out_of and op not in into]:
        ops, links, op = [head], [], head
        while op in out_of:
            st = out_of[op]
            links.append(st)
            op = st.consumer
            ops.append(op)
        found.append(Chain(tuple(ops), tuple(links)))
    return found
