"""`python -m benchmarks.peers` end to end on one photo: the in-process engines, and the far-origin rows.

The first is not a timing test: it checks that every resizer path and plain Pillow made every variant at the size
sizing.fit_inside gives, that each output got a SSIMULACRA2 score, and that the files and tables were written.
"""

import csv
import json
import shutil

from PIL import Image

from benchmarks.peers import cli
from benchmarks.peers.installers import sharp_installed, thumbor_installed
from resizer.config import load_config
from resizer.image.sizing import fit_inside
from resizer.store.origin_model import OriginModel

ENGINES = {"resizer-vips", "resizer-pillow", "batch-vips", "batch-pillow", "serve", "pillow-naive"}


def test_peers_benchmark_runs_pure_python_engines(tmp_path, sample_photos, capsys):
    photo = next(p for p in sample_photos if p.name == "rocket.jpg")
    images = tmp_path / "images"
    images.mkdir()
    (images / photo.name).write_bytes(photo.read_bytes())
    out = tmp_path / "out"

    summary = cli.main(["--images", str(images), "--limit", "1", "--formats", "jpeg",
                       "--only", "resizer,naive", "--quality-sample", "1", "--out", str(out), "--quiet"])

    variants = load_config().variants
    with Image.open(photo) as im:
        upright = im.size  # rocket.jpg has no EXIF orientation
    rows = list(csv.DictReader((out / "jobs.csv").open()))
    assert {r["engine"] for r in rows} == ENGINES and not [r for r in rows if r["error"]]
    assert len(rows) == len(ENGINES) * len(variants)
    for r in rows:
        assert (int(r["width"]), int(r["height"])) == fit_inside(*upright, variants[r["variant"]].size)
        assert r["written"] == r["format"] and int(r["bytes"]) > 0
        assert 50 < float(r["s2"]) <= 100  # q80 of a photo: well above "low quality"
    assert set(summary["engines"]) == {f"{e}/jpeg" for e in ENGINES}
    assert {k.split("|")[1] for k in summary["ratios"]} == {"pillow-naive"}
    assert json.loads((out / "summary.json").read_text())["run"]["originals"] == 1
    printed = capsys.readouterr().out
    assert "Speed ratio" in printed and "SSIMULACRA2" in printed


def test_far_origin_runs_the_per_request_engines_again_behind_the_model(tmp_path, sample_photos, capsys):
    """serve, and the peers already installed (nothing is installed here), a second time with every original read
    through the far origin: each output pays at least the original's GET (thumbor: once per original, its file
    storage keeps it); serve also pays CloudFront's fetch and the PUT."""
    photo = next(p for p in sample_photos if p.name == "rocket.jpg")
    images = tmp_path / "images"
    images.mkdir()
    (images / photo.name).write_bytes(photo.read_bytes())
    peers = [name for name, ready in (("sharp", shutil.which("node") and sharp_installed()),
                                      ("thumbor", thumbor_installed())) if ready]
    engines = ["serve", *peers]
    model = OriginModel.parse("20ms", "10MB/s")

    summary = cli.main(["--images", str(images), "--formats", "webp", "--only", ",".join(engines),
                        "--far-origin", "20ms,10MB/s", "--quality-sample", "-1", "--out", str(tmp_path / "out"),
                        "--quiet"])

    rows = list(csv.DictReader((tmp_path / "out" / "jobs.csv").open()))
    assert not [r for r in rows if r["error"]]
    assert {(r["engine"], r["origin"]) for r in rows} == {(e, o) for e in engines for o in ("local", model.label)}
    get_original = model.delay(photo.stat().st_size)
    far = [r for r in rows if r["origin"] == model.label]
    assert len(far) == len(engines) * len(load_config().variants)
    for r in far:
        if r["engine"] == "serve":
            assert float(r["ms"]) / 1000 >= model.delay(0) + get_original + model.delay(int(r["bytes"]))
        elif r["engine"] == "sharp":
            assert float(r["ms"]) / 1000 >= get_original
    if "thumbor" in engines:
        assert sum(float(r["ms"]) for r in far if r["engine"] == "thumbor") / 1000 >= get_original
    assert summary["origin"] == "local" and summary["far_origin"]["origin"] == model.label
    assert set(summary["far_origin"]["engines"]) == {f"{e}/webp" for e in engines}
    printed = capsys.readouterr().out
    assert "=== origin: local ===" in printed and f"=== origin: {model.label} " in printed
