"""The quality and choose notebooks run under papermill with tiny parameters into a temporary run folder; the
speed and cold-start tables choose reads are fixtures in those notebooks' schemas."""

import pandas as pd
import papermill
import pytest

from resizer.config import BACKENDS, parse_config
from resizer_bench import perimage_choose as PC
from resizer_bench.paths import RunDir, repo_root

NOTEBOOKS = repo_root() / "notebooks"


def execute(name: str, run_dir, tmp_path, **parameters):
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                               parameters={"run_dir": str(run_dir), **parameters}, kernel_name="python3",
                               cwd=str(NOTEBOOKS), progress_bar=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder after quality (2 images, sm only) and choose, with fixture speed/cold-start tables."""
    tmp_path = tmp_path_factory.mktemp("nb")
    run = RunDir(tmp_path / "run")
    execute("quality", run.path, tmp_path, quick=True, sample=2, seed=1, workers=1, variants=["sm"],
            qualities={"jpeg": [60, 90], "webp": [70]}, min_images=2, per_image_ladder=[50, 90, 20],
            per_image_formats=["webp"], per_image_timing_images=1)
    run.write_table(pd.DataFrame([dict(backend=b, format=f, variant=v, threads=1, n=3, latency_ms_median=ms)
                                  for b, ms in (("vips", 30.0), ("pillow", 45.0))
                                  for f in ("jpeg", "png", "webp", "avif") for v in ("sm", "md", "lg", "xl")]),
                    "speed")
    run.write_table(pd.DataFrame([dict(target=f"import {b}", backend=b, phase="import", n=3, ms_median=ms)
                                  for b, ms in (("vips", 90.0), ("pillow", 60.0))]), "cold_start")
    execute("choose", run.path, tmp_path, quick=True, min_images=2, per_image_min_fold=1)
    return run


def test_quality_notebook_writes_its_tables_figures_and_summary(run_dir):
    quality = run_dir.read_table("quality")
    assert set(quality.variant) == {"sm"} and quality.file.nunique() == 2
    assert set(quality.backend) == set(BACKENDS) and {"jpeg", "webp"} <= set(quality.format)
    assert quality.s2_equiv.notna().all() and quality.attrs["versions"]["pillow"]
    for table in ("small_image_study", "s2_calibration", "quality_rd", "quality_equal_bytes"):
        assert run_dir.has_table(table) and (run_dir.path / "data" / f"{table}.csv").is_file()
    for figure in ("small_images", "rd_ssimulacra2", "rd_ssim", "backend_equal_bytes"):
        assert (run_dir.path / "figures" / f"{figure}.png").stat().st_size > 1000
    assert (run_dir.path / "summary" / "quality.md").read_text().startswith("## Quality")


def test_choose_notebook_writes_a_config_that_loads(run_dir):
    config = parse_config((run_dir.path / "variants.toml").read_text())
    decisions = run_dir.read_table("choose").set_index(["variant", "format"])
    assert config.backend == "vips"  # 30 ms + 0.02 x 90 < 45 ms + 0.02 x 60
    for fmt in ("jpeg", "webp"):
        assert config.variant("sm").encoder(fmt).quality == decisions.loc[("sm", fmt), "quality"]
    assert config.variant("lg") == parse_config((repo_root() / "resizer" / "variants.toml").read_text()).variant("lg")
    assert run_dir.has_table("savings") and run_dir.has_table("cost")
    assert (run_dir.path / "figures" / "savings.png").is_file()
    assert "Backend: **vips**" in (run_dir.path / "summary" / "choose.md").read_text()
    backend = run_dir.read_table("backend").set_index("backend")
    assert backend.transform_ms.round(6).to_dict() == {"vips": 30.0, "pillow": 45.0}  # the fixture speed table
    assert backend.attrs["note"].startswith("vips: expected miss")
    assert (run_dir.path / "variants.input.toml").read_text() == (repo_root() / "resizer" / "variants.toml").read_text()


def test_the_per_image_study_runs_from_the_ladder_to_a_decision(run_dir):
    ladder = run_dir.read_table("perimage_ladder")
    assert set(ladder.variant) == {"sm"} and set(ladder.format) == {"webp"} and set(ladder.quality) == {50, 70, 90}
    assert ladder.s2_equiv.notna().all() and ladder.s2_edge.notna().all() and ladder.group.notna().all()
    timing = run_dir.read_table("perimage_timing")
    assert (timing[["miss_ms", "score_ms", "encode_ms"]] > 0).all().all()
    table = run_dir.read_table("perimage").set_index(["variant", "format", "rule"])
    edge, search = table.loc[("sm", "webp", PC.RULE)], table.loc[("sm", "webp", PC.SEARCH)]
    for row in (edge, search):
        assert row.cv == "yes" and row.folds == 2 and row.reason
    assert edge.decision in ("fixed", "per-image") and search.decision in ("fixed", "search")
    assert (run_dir.path / "figures" / "perimage_chosen_vs_needed.png").is_file()
    encoder = parse_config((run_dir.path / "variants.toml").read_text()).variant("sm").encoder("webp")
    assert (encoder.per_image is not None, encoder.search is not None) == (edge.decision == "per-image",
                                                                           search.decision == "search")
    assert "Per-image quality" in (run_dir.path / "summary" / "choose.md").read_text()
