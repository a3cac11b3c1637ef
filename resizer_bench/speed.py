"""Speed of the two backends per format x variant: latency at 1 core and at all cores, throughput with N worker
processes, and peak memory of one transform.

Every measurement runs in a fresh process, so one cannot warm or pollute another:
- latency: one process per (backend, threads), pinned to `threads` cores (sched_setaffinity, before any image
  library loads) with libvips' pool sized to match and its operation cache off. Pinning is what makes "1 thread"
  mean the same for both backends: Pillow itself is single-threaded except its AVIF encoder (libavif threads = the
  cores it may use). One warm-up transform per format (codec initialisation) is discarded, then each
  (image, format, variant) is timed `repeats` times or until `case_budget_s` is spent (at least once).
- throughput: helper processes from `executor.run_tasks` (or Dask workers), each libvips at 1 thread.
- peak RSS: one process per measurement; VmHWM after imports and after the transform.

The decode/resize/encode split comes from Result.timings. libvips is lazy: for one variant its decoding runs in
the "render" step, so it lands in resize_ms (in decode_ms only for a rotated original, which auto_orient decodes
to memory); encode_ms is the encoder alone on both backends.
"""

import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from resizer.config import BACKENDS, backend_refusal

from .executor import cpu_count, run_tasks


@dataclass(frozen=True)
class Plan:
    """What to measure; picklable, so it travels to the measuring processes."""

    images: tuple[str, ...]  # absolute paths
    names: tuple[str, ...]  # the same images as the dataset names them
    backends: tuple[str, ...]
    formats: tuple[str, ...]
    variants: tuple[str, ...]
    config: str | None  # variants config path (None: the packaged one)
    threads: tuple[int, ...]
    repeats: int
    case_budget_s: float

    def describe(self) -> str:
        return (f"{len(self.images)} images x {len(self.formats)} formats x {len(self.variants)} variants, "
                f"backends {', '.join(self.backends)}, threads {', '.join(map(str, self.threads))}, "
                f"up to {self.repeats} timed runs per case ({self.case_budget_s:g} s budget each)")


def make_plan(dataset, *, quick: bool = False, images: int = 0, seed: int = 0, backends=BACKENDS,
              formats=(), variants=(), config: str = "", repeats: int = 0, case_budget_s: float = 0) -> Plan:
    """The measurement plan for a loaded `datasets.Dataset`; empty/zero arguments take the mode's defaults.

    quick: the smallest image, the two smallest variants, 1 timed run per case. Otherwise `images` images
    (default 2) drawn with `seed`, every variant of the config, up to 3 timed runs per case within 1 s (AVIF's
    large variants take seconds each: they get one run)."""
    from resizer.config import load_config
    from resizer.image.formats import OUTPUT_FORMATS

    cfg = load_config(config or None)
    table = dataset.images.assign(pixels=dataset.images["width"] * dataset.images["height"])
    if table.empty:
        raise ValueError(f"{dataset.describe()}: nothing to measure")
    count = min(images or (1 if quick else 2), len(table))
    if quick:
        table = table.sort_values(["pixels", "file"]).head(count)
    elif count < len(table):
        table = table.sample(n=count, random_state=seed)
    table = table.sort_values("file")
    by_size = sorted(cfg.variants.values(), key=lambda v: v.size)
    chosen = list(variants) or [v.name for v in (by_size[:2] if quick else by_size)]
    unknown = [v for v in chosen if v not in cfg.variants]
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; the config has {list(cfg.variants)}")
    return Plan(images=tuple(str(dataset.path(f)) for f in table["file"]), names=tuple(table["file"]),
                backends=tuple(backends), formats=tuple(formats or OUTPUT_FORMATS), variants=tuple(chosen),
                config=str(Path(config).resolve()) if config else None, threads=tuple(sorted({1, cpu_count()})),
                repeats=repeats or (1 if quick else 3), case_budget_s=case_budget_s or (0.5 if quick else 1.0))


# --- fresh processes ----------------------------------------------------------------------------------------

def _pin(threads: int) -> None:
    """Limit this (fresh) process to `threads` cores before any image library starts its threads."""
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, allowed[:threads])
    os.environ["VIPS_CONCURRENCY"] = str(threads)


# The child: pin, unpickle (fn, arg) from stdin, pickle fn(arg) into the file named by argv[2].
CHILD = ("import pickle, sys; from resizer_bench.speed import _pin; threads = int(sys.argv[1]); "
         "threads and _pin(threads); fn, arg = pickle.load(sys.stdin.buffer); "
         "pickle.dump(fn(arg), open(sys.argv[2], 'wb'))")


def in_fresh_process(fn, arg, *, threads: int = 0):
    """fn(arg) in a new interpreter (pinned to `threads` cores when > 0); fn must be importable by name."""
    with tempfile.NamedTemporaryFile(suffix=".pickle") as result:
        done = subprocess.run([sys.executable, "-c", CHILD, str(threads), result.name],
                              input=pickle.dumps((fn, arg)), capture_output=True)
        if done.returncode != 0:
            raise RuntimeError(f"{fn.__name__} failed in a child process:\n{done.stderr.decode()[-3000:]}")
        return pickle.load(result)


def made_by(cfg, backend: str, names) -> list[str]:
    """The variants of `names` that `backend` can make: the config's own refusal (`config.backend_refusal`: no
    smart crops on Pillow) leaves the others out of that backend's measurements."""
    return [name for name in names if backend_refusal(backend, {name: cfg.variant(name)}) is None]


def _prepare(backend: str, config: str | None, threads: int = 0):
    """Import the pipeline and the backend (outside any timing); libvips: no operation cache."""
    from resizer.config import load_config
    from resizer.image.backends import get_backend

    get_backend(backend)
    if backend == "vips":
        import pyvips

        pyvips.cache_set_max(0)
        if threads:
            pyvips.concurrency_set(threads)
    return load_config(config)


def _split(timings: dict) -> dict:
    """Result.timings (step -> ms) summed into decode (the pipeline's source steps), encode, and resize (the
    variant steps before encoding)."""
    from resizer.image.pipeline import SOURCE_STEPS

    decode = {step.__name__ for step in SOURCE_STEPS}
    split = dict.fromkeys(("decode_ms", "resize_ms", "encode_ms"), 0.0)
    for step, ms in timings.items():
        split["decode_ms" if step in decode else "encode_ms" if step == "encode" else "resize_ms"] += ms
    return split


# --- latency ------------------------------------------------------------------------------------------------

def latency_worker(job: tuple[Plan, str, int]) -> list[dict]:
    """In a process pinned to `threads` cores: every (image, format, variant) of the plan for one backend."""
    from resizer.errors import ResizerError
    from resizer.image.pipeline import transform

    plan, backend, threads = job
    cfg = _prepare(backend, plan.config, threads)
    names = made_by(cfg, backend, plan.variants)
    if not names:
        return []
    smallest = min((cfg.variant(name) for name in names), key=lambda v: v.size)
    first = Path(plan.images[0]).read_bytes()
    for fmt in plan.formats:  # warm-up, discarded: codec libraries initialise on first use
        try:
            transform(first, smallest, fmt, backend=backend, limits=cfg.limits)
        except ResizerError:
            pass
    rows = []
    for path, name in zip(plan.images, plan.names, strict=True):
        data = Path(path).read_bytes()
        for fmt in plan.formats:
            for vname in names:
                spent = 0.0
                for run in range(plan.repeats):
                    if run and spent >= plan.case_budget_s:
                        break
                    row = {"image": name, "backend": backend, "format": fmt, "variant": vname, "threads": threads,
                           "run": run}
                    start = time.perf_counter()
                    try:
                        result = transform(data, cfg.variant(vname), fmt, backend=backend, limits=cfg.limits)
                    except ResizerError as exc:  # an original the limits refuse: recorded, not timed
                        rows.append({**row, "error": f"{exc.status} {type(exc).__name__}"})
                        break
                    ms = (time.perf_counter() - start) * 1000
                    spent += ms / 1000
                    rows.append({**row, "ms": ms, "format_written": result.format, "bytes": len(result.data),
                                 "width": result.width, "height": result.height, "error": "",
                                 **_split(result.timings)})
    return rows


def measure_latency(plan: Plan, *, progress: bool = True):
    """Raw timed runs (one row per transform) for every backend x thread setting, one fresh process each."""
    import pandas as pd
    from tqdm import tqdm

    jobs = [(plan, backend, threads) for backend in plan.backends for threads in plan.threads]
    rows = []
    for job in tqdm(jobs, desc="latency", unit="process", disable=not progress):
        rows += in_fresh_process(latency_worker, job, threads=job[2])
    return pd.DataFrame(rows)


def summarize_latency(samples):
    """Per backend x format x variant x threads: n, median, p90, IQR and the median decode/resize/encode split."""
    ok = samples[samples["error"] == ""]
    grouped = ok.groupby(["backend", "format", "variant", "threads"], sort=False)
    table = grouped["ms"].agg(
        n="size", latency_ms_median="median", latency_ms_p90=lambda s: s.quantile(0.9),
        latency_ms_p25=lambda s: s.quantile(0.25), latency_ms_p75=lambda s: s.quantile(0.75),
        latency_ms_mean="mean").reset_index()
    table["latency_ms_iqr"] = table["latency_ms_p75"] - table["latency_ms_p25"]
    split = grouped[["decode_ms", "resize_ms", "encode_ms"]].median().reset_index()
    table = table.merge(split, on=["backend", "format", "variant", "threads"])
    table["images"] = grouped["image"].nunique().values
    table["bytes_median"] = grouped["bytes"].median().values
    return table


# --- throughput ---------------------------------------------------------------------------------------------

_WARM: set = set()


def throughput_task(task: tuple[str, str | None, str, str, str]) -> dict:
    """One transform in a helper process; imports and a first (warm-up) call per format are not timed."""
    import socket

    from resizer.image.pipeline import transform

    backend, config, path, fmt, vname = task
    cfg = _prepare(backend, config, threads=1)
    data = Path(path).read_bytes()
    if (backend, fmt) not in _WARM:
        transform(data, cfg.variant(vname), fmt, backend=backend, limits=cfg.limits)
        _WARM.add((backend, fmt))
    start = time.time()
    transform(data, cfg.variant(vname), fmt, backend=backend, limits=cfg.limits)
    end = time.time()
    return {"worker": f"{socket.gethostname()}:{os.getpid()}", "format": fmt, "start": start, "end": end}


def measure_throughput(plan: Plan, *, workers: int = 0, scheduler: str = "", progress: bool = True):
    """Transforms per second with N worker processes, per backend over every (image, format, variant).

    "all" rows: tasks / wall time from the first start to the last end (process start-up and imports excluded).
    Per-format rows: tasks x workers / summed task time, i.e. the steady-state rate with every worker busy."""
    import pandas as pd

    from resizer.config import load_config

    cfg = load_config(plan.config)
    rows = []
    for backend in plan.backends:
        tasks = [(backend, plan.config, path, fmt, v) for fmt in plan.formats for path in plan.images
                 for v in made_by(cfg, backend, plan.variants)]
        if not tasks:
            continue
        done = pd.DataFrame(run_tasks(throughput_task, tasks, workers=workers, scheduler=scheduler,
                                      desc=f"throughput {backend}", progress=progress))
        used = done["worker"].nunique()
        wall = done["end"].max() - done["start"].min()
        rows.append({"backend": backend, "format": "all", "workers": used, "images": len(done), "seconds": wall,
                     "images_per_s": len(done) / wall})
        for fmt, group in done.groupby("format", sort=False):
            busy = (group["end"] - group["start"]).sum()
            rows.append({"backend": backend, "format": fmt, "workers": used, "images": len(group),
                         "seconds": busy / used, "images_per_s": len(group) * used / busy})
    return pd.DataFrame(rows)


# --- memory -------------------------------------------------------------------------------------------------

def _vm_hwm_mb() -> float:
    """Peak resident set size of this process so far (Linux VmHWM; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_worker(task: tuple[str, str | None, str, str, str]) -> dict:
    """In a fresh process: peak RSS after imports + reading the original, and after one transform with the
    libvips threads the origin-response function gets at the template's default memory (as a container holds)."""
    from resizer.cfn import ORIGIN_MEMORY_MB
    from resizer.edge.runtime import vcpu_share
    from resizer.image.pipeline import transform

    backend, config, path, fmt, vname = task
    cfg = _prepare(backend, config, threads=vcpu_share(ORIGIN_MEMORY_MB))
    data = Path(path).read_bytes()
    before = _vm_hwm_mb()
    result = transform(data, cfg.variant(vname), fmt, backend=backend, limits=cfg.limits)
    after = _vm_hwm_mb()
    return {"rss_baseline_mb": before, "rss_peak_mb": after, "rss_transform_mb": after - before,
            "width": result.width, "height": result.height}


def measure_rss(plan: Plan, *, progress: bool = True):
    """Peak RSS per backend x format for the largest variant of the largest image in the plan."""
    import pandas as pd
    from PIL import Image
    from tqdm import tqdm

    from resizer.config import load_config

    def pixels(path: str) -> int:
        with Image.open(path) as im:
            return im.width * im.height

    largest = max(plan.images, key=pixels)
    cfg = load_config(plan.config)
    largest_made = {b: max(made, key=lambda v: cfg.variant(v).size) for b in plan.backends
                    if (made := made_by(cfg, b, plan.variants))}
    jobs = [(b, plan.config, largest, fmt, variant) for b, variant in largest_made.items() for fmt in plan.formats]
    rows = []
    for job in tqdm(jobs, desc="peak RSS", unit="process", disable=not progress):
        rows.append({"backend": job[0], "format": job[3], "variant": job[4], "image": Path(largest).name,
                     **in_fresh_process(rss_worker, job)})
    return pd.DataFrame(rows)


# --- figures and summary ------------------------------------------------------------------------------------

def plot_latency(table):
    """Median latency (bars) with p90 (ticks) per variant, one panel per format, bars per backend x threads."""
    import matplotlib.pyplot as plt

    formats = list(dict.fromkeys(table["format"]))
    series = list(dict.fromkeys(zip(table["backend"], table["threads"], strict=True)))
    variants = list(dict.fromkeys(table["variant"]))
    fig, axes = plt.subplots(1, len(formats), figsize=(3.2 * len(formats) + 1, 3.4), squeeze=False, sharey=False)
    width = 0.8 / max(1, len(series))
    for ax, fmt in zip(axes[0], formats, strict=True):
        for i, (backend, threads) in enumerate(series):
            sel = table[(table["format"] == fmt) & (table["backend"] == backend) & (table["threads"] == threads)]
            sel = sel.set_index("variant").reindex(variants)
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(variants))]
            ax.bar(xs, sel["latency_ms_median"], width, label=f"{backend}, {threads} thr")
            ax.errorbar(xs, sel["latency_ms_p90"], fmt="_", color="black", markersize=6)
        ax.set_xticks(range(len(variants)), variants)
        ax.set_title(fmt)
        ax.set_ylabel("ms (median; tick = p90)")
    axes[0][-1].legend(fontsize=8, loc="upper left")
    fig.suptitle("Latency of one transform")
    fig.tight_layout()
    return fig


def plot_split(table):
    """Median decode / resize / encode time per backend x format (1 thread, all variants pooled)."""
    import matplotlib.pyplot as plt

    one = table[table["threads"] == table["threads"].min()]
    split = one.groupby(["backend", "format"], sort=False)[["decode_ms", "resize_ms", "encode_ms"]].median()
    split.index = [f"{backend} · {fmt}" for backend, fmt in split.index]
    fig, ax = plt.subplots(figsize=(7, 3.4))
    split.plot.barh(stacked=True, ax=ax)
    ax.set_xlabel("ms (median over variants)")
    ax.set_title("Where the time goes (libvips is lazy: its decode runs in render, under resize)")
    fig.tight_layout()
    return fig


def plot_throughput_rss(throughput, rss):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    throughput.pivot(index="format", columns="backend", values="images_per_s").plot.bar(ax=left, rot=0)
    left.set_ylabel("transforms / s")
    left.set_title(f"Throughput, {int(throughput['workers'].max())} worker processes")
    rss.pivot(index="format", columns="backend", values="rss_peak_mb").plot.bar(ax=right, rot=0)
    right.set_ylabel("MB")
    right.set_title(f"Peak RSS, {rss['variant'].iloc[0]} of {rss['image'].iloc[0]}")
    fig.tight_layout()
    return fig


def summary_markdown(plan: Plan, table, throughput, rss) -> str:
    """The speed notebook's fragment of summary.md."""
    def fmt_ms(x: float) -> str:
        return "-" if math.isnan(x) else f"{x:.0f}" if x >= 10 else f"{x:.1f}"

    lines = ["## Speed", "", plan.describe() + ".", "",
             "| backend | threads | format | " + " | ".join(plan.variants) + " |",
             "|---|---|---|" + "---|" * len(plan.variants)]
    for (backend, threads, fmt), group in table.groupby(["backend", "threads", "format"], sort=False):
        by_variant = group.set_index("variant")["latency_ms_median"]
        cells = [fmt_ms(by_variant.get(v, math.nan)) for v in plan.variants]
        lines.append(f"| {backend} | {threads} | {fmt} | " + " | ".join(cells) + " |")
    lines += ["", "Median ms per transform. Throughput (all formats, "
              f"{int(throughput['workers'].max())} processes): "
              + ", ".join(f"{r.backend} {r.images_per_s:.1f}/s" for r in
                          throughput[throughput["format"] == "all"].itertuples())
              + ". Peak RSS: "
              + ", ".join(f"{b} {g['rss_peak_mb'].max():.0f} MB" for b, g in rss.groupby("backend", sort=False))
              + "."]
    return "\n".join(lines)
