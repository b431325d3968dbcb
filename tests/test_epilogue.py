"""Requantizers and activations fused into the MVAU in front of them (lstmc.schedule.fused_epilogues).

Properties:
- One decision: a top-level MVAU whose result has one reader, a requantizer / threshold / table unit over it,
  applies that unit to each output row in its own process: the emitted kernel has no process and no FIFO or
  buffer of the unit, the MVAU's process writes the unit's codes (the FIFO after it is as narrow as they
  are), and the QoR lists the unit as its MVAU's "epilogue" (no cycles, no stage of its own; the MVAU's depth
  and fill grow by EPILOGUE_DEPTH). Breaks if the lowering, top_streams or the QoR decide it differently.
- Not fused: an MVAU whose accumulator has two readers keeps its units as processes of their own, reading
  it from buffers.
- Bit identity: integer == dataflow == csim (the ap_int kernel and its native twin) with per-channel
  threshold and requantizer epilogues at PE > 1 (the threshold table split by PE rows), and in the
  unfused case (the twin; the stock model's csim tests cover PE = 1). Breaks on a row applying another
  channel's thresholds or a lane mix-up.
- One schedule: the QoR's cycles of every stage are the emitted loop nest's (tests/test_streaming.py's
  checks), fused or not.
"""

from __future__ import annotations

import pytest
from test_hardware import _inputs, check_pooled, needs_ap_types, needs_cxx
from test_streaming import check_schedule, dataflow_module
from xdsl.dialects import func
from xdsl.dialects.builtin import ArrayAttr, StringAttr
from xdsl.ir import Operation

from lstmc import qor
from lstmc.dialects import dataflow, hlscpp, qrnn
from lstmc.hls import project
from lstmc.schedule import fused_epilogues, top_streams
from lstmc.testing import ConvLstmSpec, LstmSpec, Q, build_conv_lstm

# 4-bit ReLU codes at a scale no power of two: the first convolution's requantizer becomes per-channel
# thresholds, the second's and the head's stay requantizers (qrnn-legalize-precision's cost rule)
MIXED = ConvLstmSpec(
    act=Q(4, False, False, 0.13),
    head_out=Q(4, True, False, 0.3),
    lstm=LstmSpec(hidden_size=4),
    classes=4,
    per_channel_weights=True,
)
FOLDED = "qrnn-set-folding{pe=2 simd=2}"


def _two_readers():
    """The small ConvLSTM's dataflow module with a second reader of its head's accumulator: a copy of the
    head's requantizer into a second output port ("again")."""
    model = build_conv_lstm(ConvLstmSpec(lstm=LstmSpec(hidden_size=4), seed=2))
    module = dataflow_module(model)
    block = _top(module)
    fn = block.parent_op()
    assert isinstance(fn, func.FuncOp)
    head = [op for op in block.ops if isinstance(op, dataflow.MVAUOp)][-1]
    (use,) = head.result.uses
    unit = use.operation
    (dq,) = [u.operation for u in unit.results[0].uses]
    assert isinstance(dq, qrnn.DequantizeOp)
    unit2, dq2 = unit.clone(), dq.clone()
    dq2.operands = [unit2.results[0]]
    unit2.results[0].name_hint, dq2.results[0].name_hint = "again_dq", "again"
    block.insert_ops_after([unit2, dq2], dq)
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    ret.operands = [*ret.operands, dq2.results[0]]
    fn.update_function_type()
    names = fn.attributes["lstmc.output_names"]
    assert isinstance(names, ArrayAttr)
    fn.attributes["lstmc.output_names"] = ArrayAttr([*names.data, StringAttr("again")])
    module.verify()
    return model, module


def _top(module):
    fn = next(iter(module.ops))
    assert isinstance(fn, func.FuncOp)
    return fn.body.block


def _fused(block) -> dict[dataflow.MVAUOp, Operation]:
    """`fused_epilogues`, its keys typed as the MVAUs they are."""
    out = {}
    for mvau, unit in fused_epilogues(block).items():
        assert isinstance(mvau, dataflow.MVAUOp)
        out[mvau] = unit
    return out


def test_fused_epilogues_are_one_decision():
    """Both MVAUs of the convolutions and the head's apply their unit: no unit process, no FIFO of the
    accumulator, the process writes the unit's codes; the QoR lists each as its MVAU's epilogue."""
    module = dataflow_module(build_conv_lstm(MIXED), FOLDED)
    block = _top(module)
    fused = _fused(block)
    mvaus = [op for op in block.ops if isinstance(op, dataflow.MVAUOp)]
    assert set(fused) == set(mvaus) and len(mvaus) == 3
    assert {type(u) for u in fused.values()} == {qrnn.ThresholdOp, qrnn.RequantOp}
    streams = top_streams(block)
    for mvau, unit in fused.items():
        assert mvau.result not in streams and all(st.consumer is not unit for st in streams.values())
        if unit.results[0] in streams:  # the FIFO after the MVAU carries the codes, PE per word
            st = streams[unit.results[0]]
            assert st.producer is mvau and st.lanes == mvau.pe.value.data
    report, hls = check_schedule(module)
    names = [f.sym_name.data for f in hls.ops if isinstance(f, hlscpp.FuncOp)]
    assert not any("threshold" in n or n.startswith("requant") for n in names), names
    top = next(f for f in hls.ops if isinstance(f, hlscpp.FuncOp) and f.top is not None)
    fifo_types = {str(op.result.type) for op in top.body.block.ops if isinstance(op, hlscpp.StreamOp)}
    for mvau, unit in fused.items():
        assert any(n.endswith(f"mvau_{mvau.result.name_hint}_{unit.results[0].name_hint}") for n in names)
        assert not any(str(mvau.result.type.get_element_type()) in t for t in fifo_types)  # no accumulator FIFO
    for mvau, unit in fused.items():
        epilogue = report.unit(f"top/{unit.results[0].name_hint}")
        owner = report.unit(f"top/{mvau.result.name_hint}")
        assert epilogue.kind == "epilogue" and epilogue.cycles == 0 and epilogue.fused_into == owner.name
        assert epilogue.stage == owner.stage and epilogue.lanes == mvau.pe.value.data
        assert owner.spec is not None and owner.spec.epilogue_depth == qor.EPILOGUE_DEPTH
        assert not any(s.name == epilogue.name for s in report.stages)
    space = qor.FoldingSpace.from_report(report)  # the epilogues' lanes are paid with their MVAU's folding
    assert space.evaluate(space.current) == (report.cycles, report.total)
    units = report.to_dict()["units"]
    assert {u["fused_into"] for u in units if u["kind"] == "epilogue"} == {f"top/{m.result.name_hint}" for m in fused}


def test_mvau_with_two_readers_keeps_its_units():
    _, module = _two_readers()
    block = _top(module)
    mvaus = [op for op in block.ops if isinstance(op, dataflow.MVAUOp)]
    shared = [m for m in mvaus if len({u.operation for u in m.result.uses}) == 2]
    assert len(shared) == 1
    fused = fused_epilogues(block)
    assert shared[0] not in fused and len(fused) == len(mvaus) - 1
    report = check_schedule(module)[0]
    kinds = {u.name: u.kind for u in report.units}
    assert all(kinds[f"top/{u.operation.results[0].name_hint}"] != "epilogue" for u in shared[0].result.uses)


@needs_cxx
@needs_ap_types
def test_fused_and_unfused_kernels_are_bit_exact_in_csim(tmp_path):
    """integer == dataflow == csim with fused per-channel thresholds and requantizers at PE = 2 (the ap_int
    kernel and the twin), and with a shared accumulator (not fused; the twin)."""
    from lstmc.hls.build import CSIM_FLAGS, build_csim, lower_to_hlscpp, run_csim_on_codes, write_sources
    from lstmc.hls.csim import compile_csim
    from lstmc.interpreter import run_function
    from lstmc.stages import run_stage

    jobs = [  # (name, model, module, also the ap_int kernel): three compilations, two at a time
        ("mixed_pe2", build_conv_lstm(MIXED), dataflow_module(build_conv_lstm(MIXED), FOLDED), True),
        ("two_readers", *_two_readers(), False),
    ]

    def run(job):
        name, model, module, ap = job
        iface = project.kernel_interface(module)
        kernels = [build_csim(module, iface, "k")]
        if ap:
            src = tmp_path / name
            src.mkdir()
            write_sources(lower_to_hlscpp(module, "k"), iface, src, "k")
            kernels.append(compile_csim(src, "k", flags=(*CSIM_FLAGS, "-DLSTMC_CSIM_AP_TYPES")))
        x = _inputs(model, seed=4, count=6)
        want = run_function(module, x)
        integer = run_stage("integer", model, x)  # (the two-reader case adds an output to the IR only)
        out = [(f"{name} dataflow", integer, {k: want[k] for k in integer})]
        for kernel in kernels:
            codes = run_csim_on_codes(kernel, iface, iface.quantize_inputs(x), None)
            out.append((f"{name} {kernel.name}", want, iface.dequantize_outputs(codes, None)))
        return out

    check_pooled(run, jobs)


@pytest.mark.parametrize("folding", ["", FOLDED])
def test_fusion_keeps_the_latency_of_the_chain(folding):
    """The fused chain is never slower than the unit behind the MVAU as a process of its own would be: the
    MVAU's fill grows by EPILOGUE_DEPTH, the unit's fill (ELEMENTWISE_DEPTH) and its cycles are gone."""
    module = dataflow_module(build_conv_lstm(MIXED), folding)
    report = qor.estimate_module(module)
    for mvau in _fused(_top(module)):
        stage = next(s for s in report.stages if s.name == f"top/{mvau.result.name_hint}")
        assert qor.EPILOGUE_DEPTH <= qor.ELEMENTWISE_DEPTH
        if stage.fill is not None:
            cols, simd = mvau.columns, mvau.simd.value.data
            assert stage.fill == qor.streamed_mvau_fill(cols, simd) + qor.EPILOGUE_DEPTH
