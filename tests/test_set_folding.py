"""`qrnn-set-folding` sets PE/SIMD of every dataflow.mvau and never changes what the kernel computes.

Properties:
- pe/simd options set every MVAU (0 leaves a property as it is); a JSON config sets the units it names
  and only those; exactly one mode at a time.
- Every mistake is one DiagnosticException whose message names the problem and the valid choices:
  unknown unit -> the valid names; PE not dividing the rows / SIMD not dividing every input part -> the
  valid values; unreadable, malformed or ill-typed config; negative options; an impossible cycle budget ->
  the minimum achievable. A failing folding changes nothing (all checks happen before any rewrite).
- target-cycles picks a folding within the budget, and no valid folding within the budget is cheaper
  (fewer LUTs, then DSPs, then BRAM18s) -- checked by brute force over every combination on small models.
  Breaks if: the search prunes an optimal partial folding, or mixes up per-unit cycles and steps.
- Folding is a schedule: interpreting the dataflow IR before and after gives bit-identical outputs.
- Unit names are stable: "<lstmc.onnx_node>/gates", "recurrence<i>/gates" without the attribute,
  "/gates1" for a second MVAU in one body.
"""

import itertools
import json

import numpy as np
import pytest
from conftest import FIXTURES
from xdsl.context import Context
from xdsl.dialects.builtin import StringAttr
from xdsl.parser import Parser
from xdsl.utils.exceptions import DiagnosticException

from lstmc.chain_sim import simulate_report
from lstmc.errors import LstmcError
from lstmc.frontend import load_onnx
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.passes.qrnn_set_folding import (
    FoldingError,
    QrnnSetFoldingPass,
    choose_folding,
    choose_x_overlap,
    set_folding,
)
from lstmc.pipeline import STAGE_PASSES, apply_pipeline, make_context
from lstmc.qor import FoldingSpace, estimate_module
from lstmc.testing import LstmSpec, Q, build_lstm
from lstmc.unit_names import mvau_names

BIDIR = FIXTURES / "l2_bidir_w3_po2.onnx"
BIDIR_NAMES = ["l0_fwd_scan/gates", "l0_bwd_scan/gates", "l1_fwd_scan/gates", "l1_bwd_scan/gates"]


def lowered(model):
    module = import_model(model if not isinstance(model, type(BIDIR)) else load_onnx(str(model)))
    return apply_pipeline(module, STAGE_PASSES["dataflow"])


def folding_of(module) -> dict[str, tuple[int, int]]:
    return {n: (op.pe.value.data, op.simd.value.data) for n, op in mvau_names(module).items()}


def simulated(module) -> int:
    """Cycles per inference with the streamed chains simulated (`lstmc.chain_sim`; FIFOs as deep as needed)."""
    report = estimate_module(module)
    simulate_report(module, report, unbounded=True)
    assert report.simulated is not None
    return report.simulated


def fold(module, **options):
    QrnnSetFoldingPass(**options).apply(Context(), module)
    module.verify()
    return module


@pytest.fixture(scope="module")
def bidir():
    return lowered(BIDIR)


# ------------------------------------------------------------------------------------------------- names
def test_names_from_onnx_nodes(bidir):
    assert list(mvau_names(bidir)) == BIDIR_NAMES
    for name, op in mvau_names(bidir).items():
        parent = op.parent_op()
        assert parent is not None
        node = parent.attributes["lstmc.onnx_node"]
        assert isinstance(node, StringAttr)
        assert node.data == name.split("/")[0]


def test_names_fall_back_to_walk_order(bidir):
    module = bidir.clone()
    from lstmc.dialects import qrnn

    recs = [op for op in module.walk() if isinstance(op, qrnn.RecurrenceOp)]
    del recs[1].attributes["lstmc.onnx_node"]
    del recs[3].attributes["lstmc.onnx_node"]
    assert list(mvau_names(module)) == [
        "l0_fwd_scan/gates",
        "recurrence1/gates",
        "l1_fwd_scan/gates",
        "recurrence3/gates",
    ]


TWO_MVAUS = """
func.func @two(%x: tensor<3x4xsi8>) -> tensor<3x6xsi8> {
  %h0 = qrnn.constant dense<0> : tensor<6xsi8>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<6xsi8>, tensor<3x4xsi8>) -> (tensor<6xsi8>, tensor<3x6xsi8>) {
  ^bb0(%h: tensor<6xsi8>, %xt: tensor<4xsi8>):
    %a = dataflow.mvau(%xt, %h) weights(dense<1> : tensor<10x6xsi4>) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>, tensor<6xsi8>) -> tensor<6xsi16>
    %b = dataflow.mvau(%xt) weights(dense<1> : tensor<4x6xsi4>) multipliers(dense<1> : tensor<1x6xi64>) bias(dense<0> : tensor<6xi64>) pe(1) simd(1) : (tensor<4xsi8>) -> tensor<6xsi12>
    %s = qrnn.scaled_sum(%a, %b) multipliers(dense<1> : tensor<2x6xi64>) bias(dense<0> : tensor<6xi64>) : (tensor<6xsi16>, tensor<6xsi12>) -> tensor<6xsi17>
    %hn = qrnn.requant %s shift(4) clamp(-128, 127) rounding("half_even") : tensor<6xsi17> -> tensor<6xsi8>
    qrnn.yield %hn, %hn : tensor<6xsi8>, tensor<6xsi8>
  } attributes {lstmc.onnx_node = "cell"}
  func.return %ys : tensor<3x6xsi8>
}
"""


def parse(text):
    return Parser(make_context(), text).parse_module()


def test_second_mvau_in_a_body_is_gates1(tmp_path):
    module = parse(TWO_MVAUS)
    assert list(mvau_names(module)) == ["cell/gates", "cell/gates1"]
    # gates1 has one part of 4 columns: SIMD 4 fits it (but not gates, whose parts are 4 and 6)
    fold(module, pe=3)
    fold(module, config=write(tmp_path, {"cell/gates1": {"SIMD": 4}}))
    assert folding_of(module) == {"cell/gates": (3, 1), "cell/gates1": (3, 4)}


def test_second_mvau_simd_errors_name_the_unit():
    module = parse(TWO_MVAUS)
    with pytest.raises(
        FoldingError,
        match=r"SIMD=4 does not divide the 10 input columns of 'cell/gates' \(part sizes "
        r"4, 6, concatenated\); valid SIMD values: 1, 2, 5, 10",
    ):
        fold(module, simd=4)
    fold(module, pe=3, simd=2)
    assert folding_of(module) == {"cell/gates": (3, 2), "cell/gates1": (3, 2)}
    report = estimate_module(module)
    assert [u.name for u in report.units if u.kind != "buffer"] == ["cell/gates", "cell/gates1", "cell/s", "cell/hn"]
    # write-back per step: the state h (6); %ys only feeds func.return, so it is not copied
    assert (report.stages[0].read_cycles_per_step, report.stages[0].write_cycles_per_step) == (4, 6)


# --------------------------------------------------------------------------------------- options / config
def test_pe_simd_options(bidir):
    module = fold(bidir.clone(), pe=4)
    assert folding_of(module) == {n: (4, 1) for n in BIDIR_NAMES}
    fold(module, pe=12, simd=1)
    assert folding_of(module) == {n: (12, 1) for n in BIDIR_NAMES}


def test_global_simd_must_fit_every_unit(bidir):
    # SIMD folds over the concatenated [x_t; h]: 3 divides layer 1's 18 columns but not layer 0's 11
    module = bidir.clone()
    with pytest.raises(
        FoldingError,
        match=r"SIMD=3 does not divide the 11 input columns of 'l0_fwd_scan/gates' "
        r"\(part sizes 5, 6, concatenated\); valid SIMD values: 1, 11$",
    ):
        fold(module, pe=4, simd=3)
    assert folding_of(module) == {n: (1, 1) for n in BIDIR_NAMES}  # nothing half-applied


def test_global_pe_error_lists_divisors(bidir):
    with pytest.raises(FoldingError) as e:
        fold(bidir.clone(), pe=5)
    assert str(e.value) == (
        "qrnn-set-folding: PE=5 does not divide the 24 output rows of 'l0_fwd_scan/gates'; "
        "valid PE values: 1, 2, 3, 4, 6, 8, 12, 24"
    )
    assert isinstance(e.value, DiagnosticException)


def test_zero_leaves_and_no_mode_is_a_noop(bidir):
    module = fold(bidir.clone(), pe=6, simd=1)
    fold(module, simd=1)
    assert folding_of(module) == {n: (6, 1) for n in BIDIR_NAMES}
    before = str(module)
    fold(module)
    assert str(module) == before


def write(tmp_path, data, name="f.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_config_sets_named_units_only(bidir, tmp_path):
    cfg = write(tmp_path, {"l1_fwd_scan/gates": {"PE": 8, "SIMD": 6}, "l0_bwd_scan/gates": {"PE": 3}})
    module = fold(bidir.clone(), config=cfg)
    assert folding_of(module) == {
        "l0_fwd_scan/gates": (1, 1),
        "l0_bwd_scan/gates": (3, 1),
        "l1_fwd_scan/gates": (8, 6),
        "l1_bwd_scan/gates": (1, 1),
    }


def test_config_round_trips_estimate_json(bidir, tmp_path):
    """The "folding" section of `lstmc estimate --json` is a valid config."""
    module = fold(bidir.clone(), target_cycles=9000)
    report = estimate_module(module)
    cfg = write(tmp_path, {u.name: {"PE": u.pe, "SIMD": u.simd} for u in report.units if u.kind == "mvau"})
    again = fold(bidir.clone(), config=cfg)
    assert folding_of(again) == folding_of(module)


@pytest.mark.parametrize(
    "content, message",
    [
        (
            {"l9/gates": {"PE": 1}},
            "folding config '{path}' names unknown unit 'l9/gates'; valid names: "
            "l0_fwd_scan/gates, l0_bwd_scan/gates, l1_fwd_scan/gates, l1_bwd_scan/gates",
        ),
        (
            {"l0_fwd_scan/gates": {"PE": 5}},
            "PE=5 does not divide the 24 output rows of 'l0_fwd_scan/gates'; valid PE values: 1, 2, 3, 4, 6, 8, 12, 24",
        ),
        (
            {"l1_fwd_scan/gates": {"SIMD": 4}},
            "SIMD=4 does not divide the 18 input columns of 'l1_fwd_scan/gates' "
            "(part sizes 12, 6, concatenated); valid SIMD values: 1, 2, 3, 6, 9, 18",
        ),
        (
            '{"l0_fwd_scan/gates": {"PE": 2,}}',
            "folding config '{path}' is not valid JSON: Expecting property name "
            "enclosed in double quotes: line 1 column 32 (char 31)",
        ),
        (
            [1, 2],
            'folding config \'{path}\' must be an object mapping unit names to {"PE": n, "SIMD": n}, got a JSON list',
        ),
        (
            {"l0_fwd_scan/gates": 4},
            "folding config '{path}': entry 'l0_fwd_scan/gates' must be {\"PE\": n, \"SIMD\": n}, got 4",
        ),
        (
            {"l0_fwd_scan/gates": {"pe": 4}},
            "folding config '{path}': entry 'l0_fwd_scan/gates' has unknown field(s) pe; expected PE and/or SIMD",
        ),
        (
            {"l0_fwd_scan/gates": {"PE": "4"}},
            "folding config '{path}': PE of 'l0_fwd_scan/gates' must be a positive integer, got \"4\"",
        ),
        ({"l0_fwd_scan/gates": {"PE": True}}, "PE of 'l0_fwd_scan/gates' must be a positive integer, got true"),
        ({"l0_fwd_scan/gates": {"SIMD": 0}}, "SIMD of 'l0_fwd_scan/gates' must be a positive integer, got 0"),
    ],
)
def test_config_errors(bidir, tmp_path, content, message):
    path = write(tmp_path, content)
    module = bidir.clone()
    with pytest.raises(FoldingError) as e:
        fold(module, config=path)
    assert message.replace("{path}", path) in str(e.value)
    assert str(e.value).startswith("qrnn-set-folding: ")
    assert folding_of(module) == {n: (1, 1) for n in BIDIR_NAMES}


def test_config_missing_file(bidir, tmp_path):
    with pytest.raises(FoldingError, match=r"cannot read folding config '.*nope.json': No such file or directory"):
        fold(bidir.clone(), config=str(tmp_path / "nope.json"))


@pytest.mark.parametrize(
    "options, message",
    [
        ({"pe": 2, "config": "x.json"}, "give only one of pe/simd, config or target-cycles (got pe/simd and config)"),
        ({"simd": 1, "target_cycles": 9}, "(got pe/simd and target-cycles)"),
        ({"config": "x.json", "target_cycles": 9}, "(got config and target-cycles)"),
        ({"pe": -1}, "pe must be >= 0 (0 leaves it unset), got -1"),
        ({"target_cycles": -5}, "target-cycles must be >= 0"),
    ],
)
def test_option_errors(bidir, options, message):
    with pytest.raises(FoldingError) as e:
        fold(bidir.clone(), **options)
    assert message in str(e.value)


def test_pipeline_string_options(bidir):
    module = apply_pipeline(bidir.clone(), "qrnn-set-folding{pe=2 simd=1}")
    assert folding_of(module) == {n: (2, 1) for n in BIDIR_NAMES}
    with pytest.raises(LstmcError, match="valid PE values: 1, 2, 3, 4, 6, 8, 12, 24"):
        apply_pipeline(bidir.clone(), "qrnn-set-folding{pe=7}")
    module = apply_pipeline(bidir.clone(), "qrnn-set-folding{target-cycles=7000}")
    assert estimate_module(module).cycles <= 7000


# ------------------------------------------------------------------------------------------ target-cycles
def brute_force_best(space: FoldingSpace, budget: int):
    """Every combination of valid foldings; the cheapest (LUT, DSP, BRAM18) cost within the budget. Layers
    joined by FIFOs (a streamed top level) overlap: their latency is a chain's (`evaluate`), not a sum."""
    names = list(space.units)
    if space.stages is not None:
        combos = itertools.product(*(space.units[n][1].foldings() for n in names))
        costs = [space.evaluate(dict(zip(names, c))) for c in combos]
        return min((res.cost_key() for cycles, res in costs if cycles <= budget), default=None)
    tables = []
    for n in names:
        steps, spec = space.units[n]
        tables.append([(spec.stage_cycles(steps, p, s), spec.resources(p, s).cost_key()) for p, s in spec.foldings()])
    base = space.base_resources.cost_key()
    best = None
    for combo in itertools.product(*tables):
        cycles = space.base_cycles + sum(c for c, _ in combo)
        if cycles > budget:
            continue
        cost = tuple(b + sum(k[i] for _, k in combo) for i, b in enumerate(base))
        best = cost if best is None or cost < best else best
    return best


SMALL = {
    "two_layers": LstmSpec(input_size=4, hidden_size=4, seq_len=5, num_layers=2, seed=3),
    "bidir_wide_weights": LstmSpec(
        input_size=6, hidden_size=3, seq_len=4, bidirectional=True, seed=4, weight=Q(8, True, True, 0.02)
    ),
}


@pytest.mark.parametrize("name", SMALL)
def test_target_cycles_is_cheapest_within_budget(name):
    base = lowered(build_lstm(SMALL[name]))
    space = FoldingSpace.from_report(estimate_module(base))
    slowest = estimate_module(base).cycles
    fastest = space.min_cycles()
    budgets = sorted(
        {fastest, slowest, (fastest + slowest) // 2, fastest + (slowest - fastest) // 10, fastest + 1, slowest - 1}
    )
    for budget in budgets:
        # the closed form's cheapest, then checked by the cycle-level simulation (meet_in_simulation)
        closed = base.clone()
        for unit, (pe, simd) in choose_folding(closed, budget).items():
            set_folding(mvau_names(closed)[unit], pe, simd)
        choose_x_overlap(closed)
        module = fold(base.clone(), target_cycles=budget)
        report = estimate_module(module)
        assert report.cycles <= budget and simulated(module) <= budget
        best = brute_force_best(space, budget)
        assert best is not None
        if simulated(closed) <= budget:  # it meets the budget in simulation too: taken as it is
            assert report.total.cost_key() == best, budget
        else:  # a faster, dearer one
            assert report.total.cost_key() > best, budget
    with pytest.raises(
        FoldingError,
        match=f"no folding meets target-cycles={fastest - 1}; the minimum achievable is {fastest} cycles per inference",
    ):
        fold(base.clone(), target_cycles=fastest - 1)


def test_target_cycles_four_units(bidir):
    space = FoldingSpace.from_report(estimate_module(bidir))
    for budget in (6960, 7500, 9000, 12000, 20540):
        module = fold(bidir.clone(), target_cycles=budget)
        report = estimate_module(module)
        assert report.cycles <= budget
        assert report.total.cost_key() == brute_force_best(space, budget)


# ------------------------------------------------------------------------------------------- numerics
@pytest.mark.parametrize("model", ["l2_bidir_w3_po2", "l1_w4_po2", "random"])
def test_folding_never_changes_results(model):
    if model == "random":
        spec = LstmSpec(input_size=6, hidden_size=4, seq_len=6, bidirectional=True, seed=21)
        base = lowered(build_lstm(spec))
        x = np.random.default_rng(0).standard_normal((4, 6, 6)).astype(np.float32)
    else:
        base = lowered(FIXTURES / f"{model}.onnx")
        x = np.load(FIXTURES / f"{model}.npz")["X"]
    want = run_function(base, {"X": x})
    space = FoldingSpace.from_report(estimate_module(base))
    foldings = [
        {n: (spec.pe_values()[-1], spec.simd_values()[-1]) for n, (_, spec) in space.units.items()},
        {
            n: (spec.pe_values()[len(spec.pe_values()) // 2], spec.simd_values()[-1])
            for n, (_, spec) in space.units.items()
        },
    ]
    for folding in foldings:
        module = base.clone()
        for name, op in mvau_names(module).items():
            op.properties["pe"] = type(op.pe)(folding[name][0], op.pe.type)
            op.properties["simd"] = type(op.simd)(folding[name][1], op.simd.type)
        module.verify()
        got = run_function(module, {"X": x})
        assert want.keys() == got.keys()
        for k in want:
            assert want[k].dtype == got[k].dtype and np.array_equal(want[k], got[k]), k
    fastest = base.clone()
    for name, op in mvau_names(fastest).items():
        set_folding(op, *foldings[0][name])
    folded = fold(base.clone(), target_cycles=simulated(fastest))  # the least budget the simulation meets
    got = run_function(folded, {"X": x})
    assert all(np.array_equal(want[k], got[k]) for k in want)


def test_x_overlap_is_judged_on_the_kernel_not_the_stage():
    """The stock ConvLSTM at --target-cycles 20000: the LSTM (PE 1, SIMD 8) is not the chain's bottleneck, so
    its cost is its fill. The x-overlapped step makes its stage faster (the stage's own rule takes it) but
    lengthens the fill, so the kernel is slower with it: qrnn-set-folding records `x_overlap = 0` and the
    kernel keeps the plain step's cycles. Breaks if the choice is made on the stage alone."""
    from xdsl.dialects.builtin import IntegerAttr, i64

    from lstmc.schedule import X_OVERLAP

    module = apply_pipeline(
        import_model(load_onnx(str(FIXTURES.parent.parent / "examples" / "stock" / "model.onnx"))),
        STAGE_PASSES["dataflow"],
    )
    QrnnSetFoldingPass(target_cycles=20000).apply(Context(), module)
    lstm = mvau_names(module)["l0_fwd_scan/gates"]
    assert lstm.attributes[X_OVERLAP] == IntegerAttr(0, i64)
    chosen = estimate_module(module).cycles
    stage_rule = lstm.attributes.pop(X_OVERLAP)
    by_stage = estimate_module(module)
    spec = by_stage.unit("l0_fwd_scan/gates").spec
    assert spec is not None and spec.overlap(1, 8, 50) is not None  # the stage alone takes it
    assert chosen < by_stage.cycles <= 20000
    lstm.attributes[X_OVERLAP] = stage_rule
