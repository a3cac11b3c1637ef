"""What both handlers share per container: the packaged config (read once), the CPU share the image library may
use, and the JSON request log line."""

import functools
import json
import os
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


MB_PER_VCPU = 1769  # AWS: "at 1,769 MB, a function has the equivalent of one vCPU (one vCPU-second of credits/s)"


def vcpu_share(memory_mb: int | None) -> int:
    """Threads worth running in a Lambda with `memory_mb`: its vCPU credits, rounded, at least 1, at most the CPUs
    the kernel shows. Lambda shows 2 CPUs from 128 to 3008 MB, so libvips' default (one thread per CPU shown)
    oversubscribes a 1536 MB function's 0.87 vCPU. Measured here (benchmarks/threads.py): on one core 2 threads
    gain nothing and cost AVIF 7 %; on two cores they cut AVIF time by 38 %. None (not in Lambda): every CPU."""
    shown = os.cpu_count() or 1
    if not memory_mb:
        return shown
    return max(1, min(shown, round(memory_mb / MB_PER_VCPU)))


def lambda_memory_mb(context=None) -> int | None:
    """The function's memory setting: from the invocation context, else the runtime's reserved variable (set by
    Lambda itself, so present at Lambda@Edge too, where users cannot set variables). None outside Lambda."""
    memory = getattr(context, "memory_limit_in_mb", None) or os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    return int(memory) if memory else None


def log(record: dict) -> None:
    """One JSON line per request on stdout: CloudWatch keeps it in the edge region's log group."""
    sys.stdout.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()
