"""The report's index.html, opened in headless Chromium over HTTP, shows every figure (each <img> decoded with a
natural width > 0); a figure file that is missing is caught by the same check."""

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

from resizer_bench import report  # noqa: E402
from resizer_bench.paths import RunDir  # noqa: E402

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


@pytest.fixture
def report_dir(tmp_path) -> Path:
    """A report folder written by report.py around real figures (a photo and a plot) and a table."""
    run = RunDir(tmp_path / "report")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(skimage.data.coffee())
    run.save_figure(fig, "photo")
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([1, 2, 3], [30, 10, 20])
    run.save_figure(fig, "plot")
    plt.close("all")
    run.write_table(pd.DataFrame({"backend": ["vips"], "threads": [1], "latency_ms_median": [12.0]}), "example")
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
    assert 'data-images-checked="true"' in dom, "the page's load handler did not run"
    images = {}
    for tag in re.findall(r"<img\b[^>]*>", dom):
        src = re.search(r'src="([^"]+)"', tag).group(1)
        images[src] = re.search(r'data-loaded="([^"]+)"', tag).group(1)
    return images


def test_index_shows_every_figure(report_dir, tmp_path):
    images = _images(_dom(report_dir, tmp_path))
    assert images == {"figures/photo.png": "true", "figures/plot.png": "true"}


def test_a_missing_figure_is_detected(report_dir, tmp_path):
    (report_dir / "figures" / "plot.png").unlink()
    images = _images(_dom(report_dir, tmp_path))
    assert images == {"figures/photo.png": "true", "figures/plot.png": "false"}
