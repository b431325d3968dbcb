"""The cycle-level simulation of the streamed chains (lstmc.chain_sim) and the FIFO depths qrnn-size-fifos
gives them.

Properties:
- the simulation runs the emitted loop nests: each process alone (its input always there, its output never
  full) takes the cycles the estimate gives its stage; a reader feeding a unit takes the closed form's
  latency; every FIFO carries as many words as its producer writes and its consumer reads.
- the one-pass run with FIFOs that never fill (`asap`) is the cycle-by-cycle run's, word for word.
- the emitted kernel holds its FIFOs at the depths qrnn-size-fifos recorded, and the QoR costs those; at
  them each chain is as fast as with FIFOs that never fill (also on random models at random foldings and
  widths), and no FIFO deeper than the least could be one word shallower without slowing its chain.
- with every FIFO two words deep, the stock model's chain at its shipped folding (--target-cycles 20000)
  runs over 1.5x slower: its line buffers emit a row of patches at once into heavily folded MVAUs that read
  only in their first row fold, and the stall of one freezes its reads too (why the depths are sized).
- the report gives the simulated latency beside the closed form (lstmc estimate, report.json).
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from conftest import ROOT
from xdsl.dialects import func

from lstmc import chain_sim, cli, qor
from lstmc.dialects import hlscpp
from lstmc.frontend.onnx_import import import_model
from lstmc.hls.build import lower_to_hlscpp
from lstmc.passes.qrnn_set_folding import choose_x_overlap, set_folding
from lstmc.pipeline import lower_and_fold, lower_to_stage
from lstmc.ports import mark_axis_bits
from lstmc.schedule import TOP_FIFO_DEPTH, chains, top_fifo_depth
from lstmc.testing import ConvLstmSpec, LstmSpec, build_conv_lstm, build_lstm
from lstmc.unit_names import mvau_names

STOCK = ROOT / "examples" / "stock" / "model.onnx"
TINY = ROOT / "examples" / "tiny_lstm" / "model.onnx"
CONV2D = ConvLstmSpec(
    features=5, seq_len=10, convs=[(3, 3, 1, 3, 1), (4, 2, 2, 3, 2)], lstm=LstmSpec(hidden_size=4), seed=2
)

# (name, model, target cycles, axis bits)
CASES = [
    ("stock_20000", lambda: onnx.load(STOCK), 20000, 0),
    ("stock_1300_64", lambda: onnx.load(STOCK), 1300, 64),
    ("stock_3000_64", lambda: onnx.load(STOCK), 3000, 64),
    ("conv2d", lambda: build_conv_lstm(CONV2D), 0, 0),
    ("conv2d_400", lambda: build_conv_lstm(CONV2D), 400, 0),
    ("tiny_32", lambda: onnx.load(TINY), 0, 32),
]


def _module(make, target: int, bits: int):
    return lower_and_fold(make(), target_cycles=target, axis_bits=bits)


def _block(module):
    return next(op for op in module.ops if isinstance(op, func.FuncOp)).body.block


def _alone(p: chain_sim.Process) -> int:
    """`p` with every word it reads there from the start and room for everything it writes."""
    p.inp = chain_sim.Fifo(chain_sim.UNBOUNDED, written=[-1] * p.words_read())
    p.out = chain_sim.Fifo(chain_sim.UNBOUNDED)
    return chain_sim.run([p])


@pytest.mark.parametrize("name, make, target, bits", CASES, ids=[c[0] for c in CASES])
def test_each_process_alone_runs_its_estimated_cycles(name, make, target, bits):
    module = _module(make, target, bits)
    block = _block(module)
    report = qor.estimate_module(module)
    stages = {s.name: s for s in report.stages}
    assert len(report.chains) == len(chains(block)) >= 1
    for names, chain in zip(report.chains, chains(block)):
        procs, fifos = chain_sim.build(chain, block, [chain_sim.UNBOUNDED] * len(chain.streams))
        for k in range(len(fifos)):  # one word in for every word out
            assert procs[k].words_written() == procs[k + 1].words_read(), (name, k)
        for stage, p in zip(names, procs):
            cycles = _alone(p)
            if isinstance(p, chain_sim.Loop):
                assert cycles == stages[stage].cycles, (name, stage)
            else:  # the closed form counts x_{t+1}'s read in the last step too, which reads nothing
                assert stages[stage].cycles - stages[stage].step_cycles <= cycles <= stages[stage].cycles, stage


@pytest.mark.parametrize("name, make, target, bits", CASES, ids=[c[0] for c in CASES])
def test_the_one_pass_run_is_the_cycle_by_cycle_run_with_unbounded_fifos(name, make, target, bits):
    """`asap` (each process after the one in front, what sizing and the unbounded latency use) gives the
    cycle-by-cycle run's latency and the cycle of every word written and read."""
    block = _block(_module(make, target, bits))
    for chain in chains(block):
        procs, fifos = chain_sim.build(chain, block, [chain_sim.UNBOUNDED] * len(chain.streams))
        cycles = chain_sim.run(procs)
        fresh, _ = chain_sim.build(chain, block, [chain_sim.UNBOUNDED] * len(chain.streams))
        assert chain_sim.asap(fresh) == (cycles, [f.read_at for f in fifos], [f.written for f in fifos]), name


def test_a_reader_into_a_unit_takes_the_closed_form():
    """4 words through a 2-stage reader and a 2-stage unit: sum of fills (2 + 2) + 4 cycles."""
    fifo = chain_sim.Fifo(TOP_FIFO_DEPTH)
    reader = chain_sim.Loop("reader", [False] * 4, [True] * 4, 2, out=fifo)
    unit = chain_sim.Loop("unit", [True] * 4, [False] * 4, 2, inp=fifo)
    assert chain_sim.run([reader, unit]) == qor.chain_latency([4 + 2, 4 + 2], [2, 2]) == 8


def test_a_chain_that_stops_is_reported():
    fifo = chain_sim.Fifo(TOP_FIFO_DEPTH)
    producer = chain_sim.Loop("producer", [False] * 2, [True] * 2, 2, out=fifo)
    consumer = chain_sim.Loop("consumer", [True] * 3, [False] * 3, 2, inp=fifo)
    with pytest.raises(RuntimeError, match="the chain stops at cycle .*: consumer"):
        chain_sim.run([producer, consumer])


@pytest.mark.parametrize("name, make, target, bits", CASES, ids=[c[0] for c in CASES])
def test_sized_fifos_are_emitted_costed_and_enough(name, make, target, bits):
    module = _module(make, target, bits)
    block = _block(module)
    depths = {st.value: top_fifo_depth(st) for c in chains(block) for st in c.streams}
    assert min(depths.values()) >= TOP_FIFO_DEPTH
    # the kernel's FIFOs and the QoR's FIFO units are at those depths
    report = qor.estimate_module(module)
    fifos = sorted(u.length for u in report.units if u.kind == "fifo")  # a FIFO unit's length: its depth
    assert fifos == sorted(depths.values())
    hls = lower_to_hlscpp(module, "k")
    (top,) = [f for f in hls.ops if isinstance(f, hlscpp.FuncOp) and f.top is not None]
    emitted = sorted(op.depth.value.data for op in top.walk() if isinstance(op, hlscpp.StreamOp))
    assert emitted == fifos
    # as fast as unbounded FIFOs, and none could be a word shallower
    unbounded = chain_sim.simulate(block, default=chain_sim.UNBOUNDED)
    sized = chain_sim.simulate(block)
    assert [r.cycles for r in sized] == [r.cycles for r in unbounded]
    for chain, result in zip(chains(block), sized):
        for st in chain.streams:
            if depths[st.value] > TOP_FIFO_DEPTH:
                shallower = chain_sim.simulate(block, {**depths, st.value: depths[st.value] - 1})
                assert sum(r.cycles for r in shallower) > sum(r.cycles for r in sized), (name, st.value.name_hint)


def test_two_word_fifos_slow_the_stock_chain():
    module = _module(lambda: onnx.load(STOCK), 20000, 0)
    block = _block(module)
    (sized,) = chain_sim.simulate(block)
    (shallow,) = chain_sim.simulate(block, default=TOP_FIFO_DEPTH)
    assert shallow.cycles > 1.5 * sized.cycles
    assert max(sized.depths) > TOP_FIFO_DEPTH


def test_the_report_gives_the_simulated_latency(capsys, tmp_path):
    assert cli.main(["estimate", str(STOCK), "--target-cycles", "20000", "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    module = _module(lambda: onnx.load(STOCK), 20000, 0)
    report = qor.estimate_module(module)
    chain_sim.simulate_report(module, report)
    assert report.simulated is not None and report.simulated >= report.cycles
    assert (
        f"cycle-level simulation of the streamed chains (their FIFOs at the emitted depths): {report.simulated} "
        "cycles per inference" in out
    )
    data = json.loads((tmp_path / "e.json").read_text())
    assert data["simulated_cycles_per_inference"] == report.simulated


def _random_model(rng):
    """A small LSTM or ConvLSTM of random sizes (the shapes tests/test_hardware and test_conv_lstm build)."""
    if rng.integers(2):
        spec = LstmSpec(
            input_size=int(rng.integers(2, 9)), hidden_size=int(rng.integers(2, 9)), seq_len=int(rng.integers(1, 7))
        )
        return build_lstm(spec)
    f, kw, stride = int(rng.choice([6, 8, 12])), int(rng.choice([2, 3])), int(rng.choice([1, 2]))
    width = (f - kw) // stride + 1
    convs = [(int(rng.integers(1, 5)), kw, stride), (int(rng.integers(1, 4)), width, 1)]
    lstm = LstmSpec(hidden_size=int(rng.integers(2, 7)))
    return build_conv_lstm(ConvLstmSpec(features=f, seq_len=int(rng.integers(3, 9)), convs=convs, lstm=lstm))


@pytest.mark.parametrize("seed", range(12))
def test_sized_fifos_hold_at_random_foldings(seed):
    """Random models at random foldings and port widths: the sized depths keep the cycle-by-cycle run at the
    latency of FIFOs that never fill (the late-schedule sizing without its check)."""
    rng = np.random.default_rng(seed)
    module = lower_to_stage(import_model(_random_model(rng)), "dataflow")
    mark_axis_bits(module, int(rng.choice([0, 16, 32, 64])))
    for op in mvau_names(module).values():
        spec = qor.mvau_spec(op)
        set_folding(op, int(rng.choice(spec.pe_values())), int(rng.choice(spec.simd_values())))
    choose_x_overlap(module)
    block = _block(module)
    depths = chain_sim.size_fifos(block, TOP_FIFO_DEPTH)
    for chain in chains(block):
        procs, _ = chain_sim.build(chain, block, [depths[st.value] for st in chain.streams])
        unbounded, _ = chain_sim.build(chain, block, [chain_sim.UNBOUNDED] * len(chain.streams))
        assert chain_sim.run(procs) == chain_sim.asap(unbounded)[0]
