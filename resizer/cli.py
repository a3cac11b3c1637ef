"""The `resizer` command. Subcommands import the image libraries they need, so `resizer key` is instant; only the
command named on the command line is registered (all of them for `--help` or a mistake), so `resizer variants`
pays for neither the build machinery nor the entry-point scan (~7 MB of RSS and ~30 ms between them).

Other distributions add commands through the "resizer.commands" entry-point group: the workbench
(workbench/pyproject.toml, `resizer-bench`) registers `bench` there. An entry point rather than a separate
`resizer-bench` script keeps `resizer bench` (Makefile, docs) while this module names no workbench code; a
runtime-only install has no such entry point, so nothing of the workbench is listed or imported.
"""

import argparse
import functools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from .config import BACKENDS, backend_refusal, load_config
from .errors import ConfigError, ResizerError
from .samples import SAMPLE_PHOTOS, sample_photos_dir

if TYPE_CHECKING:
    from .config import Config, Variant
    from .image.backends import Backend
    from .image.pipeline import Result
    from .store.origins import Origin

COMMANDS_GROUP = "resizer.commands"
# What a command's `add_parser` function registers itself with (a string: generic only to type checkers)
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
_T = TypeVar("_T")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="resizer", description="Named image variants for S3 + CloudFront.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    named = argv[0] if argv else None
    for register in [_COMMANDS[named]] if named in _COMMANDS else [*_COMMANDS.values(), *_installed_commands()]:
        register(commands)
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except ConfigError as exc:
        print(f"resizer: invalid config: {exc}", file=sys.stderr)
        return 2


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="variants config (default: the packaged variants.toml)")


def _add_variants(commands: Subparsers) -> None:
    p = commands.add_parser("variants", help="write every variant of every image to a folder",
                            description="Write every variant of every IMAGE as DIR/<stem>-<variant>.<ext>.")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--backend", choices=BACKENDS, help="override the config's backend")
    p.add_argument("--accept", default=None, metavar="HEADER",
                   help="negotiate formats as for this Accept header (default: none -> the original's family)")
    p.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                   help="worker processes, one image each at a time (default: one per CPU; 1 = this process)")
    _config_option(p)
    p.set_defaults(run=_run_variants)


def _run_variants(args: argparse.Namespace) -> int:
    import os
    from functools import partial

    config = _worker_config(args.config)  # a bad config fails here, once, not in every worker
    refused = args.backend and backend_refusal(args.backend, config.variants)
    if refused:
        print(f"resizer: --backend {args.backend}: {config.source}: {refused[0]}: {refused[1]}", file=sys.stderr)
        return 2
    stems: dict[str, Path] = {}
    for image in args.images:
        if image.stem in stems:
            print(f"resizer: {image} and {stems[image.stem]} have the same stem; outputs would collide",
                  file=sys.stderr)
            return 2
        stems[image.stem] = image
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = min(args.jobs or os.cpu_count() or 1, len(args.images))
    # One libvips thread per process, also for a single image: a second thread's buffers took a 12 MP progressive
    # JPEG's run over 100 MB of RSS (benchmarks/memory.py) for nothing but AVIF's encoder; N processes use N CPUs.
    render = partial(_render_image, config_path=args.config, backend=args.backend, accept=args.accept,
                     out=args.out, threads=1)
    progress = partial(_progress, total=len(args.images))
    if jobs > 1:
        # Processes, not threads: decoders and encoders hold the GIL in places. Results come back in input order.
        # "spawn": a forked child would inherit libvips' thread pool mid-state and can hang.
        import multiprocessing  # here: a single stream (one image, --jobs 1) never pays for it
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            per_image = list(progress(pool.map(render, args.images)))
    else:
        per_image = [render(image) for image in progress(args.images)]
    rows = [row for image_rows in per_image for row in image_rows]
    failures = sum(1 for row in rows if row[-1].startswith("error"))
    _print_table(("image", "variant", "format", "size", "bytes", "ms", "note"), rows)
    if failures:
        print(f"resizer: {failures} of {len(args.images)} inputs failed", file=sys.stderr)
    return 1 if failures else 0


def _progress(items: Iterable[_T], total: int) -> Iterator[_T]:
    """`items`, counted on stderr as each is consumed ("3/8 images, 2.1 s"), only when stderr is a terminal, so
    a log or a pipe gets the table alone."""
    if not sys.stderr.isatty():
        yield from items
        return
    started = time.perf_counter()

    def show(done: int) -> None:
        print(f"\r{done}/{total} images, {time.perf_counter() - started:.1f} s", end="", file=sys.stderr, flush=True)

    show(0)
    for done, item in enumerate(items, 1):
        yield item
        show(done)
    print(file=sys.stderr)


# Parsed once per process (the command's own, or each worker): Config holds mappingproxies, which do not pickle.
_worker_config = functools.cache(load_config)


def _render_image(image: Path, *, config_path: str | None, backend: str | None, accept: str | None, out: Path,
                  threads: int) -> list[tuple[str, ...]]:
    """Every variant of one image, written to `out`; its table rows (one error row if it failed)."""
    from .image.backends import get_backend
    from .image.formats import FORMATS
    from .image.sizing import focal_point
    from .store.origins import original_metadata

    config = _worker_config(config_path)
    library = get_backend(backend or config.backend)
    if threads:
        library.set_threads(threads)
    started = time.perf_counter()
    focus, warning = focal_point(original_metadata(image))  # the sidecar a folder origin reads too
    if warning:
        print(f"resizer: {image}: warning: {warning}", file=sys.stderr)
    try:
        outputs = variant_outputs(image.read_bytes(), image.name, config, backend=library, accept=accept,
                                  focus=focus)
    except (ResizerError, OSError) as exc:
        return [(image.name, "-", "-", "-", "-", "-", f"error: {_reason(exc)}")]
    per_image_ms = (time.perf_counter() - started) * 1000 / len(outputs)
    rows: list[tuple[str, ...]] = []
    for variant, result in outputs:
        (out / f"{image.stem}-{variant.name}.{FORMATS[result.format].extension}").write_bytes(result.data)
        rows.append((image.name, variant.name, result.format, f"{result.width}x{result.height}",
                     str(len(result.data)), f"{per_image_ms:.0f}",
                     "" if result.quality is None else f"quality {result.quality} (per image)"))
    return rows


def variant_outputs(data: bytes, name: str, config: "Config", *, backend: "str | Backend | None" = None,
                    accept: str | None = None, focus: tuple[float, float] | None = None
                    ) -> "list[tuple[Variant, Result]]":
    """Every variant of one original as `resizer variants` writes it: each in the format negotiated for `accept`
    (None: the original's family, from `name`), all from one decode, quality searches run, `focus` crops at
    `focus`. The workbench's pictures are cut from exactly these bytes."""
    from .edge.negotiate import choose_format
    from .image.pipeline import render_variants

    requests = [(v, choose_format(accept, v, name)) for v in config.variants.values()]
    results = render_variants(data, requests, backend=backend or config.backend, limits=config.limits, search=True,
                              focus=focus)
    return [(variant, result) for (variant, _), result in zip(requests, results, strict=True)]


def _reason(exc: Exception) -> str:
    if isinstance(exc, ResizerError):
        return f"{exc.status} {exc.reason}" + (f" ({exc})" if str(exc) else "")
    return str(exc)


def _print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _add_info(commands: Subparsers) -> None:
    p = commands.add_parser("info", help="describe an image from its header",
                            description="Format, size, orientation, ICC, alpha and frames of IMAGE.")
    p.add_argument("image", type=Path, metavar="IMAGE")
    p.add_argument("--backend", choices=BACKENDS, default="vips")
    p.set_defaults(run=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from .image.pipeline import inspect

    try:
        info = inspect(args.image.read_bytes(), backend=args.backend)
    except (ResizerError, OSError) as exc:
        print(f"resizer: {args.image}: {_reason(exc)}", file=sys.stderr)
        return 1
    _print_table(("field", "value"), [(k, str(v)) for k, v in info._asdict().items()])
    return 0


def _add_key(commands: Subparsers) -> None:
    p = commands.add_parser("key", help="show how a public path parses and which derived key it maps to",
                            description="Parse PATH (as CloudFront sees it, e.g. /images/test-sm.png).")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--accept", default=None, metavar="HEADER", help="the viewer's Accept header")
    _config_option(p)
    p.set_defaults(run=_run_key)


def _run_key(args: argparse.Namespace) -> int:
    from .edge.negotiate import choose_format
    from .keys import derived_key, parse_public_path

    config = load_config(args.config)
    try:
        request = parse_public_path(args.path, config)
    except ResizerError as exc:
        print(f"malformed: {exc} -> {exc.status}", file=sys.stderr)
        return 2
    rows = [("original key", request.original_key), ("variant", request.variant or "(none: the original)")]
    if request.variant:
        fmt = choose_format(args.accept, config.variant(request.variant), request.original_key)
        rows += [("format", fmt), ("settings id", config.settings_id(request.variant, fmt)),
                 ("derived key", derived_key(config, request.variant, fmt, request.original_key))]
    _print_table(("field", "value"), rows)
    return 0


def _add_serve(commands: Subparsers) -> None:
    p = commands.add_parser(
        "serve", help="a local CloudFront + Lambda@Edge emulator",
        description="Serve http://127.0.0.1:PORT/<key> through the real handlers, a cache and an origin: a folder "
                    "of originals (default: scikit-image's sample photos under images/, when scikit-image is "
                    "installed) or an S3 endpoint.")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--origin", type=Path, metavar="DIR", help="folder of originals (never written to)")
    source.add_argument("--s3-endpoint", metavar="URL", help="S3-protocol endpoint (needs --bucket)")
    p.add_argument("--derived", type=Path, metavar="DIR",
                   help="where a folder origin's derived objects go (default: ~/.cache/resizer/serve/<hash>)")
    p.add_argument("--bucket", metavar="NAME", help="bucket of originals, with --s3-endpoint")
    p.add_argument("--port", type=int, default=8000)
    far = p.add_argument_group("a far origin (default: none, the origin answers at once)",
                               "Each request to the origin (CloudFront's fetch, the origin-response's GET of the "
                               "original and PUT of the variant) waits the latency, then moves its body at the "
                               "bandwidth: a miss as at a regional edge cache far from the bucket.")
    far.add_argument("--origin-latency", metavar="DURATION", help="per request, e.g. 60ms or 0.06s")
    far.add_argument("--origin-bandwidth", metavar="RATE", help="per transfer, e.g. 40MB/s, 5MiB/s or 100Mbit/s")
    far.add_argument("--origin-shield", action="store_true",
                     help="Origin Shield next to the bucket (as `resizer build` deploys it): the fetch, the GET and "
                          "the PUT are near it, and a request to the origin pays the distance once, with its answer")
    _config_option(p)
    p.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace) -> int:
    from .edge.emulator import make_server
    from .store.origin_model import OriginModel

    try:
        origin_model = OriginModel.parse(args.origin_latency, args.origin_bandwidth)
    except ValueError as exc:
        print(f"resizer serve: {exc}", file=sys.stderr)
        return 2
    config = load_config(args.config)
    origin: Origin
    if args.s3_endpoint:
        if not args.bucket:
            print("resizer: --s3-endpoint needs --bucket", file=sys.stderr)
            return 2
        from .store.origins import S3Origin

        config = config.with_bucket(args.bucket)
        origin, where = S3Origin(args.bucket, config.region, config.derived_prefix, args.s3_endpoint), args.s3_endpoint
    else:
        from .store.origins import LocalOrigin

        originals = args.origin or _sample_origin()
        if originals is None:
            print("resizer serve: no folder of originals: pass --origin DIR (the default, scikit-image's sample "
                  "photos, needs scikit-image, which is not installed)", file=sys.stderr)
            return 2
        derived = args.derived or _default_derived_dir(originals)
        origin, where = LocalOrigin(originals, derived, config.derived_prefix), f"{originals} (derived: {derived})"
    server = make_server(origin, config, port=args.port, origin_model=origin_model, origin_shield=args.origin_shield)
    host, port = server.server_address[:2]
    shield = ", behind Origin Shield" if args.origin_shield else ""
    print(f"resizer: serving {where} at http://{host!s}:{port}/  ({origin_model.label} origin{shield}; Ctrl-C "
          "stops)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _cache_dir() -> Path:
    return Path.home() / ".cache" / "resizer" / "serve"


def _default_derived_dir(originals: Path) -> Path:
    import hashlib

    return _cache_dir() / hashlib.sha256(str(originals.resolve()).encode()).hexdigest()[:12] / "derived"


def _sample_origin() -> Path | None:
    """scikit-image's photos copied under images/ (copies: the origin refuses links that leave its folder); None
    without scikit-image."""
    import shutil

    photos = sample_photos_dir()
    if photos is None:
        return None
    folder = _cache_dir() / "samples"
    for name in SAMPLE_PHOTOS:
        target = folder / "images" / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photos / name, target)
    return folder


def _installed_commands() -> Iterator[Callable[[Subparsers], None]]:
    """The `add_parser(subparsers)` functions installed distributions register under COMMANDS_GROUP."""
    import importlib.metadata

    for entry_point in importlib.metadata.entry_points(group=COMMANDS_GROUP):
        yield entry_point.load()


def _from_module(name: str) -> Callable[[Subparsers], None]:
    """The `add_parser` of resizer's module `name`, imported when the command is registered."""

    def register(commands: Subparsers) -> None:
        import importlib

        importlib.import_module(f".{name}", __package__).add_parser(commands)

    return register


_COMMANDS: dict[str, Callable[[Subparsers], None]] = {
    "variants": _add_variants, "info": _add_info, "key": _add_key, "serve": _add_serve,
    "build": _from_module("build"), "purge": _from_module("store.purge"), "warm": _from_module("store.warm"),
    "upload": _from_module("store.eager"),
    "html": _from_module("markup"),
}

if __name__ == "__main__":
    sys.exit(main())
