"""Do the encoder settings the workbench chooses hold on images they were not chosen on, and what do they cost a miss?

    .venv/bin/python benchmarks/encoder_sets.py --variants lg,xl --formats avif,webp,jpeg --cache /tmp/encoder-sets

The corpus photos larger than the largest box are split in two by image (`perimage.image_folds`); for each half,
the chooser is trained on the other half: the quality sweep with every encoder set (`sweep.run_sweep`, vips, cached
as parquet so a rerun only chooses), then `choose.choose` (encoder sets included, traffic and prices at the
notebook's defaults, a miss estimated from the sweep) writes the tuned config. On the held-out half:
- the tuned config's outputs (`pipeline.transform`, what `resizer variants --config` writes) are scored with the
  workbench's score (SSIMULACRA2 against the Lanczos reference, 6-scale equivalent under 225 px);
- today's settings (the packaged `resizer/variants.toml`) at the **lowest integer quality whose p10 reaches the
  tuned config's p10 minus 0.5** (bisection over qualities 20-100, every image encoded at each step);
- the saving in mean bytes of the tuned config against that, per variant x format;
- a miss: median `transform` ms over the held-out images on one libvips thread, tuned against today's config, and
  the first viewer's wait ratio (x the CPU share at the template's memory, + 60 ms of S3), as the chooser prices it.
"""

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from resizer.config import DEFAULT_CONFIG_PATH, parse_config
from resizer.image.pipeline import render_each, transform
from resizer_bench import choose, cost, metrics, sweep
from resizer_bench.datasets import load_dataset
from resizer_bench.encoder_choice import EncoderTarget, bytes_at_target, curves, with_miss
from resizer_bench.executor import run_tasks
from resizer_bench.perimage import image_folds

ROOT = Path(__file__).resolve().parents[1]
TODAY = DEFAULT_CONFIG_PATH.read_text()
SLACK = 0.5  # today's quality: p10 within this of the tuned config's


@dataclass(frozen=True)
class EvalTask:
    """One image, one config text, (variant, format, quality or None = the config's own) to render and score."""

    path: str
    config_text: str
    requests: tuple[tuple[str, str, int | None], ...]


def evaluate(task: EvalTask) -> list[dict]:
    """Bytes and score of each request's output (exactly `transform`'s bytes: render_each)."""
    data = Path(task.path).read_bytes()
    config = parse_config(task.config_text)
    requests = [(sweep.with_quality(config.variant(v), f, q), f) for v, f, q in task.requests]
    results = render_each(data, requests, limits=config.limits, search=True)
    source = metrics.load_source(data)
    rows = []
    for (v, f, q), result in zip(task.requests, results, strict=True):
        scorer = metrics.Ssimulacra2(metrics.reference(source, result.width, result.height), pad_scales=True)
        score = scorer(metrics.decode_rgb(result.data))
        rows.append(dict(file=Path(task.path).name, variant=v, format=f, quality=q, bytes=len(result.data),
                         s2_equiv=float(metrics.equivalent_score(score, len(scorer.levels)))))
    return rows


def p10(values) -> float:
    return float(np.quantile(np.asarray(values, dtype=np.float64), 0.10))


def run_eval(paths, config_text: str, requests_of, workers: int) -> pd.DataFrame:
    tasks = [EvalTask(str(p), config_text, tuple(requests_of(p))) for p in paths]
    tasks = [t for t in tasks if t.requests]
    return pd.DataFrame([r for rows in run_tasks(evaluate, tasks, workers=workers, progress=False) for r in rows])


def matching_today(paths, pairs, tuned_p10: dict, boxes: dict, workers: int) -> pd.DataFrame:
    """Per pair, today's settings at the lowest integer quality whose p10 over `paths` reaches tuned_p10 - SLACK:
    bisection over 20..100, all pairs and images of a step in one parallel pass. Rows of the final quality."""
    lo, hi = {p: 20 for p in pairs}, {p: 100 for p in pairs}
    seen: dict[tuple, pd.DataFrame] = {}

    def at(qualities: dict) -> None:
        todo = {p: q for p, q in qualities.items() if (p, q) not in seen}
        if not todo:
            return
        frame = run_eval(paths, TODAY, lambda path: [(v, f, q) for (v, f), q in todo.items()
                                                     if boxes[path] > BOXES[v]], workers)
        for (v, f), q in todo.items():
            seen[(v, f), q] = frame[(frame.variant == v) & (frame.format == f) & (frame.quality == q)]

    while any(lo[p] < hi[p] for p in pairs):
        mids = {p: (lo[p] + hi[p]) // 2 for p in pairs if lo[p] < hi[p]}
        at(mids)
        for p, q in mids.items():
            if p10(seen[p, q].s2_equiv) >= tuned_p10[p] - SLACK:
                hi[p] = q
            else:
                lo[p] = q + 1
    at({p: lo[p] for p in pairs})
    return pd.concat([seen[p, lo[p]] for p in pairs], ignore_index=True)


def miss_ms(paths, config_text: str, pairs, boxes: dict, repeats: int) -> dict:
    """Per pair: median transform ms over `paths` (one libvips thread, this process; first run discarded)."""
    import pyvips

    pyvips.concurrency_set(1)
    config = parse_config(config_text)
    out = {}
    for v, f in pairs:
        times = []
        for path in (p for p in paths if boxes[p] > BOXES[v]):
            data = path.read_bytes()
            transform(data, config.variant(v), f, limits=config.limits, search=True)
            for _ in range(repeats):
                started = time.perf_counter()
                transform(data, config.variant(v), f, limits=config.limits, search=True)
                times.append((time.perf_counter() - started) * 1000)
        out[v, f] = statistics.median(times) if times else np.nan
    return out


BOXES = {name: v.size for name, v in parse_config(TODAY).variants.items()}


def set_table(frame: pd.DataFrame, targets=(65.0, 70.0, 75.0)) -> pd.DataFrame:
    """All images, in sample: per variant x format x set, its mean bytes at each target p10 against the input
    set's (interpolated between swept qualities, as the chooser compares) and its median encode ms."""
    rows = []
    for variant, part in frame.groupby("variant"):
        part = with_miss(part)
        for fmt, rows_f in part[part.quality.notna()].groupby("format"):
            per = {t: curves(rows_f, EncoderTarget(threshold=t)) for t in targets}
            base = {t: bytes_at_target(c[c.current], t) for t, c in per.items()}
            for text, group in rows_f.groupby("settings", sort=False):
                rows.append(dict(variant=variant, format=fmt, settings=text, encode_ms=group.encode_ms.median(),
                                 **{f"bytes_at_{t:g}": bytes_at_target(c[c.settings == text], t) / base[t] - 1
                                    for t, c in per.items()}))
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    parser.add_argument("--variants", default="lg,xl")
    parser.add_argument("--formats", default="avif,webp,jpeg")
    parser.add_argument("--cache", default="/tmp/encoder-sets")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="timed transforms per image and config")
    parser.add_argument("--timing-images", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    variants, formats = args.variants.split(","), args.formats.split(",")
    pairs = [(v, f) for v in variants for f in formats]
    data = load_dataset(args.corpus)
    longest = dict(zip(data.images.file, np.maximum(data.images.width, data.images.height), strict=True))
    files = [f for f in data.images.file if longest[f] > min(BOXES[v] for v in variants)]
    boxes = {data.path(f): longest[f] for f in files}

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    frame_path = cache / f"sweep_{'-'.join(variants)}_{'-'.join(formats)}.parquet"
    if frame_path.is_file():
        frame = pd.read_parquet(frame_path)
    else:
        grid = {f: sweep.QUALITIES[f] for f in formats}
        frame = sweep.run_sweep(data, config_text=TODAY, variants=variants, qualities=grid, backends=["vips"],
                                workers=args.workers)
        frame.to_parquet(frame_path)
    print(f"sweep: {len(frame)} outputs of {frame.file.nunique()} images; sets: "
          + "; ".join(f"{f}: {', '.join(frame[frame.format == f].settings.unique())}" for f in formats))

    pd.set_option("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 60)
    print("\nin sample, all images: bytes at the target p10 against the input's set, median encode ms (sweep)")
    print(set_table(frame).round(3).to_string(index=False))

    folds = image_folds(files, 2, seed=args.seed, min_test=5)
    results = []
    for fold in sorted(set(folds.values())):
        test = [f for f in files if folds[f] == fold]
        train = frame[~frame.file.isin(test)]
        train.attrs["coverage"] = [dict(variant=v, larger=int(train[train.variant == v].file.nunique()))
                                   for v in variants]
        choice = choose.choose(train, TODAY, target=choose.Target(min_images=5), encoder_target=EncoderTarget(),
                               traffic=cost.Traffic())
        tuned_text = choose.config_toml(TODAY, choice)
        (cache / f"tuned_fold{fold}.toml").write_text(tuned_text)
        tuned = parse_config(tuned_text)
        paths = [data.path(f) for f in test]
        mine = run_eval(paths, tuned_text, lambda p: [(v, f, None) for v, f in pairs if boxes[p] > BOXES[v]],
                        args.workers)
        tuned_p10 = {(v, f): p10(mine[(mine.variant == v) & (mine.format == f)].s2_equiv) for v, f in pairs}
        today = matching_today(paths, pairs, tuned_p10, boxes, args.workers)
        timing_paths = paths[:args.timing_images]
        ms_tuned = miss_ms(timing_paths, tuned_text, pairs, boxes, args.repeats)
        ms_today = miss_ms(timing_paths, TODAY, pairs, boxes, args.repeats)
        for v, f in pairs:
            a = mine[(mine.variant == v) & (mine.format == f)]
            b = today[(today.variant == v) & (today.format == f)]
            enc = tuned.variant(v).encoder(f)
            results.append(dict(fold=fold, variant=v, format=f, images=len(a),
                                tuned=f"{sweep.settings_text(enc)} q{enc.quality}", tuned_p10=tuned_p10[v, f],
                                today_q=int(b.quality.iloc[0]), today_p10=p10(b.s2_equiv), tuned_bytes=a.bytes.mean(),
                                today_bytes=b.bytes.mean(), miss_tuned_ms=ms_tuned[v, f],
                                miss_today_ms=ms_today[v, f]))
        print(f"fold {fold}: trained on {frame.file.nunique() - len(test)} images, tested on {len(test)}")

    table = pd.DataFrame(results)
    table["saving"] = 1 - table.tuned_bytes / table.today_bytes
    scale = cost.cpu_factor(cost.Traffic().origin_memory_mb)
    table["wait_ratio"] = (table.miss_tuned_ms * scale + 60) / (table.miss_today_ms * scale + 60)
    table.to_csv(cache / "holdout.csv", index=False)
    print(table.round(3).to_string(index=False))
    pooled = table.assign(wb=table.tuned_bytes * table.images, wt=table.today_bytes * table.images).groupby(
        ["variant", "format"]).agg(images=("images", "sum"), wb=("wb", "sum"), wt=("wt", "sum"),
                                   tuned_ms=("miss_tuned_ms", "median"), today_ms=("miss_today_ms", "median"))
    pooled["saving"] = 1 - pooled.wb / pooled.wt
    pooled["miss_ratio"] = pooled.tuned_ms / pooled.today_ms
    print("\nheld out, both folds (bytes pooled):")
    print(pooled[["images", "saving", "tuned_ms", "today_ms", "miss_ratio"]].round(3).to_string())


if __name__ == "__main__":
    main()
