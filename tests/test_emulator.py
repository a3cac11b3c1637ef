"""`resizer serve`: the local CloudFront + Lambda@Edge emulator, over real HTTP on loopback."""

import shutil
import time
from io import BytesIO

import numpy as np
import pytest
from conftest import snapshot
from PIL import Image

from resizer.keys import derived_key
from resizer.store.origin_model import OriginModel
from resizer.store.origins import LocalOrigin, S3Origin


@pytest.fixture
def originals(tmp_path, sample_photos):
    folder = tmp_path / "originals"
    (folder / "images").mkdir(parents=True)
    for photo in sample_photos:
        shutil.copy(photo, folder / "images" / photo.name)
    noise = np.random.default_rng(0).integers(0, 256, (1500, 1500, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "images" / "noise.png")
    (folder / "images" / "page.html").write_text("<script>alert(1)</script>")
    return folder


def test_variant_is_made_then_served_from_cache(originals, tmp_path, serve, config):
    before = snapshot(originals)
    origin = LocalOrigin(originals, tmp_path / "derived", config.derived_prefix)
    get = serve(origin)
    status, headers, body = get("/images/coffee-sm.png", Accept="image/avif,image/webp")
    assert status == 200 and headers["x-cache"].startswith("Miss")
    assert headers["content-type"] == "image/avif" and headers["vary"] == "Accept"
    assert int(headers["content-length"]) == len(body)
    assert "origin-response;dur=" in headers["server-timing"]
    image = Image.open(BytesIO(body))
    assert image.format == "AVIF" and max(image.size) == 100
    assert origin.get(derived_key(config, "sm", "avif", "images/coffee.png")) == body

    status, headers, again = get("/images/coffee-sm.png", Accept="image/avif,image/webp")
    assert status == 200 and headers["x-cache"].startswith("Hit") and again == body

    status, headers, webp = get("/images/coffee-sm.png", Accept="image/webp")  # another format, another key
    assert headers["x-cache"].startswith("Miss") and Image.open(BytesIO(webp)).format == "WEBP"
    status, headers, png = get("/images/coffee-sm.png")
    assert Image.open(BytesIO(png)).format == "PNG"
    assert snapshot(originals) == before


def test_originals_unknown_suffixes_and_bad_paths(originals, tmp_path, serve, config):
    get = serve(LocalOrigin(originals, tmp_path / "derived", config.derived_prefix))
    original = (originals / "images" / "coffee.png").read_bytes()
    status, headers, body = get("/images/coffee.png")
    assert status == 200 and body == original and headers["x-content-type-options"] == "nosniff"
    assert get("/images/coffee-zz.png")[0] == 404  # not a variant: the original `coffee-zz.png`, absent
    status, headers, body = get("/images/../images/coffee-sm.png")
    assert status == 400 and body.startswith(b"Malformed") and "max-age=60" in headers["cache-control"]
    assert get("/images/%2e%2e/x-sm.png")[0] == 400
    assert get("/" + derived_key(config, "sm", "png", "images/coffee.png"))[0] == 400
    status, headers, body = get("/images/missing-md.jpg")
    assert status == 404 and b"Traceback" not in body
    assert not (tmp_path / "derived" / "md").exists()


def test_head_etag_and_conditional_get(originals, tmp_path, serve, config):
    get = serve(LocalOrigin(originals, tmp_path / "derived", config.derived_prefix))
    status, headers, body = get("/images/chelsea-md.png", Accept="image/webp")
    etag = headers["etag"]
    status, head_headers, head_body = get("/images/chelsea-md.png", method="HEAD", Accept="image/webp")
    assert status == 200 and head_body == b"" and head_headers["content-length"] == str(len(body))
    status, _, body304 = get("/images/chelsea-md.png", Accept="image/webp", If_None_Match=etag)
    assert status == 304 and body304 == b""
    assert get("/images/chelsea-md.png", Accept="image/webp", If_None_Match='"other"')[0] == 200


def test_output_over_the_generated_response_limit_redirects_to_the_public_url(originals, tmp_path, serve, config):
    get = serve(LocalOrigin(originals, tmp_path / "derived", config.derived_prefix))
    status, headers, body = get("/images/noise-xl.png")
    assert status == 302 and headers["location"] == "/images/noise-xl.png"
    assert headers["cache-control"] == "no-store"
    stored = tmp_path / "derived" / derived_key(config, "xl", "png", "images/noise.png").split("/", 1)[1]
    assert stored.stat().st_size > 1_000_000
    status, headers, body = get(headers["location"])  # what the browser does next
    assert status == 200 and body == stored.read_bytes() and Image.open(BytesIO(body)).size == (1200, 1200)


def test_s3_origin(serve, config, s3_client, bucket, moto_endpoint, sample_photos):
    original = sample_photos[0].read_bytes()
    s3_client.put_object(Bucket=bucket, Key="images/a.png", Body=original)
    get = serve(S3Origin(bucket, config.region, endpoint_url=moto_endpoint))
    status, headers, body = get("/images/a-lg.png", Accept="image/webp")
    assert status == 200 and headers["content-type"] == "image/webp"
    stored = s3_client.get_object(Bucket=bucket, Key=derived_key(config, "lg", "webp", "images/a.png"))
    assert stored["Body"].read() == body and stored["CacheControl"].endswith("immutable")
    assert get("/images/a-lg.png", Accept="image/webp")[1]["x-cache"].startswith("Hit")
    assert s3_client.get_object(Bucket=bucket, Key="images/a.png")["Body"].read() == original


def test_cache_evicts_least_recently_used_past_its_byte_budget(originals, tmp_path, serve, config):
    get = serve(LocalOrigin(originals, tmp_path / "derived", config.derived_prefix), cache_bytes=12_000)
    sizes = {name: len(get(f"/images/{name}-sm.png", Accept="image/webp")[2]) for name in ("coffee", "chelsea")}
    assert sum(sizes.values()) <= 12_000  # both fit: both are hits
    assert all(get(f"/images/{n}-sm.png", Accept="image/webp")[1]["x-cache"].startswith("Hit") for n in sizes)
    big = get("/images/astronaut-md.png", Accept="image/webp")[2]
    assert len(big) + sizes["chelsea"] > 12_000 - sizes["coffee"]
    # chelsea was used last before astronaut, so coffee (least recently used) went first
    assert get("/images/coffee-sm.png", Accept="image/webp")[1]["x-cache"].startswith("Miss")


def _server_timing(headers: dict[str, str]) -> dict[str, float]:
    """Server-Timing's `name;dur=ms` entries."""
    entries = (entry.strip().split(";dur=") for entry in headers["server-timing"].split(","))
    return {name: float(ms) for name, ms in entries}


def test_far_origin_miss_pays_each_origin_request_and_a_hit_pays_none(originals, tmp_path, serve, fast_config):
    model = OriginModel.parse("50ms", None)
    get = serve(LocalOrigin(originals, tmp_path / "derived", fast_config.derived_prefix), fast_config,
                origin_model=model)
    started = time.perf_counter()
    status, headers, _ = get("/images/coffee-sm.png", Accept="image/webp")
    elapsed = time.perf_counter() - started
    assert status == 200 and headers["x-cache"].startswith("Miss")
    # CloudFront's fetch (the variant is not there yet: one round trip), then the handler's GET and PUT
    assert elapsed >= 3 * model.latency_s
    timing = _server_timing(headers)
    assert timing["origin"] >= 1000 * model.latency_s and timing["origin-response"] >= 2000 * model.latency_s

    status, headers, _ = get("/images/coffee-sm.png", Accept="image/webp")
    assert headers["x-cache"].startswith("Hit") and set(_server_timing(headers)) == {"viewer-request"}


def test_far_origin_moves_bodies_at_its_bandwidth(originals, tmp_path, serve, fast_config):
    model = OriginModel.parse(None, "40MB/s")
    size = (originals / "images" / "noise.png").stat().st_size  # 6.8 MB of noise: 0.17 s at 40 MB/s
    get = serve(LocalOrigin(originals, tmp_path / "derived", fast_config.derived_prefix), fast_config,
                origin_model=model)
    started = time.perf_counter()
    status, headers, body = get("/images/noise.png")  # the original itself: CloudFront's fetch moves it
    assert status == 200 and len(body) == size and time.perf_counter() - started >= model.delay(size)
    assert _server_timing(headers)["origin"] >= 1000 * model.delay(size)

    started = time.perf_counter()
    status, headers, body = get("/images/noise-sm.png", Accept="image/webp")  # the handler GETs the original
    assert status == 200 and time.perf_counter() - started >= model.delay(size) + model.delay(len(body))
    assert _server_timing(headers)["origin-response"] >= 1000 * model.delay(size)


def test_the_origin_is_local_by_default(originals, tmp_path, serve, config, monkeypatch):
    delays = []
    monkeypatch.setattr(OriginModel, "wait", lambda model, n_bytes: delays.append(model.delay(n_bytes)))
    get = serve(LocalOrigin(originals, tmp_path / "derived", config.derived_prefix))
    assert get("/images/coffee-sm.png", Accept="image/webp")[0] == 200
    assert delays == [0.0]  # CloudFront's one fetch, at no distance; the handler's origin is not wrapped


@pytest.mark.parametrize("shield", [False, True])
def test_origin_shield_pays_the_distance_once_per_request_with_the_answer(originals, tmp_path, serve, config,
                                                                         monkeypatch, shield):
    paid = []
    monkeypatch.setattr(OriginModel, "wait", lambda model, n_bytes: paid.append(n_bytes))
    get = serve(LocalOrigin(originals, tmp_path / "derived", config.derived_prefix), config,
                origin_model=OriginModel.parse("60ms", "40MB/s"), origin_shield=shield)
    status, headers, body = get("/images/coffee-sm.png", Accept="image/webp")
    assert status == 200 and headers["x-cache"].startswith("Miss")
    original = (originals / "images" / "coffee.png").stat().st_size
    # without: CloudFront's fetch (404, no body), the handler's GET of the original and its PUT of the variant
    assert paid == ([len(body)] if shield else [0, original, len(body)])
    assert ("shield" in _server_timing(headers)) == shield
    paid.clear()
    assert get("/images/coffee-sm.png", Accept="image/webp")[1]["x-cache"].startswith("Hit") and paid == []
