"""lstmc passes, one per file, named like the pass (`qrnn_fold_constants.py` <-> `qrnn-fold-constants`).

`get_all_passes()` maps pass names to factories that import on demand, so the tools start fast.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def _canonicalize():
    from lstmc.passes.qrnn_canonicalize import QrnnCanonicalizePass

    return QrnnCanonicalizePass


def _fold_constants():
    from lstmc.passes.qrnn_fold_constants import QrnnFoldConstantsPass

    return QrnnFoldConstantsPass


def _legalize_precision():
    from lstmc.passes.qrnn_legalize_precision import QrnnLegalizePrecisionPass

    return QrnnLegalizePrecisionPass


def _to_dataflow():
    from lstmc.passes.qrnn_to_dataflow import QrnnToDataflowPass

    return QrnnToDataflowPass


def _set_folding():
    from lstmc.passes.qrnn_set_folding import QrnnSetFoldingPass

    return QrnnSetFoldingPass


def _size_fifos():
    from lstmc.passes.qrnn_size_fifos import QrnnSizeFifosPass

    return QrnnSizeFifosPass


def _to_hlscpp():
    from lstmc.passes.qrnn_to_hlscpp import QrnnToHlscppPass

    return QrnnToHlscppPass


def _prepare_emission():
    from lstmc.passes.hlscpp_prepare_emission import HlscppPrepareEmissionPass

    return HlscppPrepareEmissionPass


def _lstm_to_hls():
    from lstmc.passes.lstm_to_hls import LstmToHlsPass

    return LstmToHlsPass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    return {
        "qrnn-canonicalize": _canonicalize,
        "qrnn-fold-constants": _fold_constants,
        "qrnn-legalize-precision": _legalize_precision,
        "qrnn-to-dataflow": _to_dataflow,
        "qrnn-set-folding": _set_folding,
        "qrnn-size-fifos": _size_fifos,
        "qrnn-to-hlscpp": _to_hlscpp,
        "hlscpp-prepare-emission": _prepare_emission,
        "lstm-to-hls": _lstm_to_hls,
    }
