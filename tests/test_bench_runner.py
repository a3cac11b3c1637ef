"""`resizer bench`: the runner executes the real notebooks on a tiny dataset and leaves a complete report folder
that opens with the decision; `--compare` sets a second run's numbers beside the first's; a failing notebook
stops the run with a partial report and a non-zero exit."""

import argparse
import io
import json
import re
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
import skimage.data
from conftest import FAST_ENCODERS, modules_imported_by
from PIL import Image

from resizer.config import BACKENDS, load_config
from resizer_bench import bench
from resizer_bench.sweep import settings_text

ROOT = Path(__file__).resolve().parents[1]
PRESENT = [n for n in bench.NOTEBOOKS if (ROOT / "notebooks" / f"{n}.ipynb").is_file()]
# Fast encoders and small boxes: the runner is under test here, not the codecs.
TINY_CONFIG = FAST_ENCODERS + """
[variants.sm]
size = 32
[variants.md]
size = 64
[variants.sq]
width = 48
height = 48
fit = "cover"
gravity = "attention"
"""


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    """Three small real photos (JPEG, PNG, WebP) cut from scikit-image's bundled ones."""
    folder = tmp_path_factory.mktemp("tiny-dataset")
    for name, fmt, size in (("coffee", "JPEG", 120), ("chelsea", "PNG", 96), ("astronaut", "WEBP", 80)):
        image = Image.open(Path(skimage.data.data_dir) / f"{name}.png").convert("RGB")
        image.thumbnail((size, size))
        image.save(folder / f"{name}.{fmt.lower().replace('jpeg', 'jpg')}", fmt)
    return folder


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "variants.toml"
    path.write_text(TINY_CONFIG, encoding="utf-8")
    return path


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="resizer")
    bench.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def test_parse_value_reads_literals_and_keeps_other_text():
    assert bench.parse_value("3") == 3
    assert bench.parse_value("0.5") == 0.5
    assert bench.parse_value("True") is True
    assert bench.parse_value("true") is True
    assert bench.parse_value("null") is None
    assert bench.parse_value("['jpeg', 'webp']") == ["jpeg", "webp"]
    assert bench.parse_value('{"a": 1}') == {"a": 1}
    assert bench.parse_value("'quoted'") == "quoted"
    assert bench.parse_value("s3://bucket/prefix") == "s3://bucket/prefix"
    assert bench.parse_value("reports/x") == "reports/x"


def test_registering_the_command_loads_no_workbench():
    """`resizer key` must stay instant: building the parser imports bench.py, which imports nothing heavy."""
    assert modules_imported_by("resizer_bench.bench", ("pandas", "papermill", "numpy")) == []


def test_notebooks_run_in_canonical_order(tmp_path):
    for name in ("choose", "speed", "quality", "extra"):
        nbformat.write(nbformat.v4.new_notebook(), tmp_path / f"{name}.ipynb")
    assert bench.select_notebooks(tmp_path, None) == ["quality", "speed", "choose"]
    assert bench.select_notebooks(tmp_path, ["extra", "choose", "quality"]) == ["quality", "choose", "extra"]
    with pytest.raises(FileNotFoundError, match="cold_start"):
        bench.select_notebooks(tmp_path, ["cold_start"])


def test_kernel_runs_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    name = bench.ensure_kernel()
    argv0 = KernelSpecManager().get_kernel_spec(name).argv[0]
    assert argv0 == sys.executable or (name == "python3" and argv0 == "python")


def test_unknown_parameter_is_refused_before_anything_runs(tmp_path, tiny_dataset):
    with pytest.raises(ValueError, match="no_such_parameter"):
        bench.run_bench(str(tiny_dataset), quick=True, out=tmp_path, params={"no_such_parameter": 1},
                        notebooks=["speed"], progress=False)
    assert not any(tmp_path.iterdir())


def tiny_params(tiny_config: Path, **extra) -> dict:
    """Parameters for a quick run of every present notebook on the tiny dataset (only the declared ones)."""
    params = {"config": str(tiny_config), "formats": ["jpeg", "webp"], "n": 2, "unzip_runs": 1,
              "request_variant": "md", "variants": ["sm", "md", "sq"], **extra}  # sq: a crop Pillow cannot make
    declared = {p for n in PRESENT for p in papermill.inspect_notebook(str(ROOT / "notebooks" / f"{n}.ipynb"))}
    return {k: v for k, v in params.items() if k in declared}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_dataset, tiny_config) -> Path:
    """The folder of a quick run of every notebook on the tiny dataset (run id "run")."""
    out = tmp_path_factory.mktemp("reports")
    run = bench.run_bench(str(tiny_dataset), quick=True, out=out, params=tiny_params(tiny_config),
                          notebooks=PRESENT, run_id="run", progress=False)
    assert run.run_dir == out / "run"
    assert run.ok, [(nb.name, nb.error) for nb in run.notebooks]
    return run.run_dir


def test_quick_bench_writes_the_whole_report(tiny_run, tiny_dataset, tiny_config):
    folder = tiny_run

    for name in PRESENT:
        executed = nbformat.read(folder / "notebooks" / f"{name}.ipynb", as_version=4)
        code = [c for c in executed.cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code), name
        injected = [c for c in code if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and f"run_dir = {str(folder)!r}" in injected[0].source.replace('"', "'")
        html = (folder / "html" / f"{name}.html").read_text(encoding="utf-8")
        assert "<html" in html
        assert "run_dir = " not in html and "load_dataset(" not in html  # code inputs hidden

    tables = {p.stem for p in (folder / "data").glob("*.parquet")}
    assert {p.stem for p in (folder / "data").glob("*.csv")} == tables
    figures = sorted((folder / "figures").glob("*.png"))
    assert figures
    for figure in figures:
        with Image.open(figure) as image:
            assert image.format == "PNG" and image.width > 100 and image.height > 100

    if "speed" in PRESENT:
        speed = pd.read_parquet(folder / "data" / "speed.parquet")
        assert {"backend", "format", "variant", "threads", "n", "latency_ms_median", "latency_ms_p90"} <= set(speed)
        assert set(speed["backend"]) == set(BACKENDS) and set(speed["format"]) == {"jpeg", "webp"}
        assert set(speed["variant"]) == {"sm", "md", "sq"} and 1 in set(speed["threads"])
        assert (speed["n"] >= 1).all() and (speed["latency_ms_median"] <= speed["latency_ms_p90"]).all()
        throughput = pd.read_parquet(folder / "data" / "throughput.parquet")
        assert (throughput["images_per_s"] > 0).all() and set(throughput["backend"]) == set(BACKENDS)
        rss = pd.read_parquet(folder / "data" / "rss.parquet")
        assert (rss["rss_peak_mb"] >= rss["rss_baseline_mb"]).all() and (rss["rss_baseline_mb"] > 5).all()
    if "cold_start" in PRESENT:
        cold = pd.read_parquet(folder / "data" / "cold_start.parquet")
        assert {"target", "backend", "phase", "n", "ms_median", "ms_p90"} <= set(cold)
        phases = set(zip(cold["target"], cold["phase"], strict=True))
        assert {("interpreter", "process"), ("import vips", "import"), ("import pillow", "import")} <= phases
        assert {("artifact origin-response", p) for p in ("unzip", "import", "first request", "second request")} \
            <= phases
        assert (cold.loc[cold["phase"] != "unzip", "n"] == 2).all()
        sizes = pd.read_parquet(folder / "data" / "artifacts.parquet")
        assert set(sizes["artifact"]) == {"viewer-request", "origin-response"} and sizes["fits"].all()
        assert not pd.read_parquet(folder / "data" / "importtime.parquet").empty

    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert "## Key numbers" in summary
    for name in PRESENT:
        fragment = folder / "summary" / f"{name}.md"
        if fragment.is_file():
            assert fragment.read_text(encoding="utf-8").strip() in summary

    index = (folder / "index.html").read_text(encoding="utf-8")
    assert set(re.findall(r"<img src='(figures/[^']+\.png)'", index)) == {f"figures/{f.name}" for f in figures}
    for name in PRESENT:
        assert f"html/{name}.html" in index and f"notebooks/{name}.ipynb" in index

    info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert info["status"] == "ok" and info["run_id"] == "run"
    for package in ("pillow", "pyvips", "libvips", "numpy", "skimage", "pandas", "papermill", "python"):
        assert info["versions"][package], package
    assert re.fullmatch(r"\d+\.\d+\.\d+", info["versions"]["libvips"])
    assert info["machine"]["cpu_model"] and info["machine"]["cores"] >= 1
    assert "vips_concurrency" in info["threads"]
    if (ROOT / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}", info["git"]["commit"])
    assert info["parameters"]["dataset"] == str(tiny_dataset) and info["parameters"]["quick"] is True
    assert info["parameters"]["run_dir"] == str(folder)
    assert [nb["name"] for nb in info["notebooks"]] == PRESENT
    assert all(nb["status"] == "ok" and nb["seconds"] > 0 for nb in info["notebooks"])
    assert info["wall_seconds"] >= sum(nb["seconds"] for nb in info["notebooks"])

    if "choose" in PRESENT:
        assert info["config"] == "variants.toml"
        load_config(folder / "variants.toml")
        assert (folder / "variants.input.toml").read_text(encoding="utf-8") == tiny_config.read_text(encoding="utf-8")
        assert pd.read_parquet(folder / "data" / "backend.parquet").attrs["note"]
        encoders = pd.read_csv(folder / "data" / "encoder_choice.csv")
        assert {"variant", "format", "settings", "quality", "bytes", "p10", "encode_ms", "chosen"} <= set(encoders)
        written = load_config(folder / "variants.toml")
        for (variant, fmt), part in encoders.groupby(["variant", "format"]):
            assert len(part) >= 2 and part.chosen.sum() == 1 and part.settings.is_unique
            shipped = part[part.chosen].iloc[0]  # the written config ships the chosen set at its quality
            assert settings_text(written.variant(variant).encoder(fmt)) == shipped.settings
            assert written.variant(variant).encoder(fmt).quality == shipped.quality


def test_the_report_opens_with_the_decision_and_its_links_reach_the_page(tiny_run):
    index = (tiny_run / "index.html").read_text(encoding="utf-8")
    decision = re.search(r"<body>\s*<h1>.*?</h1>\s*(<section id='decision'>.*?</section>)", index, re.S)
    assert decision, "the decision section is not the first thing after the title"
    anchors = set(re.findall(r"href='#([^']+)'", decision.group(1)))
    assert {"config", "table-savings", "table-choose", "table-encoder_choice", "table-backend",
            "table-cold_start"} <= anchors
    assert "<table id='encoders'>" in decision.group(1)
    assert "<table id='delivery'>" in decision.group(1) and "Origin Shield" in decision.group(1)
    sheet = pd.read_parquet(tiny_run / "data" / "contact_sheet.parquet")  # the cover variant's crops, each gravity
    assert set(sheet.variant) == {"sq"} and set(sheet.gravity) == {"centre", "attention", "entropy"}
    quality = pd.read_parquet(tiny_run / "data" / "quality.parquet")  # Pillow has no smart crop: vips alone
    assert set(quality[quality.variant == "sq"].backend) == {"vips"} and set(quality.backend) == {"vips", "pillow"}
    assert "id='contact-sheet'" in index and all(path in index for path in sheet.path)
    assert "href='#contact-sheet'" in decision.group(1)  # linked from the decision, as the pictures are
    assert all((tiny_run / path).is_file() for path in sheet.path)
    ids = set(re.findall(r"\bid='([^']+)'", index))
    assert anchors <= ids, anchors - ids
    savings = pd.read_parquet(tiny_run / "data" / "savings.parquet")
    for r in savings.itertuples():
        assert f">{100 * r.saving_median:.0f}%</a>" in decision.group(1)


def test_compare_sets_a_second_run_beside_the_first(tiny_run, tiny_dataset, tiny_config, tmp_path):
    """A second run with a different quality grid: the compare table holds both runs' own numbers and their
    differences."""
    params = tiny_params(tiny_config, qualities={"jpeg": [60, 90], "webp": [60, 90]})
    argv = ["bench", "--dataset", str(tiny_dataset), "--quick", "--out", str(tmp_path), "--compare", str(tiny_run)]
    for name, value in params.items():
        argv += ["-p", name, json.dumps(value) if not isinstance(value, str) else value]
    assert _cli(argv) == 0
    (folder,) = tmp_path.iterdir()
    compare = pd.read_csv(folder / "data" / "compare.csv").set_index(["measure", "subject"])
    assert (folder / "data" / "compare.parquet").is_file()

    def side_by_side(measure: str, subject: str, earlier: float, this: float) -> None:
        row = compare.loc[(measure, subject)]
        assert row.earlier == pytest.approx(earlier) and row.this == pytest.approx(this)
        assert row.delta == pytest.approx(this - earlier)

    def table(run: Path, name: str) -> pd.DataFrame:
        return pd.read_parquet(run / "data" / f"{name}.parquet")

    earlier_savings = table(tiny_run, "savings").set_index("variant")
    this_savings = table(folder, "savings").set_index("variant")
    assert set(this_savings.index) == set(earlier_savings.index) == {"sm", "md", "sq"}
    for variant in this_savings.index:
        side_by_side("saving per image, median", variant, earlier_savings.saving_median[variant],
                     this_savings.saving_median[variant])
        side_by_side("quality p10, chosen config", variant, earlier_savings.p10_new[variant],
                     this_savings.p10_new[variant])
        side_by_side("bytes per image, chosen config", variant, earlier_savings.bytes_new[variant],
                     this_savings.bytes_new[variant])
    assert (this_savings.chosen != earlier_savings.chosen).any()  # the grids differ, so the choices do
    for backend in ("vips", "pillow"):
        speeds = [table(run, "speed") for run in (tiny_run, folder)]
        latency = [s[(s.backend == backend) & (s.threads == 1)].latency_ms_median.median() for s in speeds]
        side_by_side("transform latency, median over cases", f"{backend} at 1 thread(s)", *latency)
        cold = [table(run, "cold_start").set_index(["target", "phase"]).ms_median[(f"import {backend}", "import")]
                for run in (tiny_run, folder)]
        side_by_side("cold start, median", f"import {backend}", *cold)
        row = compare.loc[("cold start, median", f"import {backend}")]
        assert row.verdict == ("better" if row.delta < 0 else "worse" if row.delta > 0 else "same")

    info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert info["compared_with"] == {"path": str(tiny_run), "run_id": "run"}
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert index.index("<section id='decision'>") < index.index("<section id='compare'>")
    assert "href='data/compare.csv'" in index and "<code>run</code>" in index
    # both runs' shipped encoder settings per variant x format; the new grid changed some qualities
    assert "<table id='compare-encoders'>" in index and "<tr class='changed'>" in index
    # the same crop under both runs' settings, for the pairs whose quality changed
    earlier = set(re.findall(r"<img src='(pictures/compare-[^']+-earlier\.png)'", index))
    assert earlier and all((folder / path).is_file() for path in earlier)
    table = index[index.index("<table id='compare-encoders'>"):]
    changed = re.findall(r"<tr class='changed'><td>(\w+)</td><td>(\w+)</td>", table[:table.index("</table>")])
    pictured = pd.read_parquet(folder / "data" / "pictures.parquet")  # the pairs the config ships pictures of
    expected = {f"{v}-{f}" for v, f in changed} & {f"{v}-{f}" for v, f in zip(pictured.variant, pictured.format,
                                                                            strict=True)}
    assert expected == {re.search(r"-(\w+-\w+)-earlier", path).group(1) for path in earlier}


@pytest.mark.parametrize("earlier, message", [("missing", "no such run folder"),
                                              ("empty", "not a resizer bench run folder (no run.json)"),
                                              ("garbled", "run.json is not a resizer bench run record"),
                                              ("tableless", "the run has none of the tables compared")])
def test_compare_refuses_an_unusable_run_folder_before_running(tmp_path, tiny_dataset, capsys, earlier, message):
    folder = tmp_path / earlier
    if earlier != "missing":
        folder.mkdir()
    if earlier == "garbled":
        (folder / "run.json").write_text("{not json", encoding="utf-8")
    if earlier == "tableless":
        (folder / "run.json").write_text(json.dumps({"run_id": "x"}), encoding="utf-8")
    out = tmp_path / "reports"
    code = _cli(["bench", "--dataset", str(tiny_dataset), "--quick", "--out", str(out), "--notebooks", "choose",
                 "--compare", str(folder)])
    assert code == 2
    assert f"--compare {folder}: {message}" in capsys.readouterr().err
    assert not out.exists()


def test_failing_notebook_stops_the_run_with_a_partial_report(tmp_path, tiny_dataset, capsys):
    code = _cli(["bench", "--dataset", str(tiny_dataset), "--quick", "--out", str(tmp_path),
                 "--notebooks", "cold_start,speed", "-p", "backends", "['no-such-backend']"])
    assert code == 1
    (folder,) = tmp_path.iterdir()
    info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert info["status"] == "failed" and info["failed_notebook"] == "speed"
    assert [(nb["name"], nb["status"]) for nb in info["notebooks"]] == [("speed", "failed"), ("cold_start", "pending")]
    executed = nbformat.read(folder / "notebooks" / "speed.ipynb", as_version=4)
    assert any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    index = (folder / "index.html").read_text(encoding="utf-8")
    assert "class='failed'" in index and "href='html/speed.html'" in index
    assert (folder / "html" / "speed.html").is_file()
    assert "speed.ipynb" in capsys.readouterr().err


def test_the_pictures_are_cut_from_what_resizer_variants_writes(tiny_run, tmp_path):
    """Every shipped and cheaper crop equals the same window of the decode of `resizer variants`' own output for
    that image and config (stored losslessly), and the worst images are those the quality table ranks lowest."""
    from resizer.cli import main

    tiles = pd.read_parquet(tiny_run / "data" / "pictures.parquet")
    quality = pd.read_parquet(tiny_run / "data" / "quality.parquet")
    chosen = load_config(tiny_run / "variants.toml")
    assert set(tiles.tile) >= {"reference", "shipped", "error"} and set(tiles.variant) == {"sm", "md", "sq"}
    for (variant, fmt), pair in tiles.groupby(["variant", "format"]):
        enc = chosen.variant(variant).encoder(fmt)
        shipped = quality[(quality.variant == variant) & (quality.format == fmt) & (quality.backend == chosen.backend)
                          & (quality.settings == settings_text(enc)) & (quality.quality == enc.quality)]
        assert pair[pair.role == "worst 1"].file.iloc[0] == shipped.sort_values(["s2_equiv", "file"]).file.iloc[0]
        for r in pair[pair.tile == "shipped"].itertuples():
            out = tmp_path / f"{variant}-{fmt}-{Path(r.file).stem}"
            assert main(["variants", r.source, "-o", str(out), "--config", str(tiny_run / "variants.toml"),
                         "--accept", f"image/{fmt}"]) == 0
            written = (out / f"{Path(r.file).stem}-{variant}.{fmt}").read_bytes()
            assert len(written) == r.bytes
            window = np.asarray(Image.open(io.BytesIO(written)).convert("RGB"))[r.y:r.y + r.size, r.x:r.x + r.size]
            assert np.array_equal(np.asarray(Image.open(tiny_run / r.path).convert("RGB")), window)
    assert sum(f.stat().st_size for f in tiny_run.rglob("*") if f.is_file()) < 10 * 2**20
