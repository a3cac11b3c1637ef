"""Per-image quality: the ladder sweep, the oracle, fold splits by image, edge rules and their cross-validation.

The question (issue "Per-image quality"): instead of one quality per variant x format for the whole dataset,
can the edge pick each image's quality, with a cheap probe, and save bytes at the same p10 of `s2_equiv`?

- `ladder_sweep`: every (image, variant, format, ladder quality) through the runtime pipeline (vips backend,
  `render_variants`, as `sweep.run_sweep`), scored with SSIMULACRA2 against the shared Lanczos reference
  (`metrics`) and with the edge's fast statistics (`resizer.image.quality_probe.fast_stats`, libvips) against the
  pixels the encoder was handed; cached per (image, variant) as parquet.
- `needed_quality`: the oracle, per (image, variant, format).
- `image_folds`: k folds by image (near-duplicate images grouped together).
- rules (`fit_rule` / `apply_rule`) and `cross_validate` -> tidy DataFrames.
"""

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from resizer.config import parse_config
from resizer.image import quality_probe as qp
from resizer.image.pipeline import render_variants

from . import metrics
from .sweep import resized_by, settings_text, warm_up, with_quality

LADDER = tuple(range(20, 96, 3))  # 20, 23, ..., 95
TARGET = 70.0
QUANTILE = 0.10
SLACK = 3.0  # how far below the p10 an image may score in the per-image comparison (goal: no more than 3)
KEY = ["file", "variant", "format"]


# --- the numpy twin of resizer.image.quality_probe (the test oracle) ---------------------------------------------

def fast_stats_numpy(reference: np.ndarray, distorted: np.ndarray) -> dict[str, float]:
    """`quality_probe.fast_stats` on two same-size 8-bit RGB arrays, in numpy (float64)."""
    ref = np.asarray(reference, dtype=np.float64)[..., :3]
    dist = np.asarray(distorted, dtype=np.float64)[..., :3]
    y1, y2 = ref @ np.array(qp.LUMA), dist @ np.array(qp.LUMA)
    taps = np.array(qp.gaussian_taps())

    def blur(a):
        return ndimage.correlate1d(ndimage.correlate1d(a, taps, axis=0, mode="nearest"), taps, axis=1,
                                   mode="nearest")

    mu1, mu2 = blur(y1), blur(y2)
    s11, s22, s12 = blur(y1 * y1) - mu1 ** 2, blur(y2 * y2) - mu2 ** 2, blur(y1 * y2) - mu1 * mu2
    ssim = ((2 * mu1 * mu2 + qp.C1) * (2 * s12 + qp.C2)) / ((mu1 ** 2 + mu2 ** 2 + qp.C1) * (s11 + s22 + qp.C2))
    ratio = (1 + np.abs(y2 - mu2) / 255) / (1 + np.abs(y1 - mu1) / 255) - 1
    chroma = (ref - dist) @ np.array([qp.CB, qp.CR]).T
    means = [ssim.mean(), ((1 - ssim) ** 4).mean(), ((y1 - y2) ** 2).mean(), (chroma ** 2).mean(),
             np.maximum(ratio, 0).mean(), np.maximum(-ratio, 0).mean()]
    return qp._finish([float(m) for m in means])


# --- the ladder sweep ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LadderTask:
    path: str
    file: str
    config_text: str
    variants: tuple[str, ...]
    formats: tuple[str, ...]
    ladder: tuple[int, ...]
    cache_dir: str
    fast_stats: bool = True  # also the luma statistics of quality_probe.fast_stats (weak: see the report)
    s2_reference: bool = True  # SSIMULACRA2 against the Lanczos reference (False: only the edge's score)
    edge_score: bool = True  # quality_probe.s2_score against the encoder's input (costs ~2x the sweep)


def _vips_from_png(png: bytes):
    import pyvips

    return pyvips.Image.new_from_buffer(png, "").copy_memory()


def ladder_image(task: LadderTask) -> list[str]:
    """Sweep one image (all its uncached variants from one decode, as `sweep.sweep_image`); write one parquet per
    (image, variant); return their paths."""
    import pyvips

    pyvips.concurrency_set(1)
    data = Path(task.path).read_bytes()
    config = parse_config(task.config_text)
    warm_up("vips", set(task.formats) | {"png"})
    requests = []  # (variant name, format, quality); quality None = the lossless PNG of the encoder's input
    for name in task.variants:
        variant = config.variant(name)
        requests.append((variant, "png", None))
        requests += [(with_quality(variant, f, q), f, q) for f in task.formats for q in task.ladder]
    results = render_variants(data, [(v, f) for v, f, _ in requests])
    source = metrics.load_source(data) if task.s2_reference else None
    rows, pixels, scorers = [], {}, {}
    for (variant, fmt, quality), result in zip(requests, results, strict=True):
        size = (result.width, result.height)
        if fmt == "png":
            pixels[variant.name] = _vips_from_png(result.data)
            continue
        stats = qp.fast_stats("vips", pixels[variant.name], result.data) if task.fast_stats else {}
        if task.s2_reference:
            if (size, result.window) not in scorers:
                scorers[size, result.window] = metrics.Ssimulacra2(
                    metrics.reference(source, *size, window=result.window), pad_scales=True)
            scorer = scorers[size, result.window]
            stats.update(s2=scorer(metrics.decode_rgb(result.data)), s2_scales=len(scorer.levels))
        rows.append(dict(file=task.file, variant=variant.name, box=variant.size, format=fmt, written=result.format,
                         quality=quality, width=result.width, height=result.height, bytes=len(result.data),
                         encode_ms=result.timings["encode"], **stats))
        if task.edge_score:
            rows[-1]["s2_edge"] = qp.s2_score(pixels[variant.name], result.data)
    frame = pd.DataFrame(rows)
    if task.s2_reference:
        frame["s2_equiv"] = metrics.equivalent_score(frame.s2, frame.s2_scales)
    out = []
    for name, part in frame.groupby("variant"):
        path = cache_path(task.cache_dir, task.file, name, task.formats, task.ladder, task.fast_stats,
                          task.s2_reference, task.edge_score, encoder_tag(config, name, task.formats))
        part.reset_index(drop=True).to_parquet(path)
        out.append(str(path))
    return out


def encoder_tag(config, variant: str, formats) -> str:
    """A short hash of the encoder settings besides quality that the ladder of `variant` is swept with: a
    re-tuned set (resizer_bench.encoder_choice) is a new cache entry, an unchanged one is reused."""
    import hashlib

    text = "|".join(settings_text(config.variant(variant).encoder(f)) for f in formats)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def cache_path(cache_dir, file: str, variant: str, formats, ladder, fast_stats: bool = True,
               s2_reference: bool = True, edge_score: bool = True, encoders: str = "") -> Path:
    parts = "".join(["_stats" if fast_stats else "", "_s2" if s2_reference else "", "_edge" if edge_score else "",
                     f"_{encoders}" if encoders else ""])
    tag = f"v2_{'-'.join(formats)}_{ladder[0]}-{ladder[-1]}-{len(ladder)}{parts}"
    return Path(cache_dir) / f"{Path(file).stem}__{variant}__{tag}.parquet"


def _cached(cache_dir, file, formats, ladder, fast_stats, s2_reference, edge_score, config, variant) -> Path:
    return cache_path(cache_dir, file, variant, formats, ladder, fast_stats, s2_reference, edge_score,
                      encoder_tag(config, variant, formats))


def ladder_sweep(root, files, *, config_text: str, variants, formats, ladder=LADDER, cache_dir,
                 fast_stats: bool = True, s2_reference: bool = True, edge_score: bool = True,
                 progress: bool = True, cached_only: bool = False, workers: int = 1,
                 scheduler: str = "") -> pd.DataFrame:
    """The ladder sweep of `files` (under `root`), reading and writing the per-(image, variant) parquet cache;
    the uncached images are swept one task per image (`executor.run_tasks`: `workers` local processes, 1 = in
    this process, or a Dask `scheduler`). Only variants that resize the image (`resized_by`) are encoded.
    `cached_only`: images not (fully) in the cache are left out rather than swept."""
    from PIL import Image

    from .executor import run_tasks

    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    config = parse_config(config_text)
    wanted, tasks = [], []
    for file in files:
        with Image.open(Path(root) / file) as im:
            size = im.size
        mine = [v for v in variants if resized_by(config.variant(v), *size)]
        path = functools.partial(_cached, cache_dir, file, formats, ladder, fast_stats, s2_reference, edge_score,
                                 config)
        todo = tuple(v for v in mine if not path(v).exists())
        if todo and cached_only:
            mine = [v for v in mine if v not in todo]
        elif todo:
            tasks.append(LadderTask(str(Path(root) / file), file, config_text, todo, tuple(formats), tuple(ladder),
                                    str(cache_dir), fast_stats, s2_reference, edge_score))
        wanted += [path(v) for v in mine]
    if tasks:
        run_tasks(ladder_image, tasks, workers=workers, scheduler=scheduler, desc="per-image ladder",
                  progress=progress)
    parts = [pd.read_parquet(p) for p in wanted]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def probe_timing(root, files, *, config_text: str, variants, formats, qualities: dict | None = None,
                 luma: bool = False) -> pd.DataFrame:
    """Per image x variant x format, CPU ms in this process (vips backend, 1 thread): today's miss (`transform`
    at the fixed quality: `qualities[(variant, format)]`, default the config's), one more encode of the rendered
    pixels, and one edge score of the output (`quality_probe.s2_score`; `luma`: also `fast_stats`). What a
    per-image rule adds to a miss: probes x score_ms + extra encodes x encode_ms."""
    import time

    import pyvips

    from resizer.image.backends import get_backend
    from resizer.image.pipeline import transform

    pyvips.concurrency_set(1)
    config = parse_config(config_text)
    warm_up("vips", set(formats) | {"png"})
    backend = get_backend("vips")
    rows = []
    for file in files:
        data = (Path(root) / file).read_bytes()
        for v in variants:
            variant = config.variant(v)
            png = render_variants(data, [(variant, "png")])[0]
            ref = _vips_from_png(png.data)
            for fmt in formats:
                q = (qualities or {}).get((v, fmt), variant.encoder(fmt).quality)
                fixed = with_quality(variant, fmt, q)
                cpu = time.process_time()
                result = transform(data, fixed, fmt)
                miss = (time.process_time() - cpu) * 1000
                cpu = time.process_time()
                qp.s2_score(ref, result.data)
                score = (time.process_time() - cpu) * 1000
                row = dict(file=file, variant=v, format=fmt, quality=q, miss_ms=miss, score_ms=score)
                if luma:
                    cpu = time.process_time()
                    qp.fast_stats("vips", ref, result.data)
                    row["luma_ms"] = (time.process_time() - cpu) * 1000
                cpu = time.process_time()
                backend.encode(ref, fmt, fixed.encoder(fmt))
                row["encode_ms"] = (time.process_time() - cpu) * 1000
                rows.append(row)
    return pd.DataFrame(rows)


# --- the oracle, and the ladder as arrays -------------------------------------------------------------------

# Scores the edge can compute, oriented so that higher = better (from quality_probe.fast_stats' columns).
SCORES = {
    "ssim": lambda f: f.ssim,
    "ssim_p4": lambda f: -f.ssim_p4,
    "psnr_y": lambda f: 10 * np.log10(255.0 ** 2 / np.maximum(f.mse_y, 1e-10)),
    "psnr_c": lambda f: 10 * np.log10(255.0 ** 2 / np.maximum(f.mse_c, 1e-10)),
    "detail_lost": lambda f: -f.detail_lost,
    # SSIMULACRA2 (6-scale equivalent) against the pixels the encoder was handed, in libvips: quality_probe.s2_score
    "s2_edge": lambda f: f.s2_edge,
    # not an edge score: SSIMULACRA2 against the Lanczos reference itself, for the rules' upper bound
    "s2_oracle": lambda f: f.s2_equiv,
}
FEATURES = ("ssim", "ssim_p4", "psnr_y", "psnr_c", "detail_lost")


def with_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the SCORES columns its sweep has added (as `score_<name>`)."""
    out = {}
    for k, fn in SCORES.items():
        try:
            out[f"score_{k}"] = fn(frame)
        except (AttributeError, KeyError):
            pass
    return frame.assign(**out)


def needed_index(s2: np.ndarray, target: float = TARGET) -> np.ndarray:
    """Per row of an images x ladder array of scores: the index of the lowest ladder quality from which every
    higher one reaches `target` (robust to the small non-monotone wiggles of the score); the top index when even
    the top fails."""
    ok = s2 >= target
    # all-pass-from-here: reverse cumulative AND
    tail_ok = np.flip(np.logical_and.accumulate(np.flip(ok, axis=1), axis=1), axis=1)
    first = np.where(tail_ok.any(axis=1), tail_ok.argmax(axis=1), s2.shape[1] - 1)
    return first


def needed_quality(frame: pd.DataFrame, target: float = TARGET, metric: str = "s2_equiv") -> pd.DataFrame:
    """The oracle per (file, variant, format): `quality` = the lowest ladder quality from which all higher ladder
    qualities reach `target` (the headline definition); `first_pass` = the lowest passing one (differs where the
    score wiggles); `reached` = False when even the top of the ladder fails (then `quality` is the top)."""
    rows = []
    for key, part in frame.sort_values("quality").groupby(KEY, observed=True):
        s2 = part[metric].to_numpy()[None, :]
        q = part.quality.to_numpy()
        j = needed_index(s2, target)[0]
        passing = np.flatnonzero(s2[0] >= target)
        rows.append(dict(zip(KEY, key, strict=True), quality=int(q[j]),
                         first_pass=int(q[passing[0]]) if len(passing) else None,
                         reached=bool(s2[0, -1] >= target), bytes=int(part.bytes.iloc[j]), score=float(s2[0, j])))
    return pd.DataFrame(rows)


@dataclass
class Ladder:
    """One variant x format of the sweep as images x ladder arrays."""

    files: np.ndarray
    qualities: np.ndarray
    bytes: np.ndarray
    s2: np.ndarray
    scores: dict  # name -> images x ladder array (higher = better)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, metric: str = "s2_equiv") -> "Ladder":
        frame = with_scores(frame)
        pivot = lambda col: frame.pivot(index="file", columns="quality", values=col)  # noqa: E731
        s2 = pivot(metric)
        if s2.isna().any().any():
            raise ValueError("every image needs every ladder quality")
        return cls(files=s2.index.to_numpy(), qualities=s2.columns.to_numpy(dtype=int),
                   bytes=pivot("bytes").to_numpy(dtype=np.float64), s2=s2.to_numpy(dtype=np.float64),
                   scores={k: pivot(f"score_{k}").to_numpy(dtype=np.float64) for k in SCORES
                           if f"score_{k}" in frame})

    def take(self, rows) -> "Ladder":
        return Ladder(self.files[rows], self.qualities, self.bytes[rows], self.s2[rows],
                      {k: v[rows] for k, v in self.scores.items()})

    def __len__(self) -> int:
        return len(self.files)


def quantile(values, q: float = QUANTILE) -> float:
    return float(np.quantile(np.asarray(values, dtype=np.float64), q))


def fixed_curve(ladder: Ladder, q: float = QUANTILE) -> pd.DataFrame:
    """Per ladder quality, over all images of `ladder`: total bytes and the score's q-quantile, plus its monotone
    envelope (the lowest quantile at this or any higher quality)."""
    p = np.quantile(ladder.s2, q, axis=0)
    envelope = np.flip(np.minimum.accumulate(np.flip(p)))
    return pd.DataFrame(dict(quality=ladder.qualities, total=ladder.bytes.sum(axis=0), p=p, envelope=envelope))


def fixed_bytes_at(curve: pd.DataFrame, p: float) -> tuple[float, float]:
    """(total bytes of the cheapest fixed quality whose quantile reaches `p`, interpolated linearly in quality
    between the two ladder qualities around it (an integer quality between ladder points); that quality). NaN
    when even the top fails; the bottom of the ladder when it already reaches `p`."""
    env, total, qual = curve.envelope.to_numpy(), curve.total.to_numpy(), curve.quality.to_numpy()
    ok = np.flatnonzero(env >= p)
    if not len(ok):
        return math.nan, math.nan
    j = ok[0]
    if j == 0:
        return float(total[0]), float(qual[0])
    t = (p - env[j - 1]) / (env[j] - env[j - 1]) if env[j] > env[j - 1] else 1.0
    return float(total[j - 1] + t * (total[j] - total[j - 1])), float(qual[j - 1] + t * (qual[j] - qual[j - 1]))


def fixed_index(ladder: Ladder, target: float = TARGET, q: float = QUANTILE) -> int:
    """The chooser's rule on the ladder: the cheapest ladder index whose quantile (envelope) reaches target."""
    env = fixed_curve(ladder, q).envelope.to_numpy()
    ok = np.flatnonzero(env >= target)
    return int(ok[0]) if len(ok) else len(env) - 1


# --- fold splits by image -----------------------------------------------------------------------------------

def image_folds(files, k: int = 5, *, groups: dict | None = None, seed: int = 0, min_test: int = 5) -> dict:
    """file -> fold (0..k-1): whole groups (near-duplicates: `groups` maps file -> group name; default: each
    file its own group) land in one fold, groups shuffled with `seed` and dealt largest first to the smallest
    fold. `k` shrinks until every fold holds at least `min_test` images."""
    files = sorted(files)
    groups = groups or {}
    members: dict = {}
    for f in files:
        members.setdefault(groups.get(f, f), []).append(f)
    k = max(1, min(k, len(files) // max(1, min_test)))
    rng = np.random.default_rng(seed)
    names = list(members)
    rng.shuffle(names)
    names.sort(key=lambda g: -len(members[g]))  # stable: shuffled within equal sizes
    sizes, fold_of = [0] * k, {}
    for g in names:
        f = int(np.argmin(sizes))
        sizes[f] += len(members[g])
        fold_of.update({m: f for m in members[g]})
    return fold_of


def duplicate_groups(root, files, *, threshold: float = 0.97) -> dict:
    """file -> group: images whose upright 16x16 grey thumbnails correlate above `threshold` share a group (the
    corpus holds the same photo with and without an EXIF rotation, say)."""
    from PIL import Image, ImageOps

    thumbs = {}
    for f in files:
        with Image.open(Path(root) / f) as im:
            im.draft("L", (64, 64))
            t = np.asarray(ImageOps.exif_transpose(im).convert("L").resize((16, 16)), dtype=np.float64).ravel()
        thumbs[f] = (t - t.mean()) / (t.std() + 1e-9)
    group = {f: f for f in files}
    fl = sorted(files)
    for i, a in enumerate(fl):
        for b in fl[i + 1:]:
            if float(thumbs[a] @ thumbs[b]) / thumbs[a].size > threshold:
                old, new = group[b], group[a]
                group = {f: (new if g == old else g) for f, g in group.items()}
    return group


# --- rules: fit on training images, choose a ladder index per test image ------------------------------------
#
# A rule's `fit(train)` returns plain numbers (what a variants TOML would hold); `choose(params, test)` returns,
# per test image, the ladder index it serves, how many probe outputs it scored with the fast metric, and how
# many encodes it made (the served one included). Probes are looked up in the sweep, as the edge would encode
# and score them.

@dataclass(frozen=True)
class Fixed:
    """Today's chooser on the ladder: one quality, the cheapest whose p10 on the training images reaches target."""

    target: float = TARGET
    name: str = "fixed"

    def fit(self, train: Ladder) -> dict:
        return dict(quality=int(train.qualities[fixed_index(train, self.target)]))

    def choose(self, params: dict, test: Ladder):
        j = int(np.searchsorted(test.qualities, params["quality"]))
        n = len(test)
        return np.full(n, j), np.zeros(n, int), np.ones(n, int)


def _bisect(score_row: np.ndarray, tau: float, lo: int, hi: int, probes: int | None):
    """Smallest index in [lo, hi] whose score reaches tau, by bisection assuming monotone scores and that hi
    passes (unverified); with a probe budget, the lowest known-passing index (or hi) when it runs out.
    Returns (index, probes scored, encodes)."""
    seen = []
    low, high = lo, hi
    while low < high and (probes is None or len(seen) < probes):
        mid = (low + high) // 2
        seen.append(mid)
        if score_row[mid] >= tau:
            high = mid
        else:
            low = mid + 1
    return high, len(seen), len(seen) + (high not in seen)


@dataclass(frozen=True)
class Threshold:
    """Serve the lowest ladder quality whose fast score reaches tau, found by bisection (`probes` at most; None =
    exact) inside a window [lo, hi] of ladder qualities: lo/hi = the lowest/highest needed quality on the
    training images. tau: the lowest threshold whose outputs on the training images keep p10 >= target."""

    score: str = "ssim"
    probes: int | None = None
    target: float = TARGET
    margin: float = 0.0
    grid: int = 200
    name: str = ""

    def _window(self, train: Ladder) -> tuple[int, int]:
        need = needed_index(train.s2, self.target)
        return int(need.min()), int(need.max())

    def _apply(self, scores, tau, lo, hi):
        out = np.array([_bisect(row, tau, lo, hi, self.probes) for row in scores])
        return out[:, 0], out[:, 1], out[:, 2]

    def fit(self, train: Ladder) -> dict:
        lo, hi = self._window(train)
        sc = train.scores[self.score]
        taus = np.unique(np.quantile(sc[:, lo:hi + 1], np.linspace(0, 1, self.grid)))
        best = None
        for tau in taus:  # ascending: the first that holds the p10 is the cheapest (near enough)
            j, _, _ = self._apply(sc, tau, lo, hi)
            s2 = train.s2[np.arange(len(train)), j]
            if quantile(s2) >= self.target + self.margin:
                best = float(tau)
                break
        if best is None:
            best = float(taus[-1])
        return dict(tau=best, lo=int(train.qualities[lo]), hi=int(train.qualities[hi]))

    def choose(self, params: dict, test: Ladder):
        lo, hi = (int(np.searchsorted(test.qualities, params[k])) for k in ("lo", "hi"))
        return self._apply(test.scores[self.score], params["tau"], lo, hi)


def _isotonic_decreasing(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots (x sorted, fitted y non-increasing in x) of the least-squares isotonic fit."""
    from scipy.optimize import isotonic_regression

    order = np.argsort(x, kind="stable")
    fitted = isotonic_regression(y[order].astype(np.float64), increasing=False).x
    return x[order], fitted


@dataclass(frozen=True)
class ProbeMap:
    """One probe at the fixed quality (today's encode, so it costs only a decode and the fast score), then the
    needed quality read off a monotone map fitted on the training images (isotonic: higher probe score -> lower
    needed ladder index), plus an offset of whole ladder steps tuned by inner folds of the training images to
    hold p10 >= target. A second encode only when the answer differs from the probe's quality."""

    score: str = "ssim"
    target: float = TARGET
    inner_folds: int = 4
    offsets: tuple[int, ...] = tuple(range(-4, 13))
    name: str = ""

    def _map(self, train: Ladder, j0: int):
        x, y = _isotonic_decreasing(train.scores[self.score][:, j0], needed_index(train.s2, self.target))
        return x, y

    @staticmethod
    def _predict(x, y, v, offset, n):
        return np.clip(np.rint(np.interp(v, x, y)).astype(int) + offset, 0, n - 1)

    def fit(self, train: Ladder) -> dict:
        j0 = fixed_index(train, self.target)
        n = len(train.qualities)
        folds = image_folds(train.files, self.inner_folds, min_test=2)
        pred = np.zeros(len(train), int)
        inner = np.array([folds[f] for f in train.files])
        base = {}
        for f in set(inner):
            tr = train.take(inner != f)
            base[f] = self._map(tr if len(tr) else train, j0)
        offset = self.offsets[-1]
        for off in self.offsets:
            for f, (x, y) in base.items():
                rows = inner == f
                pred[rows] = self._predict(x, y, train.scores[self.score][rows, j0], off, n)
            if quantile(train.s2[np.arange(len(train)), pred]) >= self.target:
                offset = off
                break
        x, y = self._map(train, j0)
        return dict(probe_quality=int(train.qualities[j0]), offset=int(offset), knots_score=x.tolist(),
                    knots_index=y.tolist())

    def choose(self, params: dict, test: Ladder):
        j0 = int(np.searchsorted(test.qualities, params["probe_quality"]))
        j = self._predict(np.asarray(params["knots_score"]), np.asarray(params["knots_index"]),
                          test.scores[self.score][:, j0], params["offset"], len(test.qualities))
        return j, np.ones(len(test), int), 1 + (j != j0).astype(int)


@dataclass(frozen=True)
class ProbeVerify:
    """Probe at the fixed quality j0 (today's encode), jump to the quality a monotone map of the probe's score
    predicts for reaching tau, and verify the jump with a second scored probe:

        v0 = score(j0); j1 = map(v0)
        j1 < j0: encode and score j1; serve j1 if score(j1) >= tau, else j0 (already encoded)
        j1 = j0: serve j0                      (one encode: today's cost plus the score)
        j1 > j0: encode and serve j1 unverified (the image needs more than the fixed quality)

    Fitted on the training images: for each candidate tau (ascending), the map is the isotonic fit of the
    lowest ladder index from which the score stays >= tau on v0, and the first tau whose rule (simulated on
    the training images) keeps p10 >= target wins."""

    score: str = "s2_edge"
    target: float = TARGET
    grid: int = 60
    name: str = ""

    @staticmethod
    def simulate(sc: np.ndarray, j0: int, x, y, tau: float):
        n = sc.shape[1]
        v0 = sc[:, j0]
        j1 = np.clip(np.rint(np.interp(v0, x, y)).astype(int), 0, n - 1)
        rows = np.arange(len(sc))
        down = j1 < j0
        ok = sc[rows, j1] >= tau
        j = np.where(down & ~ok, j0, j1)
        probes = 1 + down.astype(int)
        encodes = 1 + (j1 != j0).astype(int)
        return j, probes, encodes

    def fit(self, train: Ladder) -> dict:
        j0 = fixed_index(train, self.target)
        sc = train.scores[self.score]
        lo, hi = max(0, j0 - 8), min(sc.shape[1], j0 + 9)
        taus = np.unique(np.quantile(sc[:, lo:hi], np.linspace(0.02, 0.98, self.grid)))
        chosen = None
        for tau in taus:
            x, y = _isotonic_increasing_need(sc[:, j0], needed_index(sc, tau))
            j, _, _ = self.simulate(sc, j0, x, y, tau)
            if quantile(train.s2[np.arange(len(train)), j]) >= self.target:
                chosen = (float(tau), x, y)
                break
        if chosen is None:
            tau = float(taus[-1])
            x, y = _isotonic_increasing_need(sc[:, j0], needed_index(sc, tau))
            chosen = (tau, x, y)
        tau, x, y = chosen
        return dict(probe_quality=int(train.qualities[j0]), tau=tau, knots_score=np.round(x, 3).tolist(),
                    knots_quality=[float(np.interp(v, np.arange(len(train.qualities)), train.qualities))
                                   for v in y], knots_index=y.tolist())

    def choose(self, params: dict, test: Ladder):
        j0 = int(np.searchsorted(test.qualities, params["probe_quality"]))
        return self.simulate(test.scores[self.score], j0, np.asarray(params["knots_score"]),
                             np.asarray(params["knots_index"]), params["tau"])


def _isotonic_increasing_need(v0, need):
    return _isotonic_decreasing(np.asarray(v0, dtype=np.float64), np.asarray(need, dtype=np.float64))


# --- cross-validation ---------------------------------------------------------------------------------------

def rule_name(rule) -> str:
    if rule.name:
        return rule.name
    if isinstance(rule, Threshold):
        return f"threshold[{rule.score},{'exact' if rule.probes is None else rule.probes}]"
    if isinstance(rule, ProbeMap):
        return f"probemap[{rule.score}]"
    if isinstance(rule, ProbeVerify):
        return f"probeverify[{rule.score}]"
    return type(rule).__name__.lower()


def cross_validate(frame: pd.DataFrame, rules, *, k: int = 5, groups: dict | None = None, seed: int = 0,
                   min_test: int = 5, target: float = TARGET, metric: str = "s2_equiv") -> pd.DataFrame:
    """Per image, variant, format and rule: the quality each rule serves when fitted on the other folds' images
    (folds by image, `image_folds`), with its bytes, score, probes and encodes, the fold and the oracle's
    needed quality. Summarise with `summarize`."""
    rows = []
    for (variant, fmt), part in frame.groupby(["variant", "format"], observed=True):
        ladder = Ladder.from_frame(part, metric)
        folds = image_folds(ladder.files, k, groups=groups, seed=seed, min_test=min_test)
        fold = np.array([folds[f] for f in ladder.files])
        if len(set(fold)) < 2:
            raise ValueError(f"{variant} {fmt}: {len(ladder)} images make fewer than 2 folds of {min_test}")
        for f in sorted(set(fold)):
            rows += _served(ladder.take(fold != f), ladder.take(fold == f), rules, target,
                            variant=variant, format=fmt, fold=f)
    return pd.DataFrame(rows)


def held_out(train: pd.DataFrame, test: pd.DataFrame, rules, *, target: float = TARGET,
             metric: str = "s2_equiv") -> pd.DataFrame:
    """`cross_validate`'s rows for rules fitted on every image of `train` and applied to the images of `test`
    (another photo collection): what a config tuned on one library does on another. Summarise with `summarize`
    over `test`."""
    rows = []
    for (variant, fmt), part in test.groupby(["variant", "format"], observed=True):
        fit_on = train[(train.variant == variant) & (train.format == fmt)]
        if len(fit_on):
            rows += _served(Ladder.from_frame(fit_on, metric), Ladder.from_frame(part, metric), rules, target,
                            variant=variant, format=fmt, fold="held out")
    return pd.DataFrame(rows)


def _served(train: Ladder, test: Ladder, rules, target: float, **key) -> list[dict]:
    """Each rule fitted on `train`, applied to `test`: one row per test image and rule."""
    need = needed_index(test.s2, target)
    rows = []
    for rule in rules:
        params = rule.fit(train)
        j, probes, encodes = rule.choose(params, test)
        rows += [dict(key, rule=rule_name(rule), file=test.files[i], quality=int(test.qualities[j[i]]),
                      bytes=test.bytes[i, j[i]], score=test.s2[i, j[i]], probes=int(probes[i]),
                      encodes=int(encodes[i]), oracle_quality=int(test.qualities[need[i]]), params=repr(params))
                 for i in range(len(test))]
    return rows


def p10_ceiling(ladder: Ladder, target: float = TARGET, slack: float = SLACK, q: float = QUANTILE) -> np.ndarray:
    """The cheapest ladder index per image of any per-image choice whose q-quantile still reaches `target` when
    no image sits more than `slack` below it: every image at its needed quality for `target`, except the most
    images the quantile lets fall below (those that save most), which drop to their needed quality for
    `target - slack`. What a perfect rule could do at equal p10: the ceiling of every rule's saving."""
    rows = np.arange(len(ladder))
    need, need_slack = needed_index(ladder.s2, target), needed_index(ladder.s2, target - slack)
    gain = ladder.bytes[rows, need] - ladder.bytes[rows, need_slack]
    below = int(math.floor(q * (len(ladder) - 1)))  # with numpy's linear quantile, the rest keep it >= target
    chosen = need.copy()
    drop = np.argsort(-gain, kind="stable")[:below]
    chosen[drop] = need_slack[drop]
    return chosen


def summarize(cv: pd.DataFrame, frame: pd.DataFrame, *, target: float = TARGET, metric: str = "s2_equiv"):
    """Per variant x format x rule over the cross-validated choices of all images: p10 of the score, total bytes,
    the best fixed quality's bytes at the same p10 on the same images (interpolated between ladder qualities)
    and the saving against it, the ladder-only fixed saving, share below target, the worst score and how far
    below the p10 it is, mean probes and encodes per image; the oracle's saving (every image >= target) and
    `p10_ceiling_saving` (`p10_ceiling`: the most any per-image rule can save at equal p10)."""
    out = []
    for (variant, fmt), part in cv.groupby(["variant", "format"], observed=True):
        ladder = Ladder.from_frame(frame[(frame.variant == variant) & (frame.format == fmt)], metric)
        curve = fixed_curve(ladder)
        need = needed_index(ladder.s2, target)
        oracle_bytes = ladder.bytes[np.arange(len(ladder)), need]
        oracle_p = quantile(ladder.s2[np.arange(len(ladder)), need])
        oracle_fixed, _ = fixed_bytes_at(curve, oracle_p)
        # the p10 ceiling: every image at the lowest quality from which SSIMULACRA2 itself stays >= tau, tau the
        # lowest whose p10 reaches target (in-sample: what a perfect metric with exact search could do)
        exact = Threshold(score="s2_true", target=target)
        ladder.scores["s2_true"] = ladder.s2
        jt, _, _ = exact.choose(exact.fit(ladder), ladder)
        ceil_bytes = ladder.bytes[np.arange(len(ladder)), jt]
        ceil_p = quantile(ladder.s2[np.arange(len(ladder)), jt])
        ceil_fixed, _ = fixed_bytes_at(curve, ceil_p)
        jp = p10_ceiling(ladder, target)
        p10_ceil_p = quantile(ladder.s2[np.arange(len(ladder)), jp])
        p10_ceil_fixed, _ = fixed_bytes_at(curve, p10_ceil_p)
        p10_ceil_saving = 1 - ladder.bytes[np.arange(len(ladder)), jp].sum() / p10_ceil_fixed
        for rule, r in part.groupby("rule", sort=False):
            p = quantile(r.score)
            fixed_total, fixed_q = fixed_bytes_at(curve, p)
            ladder_ok = curve[curve.envelope >= p]
            ladder_total = float(ladder_ok.total.iloc[0]) if len(ladder_ok) else math.nan
            out.append(dict(
                variant=variant, format=fmt, rule=rule, images=len(r), p10=p, bytes=float(r.bytes.sum()),
                fixed_bytes=fixed_total, fixed_quality=fixed_q, saving=1 - r.bytes.sum() / fixed_total,
                saving_vs_ladder=1 - r.bytes.sum() / ladder_total, below_target=float((r.score < target).mean()),
                worst=float(r.score.min()), worst_below_p10=float(p - r.score.min()),
                probes=float(r.probes.mean()), encodes=float(r.encodes.mean()),
                oracle_p10=oracle_p, oracle_saving=1 - oracle_bytes.sum() / oracle_fixed,
                ceiling_p10=ceil_p, ceiling_saving=1 - ceil_bytes.sum() / ceil_fixed,
                p10_ceiling_p10=p10_ceil_p, p10_ceiling_saving=p10_ceil_saving))
    return pd.DataFrame(out)
