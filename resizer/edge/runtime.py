"""What both handlers share per container: the CPU share the image library may use, the JSON request log line,
and `Deferred`, which keeps a failed init from failing the Lambda."""

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from .events import CloudFrontEvent, EventDict, text_response

Handler = Callable[[EventDict, Any], EventDict]  # (event, context) -> what the function returns to CloudFront

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


def lambda_memory_mb(context: Any = None) -> int | None:
    """The function's memory setting: from the invocation context, else the runtime's reserved variable (set by
    Lambda itself, so present at Lambda@Edge too, where users cannot set variables). None outside Lambda."""
    memory = getattr(context, "memory_limit_in_mb", None) or os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    return int(memory) if memory else None


def log(record: dict[str, Any]) -> None:
    """One JSON line per request on stdout: CloudWatch keeps it in the edge region's log group."""
    sys.stdout.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


class Deferred:
    """A handler built by `build()` at init, or, when that fails (a bad baked config, no bucket), again at each
    request until it succeeds; meanwhile every request gets a logged 500. An exception at init would instead make
    CloudFront answer its own 502 page for the container's whole life."""

    def __init__(self, build: Callable[[], Handler], event_name: str):
        self._build, self._event_name = build, event_name
        self._handler: Handler | None = None
        self._error: Exception | None = None
        self._try_build()

    def _try_build(self) -> None:
        try:
            self._handler, self._error = self._build(), None
        except Exception as exc:  # noqa: BLE001 - see the class docstring
            self._error = exc

    def __call__(self, event: EventDict, context: Any = None) -> EventDict:
        if self._handler is None:
            self._try_build()
        if self._handler is not None:
            return self._handler(event, context)
        cf = CloudFrontEvent(event)
        log({"requestId": cf.request_id, "event": self._event_name, "uri": cf.request.uri, "outcome": "error",
             "status": 500, "error": type(self._error).__name__, "detail": str(self._error)[:300]})
        return text_response(500, "Internal error")


def elapsed_ms(since: float) -> float:
    """Milliseconds since a `time.perf_counter()` reading, rounded for a log line or a Server-Timing entry."""
    return round((time.perf_counter() - since) * 1000, 2)
