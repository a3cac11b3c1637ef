"""A far origin, for the emulator and the benchmarks: a miss at the edge pays round trips to the bucket.

origin-response runs at a regional edge cache, and the original travels there from the bucket's region: each
request to the origin waits a round trip (`latency_s`), and each body moves at the link's rate (`bytes_per_s`).
`OriginModel.delay(n)` is that cost for a request carrying n bytes; `ShapedOrigin` charges it to an `Origin`.

Not part of the Lambda zips (resizer/build.py lists their modules): only the emulator and the benchmarks model.
"""

import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from .origins import ObjectInfo, Origin

_QUANTITY = re.compile(r"\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*([A-Za-z/]*)\s*")
_SECONDS = {"s": 1.0, "ms": 1e-3}
_PREFIXES = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
_BYTES_PER_UNIT = {"B/s": 1, "bit/s": 1 / 8}


class OriginModel(NamedTuple):
    """Per-request latency and transfer rate of the origin; the defaults (no delay) are the local origin."""

    latency_s: float = 0.0
    bytes_per_s: float = math.inf

    @classmethod
    def parse(cls, latency: str | None, bandwidth: str | None) -> "OriginModel":
        """From command-line values ("60ms", "0.06s"; "40MB/s", "5MiB/s", "100Mbit/s"); None leaves a part off.
        ValueError names the value and the accepted forms."""
        return cls(0.0 if latency is None else parse_latency(latency),
                   math.inf if bandwidth is None else parse_bandwidth(bandwidth))

    @property
    def is_local(self) -> bool:
        return self.latency_s == 0 and self.bytes_per_s == math.inf

    @property
    def label(self) -> str:
        """How reports name it: "local", or "far: 60 ms, 40 MB/s"."""
        if self.is_local:
            return "local"
        parts = [f"{round(self.latency_s * 1000, 2):g} ms"] if self.latency_s else []
        parts += [f"{round(self.bytes_per_s / 1e6, 2):g} MB/s"] if self.bytes_per_s != math.inf else []
        return "far: " + ", ".join(parts)

    def delay(self, n_bytes: int) -> float:
        """Seconds one request carrying `n_bytes` (either way) takes beyond local work: a round trip, then the
        body at the link's rate."""
        return self.latency_s + n_bytes / self.bytes_per_s

    def wait(self, n_bytes: int) -> None:
        """Sleep `delay(n_bytes)`: what the caller would have waited for a far origin."""
        if not self.is_local:
            time.sleep(self.delay(n_bytes))


LOCAL = OriginModel()  # no delay: the origin next to the edge (the emulator's default)


def parse_latency(text: str) -> float:
    """Seconds from "60ms" or "0.06s"."""
    number, unit = _split(text, "latency", "60ms or 0.06s")
    if unit not in _SECONDS:
        raise ValueError(f"latency {text!r}: give a unit, ms or s (e.g. 60ms or 0.06s)")
    return number * _SECONDS[unit]


def parse_bandwidth(text: str) -> float:
    """Bytes per second from "40MB/s", "5MiB/s" or "100Mbit/s" (k/M/G decimal, Ki/Mi/Gi binary)."""
    number, unit = _split(text, "bandwidth", "40MB/s, 5MiB/s or 100Mbit/s")
    per = next(((prefix, base) for base in _BYTES_PER_UNIT for prefix in _PREFIXES if prefix + base == unit), None)
    if per is None:
        raise ValueError(f"bandwidth {text!r}: give a unit, B/s or bit/s with an optional k, M, G, Ki, Mi or Gi "
                         "(e.g. 40MB/s, 5MiB/s or 100Mbit/s)")
    if number <= 0:
        raise ValueError(f"bandwidth {text!r}: must be more than 0")
    return number * _PREFIXES[per[0]] * _BYTES_PER_UNIT[per[1]]


def _split(text: str, what: str, examples: str) -> tuple[float, str]:
    match = _QUANTITY.fullmatch(text)
    if not match:
        raise ValueError(f"{what} {text!r}: not a number with a unit (e.g. {examples})")
    return float(match.group(1)), match.group(2)


class ShapedOrigin:
    """An `Origin` whose every request pays `model`: one round trip each (a listing or a batched delete counts
    as one), the body's bytes at the link's rate (a GET's after reading, a PUT's before writing; a failed request
    pays its round trip too)."""

    def __init__(self, origin: Origin, model: OriginModel):
        self.origin, self.model = origin, model
        self.derived_prefix = origin.derived_prefix

    def get(self, key: str, max_bytes: int | None = None) -> bytes:
        size = 0
        try:
            data = self.origin.get(key, max_bytes)
            size = len(data)
            return data
        finally:
            self.model.wait(size)

    def get_object(self, key: str, max_bytes: int | None = None) -> tuple[bytes, ObjectInfo]:
        size = 0
        try:
            data, info = self.origin.get_object(key, max_bytes)
            size = len(data)
            return data, info
        finally:
            self.model.wait(size)

    def head(self, key: str) -> ObjectInfo | None:
        self.model.wait(0)
        return self.origin.head(key)

    def put_if_absent(self, key: str, data: bytes, content_type: str, cache_control: str,
                      metadata: Mapping[str, str] | None = None) -> bool:
        self.model.wait(len(data))
        return self.origin.put_if_absent(key, data, content_type, cache_control, metadata)

    def delete_many(self, keys: Iterable[str]) -> int:
        self.model.wait(0)
        return self.origin.delete_many(keys)

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        self.model.wait(0)
        return self.origin.list(prefix, start_after)
