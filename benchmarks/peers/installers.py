"""The peers install themselves on first use, outside the repo and .venv: sharp with npm, thumbor in its own venv
(delete ~/.cache/resizer-peers to reinstall)."""

import subprocess
import sys
from pathlib import Path

CACHE = Path.home() / ".cache" / "resizer-peers"
SHARP_DIR, THUMBOR_VENV = CACHE / "sharp", CACHE / "thumbor-venv"
SHARP_SPEC, THUMBOR_SPEC = "sharp@0.34", "thumbor>=7.8,<8"
AWS_SDK_S3_SPEC = "@aws-sdk/client-s3@3"  # the seed's S3 client (benchmarks/node_origin)


def sharp_installed() -> bool:
    return _npm_installed(SHARP_DIR, SHARP_SPEC)


def thumbor_installed() -> bool:
    return (THUMBOR_VENV / "bin" / "thumbor").is_file()


def install_sharp() -> Path:
    return _npm_install(SHARP_DIR, SHARP_SPEC)


def install_node_origin() -> Path:
    """sharp and the AWS SDK v3 S3 client: what the seed's Node origin-response function runs on."""
    return _npm_install(CACHE / "node-origin", SHARP_SPEC, AWS_SDK_S3_SPEC)


def _npm_installed(folder: Path, *specs: str) -> bool:
    return all((folder / "node_modules" / spec.rpartition("@")[0] / "package.json").is_file() for spec in specs)


def _npm_install(folder: Path, *specs: str) -> Path:
    if not _npm_installed(folder, *specs):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text(f'{{"name": "resizer-peers-{folder.name}", "private": true}}\n')
        print(f"peers: npm install {' '.join(specs)} in {folder}", file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", *specs], cwd=folder, check=True,
                       stdout=sys.stderr)
    return folder


def install_thumbor(python: str) -> Path:
    if not thumbor_installed():
        print(f"peers: {python} -m venv {THUMBOR_VENV} && pip install '{THUMBOR_SPEC}'", file=sys.stderr)
        subprocess.run([python, "-m", "venv", str(THUMBOR_VENV)], check=True)
        subprocess.run([str(THUMBOR_VENV / "bin" / "python"), "-m", "pip", "install", "-q", THUMBOR_SPEC],
                       check=True, stdout=sys.stderr)
    return THUMBOR_VENV
