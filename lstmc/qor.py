"""QoR estimates for the streaming kernel: cycles from the schedule, resources from FINN-R-style closed forms.

Everything here is an *estimate*. The formulas are pure functions of plain numbers (sizes, PE/SIMD, bit
widths) so they can be unit-tested; `estimate_module` walks dataflow-level IR (after `qrnn-to-dataflow` and
`qrnn-set-folding`) and applies them per hardware unit.

The schedule (what the HLS emitter generates; cycles here equal it exactly)
----------------------------------------------------------------------------
The schedule analyses themselves (`lstmc.schedule`) are shared with `qrnn-to-hlscpp`, which lowers them;
tests/test_streaming.py checks on every fixture and example that each stage's cycles here are the loop nest
the lowering emitted.
* Each `qrnn.recurrence` is one stage (one function of the `qrnn-to-hlscpp` kernel) running T steps.
* A streamed recurrence (`lstmc.schedule.step_schedule`, the one analysis the lowering builds from: an
  MVAU and elementwise units on its gates, every LSTM) runs each step as a DATAFLOW region: the MVAU emits
  its rows interleaved by gate into one FIFO per gate and the cell, one process running all the elementwise
  units, folded by E = PE / gcd(PE, G) lanes, consumes each group as it leaves the MVAU. A step ends when
  the last group has passed the cell (`StepSchedule.depth`: `CELL_READ` + `UNIT_STAGE` per unit on the
  longest path), and the next step's MVAU needs all of h_t (the recurrence), so steps do not overlap:
        step_cycles = mvau_cycles + depth + STEP_OVERHEAD
  with mvau_cycles as below and STEP_OVERHEAD = DATAFLOW_OVERHEAD (start and finish of the region) +
  STATE_COPY_CYCLES (the next state copied into the readers' registers, all elements at once). x_t is read
  and the step's outputs written by the units themselves: no read or write-back cycles.
  `dataflow.mvau`: one flat loop (FINN's MVAU) with II = 1 over (rows / PE) x (cols / SIMD) iterations,
    each taking SIMD columns of the concatenated [x_t; h_{t-1}] for PE rows, plus a pipeline depth of
    `MVAU_DEPTH + ceil(log2(SIMD))` (multiply, adder tree of SIMD products, accumulate, align):
        mvau_cycles = (rows / PE) * (cols / SIMD) + 3 + ceil(log2(SIMD))
    A recurrence over B independent sequences (torch's [T, B, I] layout, state [B, H]) interleaves them:
    the B sequences take turns in the same flat loop, so the pipeline fills once per step for all of them:
        mvau_cycles = B * (rows / PE) * (cols / SIMD) + 3 + ceil(log2(SIMD))
  The cell's loop runs B * H / E iterations at II = 1 plus its depth (every unit's `cyc/step`, busy cycles;
  they overlap the MVAU).
  The x-overlapped step (`lstmc.schedule.x_overlap`, decided per recurrence at its folding: by the MVAU's
  `x_overlap` attribute, which qrnn-set-folding records from the kernel's cycles with and without it, else
  taken when it saves at least 1/50 of the stage): the x-only column folds (XF = floor(I / SIMD) of CF = cols / SIMD, I
  the scanned parts' columns ahead of the states) do not need h_{t-1}, so the MVAU's flat loop of step t
  runs the h folds XF .. CF - 1 of step t (each row starting from the x-part carried over from step t - 1),
  then the x-only folds of step t + 1 from x_{t+1}, while the units drain step t:
        h_iterations = B * RF * (CF - XF),  x_iterations = B * RF * XF   (RF = rows / PE)
        loop = h_iterations + x_iterations
        step_cycles = max(loop + mvau_depth, h_iterations + mvau_depth + depth) + STEP_OVERHEAD
  (`overlapped_step_cycles`; the carried x-part is copied with the state, in STATE_COPY_CYCLES). Step 0 has no
  carried x-part: its loop (the same multipliers) runs all CF folds of each row of step 0, then the x-only
  folds of step 1; the last step prepares no step T, its loop stops after its h folds:
        first_loop = loop + x_iterations
        step 0 = max(first_loop + mvau_depth, loop + mvau_depth + depth) + STEP_OVERHEAD
        last step = h_iterations + mvau_depth + depth + STEP_OVERHEAD
  counted as T x step_cycles plus, once per inference (the stage's prologue), step 0's extra cycles less
  the last step's (`lstmc.schedule.XOverlap.once`); x_t from a FIFO: below.
* Any other recurrence body (two MVAUs, a GRU's h-part of its candidate gate, ...) runs sequentially: per
  time step it first copies its scanned inputs (x_t) in, one element per cycle: `read_cycles = input
  length` (sum over scanned inputs of the elements of one time slice). Then it runs the units of its body
  one after the other, in body order:
  - `dataflow.mvau`: mvau_cycles as above;
  - every other unit (`qrnn.threshold`, `qrnn.lut`, `qrnn.imul`, `qrnn.scaled_sum`, `qrnn.requant`,
    `qrnn.slice`) is a loop over its vector length with II = 1, plus a pipeline depth of
    `ELEMENTWISE_DEPTH` = 2 (over B x H elements for B interleaved sequences: a perfect loop nest that HLS
    flattens into one pipeline):
        elementwise_cycles = length + 2
  - an unfused `qrnn.imatmul` by a constant counts as an MVAU with PE = SIMD = 1; any other op with a
    result (none after the pipeline) counts as an elementwise loop over its result.
  - constants and `qrnn.yield` are not units (0 cycles).
  Then it writes back, one element per cycle: the new carried state (`update_state` loops, the sum of the
  state lengths) and the step's scan outputs, one copy per consumer of the recurrence's output
  (`write_output` loops): `write_cycles = sum of state lengths + sum over scan outputs of length x copies`.
        step_cycles = sum of the unit cycles
* recurrence_cycles = prologue + T * step_cycles + T * read_cycles + T * write_cycles   (T = sequence length;
  prologue: the x-overlapped step 0's extra cycles, the read of x_0 (and x_1) from a FIFO, below; else 0)
  Not counted: the one-off copies of the initial state in and the final state out of a recurrence.
  The report gives, per stage, the cycles of one step for all its B sequences and per sequence (B = 1
  unless the states are [B, H]).
* Recurrences (layers, directions) are chained by buffers under one top-level DATAFLOW region, so
        cycles per inference (latency) = sum over stages of their cycles
  (exact for a chain of layers; an upper bound when directions of a bidirectional layer run concurrently)
        initiation interval           = max over stages of their cycles
  (a stage takes the next inference when it is done with this one; reported separately from the latency)
  Compute outside the recurrences is a stage of its own in the same chain (each process fills its output
  array before the next starts): a `dataflow.mvau` over V vectors (a convolution's patches, a dense layer
  with V = 1) costs V x mvau_cycles (+ EPILOGUE_DEPTH per run with a fused epilogue, below); a
  `qrnn.window` (sliding-window copy) or `qrnn.transpose` one cycle per
  output element plus ELEMENTWISE_DEPTH; an activation or requantizer unit elementwise_cycles over all its
  elements. Reshape, concat and slice between stages, the input quantize and output dequantize are stream
  plumbing and are not counted (the port's reader and writer are, when they stream: below).
* The streamed top level (`lstmc.schedule.top_streams`, the analysis `qrnn-to-hlscpp` lowers): processes
  joined by a FIFO run concurrently. A requantizer, threshold or table unit fused into the MVAU in front of
  it (`lstmc.schedule.fused_epilogues`) is no process: the MVAU applies it to each row at its last column
  fold, so it adds its pipeline stages (EPILOGUE_DEPTH = ELEMENTWISE_DEPTH) to the MVAU's depth and has no
  loop, no fill and no FIFO of its own (listed as kind "epilogue" with 0 cycles, `fused_into` its MVAU, in
  the MVAU's stage). Each such process has busy cycles C (its loop nest: trip counts at
  II = 1 plus the pipeline depth) and a fill F (cycles from its first word in to its first word out):
    input reader          C = elements / min(L, P) + 2          F = 2 + L / P - 1 for L = k x P
                          (P: the codes of a port beat (`--axis-bits`); L: the word width of its FIFO,
                          a beat, whole beats or a part of a beat (`lstmc.ports.reader_widths`), 1 for a
                          buffer; `lstmc.ports.port_rate`)
    line buffer (window)  C = phases * max(R, P) + 2            F = kh * max(R, P) + 2
                          (R = W*C / lanes in, P = Wo*K / SIMD out, K = kh*kw*C: phase y reads row y and
                          emits output row yo when y = yo*sh + kh; phases = max(H, (Ho-1)*sh + kh + 1),
                          H + 1 when the last window ends at the last row; `lstmc.schedule.LineBuffer`)
    MVAU over V patches   C = V * (rows/PE) * (cols/SIMD) + depth (one flat loop)   F = cols/SIMD + depth
                          (depth = mvau_depth(SIMD), + EPILOGUE_DEPTH with a fused epilogue)
    elementwise unit      C = elements / lanes + 2              F = 2
    recurrence reading x_t from a FIFO: x_0 once (R = I / lanes + 2), then each step's region reads
      x_{t+1} in parallel with the MVAU: step = max(MVAU + depth, R) + STEP_OVERHEAD   F = R + one step
      (x-overlapped: read two steps ahead, x_0 and x_1 before the steps, x_{t+2} beside step t's MVAU:
      step = max(loop + depth, h_iterations + depth + chain, R) + STEP_OVERHEAD, step 0 = max(first_loop +
      depth, loop + depth + chain, R) + STEP_OVERHEAD, prologue = 2R + step 0 - step + last step - step
      (the last step reads nothing)   F = 2R + step 0)
    recurrence writing y_t to a FIFO (its units write it as they compute it: no cycles)   F = one step
      (+ R when it reads x_t from a FIFO too)
    output writer         C = elements / min(L, P) + 2 from a FIFO of words of L lanes when L divides P
                          or P divides L (a word or a beat per cycle), else C = elements + 2 (one code
                          per cycle, a beat every P)     F = 2
  (lanes: the word width: PE of the MVAU upstream, E of a recurrence; with a run-time T, `--max-seq-len N`, a
  port carrying a sequence is counted as N steps of one row each after its depth, so that the latency at a
  shorter T, `Report.cycles_at`, scales it). A chain of k processes joined by
  FIFOs takes
        chain_cycles = sum_k F_k + max_k (C_k - F_k)        (`chain_latency`)
  = the bottleneck's cycles plus the fills of the others: a process cannot finish before it has run its
  C cycles after its first word arrived (the fills in front of it), nor before its producer finished plus
  its own fill. Chains and the stages joined by buffers add up (`streamed_latency`); the initiation
  interval stays the slowest process's C. The closed form assumes each process keeps its own pace; where
  processes of nearly equal speed hand bursts to each other they wait on each other, which the cycle-level
  simulation of the emitted loop nests (`lstmc.chain_sim`, also what sizes the FIFOs: qrnn-size-fifos)
  shows: `Report.simulated`, set by `lstmc.chain_sim.simulate_report`, is the latency with every chain
  simulated at its FIFO depths (the stock model: +2.6% at its shipped folding, +11% at its fastest).

Resources (per unit; totals are sums)
-------------------------------------
Memories (`memory_resources(depth, width)`): a memory of `depth` words of `width` bits is LUTRAM when
`depth <= LUTRAM_MAX_DEPTH` (128; FINN keeps embedded weight memories of <= 128 words in LUTs), costing
`width * ceil(depth / 64)` LUTs (64-deep LUTRAM), else BRAM18 in simple-dual-port mode with the RAMB18
aspect ratios (16K x 1, 8K x 2, 4K x 4, 2K x 9, 1K x 18, 512 x 36; UG573), as in FINN-R's
`bram_estimation`.

MVAU (`mvau_resources`), after FINN-R (Blott et al. 2018) and FINN's MVAU `lut_estimation`, with
W = weight bits, A = input bits, P = PE, Q = SIMD, acc = accumulator bits, parts = input parts:
    weight memory : depth rows*cols/(P*Q), width P*Q*W           (memory_resources)
    input buffer  : depth cols/Q, width Q*A (x is reused for every row fold)
    multipliers   : LUT: Q * (2*ceil((W+A)/6) - 1) * (W+A) per PE, or DSP (rule below)
    adder tree    : (W+A) * (2Q - 1) per PE
    accumulator   : acc per PE; alignment of the parts and bias: parts * acc per PE
    LUT = 300 + 1.1 * P * (multipliers + adder tree + accumulator + alignment) + memories
    DSP = P * Q * ceil(max(W,A)/27) * ceil(min(W,A)/18) when the products use DSPs, else 0
    FF  = P * (Q*(W+A) + 2*acc)                                 (operand and accumulator registers)
DSP rule (ours; FINN decides per layer with `resType`): a product uses a DSP48E2 when both operands have
at least `DSP_MIN_BITS` = 4 bits and it is larger than 4 x 4 (W*A > 16); narrower products are LUT
multipliers, which are cheaper than a DSP there.

Threshold unit (`threshold_resources`; FINN's thresholding memory): K thresholds of A bits compared in
parallel (`K * A` comparator LUTs, `K` LUTs to count the hits); per-channel thresholds are a memory of
`channels` words of `K * A` bits; shared thresholds are constants folded into the comparators.
Table unit (`lut_table_resources`): a ROM of `entries` words of the output width, plus the index subtract.
Buffers: every top-level result read by a process travels in a ping-pong array per consumer (what
`qrnn-to-hlscpp` allocates in the DATAFLOW region): a memory of 2 x elements words of the result's width
(`memory_resources`); the ports' own streams are not counted, nor reshapes next to a port (views of the
stream, `lstmc.ports.port_views`: the consumers of an input's view read the reader's buffers, an output's
writer drains the buffer in front of the view).
The streamed top level: a FIFO between two processes instead of the buffers, as many words per lane as
qrnn-size-fifos gave it (`lstmc.schedule.top_fifo_depth`: at least `TOP_FIFO_DEPTH`, deeper where a
cycle-level simulation of the chain, `lstmc.chain_sim`, shows the processes around it would stall each other;
`fifo_resources`), a line buffer's kh + 1 rows (slots x W x C words, `memory_resources`) and its
control, the input reader's and the output writer's control; an elementwise unit E lanes wide (its word width) pays its
datapath per lane, and the lanes that follow an MVAU's PE (or, for the FIFO into it, its SIMD; for a
recurrence's y_t, its E) are charged to that MVAU's folding (`MvauSpec.lane_resources`,
`input_lane_resources`). A fused epilogue (`_epilogue_unit`) is PE lanes wide too: its datapath and pipeline
registers per lane, a per-channel threshold memory once, but no `UNIT_CONTROL_LUT` loop control (the
MVAU's loop drives it) and no FIFO between it and the MVAU.
Streamed recurrences: the cell is E lanes wide (one loop control, charged to its first unit; each unit's
per-channel memories once, its datapath and pipeline registers E times), each gate slice is E FIFOs into
the cell, the MVAU adds its group buffer (G x E accumulator registers), and the state is registers (one
copy per process reading it in the step, the MVAU and the cell, plus the next state). Since E follows PE,
the folding space charges the lane-scaled part of a recurrence's units to its MVAU (`MvauSpec.lane_resources`).
Elementwise units (`elementwise_resources`): `imul` is one multiplier (LUT or DSP by the rule above),
`scaled_sum` one adder of the output width per term plus the bias add, `requant` a rounding adder and a
clamp (2 * input bits), `slice` only wiring. Every unit adds `UNIT_CONTROL_LUT` LUTs of loop control,
`ELEMENTWISE_DEPTH * (input bits + output bits)` FFs of pipeline registers, and the FIFO on its result
(`fifo_depth`, recorded by `qrnn-to-dataflow`): SRL32 shift registers (`width * ceil(depth/32)` LUTs) up
to `FIFO_SRL_MAX_DEPTH`, BRAM beyond, registers for depth <= 2.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

from xdsl.dialects.builtin import TensorType
from xdsl.ir import Operation, SSAValue

from lstmc.parts import DEFAULT_CLOCK_NS, DEFAULT_PART, PARTS, Part  # noqa: F401 (PARTS, Part re-exported)

# --------------------------------------------------------------------------------------------- constants
MVAU_DEPTH = 3  # multiply, accumulate, align; + ceil(log2(SIMD)) adder-tree levels
ELEMENTWISE_DEPTH = 2  # read + compute/write
EPILOGUE_DEPTH = ELEMENTWISE_DEPTH  # a unit fused into the MVAU in front of it: its stages behind the MVAU's
LUTRAM_MAX_DEPTH = 128  # deeper memories go to BRAM18
LUTRAM_WORDS = 64  # one LUT6 as 64 x 1 distributed RAM
MVAU_BASE_LUT = 300  # FINN-R c0: control and stream logic of an MVAU
MVAU_LUT_FACTOR = 1.1  # FINN-R c1
DSP_MIN_BITS = 4  # both operands at least this wide ...
LUT_MULT_MAX_PRODUCT = 16  # ... and W*A above this: use a DSP48E2
DSP_A_BITS, DSP_B_BITS = 27, 18  # DSP48E2 multiplier port widths
UNIT_CONTROL_LUT = 20  # loop counter and stream handshakes of an elementwise unit
FIFO_SRL_MAX_DEPTH = 256  # deeper FIFOs go to BRAM18
SRL_DEPTH = 32  # SRLC32E
DATAFLOW_OVERHEAD = 2  # start and finish handshakes of a streamed step's DATAFLOW region
STATE_COPY_CYCLES = 1  # the next state into the readers' registers, every element at once
STEP_OVERHEAD = DATAFLOW_OVERHEAD + STATE_COPY_CYCLES
EXHAUSTIVE_FOLDINGS = 4096  # a streamed top level with at most this many foldings is searched exhaustively


# ---------------------------------------------------------------------------------------- part and totals
DEFAULT_CLOCK_MHZ = 1000.0 / DEFAULT_CLOCK_NS


@dataclass(frozen=True)
class Resources:
    lut: int = 0
    ff: int = 0
    bram18: int = 0
    dsp: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.lut + other.lut, self.ff + other.ff, self.bram18 + other.bram18, self.dsp + other.dsp)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.lut - other.lut, self.ff - other.ff, self.bram18 - other.bram18, self.dsp - other.dsp)

    def __mul__(self, k: int) -> Resources:
        """k copies (the lanes of a folded unit)."""
        return Resources(self.lut * k, self.ff * k, self.bram18 * k, self.dsp * k)

    def cost_key(self) -> tuple[int, int, int]:
        """The order in which foldings are compared: fewest LUTs, then fewest DSPs, then fewest BRAM18s."""
        return (self.lut, self.dsp, self.bram18)

    def utilisation(self, part: Part = DEFAULT_PART) -> dict[str, float]:
        """Percent of the part's totals."""
        return {
            "lut": 100.0 * self.lut / part.lut,
            "ff": 100.0 * self.ff / part.ff,
            "bram18": 100.0 * self.bram18 / part.bram18,
            "dsp": 100.0 * self.dsp / part.dsp,
        }


def total(resources: Iterable[Resources]) -> Resources:
    out = Resources()
    for r in resources:
        out = out + r
    return out


def divisors(n: int) -> list[int]:
    """The positive divisors of n, ascending (the valid PE/SIMD values of a dimension of size n)."""
    if n < 1:
        return []
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


# ------------------------------------------------------------------------------------------------- cycles
def mvau_depth(simd: int) -> int:
    return MVAU_DEPTH + math.ceil(math.log2(simd)) if simd > 1 else MVAU_DEPTH


def mvau_iterations(rows: int, cols: int, pe: int, simd: int) -> int:
    """Pipelined iterations of the MVAU loop nest (II = 1): (rows / PE) * (cols / SIMD)."""
    _check_folding(rows, cols, pe, simd)
    return (rows // pe) * (cols // simd)


def mvau_cycles(rows: int, cols: int, pe: int, simd: int, vectors: int = 1) -> int:
    """Cycles of one matrix-vector product: (rows / PE) * (cols / SIMD) + 3 + ceil(log2(SIMD)); of `vectors`
    interleaved ones (B sequences taking turns in one flat loop): vectors * (rows / PE) * (cols / SIMD) + depth."""
    if vectors < 1:
        raise ValueError(f"an MVAU interleaves at least one vector, got {vectors}")
    return vectors * mvau_iterations(rows, cols, pe, simd) + mvau_depth(simd)


def elementwise_cycles(length: int) -> int:
    """Cycles of an elementwise unit over a vector of `length` elements: length + 2."""
    return length + ELEMENTWISE_DEPTH


def recurrence_step_cycles(unit_cycles: Iterable[int]) -> int:
    """One time step of a sequential recurrence runs its units one after the other: the sum of their cycles."""
    return sum(unit_cycles)


def streamed_step_cycles(mvau: int, depth: int) -> int:
    """One step of a streamed recurrence: the MVAU's cycles, the unit chain behind its last group, the
    region's start/finish and the state copy."""
    return mvau + depth + STEP_OVERHEAD


def overlapped_step_cycles(plan, depth: int, chain: int) -> int:
    """One step of a streamed recurrence on the x-overlapped schedule (`lstmc.schedule.XOverlap`):
    max(loop + depth, h iterations + depth + chain, the read of x_{t+2} from a FIFO) + STEP_OVERHEAD."""
    return plan.step(depth, chain) + STEP_OVERHEAD


def recurrence_cycles(steps: int, step_cycles: int, input_length: int, write_length: int = 0) -> int:
    """T * step_cycles + T * input_length + T * write_length (copying x_t in and the new state and the
    step's outputs out, one element per cycle)."""
    return steps * step_cycles + steps * input_length + steps * write_length


def inference_cycles(stage_cycles: Sequence[int]) -> int:
    """Latency: stages (recurrences) chained by streams run one after the other's data, so their sum."""
    return sum(stage_cycles)


def chain_latency(cycles: Sequence[int], fills: Sequence[int]) -> int:
    """Processes joined by FIFOs in a chain: sum of the fills + max over processes of (cycles - fill), i.e.
    the bottleneck's cycles plus the fills of the others."""
    return sum(fills) + max((c - f for c, f in zip(cycles, fills)), default=0)


def streamed_latency(cycles: Sequence[int], fills: Sequence[int], fed_by: Sequence[int | None]) -> int:
    """Latency of stages of which some feed the next through a FIFO (`fed_by[k]`: the index of the stage
    streaming into stage k, or None): every chain takes `chain_latency`, and chains add up."""
    chains: dict[int, list[int]] = {}
    for k in range(len(cycles)):
        head, seen = k, {k}
        while (up := fed_by[head]) is not None and up not in seen:
            head = up
            seen.add(head)
        chains.setdefault(head, []).append(k)
    return sum(chain_latency([cycles[k] for k in ks], [fills[k] for k in ks]) for ks in chains.values())


def streamed_x_step(step: int, read: int) -> int:
    """A streamed step whose x_t comes from a FIFO: the region reads x_{t+1} (`read` cycles) in parallel
    with the MVAU and the units behind it, so the step takes max(step - STEP_OVERHEAD, read) + STEP_OVERHEAD."""
    return max(step - STEP_OVERHEAD, read) + STEP_OVERHEAD


def line_buffer_cycles(rows: int, reads: int, writes: int, kernel: int = 1, stride: int = 1) -> tuple[int, int]:
    """(cycles, fill) of a line buffer over `rows` image rows for a kernel `kernel` rows high at row stride
    `stride`, `reads` words in per image row and `writes` words out per output row: its phases
    (`lstmc.schedule.LineBuffer.phases`, H + 1 for a window ending at the last row) x max(reads, writes) + 2,
    and the kernel's kh phases x max(reads, writes) + 2 before its first word out."""
    from lstmc.schedule import LineBuffer

    sched = LineBuffer(rows, kernel, stride)
    return (
        sched.iterations(reads, writes) + ELEMENTWISE_DEPTH,
        sched.fill_iterations(reads, writes) + ELEMENTWISE_DEPTH,
    )


def streamed_mvau_fill(cols: int, simd: int, epilogue_depth: int = 0) -> int:
    """Cycles until a flat-loop MVAU writes its first word: one row fold (cols / SIMD) + its depth (with a
    fused epilogue's, `EPILOGUE_DEPTH`)."""
    return cols // simd + mvau_depth(simd) + epilogue_depth


def initiation_interval(stage_cycles: Sequence[int]) -> int:
    """Under DATAFLOW a new inference can start when the slowest stage is free: the max."""
    return max(stage_cycles, default=0)


def _check_folding(rows: int, cols: int, pe: int, simd: int) -> None:
    if pe < 1 or simd < 1 or rows % pe or cols % simd:
        raise ValueError(f"PE={pe} must divide rows={rows} and SIMD={simd} must divide cols={cols}")


# ---------------------------------------------------------------------------------------------- resources
def bram18_count(depth: int, width: int) -> int:
    """RAMB18 blocks (simple dual port) for a depth x width memory, by the RAMB18 aspect ratios (FINN-R)."""
    if depth <= 0 or width <= 0:
        return 0
    if width == 1:
        return math.ceil(depth / 16384)
    if width == 2:
        return math.ceil(depth / 8192)
    if width <= 4:
        return math.ceil(depth / 4096) * math.ceil(width / 4)
    if width <= 9:
        return math.ceil(depth / 2048) * math.ceil(width / 9)
    if width <= 18 or depth > 512:
        return math.ceil(depth / 1024) * math.ceil(width / 18)
    return math.ceil(depth / 512) * math.ceil(width / 36)


def memory_resources(depth: int, width: int) -> Resources:
    """LUTRAM (width * ceil(depth / 64) LUTs) up to 128 words, BRAM18 beyond."""
    if depth <= 0 or width <= 0:
        return Resources()
    if depth <= LUTRAM_MAX_DEPTH:
        return Resources(lut=width * math.ceil(depth / LUTRAM_WORDS))
    return Resources(bram18=bram18_count(depth, width))


def fifo_resources(depth: int, width: int) -> Resources:
    """A stream FIFO: registers for depth <= 2, SRL32 shift registers up to 256 words, BRAM18 beyond."""
    if depth <= 0 or width <= 0:
        return Resources()
    if depth <= 2:
        return Resources(ff=depth * width)
    if depth <= FIFO_SRL_MAX_DEPTH:
        return Resources(lut=width * math.ceil(depth / SRL_DEPTH), ff=width)
    return Resources(lut=2 * math.ceil(math.log2(depth)), ff=width, bram18=bram18_count(depth, width))


def multiplier_uses_dsp(a_bits: int, b_bits: int) -> bool:
    """Our rule: a DSP48E2 when both operands have >= 4 bits and the product is larger than 4 x 4."""
    return min(a_bits, b_bits) >= DSP_MIN_BITS and a_bits * b_bits > LUT_MULT_MAX_PRODUCT


def lut_multiplier_luts(a_bits: int, b_bits: int) -> int:
    """FINN-R's LUT cost of an a x b multiplier: (2 * ceil((a + b) / 6) - 1) * (a + b)."""
    s = a_bits + b_bits
    return (2 * math.ceil(s / 6) - 1) * s


def dsp_per_multiplier(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for one a x b product (27 x 18 multiplier per slice)."""
    hi, lo = max(a_bits, b_bits), min(a_bits, b_bits)
    return math.ceil(hi / DSP_A_BITS) * math.ceil(lo / DSP_B_BITS)


def multiplier_resources(a_bits: int, b_bits: int) -> Resources:
    if multiplier_uses_dsp(a_bits, b_bits):
        return Resources(dsp=dsp_per_multiplier(a_bits, b_bits))
    return Resources(lut=lut_multiplier_luts(a_bits, b_bits))


def mvau_resources(
    rows: int,
    cols: int,
    pe: int,
    simd: int,
    weight_bits: int,
    input_bits: int,
    acc_bits: int,
    parts: int = 1,
    fifo_depth: int = 0,
) -> Resources:
    """LUT/FF/BRAM18/DSP of a folded MVAU (FINN-R closed forms; see the module docstring)."""
    _check_folding(rows, cols, pe, simd)
    w, a, p, q = weight_bits, input_bits, pe, simd
    use_dsp = multiplier_uses_dsp(w, a)
    mult_luts = 0 if use_dsp else q * lut_multiplier_luts(w, a)
    adder_tree = (w + a) * (2 * q - 1)
    per_pe = mult_luts + adder_tree + acc_bits + parts * acc_bits
    weights = memory_resources(rows * cols // (p * q), p * q * w)
    input_buffer = memory_resources(cols // q, q * a)
    compute = Resources(
        lut=math.ceil(MVAU_BASE_LUT + MVAU_LUT_FACTOR * p * per_pe),
        ff=p * (q * (w + a) + 2 * acc_bits),
        dsp=p * q * dsp_per_multiplier(w, a) if use_dsp else 0,
    )
    return compute + weights + input_buffer + fifo_resources(fifo_depth, acc_bits)


def _lanes_of(fixed: Resources, per_lane: Resources, lanes: int) -> Resources:
    return fixed + per_lane * lanes


def threshold_parts(
    channels: int,
    num_thresholds: int,
    input_bits: int,
    output_bits: int,
    per_channel: bool,
    fifo_depth: int = 0,
    fifos: int = 1,
) -> tuple[Resources, Resources]:
    """(once, per lane) of a multi-threshold unit: loop control and the per-channel threshold memory once;
    K parallel comparators of A bits, their count, pipeline registers and `fifos` output FIFOs per lane."""
    k, a = num_thresholds, input_bits
    fixed = Resources(lut=UNIT_CONTROL_LUT) + (memory_resources(channels, k * a) if per_channel else Resources())
    lane = (
        Resources(lut=k * a + k, ff=ELEMENTWISE_DEPTH * (a + output_bits))
        + fifo_resources(fifo_depth, output_bits) * fifos
    )
    return fixed, lane


def threshold_resources(
    channels: int,
    num_thresholds: int,
    input_bits: int,
    output_bits: int,
    per_channel: bool,
    fifo_depth: int = 0,
    lanes: int = 1,
    fifos: int = 1,
) -> Resources:
    """A multi-threshold unit: K parallel comparators of A bits; per-channel thresholds in a memory."""
    return _lanes_of(
        *threshold_parts(channels, num_thresholds, input_bits, output_bits, per_channel, fifo_depth, fifos), lanes
    )


def lut_table_parts(
    entries: int, input_bits: int, output_bits: int, fifo_depth: int = 0, fifos: int = 1
) -> tuple[Resources, Resources]:
    """(once, per lane) of a table unit: loop control once; a ROM, the index subtract and FIFOs per lane."""
    lane = (
        Resources(lut=input_bits, ff=ELEMENTWISE_DEPTH * (input_bits + output_bits))
        + memory_resources(entries, output_bits)
        + fifo_resources(fifo_depth, output_bits) * fifos
    )
    return Resources(lut=UNIT_CONTROL_LUT), lane


def lut_table_resources(
    entries: int, input_bits: int, output_bits: int, fifo_depth: int = 0, lanes: int = 1, fifos: int = 1
) -> Resources:
    """A table unit: ROM of `entries` words of the output width, plus the index subtract."""
    return _lanes_of(*lut_table_parts(entries, input_bits, output_bits, fifo_depth, fifos), lanes)


ELEMENTWISE_KINDS = ("imul", "scaled_sum", "requant", "slice")


def elementwise_parts(
    kind: str, input_bits: Sequence[int], output_bits: int, fifo_depth: int = 0, fifos: int = 1
) -> tuple[Resources, Resources]:
    """(once, per lane): loop control once; the datapath, its registers and `fifos` output FIFOs per lane.
    A `slice` (a gate of a streamed MVAU) is only its FIFOs."""
    if kind == "slice":
        return Resources(), fifo_resources(fifo_depth, output_bits) * fifos
    total = elementwise_resources(kind, input_bits, output_bits, fifo_depth, fifos=fifos)
    fixed = Resources(lut=UNIT_CONTROL_LUT)
    return fixed, total - fixed


def elementwise_resources(
    kind: str, input_bits: Sequence[int], output_bits: int, fifo_depth: int = 0, fifos: int = 1
) -> Resources:
    """imul: a multiplier; scaled_sum: an adder per term plus the bias; requant: round + clamp; slice: wiring."""
    if kind == "imul":
        logic = multiplier_resources(input_bits[0], input_bits[1] if len(input_bits) > 1 else input_bits[0])
    elif kind == "scaled_sum":
        logic = Resources(lut=(len(input_bits) + 1) * output_bits)
    elif kind == "requant":
        logic = Resources(lut=2 * max(input_bits))
    elif kind == "slice":
        logic = Resources()
    else:
        raise ValueError(f"unknown elementwise unit kind '{kind}' (expected one of {', '.join(ELEMENTWISE_KINDS)})")
    regs = Resources(lut=UNIT_CONTROL_LUT, ff=ELEMENTWISE_DEPTH * (max(input_bits, default=0) + output_bits))
    return logic + regs + fifo_resources(fifo_depth, output_bits) * fifos


# -------------------------------------------------------------------------------------- one MVAU, abstract
@dataclass(frozen=True)
class MvauSpec:
    """What the cost model needs to know about one MVAU, independent of its folding."""

    rows: int
    part_sizes: tuple[int, ...]
    weight_bits: int
    input_bits: int
    acc_bits: int
    fifo_depth: int = 0
    vectors: int = 1  # sequences interleaved in one flat loop (a recurrence over [B, H] states)
    gates: int = 0  # G of a streamed recurrence (its units are E = PE / gcd(PE, G) lanes wide), else 0
    lane_resources: Resources = Resources()  # one lane of the units folded with this MVAU
    input_lane_resources: Resources = Resources()  # one lane (of SIMD) of the FIFO feeding it, if any
    chain: int | None = None  # a streamed recurrence's MVAU: the unit chain behind it (StepSchedule.depth)
    x_parts: int = 0  # ... how many of its parts are scanned inputs ahead of the states
    steps: int = 1  # ... and its T
    overlap_choice: bool | None = None  # its `x_overlap` attribute (lstmc.schedule.overlap_choice)
    epilogue_depth: int = 0  # a top-level MVAU applying a fused unit to its rows: EPILOGUE_DEPTH, else 0

    @property
    def cols(self) -> int:
        return sum(self.part_sizes)

    def pe_values(self) -> list[int]:
        """Valid PE: the divisors of the output rows."""
        return divisors(self.rows)

    def simd_values(self) -> list[int]:
        """Valid SIMD: the divisors of the concatenated input's columns (a fold may straddle two parts)."""
        return divisors(self.cols)

    def foldings(self) -> list[tuple[int, int]]:
        return [(p, s) for p in self.pe_values() for s in self.simd_values()]

    def lanes(self, pe: int) -> int:
        """E, the lanes of the units streaming behind this MVAU (1 outside a streamed recurrence)."""
        return pe // math.gcd(pe, self.gates) if self.gates else 1

    def cycles(self, pe: int, simd: int) -> int:
        """The flat loop and its pipeline depth, with a fused epilogue's."""
        return mvau_cycles(self.rows, self.cols, pe, simd, self.vectors) + self.epilogue_depth

    def overlap(self, pe: int, simd: int, steps: int, lanes: Sequence[int | None] | None = None):
        """A streamed recurrence's x-overlapped schedule at this folding (`lstmc.schedule.x_overlap`), or None."""
        from lstmc.schedule import x_overlap

        if self.chain is None:
            return None
        lanes = tuple(lanes) if lanes is not None else (None,) * self.x_parts
        return x_overlap(
            self.rows,
            self.part_sizes,
            self.x_parts,
            pe,
            simd,
            self.vectors,
            self.chain,
            mvau_depth(simd),
            steps,
            lanes,
            STEP_OVERHEAD,
            self.overlap_choice,
        )

    def streamed_step(
        self, pe: int, simd: int, steps: int, lanes: Sequence[int | None] | None = None
    ) -> tuple[int, int, int, int]:
        """A streamed recurrence at this folding: (the MVAU's busy cycles per step, the step's cycles, how
        much longer step 0 takes, how much longer the last step takes): `streamed_step_cycles` of the full
        MVAU, 0 and 0, or with the x-overlapped schedule its loop at t > 0, `overlapped_step_cycles`, and
        step 0's and the last step's differences to it (`lstmc.schedule.XOverlap.first_step`, `last_step`;
        the last one is negative)."""
        assert self.chain is not None, "a streamed recurrence's MVAU"
        plan = self.overlap(pe, simd, steps, lanes)
        if plan is None:
            mvau = self.cycles(pe, simd)
            return mvau, streamed_step_cycles(mvau, self.chain), 0, 0
        depth = mvau_depth(simd)
        step = plan.step(depth, self.chain)
        first, last = plan.first_step(depth, self.chain) - step, plan.last_step(depth, self.chain) - step
        return plan.iterations + depth, overlapped_step_cycles(plan, depth, self.chain), first, last

    def stage_cycles(self, steps: int, pe: int, simd: int) -> int:
        """The cycles of its stage that depend on this MVAU's folding: steps x its cycles, or for a streamed
        recurrence (read from buffers) the whole stage, steps x step + step 0's extra cycles."""
        if self.chain is None:
            return steps * self.cycles(pe, simd)
        _, step, first, last = self.streamed_step(pe, simd, steps)
        return first + last + steps * step

    def unit_resources(self, pe: int, simd: int) -> Resources:
        """The MVAU itself (with the group buffer of a streamed one: G x E accumulator registers; on the
        x-overlapped schedule, judged with x from buffers, also the carried x-part, 2 x B x rows accumulators:
        its multipliers and weights are the step's own)."""
        group = Resources(ff=self.gates * self.lanes(pe) * self.acc_bits)
        if self.overlap(pe, simd, self.steps) is not None:
            group = group + Resources(ff=2 * self.vectors * self.rows * self.acc_bits)
        return (
            mvau_resources(
                self.rows,
                self.cols,
                pe,
                simd,
                self.weight_bits,
                self.input_bits,
                self.acc_bits,
                parts=len(self.part_sizes),
                fifo_depth=self.fifo_depth,
            )
            + group
        )

    def resources(self, pe: int, simd: int) -> Resources:
        """What this folding costs: the MVAU, and the lanes of the units that follow its PE."""
        return self.unit_resources(pe, simd) + self.lane_resources * self.lanes(pe) + self.input_lane_resources * simd


# --------------------------------------------------------------------------------------------- the report
@dataclass
class UnitEstimate:
    name: str
    kind: str  # mvau, threshold, lut, imul, scaled_sum, requant, slice, imatmul, epilogue (fused into an MVAU), ...
    stage: str  # the recurrence it belongs to
    steps: int  # how many times it runs per inference (T)
    cycles_per_step: int
    resources: Resources
    length: int = 0  # elements per step (elementwise units) / rows (MVAU)
    pe: int | None = None
    simd: int | None = None
    spec: MvauSpec | None = field(default=None, repr=False)
    lanes: int = 1  # a streamed unit: elements per cycle
    per_lane: Resources | None = None  # a streamed unit: the part of `resources` paid per lane (folded by PE)
    fused_into: str | None = None  # an epilogue: the MVAU that applies it (its cycles are the MVAU's)

    @property
    def cycles(self) -> int:
        """Cycles this unit is busy per inference."""
        return self.steps * self.cycles_per_step


Refold = Callable[[dict[str, tuple[int, int]]], tuple[int, int]]  # a stage's (cycles, fill) under a folding


@dataclass
class StageEstimate:
    name: str
    steps: int
    read_cycles_per_step: int
    step_cycles: int
    write_cycles_per_step: int = 0
    sequences: int = 1  # B independent sequences interleaved in each step
    pipeline_depth: int | None = None  # a streamed step: cycles behind the MVAU (unit chain + STEP_OVERHEAD)
    fill: int | None = None  # in a streamed chain: cycles from its first word in to its first word out
    # cycles once per inference besides T steps (x_0, x_1 read from a FIFO, step 0's x folds, less the last
    # step's none)
    prologue: int = 0
    fed_by: str | None = None  # the stage streaming into this one (a FIFO), if any
    refold: Refold | None = field(default=None, repr=False, compare=False)  # folding -> (cycles, fill)

    @property
    def cycles(self) -> int:
        """Cycles of one inference in this stage (also its initiation interval: a stage takes the next
        inference when it is done with this one)."""
        return self.prologue + recurrence_cycles(
            self.steps, self.step_cycles, self.read_cycles_per_step, self.write_cycles_per_step
        )

    @property
    def cycles_per_step(self) -> int:
        """One step of all B sequences: units, reading x_t, writing back."""
        return self.step_cycles + self.read_cycles_per_step + self.write_cycles_per_step


def stages_latency(
    stages: Sequence[StageEstimate], cycles: Sequence[int] | None = None, fills: Sequence[int] | None = None
) -> int:
    """`streamed_latency` of report stages (optionally with other cycles and fills, e.g. another folding)."""
    cycles = [s.cycles for s in stages] if cycles is None else cycles
    fills = [s.cycles if s.fill is None else s.fill for s in stages] if fills is None else fills
    index = {s.name: k for k, s in enumerate(stages)}
    return streamed_latency(cycles, fills, [index[s.fed_by] if s.fed_by is not None else None for s in stages])


@dataclass
class Report:
    units: list[UnitEstimate]
    stages: list[StageEstimate]
    part: Part = DEFAULT_PART
    clock_mhz: float = DEFAULT_CLOCK_MHZ
    # a kernel taking T at run time (`--max-seq-len`): the stages are counted at T = max_seq_len, and
    # cycles_at(T) gives the latency of a shorter call (every recurrence runs T steps)
    max_seq_len: int | None = None
    # the streamed chains (`lstmc.chain_sim.chains`), each as its stages' names in stream order
    chains: tuple[tuple[str, ...], ...] = ()
    # the latency of a cycle-level simulation of those chains at their FIFO depths (`lstmc.chain_sim`), set
    # by `lstmc.chain_sim.simulate_report`; None when not run
    simulated: int | None = None

    @property
    def cycles(self) -> int:
        """Cycles per inference (latency): stages add up, a streamed chain takes `chain_latency`."""
        return stages_latency(self.stages)

    def cycles_at(self, seq_len: int) -> int:
        """Cycles per inference of a call of `seq_len` steps (the per-step cycles do not depend on T)."""
        return stages_latency([replace(s, steps=seq_len) for s in self.stages])

    def run_time_length(self, seq_lens=()) -> dict | None:
        """Per-step cycles and the latency at each T of `seq_lens` and at max_seq_len (None for a fixed T)."""
        if self.max_seq_len is None:
            return None
        lengths = sorted({*seq_lens, self.max_seq_len})
        return {
            "max_seq_len": self.max_seq_len,
            "cycles_per_step": {s.name: s.cycles_per_step for s in self.stages},
            "latency_at": {
                str(t): {"cycles": self.cycles_at(t), "latency_us": self.cycles_at(t) / self.clock_mhz} for t in lengths
            },
        }

    @property
    def initiation_interval(self) -> int:
        return initiation_interval([s.cycles for s in self.stages])

    @property
    def latency_us(self) -> float:
        return self.cycles / self.clock_mhz

    @property
    def initiation_interval_us(self) -> float:
        return self.initiation_interval / self.clock_mhz

    @property
    def total(self) -> Resources:
        return total(u.resources for u in self.units)

    def unit(self, name: str) -> UnitEstimate:
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(name)

    def to_dict(self) -> dict:
        return {
            "part": asdict(self.part),
            "clock_mhz": self.clock_mhz,
            "cycles_per_inference": self.cycles,
            **({"simulated_cycles_per_inference": self.simulated} if self.simulated is not None else {}),
            "initiation_interval": self.initiation_interval,
            "latency_us": self.latency_us,
            "initiation_interval_us": self.initiation_interval_us,
            "total": asdict(self.total),
            "utilisation_percent": self.total.utilisation(self.part),
            **({"run_time_length": self.run_time_length()} if self.max_seq_len is not None else {}),
            "stages": [
                {
                    "name": s.name,
                    "steps": s.steps,
                    "sequences": s.sequences,
                    "read_cycles_per_step": s.read_cycles_per_step,
                    "step_cycles": s.step_cycles,
                    "write_cycles_per_step": s.write_cycles_per_step,
                    "cycles_per_step": s.cycles_per_step,
                    "cycles_per_step_per_sequence": s.cycles_per_step / s.sequences,
                    "cycles": s.cycles,
                    "streamed": s.pipeline_depth is not None,
                    "pipeline_depth": s.pipeline_depth,
                    "fill": s.fill,
                    "fed_by": s.fed_by,
                    "prologue": s.prologue,
                }
                for s in self.stages
            ],
            "units": [
                {
                    "name": u.name,
                    "kind": u.kind,
                    "stage": u.stage,
                    "steps": u.steps,
                    "cycles_per_step": u.cycles_per_step,
                    "cycles": u.cycles,
                    "pe": u.pe,
                    "simd": u.simd,
                    "fused_into": u.fused_into,
                    **asdict(u.resources),
                }
                for u in self.units
            ],
        }

    def format_table(self) -> str:
        """A per-unit table, the stages, the totals and the utilisation of the part."""
        head = (
            f"{'unit':<36} {'kind':<10} {'PE':>4} {'SIMD':>4} {'cyc/step':>9} {'LUT':>8} {'FF':>8} "
            f"{'BRAM18':>6} {'DSP':>5}"
        )
        lines = [head, "-" * len(head)]
        for u in self.units:
            pe = "" if u.pe is None else str(u.pe)
            simd = "" if u.simd is None else str(u.simd)
            r = u.resources
            lines.append(
                f"{u.name:<36} {u.kind:<10} {pe:>4} {simd:>4} {u.cycles_per_step:>9} {r.lut:>8} {r.ff:>8} "
                f"{r.bram18:>6} {r.dsp:>5}"
            )
        t = self.total
        lines.append("-" * len(head))
        lines.append(f"{'total':<36} {'':<10} {'':>4} {'':>4} {'':>9} {t.lut:>8} {t.ff:>8} {t.bram18:>6} {t.dsp:>5}")
        u = t.utilisation(self.part)
        lines.append(
            f"{'% of ' + self.part.name:<58} {u['lut']:>7.2f}% {u['ff']:>7.2f}% {u['bram18']:>5.1f}% {u['dsp']:>4.1f}%"
        )
        lines.append("")
        applies = {u.fused_into: u.name for u in self.units if u.fused_into is not None}
        for s in self.stages:
            fed = f", fed by a FIFO from {s.fed_by}" if s.fed_by is not None else ""
            if s.name in applies:
                fed += f", applying its epilogue {applies[s.name]}"
            fill = f"; fill {s.fill}" if s.fill is not None else ""
            if s.pipeline_depth is not None and s.prologue:
                lines.append(
                    f"stage {s.name}: {s.prologue} (once: x read before the steps, step 0's x folds, less the "
                    f"last step's) + "
                    f"{s.steps} steps x {s.step_cycles} (MVAU + pipeline, x_t+1 read in parallel) cycles = "
                    f"{s.cycles} cycles (streamed step{fill}{fed})"
                )
            elif s.pipeline_depth is not None:
                lines.append(
                    f"stage {s.name}: {s.steps} steps x ({s.step_cycles - s.pipeline_depth} MVAU + "
                    f"{s.pipeline_depth} pipeline) cycles = {s.cycles} cycles (streamed step{fill}{fed})"
                )
            elif s.fill is not None:
                lines.append(f"stage {s.name}: {s.cycles} cycles{fill} (streamed{fed})")
            elif s.name in applies:
                lines.append(f"stage {s.name}: {s.cycles} cycles ({fed.removeprefix(', ')})")
            else:
                lines.append(
                    f"stage {s.name}: {s.steps} steps x ({s.step_cycles} unit + {s.read_cycles_per_step} read"
                    f" + {s.write_cycles_per_step} write) cycles = {s.cycles} cycles"
                )
            if s.sequences > 1:
                lines.append(
                    f"  {s.sequences} interleaved sequences: {s.cycles_per_step} cycles per step for all, "
                    f"{s.cycles_per_step / s.sequences:g} per sequence"
                )
        if any(s.fed_by is not None for s in self.stages):
            lines.append(
                "stages joined by FIFOs run concurrently: a chain takes the sum of its fills plus its "
                "bottleneck's cycles minus its fill; chains and buffered stages add up"
            )
        lines.append(
            f"latency: {self.cycles} cycles per inference ({self.latency_us:.2f} us at {self.clock_mhz:g} MHz)"
        )
        if self.simulated is not None:
            lines.append(
                f"cycle-level simulation of the streamed chains (their FIFOs at the emitted depths): "
                f"{self.simulated} cycles per inference ({self.simulated / self.clock_mhz:.2f} us)"
            )
        if self.max_seq_len is not None:
            lines.append(
                f"run-time sequence length T <= {self.max_seq_len}: latency at T = 1 is {self.cycles_at(1)} "
                f"cycles, each further step adds {self.cycles_at(2) - self.cycles_at(1)}; "
                f"at T = {self.max_seq_len}: {self.cycles_at(self.max_seq_len)} cycles"
            )
        lines.append(
            f"initiation interval: {self.initiation_interval} cycles ({self.initiation_interval_us:.2f} us "
            "between inferences: the slowest stage; the top is ap_ctrl_chain, so inferences overlap)"
        )
        lines.append("(estimates: cycles follow the emitted schedule; resources are FINN-R-style closed forms)")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------- IR -> estimates
def _bits(ty) -> int:
    from xdsl.dialects.builtin import IntegerType

    elem = ty.get_element_type() if hasattr(ty, "get_element_type") else ty
    return elem.width.data if isinstance(elem, IntegerType) else 32


def _elements(ty) -> int:
    return math.prod(ty.get_shape())


def _fifo_depth(op, schedule=None) -> int:
    from lstmc.schedule import fifo_depth

    return fifo_depth(op, schedule)


def mvau_spec(op, schedule=None, lane_resources: Resources = Resources(), epilogue: bool = False) -> MvauSpec:
    """The cost-model view of a `dataflow.mvau`: inside a recurrence its [B, K] vectors are B interleaved
    sequences (one flat loop); at the top level V vectors are V runs of the loop (counted as V steps). With
    the streamed schedule of its recurrence, the gates and one lane of the units that stream behind it.
    `epilogue`: a top-level MVAU applying a fused unit (`lstmc.schedule.fused_epilogues`): its depth adds
    EPILOGUE_DEPTH and the unit's lanes (`lane_resources`, charged by `_epilogue_unit`) follow its PE."""
    from lstmc.dialects import qrnn
    from lstmc.schedule import overlap_choice

    return MvauSpec(
        rows=op.rows,
        part_sizes=tuple(op.part_sizes),
        weight_bits=_bits(op.weights.get_element_type()),
        input_bits=max(_bits(v.type) for v in op.inputs),
        acc_bits=_bits(op.result.type),
        fifo_depth=0 if epilogue else _fifo_depth(op, schedule),  # no FIFO of accumulators behind a fused one
        vectors=op.vectors if isinstance(op.parent_op(), qrnn.RecurrenceOp) else 1,
        gates=schedule.gates if schedule is not None else (1 if epilogue else 0),
        lane_resources=lane_resources,
        chain=schedule.depth if schedule is not None else None,
        x_parts=schedule.x_parts() if schedule is not None else 0,
        steps=schedule.rec.seq_len if schedule is not None else 1,
        overlap_choice=overlap_choice(op),
        epilogue_depth=EPILOGUE_DEPTH if epilogue else 0,
    )


def codes_per_beat(value) -> int:
    """P: the codes in one beat of the port carrying `value` (`lstmc.ports.port_packing`, `--axis-bits`)."""
    from xdsl.dialects import func

    from lstmc.ports import axis_bits_of, port_packing

    fn = value.owner.parent_op() if isinstance(value.owner, Operation) else None
    while fn is not None and not isinstance(fn, func.FuncOp):
        fn = fn.parent_op()
    axis_bits = axis_bits_of(fn) if isinstance(fn, func.FuncOp) else None
    return port_packing(_bits(value.type), axis_bits)[1]


def _unit_name_hint(op, index: int, used: set[str]) -> str:
    hint = op.results[0].name_hint if op.results else None
    base = hint or f"op{index}"
    name = base if base not in used else f"{base}@{index}"
    used.add(name)
    return name


def _streamed_unit(op, index: int, stage: str, schedule, used: set[str]) -> UnitEstimate | None:
    """A gate slice (its FIFO into the cell, E lanes) or an elementwise unit of a streamed step's cell: its
    datapath E lanes wide, its busy cycles the cell's loop; the cell's one loop control is charged to its
    first unit."""
    from lstmc.dialects import qrnn

    if not op.results or op.results[0] not in schedule.done:
        return None
    out = op.results[0]
    lanes = schedule.lanes()
    depth, fifos = _fifo_depth(op, schedule), int(out in schedule.fifo)
    in_bits = [_bits(v.type) for v in op.operands]
    if op is schedule.mvau:  # one gate, read straight from the MVAU: its output FIFOs
        name = f"{stage}/{out.name_hint or 'mvau'}_fifo"
        while name in used:
            name += "'"
        used.add(name)
        _, lane = elementwise_parts("slice", in_bits, _bits(out.type), depth, fifos)
        return UnitEstimate(
            name, "fifo", stage, schedule.rec.seq_len, 0, lane * lanes, _elements(out.type), lanes=lanes, per_lane=lane
        )
    name = f"{stage}/{_unit_name_hint(op, index, used)}"
    if isinstance(op, qrnn.SliceOp):
        kind, (fixed, lane) = "slice", elementwise_parts("slice", in_bits, _bits(out.type), depth, fifos)
        cycles = 0  # wiring: the MVAU writes the gate's FIFOs
    else:
        if isinstance(op, qrnn.ThresholdOp):
            shape = tuple(op.thresholds.get_shape())
            kind = "threshold"
            fixed, lane = threshold_parts(
                schedule.hidden, shape[-1], in_bits[0], _bits(out.type), len(shape) == 2, depth, fifos
            )
        elif isinstance(op, qrnn.LutOp):
            kind = "lut"
            fixed, lane = lut_table_parts(_elements(op.table.type), in_bits[0], _bits(out.type), depth, fifos)
        else:
            kind = {qrnn.IMulOp: "imul", qrnn.ScaledSumOp: "scaled_sum", qrnn.RequantOp: "requant"}[type(op)]
            fixed, lane = elementwise_parts(kind, in_bits, _bits(out.type), depth, fifos)
        cycles = schedule.unit_iterations() + schedule.depth
        if op is not schedule.units[0]:
            fixed = fixed - Resources(lut=UNIT_CONTROL_LUT)
    return UnitEstimate(
        name,
        kind,
        stage,
        schedule.rec.seq_len,
        cycles,
        fixed + lane * lanes,
        _elements(out.type),
        lanes=lanes,
        per_lane=lane,
    )


def _streamed_stage(rec, stage: str, schedule, mvau_name: dict[int, str]) -> tuple[list[UnitEstimate], StageEstimate]:
    """The units and the stage of a streamed recurrence (module docstring)."""
    used = {mvau_name[id(schedule.mvau)].rsplit("/", 1)[-1]}
    units = []
    for index, op in enumerate(rec.body.block.ops):
        unit = _streamed_unit(op, index, stage, schedule, used)
        if unit is not None:
            units.append(unit)
    lane = total(u.per_lane for u in units)
    op = schedule.mvau
    spec = replace(mvau_spec(op, schedule, lane), fifo_depth=0)  # its FIFOs are the gates' (units above)
    pe, simd = op.pe.value.data, op.simd.value.data
    busy, step, first, last = spec.streamed_step(pe, simd, rec.seq_len)  # x from buffers (FIFOs: _streamed_rec)
    mvau = UnitEstimate(
        mvau_name[id(op)],
        "mvau",
        stage,
        rec.seq_len,
        busy,
        spec.unit_resources(pe, simd),
        length=spec.rows,
        pe=pe,
        simd=simd,
        spec=spec,
    )
    # the state on chip: a register copy per process reading each state in the step (the MVAU, the cell),
    # and the next state
    readers = [
        int(arg in schedule.mvau.operands) + int(any(arg in u.operands for u in schedule.units))
        for arg in rec.body.block.args[: len(rec.init)]
    ]
    state_ff = sum((n + 1) * _elements(v.type) * _bits(v.type) for n, v in zip(readers, rec.init))
    state = UnitEstimate(
        f"{stage}/state", "state", stage, 0, 0, Resources(ff=state_ff), sum(_elements(v.type) for v in rec.init)
    )
    depth = schedule.depth + STEP_OVERHEAD
    return [mvau] + units + [state], StageEstimate(
        stage, rec.seq_len, 0, step, 0, schedule.sequences, depth, prologue=first + last
    )


def _unit(
    op, index: int, stage: str, steps: int, mvau_name: dict[int, str], used: set[str], epilogue: bool = False
) -> UnitEstimate | None:
    from lstmc.dialects import dataflow, qrnn

    if isinstance(op, dataflow.MVAUOp):
        spec = mvau_spec(op, epilogue=epilogue)
        pe, simd = op.pe.value.data, op.simd.value.data
        return UnitEstimate(
            mvau_name[id(op)],
            "mvau",
            stage,
            steps,
            spec.cycles(pe, simd),
            spec.resources(pe, simd),
            length=spec.rows,
            pe=pe,
            simd=simd,
            spec=spec,
        )
    if isinstance(op, (qrnn.ConstantOp, qrnn.YieldOp)) or not op.results:
        return None
    name = f"{stage}/{_unit_name_hint(op, index, used)}"
    out = op.results[0].type
    length = _elements(out)
    fifo = _fifo_depth(op)
    if isinstance(op, qrnn.IMatMulOp):
        k = SSAValue.get(op.lhs, type=TensorType).type.get_shape()[-1]
        spec = MvauSpec(length, (k,), _bits(op.rhs.type), _bits(op.lhs.type), _bits(out), fifo)
        return UnitEstimate(name, "imatmul", stage, steps, spec.cycles(1, 1), spec.resources(1, 1), length, 1, 1)
    if isinstance(op, qrnn.ThresholdOp):
        shape = tuple(op.thresholds.get_shape())
        res = threshold_resources(length, shape[-1], _bits(op.input.type), _bits(out), len(shape) == 2, fifo)
        kind = "threshold"
    elif isinstance(op, qrnn.LutOp):
        res = lut_table_resources(_elements(op.table.type), _bits(op.input.type), _bits(out), fifo)
        kind = "lut"
    else:
        kind = {
            qrnn.IMulOp: "imul",
            qrnn.ScaledSumOp: "scaled_sum",
            qrnn.RequantOp: "requant",
            qrnn.SliceOp: "slice",
        }.get(type(op))
        in_bits = [_bits(v.type) for v in op.operands]
        if kind is None:  # another op in a body: modelled as a plain elementwise loop (wiring + control)
            kind, res = op.name.split(".")[-1], elementwise_resources("slice", in_bits, _bits(out), fifo)
        else:
            res = elementwise_resources(kind, in_bits, _bits(out), fifo)
    return UnitEstimate(name, kind, stage, steps, elementwise_cycles(length), res, length)


def _sequences(rec) -> int:
    """B when every carried state and step input is a batch of B vectors [B, N] (torch's layout), else 1."""
    shapes = [tuple(a.type.get_shape()) for a in rec.body.block.args]
    leads = {s[0] for s in shapes if len(s) == 2}
    return leads.pop() if len(leads) == 1 and all(len(s) == 2 for s in shapes) else 1


def _write_back_length(rec) -> int:
    """Elements copied out per step: the new state, and each scan output once per consumer (not func.return)."""
    from xdsl.dialects import func

    state = sum(_elements(v.type) for v in rec.init)
    outputs = 0
    for out in rec.outputs:
        copies = sum(1 for use in out.uses if not isinstance(use.operation, func.ReturnOp))
        outputs += copies * _elements(out.type) // max(rec.seq_len, 1)
    return state + outputs


def estimate_module(module, part: Part = DEFAULT_PART, clock_mhz: float = DEFAULT_CLOCK_MHZ) -> Report:
    """Per-unit and total estimates of a dataflow-level module (after qrnn-to-dataflow and qrnn-set-folding).

    Units are keyed by the stable names of `qrnn-set-folding`: "<onnx node>/gates" for MVAUs,
    "<onnx node>/<SSA name hint or op<index>>" for the other units of a recurrence body.
    """
    from lstmc.dialects import dataflow
    from lstmc.ports import port_views
    from lstmc.schedule import step_schedule
    from lstmc.unit_names import mvau_names, recurrence_names

    mvau_ops = mvau_names(module)
    mvau_name = {id(op): name for name, op in mvau_ops.items()}
    units: list[UnitEstimate] = []
    stages: list[StageEstimate] = []
    in_recurrence: set[int] = set()
    for stage, rec in recurrence_names(module):
        in_recurrence.update(id(op) for op in rec.walk())
        schedule = step_schedule(rec)
        if schedule is not None:
            stage_units, stage_estimate = _streamed_stage(rec, stage, schedule, mvau_name)
            units.extend(stage_units)
            stages.append(stage_estimate)
            continue
        steps = rec.seq_len
        read = sum(_elements(a.type) for a in rec.body.block.args[len(rec.init) :])
        used = {mvau_name[id(op)].rsplit("/", 1)[-1] for op in rec.walk() if isinstance(op, dataflow.MVAUOp)}
        stage_units = []
        for index, op in enumerate(rec.body.block.ops):
            unit = _unit(op, index, stage, steps, mvau_name, used)
            if unit is not None:
                stage_units.append(unit)
        units.extend(stage_units)
        stages.append(
            StageEstimate(
                stage,
                steps,
                read,
                recurrence_step_cycles(u.cycles_per_step for u in stage_units),
                _write_back_length(rec),
                _sequences(rec),
            )
        )
    rec_stage = {id(rec): stage for stage, rec in recurrence_names(module)}
    used: set[str] = set()
    chains: list[tuple[str, ...]] = []
    for fn in module.ops:
        for region in fn.regions:
            for block in region.blocks:
                views = port_views(block)
                top = _StreamedTop(block, mvau_ops, mvau_name, used)
                fused_into = {unit: mvau for mvau, unit in top.fused.items()}
                for index, op in enumerate(block.ops):
                    if id(op) in in_recurrence:
                        continue
                    if op in fused_into:  # applied by its MVAU: resources, no stage; its result's buffers
                        mvau = next(u for u in units if u.name == mvau_name[id(fused_into[op])])
                        epilogue = _epilogue_unit(op, index, mvau, used)
                        if fused_into[op] in top.ops:  # its lanes join the MVAU's other streamed lanes (finish)
                            top.lane_units.setdefault(mvau.name, []).append(epilogue)
                        else:
                            assert mvau.spec is not None and epilogue.per_lane is not None
                            mvau.spec = replace(mvau.spec, lane_resources=mvau.spec.lane_resources + epilogue.per_lane)
                        units.append(epilogue)
                        units.extend(_buffers(op, used, views, top.streams))
                        continue
                    if op in top.ops:
                        stage_units, stage = top.process(op, index)
                        units.extend(stage_units)
                        stages.append(stage)
                        if op not in top.fused:  # a fused MVAU writes its epilogue's result
                            units.extend(_buffers(op, used, views, top.streams))  # its results not in a FIFO
                        continue
                    unit = _top_unit(op, index, mvau_name, used, op in top.fused)
                    if unit is not None:
                        units.append(unit)
                        stages.append(StageEstimate(unit.name, unit.steps, 0, unit.cycles_per_step))
                    if op not in top.fused:
                        units.extend(_buffers(op, used, views, top.streams))
                top.finish(units, stages, rec_stage)
                chains += top.chain_names
    return Report(units, stages, part, clock_mhz, chains=tuple(chains))


class _StreamedTop:
    """The processes of the streamed top level (`lstmc.schedule.top_streams`) as units and stages with
    fills, each knowing how its cycles change with the foldings (`StageEstimate.refold`)."""

    def __init__(self, block, mvau_ops: dict, mvau_name: dict[int, str], used: set[str]):
        from xdsl.dialects import func
        from xdsl.ir import OpResult

        from lstmc.dialects import dataflow, qrnn
        from lstmc.ports import max_seq_len_of, sequence_ports
        from lstmc.schedule import fused_epilogues, step_schedule, top_streams

        self.block = block
        self.chain_names: list[tuple[str, ...]] = []
        self.streams = top_streams(block)
        self.fused = fused_epilogues(block)  # MVAU -> the unit it applies (no process, no FIFO of its own)
        # a run-time T (`lstmc.max_seq_len` = N): the ports carrying a sequence move T rows (counted at N, as
        # N steps of a row each, so that `Report.cycles_at` scales them)
        fn = block.parent_op()
        n = max_seq_len_of(fn) if isinstance(fn, func.FuncOp) else None
        self.rows: dict = {}
        if n is not None:
            assert isinstance(fn, func.FuncOp)
            ins, outs = sequence_ports(fn)
            quantizes = [op for op in block.ops if isinstance(op, qrnn.QuantizeOp)]
            returned = list(block.last_op.operands) if block.last_op is not None else []
            self.rows = {q: n for q, timed in zip(quantizes, ins) if timed}
            self.rows |= {v.op: n for v, timed in zip(returned, outs) if timed and isinstance(v, OpResult)}
        self.into = {st.consumer: st for st in self.streams.values()}
        self.ops = {st.producer for st in self.streams.values()} | set(self.into)
        self.ops = {op for op in self.ops if not isinstance(op, qrnn.RecurrenceOp)}
        self.mvau_ops, self.mvau_name, self.used = mvau_ops, mvau_name, used
        self.folding = {n: (o.pe.value.data, o.simd.value.data) for n, o in mvau_ops.items()}
        self.stage_of: dict = {}
        self.lane_units: dict[str, list[UnitEstimate]] = {}  # MVAU -> the units running at its PE
        # streamed value -> lanes: an int, ("pe" | "simd", MVAU name), or ("e", MVAU name, G): the E lanes of
        # a streamed recurrence's units, PE / gcd(PE, G)
        self.width: dict = {}
        for value, st in self.streams.items():
            op = st.producer
            if isinstance(op, qrnn.RecurrenceOp):
                schedule = step_schedule(op)
                assert schedule is not None, "only a streamed recurrence writes y_t to a FIFO"
                self.width[value] = ("e", mvau_name[id(schedule.mvau)], schedule.gates)
            elif isinstance(op, dataflow.MVAUOp):
                self.width[value] = ("pe", mvau_name[id(op)])
            elif isinstance(op, qrnn.WindowOp):
                self.width[value] = ("simd", mvau_name[id(st.consumer)])
            elif op in self.into:
                self.width[value] = self.width[self.into[op].value]
            else:  # an input port's reader: 1, or the P codes of a beat (`top_streams`)
                self.width[value] = st.lanes

    @staticmethod
    def lanes(src, folding) -> int:
        if isinstance(src, int):
            return src
        pe, simd = folding[src[1]]
        if src[0] == "e":
            return pe // math.gcd(pe, src[2])
        return pe if src[0] == "pe" else simd

    def _name(self, op, index: int) -> str:
        return f"top/{_unit_name_hint(op, index, self.used)}"

    def _port_stage(self, op, name: str, words: int, **kwargs) -> StageEstimate:
        """A port's reader or writer moving `words` words and its pipeline depth: one step, or T steps of a
        row each when the port carries a sequence of run-time length."""
        rows = self.rows.get(op)
        if rows is None:
            return StageEstimate(name, 1, 0, words + ELEMENTWISE_DEPTH, **kwargs)
        return StageEstimate(name, rows, 0, words // rows, prologue=ELEMENTWISE_DEPTH, **kwargs)

    def process(self, op, index: int) -> tuple[list[UnitEstimate], StageEstimate]:
        from lstmc.dialects import dataflow, qrnn
        from lstmc.ports import port_rate
        from lstmc.schedule import line_buffer

        lanes = self.lanes
        if isinstance(op, qrnn.QuantizeOp):  # an input port's reader: min(L, P) codes per cycle (`port_rate`)
            name = f"top/read_{op.result.name_hint or index}"
            n = _elements(op.result.type)
            st = self.streams.get(op.result)
            per_beat, word = codes_per_beat(op.result), st.lanes if st is not None else 1
            words = n // port_rate(word, per_beat)
            unit = UnitEstimate(name, "reader", name, 1, words + ELEMENTWISE_DEPTH, Resources(lut=UNIT_CONTROL_LUT), n)
            self.stage_of[op] = name
            fill = ELEMENTWISE_DEPTH + max(word // per_beat - 1, 0)  # a word of k beats is whole after k cycles
            return [unit], self._port_stage(op, name, words, fill=fill)
        if isinstance(op, qrnn.DequantizeOp):  # an output port's writer: min(L, P) codes per cycle (`port_rate`)
            name = f"top/write_{op.result.name_hint or index}"
            n = _elements(op.result.type)
            per_beat = codes_per_beat(op.input)
            src = self.width[self.into[op].value] if op in self.into else 1

            def writer_refold(f: dict[str, tuple[int, int]], src=src) -> tuple[int, int]:
                words = n // port_rate(lanes(src, f), per_beat)
                return words + ELEMENTWISE_DEPTH, ELEMENTWISE_DEPTH

            cycles, fill = writer_refold(self.folding)
            unit = UnitEstimate(name, "writer", name, 1, cycles, Resources(lut=UNIT_CONTROL_LUT), n)
            self.stage_of[op] = name
            return [unit], self._port_stage(op, name, cycles - ELEMENTWISE_DEPTH, fill=fill, refold=writer_refold)
        if isinstance(op, dataflow.MVAUOp):
            name = self.mvau_name[id(op)]
            spec = replace(mvau_spec(op, epilogue=op in self.fused), fifo_depth=0, vectors=op.vectors, gates=1)
            pe, simd = op.pe.value.data, op.simd.value.data
            unit = UnitEstimate(
                name,
                "mvau",
                name,
                1,
                spec.cycles(pe, simd),
                spec.unit_resources(pe, simd),
                length=spec.rows,
                pe=pe,
                simd=simd,
                spec=spec,
            )
            self.stage_of[op] = name
            cols = spec.cols

            def mvau_refold(f: dict[str, tuple[int, int]], name: str = name, spec: MvauSpec = spec) -> tuple[int, int]:
                return spec.cycles(*f[name]), streamed_mvau_fill(cols, f[name][1], spec.epilogue_depth)

            fill = streamed_mvau_fill(cols, simd, spec.epilogue_depth)
            return [unit], StageEstimate(name, 1, 0, unit.cycles_per_step, fill=fill, refold=mvau_refold)
        name = self._name(op, index)
        self.stage_of[op] = name
        folding = self.folding
        if isinstance(op, qrnn.WindowOp):
            (kh, kw), (sh, _), (_, wo) = op.kernel_size, op.stride, op.out_hw
            h, w, c = SSAValue.get(op.input, type=TensorType).type.get_shape()
            src_in = self.width[self.into[op].value]
            out = self.streams.get(op.result)
            src_out = self.width[op.result] if out is not None else 1

            def window_refold(f: dict[str, tuple[int, int]], src_in=src_in, src_out=src_out) -> tuple[int, int]:
                return line_buffer_cycles(h, w * c // lanes(src_in, f), wo * kh * kw * c // lanes(src_out, f), kh, sh)

            cycles, fill = window_refold(folding)
            bits = _bits(op.input.type)
            slots = line_buffer(op).slots
            res = memory_resources(slots * w * c, bits) + elementwise_resources("slice", [bits], bits)
            unit = UnitEstimate(name, "window", name, 1, cycles, res, _elements(op.result.type))
            return [unit], StageEstimate(name, 1, 0, cycles, fill=fill, refold=window_refold)
        # an elementwise unit, E lanes wide (E: its stream's word width)
        st = self.into.get(op)
        src = self.width[st.value] if st is not None else self.width.get(op.results[0], 1)
        e = lanes(src, folding)
        kind, fixed, lane = _lane_parts(op)
        n = _elements(op.results[0].type)

        def unit_refold(f: dict[str, tuple[int, int]], src=src) -> tuple[int, int]:
            return n // lanes(src, f) + ELEMENTWISE_DEPTH, ELEMENTWISE_DEPTH

        cycles, fill = unit_refold(folding)
        unit = UnitEstimate(
            name,
            kind,
            name,
            1,
            cycles,
            fixed + lane * e,
            n,
            lanes=e,
            per_lane=lane if not isinstance(src, int) and src[0] == "pe" else None,
        )
        if unit.per_lane is not None and not isinstance(src, int):
            self.lane_units.setdefault(src[1], []).append(unit)
        return [unit], StageEstimate(name, 1, 0, cycles, fill=fill, refold=unit_refold)

    def finish(self, units: list[UnitEstimate], stages: list[StageEstimate], rec_stage: dict) -> None:
        """Link the stages along the FIFOs, charge the lanes to their MVAUs and add x_t's FIFO reads to the
        recurrences that take it from a FIFO."""
        from lstmc.dialects import qrnn
        from lstmc.schedule import top_fifo_depth

        by_name = {s.name: s for s in stages}
        simd_lanes: dict[str, list[UnitEstimate]] = {}
        recs = [
            op for st in self.streams.values() for op in (st.producer, st.consumer) if isinstance(op, qrnn.RecurrenceOp)
        ]
        for rec in dict.fromkeys(recs):
            self.stage_of[rec] = rec_stage[id(rec)]
            self._streamed_rec(by_name[rec_stage[id(rec)]], rec, self.into.get(rec), units)
        for value, st in self.streams.items():
            by_name[self.stage_of[st.consumer]].fed_by = self.stage_of[st.producer]
            bits = _bits(value.type)
            name = f"fifo/{value.name_hint or 'value'}"
            while name in self.used:
                name += "'"
            self.used.add(name)
            depth = top_fifo_depth(st)
            lane = fifo_resources(depth, bits)
            src = self.width[value]
            fifo = UnitEstimate(
                name,
                "fifo",
                "top",
                0,
                0,
                lane * st.lanes,
                depth,
                lanes=st.lanes,
                per_lane=None if isinstance(src, int) else lane,
            )
            units.append(fifo)
            if not isinstance(src, int):  # its lanes are the PE (or E) or SIMD of an MVAU: paid with its folding
                (simd_lanes if src[0] == "simd" else self.lane_units).setdefault(src[1], []).append(fifo)
        for name, lane_units in self.lane_units.items():  # on top of a recurrence's own units' lanes
            mvau = next(u for u in units if u.name == name)
            assert mvau.spec is not None
            mvau.spec = replace(mvau.spec, lane_resources=mvau.spec.lane_resources + total(_per_lane(lane_units)))
        for name, lane_units in simd_lanes.items():
            mvau = next(u for u in units if u.name == name)
            assert mvau.spec is not None
            mvau.spec = replace(mvau.spec, input_lane_resources=total(_per_lane(lane_units)))
        from lstmc.schedule import chains

        self.chain_names = [tuple(self.stage_of[op] for op in c.ops) for c in chains(self.block, self.streams)]

    def _streamed_rec(self, stage: StageEstimate, rec, into, units: list[UnitEstimate]) -> None:
        """A streamed recurrence in a chain of FIFOs. Fed x_t by one (`streamed_x_step`): x_0 read before the
        first step, x_{t+1} during step t; its fill is then that read and one step. Writing y_t to one (the
        units write it as they compute it: no cycles), its fill is one step: y_0 is out by the end of it."""
        from lstmc.schedule import step_schedule

        folding, steps, lanes = self.folding, stage.steps, self.lanes
        schedule = step_schedule(rec)
        assert schedule is not None, "a streamed recurrence"
        mvau = self.mvau_name[id(schedule.mvau)]
        spec = mvau_spec(schedule.mvau, schedule)
        per_step = _elements(into.value.type) // rec.seq_len if into is not None else 0
        src = self.width[into.value] if into is not None else 1
        fed = schedule.fed_part(into.view) if into is not None else None

        def parts(f: dict[str, tuple[int, int]]) -> tuple[int, int, int, int]:
            """(step, x_0 (and x_1) read before the steps, step 0's extra cycles, the last step's) at
            folding f."""
            read = per_step // lanes(src, f) + ELEMENTWISE_DEPTH if into is not None else 0
            x_lanes = [lanes(src, f) if p == fed else None for p in range(spec.x_parts)]
            busy, step, first, last = spec.streamed_step(*f[mvau], steps, x_lanes)
            if f is folding:  # the MVAU's loop with the FIFO's words read in it
                next(u for u in units if u.name == mvau).cycles_per_step = busy
            if into is not None:  # x_{t+1} (x-overlapped: x_{t+2}) read beside the step
                step = streamed_x_step(step, read)
                if fed is not None and spec.overlap(*f[mvau], steps, x_lanes) is not None:
                    read *= 2  # x-overlapped, two steps ahead: x_0 and x_1 before the steps
            return step, read, first, last

        def refold(f: dict[str, tuple[int, int]]) -> tuple[int, int]:
            step, read, first, last = parts(f)
            return read + first + last + steps * step, read + first + step

        stage.step_cycles, read, first, last = parts(folding)
        stage.prologue = read + first + last
        _, stage.fill = refold(folding)
        stage.refold = refold


def _epilogue_unit(op, index: int, mvau: UnitEstimate, used: set[str]) -> UnitEstimate:
    """A unit fused into the top-level MVAU in front of it (`lstmc.schedule.fused_epilogues`), applied to
    each of its PE rows per cycle: its datapath (comparators, table, rounding and clamp) and pipeline
    registers PE times, its per-channel memory once, no loop control (`UNIT_CONTROL_LUT`) and no cycles of
    its own (its depth is the MVAU's `epilogue_depth`). Named like the unit, kind "epilogue", in the MVAU's
    stage; its lanes are paid with the MVAU's folding (`per_lane`, added to its spec's `lane_resources`)."""
    _, fixed, lane = _lane_parts(op)
    fixed = fixed - Resources(lut=UNIT_CONTROL_LUT)
    pe = mvau.pe or 1
    return UnitEstimate(
        f"top/{_unit_name_hint(op, index, used)}",
        "epilogue",
        mvau.stage,
        mvau.steps,
        0,
        fixed + lane * pe,
        _elements(op.results[0].type),
        lanes=pe,
        per_lane=lane,
        fused_into=mvau.name,
    )


def _per_lane(units: Iterable[UnitEstimate]) -> list[Resources]:
    """The per-lane resources of units whose lanes an MVAU's folding pays."""
    return [u.per_lane for u in units if u.per_lane is not None]


def _lane_parts(op) -> tuple[str, Resources, Resources]:
    """(kind, once, per lane) of a top-level elementwise unit streaming E lanes wide."""
    from lstmc.dialects import qrnn

    out = op.results[0]
    in_bits = [_bits(v.type) for v in op.operands]
    if isinstance(op, qrnn.ThresholdOp):
        shape = tuple(op.thresholds.get_shape())
        fixed, lane = threshold_parts(out.type.get_shape()[-1], shape[-1], in_bits[0], _bits(out.type), len(shape) == 2)
        return "threshold", fixed, lane
    if isinstance(op, qrnn.LutOp):
        fixed, lane = lut_table_parts(_elements(op.table.type), in_bits[0], _bits(out.type))
        return "lut", fixed, lane
    kind = {qrnn.IMulOp: "imul", qrnn.ScaledSumOp: "scaled_sum", qrnn.RequantOp: "requant"}[type(op)]
    fixed, lane = elementwise_parts(kind, in_bits, _bits(out.type))
    return kind, fixed, lane


_PLUMBING = (
    "qrnn.reshape",
    "qrnn.concat",
    "qrnn.slice",
    "qrnn.constant",
    "qrnn.quantize",
    "qrnn.dequantize",
    "qrnn.recurrence",
    "func.return",
)


def _top_unit(op, index: int, mvau_name: dict[int, str], used: set[str], epilogue: bool = False) -> UnitEstimate | None:
    """A process of the top-level DATAFLOW region outside the recurrences (a stage of its own); `epilogue`:
    an MVAU applying a fused unit (`lstmc.schedule.fused_epilogues`)."""
    from lstmc.dialects import dataflow, qrnn

    if isinstance(op, dataflow.MVAUOp):  # over V vectors (a convolution's patches): V x the flat loop
        unit = _unit(op, index, "top", op.vectors, mvau_name, used, epilogue)
        assert unit is not None, "an MVAU is a unit"
        unit.stage = unit.name
        return unit
    if op.name in _PLUMBING or not op.results:
        return None
    name = f"top/{_unit_name_hint(op, index, used)}"
    if isinstance(op, (qrnn.WindowOp, qrnn.TransposeOp)):  # a copy in output order, one element per cycle
        out = op.results[0].type
        res = elementwise_resources("slice", [_bits(op.input.type)], _bits(out))
        return UnitEstimate(
            name, op.name.split(".")[-1], name, 1, elementwise_cycles(_elements(out)), res, _elements(out)
        )
    unit = _unit(op, index, "top", 1, mvau_name, used)
    if unit is not None:
        unit.name = unit.stage = name
    return unit


def _buffers(op, used: set[str], views, streams=None) -> list[UnitEstimate]:
    """The ping-pong arrays that carry a top-level result to each of its consumers (one pair per consumer,
    as qrnn-to-hlscpp allocates them): 2 x elements words of the result's width. Reshapes next to a port
    are views (`port_views`): a read view's consumers get the buffers instead of the view, a write view has
    none and its source feeds each output port behind it."""
    from xdsl.dialects import func

    read_views, write_views = views
    streams = streams or {}
    if any(r in streams for r in op.results) or any(op in st.reshapes for st in streams.values()):
        return []  # a FIFO (counted with the streamed top level), or a view of one

    def buffered(consumer) -> int:  # buffers that one use by `consumer` costs
        if consumer in write_views:
            return sum(buffered(u.operation) for u in consumer.results[0].uses)
        if isinstance(consumer, func.ReturnOp) or (consumer.results and consumer.results[0] in read_views):
            return 0
        return 1

    if op in write_views:
        return []
    buffers = []
    for result in op.results:
        consumers = [u.operation for u in result.uses for _ in range(buffered(u.operation))]
        if not consumers or not hasattr(result.type, "get_shape"):
            continue
        depth = 2 * _elements(result.type)
        res = memory_resources(depth, _bits(result.type))
        base = result.name_hint or op.name.split(".")[-1]
        for k in range(len(consumers)):
            name = f"buffer/{base}"
            while name in used:
                name += "'"
            used.add(name)
            buffers.append(UnitEstimate(name, "buffer", "top", 0, 0, res, depth))
    return buffers


# ---------------------------------------------------------------------------------- folding design space
Folding = dict[str, tuple[int, int]]  # unit name -> (PE, SIMD)
FrontEntry = tuple[int, tuple[int, int, int], Folding]  # (cycles, (LUT, DSP, BRAM18), folding)


@dataclass
class FoldingSpace:
    """Cycles and resources of a module as a function of its MVAU foldings.

    Only MVAU cycles and resources depend on the folding, so a report splits into a fixed part (every other
    unit, the input reads) and one additive term per MVAU: cycles = base_cycles + sum of its stage's cycles
    that depend on its folding (`MvauSpec.stage_cycles`: T_m * mvau_cycles_m, or a streamed recurrence's
    whole stage, whose step may take the x-overlapped schedule),
    resources = base_resources + sum mvau_resources_m. That makes the units independent.
    """

    base_cycles: int
    base_resources: Resources
    units: dict[str, tuple[int, MvauSpec]]  # name -> (steps T, spec)
    # a streamed top level: latency is not a sum over units; each stage re-derives its (cycles, fill)
    stages: list[StageEstimate] | None = None
    current: dict[str, tuple[int, int]] = field(default_factory=dict)  # the report's folding
    stage_of: dict[str, str] = field(default_factory=dict)  # MVAU -> the stage it runs in
    _every: list | None = field(default=None, init=False, repr=False, compare=False)  # `_all_foldings`

    @classmethod
    def from_report(cls, report: Report) -> FoldingSpace:
        mvaus = [u for u in report.units if u.kind == "mvau"]
        # units streaming behind an MVAU pay their lanes through its spec (lane_resources), the rest is fixed
        fixed = [
            u.resources if u.per_lane is None else u.resources - u.per_lane * u.lanes
            for u in report.units
            if u.kind != "mvau"
        ]
        streamed = any(s.fed_by is not None for s in report.stages)
        units: dict[str, tuple[int, MvauSpec]] = {}
        current: dict[str, tuple[int, int]] = {}
        for u in mvaus:
            assert u.spec is not None and u.pe is not None and u.simd is not None, "an MVAU has its spec and folding"
            units[u.name] = (u.steps, u.spec)
            current[u.name] = (u.pe, u.simd)
        return cls(
            base_cycles=report.cycles
            - sum(spec.stage_cycles(steps, *current[n]) for n, (steps, spec) in units.items()),
            base_resources=total(fixed),
            units=units,
            stages=list(report.stages) if streamed else None,
            current=current,
            stage_of={u.name: u.stage for u in mvaus},
        )

    def _latency(self, folding: dict[str, tuple[int, int]]) -> int:
        """The streamed top level's latency under `folding`: each stage's `refold`, or for a stage without
        one its cycles changed by its MVAUs' (T x mvau_cycles) differences; chains by `stages_latency`."""
        assert self.stages is not None, "a streamed top level"
        cycles, fills = [], []
        for s in self.stages:
            if s.refold is not None:
                c, f = s.refold(folding)
            else:
                delta = sum(
                    spec.stage_cycles(steps, *folding[n]) - spec.stage_cycles(steps, *self.current[n])
                    for n, (steps, spec) in self.units.items()
                    if self.stage_of[n] == s.name
                )
                c = s.cycles + delta
                f = c if s.fill is None else s.fill
            cycles.append(c)
            fills.append(f)
        return stages_latency(self.stages, cycles, fills)

    def _fastest(self) -> dict[str, tuple[int, int]]:
        """Per MVAU its fewest cycles, the widest words on ties (every downstream unit then runs fastest)."""
        return {
            n: min(spec.foldings(), key=lambda ps: (spec.stage_cycles(steps, *ps), -ps[0], -ps[1]))
            for n, (steps, spec) in self.units.items()
        }

    def _cost(self, folding) -> tuple[int, int, int]:
        res = self.base_resources
        for name, (_, spec) in self.units.items():
            res = res + spec.resources(*folding[name])
        return res.cost_key()

    def _all_foldings(self) -> list[tuple[tuple[int, int, int], int, Folding]] | None:
        """(cost, latency, folding) of every combination when there are at most EXHAUSTIVE_FOLDINGS, else None."""
        if self._every is None and math.prod(len(spec.foldings()) for _, spec in self.units.values()) <= (
            EXHAUSTIVE_FOLDINGS
        ):
            names = list(self.units)
            combos = itertools.product(*(self.units[n][1].foldings() for n in names))
            self._every = [(self._cost(f), self._latency(f), f) for f in (dict(zip(names, c)) for c in combos)]
        return self._every

    def _descend(self, budget: int) -> dict[str, tuple[int, int]] | None:
        """A streamed top level: latency is a max over a chain, not a sum, so the exact knapsack below does
        not apply. A small space (layers joined by FIFOs) is searched exhaustively; a large one from the
        fastest folding, repeatedly taking the single-MVAU change to the cheapest total that still meets the
        budget (exact in its cycles, greedy in its cost)."""
        every = self._all_foldings()
        if every is not None:
            within = [(k, c, i) for i, (k, c, _) in enumerate(every) if c <= budget]
            return every[min(within)[2]][2] if within else None
        folding = self._fastest()
        if self._latency(folding) > budget:
            return None
        cost = self._cost(folding)
        while True:
            best = None
            for name, (_, spec) in self.units.items():
                for ps in spec.foldings():
                    if ps == folding[name]:
                        continue
                    trial = {**folding, name: ps}
                    c = self._cost(trial)
                    if c < cost and (best is None or c < best[0]) and self._latency(trial) <= budget:
                        best = (c, trial)
            if best is None:
                return folding
            cost, folding = best

    def unit_cycles(self, name: str, pe: int, simd: int) -> int:
        steps, spec = self.units[name]
        return spec.stage_cycles(steps, pe, simd)

    def evaluate(self, folding: dict[str, tuple[int, int]]) -> tuple[int, Resources]:
        """(cycles per inference, total resources) of a complete folding {name: (PE, SIMD)}."""
        if self.stages is not None:
            res = self.base_resources
            for name, (_, spec) in self.units.items():
                res = res + spec.resources(*folding[name])
            return self._latency(folding), res
        cycles, res = self.base_cycles, self.base_resources
        for name, (steps, spec) in self.units.items():
            pe, simd = folding[name]
            cycles += spec.stage_cycles(steps, pe, simd)
            res = res + spec.resources(pe, simd)
        return cycles, res

    def min_cycles(self) -> int:
        """The fewest cycles reachable: every MVAU at its fastest folding (fully parallel, or a less parallel one
        whose x-overlapped step is faster)."""
        if self.stages is not None:
            return self._latency(self._fastest())
        return self.base_cycles + sum(
            min(spec.stage_cycles(steps, p, s) for p, s in spec.foldings()) for steps, spec in self.units.values()
        )

    def pareto_front(self, budget: int | None = None) -> list[FrontEntry]:
        """Exact Pareto front of (cycles, cost) over all foldings, cost = (LUT, DSP, BRAM18) compared in order.

        Multiple-choice knapsack by merging per-unit fronts: a partial folding whose (cycles, cost) is
        dominated by another partial folding of the same units can never be part of an optimum, because
        cycles and cost are sums over units. Each merge keeps only the non-dominated sums, so the search
        stays small (fronts have at most one entry per distinct cycle count) and is exact. With a budget,
        partial sums that cannot meet it even with the fastest choice for the remaining units are dropped.
        Returns entries (cycles, cost, folding) sorted by cycles ascending, cost strictly descending.
        A streamed top level: the non-dominated results of `_descend` over 48 budgets spaced geometrically
        from the fewest cycles to the slowest folding's (an approximation of the front).
        """
        if self.stages is not None:
            lo = self.min_cycles()
            hi = self._latency({n: (1, 1) for n in self.units})
            hi = min(hi, budget) if budget is not None else hi
            budgets = sorted({round(lo * (hi / lo) ** (k / 47)) for k in range(48)} | {hi}) if hi >= lo else []
            entries = []
            for b in budgets:
                f = self._descend(b)
                if f is not None:
                    entries.append((self._latency(f), self._cost(f), tuple(f[n] for n in self.units)))
            return [(c, k, dict(zip(self.units, f))) for c, k, f in _prune(entries)]
        names = list(self.units)
        per_unit = []
        for name in names:
            steps, spec = self.units[name]
            opts = [
                (spec.stage_cycles(steps, p, s), spec.resources(p, s).cost_key(), ((p, s),)) for p, s in spec.foldings()
            ]
            per_unit.append(_prune(opts))
        fastest_rest = [0] * (len(names) + 1)
        for i in range(len(names) - 1, -1, -1):
            fastest_rest[i] = fastest_rest[i + 1] + per_unit[i][0][0]
        base_cost = self.base_resources.cost_key()
        front = [(self.base_cycles, base_cost, ())]
        for i, opts in enumerate(per_unit):
            merged = [
                (c1 + c2, tuple(a + b for a, b in zip(k1, k2)), f1 + f2)
                for c1, k1, f1 in front
                for c2, k2, f2 in opts
                if budget is None or c1 + c2 + fastest_rest[i + 1] <= budget
            ]
            front = _prune(merged)
        return [(c, k, dict(zip(names, f))) for c, k, f in front]

    def cheapest_within(self, budget: int) -> dict[str, tuple[int, int]] | None:
        """The cheapest folding (fewest LUT, then DSP, then BRAM18, then fewest cycles) meeting the budget."""
        if self.stages is not None:
            return self._descend(budget)
        feasible = [e for e in self.pareto_front(budget) if e[0] <= budget]
        if not feasible:
            return None
        return min(feasible, key=lambda e: (e[1], e[0]))[2]


def _prune(entries):
    """Keep the non-dominated (cycles, cost) entries: sorted by cycles, each strictly cheaper than the last."""
    out = []
    for entry in sorted(entries, key=lambda e: (e[0], e[1])):
        if not out or entry[1] < out[-1][1]:
            out.append(entry)
    return out
