"""The workbench looks at crops: a contact sheet per cover variant (every gravity, the windows outlined), and
quality references cut from the same window as the output (else a crop would be scored against the whole image)."""

import numpy as np
import pytest
from PIL import Image

from resizer.config import parse_config
from resizer.image.pipeline import transform
from resizer_bench import metrics
from resizer_bench.contact_sheet import GRAVITIES, contact_sheet_html, contact_sheet_links, make_contact_sheet
from resizer_bench.paths import RunDir
from resizer_bench.sweep import box_label, resized_by

COVER = """
[variants.card]
width = 160
height = 90
fit = "cover"
gravity = "attention"
formats = ["webp"]

[variants.md]
size = 250
"""


def test_the_contact_sheet_shows_every_gravity_of_every_cover_variant(tmp_path, sample_photos):
    run = RunDir(tmp_path / "run")
    files = [p.name for p in sample_photos[:3]]
    table = make_contact_sheet(run, sample_photos[0].parent, COVER, files)
    assert len(table) == len(files) * len(GRAVITIES) and set(table.variant) == {"card"}  # md fits inside: none
    config = parse_config(COVER)
    for r in table.itertuples():
        with Image.open(run.path / r.path) as crop:
            assert crop.size == (r.width, r.height) == (160, 90)
        again = transform((sample_photos[0].parent / r.image).read_bytes(), config.variant("card")._replace(
            geometry=config.variant("card").shape()._replace(gravity=r.gravity)), "png")
        assert again.window == pytest.approx((r.left, r.top, r.right, r.bottom))  # the window the crop shows
        assert (run.path / r.overview).is_file()
    windows = {(r.image, r.gravity): (r.left, r.top) for r in table.itertuples()}
    assert any(windows[f, "attention"] != windows[f, "centre"] for f in files)  # not centre under another name
    page = contact_sheet_html(run)
    for r in table.itertuples():
        assert r.path in page and f"gravity {r.gravity}" in page
    assert "Median miss ms per gravity" in page
    assert "href='#contact-sheet'" in contact_sheet_links(run) and "id='contact-sheet'" in page


def test_no_cover_variant_no_section(tmp_path, sample_photos):
    run = RunDir(tmp_path / "run")
    assert make_contact_sheet(run, sample_photos[0].parent, "[variants.md]\nsize = 250\n",
                              [sample_photos[0].name]).empty
    assert contact_sheet_html(run) == "" == contact_sheet_links(run)


def test_a_crops_reference_is_cut_from_its_window(sample_photos):
    data = sample_photos[0].read_bytes()
    config = parse_config(COVER)
    result = transform(data, config.variant("card"), "png")
    source = metrics.load_source(data)
    output = metrics.decode_rgb(result.data)
    windowed = metrics.reference(source, result.width, result.height, window=result.window)
    squeezed = metrics.reference(source, result.width, result.height)  # the whole image: the wrong target
    assert metrics.ssim(windowed, output) > 0.9 > metrics.ssim(squeezed, output)
    inside = transform(data, config.variant("md"), "png")
    assert inside.window == (0, 0, *source.size)
    assert np.array_equal(metrics.reference(source, inside.width, inside.height, window=inside.window),
                          metrics.reference(source, inside.width, inside.height))


def test_sweeps_count_an_original_for_a_variant_when_it_resizes_it():
    config = parse_config(COVER)
    assert resized_by(config.variant("md"), 300, 200) and not resized_by(config.variant("md"), 250, 100)
    assert resized_by(config.variant("card"), 200, 200)  # a square cut to 16:9 and resized
    assert not resized_by(config.variant("card"), 120, 80)  # smaller than the box: cut, not resized
    assert box_label(config.variant("md")) == "250 px" and box_label(config.variant("card")) == "160x90 px cover"
