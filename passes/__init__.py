"""lstmc passes, one per file, named like the pass (`qrnn_fold_constants.py` <-> `qrnn-fold-constants`).

`get_all_passes()` maps pass names to factories that import on demand, so the tools start fast.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {}
