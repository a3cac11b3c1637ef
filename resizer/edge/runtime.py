"""What both handlers share per container: the packaged config (read once) and the JSON request log line."""

import functools
import json
import sys

from ..config import Config, load_config

_installed: list[Config] = []


@functools.cache
def _load_packaged() -> Config:
    return load_config()


def packaged_config() -> Config:
    """The config baked into the zip (`resizer/variants.toml`, bucket filled in by `resizer build`).

    `resizer serve` installs the config it was given instead (`install_config`): Lambda@Edge never does.
    """
    return _installed[-1] if _installed else _load_packaged()


def install_config(config: Config) -> None:
    _installed[:] = [config]


def log(record: dict) -> None:
    """One JSON line per request on stdout: CloudWatch keeps it in the edge region's log group."""
    sys.stdout.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()
