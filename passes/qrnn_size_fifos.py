"""qrnn-size-fifos: the depth of every FIFO of the streamed top level, sized by simulating its chain.

Between two top-level processes whose reads and writes come in bursts (a line buffer emitting a row of
patches at a time, an MVAU reading only in its first row fold, a recurrence taking x_t at the start of each
step), a FIFO of two words couples them: the faster one stalls on it, and its stalls freeze the rest of its
pipeline (reads included), so the chain runs slower than its slowest process. FINN sizes its FIFOs by
simulating the design; here `lstmc.chain_sim` runs each chain cycle by cycle on the schedule alone and gives
every FIFO the smallest depth (at least `lstmc.schedule.TOP_FIFO_DEPTH`) at which the chain is as fast as
with FIFOs that never fill. The depth is recorded on the FIFO's producer (`lstmc.schedule.TOP_FIFO_DEPTH_ATTR`),
where qrnn-to-hlscpp (the `hls::stream` depth it emits) and lstmc.qor (the FIFO's LUTs or BRAM) read it.

Runs after qrnn-set-folding (the depths belong to a folding; qrnn-set-folding drops them when it changes
one) and after the ports' packing and a run-time sequence length are marked (a run-time T is sized at its
maximum).
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.passes import ModulePass

from lstmc.chain_sim import size_fifos
from lstmc.ports import check_port_packing
from lstmc.schedule import TOP_FIFO_DEPTH, TOP_FIFO_DEPTH_ATTR, chains


@dataclass(frozen=True)
class QrnnSizeFifosPass(ModulePass):
    """Record on each top-level process the depth of the FIFO it writes (`lstmc.chain_sim.size_fifos`)."""

    name = "qrnn-size-fifos"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fn = next((f for f in op.ops if isinstance(f, func.FuncOp)), None)
        if fn is None:
            return
        check_port_packing(op)  # a too narrow --axis-bits names its port, not the simulation's ''
        block = fn.body.block
        found = chains(block)
        depths = size_fifos(block, TOP_FIFO_DEPTH, found)
        for chain in found:
            for st in chain.streams:
                st.producer.attributes[TOP_FIFO_DEPTH_ATTR] = IntegerAttr(depths[st.value], i64)
