"""A cycle-level simulation of the streamed top level: every process of a chain (`lstmc.schedule.top_streams`)
as the loop nest qrnn-to-hlscpp emits, word by word through FIFOs of given depths.

Why: `lstmc.qor` counts a chain in closed form (the sum of the fills plus the bottleneck), which assumes every
process keeps its own pace between its first word in and its last word out. Processes whose reads or writes
come in bursts (a line buffer's read-only phases, an MVAU that reads only in its first row fold, a
recurrence that takes x_t at the start of each step) can starve the bottleneck when the FIFO between them
is too shallow to carry the burst; FINN sizes its FIFOs by simulating the design for the same reason. Here
the simulation runs on the schedule alone (the same analyses the lowering and the estimate read), in
milliseconds, so every kernel can be checked and its FIFOs sized (`size_fifos`).

The model of a process (what the emitted code does at II = 1): a pipeline of D stages running its loop
nest's iterations in order; an iteration may read one word from the FIFO in front (at its first stage) and
write one to the FIFO behind (at its last stage, D - 1 cycles later). The pipeline advances in a cycle only
if the iteration entering it finds its word and the iteration leaving it finds room (Vitis HLS's default
stall pipeline: a blocked read or write freezes every stage). A word written in cycle c can be read from
cycle c + 1; a slot freed in cycle c can be written from cycle c + 1. A process is done D + 1 cycles after
its last iteration entered, so one that never stalls takes `lstmc.qor`'s C = iterations + D.

A streamed recurrence (`lstmc.schedule.step_schedule`) runs its steps as regions one after the other: x_0
(and x_1 on the x-overlapped schedule) read before the first, then per step t a prefetch loop reading
x_{t+1} (x_{t+2}) at II = 1 beside the step's compute, which writes y_t's groups as the cell finishes them;
the region ends when both are done, plus `STEP_OVERHEAD` (`lstmc.qor`'s step, first and last step cycles).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from xdsl.dialects import func
from xdsl.ir import Block, Operation, SSAValue

from lstmc.dialects import dataflow, qrnn
from lstmc.schedule import (
    STREAM_UNITS,
    Chain,
    TopStream,
    chains,
    fused_epilogues,
    line_buffer,
    shape_of,
    step_schedule,
    top_fifo_depth,
)

UNBOUNDED = 1 << 40  # a FIFO depth that never fills
NEVER = 1 << 62  # a process waiting for another one's word or slot: no event of its own


@dataclass
class Fifo:
    """Words written (the cycle of each) and read so far; a read in cycle c frees its slot from c + 1."""

    depth: int
    written: list[int] = field(default_factory=list)
    reads: int = 0
    read_at: list[int] = field(default_factory=list)
    peak: int = 0
    _last_read: int = -1
    _reads_then: int = 0  # reads in cycle _last_read

    def readable(self, cycle: int) -> bool:
        return self.reads < len(self.written) and self.written[self.reads] < cycle

    def writable(self, cycle: int) -> bool:
        freed = self.reads - (self._reads_then if self._last_read == cycle else 0)
        return len(self.written) - freed < self.depth

    def read(self, cycle: int) -> None:
        self.reads += 1
        self.read_at.append(cycle)
        self._reads_then = self._reads_then + 1 if self._last_read == cycle else 1
        self._last_read = cycle

    def write(self, cycle: int) -> None:
        self.written.append(cycle)
        self.peak = max(self.peak, len(self.written) - self.reads)


def _next_true(flags: list[bool]) -> list[int]:
    """For every index, the first index at or after it whose flag is set (len(flags) if none)."""
    out, nxt = [0] * (len(flags) + 1), len(flags)
    out[len(flags)] = nxt
    for i in range(len(flags) - 1, -1, -1):
        if flags[i]:
            nxt = i
        out[i] = nxt
    return out


@dataclass
class Loop:
    """A pipelined loop nest of `depth` stages: per iteration whether it reads a word (`reads`, at its first
    stage) and writes one (`writes`, at its last stage, depth - 1 cycles later)."""

    name: str
    reads: list[bool]
    writes: list[bool]
    depth: int
    inp: Fifo = field(default_factory=lambda: Fifo(UNBOUNDED))  # (a loop reading no FIFO never touches it)
    out: Fifo = field(default_factory=lambda: Fifo(UNBOUNDED))
    next: int = 0
    pipe: deque = field(default_factory=deque)  # the iterations in stages 1 .. depth - 1 (None: a bubble)
    busy: int = 0  # iterations in the pipe
    done: int | None = None
    entered: list[int] = field(default_factory=list)  # the cycle each iteration entered

    def words_read(self) -> int:
        return sum(self.reads)

    def words_written(self) -> int:
        return sum(self.writes)

    def __post_init__(self) -> None:
        assert self.depth >= 2, "every process has a read/compute and a write stage"
        self.pipe.extend([None] * (self.depth - 1))
        self._next_read, self._next_write = _next_true(self.reads), _next_true(self.writes)

    def step(self, cycle: int) -> bool:
        """Advance the pipeline in `cycle` if the entering iteration finds its word and the one reaching the
        last stage finds room; returns whether it did."""
        if self.done is not None:
            return False
        n = len(self.reads)
        entering = self.next if self.next < n else None
        leaving = self.pipe[0]
        if entering is not None and self.reads[entering] and not self.inp.readable(cycle):
            return False
        if leaving is not None and self.writes[leaving] and not self.out.writable(cycle):
            return False
        if entering is not None:
            if self.reads[entering]:
                self.inp.read(cycle)
            self.entered.append(cycle)
            self.next += 1
            self.busy += 1
        if leaving is not None:
            if self.writes[leaving]:
                self.out.write(cycle)
            self.busy -= 1
        self.pipe.popleft()
        self.pipe.append(entering)
        if self.busy == 0 and self.next == n:
            self.done = cycle + 2  # the last write + 2: C = iterations + depth when it never stalls
        return True

    def asap(self, arrivals: list[int]) -> tuple[list[int], list[int], int]:
        """With FIFOs that never fill and its words written at `arrivals`: (the cycles it reads them, the
        cycles it writes its own, the cycle it is done), as `step` would run it. Only a read stalls the
        pipeline then, and it holds the iterations in flight too: iteration i writes when iteration
        i + depth - 1 enters (or, draining, one cycle after the other)."""
        n, prev, r = len(self.reads), -1, 0
        entered, reads = [0] * n, []
        for i in range(n):
            e = prev + 1
            if self.reads[i]:
                e = max(e, arrivals[r] + 1)
                reads.append(e)
                r += 1
            entered[i] = prev = e
        lag = self.depth - 1
        left = [entered[i + lag] if i + lag < n else prev + i + lag - (n - 1) for i in range(n)]
        writes = [c for c, w in zip(left, self.writes) if w]
        return reads, writes, (left[-1] + 2 if n else 0)

    def quiet(self, cycle: int) -> int:
        """Cycles from `cycle` on in which it advances without touching a FIFO or finishing (NEVER while it
        waits for a word or a slot)."""
        if self.done is not None:
            return NEVER
        n = len(self.reads)
        if self.next < n and self.reads[self.next] and not self.inp.readable(cycle):
            return NEVER
        if self.pipe[0] is not None and self.writes[self.pipe[0]] and not self.out.writable(cycle):
            return NEVER
        reading = self._next_read[self.next] - self.next if self.next < n else NEVER
        writing = last = NEVER
        for k, i in enumerate(self.pipe):  # the iterations leaving in the next depth - 1 cycles
            if i is not None:
                if self.writes[i] and writing == NEVER:
                    writing = k
                last = k
        if self.next < n:
            if writing == NEVER and self._next_write[self.next] < n:
                writing = len(self.pipe) + self._next_write[self.next] - self.next
            last = len(self.pipe) + n - 1 - self.next
        return min(reading, writing, last)

    def skip(self, cycle: int, cycles: int) -> None:
        """Advance `cycles` quiet cycles from `cycle` at once (`quiet`)."""
        n = len(self.reads)
        entered = list(range(self.next, min(self.next + cycles, n)))
        seq = list(self.pipe) + entered + [None] * (cycles - len(entered))
        left = seq[:cycles]
        self.pipe = deque(seq[cycles:])
        self.entered.extend(range(cycle, cycle + len(entered)))
        self.next += len(entered)
        self.busy += len(entered) - sum(i is not None for i in left)


class Recurrence:
    """A streamed recurrence (see the module docstring): `pre` read loops of x words before the steps (each
    words + 2 cycles), then per step t a region: `step_words[t]` words read at II = 1 from its start, y_t's
    words written `y_offsets[t]` cycles after its start (later if the FIFO is full: the cell waits and the
    rest of the step slips), ending at max(start + compute[t] + slip, last read + 3) + `overhead`."""

    def __init__(self, name, pre, step_words, compute, y_offsets, overhead, inp, out):
        self.name, self.inp, self.out = name, inp, out
        self.pre_words = tuple(pre)  # (the words of each read loop before the steps)
        self.pre, self.step_words, self.compute, self.y_offsets = list(pre), step_words, compute, y_offsets
        self.overhead, self.done = overhead, None
        self.t = -1 if self.pre else 0
        self._start_loop(0)

    def words_read(self) -> int:
        return sum(self.pre_words) + sum(self.step_words)

    def asap(self, arrivals: list[int]) -> tuple[list[int], list[int], int]:
        """As `Loop.asap`: its read loops and regions one after the other, y_t's words on time."""
        reads, writes, r, start = [], [], 0, 0

        def read_loop(words: int, start: int) -> int:  # the loop's end without the region's
            nonlocal r
            last = None
            for _ in range(words):
                last = max(start if last is None else last + 1, arrivals[r] + 1)
                reads.append(last)
                r += 1
            return last + 3 if last is not None else start

        for words in self.pre_words:
            start = read_loop(words, start)
        for t, compute in enumerate(self.compute):
            writes.extend(start + off for off in self.y_offsets[t])
            start = max(start + compute, read_loop(self.step_words[t], start)) + self.overhead
        return reads, writes, start

    def words_written(self) -> int:
        return sum(map(len, self.y_offsets))

    def _start_loop(self, cycle: int) -> None:
        """Start the next read loop before the steps (t = -1) or step t's region."""
        self.start, self.last_read, self.slip = cycle, None, 0
        if self.t < 0:
            self.to_read, self.y = self.pre.pop(0), deque()
        else:
            self.to_read, self.y = self.step_words[self.t], deque(self.y_offsets[self.t])

    def _end(self) -> int:
        end = self.last_read + 3 if self.last_read is not None else self.start
        if self.t >= 0:
            end = max(self.start + self.compute[self.t] + self.slip, end) + self.overhead
        return end

    def step(self, cycle: int) -> bool:
        if self.done is not None:
            return False
        acted = False
        if not self.to_read and not self.y and cycle >= self._end():  # this loop or region is over
            if self.t + 1 == len(self.compute):
                self.done = cycle
                return True
            self.t += 0 if self.t < 0 and self.pre else 1
            self._start_loop(cycle)
            acted = True
        if self.to_read and self.inp.readable(cycle):  # the read loop: a word per cycle
            self.inp.read(cycle)
            self.to_read -= 1
            self.last_read, acted = cycle, True
        if self.y and cycle >= self.start + self.y[0] + self.slip:
            if self.out.writable(cycle):
                self.out.write(cycle)
                self.y.popleft()
                acted = True
            else:
                self.slip += 1  # the cell waits for room: the rest of the step slips
        return acted

    def quiet(self, cycle: int) -> int:
        if self.done is not None:
            return NEVER
        reading = 0 if self.to_read and self.inp.readable(cycle) else NEVER
        writing = NEVER
        if self.y:
            due = self._due()
            writing = max(due - cycle, 0) if due > cycle or self.out.writable(cycle) else NEVER
        if self.to_read or self.y:
            return min(reading, writing)
        return max(self._end() - cycle, 0)

    def _due(self) -> int:
        return self.start + self.y[0] + self.slip

    def skip(self, cycle: int, cycles: int) -> None:
        """`cycles` quiet cycles from `cycle`: a y_t word due and waiting for room slips the step by as many."""
        if self.y and self._due() <= cycle and not self.out.writable(cycle):
            self.slip += cycles


Process = Loop | Recurrence


# ------------------------------------------------------------------------------------------ building chains
def _elements(value: SSAValue) -> int:
    return math.prod(shape_of(value))


def _side(fifo: Fifo | None) -> Fifo:
    """`fifo`, or for a side no FIFO joins one that the process never touches."""
    return fifo if fifo is not None else Fifo(UNBOUNDED)


def _reader(op: qrnn.QuantizeOp, st: TopStream, out: Fifo) -> Loop:
    from lstmc.ports import port_rate
    from lstmc.qor import ELEMENTWISE_DEPTH, codes_per_beat

    n, per_beat, lanes = _elements(op.result), codes_per_beat(op.result), st.lanes
    rate = port_rate(lanes, per_beat)
    iters = n // rate
    beats = lanes // per_beat if per_beat > 1 and lanes % per_beat == 0 else 1
    writes = [(i + 1) % beats == 0 for i in range(iters)]  # a word of k beats is whole at its last
    return Loop(f"read {op.result.name_hint}", [False] * iters, writes, ELEMENTWISE_DEPTH, _side(None), out)


def _writer(op: qrnn.DequantizeOp, lanes: int, inp: Fifo) -> Loop:
    from lstmc.ports import port_rate
    from lstmc.qor import ELEMENTWISE_DEPTH, codes_per_beat

    n, per_beat = _elements(op.input), codes_per_beat(op.input)
    rate = port_rate(lanes, per_beat)
    iters = n // rate
    per_word = lanes // rate  # iterations per word: k beats, 1, or L codes one at a time
    reads = [i % per_word == 0 for i in range(iters)]
    return Loop(f"write {op.result.name_hint}", reads, [False] * iters, ELEMENTWISE_DEPTH, inp, _side(None))


def _window(op: qrnn.WindowOp, lanes_in: int, lanes_out: int, inp: Fifo, out: Fifo | None) -> Loop:
    from lstmc.qor import ELEMENTWISE_DEPTH

    (kh, kw), (_, wo) = op.kernel_size, op.out_hw
    h, w, c = shape_of(op.input)
    sched = line_buffer(op)
    reads_per_row, writes_per_row = w * c // lanes_in, wo * kh * kw * c // lanes_out
    phase = max(reads_per_row, writes_per_row)
    reads, writes = [], []
    for y in range(sched.phases):
        emits = sched.emits(y) is not None
        for i in range(phase):
            reads.append(y < h and i < reads_per_row)
            writes.append(out is not None and emits and i < writes_per_row)
    return Loop(f"window {op.result.name_hint}", reads, writes, ELEMENTWISE_DEPTH, inp, _side(out))


def _mvau(op: dataflow.MVAUOp, fused: bool, inp: Fifo | None, out: Fifo | None) -> Loop:
    from lstmc.qor import EPILOGUE_DEPTH, mvau_depth

    pe, simd = op.pe.value.data, op.simd.value.data
    rf, cf = op.rows // pe, op.columns // simd
    reads, writes = [], []
    for _ in range(op.vectors):
        for nf in range(rf):
            for sf in range(cf):
                reads.append(inp is not None and nf == 0)
                writes.append(out is not None and sf == cf - 1)
    depth = mvau_depth(simd) + (EPILOGUE_DEPTH if fused else 0)
    return Loop(f"mvau {op.result.name_hint}", reads, writes, depth, _side(inp), _side(out))


def _unit(op: Operation, lanes: int, inp: Fifo | None, out: Fifo | None) -> Loop:
    from lstmc.qor import ELEMENTWISE_DEPTH

    iters = _elements(op.results[0]) // lanes
    return Loop(
        f"unit {op.results[0].name_hint}",
        [inp is not None] * iters,
        [out is not None] * iters,
        ELEMENTWISE_DEPTH,
        _side(inp),
        _side(out),
    )


def _recurrence(rec: qrnn.RecurrenceOp, into: TopStream | None, inp: Fifo | None, out: Fifo | None) -> Recurrence:
    from lstmc.qor import STEP_OVERHEAD, mvau_depth, mvau_spec

    schedule = step_schedule(rec)
    assert schedule is not None, "a streamed recurrence"
    mv = schedule.mvau
    pe, simd, steps = mv.pe.value.data, mv.simd.value.data, rec.seq_len
    spec = mvau_spec(mv, schedule)
    words, x_lanes = 0, None
    if into is not None:
        fed = schedule.fed_part(into.view)
        x_lanes = [into.lanes if p == fed else None for p in range(spec.x_parts)]
        words = _elements(into.value) // steps // into.lanes
    plan = spec.overlap(pe, simd, steps, x_lanes)
    _, step, first, last = spec.streamed_step(pe, simd, steps, x_lanes)
    ahead = 2 if plan is not None and into is not None else 1  # x_{t+2} or x_{t+1} read during step t
    pre = [words] * ahead if into is not None else []
    step_words = [words if into is not None and t + ahead < steps else 0 for t in range(steps)]
    compute = [step - STEP_OVERHEAD + (first if t == 0 else 0) + (last if t == steps - 1 else 0) for t in range(steps)]
    offsets: list[list[int]] = [[] for _ in range(steps)]
    if out is not None:
        groups = schedule.unit_iterations(pe)
        full = schedule.sequences * (mv.rows // pe) * (mv.columns // simd)
        behind = mvau_depth(simd) + schedule.depth - 1
        for t in range(steps):
            rows = full if plan is None or t == 0 else plan.h_iterations
            offsets[t] = [math.ceil((g + 1) * rows / groups) - 1 + behind for g in range(groups)]
    name = f"recurrence {rec.attributes.get('lstmc.onnx_node', '')}"
    return Recurrence(name, pre, step_words, compute, offsets, STEP_OVERHEAD, _side(inp), _side(out))


def build(chain: Chain, block: Block, depths: list[int]) -> tuple[list[Process], list[Fifo]]:
    """The processes of `chain` joined by FIFOs of the given depths (one per stream)."""
    fused = fused_epilogues(block)
    fifos = [Fifo(d) for d in depths]
    procs: list[Process] = []
    none = Fifo(UNBOUNDED)  # the side of a chain's first or last process that no FIFO joins
    for k, op in enumerate(chain.ops):
        into = chain.streams[k - 1] if k > 0 else None
        out_st = chain.streams[k] if k < len(chain.streams) else None
        inp = fifos[k - 1] if k > 0 else none
        out = fifos[k] if out_st is not None else none
        if isinstance(op, qrnn.QuantizeOp):
            assert out_st is not None, "an input port's reader heads its chain"
            procs.append(_reader(op, out_st, out))
        elif isinstance(op, qrnn.DequantizeOp):
            assert into is not None, "an output port's writer ends its chain"
            procs.append(_writer(op, into.lanes, inp))
        elif isinstance(op, qrnn.WindowOp):
            assert into is not None, "a line buffer reads its image from a FIFO"
            procs.append(_window(op, into.lanes, out_st.lanes if out_st else 1, inp, out if out_st else None))
        elif isinstance(op, dataflow.MVAUOp):
            procs.append(_mvau(op, op in fused, inp if into else None, out if out_st else None))
        elif isinstance(op, qrnn.RecurrenceOp):
            procs.append(_recurrence(op, into, inp if into else None, out if out_st else None))
        elif isinstance(op, STREAM_UNITS):
            st = into or out_st
            assert st is not None
            procs.append(_unit(op, st.lanes, inp if into else None, out if out_st else None))
        else:
            raise AssertionError(f"no process model for {op.name}")
    for k in range(len(fifos)):
        assert procs[k].words_written() == procs[k + 1].words_read(), f"{procs[k].name} -> {procs[k + 1].name}"
    return procs, fifos


def run(procs: list[Process], limit: int = 1 << 40) -> int:
    """Cycles until every process is done. Stretches in which no process touches a FIFO are skipped at once
    (`quiet`), so a run costs about one turn per word moved. A chain that stops moving (a deadlock) raises."""
    cycle = 0
    while any(p.done is None for p in procs):
        quiet = min(p.quiet(cycle) for p in procs)
        if quiet == NEVER:
            raise RuntimeError(
                f"the chain stops at cycle {cycle}: " + ", ".join(p.name for p in procs if p.done is None)
            )
        if quiet > 1:  # every process either advances freely or waits for an event that cannot come sooner
            for p in procs:
                if p.done is None and (isinstance(p, Recurrence) or p.quiet(cycle) != NEVER):
                    p.skip(cycle, quiet - 1)
            cycle += quiet - 1
        for p in procs:
            p.step(cycle)
        cycle += 1
        if cycle > limit:
            raise RuntimeError(f"the chain runs past {limit} cycles")
    return max(p.done or 0 for p in procs)


@dataclass(frozen=True)
class ChainResult:
    chain: Chain
    cycles: int  # the chain's latency at `depths`
    depths: tuple[int, ...]
    peaks: tuple[int, ...]  # the most words each FIFO held


def simulate(block: Block, depths: dict[SSAValue, int] | None = None, default: int | None = None) -> list[ChainResult]:
    """Every chain of `block`'s streamed top level with its FIFOs at `depths` (keyed by the streamed value;
    else `default`, else the depth the kernel emits, `lstmc.schedule.top_fifo_depth`)."""
    out = []
    for chain in chains(block):
        ds = [
            (depths or {}).get(st.value, default if default is not None else top_fifo_depth(st)) for st in chain.streams
        ]
        procs, fifos = build(chain, block, ds)
        if all(d >= UNBOUNDED for d in ds):  # nothing waits for room: one pass, process after process
            cycles, reads, writes = asap(procs)
            peaks = tuple(_peak(w, r) for w, r in zip(writes, reads))
        else:
            cycles = run(procs)
            peaks = tuple(f.peak for f in fifos)
        out.append(ChainResult(chain, cycles, tuple(ds), peaks))
    return out


def asap(procs: list[Process]) -> tuple[int, list[list[int]], list[list[int]]]:
    """The chain with FIFOs that never fill, process after process (no word ever waits for room, so each only
    follows the one in front): (its latency, per FIFO the cycles its words are read, and written). What `run`
    gives with unbounded FIFOs, without stepping every cycle."""
    arrivals: list[int] = []
    reads, writes, done = [], [], 0
    for k, p in enumerate(procs):
        rd, wr, end = p.asap(arrivals)
        if k > 0:
            reads.append(rd)
        if k < len(procs) - 1:
            writes.append(wr)
        arrivals, done = wr, max(done, end)
    return done, reads, writes


def size_fifos(block: Block, smallest: int = 2, found: list[Chain] | None = None) -> dict[SSAValue, int]:
    """Per streamed value the smallest FIFO depth (at least `smallest`) that keeps its chain as fast as with
    FIFOs that never fill. One run with unbounded FIFOs gives that latency L; then, from the chain's end
    backwards, every loop's iterations as late as they can be without delaying the loop behind it or ending
    after L (the last process and a recurrence keep their times); a FIFO must hold what its producer has
    written and its consumer not yet read on that late schedule. A real run, which lets producers run ahead
    until their FIFO fills, then ends by L as well (each event comes no later than on the late schedule).
    Where that leaves a FIFO deeper than `smallest`, a cycle-by-cycle run checks the depths and bisection
    shrinks each such FIFO. `found`: the block's `chains`, when the caller has them."""
    sized: dict[SSAValue, int] = {}
    for chain in chains(block) if found is None else found:
        n = len(chain.streams)
        procs, _ = build(chain, block, [UNBOUNDED] * n)
        best, reads_by, writes_at = asap(procs)  # reads_by: the latest read times of each FIFO's words
        peaks = [_peak(w, r) for w, r in zip(writes_at, reads_by)]
        for k in range(len(procs) - 2, -1, -1):  # the processes in front of the last, backwards
            p = procs[k]
            if not isinstance(p, Loop):
                continue
            latest, entered, w = reads_by[k], [0] * len(p.reads), sum(p.writes) - 1
            bound = best - p.depth - 1
            for i in range(len(p.reads) - 1, -1, -1):
                if p.writes[i]:
                    bound = min(bound, latest[w] - 1 - (p.depth - 1))
                    w -= 1
                entered[i] = bound
                bound -= 1
            writes_at[k] = [e + p.depth - 1 for e, wr in zip(entered, p.writes) if wr]
            if k > 0:
                reads_by[k - 1] = [e for e, rd in zip(entered, p.reads) if rd]
        depths = [max(smallest, _peak(w, r)) for w, r in zip(writes_at, reads_by)]

        def fast(ds: list[int]) -> bool:
            return run(build(chain, block, ds)[0]) <= best

        if any(d > smallest for d in depths) and not fast(depths):  # (never seen: keep the unbounded peaks)
            depths = [max(d, p) for d, p in zip(depths, peaks)]
        for k in range(n):  # the late schedule over-provisions some: shrink each, the others as sized
            if depths[k] == smallest:
                continue
            lo, hi = smallest, depths[k]
            while lo < hi:
                mid = (lo + hi) // 2
                if fast(depths[:k] + [mid] + depths[k + 1 :]):
                    hi = mid
                else:
                    lo = mid + 1
            depths[k] = hi
        for st, d in zip(chain.streams, depths):
            sized[st.value] = d
    return sized


def _peak(writes: list[int], reads: list[int]) -> int:
    """The most words a FIFO holds when they are written at `writes` and read at `reads`: at each write, the
    words written so far less those read before it."""
    most, r = 0, 0
    for j, w in enumerate(writes):
        while r < len(reads) and reads[r] < w:
            r += 1
        most = max(most, j + 1 - r)
    return most


def simulate_report(module, report, unbounded: bool = False) -> None:
    """Set `report.simulated` (an `lstmc.qor.Report` of `module`): its latency with every streamed chain
    taking what the cycle-level simulation gives at the FIFO depths the kernel emits (`unbounded`: with FIFOs
    that never fill, which qrnn-size-fifos' depths match), instead of its closed form
    (`lstmc.qor.chain_latency`); stages outside the chains as estimated."""
    from lstmc.qor import chain_latency

    stages = {s.name: s for s in report.stages}
    total = report.cycles
    default = UNBOUNDED if unbounded else None
    sims = [r for fn in module.ops if isinstance(fn, func.FuncOp) for r in simulate(fn.body.block, default=default)]
    assert len(sims) == len(report.chains), "one simulation per streamed chain of the estimate"
    for names, sim in zip(report.chains, sims):
        chain = [stages[n] for n in names]
        closed = chain_latency([s.cycles for s in chain], [s.cycles if s.fill is None else s.fill for s in chain])
        total += sim.cycles - closed
    report.simulated = total
