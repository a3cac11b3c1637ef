"""Focal points reach every path that makes variants: the edge (S3 user metadata, read with the original's GET),
`resizer serve` on a folder (the `.meta.json` sidecar) and on S3, `resizer warm`, `resizer variants`, and an
intermediate source; a changed focal point reaches viewers through `resizer purge`; bad metadata never fails."""

import argparse
import base64
import json
import subprocess
import sys

import cf_events
import pytest
from cf_events import log_lines
from conftest import marked, red_pixels, save

from resizer.config import parse_config
from resizer.keys import derived_key
from resizer.store import purge
from resizer.store.origins import ORIGINAL_METADATA_SUFFIX, LocalOrigin, S3Origin

CONFIG_TEXT = """
[variants.card]
width = 400
height = 400
fit = "cover"
gravity = "focus"
formats = ["webp"]

[variants.centre]
width = 400
height = 400
fit = "cover"
formats = ["webp"]
"""


def marked_png(at: tuple[float, float]) -> bytes:
    """A 1600x800 PNG with the red mark centred at `at`."""
    return save(marked(1600, 800, at), "PNG")


@pytest.fixture
def crop_config():
    return parse_config(CONFIG_TEXT)


@pytest.fixture
def folder(tmp_path):
    originals = tmp_path / "originals"
    (originals / "images").mkdir(parents=True)
    (originals / "images" / "m.png").write_bytes(marked_png((0.9, 0.1)))
    return originals


def set_sidecar(folder, focus: str) -> None:
    (folder / "images" / ("m.png" + ORIGINAL_METADATA_SUFFIX)).write_text(json.dumps({"focus": focus}))


def run_purge(tmp_path, *argv) -> int:
    config = tmp_path / "crops.toml"
    config.write_text(CONFIG_TEXT)
    argv = (*argv, "--config", str(config))
    parser = argparse.ArgumentParser()
    purge.add_parser(parser.add_subparsers())
    args = parser.parse_args(["purge", *argv])
    return args.run(args)


def test_serve_on_a_folder_reads_the_sidecar_and_purge_brings_a_new_focal_point(folder, tmp_path, serve,
                                                                                crop_config, capsys):
    set_sidecar(folder, "0.9,0.1")
    derived = tmp_path / "derived"
    origin = LocalOrigin(folder, derived)
    get = serve(origin, crop_config)
    status, _, body = get("/images/m-card.png", Accept="image/webp")
    assert status == 200 and red_pixels(body) > 300
    assert red_pixels(get("/images/m-centre.png", Accept="image/webp")[2]) == 0  # the control: centre misses it
    assert [i.key for i in origin.list("images/")] == ["images/m.png"]  # the sidecar is no original

    set_sidecar(folder, "0.1,0.9")  # moved: the derived key (and the original's ETag) stay the same
    assert get("/images/m-card.png", Accept="image/webp")[2] == body  # still the stored crop
    assert run_purge(tmp_path, "images/m.png", "--origin", str(folder), "--derived", str(derived)) == 0
    assert "/images/m-card.png" in capsys.readouterr().out.split()  # the paths to invalidate
    fresh = serve(origin, crop_config)  # CloudFront after the invalidation: nothing cached
    moved = fresh("/images/m-card.png", Accept="image/webp")[2]
    assert moved != body and red_pixels(moved) == 0


def test_serve_on_s3_reads_the_objects_user_metadata_and_purge_brings_a_new_one(
        serve, crop_config, s3_client, bucket, moto_endpoint, tmp_path, capsys):
    s3_client.put_object(Bucket=bucket, Key="images/m.png", Body=marked_png((0.9, 0.1)), ContentType="image/png",
                         Metadata={"focus": "0.9,0.1"})
    origin = S3Origin(bucket, crop_config.region, endpoint_url=moto_endpoint)
    get = serve(origin, crop_config)
    body = get("/images/m-card.png", Accept="image/webp")[2]
    assert red_pixels(body) > 300
    etag = s3_client.head_object(Bucket=bucket, Key="images/m.png")["ETag"]
    s3_client.copy_object(Bucket=bucket, Key="images/m.png", CopySource={"Bucket": bucket, "Key": "images/m.png"},
                          Metadata={"focus": "0.1,0.9"}, MetadataDirective="REPLACE", ContentType="image/png")
    assert s3_client.head_object(Bucket=bucket, Key="images/m.png")["ETag"] == etag  # a metadata-only copy
    stored = derived_key(crop_config, "card", "webp", "images/m.png")
    assert s3_client.get_object(Bucket=bucket, Key=stored)["Body"].read() == body
    assert run_purge(tmp_path, "images/m.png", "--bucket", bucket, "--s3-endpoint", moto_endpoint) == 0
    capsys.readouterr()
    moved = serve(origin, crop_config)("/images/m-card.png", Accept="image/webp")[2]
    assert red_pixels(moved) == 0 and moved != body


@pytest.mark.parametrize("value", ["2,2", "left", "0.5", "nan,0.1"])
def test_bad_metadata_at_the_edge_is_logged_and_ignored(value, crop_config, bucket, s3_client, edge_handlers,
                                                        capsys):
    config = crop_config.with_bucket(bucket)
    s3_client.put_object(Bucket=bucket, Key="images/m.png", Body=marked_png((0.9, 0.1)), Metadata={"focus": value})
    _, origin_response = edge_handlers(config)
    key = derived_key(config, "card", "webp", "images/m.png")
    result = origin_response(cf_events.origin_response("/" + key, 404, bucket), None)
    assert result["status"] == "200"
    body = base64.b64decode(result["body"])
    assert red_pixels(body) == 0  # the fallback: centre
    [line] = log_lines(capsys)
    assert line["outcome"] == "generated" and line["warning"].startswith("focus ignored")


def test_the_edge_reads_a_good_focal_point_with_the_get(crop_config, bucket, s3_client, edge_handlers, capsys):
    config = crop_config.with_bucket(bucket)
    s3_client.put_object(Bucket=bucket, Key="images/m.png", Body=marked_png((0.9, 0.1)), Metadata={"focus": "0.9,0.1"})
    _, origin_response = edge_handlers(config)
    result = origin_response(cf_events.origin_response("/" + derived_key(config, "card", "webp", "images/m.png"),
                                                       404, bucket), None)
    assert red_pixels(base64.b64decode(result["body"])) > 300
    assert "warning" not in log_lines(capsys)[0]


def test_an_intermediate_source_uses_the_originals_current_focal_point(folder, tmp_path, serve, capsys):
    config = parse_config(CONFIG_TEXT + "\n[intermediate]\nsize = 600\nquality = 95\nmin_ratio = 2.0\n")
    set_sidecar(folder, "0.9,0.1")
    origin = LocalOrigin(folder, tmp_path / "derived")
    get = serve(origin, config)
    first = get("/images/m-centre.png", Accept="image/webp")  # stores the intermediate
    assert first[0] == 200 and any(i.key.startswith("_variants/~source/") for i in origin.list("_variants/"))
    status, _, body = get("/images/m-card.png", Accept="image/webp")  # made from the intermediate
    assert status == 200 and red_pixels(body) > 300


def test_warm_and_variants_read_the_same_sidecar(folder, tmp_path, crop_config):
    set_sidecar(folder, "0.9,0.1")
    config_path = tmp_path / "crops.toml"
    config_path.write_text(CONFIG_TEXT)
    derived = tmp_path / "derived"
    code = subprocess.run([sys.executable, "-m", "resizer.cli", "warm", "--config", str(config_path), "--origin",
                           str(folder), "--derived", str(derived), "--formats", "webp"], capture_output=True,
                          text=True)
    assert code.returncode == 0, code.stderr
    warmed = LocalOrigin(folder, derived).get(derived_key(crop_config, "card", "webp", "images/m.png"))
    assert red_pixels(warmed) > 300
    out = tmp_path / "out"
    made = subprocess.run([sys.executable, "-m", "resizer.cli", "variants", str(folder / "images" / "m.png"),
                           "--config", str(config_path), "--out", str(out), "--accept", "image/webp"],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert (out / "m-card.webp").read_bytes() == warmed  # the same bytes as warm and the edge
    set_sidecar(folder, "not a point")
    again = subprocess.run([sys.executable, "-m", "resizer.cli", "variants", str(folder / "images" / "m.png"),
                            "--config", str(config_path), "--out", str(out), "--accept", "image/webp"],
                           capture_output=True, text=True)
    assert again.returncode == 0 and "focus ignored" in again.stderr
    assert red_pixels((out / "m-card.webp").read_bytes()) == 0
