"""`config/<env>.yaml` → `ControlPlaneConfig`. YAML is imported only here, and only when a file is
read: the Lambdas import the layer without ever paying for it."""

from __future__ import annotations

from pathlib import Path

from controlplane.config.model import ControlPlaneConfig
from controlplane.config.sections import parse_config
from controlplane.errors import ConfigError


def load_config(path: str | Path) -> ControlPlaneConfig:
    source = Path(path)
    import yaml  # a loader's dependency only

    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"{source}: no such config file") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from error
    try:
        return parse_config(raw)
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from error
