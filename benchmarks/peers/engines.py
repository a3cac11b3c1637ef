"""The engines: each a way of making every variant of one original in one format, timed per output.

A run's engines share one Context (config, folders, peer options, the origin); each engine fills one Job per output.
With a far origin (Context.origin_model, --far-origin) the FAR_ENGINES read each original through it: `resizer serve`
with its --origin-latency/--origin-bandwidth, sharp and thumbor over HTTP from origin_server.shaped_origin_server.
"""

import http.client
import io
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from benchmarks.load import free_port
from benchmarks.peers.installers import install_sharp, install_thumbor
from resizer.image.formats import FORMATS, sniff
from resizer.image.sizing import fit_inside
from resizer.store.origin_model import LOCAL, OriginModel

REPO = Path(__file__).resolve().parents[2]
SHARP_DRIVER = Path(__file__).with_name("sharp_driver.mjs")
ENGINES = ("resizer-vips", "resizer-pillow", "batch-vips", "batch-pillow", "serve", "sharp", "thumbor",
           "pillow-naive", "pillow-draft", "vips-thumbnail")
GROUPS = {"resizer": ("resizer-vips", "resizer-pillow", "batch-vips", "batch-pillow", "serve"),
          "peers": ("sharp", "thumbor"), "pillow": ("pillow-naive", "pillow-draft"), "naive": ("pillow-naive",)}
RESIZER_PATHS = GROUPS["resizer"]
FAR_ENGINES = ("serve", "sharp", "thumbor")  # per request, reading the original from an origin: --far-origin
ACCEPT = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg"}  # serve: jpeg = the fallback


@dataclass
class Job:
    engine: str
    image: str
    variant: str
    size: int
    format: str  # requested
    origin: str  # OriginModel.label of the origin the original came through: "local", "far: 60 ms, 40 MB/s"
    written: str = ""  # the format of the output (serve's fallback for a PNG original is PNG)
    width: int = 0
    height: int = 0
    bytes: int = 0
    ms: float = 0.0  # batch engines: the original's group time shared evenly by its variants
    error: str = ""
    s2: float | None = None  # SSIMULACRA2 on the 6-scale scale (quality sample only)
    s2_scales: int | None = None
    output: str = field(default="", repr=False)
    steps: dict = field(default_factory=dict, repr=False)  # pipeline step timings (resizer in-process paths)


@dataclass
class Context:
    config: object
    config_path: Path | None
    originals: Path  # the images (hard links or copies) plus a warm-up copy of the first one
    outputs: Path
    tmp: str
    sharp_concurrency: int
    thumbor_python: str
    origin_model: OriginModel = LOCAL
    originals_url: str = ""  # the originals over shaped HTTP (far origin): what sharp and thumbor read
    origin_shield: bool = False  # serve: `--origin-shield` (the origin-facing side next to the bucket)
    prewarmed: bool = False  # serve: every output stored before the first view (eager variants on upload)

    @property
    def variants(self):
        return list(self.config.variants.values())


class Engine:
    """One way of making variants; `run` makes every variant of one original in one format."""

    name = ""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.version = ""

    def start(self) -> None: ...

    def close(self) -> None: ...

    def run(self, image: str, fmt: str) -> list[Job]:
        return [self.one(image, variant, fmt) for variant in self.ctx.variants]

    def one(self, image: str, variant, fmt: str) -> Job:
        raise NotImplementedError

    def job(self, image: str, variant, fmt: str) -> Job:
        return Job(self.name, image, variant.name, variant.size, fmt, self.ctx.origin_model.label)

    def out_path(self, job: Job, fmt: str) -> Path:
        folder = self.ctx.outputs / self.name / job.format
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{Path(job.image).stem}-{job.variant}.{FORMATS[fmt].extension}"

    def keep(self, job: Job, fmt: str, data: bytes, width: int, height: int) -> Job:
        path = self.out_path(job, fmt)
        path.write_bytes(data)
        job.written, job.width, job.height, job.bytes, job.output = fmt, width, height, len(data), str(path)
        return job


class ResizerEngine(Engine):
    """The handler's call: pipeline.transform on the original's bytes, one variant per request."""

    def __init__(self, ctx, backend: str):
        super().__init__(ctx)
        self.name, self.backend = f"resizer-{backend}", backend

    def start(self):
        from resizer.image.backends import get_backend

        get_backend(self.backend)
        self.version = library_versions()[self.backend]

    def one(self, image, variant, fmt):
        from resizer.image.pipeline import transform

        job = self.job(image, variant, fmt)
        start = time.perf_counter()
        result = transform((self.ctx.originals / image).read_bytes(), variant, fmt, backend=self.backend,
                           limits=self.ctx.config.limits)
        job.ms = (time.perf_counter() - start) * 1000
        job.steps = result.timings
        return self.keep(job, result.format, result.data, result.width, result.height)


class BatchEngine(ResizerEngine):
    """`resizer variants`: pipeline.render_variants, one decode per original for all its variants."""

    def __init__(self, ctx, backend: str):
        super().__init__(ctx, backend)
        self.name = f"batch-{backend}"

    def run(self, image, fmt):
        from resizer.image.pipeline import render_variants

        start = time.perf_counter()
        results = render_variants((self.ctx.originals / image).read_bytes(),
                                  [(v, fmt) for v in self.ctx.variants], backend=self.backend,
                                  limits=self.ctx.config.limits)
        ms = (time.perf_counter() - start) * 1000 / len(results)
        jobs = []
        for variant, result in zip(self.ctx.variants, results, strict=True):
            job = self.job(image, variant, fmt)
            job.ms, job.steps = ms, result.timings
            jobs.append(self.keep(job, result.format, result.data, result.width, result.height))
        return jobs


class PillowEngine(Engine):
    """Plain Pillow, encoding with the Pillow backend's encoder mapping (same settings as resizer-pillow)."""

    def __init__(self, ctx, draft: bool):
        super().__init__(ctx)
        self.name, self.draft = ("pillow-draft" if draft else "pillow-naive"), draft

    def start(self):
        from resizer.image.backends import get_backend

        self.encoder = get_backend("pillow")
        self.version = library_versions()["pillow"]

    def one(self, image, variant, fmt):
        from PIL import Image, ImageOps

        job = self.job(image, variant, fmt)
        start = time.perf_counter()
        with Image.open(self.ctx.originals / image) as im:
            if self.draft:
                im.draft("RGB", (variant.size, variant.size))
            im = ImageOps.exif_transpose(im).convert("RGB")
            if self.draft:
                im.thumbnail((variant.size, variant.size), Image.Resampling.LANCZOS)
            elif max(im.size) > variant.size:
                im = im.resize(fit_inside(*im.size, variant.size), Image.Resampling.LANCZOS)
            im.info = {}
            data = self.encoder.encode(im, fmt, variant.encoder(fmt))
        job.ms = (time.perf_counter() - start) * 1000
        return self.keep(job, fmt, data, *im.size)


class VipsThumbnailEngine(Engine):
    """libvips' one-call thumbnail (shrink-on-load, auto-rotate, embedded profile to sRGB), then the vips encoder."""

    name = "vips-thumbnail"

    def start(self):
        from resizer.image.backends import get_backend

        self.encoder = get_backend("vips")
        self.version = library_versions()["vips"]

    def one(self, image, variant, fmt):
        import pyvips

        job = self.job(image, variant, fmt)
        start = time.perf_counter()
        im = pyvips.Image.thumbnail_buffer((self.ctx.originals / image).read_bytes(), variant.size,
                                           height=variant.size, size="down")
        data = self.encoder.encode(im, fmt, variant.encoder(fmt))
        job.ms = (time.perf_counter() - start) * 1000
        return self.keep(job, fmt, data, im.width, im.height)


class SharpEngine(Engine):
    """sharp_driver.mjs in one long-lived Node process; per-job times are measured inside Node."""

    name = "sharp"

    def start(self):
        sharp_dir = install_sharp()
        command = ["node", str(SHARP_DRIVER), str(sharp_dir)]
        if self.ctx.sharp_concurrency:
            command.append(str(self.ctx.sharp_concurrency))
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        info = json.loads(self.proc.stdout.readline())
        self.version = f"sharp {info['sharp']} (libvips {info['vips']}, concurrency {info['concurrency']})"

    def close(self):
        if getattr(self, "proc", None):
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def one(self, image, variant, fmt):
        job = self.job(image, variant, fmt)
        s = variant.encoder(fmt)
        path = self.out_path(job, fmt)
        source = f"{self.ctx.originals_url}/{quote(image)}" if self.ctx.originals_url else self.ctx.originals / image
        request = {"input": str(source), "size": variant.size, "format": fmt,
                   "output": str(path), "quality": s.quality, "effort": s.effort, "subsampling": s.subsampling,
                   "progressive": s.progressive}
        self.proc.stdin.write(json.dumps({k: v for k, v in request.items() if v is not None}) + "\n")
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        job.written, job.ms, job.bytes, job.output = fmt, answer["ms"], answer["bytes"], str(path)
        job.width, job.height = answer["width"], answer["height"]
        return job


class HttpEngine(Engine):
    """A server in its own process, one keep-alive client; per-job time is the client's (request to last byte)."""

    def connect(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request("GET", path, headers=headers)
                response = self.conn.getresponse()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()  # the server closed an idle keep-alive connection: reconnect once
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if getattr(self, "conn", None):
            self.conn.close()
        if getattr(self, "proc", None):
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def fetch(self, job: Job, path: str, headers: dict[str, str]) -> Job:
        start = time.perf_counter()
        status, response_headers, body = self.get(path, headers)
        if status == 302:  # resizer: a variant too big to return from Lambda; the viewer comes back for it
            status, response_headers, body = self.get(response_headers["location"], headers)
        job.ms = (time.perf_counter() - start) * 1000
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        fmt = sniff(body)
        if fmt not in FORMATS:
            raise RuntimeError(f"not an image: {response_headers.get('content-type')}")
        from PIL import Image

        with Image.open(io.BytesIO(body)) as im:
            return self.keep(job, fmt, body, *im.size)


class ServeEngine(HttpEngine):
    """`resizer serve` (the emulator: viewer-request, origin, origin-response, cache) on a folder origin, at the
    context's origin model."""

    name = "serve"

    def start(self):
        port = free_port()
        derived = Path(tempfile.mkdtemp(prefix="derived-", dir=self.ctx.tmp))
        command = [sys.executable, "-m", "resizer.cli", "serve", "--origin", str(self.ctx.originals), "--derived",
                   str(derived), "--port", str(port)]
        if self.ctx.config_path:
            command += ["--config", str(self.ctx.config_path)]
        model = self.ctx.origin_model
        if model.latency_s:
            command += ["--origin-latency", f"{model.latency_s}s"]
        if model.bytes_per_s != math.inf:
            command += ["--origin-bandwidth", f"{model.bytes_per_s}B/s"]
        if self.ctx.origin_shield:
            command.append("--origin-shield")
        if self.ctx.prewarmed:  # what the eager function stores on upload: every first view is a stored object
            warm = [sys.executable, "-m", "resizer.cli", "warm", "--origin", str(self.ctx.originals), "--derived",
                    str(derived), *(["--config", str(self.ctx.config_path)] if self.ctx.config_path else [])]
            subprocess.run(warm, check=True, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The handlers' JSON log lines go to the server's stdout: discarded here.
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, cwd=REPO)
        wait_http(port, self.proc, "resizer serve", "/")
        self.connect(port)
        self.version = f"resizer serve, backend {self.ctx.config.backend}"

    def one(self, image, variant, fmt):
        stem, dot, ext = image.rpartition(".")
        path = quote(f"/{stem}-{variant.name}{dot}{ext}")
        return self.fetch(self.job(image, variant, fmt), path, {"Accept": ACCEPT[fmt]})


class ThumborEngine(HttpEngine):
    """thumbor 7 in its own venv and process, the config's settings: file loader on the originals and no storage;
    from a far origin, its HTTP loader with file storage on (thumbor keeps each original it loaded, as deployed)."""

    name = "thumbor"

    def start(self):
        venv = install_thumbor(self.ctx.thumbor_python)
        avif = self.ctx.variants[0].encoder("avif")
        folder = Path(tempfile.mkdtemp(prefix="thumbor-", dir=self.ctx.tmp))
        if self.ctx.originals_url:
            source = {"LOADER": "thumbor.loaders.http_loader", "STORAGE": "thumbor.storages.file_storage",
                      "FILE_STORAGE_ROOT_PATH": str(folder / "storage")}
        else:
            source = {"LOADER": "thumbor.loaders.file_loader", "FILE_LOADER_ROOT_PATH": str(self.ctx.originals),
                      "STORAGE": "thumbor.storages.no_storage"}
        settings = {
            **source, "RESULT_STORAGE": None, "AUTO_WEBP": False,
            "AUTO_AVIF": False, "QUALITY": 80, "ALLOW_UNSAFE_URL": True, "RESPECT_ORIENTATION": True,
            "PROGRESSIVE_JPEG": True, "PRESERVE_EXIF_INFO": False, "MAX_AGE": 0,
            # aom cpu-used = 9 - effort, as libheif maps the other engines' effort
            "AVIF_SPEED": None if avif.effort is None else 9 - avif.effort, "AVIF_CODEC": "aom",
        }
        conf = folder / "thumbor.conf"
        conf.write_text("".join(f"{k} = {v!r}\n" for k, v in settings.items()))
        port = free_port()
        self.proc = subprocess.Popen([str(venv / "bin" / "thumbor"), "-p", str(port), "-i", "127.0.0.1", "-c",
                                      str(conf), "-l", "error"], stdout=subprocess.DEVNULL)
        wait_http(port, self.proc, "thumbor", "/healthcheck")
        self.connect(port)
        versions = subprocess.run([str(venv / "bin" / "python"), "-c",
                                   "import sys, thumbor, PIL; print(thumbor.__version__, PIL.__version__, "
                                   "'%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, check=True)
        thumbor, pillow, python = versions.stdout.split()
        loader = "HTTP loader, file storage" if self.ctx.originals_url else "file loader, no storage"
        self.version = f"thumbor {thumbor} (Pillow {pillow}, Python {python}; {loader})"

    def one(self, image, variant, fmt):
        s = variant.encoder(fmt)
        path = f"/unsafe/fit-in/{variant.size}x{variant.size}/filters:format({fmt}):quality({s.quality})/"
        source = f"{self.ctx.originals_url}/{image}" if self.ctx.originals_url else image
        return self.fetch(self.job(image, variant, fmt), path + quote(source, safe=""), {})


def wait_http(port: int, proc: subprocess.Popen, what: str, path: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not answer on port {port}")


def library_versions() -> dict[str, str]:
    import PIL
    import pyvips
    from PIL import features

    return {"vips": f"pyvips {pyvips.__version__} (libvips {'.'.join(str(pyvips.version(i)) for i in range(3))})",
            "pillow": f"Pillow {PIL.__version__} (libjpeg-turbo {features.version('jpg')}, libwebp "
                      f"{features.version('webp')}, libavif {features.version('avif')})"}


def make_engine(name: str, ctx: Context) -> Engine:
    if name.startswith("resizer-"):
        return ResizerEngine(ctx, name.split("-", 1)[1])
    if name.startswith("batch-"):
        return BatchEngine(ctx, name.split("-", 1)[1])
    if name.startswith("pillow-"):
        return PillowEngine(ctx, draft=name == "pillow-draft")
    return {"serve": ServeEngine, "sharp": SharpEngine, "thumbor": ThumborEngine,
            "vips-thumbnail": VipsThumbnailEngine}[name](ctx)


def select_engines(only: str | None, skip: str | None) -> list[str]:
    def expand(spec: str) -> set[str]:
        names = set()
        for item in filter(None, (s.strip() for s in spec.split(","))):
            if item not in GROUPS and item not in ENGINES:
                raise SystemExit(f"unknown engine {item!r} (engines: {', '.join(ENGINES)}; groups: "
                                 f"{', '.join(GROUPS)})")
            names |= set(GROUPS.get(item, (item,)))
        return names

    chosen = expand(only) if only else set(ENGINES)
    chosen -= expand(skip) if skip else set()
    return [name for name in ENGINES if name in chosen]

