"""The evidence in pictures: per variant x format the chosen config ships, its worst images (the ones that set the
p10) and a typical one, as crops of the reference, the shipped output and the output one quality step cheaper
(and, where the choice changed the encoder settings, the input config's output), cut where the local error of
the shipped output is largest, with that error as a heat map.

Honest by construction: every output crop is cut from the decode of exactly the bytes `resizer variants --config
<that config> --accept <format>` writes for the image (`resizer.cli.variant_outputs`), stored as lossless PNG; the
reference is the one the metric uses (`metrics.reference`); the local error is 1 - SSIM's map on luma
(`metrics.ssim_map`). Crops, not whole images: a quick run's pictures stay well under a megabyte.
"""

import html
import io
import math
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from resizer.cli import variant_outputs
from resizer.config import Config, parse_config

from . import metrics
from .encoder_choice import quality_text
from .paths import RunDir
from .sweep import settings_text, with_quality

CROP = 96  # px of output shown at 1:1 (the whole output when it is smaller)
ZOOM = 3  # the magnified view, nearest neighbour (CSS `image-rendering: pixelated`: no smoothing)
WORST = 2  # worst images shown per variant x format (fewer when a tenth of the images is fewer)
ACCEPT = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}
TABLE = "pictures"
FOLDER = "pictures"
TILES = ("reference", "shipped", "cheaper", "input", "error")
TILE_TITLES = {"reference": "reference (what the metric compares with)", "shipped": "shipped",
               "cheaper": "one step cheaper", "input": "input config (before the choice)",
               "error": "local error of the shipped output (1 - SSIM map; brighter = worse)"}


@dataclass(frozen=True)
class Pair:
    """One variant x format the chosen config ships, as the quality table knows it."""

    variant: str
    format: str
    settings: str
    quality: int
    cheaper: int | None  # the next lower quality the sweep tried with the same settings
    rows: pd.DataFrame  # the shipped point's sweep rows, one per image


def shipped_pairs(quality: pd.DataFrame, config: Config, metric: str = "s2_equiv") -> list[Pair]:
    """Every (variant, ladder format) of `config` whose shipped point (backend, encoder set, quality) the sweep
    measured."""
    pairs = []
    for name, variant in config.variants.items():
        for fmt in variant.formats:
            enc = variant.encoder(fmt)
            mine = quality[(quality.variant == name) & (quality.format == fmt) & (quality.backend == config.backend)
                           & quality[metric].notna()]
            if "settings" in mine:
                mine = mine[mine.settings == settings_text(enc)]
            rows = mine[mine.quality == enc.quality]
            if rows.empty or enc.quality is None:
                continue
            lower = sorted(q for q in mine.quality.dropna().unique() if q < enc.quality)
            pairs.append(Pair(name, fmt, settings_text(enc), int(enc.quality), int(lower[-1]) if lower else None,
                              rows))
    return pairs


def examples(pair: Pair, metric: str = "s2_equiv") -> list[tuple[str, str, float]]:
    """(role, file, table score): the images with the lowest scores (those at or below the p10: at most WORST,
    at least one), then the typical one (the median-ranked image not already shown)."""
    ranked = pair.rows.sort_values([metric, "file"]).reset_index(drop=True)
    n_worst = max(1, min(WORST, math.ceil(0.1 * len(ranked))))
    picks = [(f"worst {i + 1}", i) for i in range(n_worst)]
    if len(ranked) > n_worst:
        picks.append(("typical", max(n_worst, len(ranked) // 2)))
    return [(role, ranked.file[i], float(ranked[metric][i])) for role, i in picks]


def with_encoder(config: Config, variant: str, fmt: str, quality: int) -> Config:
    """`config` with one variant's quality for one format replaced (what "one step cheaper" would ship)."""
    variants = dict(config.variants)
    variants[variant] = with_quality(config.variant(variant), fmt, quality)
    return config._replace(variants=MappingProxyType(variants))


def render(data: bytes, name: str, config: Config, variant: str, fmt: str):
    """The bytes `resizer variants` writes for `variant` of this original with `accept` naming `fmt`."""
    outputs = dict((v.name, r) for v, r in variant_outputs(data, name, config, accept=ACCEPT[fmt]))
    return outputs[variant]


def worst_window(error: np.ndarray, size: int) -> tuple[int, int]:
    """(x, y) of the size x size window with the largest mean error (top-left corner, inside the image)."""
    h, w = error.shape
    mean = ndimage.uniform_filter(error.astype(np.float64), size=size, mode="nearest")
    half = size // 2
    inner = mean[half:h - (size - half) + 1, half:w - (size - half) + 1]
    y, x = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(x), int(y)


def heat(error: np.ndarray) -> np.ndarray:
    """The error map as an RGB image (magma; 0 black .. 0.5 and more white-hot)."""
    from matplotlib import colormaps

    return (colormaps["magma"](np.clip(error / 0.5, 0, 1))[..., :3] * 255).round().astype(np.uint8)


def _png(array: np.ndarray, path: Path) -> int:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", optimize=True)
    path.write_bytes(buffer.getvalue())
    return len(buffer.getvalue())


def make_pictures(run: RunDir, root: str | Path, quality: pd.DataFrame, chosen_text: str,
                  input_text: str | None = None, metric: str = "s2_equiv") -> pd.DataFrame:
    """Write the crops of every shipped pair's examples under <run>/pictures/ and their table (data/pictures):
    one row per tile with the image, variant, format, role, tile, settings, quality, bytes, score (the shown
    output's, computed here), the table's score, the window and the PNG's path."""
    chosen = parse_config(chosen_text)
    before = parse_config(input_text) if input_text else None
    folder = run.path / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for pair in shipped_pairs(quality, chosen, metric):
        input_enc = before.variant(pair.variant).encoder(pair.format) if before and pair.variant in \
            before.variants else None
        changed_set = input_enc is not None and settings_text(input_enc) != pair.settings
        for role, file, table_score in examples(pair, metric):
            path = Path(root) / file
            data = path.read_bytes()
            configs = {"shipped": (chosen, pair.settings, pair.quality)}
            if pair.cheaper is not None:
                configs["cheaper"] = (with_encoder(chosen, pair.variant, pair.format, pair.cheaper), pair.settings,
                                      pair.cheaper)
            if changed_set:
                configs["input"] = (before, settings_text(input_enc), input_enc.quality)
            outputs = {k: render(data, file, c, pair.variant, pair.format) for k, (c, _, _) in configs.items()}
            shipped = outputs["shipped"]
            reference = metrics.reference(metrics.load_source(data), shipped.width, shipped.height,
                                          window=shipped.window)
            decoded = {k: metrics.decode_rgb(r.data) for k, r in outputs.items()}
            error = 1 - metrics.ssim_map(reference, decoded["shipped"])
            size = min(CROP, shipped.width, shipped.height)
            x, y = worst_window(error, size)
            window = (slice(y, y + size), slice(x, x + size))
            tiles = {"reference": (reference, None), **{k: (decoded[k], outputs[k]) for k in outputs},
                     "error": (heat(error), None)}
            stem = f"{Path(file).stem}-{pair.variant}-{pair.format}"
            for tile, (array, result) in tiles.items():
                target = folder / f"{stem}-{tile}.png"
                _png(np.ascontiguousarray(array[window]), target)
                settings, q = (configs[tile][1], configs[tile][2]) if tile in configs else (pair.settings, None)
                score = (float(metrics.equivalent_score(*metrics.quality_score(reference, decoded[tile])))
                         if result is not None else np.nan)
                rows.append(dict(variant=pair.variant, format=pair.format, role=role, file=file, tile=tile,
                                 settings=settings, quality=q, bytes=len(result.data) if result else np.nan,
                                 score=score, table_score=table_score, x=x, y=y, size=size,
                                 width=shipped.width, height=shipped.height,
                                 path=target.relative_to(run.path).as_posix(), source=str(path.resolve())))
    table = pd.DataFrame(rows, columns=PICTURE_COLUMNS).astype({"quality": "Int64"})
    run.write_table(table, TABLE)
    return table


PICTURE_COLUMNS = ["variant", "format", "role", "file", "tile", "settings", "quality", "bytes", "score",
                   "table_score", "x", "y", "size", "width", "height", "path", "source"]


def anchor(variant: str, fmt: str) -> str:
    return f"pictures-{variant}-{fmt}"


def label(r) -> str:
    """What a tile shows, in words: image, variant, format, tile, settings, quality, bytes, score."""
    what = TILE_TITLES[r.tile]
    if r.tile in ("reference", "error"):
        return f"{Path(r.file).stem} · {r.variant} {r.format} · {what}"
    return (f"{Path(r.file).stem} · {r.variant} {r.format} · {what}: {r.settings} {quality_text(r.quality)} · "
            f"{int(r.bytes):,} bytes · SSIMULACRA2 {r.score:.1f}")


def pictures_html(run: RunDir) -> str:
    """The report's pictures section: per variant x format, each example as a row of tiles at 1:1, then the same
    tiles magnified ZOOM x without smoothing; each labelled in its alt, title and caption."""
    if not run.has_table(TABLE):
        return ""
    e = html.escape
    table = run.read_table(TABLE)
    out = ["<section id='pictures'><h2>What you ship, in pictures</h2>",
           f"<p>Per variant &times; format: the images that set the p10 and a typical one, cropped ({CROP} px) where "
           "the shipped output's local error is largest; reference, shipped, one quality step cheaper (and the input "
           f"config's output where the encoder settings changed), then the same {ZOOM}&times; without smoothing. "
           f"Every output is cut from the bytes <code>resizer variants --config variants.toml</code> writes "
           f"(<a href='data/{TABLE}.csv'>table</a>).</p>"]
    for (variant, fmt), pair in table.groupby(["variant", "format"], sort=False):
        out.append(f"<section id='{anchor(variant, fmt)}'><h3>{e(variant)} {e(fmt)}</h3>")
        for (role, file), example in pair.groupby(["role", "file"], sort=False):
            shipped = example[example.tile == "shipped"].iloc[0]
            out.append(f"<figure class='example'><figcaption><b>{e(role)}</b>: {e(Path(file).stem)} "
                       f"({e(file)}; quality table score {shipped.table_score:.1f}; window {shipped['size']} px at "
                       f"{shipped.x},{shipped.y} of {shipped.width}&times;{shipped.height})</figcaption>")
            for scale in (1, ZOOM):
                out.append("<div class='tiles'>")
                for r in example.itertuples():
                    text = e(label(r))
                    px = r.size * scale
                    out.append(f"<figure><img src='{e(r.path)}' alt='{text}' title='{text}' width='{px}' "
                               f"height='{px}' class='pixelated'><figcaption>{text}"
                               f"{'' if scale == 1 else f' ({ZOOM}&times;)'}</figcaption></figure>")
                out.append("</div>")
            out.append("</figure>")
        out.append("</section>")
    out.append("</section>")
    return "\n".join(out)


def pictures_links(run: RunDir) -> str:
    """One line for the decision: a link to each variant x format's pictures."""
    if not run.has_table(TABLE):
        return ""
    pairs = run.read_table(TABLE)[["variant", "format"]].drop_duplicates()
    links = ", ".join(f"<a href='#{anchor(r.variant, r.format)}'>{html.escape(r.variant)} {html.escape(r.format)}</a>"
                      for r in pairs.itertuples())
    return f"<p>See what each ships on its worst images, and one step cheaper: {links}.</p>"


def compare_html(run: RunDir, earlier: Path, changed: pd.DataFrame) -> str:
    """For each variant x format whose shipped settings or quality differ from the earlier run's (`changed`:
    decision.encoders_compared rows), this run's examples on the same crop under both runs' configs (the earlier
    run's output rendered now, from its variants.toml, and written beside this run's pictures)."""
    if not run.has_table(TABLE) or changed.empty:
        return ""
    e = html.escape
    tiles = run.read_table(TABLE)
    theirs = parse_config((earlier / "variants.toml").read_text(encoding="utf-8"))
    out = ["<section id='compare-pictures'><h3>The same crops under both runs' settings</h3>"]
    for r in changed.itertuples():
        shipped = tiles[(tiles.variant == r.variant) & (tiles.format == r.format) & (tiles.tile == "shipped")]
        if shipped.empty or r.variant not in theirs.variants or r.format not in theirs.variant(r.variant).formats:
            continue
        out.append(f"<h4>{e(r.variant)} {e(r.format)}: {e(r.earlier)} &rarr; {e(r.this)}</h4>")
        for t in shipped.itertuples():
            result = render(Path(t.source).read_bytes(), t.file, theirs, r.variant, r.format)
            crop = metrics.decode_rgb(result.data)[t.y:t.y + t.size, t.x:t.x + t.size]
            target = run.path / FOLDER / f"compare-{Path(t.file).stem}-{r.variant}-{r.format}-earlier.png"
            _png(np.ascontiguousarray(crop), target)
            sides = [(f"{FOLDER}/{target.name}", f"earlier run: {r.earlier} · {len(result.data):,} bytes"),
                     (t.path, f"this run: {r.this} · {int(t.bytes):,} bytes · SSIMULACRA2 {t.score:.1f}")]
            out.append("<div class='tiles'>")
            for path, text in sides:
                text = e(f"{Path(t.file).stem} · {r.variant} {r.format} · {t.role} · {text}")
                out.append(f"<figure><img src='{e(path)}' alt='{text}' title='{text}' width='{t.size * ZOOM}' "
                           f"height='{t.size * ZOOM}' class='pixelated'><figcaption>{text}</figcaption></figure>")
            out.append("</div>")
    out.append("</section>")
    return "\n".join(out)
