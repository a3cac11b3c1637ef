"""Image datasets for the workbench: the photographs bundled with scikit-image, any local folder, or an S3 prefix.

Every dataset gets a manifest (file, width, height, format, bytes, sha256) cached as parquet under the cache dir;
a file's row is reused while its size and mtime are unchanged. The format comes from the bytes
(`resizer.image.formats.sniff`), never the extension; files that are not decodable images are skipped and counted.
"""

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd
from PIL import Image

from resizer.image.formats import FORMATS, sniff
from resizer.samples import SAMPLE_PHOTOS, sample_photos_dir

from .paths import repo_root

COLUMNS = ["file", "width", "height", "format", "bytes", "sha256", "mtime_ns", "image", "note"]
ORIENT_SWAPS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    images: pd.DataFrame  # usable images after sampling, sorted by file: file, width, height, format, bytes, sha256
    skipped: pd.DataFrame  # files that are not decodable images, with the reason (`note`)
    total: int  # usable images before sampling

    def path(self, file: str) -> Path:
        return self.root / file

    def read(self, file: str) -> bytes:
        return self.path(file).read_bytes()

    def describe(self) -> str:
        sampled = f"{len(self.images)} of {self.total}" if len(self.images) != self.total else f"{self.total}"
        return f"dataset {self.name}: {sampled} images, {len(self.skipped)} non-image files skipped"


def default_cache_dir() -> Path:
    """datasets/.cache in the repo (git-ignored), or ~/.cache/resizer/datasets outside a checkout."""
    try:
        return repo_root() / "datasets" / ".cache"
    except FileNotFoundError:
        return Path.home() / ".cache" / "resizer" / "datasets"


def bundled_dir() -> Path:
    """Where the "bundled" dataset's photos (`resizer.samples.SAMPLE_PHOTOS`) are."""
    folder = sample_photos_dir()
    if folder is None:
        raise FileNotFoundError("the bundled dataset is scikit-image's sample photos: install scikit-image")
    return folder


def load_dataset(spec: str = "bundled", *, sample: int = 0, seed: int = 0, cache_dir: str | Path | None = None,
                 endpoint_url: str | None = None) -> Dataset:
    """Load a dataset: "bundled", a folder (searched recursively), or "s3://bucket/prefix" (downloaded once into
    the cache dir; `endpoint_url` points boto3 elsewhere, e.g. at a local S3 emulator).

    sample > 0 draws that many images with `seed` (reproducible, independent of listing order).
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    if spec == "bundled":
        root = bundled_dir()
        files = [root / name for name in SAMPLE_PHOTOS]
    elif spec.startswith("s3://"):
        root = fetch_s3(spec, cache / "s3", endpoint_url=endpoint_url)
        files = None
    else:
        root, files = Path(spec).expanduser().resolve(), None
        if not root.is_dir():
            raise FileNotFoundError(f"dataset folder not found: {root}")
    if files is None:
        files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root)))
    manifest = scan(root, files, cache / f"{_key(spec, root)}.parquet")
    usable = manifest[manifest["image"]].drop(columns=["image", "note"]).reset_index(drop=True)
    skipped = manifest.loc[~manifest["image"], ["file", "bytes", "note"]].reset_index(drop=True)
    images = sample_images(usable, sample, seed)
    return Dataset(spec, root, images, skipped, len(usable))


def sample_images(images: pd.DataFrame, sample: int, seed: int) -> pd.DataFrame:
    """`sample` rows drawn with `seed` from the rows sorted by file (all of them when sample is 0 or too big)."""
    images = images.sort_values("file").reset_index(drop=True)
    if 0 < sample < len(images):
        images = images.sample(n=sample, random_state=seed).sort_values("file").reset_index(drop=True)
    return images


def scan(root: Path, files: list[Path], manifest_path: Path) -> pd.DataFrame:
    """The manifest rows for `files`, reusing cached rows whose size and mtime still match."""
    cached = {}
    if manifest_path.is_file():
        old = pd.read_parquet(manifest_path)
        cached = {row.file: row._asdict() for row in old.itertuples(index=False)}
    rows, changed = [], False
    for path in files:
        rel = path.relative_to(root).as_posix()
        stat = path.stat()
        row = cached.get(rel)
        if row is None or row["bytes"] != stat.st_size or row["mtime_ns"] != stat.st_mtime_ns:
            row, changed = describe_file(path, rel, stat), True
        rows.append(row)
    manifest = pd.DataFrame(rows, columns=COLUMNS).astype(
        {"width": "int64", "height": "int64", "bytes": "int64", "mtime_ns": "int64", "image": "bool"})
    if changed or len(rows) != len(cached):
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        partial = manifest_path.with_name(f"{manifest_path.name}.{os.getpid()}.tmp")
        manifest.to_parquet(partial, index=False)
        os.replace(partial, manifest_path)  # atomic: parallel test workers and notebooks never read half a file
    return manifest


def describe_file(path: Path, rel: str, stat) -> dict:
    """One manifest row: the sniffed format and the displayed (EXIF-oriented) size, or why it is skipped."""
    data = path.read_bytes()
    row = dict(file=rel, width=0, height=0, format=sniff(data) or "", bytes=stat.st_size,
               sha256=hashlib.sha256(data).hexdigest(), mtime_ns=stat.st_mtime_ns, image=False, note="")
    if row["format"] not in FORMATS:
        row["note"] = f"not a supported image ({row['format'] or 'unrecognised'})"
        return row
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if image.getexif().get(0x0112) in ORIENT_SWAPS:
                    width, height = height, width
    except Exception as exc:  # any decoder refusal means "not an image we can use"
        row["note"] = f"unreadable {row['format']}: {type(exc).__name__}"
        return row
    row.update(width=width, height=height, image=True)
    return row


def fetch_s3(url: str, cache: Path, *, endpoint_url: str | None = None) -> Path:
    """Mirror s3://bucket/prefix into cache/bucket/prefix (objects whose size changed are fetched again)."""
    import boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    local_root = cache / bucket / prefix.strip("/")
    client = boto3.client("s3", endpoint_url=endpoint_url)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = PurePosixPath(obj["Key"][len(prefix):].lstrip("/"))
            if obj["Key"].endswith("/") or not rel.parts or ".." in rel.parts:
                continue
            target = local_root.joinpath(*rel.parts)
            if not target.is_file() or target.stat().st_size != obj["Size"]:
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, obj["Key"], str(target))
    local_root.mkdir(parents=True, exist_ok=True)
    return local_root


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def _key(spec: str, root: Path) -> str:
    return hashlib.sha256(f"{spec}\0{root}".encode()).hexdigest()[:16]
