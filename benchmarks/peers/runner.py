"""The run: engines interleaved per original, in rotating order, so drifting machine load hits them alike."""

import os
import shutil
import sys
from pathlib import Path

from benchmarks.peers.engines import Engine, Job
from resizer.image.formats import FORMATS, sniff

WARMUP_PREFIX = "warmup--"


def spread(items: list, n: int) -> list:
    """n items evenly spaced over the list (all of them when n is 0 or too big)."""
    if not n or n >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / max(1, n - 1))] for i in range(n)] if n > 1 else items[:1]


def list_images(folder: Path, limit: int) -> list[Path]:
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and sniff(p.read_bytes()[:4096]) in FORMATS]
    if not files:
        raise SystemExit(f"no images in {folder}")
    return files[:limit] if limit else files


def prepare_originals(files: list[Path], folder: Path) -> None:
    """The origin folder both HTTP servers read: links to the images and a warm-up copy of the first."""
    folder.mkdir()
    for path in files:
        try:
            os.link(path, folder / path.name)
        except OSError:  # another filesystem
            shutil.copy(path, folder / path.name)
    shutil.copy(files[0], folder / (WARMUP_PREFIX + files[0].name))


def run_all(engines: list[Engine], images: list[str], formats: list[str], avif_images: set[str],
            progress: bool) -> tuple[list[Job], list[float]]:
    """Per format, per original, every engine in turn (the order rotating by one each original)."""
    jobs, loads = [], []
    total = sum(len(images) if fmt != "avif" else len(avif_images) for fmt in formats)
    done = 0
    for fmt in formats:
        for engine in engines:  # warm-up: imports, first-call setup, the servers' first requests
            run_one(engine, WARMUP_PREFIX + images[0], fmt)
        todo = [image for image in images if fmt != "avif" or image in avif_images]
        for i, image in enumerate(todo):
            order = engines[i % len(engines):] + engines[:i % len(engines)]
            for engine in order:
                jobs += run_one(engine, image, fmt)
            loads.append(os.getloadavg()[0])
            done += 1
            if progress:
                print(f"\r  {fmt:4} {done}/{total} originals  load {loads[-1]:.1f}", end="", file=sys.stderr,
                      flush=True)
    if progress:
        print(file=sys.stderr)
    return [job for job in jobs if not job.image.startswith(WARMUP_PREFIX)], loads


def run_one(engine: Engine, image: str, fmt: str) -> list[Job]:
    try:
        return engine.run(image, fmt)
    except Exception as exc:  # noqa: BLE001 -- a failing engine is a result, not the end of the run
        return [Job(engine.name, image, "*", 0, fmt, engine.ctx.origin_model.label,
                    error=f"{type(exc).__name__}: {exc}")]

