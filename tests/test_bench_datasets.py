"""Datasets: bundled photos, folders (format from the bytes, non-images skipped and counted), S3 prefixes via
moto on loopback, the cached manifest, seeded sampling; and the repo/run-folder paths the notebooks rely on."""

import io
import shutil

import boto3
import pandas as pd
import pytest
from PIL import Image

from resizer.samples import SAMPLE_PHOTOS
from resizer_bench import datasets
from resizer_bench.datasets import bundled_dir, load_dataset
from resizer_bench.paths import RunDir, repo_root, resolve


@pytest.fixture
def mixed_folder(tmp_path):
    """A JPEG, a JPEG named .png, a PNG in a subfolder, an EXIF-rotated JPEG, a text file, an SVG, a hidden file."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    src = bundled_dir()
    shutil.copy(src / "rocket.jpg", root / "rocket.jpg")
    shutil.copy(src / "rocket.jpg", root / "mislabelled.png")
    shutil.copy(src / "chelsea.png", root / "sub" / "chelsea.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(src / "coffee.png").convert("RGB").save(root / "rotated.jpg", exif=exif.tobytes())
    (root / "notes.txt").write_text("not an image")
    (root / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (root / ".DS_Store").write_bytes(b"\0" * 10)
    return root


def test_folder_sniffs_formats_and_skips_non_images(mixed_folder, tmp_path):
    ds = load_dataset(str(mixed_folder), cache_dir=tmp_path / "cache")
    images = ds.images.set_index("file")
    assert list(images.index) == ["mislabelled.png", "rocket.jpg", "rotated.jpg", "sub/chelsea.png"]
    assert images.loc["mislabelled.png", "format"] == "jpeg"
    assert tuple(images.loc["sub/chelsea.png", ["width", "height", "format"]]) == (451, 300, "png")
    assert tuple(images.loc["rotated.jpg", ["width", "height"]]) == (400, 600)  # EXIF 6: displayed upright
    assert images.loc["rocket.jpg", "bytes"] == (mixed_folder / "rocket.jpg").stat().st_size
    assert set(ds.skipped.file) == {"notes.txt", "logo.svg"}
    assert "svg" in ds.skipped.set_index("file").loc["logo.svg", "note"]
    assert ds.read("rocket.jpg") == (mixed_folder / "rocket.jpg").read_bytes()
    assert "4 images, 2 non-image files skipped" in ds.describe()


def test_manifest_is_cached_and_refreshed_when_a_file_changes(mixed_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_dataset(str(mixed_folder), cache_dir=cache)
    assert len(list(cache.glob("*.parquet"))) == 1
    described = []
    original = datasets.describe_file
    monkeypatch.setattr(datasets, "describe_file", lambda *a: described.append(a[1]) or original(*a))
    again = load_dataset(str(mixed_folder), cache_dir=cache)
    assert described == []
    pd.testing.assert_frame_equal(first.images, again.images)

    Image.open(bundled_dir() / "camera.png").save(mixed_folder / "rocket.jpg", "JPEG")  # new size and mtime
    changed = load_dataset(str(mixed_folder), cache_dir=cache)
    assert described == ["rocket.jpg"]
    assert tuple(changed.images.set_index("file").loc["rocket.jpg", ["width", "height"]]) == (512, 512)


def test_sampling_is_seeded(mixed_folder, tmp_path):
    cache = tmp_path / "cache"
    draws = [tuple(load_dataset(str(mixed_folder), sample=2, seed=s, cache_dir=cache).images.file) for s in range(8)]
    assert all(len(d) == 2 for d in draws)
    assert draws[3] == tuple(load_dataset(str(mixed_folder), sample=2, seed=3, cache_dir=cache).images.file)
    assert len(set(draws)) > 1
    ds = load_dataset(str(mixed_folder), sample=2, seed=0, cache_dir=cache)
    assert ds.total == 4 and "2 of 4 images" in ds.describe()


def test_bundled_dataset_is_the_photos(tmp_path):
    ds = load_dataset("bundled", cache_dir=tmp_path)
    assert tuple(ds.images.file) == tuple(sorted(SAMPLE_PHOTOS)) and ds.skipped.empty
    longest = ds.images[["width", "height"]].max(axis=1)
    assert (longest > 250).all() and (longest > 700).sum() == 3 and (longest > 1200).sum() == 1


def test_s3_prefix_is_mirrored_once(moto_endpoint, s3_env, tmp_path):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="photos")
    src = bundled_dir()
    s3.put_object(Bucket="photos", Key="set/a/rocket.jpg", Body=(src / "rocket.jpg").read_bytes())
    s3.put_object(Bucket="photos", Key="set/chelsea.png", Body=(src / "chelsea.png").read_bytes())
    s3.put_object(Bucket="photos", Key="set/readme.txt", Body=b"hello")
    s3.put_object(Bucket="photos", Key="other/coffee.png", Body=(src / "coffee.png").read_bytes())
    ds = load_dataset("s3://photos/set/", cache_dir=tmp_path, endpoint_url=moto_endpoint)
    assert list(ds.images.file) == ["a/rocket.jpg", "chelsea.png"] and list(ds.skipped.file) == ["readme.txt"]
    local = ds.path("chelsea.png")
    assert local.read_bytes() == (src / "chelsea.png").read_bytes() and tmp_path in local.parents
    stamp = local.stat().st_mtime_ns
    load_dataset("s3://photos/set/", cache_dir=tmp_path, endpoint_url=moto_endpoint)
    assert local.stat().st_mtime_ns == stamp  # not downloaded again


def test_development_corpus(corpus_dir, tmp_path):
    ds = load_dataset(str(corpus_dir), sample=5, seed=0, cache_dir=tmp_path)
    assert len(ds.images) == 5 and ds.total == 42
    assert set(ds.skipped.file) == {"inventory.csv", "SOURCES.md"}
    inventory = pd.read_csv(corpus_dir / "inventory.csv").set_index("file")
    for row in ds.images.itertuples():
        assert row.bytes == inventory.loc[row.file, "bytes"] and row.sha256 == inventory.loc[row.file, "sha256"]


def test_repo_root_and_run_dir(tmp_path):
    root = repo_root()
    assert (root / "pyproject.toml").is_file() and repo_root(root / "notebooks") == root
    assert resolve("reports/x") == root / "reports" / "x" and resolve(tmp_path) == tmp_path
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("")
    assert repo_root(nested) == tmp_path
    run = RunDir(tmp_path / "run")
    run.write_table(pd.DataFrame({"x": [1, 2]}), "t")
    assert run.read_table("t").x.tolist() == [1, 2] and (run.path / "data" / "t.csv").is_file()
    assert run.write_summary("nb", "# hi").read_text() == "# hi\n"


def test_unreadable_image_is_skipped(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    buf = io.BytesIO()
    Image.open(bundled_dir() / "chelsea.png").save(buf, "PNG")
    (root / "truncated.png").write_bytes(buf.getvalue()[:20])  # the signature, half a header
    ds = load_dataset(str(root), cache_dir=tmp_path / "c")
    assert ds.images.empty and list(ds.skipped.file) == ["truncated.png"]
    assert ds.skipped.note[0].startswith("unreadable png")
