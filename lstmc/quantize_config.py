"""`lstmc quantize`: the quantization config (JSON keys, defaults, per-node overrides) and its checks."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, fields, replace
from typing import Optional

from lstmc.errors import LstmcError


# ------------------------------------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class QuantConfig:
    """The quantization choices for one LSTM or GRU node (the JSON keys, with their defaults).
    For a GRU, ``cell_state_bits`` is the width of the state-update products (1 - z) * n and z * h."""

    weight_bits: int = 8
    weight_per_channel: bool = True
    io_bits: int = 8
    acc_bits: int = 16
    sigmoid_bits: int = 8
    tanh_bits: int = 8
    cell_state_bits: int = 16
    calibration: str = "max"
    power_of_two: bool = False

    @property
    def percentile(self) -> Optional[float]:
        return None if self.calibration == "max" else float(self.calibration.split(":", 1)[1])


CONFIG_KEYS = tuple(f.name for f in fields(QuantConfig))
BIT_KEYS = tuple(k for k in CONFIG_KEYS if k.endswith("_bits"))
_BOOL_KEYS = ("weight_per_channel", "power_of_two")
MIN_BITS, MAX_BITS = 2, 16


def _check_keys(values: dict, where: str) -> dict:
    if not isinstance(values, dict):
        raise LstmcError(f"{where} must be a JSON object, got {type(values).__name__}")
    out = {}
    for key, value in values.items():
        label = f"{where}: key '{key}'" if where != "config" else f"config key '{key}'"
        if key not in CONFIG_KEYS:
            known = CONFIG_KEYS + (("nodes",) if where == "config" else ())
            raise LstmcError(f"{label} is unknown (known keys: {', '.join(known)})")
        if key in BIT_KEYS:
            if isinstance(value, bool) or not isinstance(value, int) or not MIN_BITS <= value <= MAX_BITS:
                raise LstmcError(
                    f"{label} must be an integer number of bits in {MIN_BITS}..{MAX_BITS} "
                    f"(what ONNX QuantizeLinear can express), got {json.dumps(value)}"
                )
        elif key in _BOOL_KEYS:
            if not isinstance(value, bool):
                raise LstmcError(f"{label} must be true or false, got {json.dumps(value)}")
        elif key == "calibration":
            ok = isinstance(value, str) and (value == "max" or re.fullmatch(r"percentile:\d+(\.\d*)?", value))
            if ok and value != "max" and not 0 < float(value.split(":", 1)[1]) <= 100:
                ok = False
            if not ok:
                raise LstmcError(
                    f'{label} must be "max" or "percentile:P" with 0 < P <= 100 '
                    f'(e.g. "percentile:99.99"), got {json.dumps(value)}'
                )
        out[key] = value
    return out


def parse_config(config: Optional[dict], node_names: list[str]) -> dict[str, QuantConfig]:
    """Validate a config dict; return the effective QuantConfig of every LSTM/GRU node (by node name)."""
    if config is not None and not isinstance(config, dict):
        raise LstmcError(f"config must be a JSON object, got {type(config).__name__}")
    config = dict(config or {})
    nodes = config.pop("nodes", {})
    base = QuantConfig(**_check_keys(config, "config"))
    if not isinstance(nodes, dict):
        raise LstmcError(f"config key 'nodes' must be an object keyed by LSTM/GRU node name, got {json.dumps(nodes)}")
    unknown = [n for n in nodes if n not in node_names]
    if unknown:
        raise LstmcError(
            f"config key 'nodes': '{unknown[0]}' is not an LSTM or GRU node of the model "
            f"(LSTM/GRU nodes: {', '.join(repr(n) for n in node_names) or 'none'})"
        )
    per_node = {}
    for name in node_names:
        override = nodes.get(name, {})
        if isinstance(override, dict) and "nodes" in override:
            raise LstmcError(f"config key 'nodes.{name}': key 'nodes' cannot be nested")
        per_node[name] = replace(base, **_check_keys(override, f"config key 'nodes.{name}'"))
    return per_node


def load_config(path: Optional[str]) -> dict:
    """Read a JSON config file (None -> {}); errors name the file."""
    if path is None:
        return {}
    if not os.path.exists(path):
        raise LstmcError(f"{path}: no such file")
    try:
        with open(path) as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LstmcError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(value, dict):
        raise LstmcError(f"{path}: the config must be a JSON object, got {type(value).__name__}")
    return value
