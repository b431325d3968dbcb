"""The stock example's quantized ConvLSTM (examples/stock/model.py, export.py, train.py).

Properties: the sweep configurations construct; a briefly trained StockNet exports to ONNX that uses only the
ops the compiler supports and that onnxruntime (ORT_ENABLE_BASIC) runs bit for bit like Brevitas; the training
CLI writes its artefacts deterministically.
"""

import importlib.util
import json
import sys

import numpy as np
import pytest
from conftest import ROOT

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")
pytest.importorskip("onnxruntime")
import onnx  # noqa: E402

STOCK = ROOT / "examples" / "stock"


def _load(name: str):
    """examples/stock/<name>.py as module stock_<name> (the naming train.py uses, so modules are shared)."""
    key = f"stock_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, STOCK / f"{name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod
        spec.loader.exec_module(mod)
    return sys.modules[key]


lob, sm, ex, tr = _load("lob"), _load("model"), _load("export"), _load("train")

TINY = dict(T=12, C1=4, C2=4, C3=4, H=8, stats_steps=1)


@pytest.fixture(scope="module")
def windows():
    features, labels = lob.synthesize(1500, 3)
    mean, std = lob.fit_zscore(features[:1200])
    X, y = lob.make_windows(lob.apply_zscore(features, mean, std), labels, TINY["T"], 10)
    return np.ascontiguousarray(X, dtype=np.float32), y


def _trained(name, windows, steps=2, seed=0):
    X, y = windows
    torch.manual_seed(seed)
    net = sm.StockNet(sm.get_config(name, **TINY))
    batch = 32
    tr.train(net, X[: steps * batch], y[: steps * batch], epochs=1, batch=batch, lr=1e-2, seed=seed, class_weights=None)
    return net


def test_sweep_configs_construct():
    assert {"w8", "w6", "w4"} <= set(sm.CONFIGS)
    weight_bits = []
    for name in ("w8", "w6", "w4"):
        cfg = sm.CONFIGS[name]
        net = sm.StockNet(cfg).eval()
        with torch.no_grad():
            out = net(torch.zeros(2, cfg.T, 40))
        assert out.shape == (2, 3)
        assert net.lstm.layers[0][0].cell.input_sigmoid_quant.bit_width() == cfg.lstm_sigmoid_bits
        assert int(net.conv3.quant_weight().bit_width) == cfg.weight_bits
        weight_bits.append(cfg.lstm_weight_bits)
        for bits in cfg.activation_bit_widths().values():  # no int16 Clip for onnxruntime
            assert bits <= 8 or bits == 16
    assert weight_bits == sorted(weight_bits, reverse=True) and len(set(weight_bits)) == 3
    defaults = sm.CONFIGS["w8"]
    assert (defaults.C1, defaults.C2, defaults.C3, defaults.H, defaults.T) == (8, 8, 16, 16, 50)
    with pytest.raises(ValueError, match="int16 Clip"):
        sm.StockNet(defaults.replace(lstm_cell_bits=12))
    with pytest.raises(ValueError, match="unknown config"):
        sm.get_config("w3")


@pytest.mark.parametrize("name", ["w8", "w4"])
def test_export_is_bit_exact_and_uses_supported_ops(name, windows):
    net = _trained(name, windows)
    T = TINY["T"]
    model = ex.export_stocknet(net, T)
    onnx.checker.check_model(model, full_check=True)

    ops = [n.op_type for n in model.graph.node]
    assert set(ops) <= ex.ALLOWED_OPS
    for op in ("Conv", "Relu", "Transpose", "Scan", "Gather", "MatMul"):
        assert op in ops
    # one sequence per inference, no batch axis at the boundary
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "X" and [d.dim_value for d in inp.type.tensor_type.shape.dim] == [T, 40]
    assert out.name == ex.OUTPUT and [d.dim_value for d in out.type.tensor_type.shape.dim] == [3]
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    attrs = [{a.name: list(a.ints) for a in c.attribute if a.name in ("kernel_shape", "strides")} for c in convs]
    assert attrs == [
        {"kernel_shape": [1, 2], "strides": [1, 2]},
        {"kernel_shape": [1, 2], "strides": [1, 2]},
        {"kernel_shape": [1, 10], "strides": [1, 1]},
    ]
    gather = next(n for n in model.graph.node if n.op_type == "Gather")
    inits = {i.name: i for i in model.graph.initializer}
    assert onnx.numpy_helper.to_array(inits[gather.input[1]]).tolist() == T - 1
    # biases are int32 initializers dequantized at run time
    for c in convs:
        dq = next(n for n in model.graph.node if n.output[0] == c.input[2])
        assert dq.op_type == "DequantizeLinear" and inits[dq.input[0]].data_type == onnx.TensorProto.INT32
    assert model.opset_import[0].version == 21  # 16-bit accumulators

    X = windows[0][::97][:8]
    expected = ex.brevitas_logits(net, X)
    got = ex.check_against_brevitas(model, net, X, expected)
    assert np.array_equal(got, expected)
    assert np.array_equal(got.argmax(1), expected.argmax(1))


def test_check_against_brevitas_fails_loudly(windows):
    net = _trained("w8", windows, steps=1)
    model = ex.export_stocknet(net, TINY["T"])
    X = windows[0][:3]
    wrong = ex.brevitas_logits(net, X) + np.float32(1 / 256)
    with pytest.raises(AssertionError, match="differs from Brevitas"):
        ex.check_against_brevitas(model, net, X, wrong)


def test_train_cli_writes_artefacts_deterministically(tmp_path):
    args = ["--events", "1200", "--epochs", "1", "--batch", "128", "--seed", "5"]
    args += [f"--set={k}={v}" for k, v in TINY.items()]
    for run in ("a", "b"):
        assert tr.main(["--out", str(tmp_path / run)] + args) == 0
    a, b = tmp_path / "a", tmp_path / "b"
    metrics = json.loads((a / "metrics.json").read_text())
    assert metrics["ort_check"]["bit_exact"] and metrics["config"]["T"] == TINY["T"]
    for key in ("accuracy", "macro_f1", "confusion_matrix", "test_size", "training_time_s", "majority_baseline"):
        assert key in metrics
    assert np.asarray(metrics["confusion_matrix"]).sum() == metrics["test_size"]
    X = np.load(a / "inputs.npz")["X"]
    expected = np.load(a / "expected.npz")
    assert X.shape == (64, TINY["T"], 40) and X.dtype == np.float32
    assert list(expected.keys()) == ["logits"] and expected["logits"].shape == (64, 3)
    model = onnx.load(a / "model.onnx")
    assert np.array_equal(ex.ort_logits(model, X), expected["logits"])
    # same seed, same bits
    assert np.array_equal(expected["logits"], np.load(b / "expected.npz")["logits"])
    assert (a / "model.onnx").read_bytes() == (b / "model.onnx").read_bytes()
    # the whole test split as input codes (examples/stock/evaluate.py): windows rebuilt from them run like Brevitas
    with np.load(a / "test_split.npz") as split:
        codes, scale, T = split["codes"], float(split["scale"]), int(split["T"])
        labels, logits = split["labels"], split["brevitas_logits"]
    assert codes.dtype == np.int8 and T == TINY["T"] and len(labels) == len(codes) - T + 1 == metrics["test_size"]
    assert logits.shape == (len(labels), 3)
    idx = metrics["ort_check"]["window_indices"]
    assert np.array_equal(logits[idx], expected["logits"]) and labels[idx].tolist() == metrics["ort_check"]["labels"]
    rebuilt = np.stack([codes[m : m + T] for m in idx[::8]]).astype(np.float32) * np.float32(scale)
    assert np.array_equal(ex.ort_logits(model, rebuilt), logits[idx[::8]])
    # the checkpoint reloads into the same network
    net = sm.StockNet(sm.StockConfig(**metrics["config"]))
    net.load_state_dict(torch.load(a / "checkpoint.pt", weights_only=True))
    assert np.array_equal(ex.brevitas_logits(net, X), expected["logits"])
