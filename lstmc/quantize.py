"""Post-training quantization: a float ONNX model with standard ``LSTM`` / ``GRU`` nodes -> a Scan/QCDQ model.

``quantize_model(model, calibration, config)`` rewrites every ONNX ``LSTM`` and ``GRU`` node in place (other
nodes are kept as they are) into the quantized cell that the rest of lstmc compiles::

    X [T, 1, I] -> QCDQ(input) -> Squeeze(1) -+-> Scan(fwd, body = cell) -> y [T, H] -+
                                              \\-> Scan(bwd, ...)                   -/
        -> Unsqueeze(1, 2) [T, 1, 1, H] -> Concat(1) -> Y [T, D, 1, H]
        final h (, c) [H] -> Unsqueeze(0, 1) [1, 1, H] -> Concat(0) -> Y_h (, Y_c) [D, 1, H]

so the outputs keep the names and shapes of the ONNX node and the quantized model is a drop-in replacement
with the same graph inputs and outputs as the float model. The Scan bodies are written by
``lstmc.export.scan_lstm.cell_body`` (LSTM: the Brevitas-style cell, the writer shared with the Brevitas
exporter and the QuantLSTMCell frontend) and ``lstmc.export.scan_gru.gru_body`` (GRU, linear_before_reset 0
and 1; its docstring gives the cell with every quantizer). Gate mapping from the ONNX W/R/B gate order: LSTM
(i, o, f, c): input = i, forget = f, cell = c, output = o; GRU (z, r, h): update = z, reset = r, candidate = h.
The bias of a gate is Wb + Rb, quantized to int32 with scale = input scale * weight scale (a GRU with
linear_before_reset keeps Rb_h apart: it is added to h Rh_h on the grid h scale * Rh_h scale).
Initial states are initial_h / initial_c when given (quantized with the output / cell-state quantizer, as
every later state is; a run-time initial state only on a one-direction node), else zeros. The input is
quantized before the batch axis is dropped: lstmc's integer levels reshape only quantized codes.
Unnamed nodes are called ``lstm_<index in graph.node>`` / ``gru_<index>`` in messages and in the ``nodes``
config.

Calibration runs the float model with onnxruntime over every sequence of the calibration data (to get the
input of each node, wherever it sits in the graph), then a float numpy simulation of each direction (the ONNX
LSTM / GRU equations) that records the ranges of: the layer input x, each gate pre-activation (acc), h, and
LSTM: the cell state c and the products f*c and i*g; GRU: the products (1-z)*n and z*h, the reset product
r*h (or r*(h Rh_h + Rb_h)), and with linear_before_reset h Rh_h + Rb_h and x Wh_h + Wb_h. Quantizers chosen
from them:

- weights: signed, symmetric, narrow range, scale = max|w| / (2^(b-1) - 1), per output channel (axis 1 of
  W^T, i.e. per hidden unit of each gate) when ``weight_per_channel`` else per tensor (per gate matrix).
  16-bit weights use the full int16 range instead of the narrow one (identical values: no code reaches
  -32768), because a narrow 16-bit range needs an int16 Clip, which onnxruntime lacks;
- biases: int32, scale = input scale * weight scale (per channel with per-channel weights);
- sigmoid outputs (LSTM i, f, o; GRU z, r): unsigned, scale 1 / (2^b - 1) (codes 0 .. 2^b - 1 represent
  [0, 1]);
- tanh outputs (LSTM cell gate g and tanh(c); GRU candidate n): signed, scale 1 / (2^(b-1) - 1) (represents
  [-1, 1]);
- input x, output h, each gate accumulator, cell state, GRU products: signed symmetric (full range, no Clip
  for 8 and 16 bits), scale = m / (2^(b-1) - 1) where m is the calibrated max|.| (``"max"``) or its P-th
  percentile (``"percentile:P"``). The input quantizer (on x) and the output quantizer (on h) are separate. The
  h and cell-state quantizers of a bidirectional node are shared by its two directions (Y, Y_h and Y_c
  concatenate the directions, and lstmc concatenates codes of one scale only, as Brevitas shares io_quant);
  a GRU's other quantizers are per direction. GRU widths: the products (1-z)*n and z*h take
  ``cell_state_bits`` (they are its state update, as c is the LSTM's); r*h takes ``io_bits`` (the vector the
  candidate's recurrent matrix product reads, like h); with linear_before_reset, h Rh_h + Rb_h,
  x Wh_h + Wb_h and r*(...) take ``acc_bits`` (addends of the candidate's accumulator);
- ``power_of_two``: every scale rounded UP to a power of two (so nothing clips that the scale above covers);
  then the integer stage equals the reference exactly (the bias scale, a product of powers of two, is one).
  For sigmoid/tanh this costs one bit (8-bit sigmoid: scale 2^-7, codes 0..128 cover [0, 1]).

Configuration (a dict, from JSON; every key optional, unknown keys and bad values are errors)::

    weight_bits 8   weight_per_channel true   io_bits 8   acc_bits 16   sigmoid_bits 8   tanh_bits 8
    cell_state_bits 16 (GRU: the state-update products)   calibration "max" | "percentile:P"   power_of_two false
    nodes {"<LSTM or GRU node name>": {any of the keys above}}   (per-node overrides)

Bits are 2..16 (what QuantizeLinear can express). A quantizer wider than 8 bits makes the model opset 21
(int16 QuantizeLinear); the model's default-domain opset becomes max(its own, 19 or 21), an older model being
first brought to that opset by onnx' version converter (so the nodes kept as they are stay valid). onnxruntime (the
golden reference) has no int16 Clip kernel, so it cannot run a model with a 9..15-bit quantizer (which needs
an int16 Clip); lstmc itself compiles such a model, and the report then takes the quantized outputs from the
``qrnn`` stage (bit-exact with the reference by contract). That is why acc and cell state default to the full
16 bits (no Clip) and everything else to 8 bits.

Out of scope (an LstmcError naming the node and the attribute): RNN nodes, peepholes (input P), clip,
input_forget, non-default activations, layout = 1, batch size other than 1, sequence_lens.

The report (``QuantReport``) compares the quantized model with the float one on the calibration data, both run
with onnxruntime (``lstmc.reference.run_reference``): per output the max / mean absolute error and the SQNR in
dB; when the data also holds arrays named like a graph output (targets), the MSE of each model against them.

The code: quantize_config (the JSON config), quantize_calibration (the nodes and their float
ranges), quantize_rewrite (quantizers and the Scan/QCDQ rewrite), quantize_report (accuracy); here the
entry points, and the public names of the others.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
import onnx

from lstmc.errors import LstmcError
from lstmc.export.scan_lstm import (
    INT16_OPSET,
    MIN_OPSET,
)
from lstmc.frontend import graph_constants, remove_unused
from lstmc.quantize_calibration import (  # noqa: F401 (public names of lstmc.quantize)
    ONNX_GATE_INDEX,
    RnnNode,
    ValueRange,
    batched_inputs,
    find_rnn_nodes,
    float_run,
    merged_bound,
    simulate_gru,
    simulate_lstm,
)
from lstmc.quantize_config import (  # noqa: F401 (public names of lstmc.quantize)
    BIT_KEYS,
    CONFIG_KEYS,
    QuantConfig,
    load_config,
    parse_config,
)
from lstmc.quantize_report import (  # noqa: F401 (public names of lstmc.quantize)
    OutputReport,
    QuantReport,
    needs_int16_clip,
    node_summary,
    sqnr_db,
)
from lstmc.quantize_rewrite import (
    NodeRewrite,
    all_names,
    convert_opset,
    gru_layer,
    lstm_layer,
    rewrite_node,
    set_opset,
    symmetric_spec,
    unique_prefix,
)


# ------------------------------------------------------------------------------------------------ entry point
def quantize_model(
    model: onnx.ModelProto, calibration: dict[str, np.ndarray], config: Optional[dict] = None
) -> tuple[onnx.ModelProto, QuantReport]:
    """Quantize every ONNX LSTM and GRU node of a float model, calibrated on ``calibration`` (graph input name ->
    [N, ...] sequences, or one unbatched sequence). Returns the Scan/QCDQ model and the accuracy report.
    ``model`` is not modified. Raises LstmcError for anything out of scope."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    rnns = find_rnn_nodes(model)
    configs = parse_config(config, [r.label for r in rnns])
    needed = INT16_OPSET if any(getattr(c, k) > 8 for c in configs.values() for k in BIT_KEYS) else MIN_OPSET
    if convert_opset(model, needed):
        rnns = find_rnn_nodes(model)
    inputs = batched_inputs(model, calibration)
    float_out, values = float_run(model, inputs, rnns)
    consts = graph_constants(model.graph)
    count = next(iter(inputs.values())).shape[0] if inputs else 1

    taken = all_names(model.graph)
    rewrites: dict[int, NodeRewrite] = {}
    for rnn in rnns:
        prefix = unique_prefix(rnn.label, taken)
        rewrites[rnn.index] = _quantize_node(rnn, configs[rnn.label], prefix, values, consts, count)
        taken.add(prefix)

    graph = model.graph
    nodes = []
    for index, node in enumerate(graph.node):
        if index in rewrites:
            nodes.extend(rewrites[index].nodes)
            graph.initializer.extend(rewrites[index].inits)
        else:
            nodes.append(onnx.NodeProto.FromString(node.SerializeToString()))
    del graph.node[:]
    graph.node.extend(nodes)
    remove_unused(graph, {"Constant"})  # the float weights the rewritten nodes read
    set_opset(model, needed)
    model.producer_name, model.producer_version = "lstmc.quantize", ""
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise LstmcError(f"the quantized model is invalid ONNX: {str(e).strip().splitlines()[0]}") from e

    report = _report(model, float_out, inputs, calibration, count, rewrites, rnns, configs)
    return model, report


def _quantize_node(
    rnn: RnnNode,
    cfg: QuantConfig,
    prefix: str,
    values: dict[str, np.ndarray],
    consts: dict[str, np.ndarray],
    count: int,
) -> NodeRewrite:
    """Calibrate one LSTM/GRU node on its run-time input ``values``, choose its quantizers, write its rewrite."""
    x = np.asarray(values[rnn.x], np.float32)
    if x.ndim != 4 or x.shape[3] != rnn.input_size:
        raise rnn.error(
            f"input 'X' ('{rnn.x}') has shape {list(x.shape[1:])} at run time, expected [T, 1, {rnn.input_size}]"
        )
    if x.shape[2] != 1:
        raise rnn.error(
            f"input 'X' ('{rnn.x}') has batch size {x.shape[2]} (shape {list(x.shape[1:])}); lstmc "
            "runs one sequence per inference, so the batch must be 1"
        )
    x = x[:, :, 0, :]  # [N, T, I]
    keep, pct = cfg.percentile is not None, cfg.percentile
    x_range = ValueRange(keep)
    x_range.add(x)
    input_spec = symmetric_spec(f"{rnn.label}.input", x_range.bound(pct), cfg.io_bits, cfg)
    stats = []
    for d in range(len(rnn.reverse)):
        state = {}
        for key, name in rnn.initial.items():
            if name is None:
                state[key] = np.zeros((count, rnn.hidden), np.float32)
            elif name in consts:
                state[key] = np.broadcast_to(np.asarray(consts[name], np.float32)[d, 0], (count, rnn.hidden))
            else:
                v = np.asarray(values[name], np.float32)
                if v.shape[1:] != (1, 1, rnn.hidden):
                    raise rnn.error(
                        f"input 'initial_{key}' ('{name}') has shape {list(v.shape[1:])} at run time, "
                        f"expected [1, 1, {rnn.hidden}]"
                    )
                state[key] = v[:, d, 0, :]
        stats.append(
            simulate_lstm(rnn, d, x, state["h"], state["c"], keep)
            if rnn.kind == "LSTM"
            else simulate_gru(rnn, d, x, state["h"], keep)
        )
    # Both directions share the h (and c) quantizers: Y, Y_h and Y_c concatenate them, and a concatenation
    # of codes needs one scale (as in Brevitas, whose directions share io_quant).
    if rnn.kind == "GRU":
        output = symmetric_spec(f"{rnn.label}.output", merged_bound([s["h"] for s in stats], pct), cfg.io_bits, cfg)
        layers = [gru_layer(rnn, d, prefix, input_spec, output, s, cfg) for d, s in enumerate(stats)]
    else:
        output = symmetric_spec(f"{rnn.label}.output", merged_bound([s.h for s in stats], pct), cfg.io_bits, cfg)
        cell = symmetric_spec(
            f"{rnn.label}.cell_state", merged_bound([s.cell for s in stats], pct), cfg.cell_state_bits, cfg
        )
        layers = [lstm_layer(rnn, d, prefix, input_spec, output, cell, s, cfg) for d, s in enumerate(stats)]
    return rewrite_node(rnn, prefix, layers, input_spec, consts)


def _report(qmodel, float_out, inputs, calibration, count, rewrites, rnns, configs) -> QuantReport:
    from lstmc.reference import run_reference

    layers = [lay for r in rewrites.values() for lay in r.layers]
    notes, source = [], "onnxruntime"
    if needs_int16_clip(layers, [r.input_spec for r in rewrites.values()]):
        from lstmc.stages import run_stage

        # onnxruntime has no int16 Clip kernel: take the quantized outputs from lstmc's qrnn stage, which
        # equals the onnxruntime semantics of the model bit for bit.
        quant_out = run_stage("qrnn", qmodel, inputs)
        source = "qrnn"
        notes.append(
            "note: a 9..15-bit quantizer needs an int16 Clip, which onnxruntime cannot run; "
            "`lstmc verify` needs onnxruntime for its reference stage"
        )
    else:
        quant_out = run_reference(qmodel, inputs)
    outputs = []
    for name, ref in float_out.items():
        got = np.asarray(quant_out[name])
        if got.shape != ref.shape:
            raise LstmcError(
                f"output '{name}': the quantized model gives shape {list(got.shape[1:])}, the float "
                f"model {list(ref.shape[1:])}"
            )
        err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        row = OutputReport(
            name, float(err.max()) if err.size else 0.0, float(err.mean()) if err.size else 0.0, sqnr_db(ref, got)
        )
        if name in calibration:
            target = np.asarray(calibration[name], np.float64)
            if target.shape == ref.shape[1:] and count == 1:
                target = target[None]
            if target.shape != ref.shape:
                notes.append(
                    f"note: target '{name}' has shape {list(target.shape)}, the output {list(ref.shape)}: not compared"
                )
            else:
                row.mse_float = float(np.mean((ref - target) ** 2))
                row.mse_quantized = float(np.mean((got.astype(np.float64) - target) ** 2))
        outputs.append(row)
    nodes = {
        r.label: node_summary(configs[r.label], rewrites[r.index].input_spec, rewrites[r.index].layers) for r in rnns
    }
    return QuantReport(count, outputs, nodes, source, notes)


def quantize_file(model_path: str, calibration_path: str, config_path: Optional[str], output_path: str):
    """CLI helper: read, quantize, write atomically (nothing written on error). Returns the report."""
    import tempfile

    from lstmc.arrays import load_inputs
    from lstmc.frontend import load_onnx

    directory = os.path.dirname(os.path.abspath(output_path))
    if not os.path.isdir(directory):
        raise LstmcError(f"{output_path}: directory {directory} does not exist")
    config = load_config(config_path)
    model = load_onnx(model_path)
    data = load_inputs(calibration_path)
    qmodel, report = quantize_model(model, data, config)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=directory)
    os.close(fd)
    try:
        onnx.save(qmodel, tmp)
        os.replace(tmp, output_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return report
