"""Executable IR: run a module's function on named numpy inputs (batched over sequences)."""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import ModuleOp, ShapedType
from xdsl.interpreter import Interpreter
from xdsl.interpreters.func import FuncFunctions

from lstmc.entry import entry_function, io_names  # noqa: F401 (io_names re-exported)
from lstmc.errors import LstmcError


def run_function(
    module: ModuleOp, inputs: dict[str, np.ndarray], extra_impls=(), listeners=()
) -> dict[str, np.ndarray]:
    """Interpret the module's entry function.

    Each input is either one sequence (the exact shape of the function argument) or a batch of them (one
    extra leading axis); outputs come back in the same form.
    `listeners` (xdsl Interpreter.Listener) observe every op run, e.g. to trace quantizers (lstmc.tie_trace); one
    with an `interpreter` attribute is handed the interpreter (to read block arguments). Without listeners the
    interpreter runs exactly as before.
    """
    from lstmc.interpreter.dataflow import DataflowFunctions
    from lstmc.interpreter.qrnn import QrnnFunctions, single_threaded_blas

    fn = entry_function(module)
    arg_types = fn.function_type.inputs.data
    names = io_names(fn, "lstmc.input_names", len(arg_types), "arg")
    out_names = io_names(fn, "lstmc.output_names", len(fn.function_type.outputs.data), "result")
    missing = [n for n in names if n not in inputs]
    if missing:
        raise LstmcError(f"missing input(s) {', '.join(missing)}; the model takes {', '.join(names)}")
    args, batched = [], None
    for name, ty in zip(names, arg_types):
        value = np.asarray(inputs[name], dtype=np.float32)
        assert isinstance(ty, ShapedType), ty  # the entry function takes and returns tensors
        shape = tuple(ty.get_shape())
        if value.shape == shape:
            this_batched = False
            value = value[None]
        elif value.shape[1:] == shape:
            this_batched = True
        else:
            raise LstmcError(
                f"input '{name}' has shape {list(value.shape)}; expected {list(shape)} or [N, {', '.join(map(str, shape))}]"
            )
        if batched is not None and batched != this_batched:
            raise LstmcError("either every input is batched (leading axis N) or none is")
        batched = this_batched
        args.append(np.ascontiguousarray(value))
    if len({a.shape[0] for a in args}) > 1:
        raise LstmcError(f"inputs have different batch sizes: {[a.shape[0] for a in args]}")
    interpreter = Interpreter(module, listeners=tuple(listeners))
    for listener in listeners:
        if hasattr(listener, "interpreter"):
            listener.interpreter = interpreter
    interpreter.register_implementations(FuncFunctions())
    interpreter.register_implementations(QrnnFunctions())
    interpreter.register_implementations(DataflowFunctions())
    for impls in extra_impls:
        interpreter.register_implementations(impls)
    with single_threaded_blas():  # exact float products in BLAS, without its threads (lstmc/interpreter/qrnn.py)
        results = interpreter.call_op(fn.sym_name.data, tuple(args))
    n = args[0].shape[0] if args else 1
    outputs = {}
    for name, value, ty in zip(out_names, results, fn.function_type.outputs.data):
        value = np.asarray(value)
        assert isinstance(ty, ShapedType), ty
        if value.ndim == len(ty.get_shape()):  # output does not depend on the inputs
            value = np.broadcast_to(value, (n, *value.shape)).copy()
        outputs[name] = value if batched else value[0]
    return outputs
