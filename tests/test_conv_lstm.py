"""Whole-model compilation of a DeepLOB-style ConvLSTM: convolutions over each step's features, an LSTM and
a dense head on the last step (lstmc.testing.build_conv_lstm, the ONNX layout examples/stock exports).

Properties (whole outputs compared):
- every stage meets the contract: qrnn == onnxruntime, and with power-of-two scales integer == dataflow ==
  reference, on several shapes (three convolutions over 40 LOB features, per-channel conv weights, a
  bidirectional LSTM, 2-d kernels over steps x features); C-simulation of the emitted kernel == integer;
- after the pipeline the model is one chain of hardware units: no transpose or relu left at the top level,
  one MVAU per convolution and dense layer (over the window patches) plus one per recurrence;
- the QoR estimate follows the streamed schedule: a line buffer is (H + 1) x max(words in, words out)
  cycles, a convolution's MVAU one flat loop over its V patches, and the chain from the input port into the
  LSTM takes the sum of its fills plus its bottleneck (not the sum of the stages);
- convolutions lstmc does not support (groups, padding, dilation, batch > 1) and Gather on another axis are
  one-line errors naming the node.
"""

import numpy as np
import onnx
import pytest
from onnx import helper
from test_hardware import needs_ap_types, needs_cxx
from xdsl.dialects import func

from lstmc import qor
from lstmc.dialects import dataflow, qrnn
from lstmc.errors import LstmcError
from lstmc.frontend.onnx_import import import_model
from lstmc.pipeline import lower_to_stage
from lstmc.qor import estimate_module
from lstmc.stages import run_stage
from lstmc.testing import ConvLstmSpec, LstmSpec, build_conv_lstm

SPECS = {
    "small": ConvLstmSpec(),
    "deeplob": ConvLstmSpec(
        features=40, seq_len=5, convs=[(4, 2, 2), (4, 2, 2), (6, 10, 1)], lstm=LstmSpec(hidden_size=8)
    ),
    "per_channel": ConvLstmSpec(per_channel_weights=True, seed=3),
    "bidir": ConvLstmSpec(lstm=LstmSpec(hidden_size=4, bidirectional=True), seed=5),
    # 2-d kernels over steps x features: 3 x 3, then 3 x 2 at strides (2, 2) over 3 channels (the LSTM runs
    # over the 3 output rows)
    "conv2d": ConvLstmSpec(
        features=5, seq_len=10, convs=[(3, 3, 1, 3, 1), (4, 2, 2, 3, 2)], lstm=LstmSpec(hidden_size=4), seed=2
    ),
    # one output channel: the accumulator [N, 1] is reshaped to [N] before its bias and ReLU requantizer
    # (qrnn-legalize-precision reshapes its integer terms; it once refused the reshape)
    "one_channel": ConvLstmSpec(
        features=4, seq_len=6, convs=[(1, 2, 2, 2, 1), (2, 2, 1, 1, 1)], lstm=LstmSpec(hidden_size=2), seed=4
    ),
}


def _inputs(spec: ConvLstmSpec, n: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    return {"X": np.random.default_rng(seed).standard_normal((n, spec.seq_len, spec.features)).astype(np.float32) * 2}


@pytest.mark.parametrize("name", SPECS)
def test_every_stage_is_bit_exact(name):
    model, x = build_conv_lstm(SPECS[name]), _inputs(SPECS[name])
    ref = run_stage("reference", model, x)["logits"]
    for stage in ("qrnn", "integer", "dataflow"):
        got = run_stage(stage, model, x)["logits"]
        assert got.shape == ref.shape == (12, 3)
        assert np.array_equal(got, ref), f"{name} {stage}: {int(np.sum(got != ref))} of {ref.size} differ"


@needs_cxx
@needs_ap_types
@pytest.mark.parametrize("name", ["deeplob", "one_channel"])
def test_csim_equals_integer(name):
    spec = SPECS[name]
    model, x = build_conv_lstm(spec), _inputs(spec, n=6, seed=1)
    assert np.array_equal(run_stage("csim", model, x)["logits"], run_stage("integer", model, x)["logits"])


def test_one_chain_of_units():
    spec = SPECS["deeplob"]
    module = lower_to_stage(import_model(build_conv_lstm(spec)), "dataflow")
    fn = next(iter(module.ops))
    assert isinstance(fn, func.FuncOp)
    top = list(fn.body.block.ops)
    assert not any(isinstance(op, (qrnn.TransposeOp, qrnn.ReluOp)) for op in top)
    windows = [op for op in top if isinstance(op, qrnn.WindowOp)]
    mvaus = [op for op in top if isinstance(op, dataflow.MVAUOp)]
    assert len(windows) == 3 and len(mvaus) == 4  # three convolutions and the head
    assert [op.vectors for op in mvaus] == [5 * 20, 5 * 10, 5, 1]  # patches per convolution; the head: one vector
    assert all(
        any(isinstance(o, dataflow.MVAUOp) for o in rec.walk()) for rec in top if isinstance(rec, qrnn.RecurrenceOp)
    )


def test_estimate_follows_the_schedule():
    """The streamed top level: line buffers of (H + 1) phases x max(words in, words out) + depth, each
    convolution's MVAU one flat loop over its V patches, and the chain from the input port into the LSTM
    takes its fills plus the bottleneck (qor.chain_latency); the head after the LSTM's buffer adds up."""
    spec = SPECS["deeplob"]
    report = estimate_module(lower_to_stage(import_model(build_conv_lstm(spec)), "dataflow"))
    windows = [u for u in report.units if u.kind == "window"]
    assert [u.cycles for u in windows] == [6 * 40 + 2, 6 * 80 + 2, 6 * 40 + 2]  # H = 5 rows, PE = SIMD = 1
    conv0 = next(u for u in report.units if u.kind == "mvau" and u.stage.startswith("top/"))
    # V x rows x cols / (PE x SIMD) + depth, and its ReLU requantizer's, fused into it
    assert conv0.steps == 1 and conv0.cycles_per_step == 100 * 4 * 2 + 3 + qor.EPILOGUE_DEPTH
    chains = []
    for head in [s for s in report.stages if s.fed_by is None]:
        chain, k = [], head
        while k is not None:
            chain.append(k)
            k = next((s for s in report.stages if s.fed_by == k.name), None)
        chains.append(chain)
    assert sum(len(c) for c in chains) == len(report.stages)
    port = next(c for c in chains if c[0].name.startswith("top/read_"))
    lstm = port[-1]  # x_t (I = 6) from a FIFO, 1 per cycle: x_0 first, x_t+1 during step t
    assert lstm.steps == 5 and lstm.prologue == 6 + 2 and lstm.step_cycles >= 6 + 2 + qor.STEP_OVERHEAD
    assert report.cycles == sum(
        sum(s.fill if s.fill is not None else s.cycles for s in c)
        + max(s.cycles - (s.fill if s.fill is not None else s.cycles) for s in c)
        for c in chains
    )
    assert report.cycles < sum(s.cycles for s in report.stages)
    assert report.initiation_interval == max(s.cycles for s in report.stages)


def _conv_model(**conv_attrs) -> onnx.ModelProto:
    model = build_conv_lstm(SPECS["small"])
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    for key, value in conv_attrs.items():
        conv.attribute.append(helper.make_attribute(key, value))
    return model


@pytest.mark.parametrize(
    "attrs, fragment",
    [
        ({"group": 2}, "attribute 'group' = 2 is not supported"),
        ({"pads": [0, 1, 0, 1]}, "padding is not supported"),
        ({"dilations": [1, 2]}, "attribute 'dilations' = [1, 2] is not supported"),
        ({"auto_pad": "SAME_UPPER"}, "padding is not supported"),
    ],
)
def test_unsupported_conv_is_a_clear_error(attrs, fragment):
    with pytest.raises(LstmcError) as err:
        import_model(_conv_model(**attrs))
    message = str(err.value)
    assert "(Conv)" in message and fragment in message, message
    assert "\n" not in message


def test_gather_on_another_axis_is_refused():
    model = build_conv_lstm(SPECS["small"])
    gather = next(n for n in model.graph.node if n.op_type == "Gather")
    gather.attribute[0].i = 1
    with pytest.raises(LstmcError, match=r"\(Gather\): Gather along axis 1 is not supported \(only axis 0\)"):
        import_model(model)
