"""Both Lambda@Edge handlers against full CloudFront events; misses end to end over moto's S3 on loopback."""

import base64
import copy
import io
import json
import os
from urllib.parse import quote

import cf_events
import pytest
from cf_events import assert_settable_headers, log_lines
from conftest import NOISE_PNG, modules_imported_by
from PIL import Image
from skimage import data as skdata

from resizer.config import load_config
from resizer.edge import events, origin, runtime, viewer
from resizer.edge.events import MAX_ORIGIN_GENERATED_BYTES, CloudFrontEvent, Headers, check_settable
from resizer.edge.origin import IMMUTABLE
from resizer.edge.viewer import URI_SAFE
from resizer.keys import derived_key

CONFIG = load_config()


def derived_uri(variant: str, fmt: str, original: str) -> str:
    """The URI the viewer-request function leaves for a variant: its derived key, percent-encoded."""
    return "/" + quote(derived_key(CONFIG, variant, fmt, original), safe=URI_SAFE)


def encode(array, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, fmt, **params)
    return buffer.getvalue()


ASTRONAUT_JPEG = encode(skdata.astronaut(), "JPEG", quality=90)  # 512x512
COFFEE_PNG = encode(skdata.coffee(), "PNG")  # 600x400


# --- viewer-request --------------------------------------------------------------------------------

@pytest.mark.parametrize(("uri", "accept", "rewritten"), [
    ("/images/test-sm.png", cf_events.CHROME_ACCEPT, derived_uri("sm", "avif", "images/test.png")),
    ("/images/test-md.jpg", "image/webp,image/*;q=0.8", derived_uri("md", "webp", "images/test.jpg")),
    ("/images/test-lg.jpg", "image/*,*/*;q=0.8", derived_uri("lg", "jpeg", "images/test.jpg")),
    ("/images/test-xl.png", None, derived_uri("xl", "png", "images/test.png")),
    ("/images/caf%C3%A9%20au%20lait-sm.jpg", None, derived_uri("sm", "jpeg", "images/café au lait.jpg")),
])
def test_viewer_rewrites_variant_urls(viewer_request, uri, accept, rewritten, capsys):
    event = cf_events.viewer_request(uri, accept)
    before = cf_events.request_of(event)
    result = viewer_request(event, None)
    assert result["uri"] == rewritten
    assert result["querystring"] == ""
    assert {k: v for k, v in result.items() if k not in ("uri", "querystring")} == {
        k: v for k, v in before.items() if k not in ("uri", "querystring")}
    [line] = log_lines(capsys)
    assert (line["outcome"], line["uri"], line["rewritten"]) == ("rewritten", uri, rewritten)
    assert line["requestId"] == event["Records"][0]["cf"]["config"]["requestId"]


def test_viewer_passes_originals_through_untouched(viewer_request):
    event = cf_events.viewer_request("/images/test.png")
    before = cf_events.request_of(event)
    assert viewer_request(event, None) == before


@pytest.mark.parametrize("uri", ["/images/../secret-sm.png", "/images//a-sm.png", "/_variants/sm/webp/a.png",
                                 "/images/100%-sm.png"])
def test_viewer_answers_malformed_paths_with_a_short_400(viewer_request, uri, capsys):
    result = viewer_request(cf_events.viewer_request(uri), None)
    assert result["status"] == "400"
    assert Headers(result["headers"]).get("cache-control") == "max-age=60"
    assert result["bodyEncoding"] == "text" and len(result["body"]) < 100
    assert "Traceback" not in result["body"]
    assert len(json.dumps(result)) < events.MAX_VIEWER_GENERATED_BYTES
    assert_settable_headers(result)
    assert log_lines(capsys)[0]["status"] == 400


def test_viewer_module_imports_no_image_library_and_no_s3_client():
    heavy = ("PIL", "pyvips", "boto3", "botocore", "obstore", "numpy")
    assert modules_imported_by("resizer.edge.viewer", heavy) == []


# --- origin-response: pass-through ------------------------------------------------------------

def test_origin_adds_nosniff_to_an_original_served_as_is(origin_response, baked_config):
    event = cf_events.origin_response("/images/test.png", 200, baked_config.bucket)
    expected = cf_events.response_of(event)
    expected["headers"]["x-content-type-options"] = [{"key": "X-Content-Type-Options", "value": "nosniff"}]
    assert origin_response(event, None) == expected


def test_origin_passes_a_missing_original_through(origin_response, baked_config):
    event = cf_events.origin_response("/images/nothing.png", 404, baked_config.bucket)
    assert origin_response(event, None) == cf_events.response_of(event)


def test_origin_adds_vary_to_a_stored_variant(origin_response, baked_config, capsys):
    event = cf_events.origin_response(derived_uri("sm", "webp", "images/test.png"), 200, baked_config.bucket)
    result = origin_response(event, None)
    assert Headers(result["headers"]).get("vary") == "Accept"
    assert "body" not in result and result["status"] == "200"
    assert log_lines(capsys)[0]["outcome"] == "hit"


def test_origin_passes_an_s3_500_through(origin_response, baked_config):
    event = cf_events.origin_response(derived_uri("sm", "webp", "images/test.png"), 500, baked_config.bucket)
    assert origin_response(event, None) == cf_events.response_of(event)


# --- origin-response: misses over moto ------------------------------------------------------------

def generated_image(result: dict) -> tuple[bytes, Image.Image]:
    assert result["bodyEncoding"] == "base64"
    body = base64.b64decode(result["body"], validate=True)
    return body, Image.open(io.BytesIO(body))


@pytest.mark.parametrize("miss_status", [404, 403])
def test_miss_generates_stores_and_then_hits(origin_response, baked_config, s3_client, miss_status, capsys):
    s3_client.put_object(Bucket=baked_config.bucket, Key="images/astronaut.jpg", Body=ASTRONAUT_JPEG)
    key = derived_key(CONFIG, "md", "webp", "images/astronaut.jpg")

    result = origin_response(cf_events.origin_response("/" + key, miss_status, baked_config.bucket), None)
    assert result["status"] == "200"
    headers = Headers(result["headers"])
    assert (headers.get("content-type"), headers.get("cache-control"), headers.get("vary")) == (
        "image/webp", IMMUTABLE, "Accept")
    body, image = generated_image(result)
    assert (image.format, image.size) == ("WEBP", (250, 250))
    assert_settable_headers(result)

    stored = s3_client.get_object(Bucket=baked_config.bucket, Key=key)
    assert stored["Body"].read() == body
    assert (stored["ContentType"], stored["CacheControl"]) == ("image/webp", IMMUTABLE)
    original = s3_client.get_object(Bucket=baked_config.bucket, Key="images/astronaut.jpg")["Body"].read()
    assert original == ASTRONAUT_JPEG
    listed = s3_client.list_objects_v2(Bucket=baked_config.bucket)["Contents"]
    assert sorted(o["Key"] for o in listed) == [key, "images/astronaut.jpg"]

    hit = origin_response(cf_events.origin_response("/" + key, 200, baked_config.bucket), None)
    assert hit["status"] == "200" and "body" not in hit
    assert Headers(hit["headers"]).get("vary") == "Accept"

    miss_log, hit_log = log_lines(capsys)
    assert (miss_log["outcome"], miss_log["status"], miss_log["stored"]) == ("generated", 200, True)
    assert {"get_ms", "transform", "put_ms", "total_ms"} <= set(miss_log["timings"])
    assert (hit_log["outcome"], hit_log["status"]) == ("hit", 200)


@pytest.mark.parametrize(("memory_mb", "cpus", "threads"), [
    (128, 2, 1), (1536, 2, 1), (2600, 2, 1), (2700, 2, 2), (3008, 2, 2), (5307, 3, 3), (10240, 6, 6),
    (10240, 2, 2),  # never more threads than CPUs shown
    (None, 4, 4),  # not in Lambda: every CPU
])
def test_threads_follow_the_lambdas_vcpu_credits(memory_mb, cpus, threads, monkeypatch):
    monkeypatch.setattr(runtime.os, "cpu_count", lambda: cpus)
    assert runtime.vcpu_share(memory_mb) == threads


def test_memory_setting_comes_from_the_context_or_the_runtime_variable(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    assert runtime.lambda_memory_mb(None) is None
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3008")
    assert runtime.lambda_memory_mb(None) == 3008
    context = type("LambdaContext", (), {"memory_limit_in_mb": "1536"})()
    assert runtime.lambda_memory_mb(context) == 1536


def test_lambda_handler_sizes_libvips_threads_from_the_functions_memory(s3_env, tmp_path, monkeypatch):
    import pyvips

    baked = tmp_path / "variants.toml"
    baked.write_text("bucket = 'originals'\n[variants.sm]\nsize = 100\n")
    before = pyvips.concurrency_get()
    try:
        pyvips.concurrency_set(2)
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1536")  # 0.87 vCPU of credits
        origin.lambda_handler(lambda: load_config(baked))
        assert pyvips.concurrency_get() == 1
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "3538")  # two vCPUs
        origin.lambda_handler(lambda: load_config(baked))
        assert pyvips.concurrency_get() == min(2, os.cpu_count())
    finally:
        pyvips.concurrency_set(before)


def test_miss_with_a_percent_encoded_key(viewer_request, origin_response, baked_config, s3_client):
    s3_client.put_object(Bucket=baked_config.bucket, Key="images/café au lait.png", Body=COFFEE_PNG)
    viewer = viewer_request(cf_events.viewer_request("/images/caf%C3%A9%20au%20lait-sm.png", None), None)
    result = origin_response(cf_events.origin_response(viewer["uri"], 404, baked_config.bucket), None)
    _, image = generated_image(result)
    assert (image.format, image.size) == ("PNG", (100, 67))
    stored = derived_key(CONFIG, "sm", "png", "images/café au lait.png")
    assert s3_client.head_object(Bucket=baked_config.bucket, Key=stored)


def test_concurrent_creator_wins_and_the_miss_still_answers(origin_response, baked_config, s3_client, capsys):
    """412 on the create-only PUT means another request stored it first: keep theirs, answer with ours."""
    key = derived_key(CONFIG, "sm", "webp", "images/coffee.png")
    s3_client.put_object(Bucket=baked_config.bucket, Key="images/coffee.png", Body=COFFEE_PNG)
    s3_client.put_object(Bucket=baked_config.bucket, Key=key, Body=b"theirs", ContentType="image/webp")
    result = origin_response(cf_events.origin_response("/" + key, 404, baked_config.bucket), None)
    assert result["status"] == "200"
    assert generated_image(result)[1].size == (100, 67)
    assert s3_client.get_object(Bucket=baked_config.bucket, Key=key)["Body"].read() == b"theirs"
    assert log_lines(capsys)[0]["stored"] is False


def test_output_over_one_megabyte_is_stored_and_redirected(origin_response, baked_config, s3_client, capsys):
    s3_client.put_object(Bucket=baked_config.bucket, Key="images/noise.png", Body=NOISE_PNG)
    key = derived_key(CONFIG, "xl", "png", "images/noise.png")
    result = origin_response(cf_events.origin_response("/" + key, 404, baked_config.bucket), None)
    assert result["status"] == "302"
    headers = Headers(result["headers"])
    assert (headers.get("location"), headers.get("cache-control")) == ("/images/noise-xl.png", "no-store")
    assert "body" not in result
    stored = s3_client.get_object(Bucket=baked_config.bucket, Key=key)
    body = stored["Body"].read()
    assert len(body) * 4 / 3 > MAX_ORIGIN_GENERATED_BYTES
    assert Image.open(io.BytesIO(body)).size == (1200, 1200)
    assert stored["CacheControl"] == IMMUTABLE
    assert_settable_headers(result)
    assert log_lines(capsys)[0]["outcome"] == "redirect"


@pytest.mark.parametrize(("original", "status"), [
    (None, 404),  # no original
    (b"this is not an image at all", 415),
    (ASTRONAUT_JPEG[: len(ASTRONAUT_JPEG) // 3], 422),  # truncated JPEG
])
def test_miss_failures_answer_their_status_briefly(origin_response, baked_config, s3_client, original, status, capsys):
    if original is not None:
        s3_client.put_object(Bucket=baked_config.bucket, Key="images/bad.jpg", Body=original)
    event = cf_events.origin_response(derived_uri("sm", "webp", "images/bad.jpg"), 404, baked_config.bucket)
    result = origin_response(event, None)
    assert result["status"] == str(status)
    assert Headers(result["headers"]).get("cache-control") == "max-age=60"
    assert result["bodyEncoding"] == "text"
    assert len(result["body"]) < 100 and "Traceback" not in result["body"]
    assert_settable_headers(result)
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=baked_config.bucket).get("Contents", [])]
    assert not any(k.startswith("_variants/") for k in keys)
    assert log_lines(capsys)[0]["status"] == status


def test_unreachable_s3_is_a_502(baked_config, edge_handlers, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # discard port: connection refused
    origin_response = edge_handlers(baked_config)[1]
    event = cf_events.origin_response(derived_uri("sm", "webp", "images/a.jpg"), 404, baked_config.bucket)
    result = origin_response(event, None)
    assert result["status"] == "502"
    assert Headers(result["headers"]).get("cache-control") == "max-age=60"


@pytest.mark.parametrize("function", ["viewer-request", "origin-response"])
def test_a_failed_init_is_answered_per_request_not_raised(function, tmp_path, s3_env, monkeypatch, capsys):
    """The zip's handler with a broken baked config: init does not raise (CloudFront would answer its own 502 for
    the container's life); each request gets a short logged 500 and tries to build again."""
    module = {"viewer-request": viewer, "origin-response": origin}[function]
    broken = tmp_path / "variants.toml"
    broken.write_text("backend = 'gimp'\n[variants.sm]\nsize = 100\n")
    handler = module.lambda_handler(lambda: load_config(broken))
    event = (cf_events.viewer_request("/images/a-sm.jpg") if function == "viewer-request" else
             cf_events.origin_response(derived_uri("sm", "webp", "images/a.jpg"), 404))
    for _ in range(2):
        result = handler(copy.deepcopy(event), None)
        assert (result["status"], result["body"]) == ("500", "Internal error\n")
        line = log_lines(capsys)[0]
        assert (line["event"], line["outcome"], line["error"]) == (function, "error", "ConfigError")
        assert "gimp" in line["detail"]
    broken.write_text("bucket = 'originals'\n[variants.sm]\nsize = 100\n")  # mended: the next request builds
    assert "status" not in handler(copy.deepcopy(event), None) if function == "viewer-request" else True


def test_a_zip_without_a_bucket_answers_500_without_internals(s3_env, capsys):
    """The packaged config has no bucket: building the S3 client fails at init, every request gets a 500."""
    handler = origin.lambda_handler(load_config)
    result = handler(cf_events.origin_response(derived_uri("sm", "webp", "images/a.jpg"), 404), None)
    assert (result["status"], result["body"]) == ("500", "Internal error\n")
    line = log_lines(capsys)[0]
    assert (line["outcome"], line["error"]) == ("error", "ValueError")


@pytest.mark.parametrize("uri", ["/_variants/sm/webp/images/a.jpg",  # the layout before settings ids
                                 "/_variants/sm/webp/XYZ0123456/images/a.jpg", "/_variants/sm/gif/0123456789/a.jpg"])
def test_malformed_derived_key_is_a_400(origin_response, baked_config, uri):
    result = origin_response(cf_events.origin_response(uri, 404, baked_config.bucket), None)
    assert result["status"] == "400"


def test_a_variant_this_config_lacks_is_a_503_not_cached(origin_response, baked_config):
    """A viewer-request of a newer config asks for a variant this one does not have yet: a deploy in progress."""
    event = cf_events.origin_response("/_variants/huge/webp/0123456789/images/a.jpg", 404, baked_config.bucket)
    result = origin_response(event, None)
    assert (result["status"], Headers(result["headers"]).get("cache-control")) == ("503", "no-store")


# --- events --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Connection", "X-Amz-Cf-Id", "x-edge-location", "Via", "Transfer-Encoding",
                                  "X-Forwarded-Proto", "Upgrade"])
def test_headers_refuse_names_lambda_edge_rejects(name):
    with pytest.raises(ValueError):
        check_settable(name)
    with pytest.raises(ValueError):
        Headers({}).set(name, "x")


def test_event_view_reads_and_writes_the_raw_dicts():
    raw = cf_events.origin_response("/a.png", 404)
    event = CloudFrontEvent(raw)
    assert (event.response.status, event.event_type) == (404, "origin-response")
    assert event.request.headers.get("ACCEPT") == cf_events.CHROME_ACCEPT
    event.response.headers.set("Vary", "Accept")
    assert raw["Records"][0]["cf"]["response"]["headers"]["vary"] == [{"key": "Vary", "value": "Accept"}]
    assert CloudFrontEvent(cf_events.viewer_request("/a.png")).response is None
