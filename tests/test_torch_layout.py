"""torch's layout: Scan LSTMs with state [B, H] and scanned input [T, B, I] (lstmc.testing_torch_layout), through
every stage.

Properties (whole outputs compared with np.array_equal):
- every stage meets the contract on several sizes, bit widths (2-8), per-tensor/per-channel weights, po2 and
  float scales, B = 1..5: qrnn == onnxruntime; integer == dataflow (== csim below); integer == onnxruntime when
  every scale is a power of two. The graph interface stays torch's ([T, B, I] in, [T, B, H] / [1, B, H] out).
  Breaks if dropping the unit batch axis or moving the transposed weight constants changes a value, or if a
  batch row reads another sequence's state.
- B = 1 compiles to the very kernel of the same layer in the unbatched [T, I] layout (emitted C++ equal, also
  folded): the batch axis is gone from the recurrence (IR rewrites in qrnn-canonicalize) and the reshapes at
  the ports are views, not copies. Breaks if a reshape is left inside the recurrence or becomes a process.
- B > 1 sequences are interleaved: one MVAU loop of B x (rows/PE) x (cols/SIMD) iterations per step (not B
  loops), which the QoR counts (cycles per step for the B sequences, and per sequence lower than with B = 1);
  C-simulation of the interleaved kernel, folded (PE/SIMD > 1) or not, equals the integer stage. Breaks if the
  vector counter of the flat loop wraps at the wrong row fold or the QoR and the loop disagree.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_hardware import (
    _assert_identical,
    check_csim_jobs,
    check_synthesizable,
    kernel_source,
    lower,
    needs_ap_types,
    needs_cxx,
)
from xdsl.dialects import func
from xdsl.dialects.builtin import TensorType
from xdsl.ir import Attribute

from lstmc import qor
from lstmc.dialects import dataflow, hlscpp, qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.pipeline import apply_pipeline, lower_to_stage
from lstmc.schedule import overlap_choice
from lstmc.stages import run_stage
from lstmc.testing_torch_layout import TorchLstmSpec, build_torch_lstm

SPECS = {
    "b1_po2": TorchLstmSpec(batch=1, seed=1),
    "b1_float_per_channel": TorchLstmSpec(
        batch=1,
        input_size=3,
        hidden_size=6,
        weight_bits=3,
        io_bits=6,
        acc_bits=7,
        sigmoid_bits=5,
        tanh_bits=5,
        cell_bits=7,
        per_channel_weights=True,
        po2=False,
        seed=2,
    ),
    "b1_narrow": TorchLstmSpec(
        batch=1,
        input_size=5,
        hidden_size=3,
        seq_len=9,
        weight_bits=2,
        io_bits=4,
        acc_bits=5,
        sigmoid_bits=3,
        tanh_bits=3,
        cell_bits=5,
        seed=7,
    ),
    "b3_po2_per_channel": TorchLstmSpec(
        batch=3, input_size=4, hidden_size=4, seq_len=5, per_channel_weights=True, seed=4
    ),
    "b2_float": TorchLstmSpec(batch=2, input_size=2, hidden_size=5, weight_bits=6, po2=False, seed=5),
    "b5_wide": TorchLstmSpec(
        batch=5,
        input_size=3,
        hidden_size=4,
        seq_len=4,
        weight_bits=8,
        acc_bits=8,
        sigmoid_bits=8,
        tanh_bits=8,
        cell_bits=8,
        seed=6,
    ),
}


def _inputs(spec: TorchLstmSpec, n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    batch = () if spec.batch is None else (spec.batch,)
    shape = (n, spec.seq_len, *batch, spec.input_size)
    return {"X": (np.random.default_rng(seed).standard_normal(shape) * 1.5).astype(np.float32)}


def _unbatched(spec: TorchLstmSpec) -> TorchLstmSpec:
    return TorchLstmSpec(**{**spec.__dict__, "batch": None})


@pytest.mark.parametrize("name", SPECS)
def test_every_stage_is_bit_exact(name):
    spec = SPECS[name]
    model, x = build_torch_lstm(spec), _inputs(spec)
    T, B, H = spec.seq_len, spec.batch, spec.hidden_size
    ref = run_stage("reference", model, x)
    assert {k: v.shape for k, v in ref.items()} == {"Y": (8, T, B, H), "h_n": (8, 1, B, H), "c_n": (8, 1, B, H)}
    assert len(np.unique(ref["Y"])) > 6, "degenerate model: the outputs barely vary"
    _assert_identical(run_stage("qrnn", model, x), ref, f"{name}: qrnn vs reference")
    integer = run_stage("integer", model, x)
    _assert_identical(run_stage("dataflow", model, x), integer, f"{name}: dataflow vs integer")
    if spec.po2:
        _assert_identical(integer, ref, f"{name}: integer vs reference")


@pytest.mark.parametrize("name", ["b1_po2", "b1_float_per_channel"])
@pytest.mark.parametrize("folding", ["", "qrnn-set-folding{pe=2 simd=1}"])
def test_batch_one_is_the_unbatched_kernel(name, folding):
    spec = SPECS[name]
    sources = []
    for s in (spec, _unbatched(spec)):
        module = lower_to_stage(import_model(build_torch_lstm(s)), "dataflow")
        if folding:
            apply_pipeline(module, [folding])
        rec = next(op for op in module.walk() if isinstance(op, qrnn.RecurrenceOp))
        assert all(
            isinstance(v.type, TensorType) and len(v.type.get_shape()) == 1
            for op in rec.body.block.ops
            for v in op.results
        ), f"{s}: a value inside the recurrence is not a vector"
        assert len([op for op in rec.walk() if isinstance(op, dataflow.MVAUOp)]) == 1
        sources.append(kernel_source(module))
    check_synthesizable(sources[0])
    assert sources[0] == sources[1], "the batch-1 kernel differs from the unbatched one"


def test_batch_one_keeps_the_graph_interface():
    spec = SPECS["b1_po2"]
    T, I, H = spec.seq_len, spec.input_size, spec.hidden_size
    module = import_model(build_torch_lstm(spec))
    for stage in ("integer", "dataflow"):
        fn = next(iter(lower_to_stage(module.clone(), stage).ops))
        assert isinstance(fn, func.FuncOp)
        assert [_shape(t) for t in fn.function_type.inputs] == [(T, 1, I)], stage
        assert [_shape(t) for t in fn.function_type.outputs] == [(T, 1, H), (1, 1, H), (1, 1, H)], stage


def _shape(ty: Attribute) -> tuple[int, ...]:
    assert isinstance(ty, TensorType), ty
    return tuple(ty.get_shape())


def _mvau_loops(module) -> list[hlscpp.ForOp]:
    from lstmc.hls.build import lower_to_hlscpp

    hls = lower_to_hlscpp(module, "lstmc_kernel")
    return [
        op
        for op in hls.walk()
        if isinstance(op, hlscpp.ForOp) and op.label is not None and op.label.data.startswith("mvau")
    ]


def test_sequences_interleave_in_one_mvau_loop():
    spec = SPECS["b5_wide"]
    module = lower_to_stage(import_model(build_torch_lstm(spec)), "dataflow")
    apply_pipeline(module, ["qrnn-set-folding{pe=2 simd=1}"])
    rows, cols, B = 4 * spec.hidden_size, spec.input_size + spec.hidden_size, spec.batch
    assert B is not None
    (loop,) = _mvau_loops(module)
    (mv,) = [op for op in module.walk() if isinstance(op, dataflow.MVAUOp)]
    full = B * (rows // 2) * cols
    # on the x-overlapped schedule (qrnn-set-folding takes it here) step 0 also runs its x folds (SIMD = 1)
    assert loop.trip_count == full + (B * (rows // 2) * spec.input_size if overlap_choice(mv) else 0)
    assert not any(
        isinstance(p, hlscpp.ForOp) and p.label is not None and p.label.data.startswith("vectors")
        for p in _ancestors(loop)
    ), "the sequences must share the MVAU loop, not repeat it"
    report = qor.estimate_module(module)
    (stage,) = [s for s in report.stages if s.pipeline_depth is not None]  # not the ports' reader, writer
    mvau = next(u for u in report.units if u.kind == "mvau")
    assert mvau.cycles_per_step == full + qor.mvau_depth(1) == qor.mvau_cycles(rows, cols, 2, 1, B)
    assert stage.sequences == B and report.to_dict()["stages"][0]["sequences"] == B
    assert f"{B} interleaved sequences: {stage.cycles_per_step} cycles per step" in report.format_table()
    # the same layer with one sequence: interleaving pays each unit's pipeline depth once for all B
    single = lower_to_stage(import_model(build_torch_lstm(TorchLstmSpec(**{**spec.__dict__, "batch": 1}))), "dataflow")
    apply_pipeline(single, ["qrnn-set-folding{pe=2 simd=1}"])
    (one,) = [s for s in qor.estimate_module(single).stages if s.pipeline_depth is not None]
    assert one.sequences == 1
    assert stage.cycles_per_step / B < one.cycles_per_step
    # the folding space (target-cycles, --sweep) predicts what re-estimating the folded IR gives
    space = qor.FoldingSpace.from_report(report)
    refolded = lower_to_stage(import_model(build_torch_lstm(spec)), "dataflow")
    apply_pipeline(refolded, ["qrnn-set-folding{pe=4 simd=1}"])
    again = qor.estimate_module(refolded)
    assert space.evaluate({mvau.name: (4, 1)}) == (again.cycles, again.total)


def _ancestors(op):
    while (op := op.parent_op()) is not None:
        yield op


# (spec, act_impl, folding): B = 1 with float per-channel scales; B = 3 folded (PE=4, SIMD=2); B = 2 with
# float scales, LUT activations and PE = 5 (rows 20).
CSIM_CASES = [
    ("b1_float_per_channel", "threshold", ""),
    ("b3_po2_per_channel", "threshold", "qrnn-set-folding{pe=4 simd=2}"),
    ("b2_float", "lut", "qrnn-set-folding{pe=5 simd=1}"),
]


@needs_cxx
@needs_ap_types
def test_csim_equals_integer():
    jobs = []
    for name, act, folding in CSIM_CASES:
        spec = SPECS[name]
        model = build_torch_lstm(spec)
        integer, df = lower(model, act_impl=act, folding=folding)
        jobs.append((f"{name} act={act} {folding}", integer, df, _inputs(spec, n=6, seed=1)))
    check_csim_jobs(jobs)
