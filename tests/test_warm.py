"""`resizer warm` over folders and S3 (moto), on real photos: exactly the servable outputs, with the bytes and
headers the edge stores on a miss; reruns and interrupted runs make only what is missing; bad originals are
counted by status without stopping the run; --formats and --prefix restrict; Dask is optional."""

import re
import shutil
import sys

import pytest
from cf_events import origin_response
from conftest import FAST_ENCODERS

from resizer import cli
from resizer.cfn import ORIGIN_MEMORY_MB
from resizer.config import load_config
from resizer.edge.negotiate import servable_formats
from resizer.edge.origin import IMMUTABLE, OriginResponse
from resizer.edge.runtime import vcpu_share
from resizer.image.formats import FORMATS, sniff
from resizer.keys import derived_key
from resizer.store import warm
from resizer.store.origins import LocalOrigin, S3Origin

ORIGINALS = {"images/rocket.jpg": "rocket.jpg", "images/coffee.png": "coffee.png", "other/camera.png": "camera.png"}


@pytest.fixture(autouse=True)
def _threads_put_back(libvips_threads):
    """Every test here runs warm or the edge handler."""


@pytest.fixture
def config_file(tmp_path, config):
    """The packaged variants with the fastest encoders: these tests are about which bytes go where."""
    variants = "".join(f"[variants.{v.name}]\nsize = {v.size}\nformats = {list(v.formats)!r}\n"
                       for v in config.variants.values())
    path = tmp_path / "fast.toml"
    path.write_text(FAST_ENCODERS + variants, encoding="utf-8")
    return path


class Library:
    """Originals in a folder pair or a moto bucket: the CLI options naming it, and an origin to inspect it."""

    def __init__(self, kind: str, tmp_path, config, s3_client=None, bucket=None, endpoint=None):
        self.kind, self.s3_client, self.bucket = kind, s3_client, bucket
        if kind == "folder":
            self.originals = tmp_path / "originals"
            self.options = ["--origin", str(self.originals), "--derived", str(tmp_path / "derived")]
            self.origin = LocalOrigin(self.originals, tmp_path / "derived", config.derived_prefix)
        else:
            self.options = ["--bucket", bucket, "--s3-endpoint", endpoint]
            self.origin = S3Origin(bucket, config.region, config.derived_prefix, endpoint)

    def put(self, key: str, data: bytes) -> None:
        if self.kind == "folder":
            (self.originals / key).parent.mkdir(parents=True, exist_ok=True)
            (self.originals / key).write_bytes(data)
        else:
            self.s3_client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def derived(self, config) -> dict[str, bytes]:
        return {info.key: self.origin.get(info.key) for info in self.origin.list(config.derived_prefix + "/")}


@pytest.fixture(params=["folder", "s3"])
def library(request, tmp_path, config, sample_photos):
    if request.param == "folder":
        lib = Library("folder", tmp_path, config)
    else:
        lib = Library("s3", tmp_path, config, request.getfixturevalue("s3_client"), request.getfixturevalue("bucket"),
                      request.getfixturevalue("moto_endpoint"))
    return with_originals(lib, sample_photos)


@pytest.fixture
def folder_library(tmp_path, config, sample_photos):
    return with_originals(Library("folder", tmp_path, config), sample_photos)


def with_originals(library: Library, sample_photos) -> Library:
    photos = {path.name: path for path in sample_photos}
    for key, name in ORIGINALS.items():
        library.put(key, photos[name].read_bytes())
    return library


def expected_keys(config, originals, formats=None) -> set[str]:
    return {derived_key(config, variant.name, fmt, original) for original in originals
            for variant in config.variants.values() for fmt in servable_formats(variant, original)
            if formats is None or fmt in formats}


def summary_counts(out: str) -> dict[str, int]:
    """made / skipped / listed / failed from the summary lines."""
    patterns = {"listed": r"originals\s+(\d+) listed", "failed": r"listed, (\d+) failed",
                "made": r"made\s+(\d+) outputs", "skipped": r"skipped\s+(\d+) outputs"}
    return {name: int(re.search(pattern, out).group(1)) for name, pattern in patterns.items()}


def warm_cli(library: Library, config_file, *options) -> int:
    return cli.main(["warm", *library.options, "--config", str(config_file), *options])


def test_warm_makes_every_servable_output_with_the_edges_bytes(library, config_file, capsys):
    config = load_config(config_file)
    assert warm_cli(library, config_file, "--jobs", "2") == 0
    counts = summary_counts(capsys.readouterr().out)
    stored = library.derived(config)
    expected = expected_keys(config, ORIGINALS)
    assert set(stored) == expected
    assert counts == {"listed": 3, "failed": 0, "made": len(expected), "skipped": 0}

    # What the edge stores on a miss for the same keys: every output of the JPEG (three shrink-on-load decodes
    # in one warm) and of a PNG, made again by the origin-response handler after deleting the warmed object.
    # The handler as the zip builds it at the template's default memory (its libvips threads shape AVIF bytes).
    edge = OriginResponse(config, library.origin, image_threads=vcpu_share(ORIGIN_MEMORY_MB))
    for key in sorted(k for k in expected if k.endswith(("rocket.jpg", "coffee.png"))):
        warmed = library.origin.head(key)
        library.origin.delete_many([key])
        answer = edge(origin_response("/" + key, 404, library.bucket or "originals"), None)
        assert answer["status"] == "200"
        assert library.origin.get(key) == stored[key], key
        edge_made = library.origin.head(key)
        assert (warmed.content_type, warmed.cache_control) == (edge_made.content_type, IMMUTABLE)
        assert warmed.content_type == FORMATS[sniff(stored[key])].media_type


def test_rerun_makes_nothing(library, config_file, capsys):
    config = load_config(config_file)
    assert warm_cli(library, config_file, "--jobs", "1") == 0
    first = library.derived(config)
    capsys.readouterr()
    assert warm_cli(library, config_file, "--jobs", "1") == 0
    assert summary_counts(capsys.readouterr().out) == {"listed": 3, "failed": 0, "made": 0, "skipped": len(first)}
    assert library.derived(config) == first


def test_an_interrupted_run_completes_only_the_missing_outputs(folder_library, config_file, capsys):
    config = load_config(config_file)
    expected = expected_keys(config, ORIGINALS)
    earlier = sorted(expected)[::5]  # what a stopped run had stored (marked, to see they are not made again)
    for key in earlier:
        assert folder_library.origin.put_if_absent(key, b"stored earlier", "image/webp", IMMUTABLE)
    assert warm_cli(folder_library, config_file, "--jobs", "1") == 0
    assert summary_counts(capsys.readouterr().out) == {
        "listed": 3, "failed": 0, "made": len(expected) - len(earlier), "skipped": len(earlier)}
    stored = folder_library.derived(config)
    assert set(stored) == expected
    assert [key for key in earlier if stored[key] != b"stored earlier"] == []


def test_bad_originals_are_counted_by_status_and_do_not_stop_the_run(library, config_file, capsys, sample_photos):
    config = load_config(config_file)
    rocket = next(p for p in sample_photos if p.name == "rocket.jpg").read_bytes()
    library.put("images/broken.jpg", rocket[:3000])  # truncated: 422
    library.put("images/notes.txt", b"not an image\n")  # 415, like the edge for /images/notes-sm.txt
    assert warm_cli(library, config_file, "--jobs", "1") == 1
    captured = capsys.readouterr()
    assert summary_counts(captured.out) == {"listed": 5, "failed": 2, "made": len(expected_keys(config, ORIGINALS)),
                                            "skipped": 0}
    assert "1 × 415 Unsupported image type, 1 × 422 Corrupt or truncated image" in captured.out
    assert "images/broken.jpg: 422" in captured.err and "images/notes.txt: 415" in captured.err
    assert set(library.derived(config)) == expected_keys(config, ORIGINALS)


def test_formats_restrict_to_the_servable_ones_named(folder_library, config_file, capsys):
    config = load_config(config_file)
    assert warm_cli(folder_library, config_file, "--formats", "webp,jpeg", "--jobs", "1") == 0
    stored = set(folder_library.derived(config))
    assert stored == expected_keys(config, ORIGINALS, {"webp", "jpeg"})
    # JPEG is servable for the JPEG original only (its fallback); a PNG's viewers are never sent JPEG
    assert {key.split("/")[2] for key in stored if key.endswith(".png")} == {"webp"}
    assert {key.split("/")[2] for key in stored if key.endswith(".jpg")} == {"webp", "jpeg"}


@pytest.mark.parametrize("formats", ["gif", "webp,bmp", ","])
def test_unknown_formats_are_a_usage_error(folder_library, config_file, formats, capsys):
    assert warm_cli(folder_library, config_file, "--formats", formats) == 2
    assert "--formats" in capsys.readouterr().err


def test_prefix_restricts(folder_library, config_file, capsys):
    config = load_config(config_file)
    assert warm_cli(folder_library, config_file, "--prefix", "images/", "--jobs", "1") == 0
    assert summary_counts(capsys.readouterr().out)["listed"] == 2
    under_images = [key for key in ORIGINALS if key.startswith("images/")]
    assert set(folder_library.derived(config)) == expected_keys(config, under_images)
    assert warm_cli(folder_library, config_file, "--prefix", "_variants/sm/") == 2


def test_plan_merges_the_listings(tmp_path, config):
    """Stored outputs of originals since deleted, before, between and after the listed ones, do not confuse the
    merge; only (variant, format) listings the originals need are read."""
    origin = LocalOrigin(tmp_path / "o", tmp_path / "d", config.derived_prefix)
    for key in ("images/b.jpg", "images/d.jpg"):
        (tmp_path / "o" / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "o" / key).write_bytes(b"\xff\xd8\xff")
    for original in ("images/a.jpg", "images/b.jpg", "images/c.jpg", "images/e.jpg"):
        origin.put_if_absent(derived_key(config, "sm", "webp", original), b"x", "image/webp", IMMUTABLE)
    plan = {original: (missing, stored) for original, missing, stored in warm.plan(origin, config)}
    assert list(plan) == ["images/b.jpg", "images/d.jpg"]
    per_original = len(expected_keys(config, ["images/b.jpg"]))
    assert plan["images/b.jpg"][1] == 1 and len(plan["images/b.jpg"][0]) == per_original - 1
    assert derived_key(config, "sm", "webp", "images/b.jpg") not in {out.key for out in plan["images/b.jpg"][0]}
    assert plan["images/d.jpg"][1] == 0 and len(plan["images/d.jpg"][0]) == per_original


def test_derived_keys_are_never_taken_for_originals(tmp_path, config):
    """A listing of everything steps over the derived range and goes on after it."""
    origin = LocalOrigin(tmp_path / "o", tmp_path / "d", config.derived_prefix)
    for key in ("A.png", "zebra.png"):  # 'A' sorts before '_variants', 'z' after
        (tmp_path / "o").mkdir(exist_ok=True)
        (tmp_path / "o" / key).write_bytes(b"\x89PNG")
    origin.put_if_absent(derived_key(config, "sm", "png", "A.png"), b"x", "image/png", IMMUTABLE)
    assert list(warm.original_keys(origin, "", config.derived_prefix)) == ["A.png", "zebra.png"]


def test_scheduler_without_dask_exits_2(folder_library, config_file, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # `from dask.distributed import ...` fails
    assert warm_cli(folder_library, config_file, "--scheduler", "tcp://127.0.0.1:1") == 2
    assert "needs Dask" in capsys.readouterr().err


def test_a_dask_cluster_makes_the_same_keys_and_bytes(folder_library, config_file, tmp_path, capsys):
    distributed = pytest.importorskip("dask.distributed")
    config = load_config(config_file)
    assert warm_cli(folder_library, config_file, "--jobs", "1") == 0
    local = folder_library.derived(config)
    shutil.rmtree(tmp_path / "derived")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert warm_cli(folder_library, config_file, "--scheduler", cluster.scheduler_address) == 0
    assert folder_library.derived(config) == local
    assert len(local) == len(expected_keys(config, ORIGINALS))


def test_progress_goes_to_a_terminal_on_stderr(folder_library, config_file, monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert warm_cli(folder_library, config_file, "--jobs", "1") == 0
    captured = capsys.readouterr()
    assert re.search(r"\r3 originals, \d+ made, 0 skipped, 0 failed, [\d.]+ s\n", captured.err)
    assert "\r" not in captured.out
