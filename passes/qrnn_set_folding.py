"""qrnn-set-folding: choose PE (output rows in parallel) and SIMD (input columns in parallel) of every MVAU.

Folding is a schedule, never a numeric change: the pass only rewrites the `pe`/`simd` properties of
`dataflow.mvau` ops. One mode at a time:

* `pe=N` and/or `simd=N`: the same value for every MVAU (0 leaves that property as it is). Every MVAU must
  accept it: PE must divide its output rows, SIMD its input columns (the concatenated parts, [x_t; h]).
* `config=F.json`: per-unit values, `{"<unit>": {"PE": 4, "SIMD": 2}, ...}`; units not named keep their
  folding, unknown names are an error that lists the valid ones.
* `target-cycles=N`: the cheapest folding whose estimated cycles per inference (lstmc.qor, the schedule
  the HLS emitter follows) are at most N. Cheapest means fewest estimated LUTs, then fewest DSPs, then
  fewest BRAM18s, then fewest cycles. Cycles and resources are sums of independent per-MVAU terms, so the
  search merges per-unit Pareto fronts (an exact multiple-choice knapsack; see
  `lstmc.qor.FoldingSpace.pareto_front`). A streamed top level is then checked by the cycle-level
  simulation of its chains (`lstmc.chain_sim`, FIFOs as deep as they need: qrnn-size-fifos gives them
  that): where it runs longer than the closed form and so past N, the search runs again within N less the
  difference, until the simulated latency meets N too.

Units are named by `lstmc.unit_names.mvau_names` (the one place these names are made, for the estimator and
the compiler too): "<ONNX Scan node>/gates" for a recurrence's MVAU.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import DiagnosticException

from lstmc.chain_sim import simulate_report
from lstmc.dialects import dataflow, qrnn
from lstmc.ports import check_port_packing
from lstmc.qor import FoldingSpace, estimate_module, mvau_spec
from lstmc.schedule import OVERLAP_MIN_GAIN, TOP_FIFO_DEPTH_ATTR, X_OVERLAP, step_schedule
from lstmc.unit_names import mvau_names

PASS = "qrnn-set-folding"


class FoldingError(DiagnosticException):
    """A folding that cannot be applied (bad option, config file or budget)."""

    def __init__(self, message: str):
        super().__init__(f"{PASS}: {message}")


# ------------------------------------------------------------------------------------------------ checks
def _list(values) -> str:
    return ", ".join(str(v) for v in values)


def check_folding(name: str, op: dataflow.MVAUOp, pe: int | None, simd: int | None) -> None:
    """Raise a FoldingError naming the valid values when PE/SIMD does not fit the unit."""
    spec = mvau_spec(op)
    if pe is not None and pe not in spec.pe_values():
        raise FoldingError(
            f"PE={pe} does not divide the {spec.rows} output rows of '{name}'; "
            f"valid PE values: {_list(spec.pe_values())}"
        )
    if simd is not None and simd not in spec.simd_values():
        raise FoldingError(
            f"SIMD={simd} does not divide the {spec.cols} input columns of '{name}' (part sizes "
            f"{_list(spec.part_sizes)}, concatenated); valid SIMD values: {_list(spec.simd_values())}"
        )


def set_folding(op: dataflow.MVAUOp, pe: int | None, simd: int | None) -> None:
    if pe is not None:
        op.properties["pe"] = IntegerAttr(pe, i64)
    if simd is not None:
        op.properties["simd"] = IntegerAttr(simd, i64)


def read_config(path: str) -> dict[str, tuple[int | None, int | None]]:
    """Parse a folding config: {"<unit>": {"PE": n, "SIMD": n}}; either key may be left out."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise FoldingError(f"cannot read folding config '{path}': {e.strerror or e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise FoldingError(f"folding config '{path}' is not valid JSON: {e}") from e
    shape = 'an object mapping unit names to {"PE": n, "SIMD": n}'
    if not isinstance(data, dict):
        raise FoldingError(f"folding config '{path}' must be {shape}, got a JSON {type(data).__name__}")
    out = {}
    for name, entry in data.items():
        if not isinstance(entry, dict):
            raise FoldingError(
                f"folding config '{path}': entry '{name}' must be {{\"PE\": n, \"SIMD\": n}}, got {json.dumps(entry)}"
            )
        extra = sorted(set(entry) - {"PE", "SIMD"})
        if extra:
            raise FoldingError(
                f"folding config '{path}': entry '{name}' has unknown field(s) {_list(extra)}; expected PE and/or SIMD"
            )
        values = []
        for key in ("PE", "SIMD"):
            v = entry.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise FoldingError(
                    f"folding config '{path}': {key} of '{name}' must be a positive integer, got {json.dumps(v)}"
                )
            values.append(v)
        out[name] = (values[0], values[1])
    return out


# ------------------------------------------------------------------------------------------------ the pass
@dataclass(frozen=True)
class QrnnSetFoldingPass(ModulePass):
    """Set PE/SIMD of every dataflow.mvau from options, a JSON config or a cycle budget."""

    name = "qrnn-set-folding"

    pe: int = 0
    simd: int = 0
    config: str = ""
    target_cycles: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for opt, value in (("pe", self.pe), ("simd", self.simd), ("target-cycles", self.target_cycles)):
            if value < 0:
                raise FoldingError(f"{opt} must be >= 0 (0 leaves it unset), got {value}")
        modes = [
            m
            for m, on in (
                ("pe/simd", self.pe or self.simd),
                ("config", self.config),
                ("target-cycles", self.target_cycles),
            )
            if on
        ]
        if len(modes) > 1:
            raise FoldingError(f"give only one of pe/simd, config or target-cycles (got {' and '.join(modes)})")
        units = mvau_names(op)
        if modes:  # a schedule chosen at another folding does not hold at the new one, nor FIFO depths
            check_port_packing(op)
            for mvau in units.values():
                mvau.attributes.pop(X_OVERLAP, None)
            drop_fifo_depths(op)
        if self.pe or self.simd:
            folding = {name: (self.pe or None, self.simd or None) for name in units}
        elif self.config:
            folding = read_config(self.config)
            unknown = [n for n in folding if n not in units]
            if unknown:
                raise FoldingError(
                    f"folding config '{self.config}' names unknown unit '{unknown[0]}'; valid names: "
                    f"{_list(units) or '(none: the module has no dataflow.mvau)'}"
                )
        elif self.target_cycles:
            folding = choose_folding(op, self.target_cycles)
        else:
            return
        for name, (pe, simd) in folding.items():  # check everything before changing anything
            check_folding(name, units[name], pe, simd)
        for name, (pe, simd) in folding.items():
            set_folding(units[name], pe, simd)
        choose_x_overlap(op)
        if self.target_cycles:
            meet_in_simulation(op, self.target_cycles)


SIMULATED_TRIES = 8  # searches within a tighter budget before giving up (each one ends faster or fails)


def meet_in_simulation(module: ModuleOp, target_cycles: int) -> None:
    """Refold `module` (folded for `target_cycles` by the closed form) until the cycle-level simulation of
    its streamed chains meets the budget too: each round searches within the budget less what the
    simulation ran over the closed form."""
    budget = target_cycles
    for _ in range(SIMULATED_TRIES):
        report = estimate_module(module)
        simulate_report(module, report, unbounded=True)
        assert report.simulated is not None
        if report.simulated <= target_cycles:
            return
        budget = min(budget - 1, target_cycles - (report.simulated - report.cycles))
        space = FoldingSpace.from_report(report)
        folding = space.cheapest_within(budget)
        if folding is None:
            raise FoldingError(
                f"no folding meets target-cycles={target_cycles} in the cycle-level simulation of the streamed "
                f"chains (lstmc.chain_sim): the cheapest within the estimate takes {report.simulated} cycles "
                f"there, and the estimate's budget left for a faster one ({budget}) is below its minimum "
                f"{space.min_cycles()}"
            )
        units = mvau_names(module)
        for name, (pe, simd) in folding.items():
            set_folding(units[name], pe, simd)
        choose_x_overlap(module)
    raise FoldingError(f"no folding met target-cycles={target_cycles} in simulation after {SIMULATED_TRIES} searches")


def choose_x_overlap(module: ModuleOp) -> None:
    """Record on each streamed recurrence's MVAU whether its x-overlapped step (lstmc.schedule.x_overlap)
    is taken at the folding just set, judged on the cycles per inference of the whole kernel, not of the
    stage: in a streamed chain whose bottleneck is another process a recurrence costs its fill, which the
    overlap lengthens (step 0 computes step 1's x-part too; x_1 is read before the steps), so a faster stage
    can be a slower kernel. Taken when the kernel is faster with it and either the stage's own rule took it
    (what the folding search assumed) or it saves `OVERLAP_MIN_GAIN` of the kernel's cycles. So no MVAU's
    choice makes the kernel slower than the search's estimate: a budget met stays met."""
    gain, whole = OVERLAP_MIN_GAIN
    for mvau in mvau_names(module).values():
        rec = mvau.parent_op()
        if not isinstance(rec, qrnn.RecurrenceOp) or step_schedule(rec) is None:
            continue
        mvau.attributes.pop(X_OVERLAP, None)
        by_rule = estimate_module(module).cycles
        cycles = {}
        for choice in (0, 1):
            mvau.attributes[X_OVERLAP] = IntegerAttr(choice, i64)
            cycles[choice] = estimate_module(module).cycles
        off, on = cycles[0], cycles[1]
        taken = on < off and (by_rule == on or whole * on <= (whole - gain) * off)
        mvau.attributes[X_OVERLAP] = IntegerAttr(int(taken), i64)


def drop_fifo_depths(module: ModuleOp) -> None:
    """Forget the FIFO depths qrnn-size-fifos gave the current folding (they do not hold at another one)."""
    for o in module.walk():
        o.attributes.pop(TOP_FIFO_DEPTH_ATTR, None)


def choose_folding(module: ModuleOp, target_cycles: int) -> dict[str, tuple[int, int]]:
    """The cheapest folding meeting the cycle budget (see the module docstring); every folding is costed with
    the least FIFO depths (those sized for the current one are dropped)."""
    drop_fifo_depths(module)
    space = FoldingSpace.from_report(estimate_module(module))
    best = space.cheapest_within(target_cycles)
    if best is None:
        raise FoldingError(
            f"no folding meets target-cycles={target_cycles}; the minimum achievable is "
            f"{space.min_cycles()} cycles per inference (every MVAU at its fastest folding)"
        )
    return best
