"""Shared fixtures.

S3: a moto S3 server on a loopback port (started once per session), one fresh bucket per test.
Images: the development corpus (`../shared/corpus`, skipped cleanly when absent), scikit-image's bundled
photos, the packaged config, and generated originals of the awkward kinds (16-bit, CMYK, grey, palette, alpha,
animation, EXIF orientation, a wide-gamut ICC profile) built from those photos with Pillow and numpy.
Parametrize over files by naming `corpus_image` or `sample_photo` as an argument (see pytest_generate_tests).
"""

import hashlib
import http.client
import io
import os
import struct
import subprocess
import sys
import threading
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from PIL import Image, ImageCms

from resizer.config import load_config, parse_config
from resizer.samples import SAMPLE_PHOTOS, sample_photos_dir

# The slow fuzz run's example count (tests/test_fuzz.py applies it to its `_long` twins).
settings.register_profile("fuzz", max_examples=100_000, deadline=None, suppress_health_check=list(HealthCheck))

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@pytest.fixture(scope="session")
def moto_endpoint():
    """http://127.0.0.1:PORT of a moto server (S3 speaks the real wire protocol: botocore is not patched)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(moto_endpoint, monkeypatch):
    """Environment pointing botocore at moto: what S3Origin(endpoint_url=None) and the handlers pick up."""
    for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL_S3": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    return {**AWS_ENV, "AWS_ENDPOINT_URL_S3": moto_endpoint}


@pytest.fixture
def s3_client(s3_env):
    """A plain botocore client on moto, for arranging and inspecting bucket contents."""
    import botocore.session

    return botocore.session.get_session().create_client("s3", region_name="us-east-1")


@pytest.fixture
def bucket(s3_client):
    """A new, empty bucket on the moto server: its name."""
    name = f"originals-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def baked_config(bucket):
    """The packaged config with the test bucket baked in, as `resizer build` does."""
    return load_config().with_bucket(bucket)


@pytest.fixture
def edge_handlers(s3_env):
    """`edge_handlers(config)` -> (viewer_request, origin_response), built as the zips build them: the
    origin-response over S3 (moto, through the environment) at the config's bucket."""
    from resizer.edge.origin import OriginResponse
    from resizer.edge.viewer import ViewerRequest
    from resizer.store.origins import S3Origin

    def build(config):
        return ViewerRequest(config), OriginResponse(
            config, S3Origin(config.bucket, config.region, config.derived_prefix))

    return build


@pytest.fixture
def viewer_request(config):
    """The viewer-request handler of the packaged config."""
    from resizer.edge.viewer import ViewerRequest

    return ViewerRequest(config)


@pytest.fixture
def origin_response(baked_config, edge_handlers):
    """The origin-response handler of `baked_config`, over its bucket on moto."""
    return edge_handlers(baked_config)[1]


# --- images -------------------------------------------------------------------------------------------------

CORPUS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
NOT_IMAGES = {".csv", ".md"}  # inventory.csv, SOURCES.md
SKIMAGE_DATA = sample_photos_dir()


def _corpus_files() -> list[Path]:
    if not CORPUS_DIR.is_dir():
        return []
    return sorted(p for p in CORPUS_DIR.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix.lower() not in NOT_IMAGES)


def pytest_generate_tests(metafunc):
    """One test per file for tests taking `corpus_image` (skipped without the corpus) or `sample_photo`."""
    if "corpus_image" in metafunc.fixturenames:
        files = _corpus_files()
        params = files or [pytest.param(None, marks=pytest.mark.skip(reason=f"no corpus at {CORPUS_DIR}"))]
        metafunc.parametrize("corpus_image", params, ids=[p.name for p in files] or ["no-corpus"])
    if "sample_photo" in metafunc.fixturenames:
        metafunc.parametrize("sample_photo", [SKIMAGE_DATA / n for n in SAMPLE_PHOTOS], ids=SAMPLE_PHOTOS)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """../shared/corpus next to the repo (42 real photos, read-only)."""
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"no corpus at {CORPUS_DIR}")
    return CORPUS_DIR


@pytest.fixture(scope="session")
def corpus_images(corpus_dir) -> list[Path]:
    """Every image file of the corpus, sorted (inventory.csv and SOURCES.md left out)."""
    return _corpus_files()


@pytest.fixture(scope="session")
def sample_photos() -> list[Path]:
    """scikit-image's bundled natural photographs: PNG and JPEG, RGB and grey, some with ICC profiles."""
    return [SKIMAGE_DATA / name for name in SAMPLE_PHOTOS]


@pytest.fixture(scope="session")
def real_photos(sample_photos) -> list[Path]:
    """The corpus when it exists, else scikit-image's photos: for tests that need real files but not the corpus."""
    return _corpus_files() or sample_photos


@pytest.fixture
def libvips_threads():
    """warm (--jobs 1 runs in this process) and the edge handler set libvips' process-wide thread count: put it
    back for the tests that follow."""
    import pyvips

    threads = pyvips.concurrency_get()
    yield
    pyvips.concurrency_set(threads)


@pytest.fixture(scope="session")
def config():
    """The packaged variants config (sm 100, md 250, lg 700, xl 1200)."""
    return load_config()


# The fastest encoder settings, as config text: for tests about pixels or plumbing, not bytes.
FAST_ENCODERS = """
[encoders.png]
effort = 1
[encoders.webp]
effort = 0
[encoders.avif]
effort = 0
"""


@pytest.fixture(scope="session")
def fast_config():
    """The packaged variant sizes with the fastest encoder settings: for tests about pixels, not bytes."""
    variants = "".join(f"[variants.{v.name}]\nsize = {v.size}\n" for v in load_config().variants.values())
    return parse_config(FAST_ENCODERS + variants, "<fast_config>")


def modules_imported_by(module: str, candidates: tuple[str, ...]) -> list[str]:
    """Which of `candidates` a fresh interpreter has loaded after importing `module` (sorted)."""
    code = f"import sys, {module}; print(','.join(sorted(m for m in {candidates!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [name for name in done.stdout.strip().split(",") if name]


def encode_png(pixels: np.ndarray) -> bytes:
    """A PNG of any depth Pillow cannot write (16-bit RGB, grey+alpha): H×W[×C] uint8/uint16, C in 1-4."""
    pixels = pixels if pixels.ndim == 3 else pixels[..., None]
    height, width, channels = pixels.shape
    depth = 16 if pixels.dtype == np.uint16 else 8
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = pixels.astype(">u2" if depth == 16 else "u1").reshape(height, -1).tobytes()
    stride = len(raw) // height
    rows = b"".join(b"\x00" + raw[i * stride:(i + 1) * stride] for i in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


# 1300x1300 RGB noise: its xl (1200 px) PNG or q100 WebP is too big for a generated response (1 MB)
NOISE_PNG = encode_png(np.random.default_rng(7).integers(0, 256, (1300, 1300, 3), dtype=np.uint8))


def save(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def marked(width: int, height: int, at: tuple[float, float]) -> Image.Image:
    """Grey noise with a pure red 40 px square centred at `at` (fractions of the image): where a crop went."""
    pixels = np.random.default_rng(1).integers(90, 160, (height, width, 3), dtype=np.uint8)
    x, y = round(at[0] * width), round(at[1] * height)
    pixels[y - 20:y + 20, x - 20:x + 20] = (255, 0, 0)
    return Image.fromarray(pixels)


def red_pixels(data: bytes) -> int:
    """How many pixels of an encoded image are the mark's red (a lossy encode keeps it clearly red)."""
    rgb = np.asarray(decode(data).convert("RGB")).astype(int)
    return int(((rgb[..., 0] > 200) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)).sum())


def decode(data: bytes) -> Image.Image:
    """Decode bytes fully with Pillow (an independent check on what the backends wrote)."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.fixture(scope="session")
def photo() -> Image.Image:
    """coffee.png, 600×400 RGB: the upright reference the generated originals are made from."""
    return Image.open(SKIMAGE_DATA / "coffee.png").convert("RGB")


@pytest.fixture(scope="session")
def p3_profile() -> bytes:
    """A Display P3 ICC profile (libvips' built-in copy): a wider gamut than sRGB."""
    import pyvips

    return (pyvips.Image.black(1, 1, bands=3) + 128).copy(interpretation="srgb").icc_transform("p3").get(
        "icc-profile-data")


@pytest.fixture(scope="session")
def generated_images(photo, p3_profile) -> dict[str, bytes]:
    """Originals of every awkward kind, name -> bytes. Those named `upright_*` show `photo` once upright and
    colour-managed; `animated.*` have a red first frame, then green, then blue."""
    rgb = np.asarray(photo)
    grey = np.asarray(photo.convert("L"))
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))  # clear left edge
    alpha[:, : rgb.shape[1] // 4] = 0
    rgba = Image.fromarray(np.dstack([rgb, alpha]))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    in_p3 = ImageCms.profileToProfile(photo, srgb, ImageCms.ImageCmsProfile(io.BytesIO(p3_profile)),
                                      outputMode="RGB")
    palette = photo.quantize(64)
    palette.info["transparency"] = palette.getpixel((0, 0))
    frames = [Image.new("RGB", (120, 90), colour) for colour in ("red", "lime", "blue")]

    def exif(orientation: int) -> bytes:
        tags = Image.Exif()
        tags[0x0112] = orientation
        return tags.tobytes()

    ccw, cw = photo.transpose(Image.Transpose.ROTATE_90), photo.transpose(Image.Transpose.ROTATE_270)
    return {
        # stored turned so that EXIF 6 (turn 90° clockwise) / 8 (90° counter-clockwise) shows `photo` upright
        "upright_exif6.jpg": save(ccw, "JPEG", quality=95, exif=exif(6)),
        "upright_exif8.jpg": save(cw, "JPEG", quality=95, exif=exif(8)),
        "upright_p3.jpg": save(in_p3, "JPEG", quality=95, icc_profile=p3_profile),
        "upright_p3.png": save(in_p3, "PNG", icc_profile=p3_profile),
        "upright_rgb16.png": encode_png(rgb.astype(np.uint16) * 257),
        "cmyk.jpg": save(photo.convert("CMYK"), "JPEG", quality=95),
        "grey.jpg": save(photo.convert("L"), "JPEG", quality=95),
        "grey.png": save(photo.convert("L"), "PNG"),
        "grey16.png": encode_png(grey.astype(np.uint16) * 257),
        "grey_alpha.png": encode_png(np.dstack([grey, alpha])),
        "grey_alpha16.png": encode_png(np.dstack([grey, alpha]).astype(np.uint16) * 257),
        "rgba.png": save(rgba, "PNG"),
        "rgba.webp": save(rgba, "WEBP", lossless=True),
        "palette_transparent.png": save(palette, "PNG", transparency=palette.info["transparency"]),
        "animated.gif": save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "animated.webp": save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100,
                              lossless=True),
    }


def snapshot(folder: Path) -> dict:
    """relative path -> sha256 of every file under `folder`: compare before and after to prove nothing changed."""
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


# --- the emulator -------------------------------------------------------------------------------------------

@pytest.fixture
def serve(config):
    """`serve(origin, config=None)` starts an emulator on a free loopback port and returns a
    `get(path, method="GET", **headers) -> (status, headers, body)` helper; all are stopped afterwards."""
    from resizer.edge.emulator import make_server

    servers = []

    def start(origin, config_=None, **options):
        server = make_server(origin, config_ or config, port=0, **options)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        port = server.server_address[1]

        def request(path, method="GET", **headers):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request(method, path, headers={k.replace("_", "-"): v for k, v in headers.items()})
            response = connection.getresponse()
            body = response.read()
            connection.close()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body

        return request

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
