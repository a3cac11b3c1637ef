"""Settings-addressed derived keys: a change of settings reaches exactly the keys it changes, through the
viewer-request handler and through `resizer serve` on a folder and on S3; a deploy in which the two functions run
different configs never stores or caches bytes under an id that did not make them."""

import io
import shutil
from urllib.parse import quote

import cf_events
import pytest
from cf_events import log_lines
from PIL import Image

from resizer.config import canonical_settings, load_config, parse_config
from resizer.edge.emulator import make_server
from resizer.edge.events import Headers
from resizer.edge.origin import OriginResponse
from resizer.edge.viewer import URI_SAFE, ViewerRequest
from resizer.image.formats import OUTPUT_FORMATS
from resizer.keys import derived_key, split_derived_key
from resizer.store.origins import LocalOrigin, S3Origin

A = load_config()
A_TEXT = A.text
B = parse_config(A_TEXT + "\n[variants.md.encoders.webp]\nquality = 70\n", "<B: md webp q70>")
ACCEPT = {"avif": "image/avif,image/webp", "webp": "image/webp", "jpeg": None}  # a .jpg original's fallback


def changed(old, new) -> set[tuple[str, str]]:
    return {pair for pair in old.ids if old.ids[pair] != new.ids[pair]}


def test_one_quality_changes_one_combinations_id():
    assert changed(A, B) == {("md", "webp")}


def test_a_fallback_format_s_settings_reach_the_avif_id_too():
    """AVIF under 16 px is written as JPEG (or PNG): sm's JPEG quality shapes its AVIF bytes, so both ids move."""
    c = parse_config(A_TEXT + "\n[variants.sm.encoders.jpeg]\nquality = 60\n")
    assert changed(A, c) == {("sm", "jpeg"), ("sm", "avif")}


@pytest.mark.parametrize("text", [
    A_TEXT.replace('bucket = ""', 'bucket = "another-bucket"'),  # where, not how
    "# a comment\n" + A_TEXT,
    A_TEXT.replace("max_source_bytes = 40_000_000", "max_source_bytes = 30_000_000"),
])
def test_what_does_not_shape_bytes_leaves_every_id_alone(text):
    assert parse_config(text).ids == A.ids


@pytest.mark.parametrize(("text", "variants"), [
    (A_TEXT.replace('backend = "vips"', 'backend = "pillow"'), set(A.variants)),
    (A_TEXT.replace("[variants.sm]\nsize = 100", "[variants.sm]\nsize = 120"), {"sm"}),
])
def test_backend_and_size_are_part_of_the_ids(text, variants):
    assert changed(A, parse_config(text)) == {pair for pair in A.ids if pair[0] in variants}


def test_canonical_settings_leave_out_unset_values():
    settings = canonical_settings(A, "sm", "webp")
    assert settings["encoders"] == {"webp": {"quality": 80, "effort": 4}}
    assert set(canonical_settings(A, "sm", "avif")["encoders"]) == {"avif", "png", "jpeg"}


def test_the_viewer_request_rewrites_only_the_changed_combination():
    viewers = {"A": ViewerRequest(A), "B": ViewerRequest(B)}
    for variant in A.variants:
        for fmt, accept in ACCEPT.items():
            uris = {name: viewer(cf_events.viewer_request(f"/images/photo-{variant}.jpg", accept), None)["uri"]
                    for name, viewer in viewers.items()}
            key = split_derived_key(A.derived_prefix, uris["A"][1:])
            assert (key.variant, key.format) == (variant, fmt)
            assert (uris["A"] != uris["B"]) == ((variant, fmt) == ("md", "webp")), (variant, fmt)


@pytest.fixture(params=["folder", "s3"])
def shared_origin(request, tmp_path, real_photos):
    """One origin (a folder, or a bucket on moto) holding `images/photo.jpg`, served in turn by emulators of
    different configs, as a deploy does."""
    photo = next(p for p in real_photos if p.suffix.lower() in (".jpg", ".jpeg"))
    if request.param == "folder":
        (tmp_path / "originals" / "images").mkdir(parents=True)
        shutil.copy(photo, tmp_path / "originals" / "images" / "photo.jpg")
        return LocalOrigin(tmp_path / "originals", tmp_path / "derived", A.derived_prefix)
    s3_client, bucket = request.getfixturevalue("s3_client"), request.getfixturevalue("bucket")
    s3_client.put_object(Bucket=bucket, Key="images/photo.jpg", Body=photo.read_bytes())
    return S3Origin(bucket, "us-east-1", A.derived_prefix, request.getfixturevalue("moto_endpoint"))


def stored_keys(origin) -> set[str]:
    return {info.key for info in origin.list(A.derived_prefix + "/")}


def test_serve_after_a_retune_remakes_only_the_changed_combination(shared_origin, serve):
    get_a = serve(shared_origin, A)
    for variant in A.variants:
        for accept in ACCEPT.values():
            assert get_a(f"/images/photo-{variant}.jpg", **({"Accept": accept} if accept else {}))[0] == 200
    before = stored_keys(shared_origin)
    assert len(before) == len(A.variants) * len(ACCEPT)

    get_b = serve(shared_origin, B)  # the re-tuned config, deployed: a new cache, the same bucket
    for variant in A.variants:
        for accept in ACCEPT.values():
            status, headers, _ = get_b(f"/images/photo-{variant}.jpg", **({"Accept": accept} if accept else {}))
            assert status == 200
    new = stored_keys(shared_origin) - before
    assert new == {derived_key(B, "md", "webp", "images/photo.jpg")}
    stored = {key: shared_origin.get(key) for key in (derived_key(A, "md", "webp", "images/photo.jpg"), *new)}
    sizes = [len(data) for data in stored.values()]
    assert sizes[1] < sizes[0]  # q70 under the new key, q80 still under the old one
    assert all(Image.open(io.BytesIO(data)).format == "WEBP" for data in stored.values())


# --- version skew ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("viewer_config", "origin_config"), [(B, A), (A, B)], ids=["viewer B, origin A",
                                                                                  "viewer A, origin B"])
def test_mixed_versions_never_store_or_cache_under_a_foreign_id(viewer_config, origin_config, shared_origin,
                                                                  capsys):
    viewer = ViewerRequest(viewer_config)
    origin = OriginResponse(origin_config, shared_origin)
    request = viewer(cf_events.viewer_request("/images/photo-md.jpg", "image/webp"), None)
    asked = derived_key(viewer_config, "md", "webp", "images/photo.jpg")
    assert request["uri"] == "/" + quote(asked, safe=URI_SAFE)
    capsys.readouterr()

    result = origin(cf_events.origin_response(request["uri"], 404), None)
    assert result["status"] == "200"
    assert Headers(result["headers"]).get("cache-control") == "no-store"
    assert stored_keys(shared_origin) == set()  # nothing under the asked id, nothing under its own
    line = log_lines(capsys)[0]
    assert (line["outcome"], line["stored"], line["settingsId"], line["madeWith"]) == (
        "skew", False, viewer_config.settings_id("md", "webp"), origin_config.settings_id("md", "webp"))

    # a combination both configs make the same way is stored as usual
    same = viewer(cf_events.viewer_request("/images/photo-sm.jpg", "image/webp"), None)
    assert origin(cf_events.origin_response(same["uri"], 404), None)["status"] == "200"
    assert stored_keys(shared_origin) == {derived_key(origin_config, "sm", "webp", "images/photo.jpg")}


def test_mixed_versions_through_the_emulator_are_not_cached(shared_origin):
    """CloudFront keeps nothing of a skewed answer: the next request is a miss again, and once both functions
    run B the variant is made, stored and cached."""
    import http.client
    import threading

    def get(server, path):
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=60)
        connection.request("GET", path, headers={"Accept": "image/webp"})
        response = connection.getresponse()
        answer = response.status, response.getheader("X-Cache"), response.getheader("Cache-Control")
        response.read()
        connection.close()
        return answer

    server = make_server(shared_origin, B)
    server.RequestHandlerClass.distribution.origin_response = OriginResponse(A, shared_origin)  # mid-deploy
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        for _ in range(2):
            assert get(server, "/images/photo-md.jpg") == (200, "Miss from cloudfront", "no-store")
        server.RequestHandlerClass.distribution.origin_response = OriginResponse(B, shared_origin)  # deployed
        assert get(server, "/images/photo-md.jpg")[:2] == (200, "Miss from cloudfront")
        assert get(server, "/images/photo-md.jpg")[:2] == (200, "Hit from cloudfront")
    finally:
        server.shutdown()
        server.server_close()
    assert stored_keys(shared_origin) == {derived_key(B, "md", "webp", "images/photo.jpg")}


def test_every_output_format_has_an_id_per_variant():
    assert set(A.ids) == {(v, f) for v in A.variants for f in OUTPUT_FORMATS}
