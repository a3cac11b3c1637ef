"""The variants config: one TOML file, one loader, used by the CLI, the handlers and the build.

Every problem is a `ConfigError` naming the file, the field and what is wrong with it.
"""

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, NoReturn, TypeVar

from .errors import ConfigError
from .image.formats import OUTPUT_FORMATS, formats_written_for
from .image.sizing import FALLBACKS, FITS, GRAVITIES, SMART_GRAVITIES, Geometry, Plan, plan

DEFAULT_CONFIG_PATH = Path(__file__).with_name("variants.toml")
BACKENDS = ("vips", "pillow")  # the one list of image backends (resizer/image/backends/<name>.py)
VARIANT_NAME = re.compile(r"^[A-Za-z0-9_]{1,32}$")
PREFIX = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,62}$")
EFFORT_RANGE = {"jpeg": (0, 0), "png": (0, 9), "webp": (0, 6), "avif": (0, 9)}
# Part of every settings id: bump it when the pixels a setting produces change (resize kernel, shrink-on-load
# rule, colour handling, ...), so stored variants made the old way get new keys instead of mixing with new ones.
TRANSFORM_VERSION = 1
SETTINGS_ID_CHARS = 10  # hex digits of sha256: 40 bits, plenty for the few settings a library ever sees

_T = TypeVar("_T")


# Plain NamedTuples, not dataclasses: `dataclasses` imports `inspect` and `ast`, which every cold start of the
# Lambda zips would pay for.
class PerImageQuality(NamedTuple):
    """The quality of each image's encode, chosen at the edge by measurement (fitted by the workbench on the
    user's images, resizer_bench/perimage.py): encode at `probe`, score that encode against the pixels it was made
    from with the edge's score (resizer/image/quality_probe.py), read the quality the score predicts for reaching
    `threshold` off a monotone map (`scores`, ascending, -> `qualities`), snapped to the ladder `[low, high,
    step]`; when that quality is below the probe's, encode and score it too and serve it if it reaches
    `threshold`, else the probe; above it, encode and serve it."""

    probe: int
    threshold: float
    scores: tuple[float, ...]
    qualities: tuple[float, ...]
    ladder: tuple[int, int, int]

    def predicted(self, score: float) -> int:
        """The ladder quality the map gives for a probe score (linear between knots, flat beyond them)."""
        xs, ys = self.scores, self.qualities
        if score <= xs[0]:
            q = ys[0]
        elif score >= xs[-1]:
            q = ys[-1]
        else:
            i = next(k for k in range(1, len(xs)) if xs[k] >= score)
            q = ys[i - 1] + (ys[i] - ys[i - 1]) * (score - xs[i - 1]) / (xs[i] - xs[i - 1])
        low, high, step = self.ladder
        return int(min(high, max(low, low + step * round((q - low) / step))))


class QualitySearch(NamedTuple):
    """Each image's quality searched for, offline: the lowest quality of the ladder `[low, high, step]` whose
    encode scores at least `threshold` with the edge's score (resizer/image/quality_probe.py) against the pixels it was
    made from, by bisection over the ladder (the top served unscored), as the workbench simulates it
    (resizer_bench.perimage.Threshold). Four or five scored encodes: too slow for a viewer to wait on, so
    `resizer warm` and `resizer variants` run it and store its bytes, and the edge answers a miss with the fixed
    `quality`, provisionally: not stored, a short cache lifetime (resizer/edge/origin.py)."""

    threshold: float
    ladder: tuple[int, int, int]

    def qualities(self) -> tuple[int, ...]:
        low, high, step = self.ladder
        return tuple(range(low, high + 1, step))


class EncoderSettings(NamedTuple):
    """Backend-neutral encoder settings for one format; the backends map them to their own parameters
    (docs/ENCODERS.md). `per_image`: a per-image quality rule run on every miss; `search`: one run offline (None,
    None: `quality` for every image). `mozjpeg` (JPEG): mozjpeg's trellis quantisation, overshoot deringing,
    optimised progressive scans and quantisation table 3, as sharp's `mozjpeg: true`; `sharp_yuv` (WebP): the
    sharp RGB->YUV conversion; `palette` (PNG): quantised to at most `colours` colours at quantisation `quality`
    with `dither`. For PNG with a palette, `quality` is the quantiser's."""

    quality: int | None = None
    effort: int | None = None
    subsampling: str | None = None
    progressive: bool | None = None
    per_image: PerImageQuality | None = None
    search: QualitySearch | None = None
    mozjpeg: bool | None = None
    sharp_yuv: bool | None = None
    palette: bool | None = None
    colours: int | None = None
    dither: float | None = None

    def sweepable(self) -> dict[str, Any]:
        """The settings besides quality that shape the bytes, as set, in SWEEPABLE order (what an encoder candidate
        names)."""
        return {k: v for k in SWEEPABLE if (v := getattr(self, k)) is not None}


# The encoder settings the workbench sweeps beside quality (resizer_bench.sweep), per format.
SWEEPABLE_BY_FORMAT = {"jpeg": ("subsampling", "progressive", "mozjpeg"),
                       "png": ("effort", "palette", "colours", "dither"),
                       "webp": ("effort", "sharp_yuv"),
                       "avif": ("effort", "subsampling")}
SWEEPABLE = tuple(dict.fromkeys(k for keys in SWEEPABLE_BY_FORMAT.values() for k in keys))  # each once, in order
# Switches whose `false` writes the same bytes as leaving them out: left out of the settings id either way, so
# writing `mozjpeg = false` into a config keeps its keys.
OFF_BY_DEFAULT = ("mozjpeg", "sharp_yuv", "palette")
# Settings a backend's library cannot write (a config asking for one is refused, never silently ignored). Pillow
# 13's libjpeg-turbo has no trellis quantisation, its libwebp binding no sharp-YUV switch, and its quantiser is
# not libimagequant (its palettes would be other bytes than libvips'); per-image quality scores with libvips.
BACKEND_LACKS = {"pillow": {"mozjpeg": "mozjpeg's optimisations (Pillow's libjpeg-turbo has none)",
                            "sharp_yuv": "WebP's sharp YUV (Pillow's WebP encoder does not expose it)",
                            "palette": "PNG palettes (Pillow has no libimagequant here)",
                            "per_image": "per-image quality (its score is computed with libvips)",
                            "search": "a quality search (its score is computed with libvips)"}}
# Crops a backend cannot place (sizing.SMART_GRAVITIES): refused the same way.
BACKEND_LACKS_SMART_CROP = {"pillow": "attention or entropy crops (libvips' smartcrop; Pillow has none)"}
PNG_COLOURS = (2, 4, 16, 256)  # libvips writes palettes of 1, 2, 4 or 8 bits


class Variant(NamedTuple):
    name: str
    size: int  # the box's longer side: what orders variants (a `size = N` variant's whole box)
    formats: tuple[str, ...]
    encoders: Mapping[str, EncoderSettings]  # format name -> settings, global defaults already merged in
    geometry: Geometry | None = None  # None: fit inside size x size (today's variants, spelled `size = N`)
    eager: bool = False  # made on upload by the eager function (every servable format), not on a first view

    def encoder(self, fmt: str) -> EncoderSettings:
        return self.encoders[fmt]

    def shape(self) -> Geometry:
        """The variant's geometry, `size = N` spelled out."""
        return self.geometry or Geometry(self.size, self.size)

    def plan(self, width: int, height: int) -> Plan:
        """The resize and crop that make this variant from an upright width x height original."""
        return plan(width, height, self.shape())


class Limits(NamedTuple):
    max_source_bytes: int = 40_000_000
    max_source_pixels: int = 50_000_000
    max_frames: int = 1
    max_key_bytes: int = 1024


class Intermediate(NamedTuple):
    """A high-fidelity copy of a large original that later misses read instead of it (resizer/store/intermediate.py):
    JPEG, 4:4:4, fitting a `size` box at `quality`; made only for originals whose longer side is at least
    `min_ratio` x `size`. `[intermediate] size = 0` turns it off."""

    size: int = 1200
    quality: int = 95
    min_ratio: float = 2.0


DEFAULT_INTERMEDIATE = Intermediate()


class Config(NamedTuple):
    backend: str
    derived_prefix: str
    bucket: str
    region: str
    limits: Limits
    variants: Mapping[str, Variant]  # name -> Variant, in file order
    source: str = "<defaults>"  # where the text came from, for error messages and build.json
    text: str = ""
    # (variant, format) -> the settings id in its derived keys (`settings_ids`; baked into the zips as a table)
    ids: Mapping[tuple[str, str], str] = MappingProxyType({})
    intermediate: Intermediate | None = None  # None: off (the parser fills in the default)
    intermediate_id: str = ""  # the settings id in intermediate keys (`intermediate_settings_id`)

    def variant(self, name: str) -> Variant:
        return self.variants[name]

    @property
    def digest(self) -> str:
        """sha256 of the config text, recorded in build.json so a deployed zip names its config."""
        import hashlib  # here: loading OpenSSL costs the handlers' cold start, which never needs the digest

        return hashlib.sha256(self.text.encode()).hexdigest()

    def with_bucket(self, bucket: str) -> "Config":
        return self.replace(bucket=bucket)

    def replace(self, **changes: Any) -> "Config":
        """A copy with `changes` and the settings ids recomputed for them (NamedTuple's `_replace` would keep ids
        that no longer name these settings)."""
        return _with_ids(self._replace(**changes))

    def settings_id(self, variant: str, fmt: str) -> str:
        return self.ids[variant, fmt]


def backend_refusal(backend: str, variants: Mapping[str, Variant]) -> tuple[str, str] | None:
    """(field, problem) for the first encoder setting of `variants` that `backend` cannot write, else None: the
    parser and every `--backend` override refuse such a config rather than write other bytes than it names."""
    lacks = BACKEND_LACKS.get(backend, {})
    for v in variants.values():
        geometry = v.shape()
        smart = [g for g in ("gravity", "fallback") if getattr(geometry, g) in SMART_GRAVITIES
                 and (g == "gravity" or geometry.gravity == "focus")]
        if smart and backend in BACKEND_LACKS_SMART_CROP:
            return (f"variants.{v.name}.{smart[0]}",
                    f"the {backend} backend cannot make {BACKEND_LACKS_SMART_CROP[backend]}: it needs the vips backend")
        for fmt, settings in v.encoders.items():
            for name, value in settings._asdict().items():
                if name in lacks and value:
                    return (f"variants.{v.name}.encoders.{fmt}.{name}",
                            f"the {backend} backend cannot write {lacks[name]}: it needs the vips backend")
    return None


def canonical_settings(config: Config, variant: str, fmt: str) -> dict[str, Any]:
    """Exactly what shapes the bytes stored for (variant, format): the box, the encoder settings of every format
    the request can be written in, the backend and the transform version. Not the config text (bucket, comments,
    order) and no unset values, so a new optional setting leaves existing ids alone."""
    v = config.variants[variant]
    canonical = {"transform": TRANSFORM_VERSION, "backend": config.backend, "size": v.size,
                 "encoders": {f: {k: value for k, value in v.encoder(f)._asdict().items()
                                  if value is not None and not (k in OFF_BY_DEFAULT and value is False)}
                              for f in formats_written_for(fmt)}}
    if v.geometry is not None:
        canonical["geometry"] = v.geometry._asdict()
    return canonical


class SettingsIds(Mapping[tuple[str, str], str]):
    """`settings_ids(config)`, hashed on first use: a command that never builds a key (`resizer variants`) never
    loads OpenSSL for hashlib (3.6 MB of RSS; the 12 MP memory budget is 100 MB)."""

    def __init__(self, config: Config):
        self._config = config
        self._ids: dict[tuple[str, str], str] | None = None

    def _table(self) -> dict[tuple[str, str], str]:
        if self._ids is None:
            self._ids = settings_ids(self._config)
        return self._ids

    def __getitem__(self, key: tuple[str, str]) -> str:
        return self._table()[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


def settings_ids(config: Config) -> dict[tuple[str, str], str]:
    """The settings id of every (variant, output format): a short hash of its canonical settings."""
    return {(variant, fmt): _settings_hash(canonical_settings(config, variant, fmt))
            for variant in config.variants for fmt in OUTPUT_FORMATS}


def _settings_hash(canonical: dict[str, Any]) -> str:
    """A settings id: sha256 of the canonical settings as sorted, compact JSON, cut to SETTINGS_ID_CHARS."""
    import hashlib  # here: the zips read ids from the baked table and never hash
    import json

    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:SETTINGS_ID_CHARS]


def _with_ids(config: Config) -> Config:
    """`config` with the ids its settings produce (variants hashed on first use, see SettingsIds)."""
    return config._replace(ids=SettingsIds(config), intermediate_id=intermediate_settings_id(config))


def canonical_intermediate(config: Config) -> dict[str, Any] | None:
    """What shapes an intermediate's bytes (not `min_ratio`, which only decides whether one is made)."""
    inter = config.intermediate
    if inter is None:
        return None
    return {"kind": "intermediate", "transform": TRANSFORM_VERSION, "backend": config.backend, "size": inter.size,
            "format": "jpeg", "quality": inter.quality, "subsampling": "4:4:4"}


def intermediate_settings_id(config: Config) -> str:
    """The settings id of the config's intermediates; "" when they are off."""
    canonical = canonical_intermediate(config)
    return "" if canonical is None else _settings_hash(canonical)


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate a variants config (the packaged default when `path` is None)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot read: {exc.strerror or exc}") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = "<string>") -> Config:
    import tomllib  # here: the zips load the baked table (load_baked), and tomllib costs their cold start

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "(syntax)", str(exc)) from None
    return _with_ids(_Parser(source).config(raw, text))


def baked_module(config: Config) -> str:
    """Python source of `resizer/baked.py`, which `resizer build` writes into both zips: the parsed config and
    its settings ids as literals, so a cold start imports neither tomllib nor hashlib (load_baked)."""
    import tomllib

    return (f'"""The variants config baked by `resizer build` (generated; edit the TOML, not this)."""\n\n'
            f"SOURCE = {config.source!r}\nRAW = {tomllib.loads(config.text)!r}\nIDS = {dict(config.ids)!r}\n"
            f"INTERMEDIATE_ID = {config.intermediate_id!r}\n")


def load_baked(baked: Any = None) -> Config:
    """The config `resizer build` baked into this zip (`resizer/baked.py`, or the module given), validated as a
    TOML file would be."""
    if baked is None:
        from . import baked  # type: ignore[attr-defined, no-redef]  # exists only inside a built zip

    config = _Parser(baked.SOURCE).config(baked.RAW, "")
    return config._replace(ids=MappingProxyType(baked.IDS), intermediate_id=getattr(baked, "INTERMEDIATE_ID", ""))


class _Parser:
    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str) -> NoReturn:
        raise ConfigError(self.source, where, problem)

    def known_keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                self.fail(f"{where}{key}", f"unknown field (expected one of: {', '.join(sorted(allowed))})")

    def typed(self, value: Any, kind: type[_T], where: str) -> _T:
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail(where, f"must be an integer, got {value!r}")
        if not isinstance(value, kind):
            self.fail(where, f"must be a {kind.__name__}, got {value!r}")
        return value

    def table(self, raw: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            self.fail(where + key, "must be a table")
        return value

    def config(self, raw: Mapping[str, Any], text: str) -> Config:
        self.known_keys(raw, {"backend", "derived_prefix", "bucket", "region", "limits", "encoders", "variants",
                                "intermediate"}, "")
        backend = self.typed(raw.get("backend", "vips"), str, "backend")
        if backend not in BACKENDS:
            self.fail("backend", f"must be one of {', '.join(BACKENDS)}, got {backend!r}")
        prefix = self.typed(raw.get("derived_prefix", "_variants"), str, "derived_prefix")
        if not PREFIX.match(prefix) or prefix in (".", ".."):
            self.fail("derived_prefix", f"must be one path segment of letters, digits, '_', '-', '.', got {prefix!r}")
        bucket = self.typed(raw.get("bucket", ""), str, "bucket")
        region = self.typed(raw.get("region", "us-east-1"), str, "region")
        limits = self.limits(self.table(raw, "limits", ""))
        defaults = self.encoders(self.table(raw, "encoders", ""), "encoders.", base=None)
        variants_raw = self.table(raw, "variants", "")
        if not variants_raw:
            self.fail("variants", "at least one variant is required")
        variants = {name: self.variant(name, spec, defaults) for name, spec in variants_raw.items()}
        refused = backend_refusal(backend, variants)
        if refused:
            self.fail(*refused)
        intermediate = self.intermediate(self.table(raw, "intermediate", ""))
        return Config(backend, prefix, bucket, region, limits, MappingProxyType(variants), self.source, text,
                      intermediate=intermediate)

    def intermediate(self, raw: Mapping[str, Any]) -> Intermediate | None:
        where = "intermediate."
        self.known_keys(raw, set(Intermediate._fields), where)
        size = self.typed(raw.get("size", DEFAULT_INTERMEDIATE.size), int, where + "size")
        if size == 0:
            return None
        if not 16 <= size <= 16384:
            self.fail(where + "size", f"must be 0 (off) or between 16 and 16384 px, got {size}")
        quality = self.typed(raw.get("quality", DEFAULT_INTERMEDIATE.quality), int, where + "quality")
        if not 1 <= quality <= 100:
            self.fail(where + "quality", f"must be between 1 and 100, got {quality}")
        ratio = raw.get("min_ratio", DEFAULT_INTERMEDIATE.min_ratio)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 1 <= ratio <= 100:
            self.fail(where + "min_ratio", f"must be a number between 1 and 100, got {ratio!r}")
        return Intermediate(size, quality, float(ratio))

    def limits(self, raw: Mapping[str, Any]) -> Limits:
        names = set(Limits._fields)
        self.known_keys(raw, names, "limits.")
        values = {k: self.typed(v, int, f"limits.{k}") for k, v in raw.items()}
        for k, v in values.items():
            if v < 1:
                self.fail(f"limits.{k}", f"must be at least 1, got {v}")
        if values.get("max_key_bytes", 1024) > 1024:
            self.fail("limits.max_key_bytes", "S3 keys are at most 1024 bytes")
        return Limits(**values)

    def encoders(self, raw: Mapping[str, Any], where: str,
                 base: Mapping[str, EncoderSettings] | None) -> dict[str, EncoderSettings]:
        self.known_keys(raw, set(OUTPUT_FORMATS), where)
        merged = dict(base) if base else {fmt: EncoderSettings() for fmt in OUTPUT_FORMATS}
        for fmt, spec in raw.items():
            if not isinstance(spec, dict):
                self.fail(where + fmt, "must be a table")
            merged[fmt] = self.encoder(fmt, spec, f"{where}{fmt}.", merged[fmt])
        return merged

    def encoder(self, fmt: str, spec: Mapping[str, Any], where: str, base: EncoderSettings) -> EncoderSettings:
        rules = {"per_image", "search"}
        allowed = {"jpeg": {"quality", *rules}, "png": {"quality"}, "webp": {"quality", *rules},
                   "avif": {"quality", *rules}}[fmt] | set(SWEEPABLE_BY_FORMAT[fmt])
        self.known_keys(spec, allowed, where)
        values: dict[str, Any] = {}
        if "quality" in spec:
            q = values["quality"] = self.typed(spec["quality"], int, where + "quality")
            if not 1 <= q <= 100:
                self.fail(where + "quality", f"must be between 1 and 100, got {q}")
        if "effort" in spec:
            e = values["effort"] = self.typed(spec["effort"], int, where + "effort")
            lo, hi = EFFORT_RANGE[fmt]
            if not lo <= e <= hi:
                self.fail(where + "effort", f"must be between {lo} and {hi} for {fmt}, got {e}")
        if "subsampling" in spec:
            s = values["subsampling"] = self.typed(spec["subsampling"], str, where + "subsampling")
            if s not in ("4:2:0", "4:4:4"):
                self.fail(where + "subsampling", f"must be '4:2:0' or '4:4:4', got {s!r}")
        for switch in ("progressive", *OFF_BY_DEFAULT):
            if switch in spec:
                values[switch] = self.typed(spec[switch], bool, where + switch)
        if "colours" in spec:
            c = values["colours"] = self.typed(spec["colours"], int, where + "colours")
            if c not in PNG_COLOURS:
                self.fail(where + "colours", f"must be one of {', '.join(map(str, PNG_COLOURS))} (palettes of 1, 2, "
                                             f"4 or 8 bits), got {c}")
        if "dither" in spec:
            d = values["dither"] = self.number(spec["dither"], where + "dither")
            if not 0 <= d <= 1:
                self.fail(where + "dither", f"must be between 0 and 1, got {d:g}")
        if fmt == "png":
            palette_only = [k for k in ("quality", "colours", "dither") if k in spec]
            if palette_only and not spec.get("palette", base.palette):
                self.fail(where + palette_only[0], "applies to a palette only: set palette = true")
        if "per_image" in spec:
            values["per_image"] = self.per_image(spec["per_image"], where + "per_image.")
        if "search" in spec:
            values["search"] = self.search(spec["search"], where + "search.")
        settings = base._replace(**values)
        if fmt == "png" and not settings.palette:  # a variant turning the defaults' palette off
            settings = settings._replace(quality=None, colours=None, dither=None)
        if settings.per_image and settings.search:
            self.fail(where[:-1], "has both a per_image rule and a search; keep one")
        return settings

    def search(self, raw: Any, where: str) -> QualitySearch:
        self.required_table(raw, QualitySearch._fields, where)
        return QualitySearch(self.number(raw["threshold"], where + "threshold"), self.ladder(raw["ladder"],
                                                                                           where + "ladder"))

    def required_table(self, raw: Any, fields: Sequence[str], where: str) -> None:
        if not isinstance(raw, dict):
            self.fail(where[:-1], "must be a table")
        self.known_keys(raw, set(fields), where)
        for name in fields:
            if name not in raw:
                self.fail(where + name, "is required")

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(where, f"must be a number, got {value!r}")
        return float(value)

    def ladder(self, value: Any, where: str) -> tuple[int, int, int]:
        ladder = self.typed(value, list, where)
        if len(ladder) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in ladder) or not (
                1 <= ladder[0] <= ladder[1] <= 100 and ladder[2] >= 1):
            self.fail(where, f"must be [low, high, step] with 1 <= low <= high <= 100, got {ladder!r}")
        return ladder[0], ladder[1], ladder[2]

    def per_image(self, raw: Any, where: str) -> PerImageQuality:
        self.required_table(raw, PerImageQuality._fields, where)
        probe = self.typed(raw["probe"], int, where + "probe")
        threshold = self.number(raw["threshold"], where + "threshold")
        scores, qualities = (self.typed(raw[k], list, where + k) for k in ("scores", "qualities"))
        ladder = self.ladder(raw["ladder"], where + "ladder")
        if not scores or len(scores) != len(qualities) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in [*scores, *qualities]):
            self.fail(where + "scores", "scores and qualities must be equally long, non-empty lists of numbers")
        if any(b <= a for a, b in zip(scores, scores[1:], strict=False)):
            self.fail(where + "scores", "must be strictly ascending")
        if not 1 <= probe <= 100:
            self.fail(where + "probe", f"must be between 1 and 100, got {probe}")
        return PerImageQuality(probe, threshold, tuple(map(float, scores)), tuple(map(float, qualities)), ladder)

    def variant(self, name: str, spec: Any, defaults: Mapping[str, EncoderSettings]) -> Variant:
        where = f"variants.{name}"
        if not VARIANT_NAME.match(name):
            self.fail(where, "a variant name is 1-32 letters, digits or '_' (it is the URL suffix after '-')")
        if not isinstance(spec, dict):
            self.fail(where, "must be a table")
        self.known_keys(spec, {"size", "width", "height", "fit", "gravity", "fallback", "enlarge", "formats",
                               "encoders", "eager"}, where + ".")
        geometry = self.geometry(spec, where + ".")
        formats = self.typed(spec.get("formats", ["avif", "webp"]), list, where + ".formats")
        for fmt in formats:
            if fmt not in OUTPUT_FORMATS:
                self.fail(where + ".formats", f"{fmt!r} is not an output format ({', '.join(OUTPUT_FORMATS)})")
        if len(set(formats)) != len(formats):
            self.fail(where + ".formats", "lists a format twice")
        encoders = self.encoders(self.table(spec, "encoders", where + "."), where + ".encoders.", base=defaults)
        plain = geometry.width == geometry.height and geometry == Geometry(geometry.width, geometry.height)
        eager = self.typed(spec.get("eager", False), bool, where + ".eager")
        return Variant(name, geometry.longest, tuple(formats), MappingProxyType(encoders),
                       None if plain else geometry, eager)

    def geometry(self, spec: Mapping[str, Any], where: str) -> Geometry:
        """`size = N` (a square box, fit inside: None), or `width` and/or `height` with a fit; a fit inside a
        square box without enlarging is written `size` either way, so its settings id does not depend on the
        spelling."""
        sides = {k: self.typed(spec[k], int, where + k) for k in ("size", "width", "height") if k in spec}
        for k, v in sides.items():
            if not 1 <= v <= 16384:
                self.fail(where + k, f"must be between 1 and 16384 px, got {v}")
        if "size" in sides and len(sides) > 1:
            self.fail(where + "size", "give either size (a square box) or width and/or height, not both")
        if not sides:
            self.fail(where + "size", "is required (or width and/or height)")
        fit = self.typed(spec.get("fit", "inside"), str, where + "fit")
        if fit not in FITS:
            self.fail(where + "fit", f"must be one of {', '.join(FITS)}, got {fit!r}")
        if fit == "cover" and not ("size" in sides or len(sides) == 2):
            self.fail(where + "fit", "cover fills a box: give width and height (or size)")
        gravity = self.typed(spec.get("gravity", "centre"), str, where + "gravity")
        if gravity not in GRAVITIES:
            self.fail(where + "gravity", f"must be one of {', '.join(GRAVITIES)}, got {gravity!r}")
        if "gravity" in spec and fit != "cover":
            self.fail(where + "gravity", "places a crop: it applies to fit = \"cover\" only")
        fallback = self.typed(spec.get("fallback", "centre"), str, where + "fallback")
        if fallback not in FALLBACKS:
            self.fail(where + "fallback", f"must be one of {', '.join(FALLBACKS)}, got {fallback!r}")
        if "fallback" in spec and gravity != "focus":
            self.fail(where + "fallback", "is the gravity without a focal point: it applies to gravity = \"focus\"")
        enlarge = self.typed(spec.get("enlarge", False), bool, where + "enlarge")
        width, height = (sides["size"],) * 2 if "size" in sides else (sides.get("width"), sides.get("height"))
        return Geometry(width, height, fit, gravity, fallback, enlarge)
