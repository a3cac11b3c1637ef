"""The eager function: an ordinary Lambda in the bucket's Region that makes the config's `eager = true` variants
(every format a viewer can be sent) when an original is uploaded, so its first view is a stored object.

Invoked with either event AWS sends for a new object:

    S3 event notification   {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                             "s3": {"bucket": {"name": B}, "object": {"key": K}}}]}  K URL-encoded, '+' for ' '
    EventBridge             {"source": "aws.s3", "detail-type": "Object Created",
                             "detail": {"bucket": {"name": B}, "object": {"key": K}}}  K as stored

Keys under the derived prefix (its own writes, whatever the wiring) and objects of another bucket are ignored, so
no loop can start. For each original: the outputs already stored are skipped (HEAD; a second event for the same
upload makes nothing), the rest are made by `resizer warm`'s code for one original (`make.make_outputs`:
create-only, the settings ids and bytes of a miss). One JSON line per original. When any original failed (a bad
image, S3 trouble), the invocation fails after the others are done: Lambda retries an asynchronous event once
(the template's EventInvokeConfig), then sends it to the on-failure queue; nothing is retried forever.
"""

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

from ..config import Config, load_baked
from ..edge import runtime
from .make import make_outputs, outputs_for
from .origins import Origin, S3Origin


class EagerFailure(Exception):
    """Some originals of the event could not be made: the invocation fails so Lambda retries, then records it."""


def uploads(event: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(bucket, key) of each new object an S3 event notification or an EventBridge event names."""
    if event.get("source") == "aws.s3":
        if event.get("detail-type") == "Object Created":
            detail = event["detail"]
            yield detail["bucket"]["name"], detail["object"]["key"]
        return
    for record in event.get("Records", []):
        if record.get("eventSource") == "aws:s3" and record.get("eventName", "").startswith("ObjectCreated:"):
            yield record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])


class Eager:
    """The eager function for one config and one origin: `Eager(config, origin, backend)(event, context)`."""

    def __init__(self, config: Config, origin: Origin, backend: Any):
        self.config, self.origin, self.backend = config, origin, backend
        self.variants = [v for v in config.variants.values() if v.eager]

    def __call__(self, event: dict[str, Any], context: Any = None) -> dict[str, int]:
        failed = made = 0
        for bucket, key in uploads(event):
            started = time.perf_counter()
            record: dict[str, Any] = {"event": "eager", "bucket": bucket, "key": key}
            if bucket != self.config.bucket:
                record["outcome"] = "other-bucket"
            elif key.startswith(self.config.derived_prefix + "/"):
                record["outcome"] = "derived"  # our own write (or any derived object): never a source
            else:
                wanted = outputs_for(self.config, key, self.variants)
                missing = tuple(out for out in wanted if self.origin.head(out.key) is None)
                outcome = make_outputs(self.config, self.origin, self.backend, key, missing) if missing else None
                record.update(outputs=len(wanted), stored=len(wanted) - len(missing))
                if outcome is None:
                    record["outcome"] = "stored"
                else:
                    made += outcome.made
                    record.update(made=outcome.made, raced=outcome.raced, bytes=outcome.bytes_written)
                    if outcome.warning:
                        record["warning"] = outcome.warning
                    if outcome.failure:
                        failed += 1
                        status, reason, detail = outcome.failure
                        record.update(outcome="error", status=status, error=reason, detail=detail[:300])
                    else:
                        record["outcome"] = "made"
            record["ms"] = runtime.elapsed_ms(started)
            runtime.log(record)
        if failed:
            raise EagerFailure(f"{failed} original(s) failed (their log lines say why)")
        return {"made": made}


def lambda_handler(load_config: Callable[[], Config] = load_baked) -> Callable[[dict[str, Any], Any], Any]:
    """The zip's handler, built at init: the baked config, its bucket (the function runs in its Region), libvips
    with the threads the function's memory buys. An init failure raises: an asynchronous invocation is then
    retried and recorded like any failure (there is no viewer to answer)."""
    from ..image.backends import get_backend

    config = load_config()
    backend = get_backend(config.backend)
    memory_mb = runtime.lambda_memory_mb()
    if memory_mb:
        backend.set_threads(runtime.vcpu_share(memory_mb))
    return Eager(config, S3Origin(config.bucket, config.region, config.derived_prefix), backend)
