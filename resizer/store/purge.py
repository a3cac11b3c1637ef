"""`resizer purge`: delete stored variants — of some originals, or every one no config in use still produces.

    resizer purge KEY...                 the variants of these originals (after replacing or deleting them),
                                         then invalidate the printed paths in CloudFront
    resizer purge --stale [--dry-run] [--keep-config FILE]...
                                         every stored variant whose settings id neither the current config
                                         (--config) nor a kept one produces: what a re-tune left behind

    resizer purge images/a.jpg --bucket my-images | xargs aws cloudfront create-invalidation \\
        --distribution-id EDFDVBD6EXAMPLE --paths

`purge KEY` looks each (variant, format) of the current and kept configs up by HEAD, and each config's
intermediate of the original (`<prefix>/~source/<id>/<original>`: deleted, not invalidated, never served); a
variant stored under an id no config in use produces is `--stale`'s to delete, as is an intermediate whose
settings id no config in use produces. `--stale` streams the listing of `<prefix>/` page by page
and deletes in batches, so it runs in constant memory over millions of keys; originals are never touched (the
origin refuses to delete outside the prefix). Keys of the layout before settings ids (`<prefix>/<variant>/
<format>/<original>`) are stale too; any other key under the prefix is reported, never deleted. Stale variants
need no invalidation: no viewer is sent to an id the deployed config does not produce.
"""

import argparse
import sys
from collections.abc import Iterable, Iterator
from urllib.parse import quote

from ..config import VARIANT_NAME, Config, load_config
from ..errors import MalformedKey, ResizerError
from ..image.formats import OUTPUT_FORMATS
from ..keys import (
    INTERMEDIATE_SEGMENT,
    derived_key,
    intermediate_key,
    is_derived_key,
    parse_public_path,
    public_path,
    split_derived_key,
    split_intermediate_key,
    validate_key,
)
from .origin_args import add_origin_arguments, origin_from_args
from .origins import ObjectInfo, Origin

REPORTED_UNPARSED = 20  # unparsed keys printed by name; the rest only counted


def original_key(config: Config, name: str) -> str:
    """A key (`images/a.jpg`) as given, or the original a public path (`/images/a.jpg`) names."""
    key = parse_public_path(name, config).original_key if name.startswith("/") else name
    validate_key(key, config)
    if is_derived_key(config, key):
        raise MalformedKey(f"{key!r} is a derived key: name the original")
    return key


def purge(origin: Origin, configs: list[Config], keys: list[str]) -> tuple[list[str], list[str]]:
    """Delete the stored variants of `keys` under every config of `configs` (the first is the current one):
    (deleted derived keys, public paths to invalidate: each original's own and those of its deleted variants)."""
    deleted, paths = [], []
    for key in keys:
        paths.append("/" + quote(key, safe="/-._~"))
        for config in configs:
            for variant in config.variants:
                for fmt in OUTPUT_FORMATS:
                    derived = derived_key(config, variant, fmt, key)
                    if derived not in deleted and origin.head(derived) is not None:
                        deleted.append(derived)
                        path = public_path(variant, key)
                        if path not in paths:
                            paths.append(path)
            if config.intermediate_id:
                source = intermediate_key(config, key)
                if source not in deleted and origin.head(source) is not None:
                    deleted.append(source)  # never served: nothing to invalidate
    origin.delete_many(deleted)
    return deleted, paths


class StaleReport:
    """What `purge_stale` found, by kind: counts and bytes, and the first unparsed keys by name."""

    KINDS = ("kept", "stale", "legacy", "unparsed")

    def __init__(self) -> None:
        self.counts = dict.fromkeys(self.KINDS, 0)
        self.bytes = dict.fromkeys(self.KINDS, 0)
        self.unparsed: list[str] = []

    def add(self, kind: str, info: ObjectInfo) -> None:
        self.counts[kind] += 1
        self.bytes[kind] += info.size
        if kind == "unparsed" and len(self.unparsed) < REPORTED_UNPARSED:
            self.unparsed.append(info.key)


def produced_ids(configs: Iterable[Config]) -> frozenset[tuple[str, str, str]]:
    """(variant, format, settings id) of every derived key some config of `configs` produces, and
    (`~source`, "", settings id) of its intermediates."""
    return frozenset([(variant, fmt, settings_id) for config in configs
                      for (variant, fmt), settings_id in config.ids.items()]
                     + [(INTERMEDIATE_SEGMENT, "", config.intermediate_id) for config in configs
                        if config.intermediate_id])


def classify(derived_prefix: str, key: str, keep: frozenset[tuple[str, str, str]]) -> str:
    derived = split_derived_key(derived_prefix, key)
    if derived is not None:
        return "kept" if (derived.variant, derived.format, derived.settings_id) in keep else "stale"
    source = split_intermediate_key(derived_prefix, key)
    if source is not None:
        return "kept" if (INTERMEDIATE_SEGMENT, "", source[0]) in keep else "stale"
    parts = key.split("/", 3)
    if len(parts) == 4 and VARIANT_NAME.match(parts[1]) and parts[2] in OUTPUT_FORMATS:
        return "legacy"
    return "unparsed"


def purge_stale(origin: Origin, config: Config, kept_configs: list[Config], dry_run: bool) -> StaleReport:
    """Delete (unless `dry_run`) every stored variant under the prefix that neither `config` nor a kept config
    produces; one listing, streamed, and deletes batched by the origin."""
    keep = produced_ids([config, *kept_configs])
    report = StaleReport()

    def doomed() -> Iterator[str]:
        for info in origin.list(config.derived_prefix + "/"):
            kind = classify(config.derived_prefix, info.key, keep)
            report.add(kind, info)
            if kind in ("stale", "legacy"):
                yield info.key

    if dry_run:
        for _ in doomed():
            pass
    else:
        origin.delete_many(doomed())
    return report


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser("purge", description=__doc__.split("\n")[0],
                              help="delete stored variants of originals, or stale ones; print paths to invalidate")
    p.add_argument("keys", nargs="*", metavar="KEY",
                   help="original key (images/a.jpg) or public path (/images/a.jpg)")
    p.add_argument("--stale", action="store_true",
                   help="delete every stored variant no config in use produces (instead of KEYs)")
    p.add_argument("--dry-run", action="store_true", help="with --stale: count, delete nothing")
    p.add_argument("--keep-config", metavar="FILE", action="append", default=[],
                   help="another config whose variants stay (e.g. the previous one, for a cheap rollback); "
                        "repeatable")
    p.add_argument("--config", metavar="FILE", help="the current variants config (default: the packaged one)")
    add_origin_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.stale == bool(args.keys):
        print("resizer purge: name originals (KEY...) or pass --stale, not both", file=sys.stderr)
        return 2
    if args.dry_run and not args.stale:
        print("resizer purge: --dry-run goes with --stale", file=sys.stderr)
        return 2
    config = load_config(args.config)
    kept = [load_config(path) for path in args.keep_config]
    try:
        origin = origin_from_args(args, config)
        if args.stale:
            return _report_stale(purge_stale(origin, config, kept, args.dry_run), args.dry_run)
        keys = [original_key(config, name) for name in args.keys]
        deleted, paths = purge(origin, [config, *kept], keys)
    except (ResizerError, ValueError) as exc:
        print(f"resizer purge: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    print(f"resizer purge: deleted {len(deleted)} derived objects of {len(keys)} originals; "
          f"invalidate the {len(paths)} paths above", file=sys.stderr)
    return 0


def _report_stale(report: StaleReport, dry_run: bool) -> int:
    verb = "would delete" if dry_run else "deleted"
    labels = {"kept": "kept (a config in use produces them)", "stale": f"{verb} (settings no config produces)",
              "legacy": f"{verb} (layout before settings ids)", "unparsed": "left alone (not a derived key)"}
    for kind in StaleReport.KINDS:
        print(f"{report.counts[kind]:>10} objects {report.bytes[kind] / 1e6:>12.2f} MB  {labels[kind]}")
    for key in report.unparsed:
        print(f"resizer purge: not a derived key, left alone: {key}", file=sys.stderr)
    if report.counts["unparsed"] > len(report.unparsed):
        print(f"resizer purge: ... and {report.counts['unparsed'] - len(report.unparsed)} more", file=sys.stderr)
    return 0
