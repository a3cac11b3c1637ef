"""Per-image quality, cross-validated by image: does an edge rule that probes and scores beat the best fixed
quality at the same p10 of SSIMULACRA2 (s2_equiv)? And what does it add to a miss?

    PYTHONPATH=. .venv/bin/python benchmarks/perimage.py --variants sm,md,lg --formats avif,webp \\
        --cache /tmp/perimage-cache

Data: `resizer_bench.perimage.ladder_sweep` over the corpus JPEGs (vips backend, the runtime pipeline), per
(image, variant, format, ladder quality): bytes, s2_equiv (against the Lanczos reference) and s2_edge
(quality_probe.s2_score: SSIMULACRA2 in libvips against the pixels the encoder was handed); cached as parquet, so
a rerun only scores. Rules: `perimage.Fixed` (today's chooser), `Threshold` (exact search; 2 probes),
`ProbeMap`, `ProbeVerify` on s2_edge, plus the luma statistics where the sweep recorded them. The table: per
variant x format x rule, over all images' cross-validated choices (k folds by image, near-duplicates grouped):
saving vs the best fixed quality at the same p10 (interpolated between ladder qualities), the ceiling (a
perfect metric with exact search, in-sample), share below target, worst score, probes/encodes per miss and
the added milliseconds per miss (timed: vips backend, 1 thread, CPU time, `--timing-images` images).

Findings (33 corpus JPEGs, 2026-11): at equal p10, SSIMULACRA2 itself with exact search (~4 probes) saves
11-15 % at sm/md and 12-13 % at lg/xl (cross-validated); the edge-computable s2_edge rules 0-14 % at sm/md, and
every probe costs 4-6x a whole miss (5-30x per miss in all); rules on luma SSIM/PSNR lose to the fixed quality.
The chooser's offline search (`search[s2_edge]`, run by warm and variants, the edge answering provisionally) saves
9-16 % at sm/md under CV and 13-24 % on the 8 bundled photos held out (`--holdout bundled`); no inline rule is
fast enough. `--ceilings 50,60,70`: the most any rule could save at equal p10 (12-17.5 % at target 70).
"""

import argparse
import statistics
import sys
from pathlib import Path

import pandas as pd

from resizer_bench import perimage as P
from resizer_bench import perimage_choose as PC

ROOT = Path(__file__).resolve().parents[1]
# ladder per variant: lg/xl start higher (no image needs less there, and each point costs a large AVIF encode)
LADDERS = {"sm": tuple(range(20, 96, 3)), "md": tuple(range(20, 96, 3)), "lg": tuple(range(38, 93, 3)),
           "xl": tuple(range(38, 93, 3))}


def load(args, config_text: str, files, root: str) -> pd.DataFrame:
    parts = []
    for v in args.variants:
        parts.append(P.ladder_sweep(root, files, config_text=config_text, variants=[v], formats=args.formats,
                                    ladder=LADDERS[v], cache_dir=args.cache, fast_stats=False, s2_reference=True,
                                    edge_score=v in args.edge_variants, cached_only=args.cached_only,
                                    progress=True))
    frame = pd.concat([p for p in parts if len(p)], ignore_index=True)
    # an image only counts where every format of the variant is complete
    complete = frame.groupby(["file", "variant"]).format.nunique() == len(args.formats)
    keep = complete[complete].index
    return frame.set_index(["file", "variant"]).loc[keep].reset_index()


def timing(args, config_text: str, files) -> pd.DataFrame:
    """Per variant x format, medians over images (CPU ms, 1 thread): today's miss (transform at the fixed
    quality), one encode, one s2_score of the output (`perimage.probe_timing`)."""
    per = P.probe_timing(args.corpus, files[:args.timing_images], config_text=config_text, variants=args.variants,
                         formats=args.formats, qualities=args.fixed_quality, luma=True)
    return per.groupby(["variant", "format"]).agg(miss_ms=("miss_ms", "median"), encode_ms=("encode_ms", "median"),
                                                  score_ms=("score_ms", "median"), luma_ms=("luma_ms", "median"),
                                                  images=("file", "nunique"))


def ceilings(frame: pd.DataFrame, targets: list[float]) -> pd.DataFrame:
    """Per variant x format, the most any per-image rule could save at equal p10 (`perimage.p10_ceiling`) for
    each target: whether a byte goal is reachable at all on these images, before any rule is fitted."""
    rows = []
    for (v, fmt), part in frame.groupby(["variant", "format"]):
        ladder = P.Ladder.from_frame(part)
        curve, r = P.fixed_curve(ladder), range(len(ladder))
        for target in targets:
            j = P.p10_ceiling(ladder, target)
            fixed, _ = P.fixed_bytes_at(curve, P.quantile(ladder.s2[r, j]))
            rows.append(dict(variant=v, format=fmt, images=len(ladder), target=target,
                             saving=1 - ladder.bytes[r, j].sum() / fixed))
    return pd.DataFrame(rows).pivot_table(index=["variant", "format", "images"], columns="target", values="saving")


def held_out(args, config_text: str, frame: pd.DataFrame) -> None:
    """The rules fitted on every corpus image, applied to other photos: saving against the best fixed quality at
    the same p10 on those photos (what an independent check of a tuned config measures)."""
    from resizer.samples import SAMPLE_PHOTOS, sample_photos_dir

    if args.holdout == "bundled":
        root, files = str(sample_photos_dir()), list(SAMPLE_PHOTOS)
    else:
        root = args.holdout
        files = sorted(p.name for p in Path(root).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    hold = load(argparse.Namespace(**{**vars(args), "cached_only": False}), config_text, files, root)
    rows = pd.concat([P.held_out(frame[frame.variant == v], part, variant_rules(part))
                      for v, part in hold.groupby("variant")], ignore_index=True)
    table = P.summarize(rows, hold)
    print(f"\nheld out: {hold.file.nunique()} photos from {root}, rules fitted on the {frame.file.nunique()} corpus "
          f"images (per variant: images larger than its box)")
    print(table[["variant", "format", "rule", "images", "p10", "saving", "p10_ceiling_saving", "below_target",
                 "worst", "probes", "encodes"]].round(3).to_string(index=False))


def variant_rules(part: pd.DataFrame) -> list:
    """Today's chooser; the edge rules on every score the sweep recorded for this variant; and, as the upper
    bound of each search, the same rules with SSIMULACRA2 itself as the probe's score (not an edge method)."""
    rules = [P.Fixed()]
    for score in ("s2_edge", "ssim"):
        if score in part and part[score].notna().all():
            rules += [P.Threshold(score=score), P.Threshold(score=score, probes=2), P.ProbeMap(score=score),
                      P.ProbeVerify(score=score)]
    if "s2_edge" in part and part.s2_edge.notna().all():  # the offline search as the chooser fits it
        rules.append(PC.CANDIDATES[PC.SEARCH](P.TARGET))
    rules += [P.Threshold(score="s2_oracle"), P.Threshold(score="s2_oracle", probes=2),
              P.ProbeVerify(score="s2_oracle")]
    return rules


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("--variants", default="sm,md,lg")
    ap.add_argument("--formats", default="avif,webp")
    ap.add_argument("--cache", default="/tmp/perimage-cache")
    ap.add_argument("--cached-only", action="store_true", help="use only images already in the cache")
    ap.add_argument("--k", type=int, default=5, help="folds (by image)")
    ap.add_argument("--min-test", type=int, default=5, help="images per fold at least")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timing-images", type=int, default=6)
    ap.add_argument("--edge-variants", default="sm,md",
                    help="variants swept with the edge score (s2_edge); the others only with SSIMULACRA2 (faster)")
    ap.add_argument("--out", default="", help="write the table (and the per-image choices) as parquet here")
    ap.add_argument("--holdout", default="", metavar="DIR",
                    help="also apply the rules fitted on the corpus to these photos (or 'bundled': scikit-image's)")
    ap.add_argument("--ceilings", default="", metavar="TARGETS",
                    help="only print the p10 ceiling (the most any rule saves) at these targets, e.g. 60,70")
    args = ap.parse_args(argv)
    args.variants, args.formats = args.variants.split(","), args.formats.split(",")
    args.edge_variants = args.edge_variants.split(",")
    config_text = (ROOT / "resizer" / "variants.toml").read_text()
    files = sorted(p.name for p in Path(args.corpus).glob("*.jpg"))
    frame = load(args, config_text, files, args.corpus)
    if args.ceilings:
        targets = [float(t) for t in args.ceilings.split(",")]
        print(f"{frame.file.nunique()} images; the most any per-image rule saves at equal p10 (no image more than "
              f"{P.SLACK:g} below it), by target:")
        print((100 * ceilings(frame, targets)).round(1).to_string())
        return 0
    groups = P.duplicate_groups(args.corpus, sorted(frame.file.unique()))
    cvs, fitted = [], {}
    for v, part in frame.groupby("variant"):
        rules = variant_rules(part)
        cvs.append(P.cross_validate(part, rules, k=args.k, groups=groups, seed=args.seed, min_test=args.min_test))
        for fmt, sub in part.groupby("format"):  # every rule fitted on all images: what would ship
            ladder = P.Ladder.from_frame(sub)
            fitted[(v, fmt)] = {P.rule_name(r): r.fit(ladder) for r in rules if "oracle" not in P.rule_name(r)}
    cv = pd.concat(cvs, ignore_index=True)
    table = P.summarize(cv, frame)
    args.fixed_quality = {key: params["fixed"]["quality"] for key, params in fitted.items()}
    times = timing(args, config_text, sorted(frame.file.unique()))
    args.variants = [v for v in args.variants if v in set(frame.variant)]
    # added ms per miss: probes x one score + extra encodes x one encode (medians of the timing images)
    added = []
    for (v, fmt, rule), r in cv.groupby(["variant", "format", "rule"]):
        t = times.loc[(v, fmt)]
        score_ms = t.luma_ms if "[ssim" in rule else t.score_ms
        extra = r.probes * score_ms + (r.encodes - 1) * t.encode_ms
        added.append(dict(variant=v, format=fmt, rule=rule, added_ms_mean=float(extra.mean()),
                          miss_ms_p50=float(t.miss_ms),
                          miss_ratio_p50=float(statistics.median(t.miss_ms + extra) / t.miss_ms)))
    table = table.merge(pd.DataFrame(added), on=["variant", "format", "rule"])
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    cols = ["variant", "format", "rule", "images", "p10", "saving", "ceiling_saving", "oracle_saving",
            "p10_ceiling_saving", "below_target", "worst", "worst_below_p10", "probes", "encodes", "added_ms_mean",
            "miss_ms_p50", "miss_ratio_p50"]
    print(f"{frame.file.nunique()} images; {args.k} folds by image (min {args.min_test}); groups: "
          f"{sorted({g for f, g in groups.items() if g != f})}")
    print(table[cols].round(3).to_string(index=False))
    print("\ntiming (CPU ms, vips, 1 thread, medians):")
    print(times.round(1).to_string())
    decisions, _ = PC.study(frame.assign(group=frame.file.map(groups)), times.reset_index())
    print("\nthe chooser's decision at the choose notebook's default traffic (its reason gives the break-even):")
    for r in decisions.itertuples():
        print(f"  {r.variant} {r.format} {r.rule}: {r.decision} ({r.reason})")
    print("\nparameters fitted on all images:")
    for (v, fmt), rules_params in fitted.items():
        for name, params in rules_params.items():
            if "ssim" in name:
                continue
            short = {k: val for k, val in params.items() if k != "knots_index"}
            print(f"  {v} {fmt} {name}: {short}")
    if args.holdout:
        held_out(args, config_text, frame)
    if args.out:
        table.to_parquet(args.out)
        cv.to_parquet(Path(args.out).with_suffix(".choices.parquet"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
