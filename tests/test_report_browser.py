"""The report's index.html, opened in headless Chromium over HTTP: it opens with the decision (what to ship), whose
in-page links all reach an element of the page, and it shows every figure (each <img> decoded with a natural
width > 0); a figure file that is missing, or a link target that is, is caught by the same checks."""

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import skimage.data  # noqa: E402

from resizer.config import parse_config  # noqa: E402
from resizer_bench import pictures, report  # noqa: E402
from resizer_bench.datasets import bundled_dir  # noqa: E402
from resizer_bench.paths import RunDir  # noqa: E402
from resizer_bench.sweep import settings_text  # noqa: E402

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=10000"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed; .ci/run installs it for this test")
    pytest.skip("chromium is not installed (apt-get install chromium)")


INPUT_CONFIG = """
backend = "vips"
[encoders.webp]
quality = 80
[variants.sm]
size = 100
formats = ["avif", "webp"]
[variants.lg]
size = 700
formats = ["avif", "webp"]
"""
CHOSEN_CONFIG = INPUT_CONFIG.replace('backend = "vips"', 'backend = "pillow"').replace(
    'size = 100\nformats = ["avif", "webp"]', 'size = 100\nformats = ["webp", "avif"]\n[variants.sm.encoders.webp]\n'
    'quality = 65')


def write_choose_outputs(run: RunDir) -> None:
    """What the choose notebook leaves in a run folder, in its tables' schemas: sm tuned, lg kept."""
    (run.path / "variants.input.toml").write_text(INPUT_CONFIG, encoding="utf-8")
    (run.path / "variants.toml").write_text(CHOSEN_CONFIG, encoding="utf-8")
    run.write_table(pd.DataFrame([dict(variant="sm", chosen="webp q65", n=4, baseline="jpeg", bytes_base=4096.0,
                                       bytes_new=1024.0, saving_median=0.75, saving_q25=0.7, saving_q75=0.8,
                                       p10_base=78.0, p10_new=71.5)]), "savings")
    run.write_table(pd.DataFrame([
        dict(variant="sm", images=4, changed=True, ladder="webp > avif", note="chosen", format="webp", quality=65,
             p=71.5, reached=True),
        dict(variant="lg", images=1, changed=False, ladder="avif > webp", note="kept: 1 image(s) larger than 700 px",
             format=None, quality=None, p=None, reached=None)]), "choose")
    backend = pd.DataFrame({"backend": ["vips", "pillow"], "transform_ms": [30.0, 20.0], "import_ms": [90.0, 60.0],
                            "expected_miss_ms": [31.8, 21.2]})
    backend.attrs["note"] = "pillow: expected miss 21 ms vs 32 ms (vips)"
    run.write_table(backend, "backend")
    run.write_table(pd.DataFrame([dict(target=f"import {b}", backend=b, phase="import", n=3, ms_median=ms)
                                  for b, ms in (("vips", 90.0), ("pillow", 60.0))]), "cold_start")
    run.write_table(pd.DataFrame({"config": ["original product", "chosen config"], "total": [12.5, 9.25]}), "cost")
    run.write_table(pd.DataFrame([
        dict(variant="sm", format="avif", rule="probeverify[s2_edge]", cv="yes", saving=0.042, wait_ratio=3.4,
             net_usd=-1.5, decision="fixed", reason="does not win: saves 4.2% bytes under CV (needs >= 5%)"),
        dict(variant="sm", format="avif", rule="search[s2_edge]", cv="yes", saving=0.081, wait_ratio=1.0,
             net_usd=2.5, decision="search", reason="saves 8.1% at p10 70.2"),
        dict(variant="sm", format="webp", rule="probeverify[s2_edge]", cv="no: 3 images, fewer than 2 folds of 5",
             saving=None, wait_ratio=5.1, net_usd=None, decision="fixed", reason="too few images to cross-validate")]),
        "perimage")
    run.write_table(pd.DataFrame([dict(variant="sm", basis="fixed qualities", ladder="webp > avif", images=4,
                                       other_smaller=0.25, saving=0.031)]), "format_by_image")
    run.write_table(pd.DataFrame([dict(variant="sm", box=100, byte_step=None, box_step=None),
                                  dict(variant="lg", box=700, byte_step=21.0, box_step=7.0)]), "variant_bytes")


PICTURED = {"coffee.png": 72.0, "chelsea.png": 70.5, "astronaut.png": 74.0}  # file -> the quality table's score


def write_pictures(run: RunDir) -> pd.DataFrame:
    """Real crops of three bundled photos for what CHOSEN_CONFIG ships at sm (pillow, webp q65), from a quality
    table in the sweep's schema whose scores rank chelsea worst."""
    webp = settings_text(parse_config(CHOSEN_CONFIG).variant("sm").encoder("webp"))
    quality = pd.DataFrame([dict(file=f, variant="sm", format="webp", backend="pillow", settings=webp, quality=q,
                                 s2_equiv=score - (65 - q) / 5) for f, score in PICTURED.items() for q in (50, 65)])
    return pictures.make_pictures(run, bundled_dir(), quality, CHOSEN_CONFIG, INPUT_CONFIG)


@pytest.fixture
def report_dir(tmp_path) -> Path:
    """A report folder written by report.py around real figures (a photo and two plots), the choose notebook's
    outputs and a table."""
    run = RunDir(tmp_path / "report")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(skimage.data.coffee())
    run.save_figure(fig, "photo")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2, 3], [30, 10, 20])
    run.save_figure(fig, "plot")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar([0, 1], [4, 1])
    run.save_figure(fig, "savings")
    for stem in ("perimage_chosen_vs_needed", "variant_bytes"):
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.scatter([50, 60], [55, 60])
        run.save_figure(fig, stem)
    plt.close("all")
    run.write_table(pd.DataFrame({"backend": ["vips"], "threads": [1], "latency_ms_median": [12.0]}), "example")
    write_choose_outputs(run)
    write_pictures(run)
    run.write_summary("speed", "## Speed\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    info = {"run_id": "browser-test", "status": "ok", "wall_seconds": 1.0, "notebooks": [
        {"name": "speed", "status": "ok", "seconds": 1.0, "html": None, "notebook": None}]}
    report.write_summary(run, ["speed"])
    report.write_index(run, info)
    return run.path


def _dom(folder: Path, tmp_path: Path) -> str:
    """index.html as Chromium renders it, served by http.server on a free loopback port."""
    chromium = _chromium()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            done = subprocess.run(
                [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", "--dump-dom",
                 f"http://127.0.0.1:{server.server_address[1]}/index.html"],
                capture_output=True, text=True, timeout=120)
        finally:
            server.shutdown()
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _images(dom: str) -> dict[str, str]:
    """src -> data-loaded of every <img> in the dumped DOM."""
    assert 'data-page-checked="true"' in dom, "the page's load handler did not run"
    images = {}
    for tag in re.findall(r"<img\b[^>]*>", dom):
        src = re.search(r'src="([^"]+)"', tag).group(1)
        images[src] = re.search(r'data-loaded="([^"]+)"', tag).group(1)
    return images


def _decision(dom: str) -> str:
    """The decision section of the dumped DOM; it must come right after the page's title."""
    assert 'data-page-checked="true"' in dom, "the page's load handler did not run"
    body = re.search(r"<body[^>]*>\s*<h1>.*?</h1>\s*(<section id=\"decision\">.*?</section>)", dom, re.S)
    assert body, "the decision section is not the first thing after the title"
    return body.group(1)


def _in_page_links(html: str) -> dict[str, str]:
    """href -> data-resolves of every in-page link."""
    links = {}
    for tag in re.findall(r"<a\b[^>]*href=\"#[^\"]*\"[^>]*>", html):
        links.setdefault(re.search(r'href="([^"]+)"', tag).group(1), set()).add(
            re.search(r'data-resolves="([^"]+)"', tag).group(1))
    return {href: ",".join(sorted(values)) for href, values in links.items()}


FIGURES = ("photo", "plot", "savings", "perimage_chosen_vs_needed", "variant_bytes")


def test_index_shows_every_figure_and_picture(report_dir, tmp_path):
    dom = _dom(report_dir, tmp_path)
    tiles = pd.read_csv(report_dir / "data" / "pictures.csv")
    assert _images(dom) == {**{f"figures/{f}.png": "true" for f in FIGURES}, **{p: "true" for p in tiles.path}}
    # each worst image and the typical one, as reference, shipped, one step cheaper (q50) and error map
    assert set(zip(tiles.role, tiles.file, strict=True)) == {("worst 1", "chelsea.png"), ("typical", "coffee.png")}
    assert set(tiles.tile) == {"reference", "shipped", "cheaper", "error"}
    for r in tiles.itertuples():  # every picture labelled: image, variant, format, and for outputs the numbers
        label = pictures.label(r)
        assert Path(r.file).stem in label and "sm webp" in label
        assert re.search(rf'<img src="{re.escape(r.path)}" alt="{re.escape(label)}"', dom.replace("&amp;", "&"))
        if r.tile in ("shipped", "cheaper"):
            assert f"q{int(r.quality)}" in label and f"{int(r.bytes):,} bytes" in label and f"{r.score:.1f}" in label


def test_a_missing_figure_or_picture_is_detected(report_dir, tmp_path):
    (report_dir / "figures" / "plot.png").unlink()
    tiles = pd.read_csv(report_dir / "data" / "pictures.csv")
    (report_dir / tiles.path[0]).unlink()
    images = _images(_dom(report_dir, tmp_path))
    assert images["figures/plot.png"] == images[tiles.path[0]] == "false"
    assert images["figures/photo.png"] == images[tiles.path[1]] == "true"


def test_the_decision_comes_first_and_its_links_resolve(report_dir, tmp_path):
    decision = _decision(_dom(report_dir, tmp_path))
    assert _in_page_links(decision) == {f"#{anchor}": "true" for anchor in (
        "config", "table-choose", "table-backend", "table-savings", "figure-savings", "table-cold_start",
        "table-cost", "table-perimage", "figure-perimage_chosen_vs_needed", "table-format_by_image",
        "table-variant_bytes", "figure-variant_bytes", "pictures-sm-webp")}
    text = re.sub(r"<[^>]+>", "", decision)
    assert "variants.sm.formats" in text and "avif &gt; webp" in text and "webp &gt; avif" in text
    assert "variants.sm.encoders.webp.quality" in text and "backend" in text and "pillow" in text
    assert "4.0 KiB → 1.0 KiB" in text and "75% [70%, 80%]" in text and "78.0 → 71.5" in text
    assert "kept: 1 image(s) larger than 700 px" in text
    assert "pillow: expected miss 21 ms vs 32 ms (vips)" in text
    assert "import pillow 60 ms" in text and "import vips" not in text  # the chosen backend's cold start
    assert "$12.50" in text and "$9.25" in text
    assert "1 of 2 variant × format pairs pick each image's quality" in text and "does not win: saves 4.2%" in text
    assert "searched offline (warm)" in text and "8.1%" in text  # the offline search that ships
    assert "3.40x" in text and "not cross-validated" in text and "too few images to cross-validate" in text
    assert "sm 3%" in text and "lg 21.0x (7.0x)" in text


def test_a_link_without_its_target_is_detected(report_dir, tmp_path):
    index = report_dir / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace("id='table-cost'", "id='renamed'"), encoding="utf-8")
    links = _in_page_links(_decision(_dom(report_dir, tmp_path)))
    assert links["#table-cost"] == "false" and links["#table-savings"] == "true"
