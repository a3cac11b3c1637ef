"""The peers install themselves on first use, outside the repo and .venv: sharp with npm, thumbor in its own venv
(delete ~/.cache/resizer-peers to reinstall)."""

import subprocess
import sys
from pathlib import Path

CACHE = Path.home() / ".cache" / "resizer-peers"
SHARP_SPEC, THUMBOR_SPEC = "sharp@0.34", "thumbor>=7.8,<8"


def install_sharp() -> Path:
    folder = CACHE / "sharp"
    if not (folder / "node_modules" / "sharp" / "package.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "package.json").write_text('{"name": "resizer-peers-sharp", "private": true}\n')
        print(f"peers: npm install {SHARP_SPEC} in {folder}", file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", SHARP_SPEC], cwd=folder, check=True,
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

