"""The driver's defaults for pass options are the passes' own: `lstmc compile`, `lstmc.load(...)` and
CompileOptions build the same kernel as `lstmc-opt -p lstm-to-hls` when no option is given."""

import argparse
import inspect

from lstmc import api, cli
from lstmc.compile import CompileOptions
from lstmc.passes.lstm_to_hls import LstmToHlsPass
from lstmc.passes.qrnn_legalize_precision import QrnnLegalizePrecisionPass
from lstmc.passes.qrnn_to_hlscpp import QrnnToHlscppPass


def _cli_default(option: str):
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    compile_parser = subparsers.choices["compile"]
    return next(a.default for a in compile_parser._actions if option in a.option_strings)


def test_driver_defaults_are_the_pass_defaults():
    pass_defaults = {
        "act_impl": QrnnLegalizePrecisionPass.act_impl,
        "threshold_input": QrnnLegalizePrecisionPass.threshold_input,
        "axis_bits": QrnnToHlscppPass.axis_bits,
    }
    assert LstmToHlsPass.axis_bits == QrnnToHlscppPass.axis_bits
    for name, default in pass_defaults.items():
        assert getattr(CompileOptions, name) == default, f"CompileOptions.{name}"
        assert getattr(api.Settings, name) == default, f"api.Settings.{name}"
        assert inspect.signature(api.load).parameters[name].default == default, f"lstmc.load({name}=)"
        assert _cli_default("--" + name.replace("_", "-")) == default, f"lstmc compile --{name}"
