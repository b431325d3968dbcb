"""The streamed recurrence step (lstmc.schedule.step_schedule -> qrnn-to-hlscpp -> lstmc.qor).

Properties:
- Gate interleaving: E = PE / gcd(PE, G) lanes always divide H, a group of G * E rows is a whole number of
  PE-row folds, and `row_order` is a permutation whose every group holds all G gates of E consecutive
  elements, groups in element order. Breaks with a lane count that splits a group across elements.
- One schedule: on every fixture (and folded), the emitted loop nest is the one the QoR counts — the MVAU
  process's flat loop has B * (rows/PE) * (cols/SIMD) iterations, ONE cell process behind it (fed by the
  gate FIFOs, no FIFO of its own inside the step) B * H / E iterations of E unrolled lanes, the `steps` loop
  T iterations with one call of the DATAFLOW step, and the cell's depth the QoR adds is CELL_READ +
  UNIT_STAGE per unit on the body's longest path (computed here from the qrnn body); so each recurrence's
  stage is T x (MVAU loop + its depth + the cell's + STEP_OVERHEAD), and
  where x_t comes from a FIFO (the input port, the layer before) its read loop of the step's prefetch
  process (and of the read of x_0 before the steps) bounds the step from below; a recurrence links to the
  next stage exactly when its unit computing y_t writes a top-level FIFO. Breaks if the lowering and the
  estimate disagree on any trip count, lane count, chain or FIFO link.
- One FIFO depth: every emitted gate `hls::stream` has the depth of the `fifo_depth` attribute on its gate
  slice (changing the attribute changes the pragma and the QoR's FIFO cost), E lanes wide.
- One schedule at the top level too: every streamed top-level process's busy cycles and fill in the QoR are
  its emitted loop nest's (input reader, line buffer, flat-loop MVAU, elementwise units E lanes wide), the
  recurrence reads x_0 before its steps (its prologue) and x_t+1 in a process of each step's region (as long
  as that loop, in parallel with the MVAU), there is one FIFO per stage fed by another, and the
  latency is the chains' (fills + bottleneck). The same for LSTM-only kernels of forward layers, whose
  chain is input reader -> layers -> output writer (one element per cycle, E lanes taken apart). Breaks if
  a trip count, lane count or FIFO link differs.
- Forward-only streaming: x_t from the port and y_t to the next layer or the port stream exactly in kernels
  of forward layers (no [T][N] top-level array left); a reverse direction or a value read twice keeps its
  buffer.
- Bit identity: integer == dataflow == csim with the step streamed and folded where the pipeline has corner
  cases: SIMD straddling x_t and h, groups spread over several row folds, E > 1 lanes, three gates (CIFG),
  B > 1 interleaved sequences. Breaks on a mis-permuted weight column, a lane reading another element's
  FIFO, a group written before its last fold, or a straddling fold adding an x column to the h accumulator.
  The stock ConvLSTM with its top level streamed at two foldings: csim == integer. Two layers joined by a
  FIFO of 2-lane words, fed by the port and draining into it: csim == integer.
- Line buffers of 2-d windows (`LineBuffer`): every output row is emitted once, after its kh rows came in,
  from slots the phase's write does not touch (kh + 1 of them); 3 x 3 and 3 x 2 at row stride 2 in front of
  an LSTM, folded so that words straddle kernel rows: csim == integer; patches into a buffer: im2col.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, fixture_models
from test_hardware import _inputs, check_csim_jobs, check_pooled, needs_ap_types, needs_cxx
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, IntegerType, MemRefType, ModuleOp, TensorType, i64
from xdsl.ir import OpResult, SSAValue

from lstmc import qor
from lstmc.dense import array_from_dense
from lstmc.dialects import dataflow, hlscpp, qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.hls import project
from lstmc.interpreter import run_function
from lstmc.passes.qrnn_to_hlscpp import QrnnToHlscppPass
from lstmc.pipeline import STAGE_PASSES, apply_pipeline
from lstmc.schedule import (
    CELL_READ,
    STREAM_UNITS,
    UNIT_STAGE,
    LineBuffer,
    fifo_depth,
    fused_epilogues,
    group_lanes,
    row_order,
    step_schedule,
    top_streams,
)
from lstmc.testing import ConvLstmSpec, LstmSpec, Q, build_conv_lstm, build_lstm
from lstmc.unit_names import recurrence_names

STOCK = FIXTURES.parents[1] / "examples" / "stock" / "model.onnx"
TINY = FIXTURES.parents[1] / "examples" / "tiny_lstm" / "model.onnx"


def dataflow_module(model: onnx.ModelProto, folding: str = ""):
    return apply_pipeline(import_model(model), STAGE_PASSES["dataflow"] + ([folding] if folding else []))


# ---------------------------------------------------------------------------------------------- interleaving
@pytest.mark.parametrize("gates", [1, 2, 3, 4, 5])
def test_lanes_and_row_order_group_whole_elements(gates):
    for hidden in range(1, 13):
        for pe in qor.divisors(gates * hidden):
            lanes = group_lanes(pe, gates)
            assert hidden % lanes == 0 and (gates * lanes) % pe == 0, (gates, hidden, pe)
            order = row_order(pe, gates, hidden)
            assert sorted(order) == list(range(gates * hidden))
            for k, group in enumerate(order.reshape(-1, gates * lanes)):  # one group: gate-major, E elements
                gate, element = np.divmod(group.reshape(gates, lanes), hidden)
                assert (gate == np.arange(gates)[:, None]).all()
                assert (element == k * lanes + np.arange(lanes)[None, :]).all()


def test_mvau_process_computes_interleaved_rows():
    """The MVAU process's weights are the unit's columns in row_order: PE = 8 over an LSTM (G = 4) gives
    E = 2 lanes, rows i_0 i_1 f_0 f_1 g_0 g_1 o_0 o_1 i_2 ..."""
    module = dataflow_module(onnx.load(FIXTURES / "l1_w4_po2.onnx"), "qrnn-set-folding{pe=8 simd=2}")
    (rec,) = [op for op in module.walk() if isinstance(op, qrnn.RecurrenceOp)]
    schedule = step_schedule(rec)
    assert schedule is not None
    want = array_from_dense(schedule.mvau.weights)[:, schedule.row_order()]
    assert list(schedule.row_order()[:10]) == [0, 1, 8, 9, 16, 17, 24, 25, 2, 3]
    hls = apply_pipeline(module.clone(), [QrnnToHlscppPass()])
    weights = [op for op in hls.walk() if isinstance(op, hlscpp.ArrayOp) and op.result.name_hint == "weights"]
    # one weight memory, the step's MVAU's, also on the x-overlapped schedule (step 0 computes its own x-part)
    assert schedule.x_overlap(depth=qor.mvau_depth(2), overhead=qor.STEP_OVERHEAD) is not None
    (w,) = weights
    assert w.init is not None and np.array_equal(array_from_dense(w.init), want)


# ---------------------------------------------------------------------------------------------- one schedule
def _funcs(hls) -> dict[str, hlscpp.FuncOp]:
    return {f.sym_name.data: f for f in hls.ops if isinstance(f, hlscpp.FuncOp)}


def _loop_iterations(fn: hlscpp.FuncOp) -> tuple[int, int]:
    """(iterations of the pipelined loop, counting the loops around it; unrolled lanes inside it)."""
    (loop,) = [op for op in fn.walk() if isinstance(op, hlscpp.ForOp) and op.pipeline is not None]
    trips, parent = loop.trip_count, loop.parent_op()
    while isinstance(parent, hlscpp.ForOp):
        trips, parent = trips * parent.trip_count, parent.parent_op()
    lanes = [
        op
        for op in loop.body.block.ops
        if isinstance(op, hlscpp.ForOp) and op.label is not None and op.label.data == "lanes"
    ]
    return trips, lanes[0].trip_count if lanes else 1


def _nest_trips(loop: hlscpp.ForOp) -> int:
    """Iterations of a perfect loop nest down to its pipelined loop (HLS flattens it into one pipeline)."""
    trips = loop.trip_count
    while loop.pipeline is None:
        (loop,) = [op for op in loop.body.block.ops if isinstance(op, hlscpp.ForOp)]
        trips *= loop.trip_count
    return trips


def _labelled(fn: hlscpp.FuncOp, label: str) -> list[hlscpp.ForOp]:
    return [op for op in fn.walk() if isinstance(op, hlscpp.ForOp) and op.label is not None and op.label.data == label]


def _read_x_loops(fn: hlscpp.FuncOp) -> list[hlscpp.ForOp]:
    """The loops reading x_t from a FIFO into a register array (`read_x<j>`)."""
    return [
        op
        for op in fn.walk()
        if isinstance(op, hlscpp.ForOp) and op.label is not None and op.label.data.startswith("read_x")
    ]


def _stream_direction(callee: hlscpp.FuncOp, index: int) -> str | None:
    arg = callee.body.block.args[index]
    for op in callee.walk():
        if isinstance(op, hlscpp.ReadOp) and op.stream is arg:
            return "read"
        if isinstance(op, hlscpp.WriteOp) and op.stream is arg:
            return "write"
    return None


def _selected(value: SSAValue) -> tuple[SSAValue, SSAValue, SSAValue]:
    """(c, a, b) of a value `c ? a : b`."""
    sel = value.owner
    assert isinstance(sel, hlscpp.SelectOp)
    return sel.cond, sel.if_true, sel.if_false


def _constant(value: SSAValue) -> int:
    assert isinstance(op := value.owner, hlscpp.ConstOp)
    return op.value.value.data


def _at_step0(value: SSAValue, t: SSAValue) -> tuple[SSAValue, SSAValue]:
    """(a, b) of a value `t == 0 ? a : b`."""
    cond, a, b = _selected(value)
    assert isinstance(eq := cond.owner, hlscpp.BinaryOp)
    assert eq.kind.data == "eq" and eq.lhs is t and _constant(eq.rhs) == 0
    return a, b


def _at_last_step(value: SSAValue, t: SSAValue) -> tuple[int, int]:
    """(a, b) of a value `t + 1 == T ? a : b` of two constants."""
    cond, a, b = _selected(value)
    assert isinstance(eq := cond.owner, hlscpp.BinaryOp) and eq.kind.data == "eq"
    assert isinstance(t1 := eq.lhs.owner, hlscpp.BinaryOp) and t1.lhs is t and _constant(t1.rhs) == 1
    return _constant(a), _constant(b)


def overlapped_cycles(overlap: dict, depth: int, chain: int) -> tuple[int, int, int]:
    """(step 0 < t < T - 1, step 0, the last step) of an x-overlapped step read off the emitted loop
    (`emitted_step`), with the MVAU's pipeline `depth` and the unit `chain` behind its last group: the loop,
    or the h folds (at step 0 all folds of step 0) and the chain, or the read of x_{t+2} from a FIFO beside
    them, whichever ends last; the last step's loop runs its h folds only and reads nothing."""
    read = overlap["reads"] // 2
    step = max(overlap["iterations"] + depth, overlap["h_iterations"] + depth + chain, read)
    first = max(overlap["first_iterations"] + depth, overlap["iterations"] + depth + chain, read)
    last = overlap["last_iterations"] + depth + chain
    return step + qor.STEP_OVERHEAD, first + qor.STEP_OVERHEAD, last + qor.STEP_OVERHEAD


def emitted_step(hls, label: str) -> dict:
    """What the emitted code of one streamed recurrence does per step, read off the hlscpp IR alone."""
    funcs = _funcs(hls)
    rec_fn, step_fn = funcs[label], funcs[f"{label}_step"]
    assert step_fn.dataflow is not None
    (steps,) = _labelled(rec_fn, "steps")
    calls_in_steps = [op for op in steps.walk() if isinstance(op, hlscpp.CallOp)]
    assert [c.callee.root_reference.data for c in calls_in_steps] == [f"{label}_step"]
    calls = [op for op in step_fn.body.block.ops if isinstance(op, hlscpp.CallOp)]
    streams = [op for op in step_fn.body.block.ops if isinstance(op, hlscpp.StreamOp)]
    writer, readers = {}, {}
    for call in calls:
        callee = funcs[call.callee.root_reference.data]
        for i, arg in enumerate(call.args):
            if hlscpp.stream_element_type(arg.type) is not None:
                direction = _stream_direction(callee, i)
                if direction == "write":
                    writer[arg] = call
                else:
                    readers.setdefault(arg, []).append(call)
    callee = {c: funcs[c.callee.root_reference.data] for c in calls}
    (mvau_call,) = [c for c in calls if _labelled(callee[c], "mvau")]
    (mvau_loop,) = _labelled(callee[mvau_call], "mvau")
    assert not _labelled(rec_fn, "mvau")  # no MVAU outside the step (step 0 computes its own x-part)
    # the x-overlapped schedule: the step's loop runs `t == 0 ? B*RF*(CF + XF) : B*RF*CF` iterations but
    # B*RF*CF at step 0 and B*RF*(CF - XF) at any other last step (its run-time bound; the largest is its
    # ub), its fold counter `sf` starts at `t == 0 ? CF : XF`
    overlap = None
    if mvau_loop.bound is not None:
        t = callee[mvau_call].body.block.args[0]
        at_step0, after = _at_step0(mvau_loop.bound, t)
        only, first = _at_last_step(at_step0, t)
        last, later = _at_last_step(after, t)
        assert first == mvau_loop.trip_count
        stores = [op for op in callee[mvau_call].body.block.ops if isinstance(op, hlscpp.StoreOp) and not op.indices]
        (sf,) = [op for op in stores if op.array.name_hint == "sf"]
        column_folds, x_folds = map(_constant, _at_step0(sf.value, t))
        row_passes = later // column_folds  # B * RF
        assert later == row_passes * column_folds and first == later + row_passes * x_folds
        assert only == later and last == row_passes * (column_folds - x_folds)
        # x from a FIFO, read two steps ahead: x_0 and x_1 before the steps (read_x / read_x_next loops)
        ahead = [_nest_trips(loop) + qor.ELEMENTWISE_DEPTH for loop in _read_x_loops(rec_fn)]
        assert len(ahead) in (0, 2) and ahead[:1] == ahead[1:]
        overlap = {
            "first_iterations": first,
            "iterations": later,
            "h_iterations": row_passes * (column_folds - x_folds),
            "last_iterations": last,
            "reads": sum(ahead),
        }
    # x_t+1 read from a top-level FIFO in a process of its own, as long as the read of x_0 before the steps
    prefetch = [c for c in calls if _read_x_loops(callee[c])]
    read_x = None
    for c in prefetch:
        (loop,) = _read_x_loops(callee[c])
        assert loop.label is not None
        (first,) = _labelled(rec_fn, loop.label.data)
        assert _nest_trips(first) == _nest_trips(loop)
        read_x = _nest_trips(loop) + qor.ELEMENTWISE_DEPTH
    units = [c for c in calls if c is not mvau_call and c not in prefetch]
    # y_t written straight to a FIFO of the top level (an argument of the step), not to a [T][H] buffer
    step_args = set(step_fn.body.block.args)
    y_fifo = any(
        a in step_args and hlscpp.stream_element_type(a.type) is not None and writer.get(a) is c
        for c in units
        for a in c.args
    )
    # longest chain of unit processes behind the MVAU, along the FIFOs
    chain = {mvau_call: 0}
    for call in units:  # calls are in topological order (a producer before its readers)
        feeding = [chain[writer[a]] for a in call.args if a in writer and call in readers.get(a, [])]
        chain[call] = max(feeding, default=0) + 1
    return {
        "steps": steps.trip_count,
        "read_x": read_x,
        "overlap": overlap,
        "y_fifo": y_fifo,
        "mvau_iterations": overlap["iterations"] if overlap is not None else mvau_loop.trip_count,
        "units": [_loop_iterations(callee[c]) for c in units],
        "chain": max(chain.values()),
        "streams": sorted(
            (s.depth.value.data, s.result.type.get_shape()[0] if isinstance(s.result.type, MemRefType) else 1)
            for s in streams
        ),
        "every_stream_has_a_writer_and_a_reader": all(
            s.result in writer and len(readers.get(s.result, [])) == 1 for s in streams
        ),
    }


SCHEDULE_CASES = [(p, "") for p in fixture_models()] + [
    (FIXTURES / "l2_bidir_w3_po2.onnx", "qrnn-set-folding{pe=8 simd=1}"),
    (FIXTURES / "l1_cifg_io6_float.onnx", "qrnn-set-folding{pe=6 simd=7}"),
    (FIXTURES / "l1_t64_w2_perchannel_float.onnx", "qrnn-set-folding{pe=64 simd=24}"),
    # x-overlapped steps, both layers; layer 1 reads y_t of layer 0 from a FIFO two steps ahead
    (FIXTURES / "l2_w4_float.onnx", "qrnn-set-folding{pe=8 simd=2}"),
]


@pytest.mark.parametrize("path, folding", SCHEDULE_CASES, ids=lambda v: getattr(v, "stem", v))
def test_qor_cycles_are_the_emitted_loop_nest(path, folding):
    module = dataflow_module(onnx.load(path), folding)
    report = qor.estimate_module(module)
    hls = apply_pipeline(module.clone(), [QrnnToHlscppPass()])
    check_recurrence_stages(module, report, hls)
    assert report.cycles == qor.stages_latency(report.stages)


def cell_depth(rec: qrnn.RecurrenceOp) -> int:
    """The cell's pipeline depth from the qrnn body alone: its read of the gates, then a stage per unit on
    the longest path of units."""
    level: dict[SSAValue, int] = {}
    for op in rec.body.block.ops:
        if isinstance(op, STREAM_UNITS):
            level[op.results[0]] = 1 + max((level.get(v, 0) for v in op.operands), default=0)
    return CELL_READ + UNIT_STAGE * max(level.values())


def check_recurrence_stages(module: ModuleOp, report: qor.Report, hls: ModuleOp) -> int:
    """Every recurrence streams, and its stage's cycles (and fill) in the QoR are the emitted step's loop
    nest: MVAU iterations + depth + the chain of units behind it, per step. Returns how many were checked."""
    recurrences = recurrence_names(module)
    for name, rec in recurrences:
        schedule = step_schedule(rec)
        assert schedule is not None, f"{name} does not stream"
        got = emitted_step(hls, f"rec_{name}")
        mvau = schedule.mvau
        pe, simd, lanes = mvau.pe.value.data, mvau.simd.value.data, schedule.lanes()
        assert got["steps"] == rec.seq_len
        full = schedule.sequences * (mvau.rows // pe) * (mvau.columns // simd)
        overlap = got["overlap"]
        if overlap is not None:  # x-overlapped: the h folds of step t, then the x folds of step t + 1
            assert overlap["iterations"] == full and overlap["first_iterations"] > full
        else:
            assert got["mvau_iterations"] == full
        assert got["units"] == [(schedule.unit_iterations(), lanes)]  # the cell
        assert got["chain"] == 1 and cell_depth(rec) == schedule.depth
        assert got["every_stream_has_a_writer_and_a_reader"]
        want_streams = sorted((schedule.fifo[v], lanes) for v in schedule.fifo)
        assert len(want_streams) == schedule.gates
        assert got["streams"] == want_streams
        stage = next(s for s in report.stages if s.name == name)
        step = got["mvau_iterations"] + qor.mvau_depth(simd) + cell_depth(rec) + qor.STEP_OVERHEAD
        read = got["read_x"]
        if overlap is not None:  # the loop, or its h phase and the chain behind its last group; step 0 longer
            assert overlap["reads"] == (2 * read if read is not None else 0)  # x_{t+2} read beside the MVAU
            step, first, last = overlapped_cycles(overlap, qor.mvau_depth(simd), cell_depth(rec))
            prologue = overlap["reads"] + first - step + last - step  # x_0, x_1 before the steps; step 0, T - 1
            assert stage.prologue == prologue and stage.step_cycles == step, name
            assert stage.cycles == overlap["reads"] + first + (got["steps"] - 2) * step + last
            if stage.fill is not None:  # y_0 is out after the reads and step 0
                assert stage.fill == overlap["reads"] + first
        elif read is not None:  # x_t from a FIFO: x_0 before the steps, x_t+1 in parallel with the MVAU
            step = max(step - qor.STEP_OVERHEAD, read) + qor.STEP_OVERHEAD
            assert (stage.prologue, stage.cycles, stage.fill) == (read, read + got["steps"] * step, step + read)
        elif got["y_fifo"]:  # only y_t into a FIFO: its first word is out by the end of the first step
            assert (stage.cycles, stage.fill) == (got["steps"] * step, step)
        else:
            assert stage.cycles == got["steps"] * step
        assert (stage.fed_by is not None) == (read is not None or bool(overlap and overlap["reads"]))
        assert got["y_fifo"] == any(s.fed_by == name for s in report.stages)
    return len(recurrences)


@pytest.mark.parametrize("path", fixture_models(), ids=lambda p: p.stem)
def test_forward_lstm_kernels_stream_x_and_y(path):
    """In a kernel of forward layers, x_t streams from the input port into layer 0 and every y_t into the next
    layer or the output port (through torch's reshapes too): no [T][N] buffer at the top level. A reverse
    direction never streams, and in a bidirectional model no y_t does (the directions are concatenated);
    its input streams only where a direction has a quantizer of its own (Brevitas' cell export), not where
    both read one: breaks if a reverse layer or a value read twice gets a FIFO."""
    module = dataflow_module(onnx.load(path))
    (fn,) = module.ops
    assert isinstance(fn, func.FuncOp)
    streams = top_streams(fn.body.block).values()
    recs = [rec for _, rec in recurrence_names(module)]
    forward = all(d == qrnn.FORWARD for rec in recs for d in rec.in_dirs + rec.out_dirs)
    for rec in recs:
        fed = [st for st in streams if st.consumer is rec]
        feeds = [st for st in streams if st.producer is rec]
        where = (path.name, rec.attributes.get("lstmc.onnx_node"))
        if rec.in_dirs[0] == qrnn.REVERSE:
            assert not fed and not feeds, where
        elif forward:
            assert fed and feeds, where
        else:
            assert not feeds, where
            x = rec.inputs[0]
            while isinstance(x.owner, qrnn.ReshapeOp):
                x = x.owner.input
            assert bool(fed) == (isinstance(x.owner, qrnn.QuantizeOp) and len(list(x.uses)) == 1), where
    if forward:
        consumers = [type(st.consumer) for st in streams]
        assert consumers.count(qrnn.RecurrenceOp) == len(recs) and consumers.count(qrnn.DequantizeOp) == 1
        hls = apply_pipeline(module.clone(), [QrnnToHlscppPass()])
        top = next(f for f in _funcs(hls).values() if f.top is not None)
        seq_len = recs[0].seq_len
        arrays = [op for op in top.body.block.ops if isinstance(op, hlscpp.ArrayOp)]
        assert not [a for a in arrays if a.result.type.get_shape()[0] == seq_len > 1], path.name


def test_stream_depth_is_the_fifo_depth_attribute():
    """The gate FIFOs into the cell are written and read a group at a time: 2 deep, recorded on the gate
    slices. Setting the o gate's attribute to 37 changes its emitted depth and the QoR's FIFO cost, and
    nothing else."""
    module = dataflow_module(onnx.load(FIXTURES / "l1_w4_po2.onnx"))
    (rec,) = [op for op in module.walk() if isinstance(op, qrnn.RecurrenceOp)]
    schedule = step_schedule(rec)
    assert schedule is not None and sorted(schedule.gate_of.values()) == [0, 1, 2, 3]
    assert all(isinstance(v, OpResult) and fifo_depth(v.op) == schedule.fifo[v] == 2 for v in schedule.fifo)
    o_gate = next(v.op for v, g in schedule.gate_of.items() if g == 3 and isinstance(v, OpResult))
    before = qor.estimate_module(module).units
    o_gate.attributes["fifo_depth"] = IntegerAttr(37, i64)
    after = qor.estimate_module(module).units
    elem = SSAValue.get(o_gate.results[0], type=TensorType).type.get_element_type()
    assert isinstance(elem, IntegerType)
    bits, lanes = elem.width.data, schedule.lanes()
    changed = [(a.name, a.resources, b.resources) for a, b in zip(after, before) if a.resources != b.resources]
    assert len(changed) == 1, changed
    _, got, was = changed[0]
    assert got + qor.fifo_resources(2, bits) * lanes == was + qor.fifo_resources(37, bits) * lanes
    hls = apply_pipeline(module.clone(), [QrnnToHlscppPass()])
    depths = sorted(op.depth.value.data for op in hls.walk() if isinstance(op, hlscpp.StreamOp))
    assert 37 in depths and depths.count(2) >= 3


# ---------------------------------------------------------------------------------------------- bit identity
def _torch_b3():
    from lstmc.testing_torch_layout import TorchLstmSpec, build_torch_lstm

    return build_torch_lstm(TorchLstmSpec(input_size=3, hidden_size=4, seq_len=4, batch=3, seed=5))


CSIM_CASES = [
    # I = 4, H = 6, 8-bit weights and io: SIMD 5 straddles x_t and h; PE 3: E = 3, a group of 12 rows over 4 folds
    (
        "straddle",
        lambda: build_lstm(
            LstmSpec(
                input_size=4,
                hidden_size=6,
                seq_len=5,
                seed=7,
                weight=Q(8, True, False, 2**-6),
                io=Q(8, True, False, 2**-6),
            )
        ),
        "qrnn-set-folding{pe=3 simd=5}",
    ),
    # CIFG: G = 3 gates; PE 6: E = 2 lanes, one group per fold; SIMD 7 straddles (6 + 8 columns)
    ("cifg", lambda: onnx.load(FIXTURES / "l1_cifg_io6_float.onnx"), "qrnn-set-folding{pe=6 simd=7}"),
    # B = 3 interleaved sequences, PE 8: E = 2 lanes; SIMD 7 = every column of [x_t (3); h (4)]
    ("batch3", _torch_b3, "qrnn-set-folding{pe=8 simd=7}"),
    # two layers joined by a FIFO of 2-lane words (PE 8: E = 2), x_t from the port, y_t to the port
    ("l2_e2", lambda: onnx.load(FIXTURES / "l2_w4_float.onnx"), "qrnn-set-folding{pe=8 simd=2}"),
]


@needs_cxx
@needs_ap_types
def test_streamed_step_is_bit_exact_in_csim():
    jobs = []
    for name, make, folding in CSIM_CASES:
        model = make()
        base = dataflow_module(model)
        module = base.clone()
        apply_pipeline(module, [folding])
        assert all(step_schedule(r) is not None for r in module.walk() if isinstance(r, qrnn.RecurrenceOp))
        x = _inputs(model, seed=3, count=6)
        integer = apply_pipeline(import_model(model), STAGE_PASSES["integer"])
        jobs.append((name, integer, module, x))

    check_csim_jobs(jobs)


# ------------------------------------------------------------------------------------------ the top level
def emitted_top(hls) -> dict:
    """The streamed top level as the emitted code runs it, read off the hlscpp IR alone: per process with a
    FIFO between processes (in call order), its busy cycles and fill from its loop nest; the FIFOs' count."""
    funcs = _funcs(hls)
    top = next(f for f in funcs.values() if f.top is not None)
    fifos = {op.result for op in top.body.block.ops if isinstance(op, hlscpp.StreamOp)}
    processes, read_x = [], []
    for call in [op for op in top.body.block.ops if isinstance(op, hlscpp.CallOp)]:
        if not any(a in fifos for a in call.args):
            continue
        fn = funcs[call.callee.root_reference.data]
        if _labelled(fn, "steps"):  # a recurrence reading x_0 from a FIFO, then x_t+1 in each step's region
            loops = _read_x_loops(fn)
            if not loops:  # it only writes y_t to a FIFO (emitted_step checks that)
                continue
            step = emitted_step(hls, fn.sym_name.data)
            if step["overlap"] is not None:  # x-overlapped: x_0, x_1 read before the steps, x_t+2 beside the MVAU
                read_x.append(("overlap", step))
                continue
            (loop,) = loops
            assert loop.label is not None
            (step,) = [c for c in _labelled(fn, "steps")[0].walk() if isinstance(c, hlscpp.CallOp)]
            step_fn = funcs[step.callee.root_reference.data]
            (prefetch,) = [
                funcs[c.callee.root_reference.data]
                for c in step_fn.walk()
                if isinstance(c, hlscpp.CallOp) and _labelled(funcs[c.callee.root_reference.data], loop.label.data)
            ]
            assert _nest_trips(_labelled(prefetch, loop.label.data)[0]) == _nest_trips(loop)
            read_x.append(_nest_trips(loop) + qor.ELEMENTWISE_DEPTH)
        elif _labelled(fn, "rows"):  # a line buffer: phases of max(words in, words out), kh before the first
            (rows,), (phase,) = _labelled(fn, "rows"), _labelled(fn, "line_buffer")
            processes.append(
                (
                    "window",
                    rows.trip_count * phase.trip_count + qor.ELEMENTWISE_DEPTH,
                    _first_emitting_phase(rows) * phase.trip_count + qor.ELEMENTWISE_DEPTH,
                )
            )
        elif _labelled(fn, "mvau"):
            (loop,) = _labelled(fn, "mvau")
            processes.append(("mvau", loop.trip_count, None))  # + depth(SIMD), checked against the op
        else:  # an input reader or an elementwise unit: trips of its pipelined loop nest, lanes unrolled
            trips, _ = _loop_iterations(fn)
            # a reader filling a word of k beats writes each part of it under an `if` of its own: its first
            # word is whole k - 1 iterations later than its first beat
            parts = [
                op
                for op in fn.walk()
                if isinstance(op, hlscpp.IfOp) and any(isinstance(w, hlscpp.WriteOp) for w in op.walk())
            ]
            processes.append(("unit", trips + qor.ELEMENTWISE_DEPTH, qor.ELEMENTWISE_DEPTH + max(len(parts) - 1, 0)))
    return {"processes": processes, "read_x": read_x, "fifos": len(fifos)}


def _first_emitting_phase(rows: hlscpp.ForOp) -> int:
    """The first phase in which a line buffer emits patches: the constant its phase index is compared with
    (`y >= kh`)."""
    y = rows.body.block.args[0]
    (kh,) = [
        op.rhs.owner.value.value.data
        for op in rows.walk()
        if isinstance(op, hlscpp.BinaryOp)
        and op.kind.data == "ge"
        and op.lhs is y
        and isinstance(op.rhs.owner, hlscpp.ConstOp)
    ]
    return kh


# 2-d convolutions in front of an LSTM: 3 x 3 at stride 1 over one channel (the last window ends at the last
# row: H + 1 phases), then 3 x 2 at strides (2, 2) over 3 channels (rows 0..6 of 8: the last row is read,
# never emitted; phases without an emission between the windows)
CONV2D = ConvLstmSpec(features=5, seq_len=10, convs=[(3, 3, 1, 3, 1), (4, 2, 2, 3, 2)], lstm=LstmSpec(hidden_size=4))

TOP_CASES = [
    ("conv2d", lambda: build_conv_lstm(CONV2D), ""),
    # PE 3, SIMD 9: the second line buffer reads words of 3 channels; SIMD 6 = kw * C
    ("conv2d_folded", lambda: build_conv_lstm(CONV2D), "qrnn-set-folding{target-cycles=150}"),
    (
        "deeplob",
        lambda: build_conv_lstm(
            ConvLstmSpec(features=40, seq_len=5, convs=[(4, 2, 2), (4, 2, 2), (6, 10, 1)], lstm=LstmSpec(hidden_size=8))
        ),
        "",
    ),
    ("stock", lambda: onnx.load(STOCK), "qrnn-set-folding{target-cycles=20000}"),
    ("stock_wide", lambda: onnx.load(STOCK), "qrnn-set-folding{target-cycles=3000}"),
    # LSTM-only kernels: port -> x_t -> (layer -> y_t -> x_t ->) layer -> y_t -> port, no [T][N] buffer
    ("tiny", lambda: onnx.load(TINY), ""),
    ("l2_w4", lambda: onnx.load(FIXTURES / "l2_w4_float.onnx"), ""),
    # E = 2 lanes (PE 8, G = 4): y_t leaves in words of 2, the next layer and the port's writer take them apart
    ("l2_w4_e2", lambda: onnx.load(FIXTURES / "l2_w4_float.onnx"), "qrnn-set-folding{pe=8 simd=2}"),
]


@pytest.mark.parametrize("name, make, folding", TOP_CASES, ids=[c[0] for c in TOP_CASES])
def test_qor_cycles_are_the_emitted_top_level(name, make, folding):
    """Every streamed top-level process's busy cycles and fill in the QoR are its emitted loop nest's (line
    buffer (H + 1) x max(R, P) + 2 and fill max(R, P) + 2; an MVAU's flat loop V x (rows/PE) x (cols/SIMD) +
    its depth and fill cols/SIMD + depth; a reader or unit its trips + 2), the recurrence adds x_t's read loop
    per step, one FIFO per `fed_by` link, and the latency is chain_latency over those numbers."""
    module = dataflow_module(make(), folding)
    report = qor.estimate_module(module)
    hls = apply_pipeline(module.clone(), [QrnnToHlscppPass()])
    assert check_top_stages(module, report, hls) > 0
    assert report.cycles == qor.stages_latency(report.stages)


def check_top_stages(module: ModuleOp, report: qor.Report, hls: ModuleOp) -> int:
    """The streamed top level's processes in the QoR are the emitted ones, each with its loop nest's busy
    cycles and fill (see test_qor_cycles_are_the_emitted_top_level). Returns how many were checked."""
    got = emitted_top(hls)
    streamed = [s for s in report.stages if s.fill is not None and s.pipeline_depth is None]
    assert len(got["processes"]) == len(streamed)
    fn = next(iter(module.ops))
    assert isinstance(fn, func.FuncOp)
    mvaus = iter(op for op in fn.body.block.ops if isinstance(op, dataflow.MVAUOp))
    fused = fused_epilogues(fn.body.block)
    for (kind, cycles, fill), stage in zip(got["processes"], streamed):
        if kind == "mvau":
            op = next(mvaus)
            while stage.name != f"top/{op.result.name_hint}":
                op = next(mvaus)
            pe, simd = op.pe.value.data, op.simd.value.data
            assert cycles == op.vectors * (op.rows // pe) * (op.columns // simd)
            depth = qor.mvau_depth(simd) + (qor.EPILOGUE_DEPTH if op in fused else 0)
            cycles, fill = cycles + depth, op.columns // simd + depth
        assert (stage.cycles, stage.fill) == (cycles, fill), stage.name
    recs = [s for s in report.stages if s.pipeline_depth is not None and s.fed_by is not None]
    assert len(recs) == len(got["read_x"])
    for s, read in zip(recs, got["read_x"]):
        if isinstance(read, tuple):  # x-overlapped: x_0, x_1 before the steps, step 0 longer
            mvau = next(u for u in report.units if u.kind == "mvau" and u.stage == s.name)
            assert mvau.simd is not None
            rec = read[1]  # emitted_step
            (op,) = [r for n, r in recurrence_names(module) if n == s.name]
            step, first, last = overlapped_cycles(rec["overlap"], qor.mvau_depth(mvau.simd), cell_depth(op))
            assert s.step_cycles == step
            read = rec["overlap"]["reads"] + first - step + last - step
        else:  # x_t+1 is read in parallel with the MVAU and its units
            assert s.step_cycles == max(s.step_cycles - qor.STEP_OVERHEAD, read) + qor.STEP_OVERHEAD
        assert s.prologue == read
        assert s.cycles == read + s.steps * s.step_cycles
    assert got["fifos"] == sum(s.fed_by is not None for s in report.stages)
    return len(streamed)


def check_buffered_top_stages(report: qor.Report, hls: ModuleOp) -> int:
    """A top-level process between buffers (a transpose, a window, an elementwise unit on whole arrays): its
    stage's cycles are its emitted loop nest's, one element per cycle plus the pipeline depth; an MVAU's, V
    runs of its flat loop plus its depth (and its fused epilogue's, the process then named after both).
    Returns how many were checked."""
    funcs = _funcs(hls)
    stages = [s for s in report.stages if s.name.startswith("top/") and s.fill is None]
    applies = {u.fused_into: u.name for u in report.units if u.fused_into is not None}
    for stage in stages:
        hint = stage.name.removeprefix("top/")
        if stage.name in applies:
            hint += "_" + applies[stage.name].removeprefix("top/")
        (fn,) = [f for name, f in funcs.items() if name.endswith(f"_{hint}") and not name.startswith("write_")]
        mvau = _labelled(fn, "mvau")
        if mvau:
            (loop,) = mvau
            unit = report.unit(stage.name)
            assert unit.kind == "mvau" and unit.simd is not None
            depth = qor.mvau_depth(unit.simd) + (qor.EPILOGUE_DEPTH if stage.name in applies else 0)
            # `vectors` or the loop itself (copies into a second consumer's buffer follow it: not counted)
            outer = next(op for op in fn.body.block.ops if isinstance(op, hlscpp.ForOp))
            runs = _nest_trips(outer) // loop.trip_count
            assert stage.steps * stage.step_cycles == runs * (loop.trip_count + depth), stage.name
            continue
        (nest,) = [op for op in fn.body.block.ops if isinstance(op, hlscpp.ForOp)]
        assert stage.steps == 1 and stage.cycles == _nest_trips(nest) + qor.ELEMENTWISE_DEPTH, stage.name
    return len(stages)


EVERY_MODEL = fixture_models() + sorted((FIXTURES / "batch").glob("*.onnx")) + [TINY, STOCK]


def check_schedule(module: ModuleOp) -> tuple[qor.Report, ModuleOp]:
    """Each stage of the estimate of `module` is a loop nest its lowering emitted, with that nest's cycles,
    and the latency is those stages chained; returns (the estimate, the lowered module)."""
    report = qor.estimate_module(module)
    hls = apply_pipeline(module.clone(), [QrnnToHlscppPass()])
    checked = (
        check_recurrence_stages(module, report, hls)
        + check_top_stages(module, report, hls)
        + check_buffered_top_stages(report, hls)
    )
    assert checked == len(report.stages), [s.name for s in report.stages]
    assert report.cycles == qor.stages_latency(report.stages)
    return report, hls


@pytest.mark.parametrize("path", EVERY_MODEL, ids=lambda p: p.parent.name if p.name == "model.onnx" else p.stem)
def test_estimate_cycles_are_the_loop_nest_on_every_model(path):
    """On every fixture and example: each stage of the estimate is a loop nest the lowering emitted (a
    recurrence's steps, or a process of the streamed top level), with the cycles that loop nest runs, and
    the estimate's latency is those stages chained (`stages_latency`) — nothing else is counted."""
    module = dataflow_module(onnx.load(path))
    _, hls = check_schedule(module)
    # one port list: what qrnn-to-hlscpp recorded on the top function is what the project writer derives
    assert project.kernel_interface(hls) == project.kernel_interface(module)


@needs_cxx
@needs_ap_types
@pytest.mark.parametrize("folding", ["qrnn-set-folding{target-cycles=20000}", "qrnn-set-folding{target-cycles=3000}"])
def test_streamed_top_level_is_bit_exact_in_csim(folding):
    """The stock ConvLSTM with its top level streamed (line buffers, PE-wide words, x_t from a FIFO):
    integer == dataflow == csim on shipped inputs. Breaks on a line buffer emitting a patch from the wrong
    row buffer or column, an MVAU reading its input FIFO on a later row fold, or a lane mix-up."""
    from lstmc.hls.build import csim_stage

    model = onnx.load(STOCK)
    module = dataflow_module(model, folding)
    assert qor.estimate_module(module).cycles <= int(folding.split("=")[1].rstrip("}"))
    x = {"X": np.load(STOCK.parent / "inputs.npz")["X"][:6]}
    want = run_function(apply_pipeline(import_model(model), STAGE_PASSES["integer"]), x)
    mid, got = run_function(module, x), csim_stage(module, x)
    for k in want:
        assert np.array_equal(want[k], mid[k]) and np.array_equal(want[k], got[k]), k


# ------------------------------------------------------------------------------------------- the line buffer
@pytest.mark.parametrize("rows", range(1, 9))
def test_line_buffer_emits_every_window_from_rows_still_stored(rows):
    """`LineBuffer` on every kernel height and row stride that fit H rows: each output row is emitted once,
    in the phase after its last row was read, phases cover every read and emission, and in the emitting
    phase the kh + 1 slots hold its kh rows apart from the row being written (a model of the circular buffer:
    slot y mod S gets row y). Breaks with kh slots, an emission before its window is complete, or a
    phase count that drops the last window or a row of the FIFO."""
    for kh in range(1, rows + 1):
        for sh in range(1, rows + 2):
            lb = LineBuffer(rows, kh, sh)
            slots: dict[int, int] = {}
            emitted = []
            for y in range(lb.phases):
                writing = y % lb.slots if y < rows else None
                yo = lb.emits(y)
                if yo is not None:
                    window = list(range(yo * sh, yo * sh + kh))
                    assert window[-1] < y and all(slots.get(r % lb.slots) == r for r in window), (kh, sh, y)
                    assert writing not in {r % lb.slots for r in window}, (kh, sh, y)
                    emitted.append(yo)
                if writing is not None:
                    slots[writing] = y
            assert emitted == list(range(lb.out_rows)) and lb.phases >= rows, (kh, sh)
            assert lb.emits(lb.phases - 1) is not None or lb.phases == rows  # no idle phase at the end
            assert lb.slots == (kh + 1 if kh < rows else kh)


@needs_cxx
@needs_ap_types
def test_2d_line_buffer_is_bit_exact_in_csim(tmp_path):
    """2-d windows (3 x 3 stride 1 over 1 channel, 3 x 2 strides (2, 2) over 3 channels, `CONV2D`) stream
    through line buffers of kh + 1 rows: integer == dataflow == csim, unfolded and folded so that the second
    line buffer reads words of 3 channels (PE 3) and emits words of 9 that straddle two kernel rows (SIMD 9,
    kw * C = 6). Breaks on a patch element from the wrong kernel row or slot (the circular wrap), a row
    overwritten before its last window, or a window emitted one phase early."""
    from lstmc.hls.build import csim_stage
    from lstmc.unit_names import mvau_names

    model = build_conv_lstm(CONV2D)
    convs = [n for n, op in mvau_names(dataflow_module(model)).items() if isinstance(op.inputs[0].owner, qrnn.WindowOp)]
    config = tmp_path / "folding.json"
    config.write_text(json.dumps({convs[0]: {"PE": 3, "SIMD": 3}, convs[1]: {"PE": 2, "SIMD": 9}}))
    x = _inputs(model, seed=4, count=6)
    want = run_function(apply_pipeline(import_model(model), STAGE_PASSES["integer"]), x)

    def run(folding: str):
        module = dataflow_module(model, folding)
        fn = next(iter(module.ops))
        assert isinstance(fn, func.FuncOp)
        streams = top_streams(fn.body.block).values()
        kernels = [w.kernel_size for st in streams if isinstance(w := st.consumer, qrnn.WindowOp)]
        assert kernels == [(3, 3), (3, 2)], folding  # both windows are line buffers
        return [
            (f"{folding}: dataflow vs integer", want, run_function(module, x)),
            (f"{folding}: csim vs integer", want, csim_stage(module, x)),
        ]

    check_pooled(run, ["", f'qrnn-set-folding{{config="{config}"}}'])


@needs_cxx
@needs_ap_types
def test_line_buffer_into_a_buffer_is_im2col_in_csim():
    """A line buffer fed by the port's reader whose patches go to a buffer (the output port's writer reads
    it): a 2 x 2 kernel at strides (2, 1) over 5 rows, emitting phase y (2 and 4) stores its patches at
    output row (y - kh) / sh. csim == the interpreter == im2col in (ky, kx, c) order. Breaks on a patch
    stored at the wrong row or emitted from the wrong kernel row."""
    from xdsl.parser import Parser

    from lstmc.hls.build import csim_stage
    from lstmc.pipeline import make_context

    module = Parser(
        make_context(),
        """
        func.func @w(%X: tensor<5x3xf32>) -> tensor<4x4xf32>
            attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
          %x = qrnn.quantize %X by <s8, scale = 0.125, zp = 0> : tensor<5x3xf32> -> tensor<5x3xsi8>
          %0 = qrnn.reshape %x : tensor<5x3xsi8> -> tensor<5x3x1xsi8>
          %win = qrnn.window %0 kernel([2, 2]) strides([2, 1]) : tensor<5x3x1xsi8> -> tensor<4x4xsi8>
          %y = qrnn.dequantize %win by <s8, scale = 0.125, zp = 0> : tensor<4x4xsi8> -> tensor<4x4xf32>
          func.return %y : tensor<4x4xf32>
        }
        """,
    ).parse_module()
    fn = next(iter(module.ops))
    assert isinstance(fn, func.FuncOp) and any(
        isinstance(st.consumer, qrnn.WindowOp) for st in top_streams(fn.body.block).values()
    )
    image = np.arange(15, dtype=np.float32).reshape(5, 3)
    im2col = np.array(
        [[image[2 * yo + i, xo + j] for i in range(2) for j in range(2)] for yo in range(2) for xo in range(2)]
    )
    x = {"X": image / 8}
    assert np.array_equal(run_function(module, x)["Y"] * 8, im2col)
    assert np.array_equal(csim_stage(module, x)["Y"] * 8, im2col)


# ------------------------------------------------------------------------------------- the x-overlapped step
def _b3_straddle():
    from lstmc.testing_torch_layout import TorchLstmSpec, build_torch_lstm

    return build_torch_lstm(TorchLstmSpec(input_size=5, hidden_size=4, seq_len=6, batch=3, seed=5))


BIDIR = FIXTURES / "l2_bidir_w3_po2.onnx"
OVERLAP_CASES = [
    # I = 11, H = 7, x from the input port: SIMD 3 gives XF = 3 x-only folds and fold 3 = x 9, 10 + h 11;
    # PE 7: E = 7, a group of 28 rows over all 4 row folds
    (
        "straddle",
        lambda: build_lstm(
            LstmSpec(
                input_size=11,
                hidden_size=7,
                seq_len=5,
                seed=7,
                weight=Q(8, True, False, 2**-6),
                io=Q(8, True, False, 2**-6),
            )
        ),
        "qrnn-set-folding{pe=7 simd=3}",
    ),
    # two bidirectional layers: the reverse directions read x_{t+1} at row T - 2 - t of their buffers
    ("bidir", lambda: onnx.load(BIDIR), "qrnn-set-folding{pe=8 simd=1}"),
    # B = 3 interleaved sequences, I = 5: SIMD 3 straddles (fold 1 = x 3, 4 + h 5), 3 turns per phase
    ("batch3", _b3_straddle, "qrnn-set-folding{pe=8 simd=3}"),
    # two layers joined by a FIFO of 2-lane words: layer 1 reads y_t of layer 0 two steps ahead
    ("l2_e2", lambda: onnx.load(FIXTURES / "l2_w4_float.onnx"), "qrnn-set-folding{pe=8 simd=2}"),
]


@needs_cxx
@needs_ap_types
def test_x_overlapped_step_is_bit_exact_in_csim(tmp_path):
    """Where the step takes the x-overlapped schedule (the MVAU computes the x-only folds of step t + 1 from
    x_{t+1} behind the h folds of step t, step 0's loop its own x folds first): the ap_int kernel (what Vitis
    synthesizes) and the twin both equal the integer interpreter, on a fold straddling x and h, reverse
    directions reading their buffers backwards, B = 3 interleaved sequences and x read from a FIFO two steps
    ahead; and a kernel taking T at run time, at T = 1 (no step 1), T = 2 and T = N. Breaks if the x-part
    comes from the wrong step (x_t for x_{t+1}, a reverse direction's row T - 1 - t for T - 2 - t), a
    straddling fold takes x_{t+1}'s columns, the carried x-part is not copied, or a FIFO word is read late."""
    from lstmc.compile import mark_run_time_length
    from lstmc.frontend import bind_sequence_length
    from lstmc.hls.build import CSIM_FLAGS, build_csim, lower_to_hlscpp, run_csim_on_codes, write_sources
    from lstmc.hls.csim import compile_csim
    from lstmc.pipeline import lower_to_stage
    from lstmc.stages import run_stage
    from lstmc.testing_finn_cell import FinnCellSpec, build_finn_cell, finn_cell_inputs

    def binaries(module, name):
        iface = project.kernel_interface(module)
        recs = [r for r in module.walk() if isinstance(r, qrnn.RecurrenceOp)]
        assert recs and all(_overlapped(r) for r in recs), name  # the schedule under test
        src = tmp_path / name
        src.mkdir()
        write_sources(lower_to_hlscpp(module, "k"), iface, src, "k")
        return iface, [
            compile_csim(src, "k", flags=(*CSIM_FLAGS, "-DLSTMC_CSIM_AP_TYPES")),
            build_csim(module, iface, "k"),
        ]

    jobs = []
    for name, make, folding in OVERLAP_CASES:
        model = make()
        jobs.append((name, model, dataflow_module(model, folding), None))
    # a kernel taking T at run time (the notebook's FINN cell, I = 5, H = 7): its guards use seq_len, and
    # SIMD 3 straddles (fold 1 = x 3, 4 + h 5)
    n, spec = 6, FinnCellSpec(input_size=5, hidden_size=7)
    cell = build_finn_cell(spec)
    runtime = import_model(bind_sequence_length(cell, n))
    mark_run_time_length(runtime, n)
    runtime = apply_pipeline(lower_to_stage(runtime, "dataflow"), ["qrnn-set-folding{pe=7 simd=3}"])
    jobs.append(("run_time_length", cell, runtime, n))

    def run(job):
        name, model, module, max_len = job
        iface, kernels = binaries(module, name)
        out = []
        for t in [None] if max_len is None else [1, 2, max_len]:
            x = _inputs(model, seed=3, count=4) if t is None else finn_cell_inputs(spec, 4, t, 3)
            want = run_stage("integer", model, x)
            for kernel in kernels:
                codes = run_csim_on_codes(kernel, iface, iface.quantize_inputs(x), t)
                out.append((f"{name} T={t} {kernel.name}", want, iface.dequantize_outputs(codes, t)))
        return out

    check_pooled(run, jobs)


def _overlapped(rec: qrnn.RecurrenceOp) -> bool:
    schedule = step_schedule(rec)
    depth = qor.mvau_depth(schedule.mvau.simd.value.data) if schedule is not None else 0
    return schedule is not None and schedule.x_overlap(depth=depth, overhead=qor.STEP_OVERHEAD) is not None
