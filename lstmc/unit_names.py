"""Stable names of the hardware units, the keys of folding configs and QoR reports.

Each `qrnn.recurrence` is named by its `lstmc.onnx_node` attribute (the ONNX Scan node), or "recurrence<i>"
(i counting recurrences in walk order) without one; its MVAU is "<name>/gates" (a second one "<name>/gates1",
...). `mvau_names` is the one place these names are made, for `qrnn-set-folding`, the estimator and the
compiler.
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import Operation

from lstmc.dialects import dataflow, qrnn


def recurrence_names(module: ModuleOp) -> list[tuple[str, qrnn.RecurrenceOp]]:
    """Every recurrence with its stable name, in walk order (a repeated name gets "#<k>" appended)."""
    out: list[tuple[str, qrnn.RecurrenceOp]] = []
    seen: set[str] = set()
    for i, rec in enumerate(op for op in module.walk() if isinstance(op, qrnn.RecurrenceOp)):
        attr = rec.attributes.get("lstmc.onnx_node")
        base = attr.data if isinstance(attr, StringAttr) and attr.data else f"recurrence{i}"
        name, k = base, 1
        while name in seen:
            k += 1
            name = f"{base}#{k}"
        seen.add(name)
        out.append((name, rec))
    return out


def _owner(op: Operation) -> qrnn.RecurrenceOp | None:
    parent = op.parent_op()
    while parent is not None and not isinstance(parent, qrnn.RecurrenceOp):
        parent = parent.parent_op()
    return parent


def mvau_names(module: ModuleOp) -> dict[str, dataflow.MVAUOp]:
    """Stable name -> MVAU: "<recurrence name>/gates", "/gates1", ... in walk order within a recurrence.

    An MVAU outside any recurrence (a convolution, a dense layer) is "top/<SSA name>" after the value it
    computes (its ONNX-derived name), or "top/mvau<k>" when it has none.
    """
    owner_name = {id(rec): name for name, rec in recurrence_names(module)}
    count: dict[str, int] = {}
    out: dict[str, dataflow.MVAUOp] = {}
    for op in module.walk():
        if not isinstance(op, dataflow.MVAUOp):
            continue
        rec = _owner(op)
        if rec is not None:
            owner = owner_name[id(rec)]
        else:
            k = count.get("top", 0)
            count["top"] = k + 1
            name = f"top/{op.result.name_hint or f'mvau{k}'}"
            while name in out:
                name += "'"
            out[name] = op
            continue
        k = count.get(owner, 0)
        count[owner] = k + 1
        out[f"{owner}/gates{k if k else ''}"] = op
    return out
