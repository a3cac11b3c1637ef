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

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from ..config import Config, load_baked
from ..edge import runtime
from ..errors import ResizerError
from .make import make_outputs, outputs_for
from .origins import Origin, S3Origin

if TYPE_CHECKING:
    import argparse


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
        records = [self.made_for(bucket, key) for bucket, key in uploads(event)]
        failed = sum(record["outcome"] == "error" for record in records)
        if failed:
            raise EagerFailure(f"{failed} original(s) failed (their log lines say why)")
        return {"made": sum(record.get("made", 0) for record in records)}

    def made_for(self, bucket: str, key: str) -> dict[str, Any]:
        """Make what is missing of one uploaded object's eager outputs; its log line (also logged)."""
        started = time.perf_counter()
        record: dict[str, Any] = {"event": "eager", "bucket": bucket, "key": key}
        if bucket != self.config.bucket:
            record["outcome"] = "other-bucket"
        elif key.startswith(self.config.derived_prefix + "/"):
            record["outcome"] = "derived"  # our own write (or any derived object): never a source
        else:
            wanted = outputs_for(self.config, key, self.variants)
            missing = tuple(out for out in wanted if self.origin.head(out.key) is None)
            record.update(outputs=len(wanted), stored=len(wanted) - len(missing), outcome="stored")
            if missing:
                outcome = make_outputs(self.config, self.origin, self.backend, key, missing)
                record.update(made=outcome.made, raced=outcome.raced, bytes=outcome.bytes_written, outcome="made")
                if outcome.warning:
                    record["warning"] = outcome.warning
                if outcome.failure:
                    status, reason, detail = outcome.failure
                    record.update(outcome="error", status=status, error=reason, detail=detail[:300])
        record["ms"] = runtime.elapsed_ms(started)
        runtime.log(record)
        return record


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


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser(
        "upload", help="add an original to a folder origin and make its eager variants, as the eager function does",
        description="Copy FILE into the folder of originals as KEY (never over an existing one), with an optional "
                    "focal point in its sidecar, then run the eager function's code for it: what an upload to the "
                    "bucket sets off in AWS (docs/EDGE.md, \"Eager variants on upload\").")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("key", metavar="KEY", help="the original's key, e.g. images/cat.jpg")
    p.add_argument("--origin", type=Path, required=True, metavar="DIR", help="folder of originals")
    p.add_argument("--derived", type=Path, required=True, metavar="DIR", help="folder of derived objects")
    p.add_argument("--focus", metavar="X,Y", help="focal point stored with it (fractions of the upright image)")
    p.add_argument("--config", metavar="FILE", help="variants config (default: the packaged one)")
    p.set_defaults(run=run_upload)


def run_upload(args: "argparse.Namespace") -> int:
    import json
    import os

    from ..config import load_config
    from ..image.backends import get_backend
    from ..image.sizing import focal_point
    from ..keys import check_plain_key
    from .origins import ORIGINAL_METADATA_SUFFIX, LocalOrigin

    config = load_config(args.config)
    origin = LocalOrigin(args.origin, args.derived, config.derived_prefix)
    try:
        check_plain_key(args.key)
        if args.key.startswith(config.derived_prefix + "/") or args.key.endswith(ORIGINAL_METADATA_SUFFIX):
            raise ValueError(f"{args.key!r} is not an original's key")
        problem = None if args.focus is None else focal_point({"focus": args.focus})[1]
        if problem:
            raise ValueError(problem)
        data = args.file.read_bytes()
    except (ValueError, ResizerError, OSError) as exc:
        print(f"resizer upload: {exc}", file=sys.stderr)
        return 2
    target = Path(args.origin, args.key)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "xb") as f:  # create-only: nothing a user stored is overwritten
            f.write(data)
    except FileExistsError:
        print(f"resizer upload: {args.key} exists in {args.origin}: not replaced", file=sys.stderr)
        return 1
    if args.focus is not None:
        sidecar = target.with_name(target.name + ORIGINAL_METADATA_SUFFIX)
        sidecar.write_text(json.dumps({"focus": args.focus}), encoding="utf-8")
    backend = get_backend(config.backend)
    backend.set_threads(os.cpu_count() or 1)
    if not any(v.eager for v in config.variants.values()):
        print("resizer upload: no variant of the config is eager: stored the original only", file=sys.stderr)
    record = Eager(config, origin, backend).made_for(config.bucket, args.key)
    return 1 if record["outcome"] == "error" else 0
