"""The `resizer variants | info | key` commands, run through `resizer.cli.main` on real photos; serve's sample
photos; the workbench's `bench`, registered through its entry point."""

import io
import shutil
import sys

import pytest
from conftest import decode

from resizer import cli
from resizer.cli import main
from resizer.config import BACKENDS, load_config
from resizer.keys import derived_key
from resizer.samples import SAMPLE_PHOTOS, sample_photos_dir


@pytest.fixture
def photos(tmp_path, sample_photos):
    folder = tmp_path / "in"
    folder.mkdir()
    for photo in sample_photos[:3]:
        shutil.copy(photo, folder / photo.name)
    return sorted(folder.iterdir())


@pytest.mark.parametrize("backend", BACKENDS)
def test_variants_writes_every_variant_and_a_table(photos, tmp_path, capsys, backend, config):
    out = tmp_path / "out"
    assert main(["variants", *map(str, photos), "-o", str(out), "--backend", backend]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["image", "variant", "format", "size", "bytes", "ms", "note"]
    assert len(table) == 1 + len(photos) * len(config.variants)
    for photo in photos:
        for variant in config.variants.values():
            ext = "jpg" if photo.suffix == ".jpg" else "png"  # no Accept: the original's family
            image = decode((out / f"{photo.stem}-{variant.name}.{ext}").read_bytes())
            assert max(image.size) <= variant.size


def test_variants_refuses_a_backend_override_that_cannot_write_the_config(photos, tmp_path, capsys):
    config = tmp_path / "moz.toml"
    config.write_text("[variants.sm]\nsize = 100\n[variants.sm.encoders.jpeg]\nmozjpeg = true\n")
    out = tmp_path / "out"
    assert main(["variants", str(photos[0]), "-o", str(out), "--config", str(config), "--backend", "pillow"]) == 2
    err = capsys.readouterr().err
    assert "--backend pillow" in err and "variants.sm.encoders.jpeg.mozjpeg" in err and "mozjpeg" in err
    assert not out.exists()
    assert main(["variants", str(photos[0]), "-o", str(out), "--config", str(config), "--backend", "vips"]) == 0


def test_variants_with_accept_writes_the_negotiated_format(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["variants", str(photos[0]), "-o", str(out), "--accept", "image/webp"]) == 0
    assert sorted(p.suffix for p in out.iterdir()) == [".webp"] * 4
    assert decode((out / f"{photos[0].stem}-sm.webp").read_bytes()).format == "WEBP"


def test_a_non_image_gets_an_error_row_and_a_failing_exit_without_stopping_the_others(photos, tmp_path, capsys):
    notes = tmp_path / "in" / "notes.txt"
    notes.write_text("not an image")
    out = tmp_path / "out"
    assert main(["variants", str(notes), *map(str, photos), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "notes.txt" in captured.out and "415" in captured.out
    assert "1 of 4 inputs failed" in captured.err
    assert len(list(out.iterdir())) == 3 * 4


def test_worker_processes_write_the_same_files_and_rows_in_input_order(photos, tmp_path, capsys):
    outputs, tables = {}, {}
    for jobs in ("1", "3"):
        out = tmp_path / f"out-{jobs}"
        assert main(["variants", *map(str, photos), "-o", str(out), "--jobs", jobs, "--accept", "image/webp"]) == 0
        outputs[jobs] = {p.name: p.read_bytes() for p in out.iterdir()}
        # every column but the timing
        tables[jobs] = [line.split()[:5] for line in capsys.readouterr().out.splitlines()]
    assert len(outputs["1"]) == len(photos) * 4 and outputs["3"] == outputs["1"]
    assert tables["3"] == tables["1"]
    assert [row[0] for row in tables["1"][1::4]] == [p.name for p in photos]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_variants_counts_images_on_a_terminal_only(photos, tmp_path, capsys, monkeypatch):
    assert main(["variants", *map(str, photos), "-o", str(tmp_path / "piped"), "-j", "1"]) == 0
    assert capsys.readouterr().err == ""
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["variants", *map(str, photos), "-o", str(tmp_path / "shown"), "-j", "1"]) == 0
    counts = [line.split(",")[0] for line in terminal.getvalue().split("\r") if line]
    assert counts == ["0/3 images", "1/3 images", "2/3 images", "3/3 images"]
    assert terminal.getvalue().endswith(" s\n")


def test_inputs_with_the_same_stem_are_refused_up_front(photos, tmp_path, capsys):
    twin = tmp_path / "other" / photos[0].name
    twin.parent.mkdir()
    shutil.copy(photos[0], twin)
    out = tmp_path / "out"
    assert main(["variants", str(photos[0]), str(twin), "-o", str(out)]) == 2
    assert "same stem" in capsys.readouterr().err
    assert not out.exists()


def test_info_reads_the_header(sample_photos, capsys):
    rocket = next(p for p in sample_photos if p.name == "rocket.jpg")
    assert main(["info", str(rocket)]) == 0
    fields = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines()[1:])
    assert fields["format"].strip() == "jpeg"
    assert (fields["width"].strip(), fields["height"].strip()) == ("640", "427")


def test_key_shows_the_derived_key_or_refuses(capsys):
    assert main(["key", "/images/test-sm.png", "--accept", "image/avif"]) == 0
    assert derived_key(load_config(), "sm", "avif", "images/test.png") in capsys.readouterr().out
    assert main(["key", "/images/../x-sm.png"]) == 2
    assert "400" in capsys.readouterr().err


def test_invalid_config_is_reported_with_its_field(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[variants.sm]\nsize = 0\n")
    assert main(["key", "/a-sm.png", "--config", str(bad)]) == 2
    assert "variants.sm.size" in capsys.readouterr().err


def test_serve_copies_the_sample_photos_under_images(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = cli._sample_origin()
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(SAMPLE_PHOTOS)
    for name in SAMPLE_PHOTOS:
        assert (folder / "images" / name).read_bytes() == (sample_photos_dir() / name).read_bytes()


def test_the_workbench_adds_bench_through_its_entry_point(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--help"])
    assert exited.value.code == 0 and "usage: resizer bench" in capsys.readouterr().out
