"""`resizer html`: the srcset widths are those of the files `resizer variants` writes (EXIF-rotated originals and
cover variants included), the markup parses as HTML without a single error, variants of different aspects are
refused, `<picture>` appears only when the variants' formats differ, and a bucket gives what a folder gives."""

import shutil
from pathlib import Path

import html5lib
import pytest
from PIL import Image

from resizer.cli import main
from resizer.config import load_config, parse_config
from resizer.keys import public_path
from resizer.markup import responsive_markup

COVER_VARIANTS = """
[variants.thumb]
size = 120
[variants.square]
width = 300
height = 300
fit = "cover"
[variants.wide]
width = 640
height = 360
fit = "cover"
[variants.wide_sm]
width = 320
height = 180
fit = "cover"
"""


def run_html(capsys, *argv) -> tuple[int, str, str]:
    code = main(["html", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parse(markup: str) -> list:
    """The elements of `markup`, parsed as a browser would; strict: any parse error raises."""
    fragment = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parseFragment(markup)
    return [element for element in fragment.iter() if element.tag != "DOCUMENT_FRAGMENT"]


def srcset_widths(srcset: str) -> dict[str, int]:
    """public path -> the width its `NNNw` descriptor gives."""
    entries = [entry.split() for entry in srcset.split(", ")]
    assert all(len(entry) == 2 and entry[1].endswith("w") for entry in entries), srcset
    return {path: int(width[:-1]) for path, width in entries}


def exif_rotated(photo: Path, target: Path, orientation: int) -> Path:
    """`photo`'s pixels turned so that EXIF `orientation` (6 or 8) shows them upright again, saved as JPEG."""
    turn = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.open(photo).convert("RGB").transpose(turn).save(target, "JPEG", quality=90, exif=exif.tobytes())
    return target


def originals_folder(tmp_path: Path, images: list[Path]) -> Path:
    """A folder origin holding `images` under images/."""
    folder = tmp_path / "originals"
    (folder / "images").mkdir(parents=True)
    for image in images:
        shutil.copyfile(image, folder / "images" / image.name)
    return folder


def written_sizes(out: Path, stem: str, names) -> dict[str, tuple[int, int]]:
    """variant name -> (width, height) of the file `resizer variants` wrote for it."""
    sizes = {}
    for name in names:
        (written,) = out.glob(f"{stem}-{name}.*")
        with Image.open(written) as image:
            sizes[name] = image.size
    return sizes


def assert_widths_match_variants(capsys, tmp_path: Path, images: list[Path], config_file: Path | None = None,
                                 variants: list[str] | None = None) -> None:
    """Run `resizer variants` and `resizer html` on the same images and config: every listed variant's srcset
    width is its file's width; every variant left out has the width of one listed before it (same-size
    variants listed once); `width`/`height` are the largest file's."""
    config = load_config(config_file)
    names = variants or [v.name for v in config.variants.values() if v.shape().fit == "inside"]
    configured = ["--config", str(config_file)] if config_file else []
    out = tmp_path / "variants"
    assert main(["variants", *map(str, images), "--out", str(out), *configured]) == 0
    capsys.readouterr()
    origin = originals_folder(tmp_path, images)
    picked = ["--variants", ",".join(variants)] if variants else []
    for image in images:
        key = f"images/{image.name}"
        code, markup, err = run_html(capsys, key, "--origin", origin, *configured, *picked)
        assert code == 0, err
        (img,) = parse(markup)
        listed = srcset_widths(img.attrib["srcset"])
        files = written_sizes(out, image.stem, names)
        shown = [name for name in names if public_path(name, key) in listed]
        assert shown and set(listed) == {public_path(name, key) for name in shown}
        for position, name in enumerate(names):
            if name in shown:
                assert listed[public_path(name, key)] == files[name][0], (image.name, name)
            else:
                assert files[name][0] in [files[earlier][0] for earlier in shown if names.index(earlier) < position]
        largest = max(files.values())
        assert (int(img.attrib["width"]), int(img.attrib["height"])) == largest, image.name
        assert img.attrib["src"] == public_path(next(n for n in shown if files[n] == largest), key)


def test_srcset_widths_are_the_widths_of_the_written_variants(capsys, tmp_path, sample_photos):
    coffee = next(p for p in sample_photos if p.name == "coffee.png")  # 600x400: turned, it would be 400x600
    rotated = [exif_rotated(coffee, tmp_path / f"coffee_exif{o}.jpg", o) for o in (6, 8)]
    assert_widths_match_variants(capsys, tmp_path, [*sample_photos, *rotated])
    out = tmp_path / "variants"
    for image in rotated:  # sized upright, as the pipeline writes them
        assert written_sizes(out, image.stem, ["md"]) == written_sizes(out, "coffee", ["md"]) == {"md": (250, 167)}


def test_srcset_widths_on_the_corpus(capsys, tmp_path, corpus_images):
    assert_widths_match_variants(capsys, tmp_path, corpus_images)


def test_cover_variants_of_one_aspect_share_a_srcset(capsys, tmp_path, sample_photos):
    config_file = tmp_path / "cover.toml"
    config_file.write_text(COVER_VARIANTS)
    assert_widths_match_variants(capsys, tmp_path, sample_photos, config_file, variants=["wide_sm", "wide"])


def test_variants_of_different_aspects_are_refused(capsys, tmp_path, sample_photos):
    config_file = tmp_path / "cover.toml"
    config_file.write_text(COVER_VARIANTS)
    origin = originals_folder(tmp_path, sample_photos[:1])
    key = f"images/{sample_photos[0].name}"
    code, out, err = run_html(capsys, key, "--origin", origin, "--config", config_file, "--variants", "square,wide")
    assert (code, out) == (2, "")
    assert "square 300x300" in err and "wide " in err and "aspect" in err
    code, markup, err = run_html(capsys, key, "--origin", origin, "--config", config_file)  # the inside ones
    assert code == 0, err
    assert list(srcset_widths(parse(markup)[0].attrib["srcset"])) == [public_path("thumb", key)]


def test_unknown_variants_are_named(capsys, tmp_path, sample_photos):
    origin = originals_folder(tmp_path, sample_photos[:1])
    code, out, err = run_html(capsys, f"images/{sample_photos[0].name}", "--origin", origin, "--variants", "sm,huge")
    assert (code, out) == (2, "")
    assert "unknown variants: huge (known: sm, md, lg, xl)" in err


def test_missing_original_is_a_404(capsys, tmp_path, sample_photos):
    origin = originals_folder(tmp_path, sample_photos[:1])
    code, out, err = run_html(capsys, "images/missing.jpg", "--origin", origin)
    assert (code, out) == (1, "")
    assert err == "resizer: images/missing.jpg: 404 Original image not found\n"


def test_the_strict_parser_fails_on_broken_markup():
    """The control for `parse`: strict parsing does raise on an error (here an attribute quote never closed)."""
    with pytest.raises(html5lib.html5parser.ParseError):
        parse('<img src="/images/coffee-sm.png srcset="/images/coffee-sm.png 100w">')


def test_attribute_values_are_escaped(config):
    alt, sizes = 'A "cup" & <saucer>', "(min-width: 800px) 50vw, 100vw"
    (img,) = parse(responsive_markup(config, 'images/caf\u00e9 "1".jpg', (600, 400), alt=alt, sizes=sizes))
    assert (img.attrib["alt"], img.attrib["sizes"]) == (alt, sizes)
    assert img.attrib["src"] == "/images/caf%C3%A9%20%221%22-lg.jpg"


def test_variants_of_equal_width_are_listed_once(config):
    (img,) = parse(responsive_markup(config, "images/icon.png", (90, 60)))
    assert img.attrib["srcset"] == "/images/icon-sm.png 90w"
    assert (img.attrib["src"], img.attrib["width"], img.attrib["height"]) == ("/images/icon-sm.png", "90", "60")


def test_a_uniform_ladder_is_a_bare_img(config):
    elements = parse(responsive_markup(config, "images/a.jpg", (3000, 2000)))
    assert [e.tag for e in elements] == ["img"]
    assert elements[0].attrib["loading"] == "lazy" and elements[0].attrib["decoding"] == "async"


def test_formats_that_differ_make_a_picture():
    config = parse_config('[variants.sm]\nsize = 100\nformats = ["avif", "webp"]\n'
                          '[variants.lg]\nsize = 700\nformats = ["webp"]\n')
    elements = parse(responsive_markup(config, "images/a.jpg", (3000, 2000), sizes="50vw"))
    assert [e.tag for e in elements] == ["picture", "source", "source", "img"]
    avif, webp, img = elements[1:]
    assert (avif.attrib["type"], avif.attrib["srcset"]) == ("image/avif", "/images/a-sm.jpg 100w")
    assert (webp.attrib["type"], webp.attrib["srcset"]) == ("image/webp",
                                                           "/images/a-sm.jpg 100w, /images/a-lg.jpg 700w")
    assert img.attrib["srcset"] == webp.attrib["srcset"] and img.attrib["src"] == "/images/a-lg.jpg"
    assert {avif.attrib["sizes"], webp.attrib["sizes"], img.attrib["sizes"]} == {"50vw"}


def test_a_bucket_gives_what_a_folder_gives(capsys, tmp_path, sample_photos, s3_client, bucket, moto_endpoint):
    coffee = next(p for p in sample_photos if p.name == "coffee.png")
    images = [coffee, exif_rotated(coffee, tmp_path / "coffee_exif6.jpg", 6)]
    origin = originals_folder(tmp_path, images)
    for image in images:
        key = f"images/{image.name}"
        s3_client.put_object(Bucket=bucket, Key=key, Body=image.read_bytes())
        from_s3 = run_html(capsys, key, "--bucket", bucket, "--s3-endpoint", moto_endpoint)
        assert from_s3 == run_html(capsys, key, "--origin", origin)
        assert from_s3[0] == 0 and parse(from_s3[1])
    code, out, err = run_html(capsys, "images/missing.jpg", "--bucket", bucket, "--s3-endpoint", moto_endpoint)
    assert (code, out) == (1, "") and "404" in err
