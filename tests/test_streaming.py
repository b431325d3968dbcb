"""The streamed recurrence step (lstmc.schedule.step_schedule -> qrnn-to-hlscpp -> lstmc.qor).

Properties:
- Gate interleaving: E = PE / gcd(PE, G) lanes always divide H, a group of G * E rows is a whole number of
  PE-row folds, and `row_order` is a permutation whose every group holds all G gates of E consecutive
  elements, groups in element order. Breaks with a lane count that splits a group across elements.
- One schedule: on every fixture (and folded), the emitted loop nest is the one the QoR counts — the MVAU
  process's flat loop has B * (rows/PE) * (cols/SIMD) iterations, every unit process B * H / E iterations of
  E unrolled lanes, the `steps` loop T iterations with one call of the DATAFLOW step, and the longest chain
  of unit processes behind the MVAU (read off the emitted FIFOs) times UNIT_LATENCY is the pipeline depth
  the QoR adds; so each recurrence's stage is T x (MVAU loop + its depth + that chain + STEP_OVERHEAD), and
  where x_t comes from a FIFO (the input port, the layer before) its read loop of the step's prefetch
  process (and of the read of x_0 before the steps) bounds the step from below; a recurrence links to the
  next stage exactly when its unit computing y_t writes a top-level FIFO. Breaks if the lowering and the
  estimate disagree on any trip count, lane count, chain or FIFO link.
- One FIFO depth: every emitted `hls::stream` has the depth of the `fifo_depth` attribute on the op that
  produces it (changing the attribute changes the pragma and the QoR's FIFO cost), E lanes wide.
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
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, fixture_models
from test_hardware import _inputs, needs_ap_types, needs_cxx
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
    UNIT_LATENCY,
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


def _at_step0(value: SSAValue, t: SSAValue) -> tuple[int, int]:
    """(a, b) of a value `t == 0 ? a : b` of two constants."""
    sel = value.owner
    assert isinstance(sel, hlscpp.SelectOp) and isinstance(eq := sel.cond.owner, hlscpp.BinaryOp)
    assert eq.kind.data == "eq" and eq.lhs is t and isinstance(zero := eq.rhs.owner, hlscpp.ConstOp)
    assert zero.value.value.data == 0
    a, b = sel.if_true.owner, sel.if_false.owner
    assert isinstance(a, hlscpp.ConstOp) and isinstance(b, hlscpp.ConstOp)
    return a.value.value.data, b.value.value.data


def overlapped_cycles(overlap: dict, depth: int, chain: int) -> tuple[int, int]:
    """(step t > 0, step 0) of an x-overlapped step read off the emitted loop (`emitted_step`), with the MVAU's
    pipeline `depth` and the unit `chain` behind its last group: the loop, or the h folds (at step 0 all folds
    of step 0) and the chain, or the read of x_{t+2} from a FIFO beside them, whichever ends last."""
    read = overlap["reads"] // 2
    step = max(overlap["iterations"] + depth, overlap["h_iterations"] + depth + chain, read)
    first = max(overlap["first_iterations"] + depth, overlap["iterations"] + depth + chain, read)
    return step + qor.STEP_OVERHEAD, first + qor.STEP_OVERHEAD


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
    # the x-overlapped schedule: the step's loop runs `t == 0 ? B*RF*(CF + XF) : B*RF*CF` iterations (its
    # run-time bound; the largest is its ub), its fold counter `sf` starts at `t == 0 ? CF : XF`
    overlap = None
    if mvau_loop.bound is not None:
        t = callee[mvau_call].body.block.args[0]
        first, later = _at_step0(mvau_loop.bound, t)
        assert first == mvau_loop.trip_count
        stores = [op for op in callee[mvau_call].body.block.ops if isinstance(op, hlscpp.StoreOp) and not op.indices]
        (sf,) = [op for op in stores if op.array.name_hint == "sf"]
        column_folds, x_folds = _at_step0(sf.value, t)
        row_passes = later // column_folds  # B * RF
        assert later == row_passes * column_folds and first == later + row_passes * x_folds
        # x from a FIFO, read two steps ahead: x_0 and x_1 before the steps (read_x / read_x_next loops)
        ahead = [_nest_trips(loop) + qor.ELEMENTWISE_DEPTH for loop in _read_x_loops(rec_fn)]
        assert len(ahead) in (0, 2) and ahead[:1] == ahead[1:]
        overlap = {
            "first_iterations": first,
            "iterations": later,
            "h_iterations": row_passes * (column_folds - x_folds),
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
        assert got["units"] == [(schedule.unit_iterations(), lanes)] * len(schedule.units)
        assert got["chain"] * UNIT_LATENCY == schedule.depth
        assert got["every_stream_has_a_writer_and_a_reader"]
        want_streams = sorted((schedule.fifo[v], lanes) for v in schedule.fifo for _ in schedule.stream_consumers(v))
        assert got["streams"] == want_streams
        stage = next(s for s in report.stages if s.name == name)
        step = got["mvau_iterations"] + qor.mvau_depth(simd) + got["chain"] * UNIT_LATENCY + qor.STEP_OVERHEAD
        read = got["read_x"]
        if overlap is not None:  # the loop, or its h phase and the chain behind its last group; step 0 longer
            assert overlap["reads"] == (2 * read if read is not None else 0)  # x_{t+2} read beside the MVAU
            step, first = overlapped_cycles(overlap, qor.mvau_depth(simd), got["chain"] * UNIT_LATENCY)
            prologue = overlap["reads"] + first - step  # x_0, x_1 before the steps; step 0's x folds
            assert stage.prologue == prologue and stage.step_cycles == step, name
            assert stage.cycles == overlap["reads"] + first + (got["steps"] - 1) * step
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
    """The o gate's threshold waits for tanh(c) (10 cycles behind): its FIFO is 10 + 2 deep. Setting the
    attribute to 37 changes the emitted depth and the QoR's FIFO cost, and nothing else."""
    module = dataflow_module(onnx.load(FIXTURES / "l1_w4_po2.onnx"))
    (rec,) = [op for op in module.walk() if isinstance(op, qrnn.RecurrenceOp)]
    schedule = step_schedule(rec)
    assert schedule is not None
    o_gate = next(op for op in schedule.units if op.results[0].name_hint == "l0_fwd_output_act_dq")
    assert "fifo_depth" in o_gate.attributes and fifo_depth(o_gate) == 10
    assert all(isinstance(v, OpResult) and fifo_depth(v.op) == schedule.fifo[v] for v in schedule.fifo)
    before = qor.estimate_module(module).unit("l0_fwd_scan/l0_fwd_output_act_dq")
    o_gate.attributes["fifo_depth"] = IntegerAttr(37, i64)
    after = qor.estimate_module(module).unit("l0_fwd_scan/l0_fwd_output_act_dq")
    elem = SSAValue.get(o_gate.results[0], type=TensorType).type.get_element_type()
    assert isinstance(elem, IntegerType)
    bits = elem.width.data
    assert after.resources + qor.fifo_resources(10, bits) == before.resources + qor.fifo_resources(37, bits)
    hls = apply_pipeline(module.clone(), [QrnnToHlscppPass()])
    depths = sorted(op.depth.value.data for op in hls.walk() if isinstance(op, hlscpp.StreamOp))
    assert 37 in depths and 10 not in depths


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
    from lstmc.hls.build import csim_stage

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

    def run(job):
        name, integer, module, x = job
        return name, run_function(integer, x), run_function(module, x), csim_stage(module, x)

    with ThreadPoolExecutor(2) as pool:
        for name, want, mid, got in pool.map(run, jobs):
            for k in want:
                assert np.array_equal(want[k], mid[k]), f"{name}: dataflow vs integer, output {k}"
                assert np.array_equal(want[k], got[k]), f"{name}: csim vs integer, output {k}"


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
        elif _labelled(fn, "rows"):  # a line buffer: (H + 1) phases of max(words in, words out)
            (rows,), (phase,) = _labelled(fn, "rows"), _labelled(fn, "line_buffer")
            processes.append(
                (
                    "window",
                    rows.trip_count * phase.trip_count + qor.ELEMENTWISE_DEPTH,
                    phase.trip_count + qor.ELEMENTWISE_DEPTH,
                )
            )
        elif _labelled(fn, "mvau"):
            (loop,) = _labelled(fn, "mvau")
            processes.append(("mvau", loop.trip_count, None))  # + depth(SIMD), checked against the op
        else:  # an input reader or an elementwise unit: trips of its pipelined loop nest, lanes unrolled
            trips, _ = _loop_iterations(fn)
            processes.append(("unit", trips + qor.ELEMENTWISE_DEPTH, qor.ELEMENTWISE_DEPTH))
    return {"processes": processes, "read_x": read_x, "fifos": len(fifos)}


TOP_CASES = [
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
            step, first = overlapped_cycles(rec["overlap"], qor.mvau_depth(mvau.simd), rec["chain"] * UNIT_LATENCY)
            assert s.step_cycles == step
            read = rec["overlap"]["reads"] + first - step
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


@pytest.mark.parametrize("path", EVERY_MODEL, ids=lambda p: p.parent.name if p.name == "model.onnx" else p.stem)
def test_estimate_cycles_are_the_loop_nest_on_every_model(path):
    """On every fixture and example: each stage of the estimate is a loop nest the lowering emitted (a
    recurrence's steps, or a process of the streamed top level), with the cycles that loop nest runs, and
    the estimate's latency is those stages chained (`stages_latency`) — nothing else is counted."""
    module = dataflow_module(onnx.load(path))
    report = qor.estimate_module(module)
    hls = apply_pipeline(module.clone(), [QrnnToHlscppPass()])
    checked = (
        check_recurrence_stages(module, report, hls)
        + check_top_stages(module, report, hls)
        + check_buffered_top_stages(report, hls)
    )
    assert checked == len(report.stages), [s.name for s in report.stages]
    assert report.cycles == qor.stages_latency(report.stages)
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

    with ThreadPoolExecutor(2) as pool:
        for results in pool.map(run, jobs):
            for what, want, got in results:
                for k in want:
                    assert np.array_equal(want[k], got[k]), f"{what}: output {k}"


def _overlapped(rec: qrnn.RecurrenceOp) -> bool:
    schedule = step_schedule(rec)
    depth = qor.mvau_depth(schedule.mvau.simd.value.data) if schedule is not None else 0
    return schedule is not None and schedule.x_overlap(depth=depth, overhead=qor.STEP_OVERHEAD) is not None
