"""AXI4-Stream kernel ports with TLAST, packed to a configurable word width (`--axis-bits N`, issue 12 item 4).

Properties:
- every port is `hls::stream<ap_axiu<W, 0, 0, 0>>`; without the option W is the code width rounded up to bytes
  and a beat holds one code; with `--axis-bits N` a beat of N bits holds P = N // b codes (little-endian), the
  last beat zero-padded, TKEEP/TSTRB on the bytes holding codes and TLAST on the last beat of each inference
  only. The port list (`lstmc.ports`) records W and P per port.
- the C-simulation (twin, and the ap_int kernel with the minimal ap_axiu stand-in) is bit-exact with the
  integer interpreter for default and packed widths, including a width whose P divides neither the last axis
  nor the element count (a partial last beat), on the tiny LSTM, FINN's cell with h0/c0 ports, a run-time
  sequence length and the stock ConvLSTM. Breaks on a wrong bit offset, sign extension, lane or beat count.
- the testbench fails, naming the port, when the kernel drops, moves or repeats TLAST (a patched writer).
- a reader or writer moves min(L, P) codes per cycle between beats of P codes and FIFO words of L lanes
  whenever one divides the other (a part of a beat, a beat, or whole beats per word): bit-exact in csim for
  each kind, including a beat that straddles two rows and a word of 3 beats into a line buffer.
- the QoR's reader and writer cycles are the emitted loop nests: elements / min(L, P) + 2 then, else
  elements + 2.
- `--axis-bits` is refused in one line naming the option (not a multiple of 8, narrower than a code, too wide).
"""

from __future__ import annotations

import re
import subprocess
from io import StringIO

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, ROOT, needs_csim
from test_streaming import check_schedule

from lstmc import api, cli, qor
from lstmc.compile import mark_run_time_length
from lstmc.dialects import hlscpp
from lstmc.errors import LstmcError
from lstmc.frontend import bind_sequence_length
from lstmc.frontend.onnx_import import import_model
from lstmc.hls import project
from lstmc.hls.build import CSIM_FLAGS, build_csim, csim_stage, lower_to_hlscpp, run_csim_on_codes, write_sources
from lstmc.hls.csim import compile_csim
from lstmc.hls.emit import emit_hls_cpp
from lstmc.passes.qrnn_set_folding import set_folding
from lstmc.pipeline import apply_pipeline, lower_to_stage
from lstmc.ports import mark_axis_bits
from lstmc.stages import run_stage
from lstmc.testing import ConvLstmSpec, LstmSpec, Q, build_conv_lstm, build_lstm
from lstmc.testing_finn_cell import FinnCellSpec, build_finn_cell, finn_cell_inputs
from lstmc.unit_names import mvau_names

TINY = ROOT / "examples" / "tiny_lstm" / "model.onnx"
STOCK = ROOT / "examples" / "stock" / "model.onnx"
CELL = FinnCellSpec(input_size=4, hidden_size=6)


def _dataflow(model: onnx.ModelProto, axis_bits: int, max_seq_len: int | None = None, folding: str = ""):
    module = import_model(bind_sequence_length(model, max_seq_len) if max_seq_len else model)
    if max_seq_len:
        mark_run_time_length(module, max_seq_len)
    mark_axis_bits(module, axis_bits)
    module = lower_to_stage(module, "dataflow")
    return apply_pipeline(module, folding) if folding else module


def _tiny_inputs(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    x = np.load(TINY.parent / "inputs.npz")["X"]
    rng = np.random.default_rng(seed)
    return {"X": x[rng.choice(len(x), count)]}


def test_port_record_and_signature():
    """The recorded packing and the emitted port types/loops for a packed width."""
    iface = project.kernel_interface(_dataflow(onnx.load(TINY), 24))
    assert [(p.name, p.bits, p.beat_bits, p.codes_per_beat) for p in iface.inputs + iface.outputs] == [
        ("X", 8, 24, 3),
        ("Y", 8, 24, 3),
        ("h_n", 8, 24, 3),
        ("c_n", 8, 24, 3),
    ]
    assert [p.beats_at(None) for p in iface.inputs + iface.outputs] == [27, 54, 3, 3]  # 80 and 160 codes
    default = project.kernel_interface(_dataflow(onnx.load(TINY), 0))
    assert {(p.beat_bits, p.codes_per_beat) for p in default.inputs + default.outputs} == {(8, 1)}
    hls = lower_to_hlscpp(_dataflow(onnx.load(TINY), 24), "k")
    buf = StringIO()
    emit_hls_cpp(hls, buf)
    kernel, twin = buf.getvalue().split("#else  // C-simulation: the native-integer twin\n")
    assert "void k(hls::stream<ap_axiu<24, 0, 0, 0>> &X, hls::stream<ap_axiu<24, 0, 0, 0>> &Y," in kernel
    assert "void k(lstmc_tb::stream<lstmc_tb::axis<24>> &X, lstmc_tb::stream<lstmc_tb::axis<24>> &Y," in twin
    assert "#pragma HLS INTERFACE mode=axis port=X" in kernel
    top = next(f for f in hls.ops if isinstance(f, hlscpp.FuncOp) and f.top is not None)
    assert all(isinstance(a.type, hlscpp.StreamType) for a in top.body.block.args)


CSIM_CASES = [
    ("tiny", lambda: onnx.load(TINY), 0, None),
    ("tiny_64", lambda: onnx.load(TINY), 64, None),  # 8 codes per beat; X's rows of 4: half a beat per cycle
    ("tiny_24", lambda: onnx.load(TINY), 24, None),  # 3 per beat: partial last beats (80, 160, 8 codes)
    ("tiny_32", lambda: onnx.load(TINY), 32, None),  # 4 per beat = a row of X: one beat per cycle into x_t
    # PE 32: y_t leaves in words of E = 8 = P lanes, so Y's writer packs a word per beat per cycle
    ("tiny_64_pe32", lambda: onnx.load(TINY), 64, None),
    ("cell", lambda: build_finn_cell(CELL), 0, None),  # h0/c0 ports, a 9-bit cell state
    ("cell_24", lambda: build_finn_cell(CELL), 24, None),  # 3 codes of 8 bits, 2 of the 9-bit c_T
    ("cell_runtime_40", lambda: build_finn_cell(CELL), 40, 5),  # run-time T: beats follow seq_len
]


@needs_csim
@pytest.mark.parametrize("name, make, axis_bits, max_seq_len", CSIM_CASES, ids=[c[0] for c in CSIM_CASES])
def test_csim_is_bit_exact_with_packed_ports(name, make, axis_bits, max_seq_len):
    model = make()
    if name.startswith("tiny"):
        inputs = _tiny_inputs(6)
        want = run_stage("integer", model, inputs)
        folding = "qrnn-set-folding{pe=32 simd=12}" if name.endswith("pe32") else ""
        df = _dataflow(model, axis_bits, folding=folding)
        if folding:  # the writer's fast path is what this case is about
            hls = lower_to_hlscpp(df, "k")
            (writer,) = [f for f in hls.ops if isinstance(f, hlscpp.FuncOp) and f.sym_name.data == "write_Y"]
            assert sum(isinstance(op, hlscpp.ReadOp) for op in writer.walk()) == 8
        got = csim_stage(df, inputs)
    else:
        t = 3 if max_seq_len else 4
        inputs = finn_cell_inputs(CELL, 5, t, 1)
        if max_seq_len:
            df = _dataflow(model, axis_bits, max_seq_len)
            want = run_stage("integer", model, inputs)
            iface = project.kernel_interface(df)
            codes = run_csim_on_codes(build_csim(df, iface, "k"), iface, iface.quantize_inputs(inputs), t)
            got = iface.dequantize_outputs(codes, t)
        else:
            bound = bind_sequence_length(model, t)
            df = _dataflow(bound, axis_bits)
            want = run_stage("integer", bound, inputs)
            got = csim_stage(df, inputs)
    for k, value in want.items():
        assert got[k].shape == value.shape and np.array_equal(got[k], value), (name, k)


def _sized(i: int, h: int, t: int) -> onnx.ModelProto:
    return build_lstm(LstmSpec(input_size=i, hidden_size=h, seq_len=t, weight=Q(4, True, True, 0.25)))


def _conv() -> onnx.ModelProto:
    # X [6, 12]: a 1 x 6 convolution at stride 6 (SIMD 6), then 1 x 2 over its two outputs
    spec = ConvLstmSpec(features=12, seq_len=6, convs=[(2, 6, 6), (2, 2, 1)], lstm=LstmSpec(hidden_size=2), seed=1)
    return build_conv_lstm(spec)


# (name, model, axis bits, folding, {MVAU: (PE, SIMD)}, {"reader" | "writer": codes per cycle})
RATE_CASES = [
    # P = 4 does not divide I = 6: words of 2 lanes, a beat every 2 words (beats straddle rows); y_t in words
    # of E = 8 lanes at PE 32: 2 beats per word
    (
        "part_in_beats_out",
        lambda: _sized(6, 8, 3),
        32,
        "qrnn-set-folding{pe=32 simd=2}",
        {},
        {"reader": 2, "writer": 4},
    ),
    # PE 8: E = 2 lanes, half a beat per word
    ("part_out", lambda: _sized(6, 8, 3), 32, "qrnn-set-folding{pe=8 simd=2}", {}, {"reader": 2, "writer": 2}),
    # the line buffer takes words of SIMD = 6 codes, which P = 4 neither divides nor is divided by: the reader
    # emits words of 12 codes (3 beats, a row of X) instead of one code per cycle
    ("beats_in", _conv, 32, "", {"top/conv0_19_node_mm": (1, 6)}, {"reader": 4}),
]


def _rate_case(make, axis_bits: int, folding: str, mvaus: dict):
    model = make()
    df = _dataflow(model, axis_bits, folding=folding)
    for unit, op in mvau_names(df).items():
        if unit in mvaus:
            set_folding(op, *mvaus[unit])
    return model, df


@pytest.mark.parametrize("name, make, axis_bits, folding, mvaus, rates", RATE_CASES, ids=[c[0] for c in RATE_CASES])
def test_ports_move_parts_of_beats_and_whole_beats(name, make, axis_bits, folding, mvaus, rates):
    """Each kind of reader and writer word (`lstmc.ports.port_rate`) is what the estimate counts and the loop
    nest the lowering emits (`check_schedule`), at the rate the case names."""
    _, df = _rate_case(make, axis_bits, folding, mvaus)
    report, _ = check_schedule(df)
    ports = [u for u in report.units if u.kind in ("reader", "writer")]
    assert sorted(u.kind for u in ports) == sorted(rates)
    for u in ports:
        assert u.cycles == u.length // rates[u.kind] + qor.ELEMENTWISE_DEPTH, u


@needs_csim
@pytest.mark.parametrize(
    "name, make, axis_bits, folding, mvaus", [c[:5] for c in RATE_CASES], ids=[c[0] for c in RATE_CASES]
)
def test_parts_of_beats_and_whole_beats_are_bit_exact(name, make, axis_bits, folding, mvaus):
    """The same kernels in C-simulation equal the integer stage."""
    model, df = _rate_case(make, axis_bits, folding, mvaus)
    rng = np.random.default_rng(0)
    inputs = {
        i.name: rng.uniform(-1.5, 1.5, size=[3] + [d.dim_value for d in i.type.tensor_type.shape.dim]).astype(
            np.float32
        )
        for i in model.graph.input
    }
    want = run_stage("integer", model, inputs)
    got = csim_stage(df, inputs)
    for k, value in want.items():
        assert got[k].shape == value.shape and np.array_equal(got[k], value), (name, k)


@needs_csim
@pytest.mark.parametrize("axis_bits", [0, 64])
def test_stock_csim_is_bit_exact_with_packed_ports(axis_bits):
    model = onnx.load(STOCK)
    x = {"X": np.load(STOCK.parent / "inputs.npz")["X"][:3]}
    want = run_stage("integer", model, x)
    got = csim_stage(_dataflow(model, axis_bits), x)
    for k in want:
        assert np.array_equal(want[k], got[k]), k


@needs_csim
@pytest.mark.parametrize("axis_bits", [24, 64])
def test_ap_int_kernel_reads_and_writes_the_same_beats(axis_bits, tmp_path):
    """The ap_int kernel (-DLSTMC_CSIM_AP_TYPES, with the ap_axiu stand-in) and the twin: the same testbench
    logic, byte-identical outputs."""
    df = _dataflow(onnx.load(TINY), axis_bits)
    iface = project.kernel_interface(df)
    codes = iface.quantize_inputs(_tiny_inputs(4, 3))
    write_sources(lower_to_hlscpp(df, "k"), iface, tmp_path, "k")
    ap_kernel = compile_csim(tmp_path, "k", flags=(*CSIM_FLAGS, "-DLSTMC_CSIM_AP_TYPES"))
    twin = build_csim(df, iface, "k")
    for want, got in zip(run_csim_on_codes(ap_kernel, iface, codes), run_csim_on_codes(twin, iface, codes)):
        assert want.tobytes() == got.tobytes()


# a patched writer (the twin's last write_h_n beat flag): TLAST dropped, moved to the first beat, or on every beat
TLAST_BREAKS = [
    ("dropped", lambda last: "false", "output h_n: TLAST missing on its last beat"),
    ("early", lambda last: "true", "output h_n: TLAST on beat 0 of"),
]


@needs_csim
@pytest.mark.parametrize("axis_bits", [0, 24])
@pytest.mark.parametrize("case, patch, message", TLAST_BREAKS, ids=[c[0] for c in TLAST_BREAKS])
def test_testbench_rejects_a_wrong_tlast(axis_bits, case, patch, message, tmp_path):
    out = tmp_path / "prj"
    api.load(TINY, axis_bits=axis_bits).compile(out, golden=2)
    cpp = (out / "lstmc_kernel.cpp").read_text()
    head, twin = cpp.split("#else  // C-simulation: the native-integer twin\n")
    fn = re.search(r"static void write_h_n\(.*?\n}\n", twin, re.S)
    assert fn is not None
    body = re.sub(r"(\w+)\.last = (\w+);", lambda m: f"{m.group(1)}.last = {patch(m.group(2))};", fn.group(0))
    assert body != fn.group(0)
    (out / "lstmc_kernel.cpp").write_text(
        head + "#else  // C-simulation: the native-integer twin\n" + twin.replace(fn.group(0), body)
    )
    subprocess.run(
        ["g++", "-std=c++14", "-O0", "lstmc_kernel.cpp", "lstmc_kernel_tb.cpp", "-o", "tb"], cwd=out, check=True
    )
    proc = subprocess.run(["./tb"], cwd=out, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert message in proc.stderr, proc.stderr


@needs_csim
def test_testbench_rejects_a_repeated_tlast(tmp_path):
    """A writer that sends one beat too many, with TLAST again: the beat after the last is named."""
    out = tmp_path / "prj"
    api.load(TINY).compile(out, golden=1)
    cpp = (out / "lstmc_kernel.cpp").read_text()
    head, twin = cpp.split("#else  // C-simulation: the native-integer twin\n")
    fn = re.search(r"static void write_c_n\(.*?\n}\n", twin, re.S)
    assert fn is not None
    body = re.sub(r"(\s+)out\.write\((\w+)\);", r"\1out.write(\2);\1if (\2.last) out.write(\2);", fn.group(0))
    (out / "lstmc_kernel.cpp").write_text(
        head + "#else  // C-simulation: the native-integer twin\n" + twin.replace(fn.group(0), body)
    )
    subprocess.run(
        ["g++", "-std=c++14", "-O0", "lstmc_kernel.cpp", "lstmc_kernel_tb.cpp", "-o", "tb"], cwd=out, check=True
    )
    proc = subprocess.run(["./tb"], cwd=out, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "output c_n: TLAST on beat 8, after its last beat 7 (TLAST repeated)" in proc.stderr, proc.stderr


QOR_CASES = [
    ("tiny_32", TINY, 32, ""),  # the reader writes a beat (a row of X) per cycle into x_t's 4 lanes
    ("tiny_24", TINY, 24, ""),  # 3 per beat: one code per cycle
    # E = 2 lanes (PE 8, G = 4) and 2 codes per beat: the reader feeds x_t two lanes wide, y_t's writer
    # packs a word of 2 lanes into each beat per cycle
    ("l2_w4_e2_16", FIXTURES / "l2_w4_float.onnx", 16, "qrnn-set-folding{pe=8 simd=2}"),
    ("stock_64", STOCK, 64, "qrnn-set-folding{target-cycles=20000}"),
]


@pytest.mark.parametrize("name, path, axis_bits, folding", QOR_CASES, ids=[c[0] for c in QOR_CASES])
def test_qor_cycles_are_the_emitted_loop_nests_with_packed_ports(name, path, axis_bits, folding):
    """tests/test_streaming.py's checks (each stage of the estimate is an emitted loop nest with its cycles)
    with packed ports: a reader or writer moving a beat per word of P lanes costs ceil(codes / P) + 2."""
    df = _dataflow(onnx.load(path), axis_bits, folding=folding)
    report, hls = check_schedule(df)
    assert project.kernel_interface(hls) == project.kernel_interface(df)
    stages = {s.name: s for s in report.stages}
    if name == "tiny_32":  # 80 codes of X in 20 beats
        assert stages["top/read_x_dq"].cycles == 20 + qor.ELEMENTWISE_DEPTH
    if name == "l2_w4_e2_16":  # 192 codes of Y in 96 beats
        writer = next(s for n, s in stages.items() if n.startswith("top/write_"))
        assert writer.cycles == 96 + qor.ELEMENTWISE_DEPTH


def test_axis_bits_option_errors(capsys, tmp_path):
    for value, message in (
        ("12", "--axis-bits 12: the AXI4-Stream data width must be a multiple of 8 bits from 8 to 1024"),
        ("2048", "--axis-bits 2048: the AXI4-Stream data width must be a multiple of 8 bits from 8 to 1024"),
    ):
        assert cli.main(["compile", str(TINY), "-o", str(tmp_path / "p"), "--axis-bits", value]) == 1
        err = capsys.readouterr().err
        assert err == f"lstmc: error: {message}\n" and not (tmp_path / "p").exists()
        assert cli.main(["estimate", str(TINY), "--axis-bits", value]) == 1
        assert capsys.readouterr().err == f"lstmc: error: {message}\n"
    assert cli.main(["compile", str(TINY), "-o", str(tmp_path / "p"), "--axis-bits", "-8"]) == 1
    assert "--axis-bits" in capsys.readouterr().err
    # narrower than a code: FINN's cell state has 9-bit codes
    cell = tmp_path / "cell.onnx"
    onnx.save(build_finn_cell(CELL), cell)
    narrow = "lstmc: error: --axis-bits 8: narrower than the 9-bit codes of port 'scan_cell_state' (give at least 16)\n"
    assert cli.main(["estimate", str(cell), "--seq-len", "3", "--axis-bits", "8"]) == 1
    assert capsys.readouterr().err == narrow
    # with a folding option too: qrnn-set-folding's estimates pack the ports without their names (port '')
    (tmp_path / "fold.json").write_text('{"scan_lstm/gates": {"PE": 2, "SIMD": 1}}')
    for folding in (["--pe", "2"], ["--target-cycles", "1000"], ["--folding", str(tmp_path / "fold.json")]):
        assert cli.main(["estimate", str(cell), "--seq-len", "3", "--axis-bits", "8", *folding]) == 1
        assert capsys.readouterr().err == narrow, folding
    with pytest.raises(LstmcError, match="--axis-bits 8: narrower than the 9-bit codes"):
        api.load(cell, seq_len=3, axis_bits=8).compile(tmp_path / "q", golden=1)
    assert not (tmp_path / "q").exists()
    with pytest.raises(LstmcError, match="--axis-bits 7"):
        api.load(TINY, axis_bits=7)


def test_report_json_lists_the_port_packing(tmp_path):
    """report.json gives each port's TDATA width, codes per beat and beats per inference, what a DMA
    driver needs (the tiny LSTM at 24 bits: 3 codes per beat; X has 80 codes, Y 160, h_n and c_n 8)."""
    import json

    assert cli.main(["compile", str(TINY), "-o", str(tmp_path / "p"), "--axis-bits", "24", "--golden", "1"]) == 0
    ports = json.loads((tmp_path / "p" / "report.json").read_text())["ports"]
    assert [(p["name"], p["direction"], p["tdata_bits"], p["codes_per_beat"], p["beats"]) for p in ports] == [
        ("X", "in", 24, 3, 27),
        ("Y", "out", 24, 3, 54),
        ("h_n", "out", 24, 3, 3),
        ("c_n", "out", 24, 3, 3),
    ]
    assert all(p["code_bits"] == 8 and p["signed"] for p in ports)


def test_estimate_counts_packed_readers(capsys):
    assert cli.main(["estimate", str(TINY), "--axis-bits", "32"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"top/read_x_dq\s+reader\s+22\b", text), text


def test_lstm_to_hls_folds_for_the_packed_ports():
    """`lstm-to-hls{target-cycles=N axis-bits=W}` (lstmc-opt) marks the packing before its folding search, so
    it picks what `lstmc compile --target-cycles N --axis-bits W` picks: the stock model's 64-bit input port
    feeds 8 codes per cycle, which changes the folding the search picks. Breaks if the pass marks the width only when
    qrnn-to-hlscpp runs (after the folding)."""
    from lstmc.passes.lstm_to_hls import LstmToHlsPass, passes_between

    def cpp(module) -> str:
        buf = StringIO()
        emit_hls_cpp(module, buf)
        return buf.getvalue()

    model = onnx.load(STOCK)
    via_pass = apply_pipeline(import_model(model), [LstmToHlsPass(target_cycles=3000, axis_bits=64)])
    driver = _dataflow(model, 64, folding="qrnn-set-folding{target-cycles=3000},qrnn-size-fifos")  # lower_and_fold's
    unpacked = _dataflow(model, 0, folding="qrnn-set-folding{target-cycles=3000}")
    assert qor.estimate_module(driver).total != qor.estimate_module(unpacked).total  # another folding
    assert cpp(via_pass) == cpp(apply_pipeline(driver, passes_between("dataflow", "hlscpp")))
