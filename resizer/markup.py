"""`resizer html`: the `<img srcset>` (or `<picture>`) a page uses to show an original through its variants.

    resizer html images/coffee.png --origin ~/photos --sizes "(min-width: 800px) 50vw, 100vw" --alt "Coffee"

Each srcset entry is a variant's public path with its true width (`NNNw`), computed by the pipeline's own sizing
(`Variant.plan`) from the original's upright size, read from its header: a browser then never fetches a larger
file than the layout needs because it took an `xl` wider than it is. `width`/`height` reserve the space, so the
page does not shift when the image arrives. The format is negotiated at the edge, so one URL serves AVIF, WebP or
the original's family; a `<picture>` with per-type `<source>`s is needed only when the variants listed do not all
offer the same formats.

`responsive_markup` is pure (no image library, no I/O): templates that keep each original's size call it
directly; `markup_for` reads the size from an origin first.
"""

import argparse
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path

from .config import Config, Variant, load_config
from .errors import ResizerError
from .image.formats import FORMATS
from .keys import public_path
from .store.origin_args import add_origin_arguments, origin_from_args
from .store.origins import Origin
from .store.purge import original_key


def chosen_variants(config: Config, names: Sequence[str] | None = None) -> list[Variant]:
    """The variants `names` picks (in the order given), or by default every `inside` variant in config order:
    those keep the original's aspect, so they always make one srcset. ValueError for unknown names or none."""
    if names is None:
        picked = [v for v in config.variants.values() if v.shape().fit == "inside"]
        if not picked:
            raise ValueError(f"{config.source} has no fit = \"inside\" variants: name some with --variants")
        return picked
    unknown = [name for name in names if name not in config.variants]
    if unknown:
        raise ValueError(f"unknown variants: {', '.join(unknown)} (known: {', '.join(config.variants)})")
    if not names:
        raise ValueError("no variants named")
    return [config.variant(name) for name in dict.fromkeys(names)]


def responsive_markup(config: Config, key: str, size: tuple[int, int], variants: Sequence[str] | None = None,
                      *, sizes: str = "100vw", alt: str = "") -> str:
    """The markup showing original `key`, whose upright size is `size`, through `variants` (names; default: the
    `inside` ones). A small original makes several variants the same size (none is enlarged): of variants with
    the same true width only the first is listed. ValueError when the variants' output aspects differ (a srcset
    offers one picture at several widths) or a name is unknown."""
    picked = chosen_variants(config, variants)
    outputs = {v.name: v.plan(*size).size for v in picked}
    _check_one_aspect(outputs)
    ladder = _by_width(picked, outputs)
    largest = max(ladder, key=lambda v: outputs[v.name][0])
    width, height = outputs[largest.name]
    img = _tag("img", src=public_path(largest.name, key), srcset=_srcset(ladder, outputs, key), sizes=sizes,
               width=str(width), height=str(height), alt=alt, loading="lazy", decoding="async")
    if len({frozenset(v.formats) for v in ladder}) == 1:
        return img
    modern = dict.fromkeys(fmt for v in ladder for fmt in v.formats)
    sources = [_tag("source", type=FORMATS[fmt].media_type,
                    srcset=_srcset([v for v in ladder if fmt in v.formats], outputs, key), sizes=sizes)
               for fmt in modern]
    return "\n".join(["<picture>", *(f"  {source}" for source in sources), f"  {img}", "</picture>"])


def markup_for(origin: Origin, config: Config, key: str, variants: Sequence[str] | None = None,
               *, sizes: str = "100vw", alt: str = "") -> str:
    """`responsive_markup` for an original read from `origin` (whole: its header says how it is oriented), sized
    as the pipeline sizes it with the config's backend. `key` may also be a public path (`/images/a.jpg`); a
    derived key is refused (MalformedKey). `functools.partial(markup_for, origin, config)` is a template filter
    `(key, ...) -> str`; OriginalNotFound and the pipeline's other errors propagate."""
    from .image.pipeline import inspect

    key = original_key(config, key)
    info = inspect(origin.get(key, max_bytes=config.limits.max_source_bytes), backend=config.backend)
    return responsive_markup(config, key, info.oriented_size, variants, sizes=sizes, alt=alt)


def _check_one_aspect(outputs: dict[str, tuple[int, int]]) -> None:
    """Refuse sizes that share no aspect to within a pixel of rounding on each side: each (w, h) allows the
    aspects (w-1)/(h+1) .. (w+1)/(h-1), and the variants agree when those ranges overlap."""
    lowest = max((w - 1) / (h + 1) for w, h in outputs.values())
    highest = min((w + 1) / (h - 1) if h > 1 else float("inf") for w, h in outputs.values())
    if lowest > highest:
        shapes = ", ".join(f"{name} {w}x{h} ({w / h:.2f}:1)" for name, (w, h) in outputs.items())
        raise ValueError(f"variants of different aspects cannot share a srcset: {shapes}")


def _by_width(picked: list[Variant], outputs: dict[str, tuple[int, int]]) -> list[Variant]:
    """`picked` without the variants whose true width an earlier one already has."""
    seen: dict[int, Variant] = {}
    for v in picked:
        seen.setdefault(outputs[v.name][0], v)
    return list(seen.values())


def _srcset(ladder: list[Variant], outputs: dict[str, tuple[int, int]], key: str) -> str:
    return ", ".join(f"{public_path(v.name, key)} {outputs[v.name][0]}w" for v in ladder)


def _tag(name: str, **attributes: str) -> str:
    return f"<{name} " + " ".join(f'{attr}="{escape(value, quote=True)}"' for attr, value in attributes.items()) + ">"


def add_parser(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = subparsers.add_parser("html", description=__doc__.split("\n")[0],
                              help="print the <img srcset> (or <picture>) markup of an original's variants")
    p.add_argument("key", metavar="KEY", help="the original's key, without a leading slash (images/a.jpg)")
    p.add_argument("--variants", metavar="LIST",
                   help="comma-separated variant names, of one aspect (default: every fit = \"inside\" variant)")
    p.add_argument("--sizes", default="100vw", help="the sizes attribute (default: 100vw)")
    p.add_argument("--alt", default="", help="the alt text (default: empty, a decorative image)")
    p.add_argument("--config", metavar="FILE", help="variants config (default: the packaged variants.toml)")
    add_origin_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    names = None if args.variants is None else [name.strip() for name in args.variants.split(",") if name.strip()]
    try:
        chosen_variants(config, names)  # refused before any read of the original
        markup = markup_for(_origin(args, config), config, args.key, names, sizes=args.sizes, alt=args.alt)
    except ResizerError as exc:
        print(f"resizer: {args.key}: {exc.status} {exc.reason}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"resizer html: {exc}", file=sys.stderr)
        return 2
    print(markup)
    return 0


def _origin(args: argparse.Namespace, config: Config) -> Origin:
    """The origin the options name. `--origin` needs no `--derived` here: only originals are read, so a folder
    origin gets a derived folder beside the originals that is never opened."""
    if args.origin and not args.derived:
        args = argparse.Namespace(**{**vars(args), "derived": f"{Path(args.origin).resolve()}.derived"})
    return origin_from_args(args, config)
