"""The explorer behind notebooks/explore.ipynb: one image x variant x format x backend x encoder settings x quality,
rendered with the production pipeline (`resizer.image.pipeline.transform`, the bytes the edge would serve), shown
against the reference the metric uses, with SSIM's local error map, bytes and scores, beside what a run chose.

`Explorer.view` does the work and is what the tests call; `figure` draws a view (the static grid a papermill run
leaves as image/png outputs); `Explorer.widget` wires ipywidgets controls to `view` for JupyterLab. Decoded
sources and references are cached per image, so a change of quality or settings costs one transform and the
scores (the latency of one update is measured and shown).
"""

import functools
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from resizer.config import DEFAULT_CONFIG_PATH, Config, backend_refusal, parse_config
from resizer.image.pipeline import transform

from . import metrics, pictures
from .datasets import load_dataset
from .encoder_choice import settings_changes
from .paths import RunDir, resolve
from .sweep import encoder_sets, settings_text, with_quality


@dataclass(frozen=True)
class View:
    file: str
    variant: str
    format: str  # the format written (an AVIF under 16 px is written as PNG or JPEG)
    backend: str
    settings: str
    quality: int | None
    bytes: int
    s2: float  # SSIMULACRA2, 6-scale equivalent (the chooser's score)
    ssim: float
    reference: np.ndarray
    output: np.ndarray
    error: np.ndarray  # 1 - SSIM's local map
    ms: float  # this update: transform + decode + scores
    chosen: str  # what the run ships for this variant x format, and its score there ("" without a run)


class Explorer:
    """Images of a dataset (a run's worst images first, when opened from a run folder) and a config to explore."""

    def __init__(self, root: Path, files: list[str], config: Config, run: RunDir | None = None):
        self.root, self.files, self.config, self.run = Path(root), files, config, run

    @classmethod
    def open(cls, dataset: str = "bundled", run_dir: str = "", config: str = "") -> "Explorer":
        """From a run folder when it holds a chosen config (its config; its pictures' worst images first), else
        the dataset with `config` (default: the packaged one)."""
        data = load_dataset(dataset)
        files = list(data.images.file)
        run = RunDir(run_dir) if run_dir and (resolve(run_dir) / "variants.toml").is_file() else None
        if run is not None:
            text = (run.path / "variants.toml").read_text(encoding="utf-8")
            if run.has_table(pictures.TABLE):
                tiles = run.read_table(pictures.TABLE)
                worst = tiles[tiles.role.str.startswith("worst")].sort_values("table_score").file.unique().tolist()
                files = [f for f in worst if f in set(files)] + [f for f in files if f not in set(worst)]
        else:
            text = (resolve(config) if config else DEFAULT_CONFIG_PATH).read_text(encoding="utf-8")
        return cls(data.root, files, parse_config(text), run)

    @functools.lru_cache(maxsize=8)  # noqa: B019 (a few explorers per kernel; the cache is the point)
    def _source(self, file: str) -> tuple[bytes, Image.Image]:
        data = (self.root / file).read_bytes()
        return data, metrics.load_source(data)

    @functools.lru_cache(maxsize=32)  # noqa: B019
    def _reference(self, file: str, width: int, height: int,
                   window: tuple[float, float, float, float] | None) -> np.ndarray:
        return metrics.reference(self._source(file)[1], width, height, window)

    def settings_choices(self, variant: str, fmt: str, backend: str) -> list[str]:
        """The encoder sets the workbench sweeps for this format (the config's own first), as text."""
        v = self.config.variant(variant)
        return [settings_text(with_quality(v, fmt, None, c).encoder(fmt)) for c in encoder_sets(v, fmt, backend)]

    def chosen(self, variant: str, fmt: str) -> str:
        """What the run ships for (variant, format) and how it scored in its sweep, or ""."""
        if self.run is None:
            return ""
        enc = self.config.variant(variant).encoder(fmt)
        text = f"the run ships {settings_text(enc)} q{enc.quality}"
        if self.run.has_table("encoder_choice"):
            table = self.run.read_table("encoder_choice")
            row = table[(table.variant == variant) & (table.format == fmt) & table.chosen]
            if len(row):
                text += f" (p10 {row.p10.iloc[0]:.1f} over its images, {row.bytes.iloc[0] / 1024:.1f} KiB mean)"
        return text

    def view(self, file: str, variant: str, fmt: str, *, backend: str = "vips", quality: int | None = None,
             settings: str | None = None) -> View:
        """Render and score one output. `settings`: an encoder set as `settings_text` writes it (None: the
        config's); `quality` None: the config's. A set the backend cannot write raises ValueError."""
        started = time.perf_counter()
        base = self.config.variant(variant)
        changes = settings_changes(settings, settings_text(base.encoder(fmt))) if settings else {}
        v = with_quality(base, fmt, quality, changes)
        refused = backend_refusal(backend, {v.name: v})
        if refused:
            raise ValueError(f"{refused[0]}: {refused[1]}")
        data, _ = self._source(file)
        result = transform(data, v, fmt, backend=backend, limits=self.config.limits)
        reference = self._reference(file, result.width, result.height, result.window)
        output = metrics.decode_rgb(result.data)
        s2 = float(metrics.equivalent_score(*metrics.quality_score(reference, output)))
        ssim_map = metrics.ssim_map(reference, output)
        return View(file, variant, result.format, backend, settings_text(v.encoder(fmt)), v.encoder(fmt).quality,
                    len(result.data), s2, float(ssim_map.mean()), reference, output, 1 - ssim_map,
                    (time.perf_counter() - started) * 1000, self.chosen(variant, fmt))

    def widget(self, file: str | None = None, variant: str = "md", fmt: str = "avif", backend: str = "vips"):
        """ipywidgets controls (image, variant, format, backend, encoder set, quality, swipe) over `view`."""
        import ipywidgets as w

        image = w.Dropdown(options=self.files, value=file or self.files[0], description="image")
        variants = w.Dropdown(options=list(self.config.variants), value=variant, description="variant")
        formats = w.Dropdown(options=["avif", "webp", "jpeg", "png"], value=fmt, description="format")
        backends = w.Dropdown(options=["vips", "pillow"], value=backend, description="backend")
        sets = w.Dropdown(options=self.settings_choices(variant, fmt, backend), description="settings")
        quality = w.IntSlider(value=self.config.variant(variant).encoder(fmt).quality or 80, min=1, max=100,
                              description="quality", continuous_update=False)
        swipe = w.FloatSlider(value=0.5, min=0, max=1, step=0.05, description="swipe")
        tiles = [w.Image(format="png") for _ in range(4)]
        captions = [w.HTML() for _ in range(4)]
        label = w.HTML()
        state: dict = {}

        def update(_=None) -> None:
            try:
                state["view"] = self.view(image.value, variants.value, formats.value, backend=backends.value,
                                          quality=quality.value, settings=sets.value)
            except (ValueError, KeyError) as exc:
                label.value = f"<b>cannot render</b>: {exc}"
                return
            show()

        def show(_=None) -> None:
            view = state.get("view")
            if view is None:
                return
            arrays = panels(view, swipe.value)
            for tile, caption, (name, array) in zip(tiles, captions, arrays.items(), strict=True):
                tile.value = _png(_zoomed(array))
                caption.value = f"<small>{name}</small>"
            label.value = describe(view)

        def reset_sets(_=None) -> None:
            sets.options = self.settings_choices(variants.value, formats.value, backends.value)
            update()

        for control in (image, quality, sets):
            control.observe(update, names="value")
        for control in (variants, formats, backends):
            control.observe(reset_sets, names="value")
        swipe.observe(show, names="value")
        update()
        return w.VBox([w.HBox([image, variants, formats]), w.HBox([backends, sets, quality, swipe]), label,
                       w.HBox([w.VBox([t, c]) for t, c in zip(tiles, captions, strict=True)])])


def panels(view: View, swipe: float = 0.5) -> dict[str, np.ndarray]:
    """What a view shows, left to right: the reference, the output, a swipe (reference left of `swipe`, output
    right of it) and the local error as a heat map."""
    cut = int(round(swipe * view.output.shape[1]))
    swiped = np.concatenate([view.reference[:, :cut], view.output[:, cut:]], axis=1)
    return {"reference": view.reference, f"{view.format} output": view.output,
            f"swipe at {swipe:.0%}: reference | output": swiped,
            "local error (1 - SSIM map)": pictures.heat(view.error)}


def describe(view: View) -> str:
    q = "" if view.quality is None else f" q{view.quality}"
    return (f"<b>{view.file}</b> {view.variant} {view.format} ({view.backend}, {view.settings}{q}): "
            f"{view.bytes:,} bytes, SSIMULACRA2 {view.s2:.1f}, SSIM {view.ssim:.4f}; this update {view.ms:.0f} ms"
            + (f"<br>{view.chosen}" if view.chosen else ""))


def figure(view: View, swipe: float = 0.5):
    """One view as a matplotlib figure: the four panels, pixels unsmoothed, numbers in the title."""
    import matplotlib.pyplot as plt

    shown = panels(view, swipe)
    h, w = view.output.shape[:2]
    fig, axes = plt.subplots(1, 4, figsize=(4 * 3.2, 3.2 * h / w + 0.8))
    for ax, (name, array) in zip(axes, shown.items(), strict=True):
        ax.imshow(array, interpolation="nearest")
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    q = "" if view.quality is None else f" q{view.quality}"
    fig.suptitle(f"{view.file} {view.variant} {view.format} ({view.backend}, {view.settings}{q}): {view.bytes:,} "
                 f"bytes, SSIMULACRA2 {view.s2:.1f}" + (f"\n{view.chosen}" if view.chosen else ""), fontsize=9)
    fig.tight_layout()
    return fig


def _zoomed(array: np.ndarray, width: int = 300) -> np.ndarray:
    """Nearest-neighbour enlargement to about `width` px (never smaller than 1:1): pixels stay pixels."""
    factor = max(1, width // array.shape[1])
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def settings_parameter(text: str) -> str | None:
    """The notebook's `settings` parameter: "" (the config's), a settings line, or a JSON object of changes."""
    if not text:
        return None
    return text if not text.lstrip().startswith("{") else " ".join(
        f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in json.loads(text).items())


def latency_table(explorer: Explorer, file: str, variant: str, fmt: str, qualities=(50, 60, 70)) -> pd.DataFrame:
    """The latency of updates (quality changes, the source already cached), for the report of one update."""
    explorer.view(file, variant, fmt)
    rows = [dict(file=file, variant=variant, format=fmt, quality=q, ms=explorer.view(file, variant, fmt, quality=q).ms)
            for q in qualities]
    return pd.DataFrame(rows)

