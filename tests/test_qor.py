"""The QoR model (lstmc.qor) and `lstmc estimate`.

Properties:
- The cycle formulas follow the documented schedule: hand-computed values for the MVAU loop nest
  ((rows/PE) * (cols/SIMD) + 3 + ceil(log2 SIMD)), elementwise loops (length + 2), sequential recurrences
  (T * step + T * read + T * write-back), streamed recurrences (T * (MVAU + unit chain + 3)), latency (sum)
  and II (max), reported apart. Breaks if a depth, a read term or the sum/max is changed in one place and not
  the other. (tests/test_streaming.py ties these cycles to the emitted loop nest.)
- The resource formulas are the documented FINN-R closed forms (hand-computed MVAU, thresholds, BRAM18
  aspect ratios), monotone in the folding (more PE or SIMD -> fewer cycles, more LUTs), with BRAM18 only
  for deep memories and DSPs only for products larger than 4 x 4.
- estimate_module on a lowered fixture gives exactly the formulas applied to the IR's sizes; totals are
  the sums of the units; the folding space (used by target-cycles and --sweep) agrees with re-estimating the
  folded IR. Breaks if the IR walk and the per-unit decomposition disagree.
- `lstmc estimate` prints the table, sweeps (bounded), marks Pareto points, writes a PNG and JSON, and
  rejects conflicting options with one-line errors.
"""

import argparse
import itertools
import json

import pytest
from conftest import FIXTURES
from xdsl.context import Context

from lstmc import qor
from lstmc.errors import LstmcError
from lstmc.frontend import load_onnx
from lstmc.frontend.onnx_import import import_model
from lstmc.passes.qrnn_set_folding import QrnnSetFoldingPass
from lstmc.pipeline import STAGE_PASSES, apply_pipeline
from lstmc.qor import (
    STEP_OVERHEAD,
    FoldingSpace,
    Resources,
    bram18_count,
    elementwise_cycles,
    estimate_module,
    inference_cycles,
    initiation_interval,
    memory_resources,
    multiplier_uses_dsp,
    mvau_cycles,
    mvau_resources,
    recurrence_cycles,
    streamed_step_cycles,
    threshold_resources,
)
from lstmc.unit_names import mvau_names

BIDIR = FIXTURES / "l2_bidir_w3_po2.onnx"


def lowered(path=BIDIR):
    module = import_model(load_onnx(str(path)))
    return apply_pipeline(module, STAGE_PASSES["dataflow"])


# ------------------------------------------------------------------------------------------------ cycles
def test_mvau_cycles_hand_computed():
    assert mvau_cycles(24, 11, 1, 1) == 24 * 11 + 3
    assert mvau_cycles(24, 12, 4, 4) == 6 * 3 + 3 + 2
    assert mvau_cycles(6, 10, 2, 2) == 3 * 5 + 3 + 1
    assert mvau_cycles(24, 18, 3, 3) == 8 * 6 + 3 + 2  # ceil(log2 3) = 2 adder-tree levels
    assert mvau_cycles(24, 18, 24, 18) == 1 + 3 + 5


def test_mvau_cycles_reject_non_divisors():
    with pytest.raises(ValueError, match="PE=5 must divide rows=24"):
        mvau_cycles(24, 12, 5, 1)
    with pytest.raises(ValueError):
        mvau_resources(24, 12, 1, 5, 4, 8, 16)


def test_elementwise_and_recurrence_cycles():
    assert elementwise_cycles(6) == 8
    assert recurrence_cycles(10, 403, 5) == 10 * 403 + 10 * 5
    assert recurrence_cycles(10, 403, 5, 18) == 10 * (403 + 5 + 18)
    assert STEP_OVERHEAD == 3 and streamed_step_cycles(267, 14) == 267 + 14 + 3
    assert inference_cycles([4080, 4080, 5830]) == 13990
    assert initiation_interval([4080, 5830, 4080]) == 5830
    assert initiation_interval([]) == 0


def test_more_parallelism_fewer_cycles():
    for rows, cols in ((64, 48), (32, 96)):
        pes = [p for p in qor.divisors(rows)]
        simds = [s for s in qor.divisors(cols)]
        for simd in simds:
            cyc = [mvau_cycles(rows, cols, p, simd) for p in pes]
            assert cyc == sorted(cyc, reverse=True) and len(set(cyc)) == len(cyc)
        for pe in pes:
            # with SIMD, the extra adder-tree level can only eat into the gain when the loop is already 1-2 long
            cyc = [mvau_cycles(rows, cols, pe, s) for s in simds if rows // pe * cols // s >= 4]
            assert cyc == sorted(cyc, reverse=True)


# --------------------------------------------------------------------------------------------- resources
def test_bram18_aspect_ratios():
    assert bram18_count(16384, 1) == 1 and bram18_count(16385, 1) == 2
    assert bram18_count(8192, 2) == 1
    assert bram18_count(4096, 4) == 1 and bram18_count(4096, 8) == 2  # 8 bits wide: 2K x 9 blocks
    assert bram18_count(2048, 9) == 1 and bram18_count(2049, 9) == 2
    assert bram18_count(1024, 18) == 1
    assert bram18_count(512, 36) == 1 and bram18_count(512, 72) == 2
    assert bram18_count(513, 36) == 2  # deeper than 512: 1K x 18 blocks, two side by side
    assert bram18_count(0, 8) == 0


def test_memory_lutram_then_bram():
    assert memory_resources(128, 10) == Resources(lut=20)
    assert memory_resources(64, 10) == Resources(lut=10)
    assert memory_resources(129, 10) == Resources(bram18=1)
    assert memory_resources(0, 10) == Resources()


def test_dsp_rule():
    assert not multiplier_uses_dsp(4, 4)
    assert not multiplier_uses_dsp(3, 8)
    assert multiplier_uses_dsp(4, 5)
    assert multiplier_uses_dsp(8, 8)
    assert mvau_resources(24, 12, 2, 3, 8, 8, 20).dsp == 6
    assert mvau_resources(24, 12, 2, 3, 3, 8, 20).dsp == 0
    assert mvau_resources(24, 12, 2, 3, 30, 8, 48).dsp == 2 * 3 * 2  # a 30-bit operand needs two DSP48E2


def test_mvau_resources_hand_computed():
    # The 24x11 MVAU of l2_bidir_w3_po2 layer 0 (3-bit weights, 8-bit inputs, 13-bit accumulator, 2 parts),
    # PE = SIMD = 1, FIFO of 24: multiplier (2*ceil(11/6)-1)*11 = 33, adder tree 11*1, acc 13, alignment 2*13
    # -> ceil(300 + 1.1 * 83) = 392; weights 264 x 3 bits -> one BRAM18; input buffer 11 x 8 -> 8 LUTs;
    # FIFO 24 x 13 -> 13 SRL LUTs + 13 FF; FF = 11 + 2*13 = 37.
    r = mvau_resources(24, 11, 1, 1, 3, 8, 13, parts=2, fifo_depth=24)
    assert r == Resources(lut=392 + 8 + 13, ff=37 + 13, bram18=1, dsp=0)


def test_more_parallelism_more_luts():
    for w, a in ((2, 8), (8, 8)):
        prev = None
        for pe, simd in ((1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (8, 4), (8, 8), (16, 8)):
            r = mvau_resources(64, 64, pe, simd, w, a, 20)
            cyc = mvau_cycles(64, 64, pe, simd)
            if prev is not None:
                assert r.lut > prev[0].lut, (w, a, pe, simd)
                assert cyc < prev[1]
                assert r.dsp >= prev[0].dsp
            prev = (r, cyc)


def test_bram_appears_for_large_weight_memory():
    deep = mvau_resources(256, 256, 1, 1, 4, 8, 24)  # 65536 words per lane
    assert deep.bram18 > 0
    shallow = mvau_resources(256, 256, 32, 16, 4, 8, 24)  # 128 words: LUTRAM
    assert shallow.bram18 == 0 and shallow.lut > deep.lut
    assert mvau_resources(8, 8, 1, 1, 4, 8, 12).bram18 == 0  # 64 words


def test_threshold_resources():
    shared = threshold_resources(6, 6, 13, 3, per_channel=False)
    assert shared == Resources(lut=qor.UNIT_CONTROL_LUT + 6 * 13 + 6, ff=2 * (13 + 3))
    per_channel = threshold_resources(6, 6, 13, 3, per_channel=True)
    assert per_channel.lut == shared.lut + 6 * 13  # 6 words of 78 bits: one LUTRAM column per bit
    big = threshold_resources(256, 255, 16, 8, per_channel=True)
    assert big.bram18 > 0
    more = threshold_resources(6, 12, 13, 4, per_channel=False)
    assert more.lut > shared.lut


def test_elementwise_resources():
    assert qor.elementwise_resources("slice", [13], 13) == Resources(lut=qor.UNIT_CONTROL_LUT, ff=2 * 26)
    assert qor.elementwise_resources("imul", [3, 8], 11).lut == qor.UNIT_CONTROL_LUT + qor.lut_multiplier_luts(3, 8)
    assert qor.elementwise_resources("imul", [8, 8], 16).dsp == 1
    with pytest.raises(ValueError, match="unknown elementwise unit kind 'pow'"):
        qor.elementwise_resources("pow", [8], 8)


def test_resources_sum_and_utilisation():
    a, b = Resources(1, 2, 3, 4), Resources(10, 20, 30, 40)
    assert a + b == Resources(11, 22, 33, 44)
    assert qor.total([a, b, a]) == Resources(12, 24, 36, 48)
    u = Resources(lut=2304, ff=4608, bram18=312, dsp=1728).utilisation()
    assert u == {"lut": 1.0, "ff": 1.0, "bram18": 50.0, "dsp": 100.0}
    assert (qor.DEFAULT_PART.lut, qor.DEFAULT_PART.ff, qor.DEFAULT_PART.bram18, qor.DEFAULT_PART.dsp) == (
        230400,
        460800,
        624,
        1728,
    )


def test_divisors():
    assert qor.divisors(24) == [1, 2, 3, 4, 6, 8, 12, 24]
    assert qor.divisors(1) == [1]
    assert qor.divisors(0) == []


# ------------------------------------------------------------------------------------------ estimate_module
def _pin_overlap(module, on: bool):
    """Every recurrence's MVAU on the x-overlapped schedule (on) or the plain one."""
    from xdsl.dialects.builtin import IntegerAttr, i64

    from lstmc.schedule import X_OVERLAP

    for name, mvau in mvau_names(module).items():
        if not name.startswith("top/"):
            mvau.attributes[X_OVERLAP] = IntegerAttr(int(on), i64)
    return module


def test_estimate_module_matches_schedule():
    report = estimate_module(_pin_overlap(lowered(), False))
    assert [s.name for s in report.stages] == ["l0_fwd_scan", "l0_bwd_scan", "l1_fwd_scan", "l1_bwd_scan"]
    # Each body streams: the MVAU, 4 gate slices (FIFOs only), 4 gate thresholds, 3 imul, 4 requant,
    # 1 scaled_sum, 1 tanh threshold, and the state registers. Unfolded, E = 1 lane: the cell's loop runs
    # H = 6 iterations (+ its depth). The longest chain in the cell is 7 units (f -> f*c -> requant ->
    # c sum -> tanh -> o*tanh -> requant h), a stage each after reading the gates: 8, + 3 for the region
    # and the state copy.
    for s in report.stages:
        units = [u for u in report.units if u.stage == s.name]
        assert len(units) == 19
        (mvau,) = [u for u in units if u.kind == "mvau"]
        assert mvau.name == f"{s.name}/gates"
        cols = 5 + 6 if s.name.startswith("l0") else 12 + 6
        assert mvau.cycles_per_step == mvau_cycles(24, cols, 1, 1)
        assert sorted(u.kind for u in units if u.cycles_per_step == 0) == ["slice"] * 4 + ["state"]
        assert all(u.cycles_per_step == 6 + 8 for u in units if u.kind not in ("mvau", "slice", "state"))
        assert s.steps == 10 and (s.read_cycles_per_step, s.write_cycles_per_step) == (0, 0)
        assert s.pipeline_depth == 8 + 3 and s.step_cycles == mvau.cycles_per_step + 11
    assert report.cycles == 2 * 10 * (24 * 11 + 3 + 11) + 2 * 10 * (24 * 18 + 3 + 11) == 14480
    assert report.initiation_interval == 10 * (24 * 18 + 3 + 11)
    names = [u.name for u in report.units]
    assert len(set(names)) == len(names)
    assert report.total == qor.total(u.resources for u in report.units)
    assert report.total.lut == sum(u.resources.lut for u in report.units)
    assert report.total.bram18 == sum(u.resources.bram18 for u in report.units)
    d = report.to_dict()
    assert d["cycles_per_inference"] == 14480 and d["total"]["lut"] == report.total.lut
    assert d["initiation_interval"] == 4460 and d["initiation_interval_us"] == pytest.approx(4460 / 200)
    assert d["stages"][0]["streamed"] and d["stages"][0]["pipeline_depth"] == 11
    assert d["utilisation_percent"]["lut"] == pytest.approx(100 * report.total.lut / 230400)
    table = report.format_table()
    assert "latency: 14480 cycles per inference" in table and "initiation interval: 4460 cycles" in table
    assert "stage l1_fwd_scan: 10 steps x (435 MVAU + 11 pipeline) cycles = 4460 cycles" in table


def test_overlapped_step_counts_step0_and_the_last_step_once():
    """The same bidirectional model on the x-overlapped schedule, unfolded (RF = 24 rows, XF = I = 5 x-only
    folds of CF = 11 in layer 0; 12 of 18 in layer 1; MVAU depth 3, cell 8, region 3): a step t runs the h
    folds of step t and the x folds of step t + 1, B*RF*CF iterations, the cell hidden behind the x folds;
    step 0 runs its own x folds too; the last step only its h folds, the cell behind them."""
    report = estimate_module(_pin_overlap(lowered(), True))
    for s in report.stages:
        x_folds, cols = (5, 11) if s.name.startswith("l0") else (12, 18)
        loop, h_loop = 24 * cols, 24 * (cols - x_folds)
        step = max(loop + 3, h_loop + 3 + 8) + 3
        first = max(loop + 24 * x_folds + 3, loop + 3 + 8) + 3
        last = h_loop + 3 + 8 + 3
        assert (s.step_cycles, s.prologue) == (step, first - step + last - step), s.name
        assert s.cycles == first + (s.steps - 2) * step + last
    assert report.cycles == sum(s.cycles for s in report.stages)


def test_streamed_units_follow_the_lanes():
    """PE = 8 over G = 4 gates: E = 2 lanes; the cell's loop runs H / E = 3 iterations (+ its depth 8), every
    unit's datapath twice, its memories and the cell's loop control (charged to its first unit) once (the
    folding space charges the lanes to the MVAU)."""
    module = lowered()
    QrnnSetFoldingPass(pe=8, simd=1).apply(Context(), module)
    report = estimate_module(module)
    first, *rest = [u for u in report.units if u.stage == "l0_fwd_scan" and u.kind not in ("mvau", "slice", "state")]
    assert first.kind == "threshold" and all(u.lanes == 2 and u.cycles_per_step == 3 + 8 for u in [first, *rest])
    assert first.per_lane is not None and first.resources == Resources(lut=qor.UNIT_CONTROL_LUT) + first.per_lane * 2
    thr = next(u for u in rest if u.kind == "threshold")
    assert thr.per_lane is not None and thr.resources == thr.per_lane * 2
    mvau = report.unit("l0_fwd_scan/gates")
    assert mvau.spec is not None
    lanes = [u.per_lane for u in report.units if u.stage == "l0_fwd_scan" and u.per_lane is not None]
    assert mvau.spec.lane_resources == qor.total(lanes)
    assert mvau.spec.resources(8, 1) == mvau.resources + mvau.spec.lane_resources * 2


def test_estimate_follows_folding():
    module = lowered()
    QrnnSetFoldingPass(pe=4, simd=1).apply(Context(), module)
    report = estimate_module(module)
    mvau = report.unit("l1_fwd_scan/gates")
    assert (mvau.pe, mvau.simd, mvau.cycles_per_step) == (4, 1, 6 * 18 + 3)
    # the MVAU and its group buffer (G = 4 gates x E = 1 lane of accumulators); its FIFOs are the gates'.
    # Here the step is x-overlapped (x: 12 of the 18 columns, XF = 12): + the carried x-part (current and
    # next, 24 accumulators each), and nothing else (step 0 computes its x-part on the step's multipliers)
    assert mvau.spec is not None
    acc, w, a = mvau.spec.acc_bits, mvau.spec.weight_bits, mvau.spec.input_bits
    assert mvau.spec.overlap(4, 1, 10) is not None
    assert mvau.resources == mvau_resources(24, 18, 4, 1, w, a, acc, 2, 0) + Resources(ff=4 * acc) + Resources(
        ff=2 * 24 * acc
    )


def test_folding_space_agrees_with_reestimating():
    """Cycles/resources predicted by FoldingSpace == estimate_module of the IR folded that way."""
    base = lowered()
    space = FoldingSpace.from_report(estimate_module(base))
    assert set(space.units) == set(mvau_names(base))
    names = list(space.units)
    for combo in [((2, 1), (3, 1), (4, 2), (6, 3)), ((24, 1), (1, 1), (1, 6), (12, 2))]:
        folding = dict(zip(names, combo))
        module = base.clone()
        for name, op in mvau_names(module).items():
            op.properties["pe"] = qor_int(folding[name][0])
            op.properties["simd"] = qor_int(folding[name][1])
        module.verify()
        report = estimate_module(module)
        assert space.evaluate(folding) == (report.cycles, report.total)


def qor_int(v):
    from xdsl.dialects.builtin import IntegerAttr, i64

    return IntegerAttr(v, i64)


def test_pareto_front_is_nondominated_and_exact():
    space = FoldingSpace.from_report(estimate_module(lowered()))
    front = space.pareto_front()
    cycles = [c for c, _, _ in front]
    costs = [k for _, k, _ in front]
    assert cycles == sorted(cycles) and len(set(cycles)) == len(cycles)
    assert all(a > b for a, b in zip(costs, costs[1:]))
    assert front[0][0] == space.min_cycles()
    for c, k, f in front:
        got_c, res = space.evaluate(f)
        assert (got_c, res.cost_key()) == (c, k)
    # exact: brute force over two of the units, the others fixed, never beats the front
    names = list(space.units)
    fixed = {n: (1, 1) for n in names}
    for p0, p1 in itertools.product(space.units[names[0]][1].foldings(), space.units[names[2]][1].foldings()):
        c, res = space.evaluate({**fixed, names[0]: p0, names[2]: p1})
        assert any(fc <= c and fk <= res.cost_key() for fc, fk, _ in front)


# --------------------------------------------------------------------------------------------- the command
def parse(argv):
    from lstmc import estimate

    parser = argparse.ArgumentParser(prog="lstmc")
    estimate.add_parser(parser.add_subparsers())
    return parser.parse_args(["estimate", *argv])


def test_estimate_command_table(capsys):
    args = parse([str(BIDIR), "--pe", "2"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "l0_fwd_scan/gates" in out and "xczu7ev-ffvc1156-2-e" in out
    assert "latency:" in out and "initiation interval:" in out


def test_estimate_command_sweep(tmp_path, capsys):
    plot, js = tmp_path / "front.png", tmp_path / "est.json"
    args = parse([str(BIDIR), "--sweep", "--plot", str(plot), "--json", str(js), "--target-cycles", "10000"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "Pareto-optimal" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(js.read_text())
    assert data["cycles_per_inference"] <= 10000
    points = data["sweep"]
    assert 1 < len(points) <= 300
    pareto = [p for p in points if p["pareto"]]
    assert pareto
    for p in pareto:
        assert not any(
            q["cycles"] <= p["cycles"] and q["lut"] <= p["lut"] and (q["cycles"], q["lut"]) != (p["cycles"], p["lut"])
            for q in points
        )
    assert set(data["folding"]) == {"l0_fwd_scan/gates", "l0_bwd_scan/gates", "l1_fwd_scan/gates", "l1_bwd_scan/gates"}


def test_estimate_command_exhaustive_sweep_small_model():
    from lstmc import estimate

    space = FoldingSpace.from_report(estimate_module(lowered(FIXTURES / "l1_w4_po2.onnx")))
    (name,) = space.units
    points = estimate.sweep(space)
    assert len(points) == len(space.units[name][1].foldings())  # one MVAU: every (PE, SIMD) pair
    best_lut_at_min = min(p.lut for p in points if p.cycles == min(q.cycles for q in points))
    assert any(p.pareto and p.lut == best_lut_at_min for p in points)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--pe", "2", "--target-cycles", "5"], "give only one of --pe/--simd, --folding or --target-cycles"),
        (["--plot", "x.png"], "--plot needs --sweep"),
        (
            ["--pe", "5"],
            "PE=5 does not divide the 24 output rows of 'l0_fwd_scan/gates'; valid PE values: 1, 2, 3, 4, 6, 8, 12, 24",
        ),
        (["--target-cycles", "100"], "the minimum achievable is 744 cycles per inference"),
        (["--clock-mhz", "0"], "--clock-mhz must be positive"),
    ],
)
def test_estimate_command_errors(argv, message):
    args = parse([str(BIDIR), *argv])
    with pytest.raises(LstmcError, match=message.replace("(", r"\(").replace(")", r"\)")):
        args.func(args)


def test_estimate_missing_model(tmp_path):
    args = parse([str(tmp_path / "none.onnx")])
    with pytest.raises(LstmcError, match="no such file"):
        args.func(args)


STOCK = FIXTURES.parents[1] / "examples" / "stock" / "model.onnx"


def test_chain_latency_is_bottleneck_plus_fills():
    """Three processes joined by FIFOs: fills 2 + 10 + 3, the middle one busy 100 cycles: 2 + 3 + 100 = 105
    (its own fill is part of its 100). A stage joined by a buffer adds its cycles; a chain of one is its cycles."""
    assert qor.chain_latency([50, 100, 40], [2, 10, 3]) == 105
    assert qor.chain_latency([7], [3]) == 7
    assert qor.streamed_latency([50, 100, 40, 20], [2, 10, 3, 20], [None, 0, 1, None]) == 105 + 20
    assert qor.line_buffer_cycles(50, 40, 20) == (51 * 40 + 2, 42)


def test_line_buffer_cycles_of_2d_windows():
    """A line buffer's phases (one per image row, plus one when the last window ends at the last row) x
    max(words in, words out) + 2, and kh phases before its first word out: 3 x 3 stride 1 over 10 rows
    emits in phases 3..10 (11 phases); 3 rows at row stride 2 over 8 rows emits in phases 3, 5, 7 (8 phases,
    row 7 read but in no window); a window the whole image high emits once, after all rows."""
    assert qor.line_buffer_cycles(10, 5, 27, 3, 1) == (11 * 27 + 2, 3 * 27 + 2)
    assert qor.line_buffer_cycles(8, 9, 18, 3, 2) == (8 * 18 + 2, 3 * 18 + 2)
    assert qor.line_buffer_cycles(4, 6, 2, 4, 1) == (5 * 6 + 2, 4 * 6 + 2)


def test_streamed_folding_space_agrees_with_reestimating():
    """The stock ConvLSTM's top level streams: FoldingSpace (each stage's refold, chain latency) predicts the
    cycles and resources estimate_module gives for the IR folded that way, where the word widths of the
    units, line buffers and x_t reads change with the neighbouring MVAUs' PE and SIMD."""
    base = lowered(STOCK)
    space = FoldingSpace.from_report(estimate_module(base))
    assert space.stages is not None
    names = list(space.units)
    for seed in range(4):
        rng = __import__("random").Random(seed)
        folding = {n: rng.choice(space.units[n][1].foldings()) for n in names}
        module = base.clone()
        for name, op in mvau_names(module).items():
            op.properties["pe"] = qor_int(folding[name][0])
            op.properties["simd"] = qor_int(folding[name][1])
        report = estimate_module(module)
        assert space.evaluate(folding) == (report.cycles, report.total), folding
    best = space.cheapest_within(20000)
    assert best is not None and space.evaluate(best)[0] <= 20000 and space.evaluate(best)[1].dsp <= 1728
