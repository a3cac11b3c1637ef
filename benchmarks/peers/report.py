"""From the jobs to summary.json's figures (per engine, ratios against the peers, the issue's targets) and the
printed tables."""

import csv
import json
from collections import defaultdict
from pathlib import Path

from benchmarks.peers.engines import RESIZER_PATHS, Job


def common(jobs: list[Job], a: str, b: str, fmt: str) -> tuple[list[Job], list[Job]]:
    """The jobs of engines a and b for outputs both wrote in the requested format `fmt`."""
    def index(engine):
        return {(j.image, j.variant): j for j in jobs
                if j.engine == engine and j.format == fmt and j.written == fmt and not j.error}

    ia, ib = index(a), index(b)
    keys = sorted(ia.keys() & ib.keys())
    return [ia[k] for k in keys], [ib[k] for k in keys]


def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarize(jobs: list[Job], engines: list[str], formats: list[str], variants: list[str]) -> dict:
    per_engine = {}
    for name in engines:
        for fmt in formats:
            mine = [j for j in jobs if j.engine == name and j.format == fmt]
            if not mine:
                continue
            # Counted: outputs written in the requested format (serve answers a PNG original's fallback in PNG).
            ok = [j for j in mine if not j.error and j.written == fmt]
            other = defaultdict(int)
            for j in mine:
                if not j.error and j.written != fmt:
                    other[j.written] += 1
            seconds = sum(j.ms for j in ok) / 1000
            per_engine[f"{name}/{fmt}"] = {
                "engine": name, "format": fmt, "outputs": len(ok), "errors": sum(bool(j.error) for j in mine),
                "other_formats": dict(other),
                "seconds": round(seconds, 3), "outputs_per_s": round(len(ok) / seconds, 2) if seconds else None,
                "bytes": sum(j.bytes for j in ok),
                "s2_mean": rounded(mean(j.s2 for j in ok)), "s2_n": sum(j.s2 is not None for j in ok),
                "ms_per_variant": {v: rounded(mean(j.ms for j in ok if j.variant == v)) for v in variants},
                "bytes_per_variant": {v: sum(j.bytes for j in ok if j.variant == v) for v in variants},
                "s2_per_variant": {v: rounded(mean(j.s2 for j in ok if j.variant == v)) for v in variants},
            }
    ratios = {}
    for mine in [e for e in engines if e in RESIZER_PATHS]:
        for peer in [e for e in engines if e not in RESIZER_PATHS]:
            for fmt in formats:
                a, b = common(jobs, mine, peer, fmt)
                if not a:
                    continue
                ta, tb = sum(j.ms for j in a), sum(j.ms for j in b)
                pairs = [(x.s2, y.s2) for x, y in zip(a, b, strict=True) if x.s2 is not None and y.s2 is not None]
                ratios[f"{mine}|{peer}|{fmt}"] = {
                    "resizer": mine, "peer": peer, "format": fmt, "outputs": len(a),
                    "speed_ratio": round(tb / ta, 3) if ta else None,  # > 1: the resizer path is faster
                    "bytes_ratio": round(sum(j.bytes for j in a) / sum(j.bytes for j in b), 3),  # < 1: smaller
                    "s2_resizer": rounded(mean(p[0] for p in pairs)), "s2_peer": rounded(mean(p[1] for p in pairs)),
                    "s2_n": len(pairs),
                }
    return {"engines": per_engine, "ratios": ratios, "targets": targets(ratios, per_engine, formats)}


def targets(ratios: dict, per_engine: dict, formats: list[str]) -> list[dict]:
    """The issue's targets: per request >= 1.25x and batch >= 2x the faster of sharp and thumbor, per format."""
    rows = []
    for fmt in formats:
        peers = [p for p in ("sharp", "thumbor") if f"{p}/{fmt}" in per_engine and per_engine[f"{p}/{fmt}"]["outputs"]]
        if not peers:
            continue
        fastest = max(peers, key=lambda p: per_engine[f"{p}/{fmt}"]["outputs_per_s"] or 0)
        for path, goal in (("resizer-vips", 1.25), ("resizer-pillow", 1.25), ("serve", 1.25), ("batch-vips", 2.0),
                           ("batch-pillow", 2.0)):
            r = ratios.get(f"{path}|{fastest}|{fmt}")
            if r:
                rows.append({"format": fmt, "path": path, "peer": fastest, "goal": goal,
                             "speed_ratio": r["speed_ratio"],
                             "met": bool(r["speed_ratio"] and r["speed_ratio"] >= goal
                                         and (r["s2_resizer"] is None or r["s2_peer"] is None
                                              or r["s2_resizer"] >= r["s2_peer"] - 0.5)),
                             "s2_resizer": r["s2_resizer"], "s2_peer": r["s2_peer"], "bytes_ratio": r["bytes_ratio"]})
    return rows


def step_profile(jobs: list[Job]) -> dict:
    """Mean ms per pipeline step, per resizer in-process path × format × variant (lazy libvips: see pipeline)."""
    sums = defaultdict(lambda: defaultdict(list))
    for j in jobs:
        if j.steps and not j.error:
            for step, ms in j.steps.items():
                sums[f"{j.engine}/{j.format}/{j.variant}"][step].append(ms)
    return {key: {step: round(sum(v) / len(v), 2) for step, v in steps.items()} for key, steps in sums.items()}


def rounded(value, digits=2):
    return None if value is None else round(value, digits)


def write_results(out: Path, jobs: list[Job], summary: dict) -> None:
    """jobs.csv, one row per output (without the step timings, which summary.json has per path), and
    summary.json."""
    with open(out / "jobs.csv", "w", newline="") as fh:
        columns = [f for f in Job.__dataclass_fields__ if f != "steps"]
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        for job in jobs:
            row = {k: getattr(job, k) for k in columns}
            row["ms"] = round(job.ms, 2)
            writer.writerow(row)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))


def print_results(summary: dict, engines: list[str], far_engines: list[str], formats: list[str],
                  variants: list[str]) -> None:
    """What ran and under which load, the tables per origin (local, then far when it ran), then the first errors."""
    run = summary["run"]
    print(f"\n{run['originals']} originals ({run['avif_originals']} for AVIF), variants {run['variants']}, "
          f"encoders {run['encoders']}")
    for name, version in run["versions"].items():
        print(f"  {name:16}{version}")
    print(f"load (1-min avg) at start {run['load_start'][0]}, during mean {run['load_1min_mean']} / max "
          f"{run['load_1min_max']}, at end {run['load_end'][0]} on {run['cpus']} cores; wall {run['wall_s']} s")
    print(f"\n=== origin: {summary['origin']} ===")
    print_tables(summary, engines, formats, variants)
    if far := summary.get("far_origin"):
        print(f"\n=== origin: {far['origin']} ===")
        for name, version in far["versions"].items():
            print(f"  {name:16}{version}")
        print_tables(far, far_engines, formats, variants)
    for err in run["errors"][:10]:
        print(f"ERROR {err['engine']} ({err['origin']}) {err['image']} {err['format']}: {err['error']}")


def print_tables(summary: dict, engines: list[str], formats: list[str], variants: list[str]) -> None:
    per = summary["engines"]
    print("\nThroughput, one stream (time = sum of per-output times; outputs = originals × variants)")
    print(f"{'engine':16}{'fmt':6}{'outputs':>8}{'time s':>9}{'out/s':>8}{'MB':>8}{'S2':>7}  "
          + "".join(f"{'ms ' + v:>9}" for v in variants))
    for fmt in formats:
        for name in engines:
            row = per.get(f"{name}/{fmt}")
            if not row:
                continue
            other = row["other_formats"]
            print(f"{name:16}{fmt:6}{row['outputs']:>8}{row['seconds']:>9.2f}{row['outputs_per_s'] or 0:>8.1f}"
                  f"{row['bytes'] / 1e6:>8.2f}{_fmt(row['s2_mean']):>7}  "
                  + "".join(f"{_fmt(row['ms_per_variant'][v], 1):>9}" for v in variants)
                  + (f"  not counted: {other}" if other else "")
                  + (f"  ERRORS {row['errors']}" if row["errors"] else ""))
    mine = [e for e in engines if e in RESIZER_PATHS]
    peers = [e for e in engines if e not in RESIZER_PATHS]
    for title, key, digits in (("Speed ratio (peer time / resizer time; > 1 = resizer faster)", "speed_ratio", 2),
                               ("Bytes ratio (resizer bytes / peer bytes; < 1 = resizer smaller)", "bytes_ratio", 2)):
        if not (mine and peers):
            break
        print(f"\n{title}, on the outputs both wrote in the format")
        print(f"{'resizer path':16}{'fmt':6}" + "".join(f"{p:>16}" for p in peers))
        for fmt in formats:
            for m in mine:
                cells = [summary["ratios"].get(f"{m}|{p}|{fmt}", {}).get(key) for p in peers]
                if any(c is not None for c in cells):
                    print(f"{m:16}{fmt:6}" + "".join(f"{_fmt(c, digits):>16}" for c in cells))
    if any(row["s2_n"] for row in per.values()):
        print("\nSSIMULACRA2 (mean, 6-scale equivalent; quality sample) and KB per output, per variant")
        print(f"{'engine':16}{'fmt':6}" + "".join(f"{'S2 ' + v:>9}" for v in variants)
              + "".join(f"{'KB ' + v:>9}" for v in variants))
        for fmt in formats:
            for name in engines:
                row = per.get(f"{name}/{fmt}")
                if row and row["s2_n"]:
                    n = {v: max(1, row["outputs"] // len(variants)) for v in variants}
                    print(f"{name:16}{fmt:6}" + "".join(f"{_fmt(row['s2_per_variant'][v], 1):>9}" for v in variants)
                          + "".join(f"{row['bytes_per_variant'][v] / n[v] / 1000:>9.1f}" for v in variants))
    if summary["targets"]:
        print("\nTargets (vs the faster of sharp and thumbor; quality: mean S2 on the sample, "
              "within 0.5 counts as equal)")
        for t in summary["targets"]:
            print(f"  {t['format']:5} {t['path']:15} vs {t['peer']:8} {_fmt(t['speed_ratio'])}x (goal {t['goal']}x)  "
                  f"S2 {_fmt(t['s2_resizer'], 1)} vs {_fmt(t['s2_peer'], 1)}  bytes {_fmt(t['bytes_ratio'])}x  "
                  f"{'MET' if t['met'] else 'not met'}")


def _fmt(value, digits=2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"

