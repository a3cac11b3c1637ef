"""Hostile originals and hostile paths, through both backends, both handlers (over moto's S3) and the emulator.

Every input is generated here, from the shared generated originals or by writing headers by hand: no opaque blobs.
For each case: the expected status (the README's error contract), no exception escaping, errors answered with a
short text body (no internals) cached 60 s while the log line carries the detail, nothing stored under the derived
prefix for a failure, and the original byte-identical afterwards. The SVG cases point their external references
and XXE entities at a loopback port this module listens on: nothing may ever connect to it.
"""

import base64
import io
import socket
import struct
import uuid
import zlib
from dataclasses import dataclass
from urllib.parse import quote

import cf_events
import pytest
from cf_events import assert_settable_headers, log_lines
from conftest import save, snapshot
from PIL import Image

from resizer import errors
from resizer.config import BACKENDS, Limits, load_config
from resizer.edge.events import Headers
from resizer.errors import ResizerError
from resizer.image.pipeline import transform
from resizer.image.sizing import fit_inside
from resizer.keys import derived_key
from resizer.store.origins import LocalOrigin

BACKEND_NAMES = pytest.mark.parametrize("backend", BACKENDS)
ACCEPT = "image/webp"  # every variant here is asked for as WebP (the sm variant lists it)
ERROR_CLASSES = {cls.status: cls.__name__ for cls in (errors.MalformedKey, errors.OriginalNotFound,
                                                      errors.TooLarge, errors.UnsupportedType, errors.CorruptImage)}


# --- building the hostile originals -------------------------------------------------------------------------

def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG header promising width×height RGB, then a few rows of a zlib stream of zeros: a few kB on disk,
    gigabytes once decoded."""
    stream = zlib.compressobj(9)
    rows = stream.compress(bytes(8 * (1 + 3 * width))) + stream.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def jpeg_claiming(jpeg: bytes, width: int, height: int) -> bytes:
    """`jpeg` with its SOF segment patched to claim width×height (the scan data stays that of the small image)."""
    data, i = bytearray(jpeg), 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int, frame_too: bool) -> bytes:
    """A 1×1 GIF whose logical screen (and, with `frame_too`, its one frame) claims width×height."""
    data = bytearray(save(Image.new("P", (1, 1)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    if frame_too:
        descriptor = data.index(b"\x2c", 13)
        data[descriptor + 5:descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def webp_claiming(side: int) -> bytes:
    """A lossless WebP whose VP8L header claims side×side (14-bit fields: at most 16383)."""
    data = bytearray(save(Image.new("RGB", (16, 16), "red"), "WEBP", lossless=True))
    assert data[12:16] == b"VP8L" and data[20] == 0x2F
    bits = struct.unpack("<I", data[21:25])[0] & ~((1 << 28) - 1)
    data[21:25] = struct.pack("<I", bits | (side - 1) | ((side - 1) << 14))
    return bytes(data)


def corrupt_scan(jpeg: bytes, with_markers: bool) -> bytes:
    """`jpeg` with 200 bytes of its entropy-coded data overwritten; without markers the decoder only warns."""
    data, start = bytearray(jpeg), jpeg.index(b"\xff\xda") + 400
    for i in range(start, start + 200):
        data[i] = (i * 37) % 256 if with_markers else (i * 37) % 255
        if not with_markers and data[i - 1] == 0xFF:
            data[i] = 0
    return bytes(data)


# Upright reference for the EXIF cases: red top-left quadrant on blue; stored turned so that orientation n shows it.
UPRIGHT = Image.new("RGB", (60, 40), "blue")
UPRIGHT.paste("red", (0, 0, 30, 20))
UNDO = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}  # inverse of what orientation n asks


def exif_jpeg(orientation: int) -> bytes:
    stored = UPRIGHT if UNDO[orientation] is None else UPRIGHT.transpose(UNDO[orientation])
    tags = Image.Exif()
    tags[0x0112] = orientation
    return save(stored, "JPEG", quality=95, exif=tags.tobytes())


def hostile_svg(port: int, padding: int = 0) -> bytes:
    """External references and XXE entities (a URL on our loopback listener, a local file)."""
    url = f"http://127.0.0.1:{port}"
    return f"""<?xml version="1.0"?>
<!DOCTYPE svg [
  <!ENTITY remote SYSTEM "{url}/xxe">
  <!ENTITY passwd SYSTEM "file:///etc/passwd">
  <!ENTITY pad "{'x' * padding}">
]>
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">
  <image href="{url}/image.png" width="100" height="100"/>
  <use xlink:href="{url}/sprite.svg#a"/>
  <text>&remote;&passwd;&pad;</text>
</svg>""".encode()


@dataclass(frozen=True)
class Ctx:
    gen: dict[str, bytes]
    port: int
    jpeg: bytes  # coffee.png as a 600×400 JPEG
    png: bytes  # and as a PNG


# name -> (stored file name, status: one for both backends or {backend: status}, builder)
CASES = {
    # decoded whatever they are named: the bytes decide
    "png-named-jpg": ("png-named.jpg", 200, lambda c: c.gen["rgba.png"]),
    "jpeg-named-png": ("jpeg-named.png", 200, lambda c: c.jpeg),
    "webp-named-gif": ("webp-named.gif", 200, lambda c: c.gen["rgba.webp"]),
    # extreme shapes
    "1x1-png": ("one.png", 200, lambda c: save(Image.new("RGBA", (1, 1), (9, 9, 9, 9)), "PNG")),
    "1x1-jpeg": ("one.jpg", 200, lambda c: save(Image.new("L", (1, 1), 7), "JPEG")),
    "1x10000-png": ("tall.png", 200, lambda c: save(Image.new("RGB", (1, 10000), "red"), "PNG")),
    "10000x1-jpeg": ("wide.jpg", 200, lambda c: save(Image.new("RGB", (10000, 1), "red"), "JPEG")),
    # awkward pixel kinds
    "rgb16-png": ("rgb16.png", 200, lambda c: c.gen["upright_rgb16.png"]),
    "grey16-png": ("grey16.png", 200, lambda c: c.gen["grey16.png"]),
    "cmyk-jpeg": ("cmyk.jpg", 200, lambda c: c.gen["cmyk.jpg"]),
    "grey-alpha-png": ("grey-alpha.png", 200, lambda c: c.gen["grey_alpha.png"]),
    "grey-alpha16-png": ("grey-alpha16.png", 200, lambda c: c.gen["grey_alpha16.png"]),
    "palette-transparent-png": ("palette.png", 200, lambda c: c.gen["palette_transparent.png"]),
    "display-p3-jpeg": ("p3.jpg", 200, lambda c: c.gen["upright_p3.jpg"]),
    "display-p3-png": ("p3.png", 200, lambda c: c.gen["upright_p3.png"]),
    "animated-gif": ("animated.gif", 200, lambda c: c.gen["animated.gif"]),
    "animated-webp": ("animated.webp", 200, lambda c: c.gen["animated.webp"]),
    **{f"exif-{n}": (f"exif{n}.jpg", 200, lambda c, n=n: exif_jpeg(n)) for n in range(1, 9)},
    # damage the decoders shrug off on both backends
    "png-bad-idat-crc": ("crc.png", 200, lambda c: c.png[:-16] + bytes([c.png[-16] ^ 0xFF]) + c.png[-15:]),
    "png-without-iend": ("no-iend.png", 200, lambda c: c.png[:-12]),
    "jpeg-garbled-scan": ("garbled.jpg", 200, lambda c: corrupt_scan(c.jpeg, with_markers=False)),
    # not an image we decode: 415 from the bytes, whatever the name
    "zero-bytes": ("empty.png", 415, lambda c: b""),
    "random-bytes": ("random.jpg", 415, lambda c: bytes((i * 7919 + 13) % 251 for i in range(4096))),
    "html-named-png": ("page.png", 415, lambda c: b"<!doctype html><script>alert(document.domain)</script>"),
    "svg-xxe-external": ("xxe.svg", 415, lambda c: hostile_svg(c.port)),
    "svg-named-png": ("xxe-svg.png", 415, lambda c: hostile_svg(c.port)),
    "svg-past-the-sniff-window": ("padded.svg", 415, lambda c: hostile_svg(c.port, padding=5000)),
    "bmp": ("bitmap.bmp", 415, lambda c: save(Image.new("RGB", (8, 8)), "BMP")),
    "heic-brand": ("photo.heic", 415, lambda c: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)),
    # corrupt or truncated: 422
    "truncated-jpeg": ("cut.jpg", 422, lambda c: c.jpeg[: len(c.jpeg) // 2]),
    "truncated-png": ("cut.png", 422, lambda c: c.png[: len(c.png) // 2]),
    "truncated-webp": ("cut.webp", 422, lambda c: c.gen["rgba.webp"][: len(c.gen["rgba.webp"]) * 2 // 3]),
    "jpeg-headers-only": ("headers.jpg", 422, lambda c: c.jpeg[: c.jpeg.index(b"\xff\xda")]),
    # a marker inside the scan: Pillow's decoder gives up; libvips (fail_on="truncated") renders what it can
    "jpeg-marker-in-scan": ("markers.jpg", {"vips": 200, "pillow": 422},
                            lambda c: corrupt_scan(c.jpeg, with_markers=True)),
    # decompression bombs: 413 from the header, before any pixel is decoded
    "png-bomb-50000x50000": ("bomb.png", 413, lambda c: png_bomb(50_000, 50_000)),
    "jpeg-sof-claims-65000x65000": ("bomb.jpg", 413, lambda c: jpeg_claiming(c.jpeg, 65_000, 65_000)),
    "gif-bomb-50000x50000": ("bomb.gif", 413, lambda c: gif_claiming(50_000, 50_000, frame_too=True)),
    "webp-vp8l-claims-16383x16383": ("bomb.webp", 413, lambda c: webp_claiming(16_383)),
    # a huge logical screen around a 1×1 frame: Pillow composes onto the screen (413), libvips reads the frame
    "gif-huge-screen-1x1-frame": ("screen.gif", {"vips": 200, "pillow": 413},
                                  lambda c: gif_claiming(50_000, 50_000, frame_too=False)),
}


# Output sizes not given by Pillow's reading of the source: libvips makes the 1×1 frame, not the 50000² screen.
OUTPUT_SIZE = {"gif-huge-screen-1x1-frame": (1, 1)}


def expected_status(name: str, backend: str) -> int:
    status = CASES[name][1]
    return status[backend] if isinstance(status, dict) else status


@pytest.fixture(scope="module")
def listener():
    """A loopback TCP port that is listened on but never accepts: a connection would wait in its backlog."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def assert_nothing_connected(listener) -> None:
    with pytest.raises(BlockingIOError):
        listener.accept()


@pytest.fixture(scope="module")
def originals(generated_images, photo, listener) -> dict[str, bytes]:
    ctx = Ctx(generated_images, listener.getsockname()[1], save(photo, "JPEG", quality=90), save(photo, "PNG"))
    return {name: build(ctx) for name, (_, _, build) in CASES.items()}


@pytest.fixture(scope="module")
def originals_dir(originals, tmp_path_factory):
    """The cases as a folder of originals under hostile/, for the emulator."""
    root = tmp_path_factory.mktemp("hostile-originals")
    (root / "hostile").mkdir()
    for name, (filename, _, _) in CASES.items():
        (root / "hostile" / filename).write_bytes(originals[name])
    (root / "hostile" / "café-😀.png").write_bytes(originals["1x1-png"])
    return root


def public(filename: str, variant: str = "sm") -> str:
    stem, _, ext = filename.rpartition(".")
    return "/" + quote(f"hostile/{stem}-{variant}.{ext}")


def check_output(name: str, data: bytes, body: bytes) -> None:
    """A variant of a case that decodes: WebP, the size the upright original fits in, and upright pixels."""
    source = Image.open(io.BytesIO(data))  # the header only: Pillow may not decode what libvips does
    width, height = source.size
    if source.getexif().get(0x0112, 1) >= 5:
        width, height = height, width
    out = Image.open(io.BytesIO(body))
    assert out.format == "WEBP"
    assert out.size == OUTPUT_SIZE.get(name, fit_inside(width, height, 100))
    if name.startswith("exif-"):
        pixels = out.convert("RGB")
        red, blue = pixels.getpixel((5, 5)), pixels.getpixel((out.width - 5, out.height - 5))
        assert red[0] > 200 > red[2] and blue[2] > 200 > blue[0]


def check_error_answer(status: int, headers: dict[str, str], body: bytes) -> None:
    assert headers["cache-control"] == "max-age=60"
    assert headers["content-type"].startswith("text/plain")
    assert len(body) < 100 and b"Traceback" not in body and b"File \"" not in body


# --- the pipeline, both backends ----------------------------------------------------------------------------

@BACKEND_NAMES
@pytest.mark.parametrize("name", CASES)
def test_transform(backend, name, originals, config, listener):
    data, status = originals[name], expected_status(name, backend)
    try:
        result = transform(data, config.variant("sm"), "webp", backend=backend, limits=config.limits)
    except ResizerError as exc:
        assert exc.status == status, str(exc)
    else:
        assert status == 200
        check_output(name, data, result.data)
    assert_nothing_connected(listener)


# --- both handlers over moto's S3 ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3_bucket(moto_endpoint):
    """One bucket and client for the module's handler tests (each case writes under its own keys): a new client
    and bucket per test would cost more than the test."""
    import botocore.session

    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url=moto_endpoint, aws_access_key_id="testing",
        aws_secret_access_key="testing")
    name = f"hostile-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return client, name


@BACKEND_NAMES
@pytest.mark.parametrize("name", CASES)
def test_handlers(backend, name, originals, s3_bucket, edge_handlers, config, capsys, listener):
    s3, bucket = s3_bucket
    config = config.with_bucket(bucket).replace(backend=backend)
    viewer_request, origin_response = edge_handlers(config)
    filename, status = CASES[name][0], expected_status(name, backend)
    key, data = f"{backend}/hostile/{filename}", originals[name]
    s3.put_object(Bucket=bucket, Key=key, Body=data)

    request = viewer_request(cf_events.viewer_request("/" + backend + public(filename), ACCEPT), None)
    derived = derived_key(config, "sm", "webp", key)
    assert request["uri"] == "/" + quote(derived)
    result = origin_response(cf_events.origin_response(request["uri"], 404, bucket, ACCEPT), None)

    assert result["status"] == str(status)
    assert_settable_headers(result)
    headers = {k: v[0]["value"] for k, v in result["headers"].items()}
    stored = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=derived).get("Contents", [])]
    _, line = log_lines(capsys)
    assert line["status"] == status
    if status == 200:
        body = base64.b64decode(result["body"])
        check_output(name, data, body)
        assert stored == [derived] and s3.get_object(Bucket=bucket, Key=derived)["Body"].read() == body
    else:
        check_error_answer(status, headers, result["body"].encode())
        assert stored == []
        assert (line["error"], bool(line["detail"])) == (ERROR_CLASSES[status], True)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert_nothing_connected(listener)


# --- the emulator with a folder origin ----------------------------------------------------------------------

@BACKEND_NAMES
@pytest.mark.parametrize("name", CASES)
def test_emulator(backend, name, originals, originals_dir, serve, config, tmp_path, listener):
    before = snapshot(originals_dir)
    derived_dir = tmp_path / "derived"
    get = serve(LocalOrigin(originals_dir, derived_dir, config.derived_prefix), config.replace(backend=backend))
    filename, status = CASES[name][0], expected_status(name, backend)
    answer, headers, body = get(public(filename), Accept=ACCEPT)
    assert answer == status
    if status == 200:
        check_output(name, originals[name], body)
        stored = derived_key(config.replace(backend=backend), "sm", "webp", "hostile/" + filename)
        assert (derived_dir / stored.split("/", 1)[1]).read_bytes() == body
    else:
        check_error_answer(status, headers, body)
        assert snapshot(tmp_path) == {}
    assert snapshot(originals_dir) == before
    assert_nothing_connected(listener)


# --- hostile paths ------------------------------------------------------------------------------------------

PATHS = {  # public path (as sent on the wire) -> status
    "/hostile/../secret-sm.png": 400,
    "/hostile/%2e%2e/secret-sm.png": 400,
    "/hostile/%2E%2E%2Fsecret-sm.png": 400,  # encoded slash and dots: `hostile/../secret-sm.png` once decoded
    "/hostile/%c0%ae%c0%ae/secret-sm.png": 400,  # overlong UTF-8 dots
    "/hostile//one-sm.png": 400,
    "/hostile/./one-sm.png": 400,
    "/hostile/a%5c..%5csecret-sm.png": 400,  # backslashes
    "/hostile/one%00.png-sm.png": 400,
    "/hostile/one%0d%0aSet-Cookie:%20a=b-sm.png": 400,  # CR LF: header injection attempt
    "/hostile/one%7f-sm.png": 400,
    "/hostile/50%-sm.png": 400,
    "/" + "a" * 2000 + "-sm.png": 400,
    "/hostile/" + "%C3%A9" * 600 + ".png": 400,  # 1200 bytes once decoded: over S3's 1024
    "/" + derived_key(load_config(), "sm", "webp", "hostile/one.png"): 400,  # derived objects are not addressable
    "/hostile/caf%C3%A9-%F0%9F%98%80-sm.png": 200,  # unicode is fine
    "/hostile/%E2%80%AEgnp.exe-sm.png": 404,  # a right-to-left override is text, not a control: just missing
    "/hostile/nothing-here-sm.png": 404,
}


@pytest.mark.parametrize(("path", "status"), PATHS.items(), ids=[p[:40] for p in PATHS])
def test_paths_through_the_emulator(path, status, originals_dir, serve, config, tmp_path):
    before = snapshot(originals_dir)
    get = serve(LocalOrigin(originals_dir, tmp_path / "derived", config.derived_prefix))
    answer, headers, body = get(path, Accept=ACCEPT)
    assert answer == status
    if status != 200:
        check_error_answer(status, headers, body)
        assert snapshot(tmp_path) == {}
    assert snapshot(originals_dir) == before


@pytest.mark.parametrize("path", [p for p, s in PATHS.items() if s == 400] + ["/hostile/one\x07-sm.png",
                                                                               "/hostile/one\u0085-sm.png"])
def test_malformed_paths_stop_at_the_viewer_request(viewer_request, path, capsys):
    result = viewer_request(cf_events.viewer_request(path), None)
    assert result["status"] == "400"
    check_error_answer(400, {k: v[0]["value"] for k, v in result["headers"].items()}, result["body"].encode())
    [line] = log_lines(capsys)
    assert line["outcome"] == "malformed" and line["detail"]


SM_WEBP = f"/_variants/sm/webp/{load_config().settings_id('sm', 'webp')}"  # a real id: each fails for its own reason


@pytest.mark.parametrize("uri", [
    SM_WEBP + "/hostile/../secret.png",
    SM_WEBP + "/hostile/%2e%2e/secret.png",
    SM_WEBP + "//hostile/one.png",
    SM_WEBP + "/hostile/one%00.png",
    SM_WEBP + SM_WEBP + "/hostile/one.png",
    SM_WEBP.replace("webp", "svg") + "/hostile/one.png",
    SM_WEBP.replace("sm", "s.m") + "/hostile/one.png",  # not a variant name (an unknown one is a 503: skew)
    SM_WEBP + "/" + "a" * 2000 + ".png",
    "/_variants/sm/webp/hostile/one.png",  # no settings id: the layout before ids
])
def test_malformed_derived_keys_stop_at_the_origin_response(origin_response, uri, baked_config, s3_client, originals):
    s3_client.put_object(Bucket=baked_config.bucket, Key="hostile/one.png", Body=originals["1x1-png"])
    result = origin_response(cf_events.origin_response(uri, 404, baked_config.bucket), None)
    assert result["status"] == "400"
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=baked_config.bucket)["Contents"]]
    assert keys == ["hostile/one.png"]


# --- limits on the bytes, before they are read ----------------------------------------------------------------

def test_an_original_over_the_byte_limit_is_413_from_its_length(baked_config, s3_client, edge_handlers, originals):
    data = originals["cmyk-jpeg"]
    config = baked_config.replace(limits=Limits(max_source_bytes=len(data) - 1))
    origin_response = edge_handlers(config)[1]
    s3_client.put_object(Bucket=config.bucket, Key="hostile/big.jpg", Body=data)
    uri = "/" + derived_key(config, "sm", "webp", "hostile/big.jpg")
    result = origin_response(cf_events.origin_response(uri, 404, config.bucket), None)
    assert result["status"] == "413"
    assert [o["Key"] for o in s3_client.list_objects_v2(Bucket=config.bucket)["Contents"]] == ["hostile/big.jpg"]


def test_local_origin_refuses_an_original_over_the_byte_limit(tmp_path):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "big.jpg").write_bytes(bytes(1000))
    origin = LocalOrigin(tmp_path / "o", tmp_path / "d")
    with pytest.raises(errors.TooLarge):
        origin.get("big.jpg", max_bytes=999)
    assert origin.get("big.jpg", max_bytes=1000) == bytes(1000)


# --- originals served as-is: inline only when an image type we decode -----------------------------------------

@pytest.mark.parametrize(("content_type", "inline"), [
    ("image/png", True), ("image/jpeg", True), ("IMAGE/WEBP; charset=binary", True), ("image/avif", True),
    ("image/gif", True),
    ("text/html", False), ("text/html; charset=utf-8", False), ("image/svg+xml", False), ("application/xml", False),
    ("application/octet-stream", False), ("binary/octet-stream", False), ("", False), ("image/png, text/html", False),
])
def test_original_served_inline_only_with_an_allowed_image_type(origin_response, content_type, inline, baked_config,
                                                                capsys):
    event = cf_events.origin_response("/hostile/upload.png", 200, baked_config.bucket, content_type=content_type)
    sent = cf_events.response_of(event)["headers"]
    result = origin_response(event, None)
    headers = Headers(result["headers"])
    assert result["status"] == "200" and "body" not in result  # the origin's body passes through
    assert headers.get("x-content-type-options") == "nosniff"
    assert_settable_headers(result, sent)
    if inline:
        assert headers.get("content-type") == content_type and "content-disposition" not in headers
    else:
        assert headers.get("content-type") == "application/octet-stream"
        assert headers.get("content-disposition") == "attachment"
        assert "sandbox" in headers.get("content-security-policy")
    assert log_lines(capsys)[0]["outcome"] == ("original" if inline else "attachment")


def test_original_without_content_type_is_an_attachment(origin_response, baked_config):
    event = cf_events.origin_response("/hostile/upload.png", 200, baked_config.bucket)
    del event["Records"][0]["cf"]["response"]["headers"]["content-type"]
    headers = Headers(origin_response(event, None)["headers"])
    assert headers.get("content-disposition") == "attachment"


@pytest.mark.parametrize(("name", "inline"), [
    ("jpeg-named-png", True), ("animated-gif", True), ("html-named-png", False), ("svg-xxe-external", False),
    ("random-bytes", False),
])
def test_emulator_serves_originals_inline_only_when_images(name, inline, originals, originals_dir, serve, config,
                                                            tmp_path):
    get = serve(LocalOrigin(originals_dir, tmp_path / "derived", config.derived_prefix))
    status, headers, body = get("/hostile/" + quote(CASES[name][0]))
    assert status == 200 and body == originals[name] and headers["x-content-type-options"] == "nosniff"
    assert ("content-disposition" in headers) is not inline
    if not inline:
        assert headers["content-disposition"] == "attachment"
        assert headers["content-type"] == "application/octet-stream"
