"""Small IR utilities shared by several passes (not a pass)."""

from __future__ import annotations

from xdsl.ir import Block
from xdsl.traits import Pure


def erase_dead_pure_ops(block: Block) -> None:
    """Erase side-effect-free ops whose results are unused, innermost regions first, until none is left."""
    changed = True
    while changed:
        changed = False
        for op in reversed(list(block.ops)):
            for region in op.regions:
                for inner in region.blocks:
                    erase_dead_pure_ops(inner)
            if op.results and all(not r.uses for r in op.results) and op.has_trait(Pure):
                block.erase_op(op)
                changed = True
