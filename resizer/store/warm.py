"""`resizer warm`: make every variant × format of the originals under a prefix before any viewer asks for them.

    resizer warm --bucket my-images [--prefix images/] [--formats avif,webp] [--config FILE]
                 [--jobs N | --scheduler tcp://HOST:8786]

After a re-tune (new settings ids) or a bulk upload, every first request would otherwise be a miss at the edge:
a Lambda@Edge run of up to seconds per image. `warm` makes those objects in advance, with the bytes, key,
Content-Type and Cache-Control the edge would have stored (`pipeline.render_each` makes what `transform`
makes; `put_if_absent` as edge/origin.py does), so a viewer's first request is a hit.

What it makes: for each original, each variant in every format a viewer can be sent (the variant's `formats`
and the original's fallback family: `negotiate.servable_formats`), restricted by `--formats`. What is stored
already is skipped, learnt without a key set: the originals listing and each (variant, format, settings id)
listing are in byte order, so one forward merge tells which outputs exist. Work streams to the workers with a
bounded number in flight: memory stays flat however large the library. Writes are create-only, so a run can
be interrupted and run again (a rerun makes nothing new), and a viewer's miss racing a worker keeps whichever
object was stored first (the same bytes).

Each original is fetched and decoded once for all its missing outputs, in a worker: local processes (`--jobs`,
spawned) or an existing Dask cluster (`--scheduler`; Dask is optional). A worker opens its own origin from a
picklable description and parses the config from its text. Every worker runs libvips with the thread count the
origin-response function gets at its default memory (`runtime.vcpu_share(ORIGIN_MEMORY_MB)`: 1), not the
library's default: libaom's AV1 bitstream depends on its thread count (measured: 1 vs 2 threads wrote different
AVIF bytes for every md, lg and xl output of three sample photos), and one thread per process is also what
keeps N workers on N CPUs. A function deployed with more memory (2 vCPU shares from ~2,700 MB) encodes AVIF
with 2 threads: same pixels and settings, other bytes than warm stored; viewers get either, both valid.

A bad original (not an image, corrupt, too big) is counted under the status the edge would answer with and
never stops the run; the exit status is 1 when anything failed.

The summary prices the misses it saved: each output's measured transform time (its share of the decode
included, as a miss pays it) × the origin-response function's default memory (`cfn.ORIGIN_MEMORY_MB`) is the
Lambda GB-s. Measured on this machine's CPUs, not on Lambda's: an estimate.
"""

import argparse
import functools
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Executor, Future, wait
from typing import TYPE_CHECKING, NamedTuple

from ..cfn import ORIGIN_MEMORY_MB
from ..config import Config, load_config, parse_config
from ..errors import ResizerError
from ..image.formats import OUTPUT_FORMATS
from ..keys import derived_key, is_derived_key
from .make import Outcome, Output, make_outputs, outputs_for
from .origin_args import Bucket, LocalFolders, add_origin_arguments, origin_description
from .origins import Origin

if TYPE_CHECKING:
    from ..image.backends import Backend

IN_FLIGHT_PER_WORKER = 2  # originals queued per worker: enough to keep each busy, few enough to bound memory
REPORTED_FAILURES = 20  # failed originals printed by name; the rest only counted
PAST_EVERY_KEY_CHAR = "\U0010ffff"  # sorts after any character a key can hold


class Job(NamedTuple):
    """What every worker needs, picklable: Config holds mappingproxies, so it travels as its text."""

    config_text: str
    config_source: str
    origin: LocalFolders | Bucket


class Task(NamedTuple):
    """One original and its outputs not stored yet."""

    original: str
    missing: tuple[Output, ...]


# --- which outputs are missing ------------------------------------------------------------------------------

def original_keys(origin: Origin, prefix: str, derived_prefix: str) -> Iterator[str]:
    """Keys under `prefix` in byte order, none under the derived prefix: that range is stepped over with a
    second listing rather than read through (it can hold many times more keys than there are originals)."""
    derived = derived_prefix + "/"
    listing = origin.list(prefix)
    for info in listing:
        if info.key.startswith(derived):
            listing = origin.list(prefix, start_after=derived + PAST_EVERY_KEY_CHAR)
            break
        yield info.key
    for info in listing:
        if not info.key.startswith(derived):
            yield info.key


class StoredOriginals:
    """The originals one (variant, format, settings id) is stored for, read forward in step with the originals
    listing: both listings are in byte order, so this merge holds one key, not a set of every key."""

    def __init__(self, origin: Origin, head: str, prefix: str):
        self.keys = (info.key[len(head):] for info in origin.list(head + prefix))
        self.current: str | None = ""  # sorts before every key: nothing read yet

    def has(self, original: str) -> bool:
        while self.current is not None and self.current < original:
            self.current = next(self.keys, None)
        return self.current == original


def plan(origin: Origin, config: Config, prefix: str = "", formats: frozenset[str] | None = None
         ) -> Iterator[tuple[str, tuple[Output, ...], int]]:
    """(original, its missing outputs, how many of its outputs are stored) for each original under `prefix`,
    streamed in listing order; `formats` restricts the servable formats."""
    stored: dict[tuple[str, str], StoredOriginals] = {}

    def is_stored(variant: str, fmt: str, original: str) -> bool:
        if (variant, fmt) not in stored:  # listings start on first use: most originals need few formats
            head = derived_key(config, variant, fmt, "")
            stored[variant, fmt] = StoredOriginals(origin, head, prefix)
        return stored[variant, fmt].has(original)

    for original in original_keys(origin, prefix, config.derived_prefix):
        outputs = outputs_for(config, original, config.variants.values(), formats)
        missing = tuple(out for out in outputs if not is_stored(out.variant, out.format, original))
        yield original, missing, len(outputs) - len(missing)


# --- the work, in a worker ----------------------------------------------------------------------------------

@functools.cache
def _opened(job: Job) -> "tuple[Config, Origin, Backend]":
    """(config, origin, backend) for `job`, once per process: parsing, connecting and loading libvips are
    paid once per worker, not once per original. The backend gets the edge function's threads (module
    docstring)."""
    from ..edge.runtime import vcpu_share
    from ..image.backends import get_backend

    config = parse_config(job.config_text, job.config_source)
    backend = get_backend(config.backend)
    backend.set_threads(vcpu_share(ORIGIN_MEMORY_MB))
    return config, job.origin.open(), backend


def warm_original(task: Task, job: Job) -> Outcome:
    """Fetch and decode `task.original` once, make its missing outputs and store them create-only (make.py)."""
    return make_outputs(*_opened(job), task.original, task.missing)


# --- the run ------------------------------------------------------------------------------------------------

class Summary:
    """Counts as outcomes arrive; a progress line on stderr when it is a terminal."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.originals = self.made = self.stored = self.raced = self.bytes_written = 0
        self.transform_s = 0.0
        self.failures: Counter[tuple[int, str]] = Counter()
        self.reported: list[str] = []
        self.shown = 0.0

    def listed(self, stored: int) -> None:
        self.originals += 1
        self.stored += stored
        self.show()

    def add(self, outcome: Outcome) -> None:
        self.made += outcome.made
        self.raced += outcome.raced
        self.bytes_written += outcome.bytes_written
        self.transform_s += outcome.transform_s
        if outcome.warning:
            print(f"\nwarning: {outcome.original}: {outcome.warning}", file=sys.stderr)
        if outcome.failure:
            status, reason, detail = outcome.failure
            self.failures[status, reason] += 1
            if len(self.reported) < REPORTED_FAILURES:
                self.reported.append(f"{outcome.original}: {status} {reason} ({' '.join(detail.split())[:300]})")
        self.show()

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def show(self, final: bool = False) -> None:
        if not sys.stderr.isatty() or not (final or time.perf_counter() - self.shown > 0.1):
            return
        self.shown = time.perf_counter()
        print(f"\r{self.originals} originals, {self.made} made, {self.stored + self.raced} skipped, "
              f"{self.failed} failed, {self.seconds:.1f} s", end="\n" if final else "", file=sys.stderr, flush=True)

    def lines(self) -> list[str]:
        seconds = max(self.seconds, 1e-9)
        gb_s = self.transform_s * ORIGIN_MEMORY_MB / 1024
        failed = ", ".join(f"{n} × {status} {reason}" for (status, reason), n in sorted(self.failures.items()))
        return [
            f"originals   {self.originals} listed, {self.failed} failed" + (f": {failed}" if failed else ""),
            f"made        {self.made} outputs, {self.bytes_written / 1e6:.2f} MB written",
            f"skipped     {self.stored + self.raced} outputs already stored"
            + (f" ({self.raced} by another writer during the run)" if self.raced else ""),
            f"throughput  {self.originals / seconds:.1f} originals/s, {self.made / seconds:.1f} outputs/s "
            f"({seconds:.1f} s)",
            f"edge cost   {gb_s:.1f} GB-s of Lambda those {self.made} misses would have taken "
            f"({self.transform_s:.1f} s of transform at {ORIGIN_MEMORY_MB} MB)",
        ]


def warm(origin: Origin, config: Config, job: Job, executor: Executor, in_flight: int, prefix: str = "",
         formats: frozenset[str] | None = None) -> Summary:
    """Plan from the listings and hand each original with missing outputs to `executor`, at most `in_flight`
    at a time."""
    summary = Summary()
    pending: set[Future[Outcome]] = set()

    def collect(return_when: str) -> None:
        nonlocal pending
        done, pending = wait(pending, return_when=return_when)
        for future in done:
            summary.add(future.result())

    try:
        for original, missing, stored in plan(origin, config, prefix, formats):
            summary.listed(stored)
            if missing:
                pending.add(executor.submit(warm_original, Task(original, missing), job))
                if len(pending) >= in_flight:
                    collect(FIRST_COMPLETED)
        collect(ALL_COMPLETED)
    finally:
        for future in pending:
            future.cancel()
    summary.show(final=True)
    return summary


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser("warm", description=__doc__.split("\n")[0],
                              help="make every variant of the originals under a prefix ahead of viewers")
    add_origin_arguments(p)
    p.add_argument("--prefix", default="", metavar="P", help="originals whose key starts with P (default: all)")
    p.add_argument("--formats", metavar="LIST",
                   help=f"only these of the servable formats, comma-separated ({','.join(OUTPUT_FORMATS)})")
    p.add_argument("--config", metavar="FILE", help="variants config (default: the packaged one)")
    workers = p.add_mutually_exclusive_group()
    workers.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                         help="local worker processes (default: one per CPU; 1 = this process)")
    workers.add_argument("--scheduler", metavar="ADDRESS",
                         help="run on this Dask cluster's workers instead (needs dask[distributed])")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        formats = _formats(args.formats)
        description = origin_description(args, config)
        if is_derived_key(config, args.prefix):
            raise ValueError(f"--prefix {args.prefix!r} is under the derived prefix: name originals")
    except ValueError as exc:
        print(f"resizer warm: {exc}", file=sys.stderr)
        return 2
    if args.scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            print("resizer warm: --scheduler needs Dask: pip install 'dask[distributed]'", file=sys.stderr)
            return 2
        with Client(args.scheduler) as client:  # type: ignore[no-untyped-call]  # dask has no annotation here
            workers = sum(client.nthreads().values()) or 1
            return _run_on(client.get_executor(), workers, config, description, args.prefix, formats)
    jobs = args.jobs or os.cpu_count() or 1
    # "spawn": a forked child would inherit libvips' thread pool mid-state and can hang (as `resizer variants`).
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    executor = (ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) if jobs > 1
                else ThreadPoolExecutor(1))
    with executor:
        return _run_on(executor, jobs, config, description, args.prefix, formats)


def _formats(text: str | None) -> frozenset[str] | None:
    if text is None:
        return None
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - set(OUTPUT_FORMATS))
    if unknown or not names:
        raise ValueError(f"--formats takes names among {', '.join(OUTPUT_FORMATS)}, got {text!r}")
    return names


def _run_on(executor: Executor, workers: int, config: Config, description: LocalFolders | Bucket, prefix: str,
            formats: frozenset[str] | None) -> int:
    job = Job(config.text, config.source, description)
    try:
        summary = warm(description.open(), config, job, executor, IN_FLIGHT_PER_WORKER * workers, prefix, formats)
    except (ResizerError, ValueError) as exc:  # the listing itself failed, or no bucket was named
        print(f"resizer warm: {exc}", file=sys.stderr)
        return 1
    for line in summary.reported:
        print(f"resizer warm: failed: {line}", file=sys.stderr)
    if summary.failed > len(summary.reported):
        print(f"resizer warm: ... and {summary.failed - len(summary.reported)} more failed", file=sys.stderr)
    print("\n".join(summary.lines()))
    return 1 if summary.failed else 0
