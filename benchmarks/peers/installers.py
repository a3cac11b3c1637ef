"""The peers install themselves on first use, outside the repo and .venv: sharp with npm, thumbor in its own venv
(delete ~/.cache/resizer-peers to reinstall)."""

import subprocess
import sys
from pathlib import Path

CACHE = Path.home() / ".cache" / "resizer-peers"
SHARP_SPEC, THUMBOR_SPEC = "sharp@0.34", "thumbor>=7.8,<8"
AWS_SDK_S3_SPEC = "@aws-sdk/client-s3@3"  # the seed's S3 client (benchmarks/node_origin)


def install_sharp() -> Path:
    return _npm_install("sharp", SHARP_SPEC)


def install_node_origin() -> Path:
    """sharp and the AWS SDK v3 S3 client: what the seed's Node origin-response function runs on."""
    return _npm_install("node-origin", SHARP_SPEC, AWS_SDK_S3_SPEC)


def _npm_install(name: str, *specs: str) -> Path:
    folder = CACHE / name
    if not all((folder / "node_modules" / spec.rpartition("@")[0] / "package.json").is_file() for spec in specs):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text(f'{{"name": "resizer-peers-{name}", "private": true}}\n')
        print(f"peers: npm install {' '.join(specs)} in {folder}", file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", *specs], cwd=folder, check=True,
                       stdout=sys.stderr)
    return folder


def install_thumbor(python: str) -> Path:
    venv = CACHE / "thumbor-venv"
    if not (venv / "bin" / "thumbor").is_file():
        print(f"peers: {python} -m venv {venv} && pip install '{THUMBOR_SPEC}'", file=sys.stderr)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", THUMBOR_SPEC], check=True,
                       stdout=sys.stderr)
    return venv

