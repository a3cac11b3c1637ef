"""The explorer: what it shows is what the production pipeline makes, scored as the workbench scores; opened from a
run it starts at the run's worst images; its controls re-render; the notebook runs from the repository root with
its defaults and no earlier run, leaving the grid as image/png outputs."""

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest

from resizer.config import load_config
from resizer.image.pipeline import transform
from resizer_bench import metrics, pictures
from resizer_bench.explore import Explorer, panels, settings_parameter
from resizer_bench.paths import RunDir, repo_root


@pytest.fixture(scope="module")
def explorer():
    return Explorer.open("bundled")


def test_a_view_is_the_pipelines_output_scored_against_the_metrics_reference(explorer):
    view = explorer.view("coffee.png", "md", "avif")
    variant = load_config().variant("md")
    data = (explorer.root / "coffee.png").read_bytes()
    made = transform(data, variant, "avif")
    assert view.bytes == len(made.data) and view.quality == variant.encoder("avif").quality
    assert np.array_equal(view.output, metrics.decode_rgb(made.data))
    reference = metrics.reference(metrics.load_source(data), made.width, made.height)
    assert np.array_equal(view.reference, reference)
    assert view.s2 == pytest.approx(float(metrics.equivalent_score(*metrics.quality_score(reference, view.output))))
    assert view.error.shape == view.output.shape[:2] and 0 <= view.error.mean() < 0.2
    lower = explorer.view("coffee.png", "md", "avif", quality=30)
    assert lower.bytes < view.bytes and lower.s2 < view.s2
    full = explorer.view("coffee.png", "md", "avif", settings="subsampling=4:4:4 effort=2")
    assert full.settings == "subsampling=4:4:4 effort=2" and full.bytes != view.bytes


def test_settings_a_backend_cannot_write_are_refused(explorer):
    with pytest.raises(ValueError, match="pillow backend cannot write mozjpeg"):
        explorer.view("coffee.png", "md", "jpeg", backend="pillow", settings=settings_parameter('{"mozjpeg": true}'))
    assert explorer.view("coffee.png", "md", "jpeg", settings="mozjpeg=true").settings.endswith("mozjpeg=true")


def test_the_swipe_puts_the_reference_left_of_the_border(explorer):
    view = explorer.view("chelsea.png", "sm", "webp")
    swiped = list(panels(view, 0.25).values())[2]
    cut = round(0.25 * view.output.shape[1])
    assert np.array_equal(swiped[:, :cut], view.reference[:, :cut])
    assert np.array_equal(swiped[:, cut:], view.output[:, cut:])


def test_opened_from_a_run_it_starts_at_the_worst_images(tmp_path):
    run = RunDir(tmp_path / "run")
    (run.path).mkdir(parents=True)
    (run.path / "variants.toml").write_text(load_config().text)
    run.write_table(pd.DataFrame([dict(role="typical", file="coffee.png", table_score=75.0),
                                  dict(role="worst 1", file="rocket.jpg", table_score=68.0),
                                  dict(role="worst 2", file="camera.png", table_score=69.0)]), pictures.TABLE)
    explorer = Explorer.open("bundled", str(run.path))
    assert explorer.files[:2] == ["rocket.jpg", "camera.png"] and "coffee.png" in explorer.files[2:]
    assert explorer.chosen("md", "avif").startswith("the run ships subsampling=4:2:0 effort=2 q")


def test_the_controls_rerender(explorer):
    ui = explorer.widget("coffee.png", "sm", "webp")
    label = ui.children[2]
    first = label.value
    assert "coffee.png" in first and "sm webp" in first and "this update" in first
    quality = ui.children[1].children[2]
    quality.value = 20
    assert label.value != first and "q20" in label.value
    tiles = ui.children[3].children
    assert all(bytes(t.children[0].value).startswith(b"\x89PNG") for t in tiles)


def test_the_notebook_runs_from_the_repository_root_with_its_defaults(tmp_path):
    out = tmp_path / "explore.ipynb"
    papermill.execute_notebook(str(repo_root() / "notebooks" / "explore.ipynb"), str(out),
                               parameters={"run_dir": str(tmp_path / "no-run"), "quick": True},
                               kernel_name="python3", cwd=str(repo_root()), progress_bar=False)
    executed = nbformat.read(out, as_version=4)
    images = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert len(images) >= 4  # 2 images, each at its quality and 10 lower
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "one update of md avif" in text and "from run: none" in text
