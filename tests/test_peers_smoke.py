"""`python -m benchmarks.peers` end to end on one photo with the installed peers (sharp, thumbor) left out.

Not a timing test: it checks that every resizer path and plain Pillow made every variant at the size
sizing.fit_inside gives, that each output got a SSIMULACRA2 score, and that the files and tables were written.
"""

import csv
import json

from PIL import Image

from benchmarks.peers import cli
from resizer.config import load_config
from resizer.sizing import fit_inside

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
