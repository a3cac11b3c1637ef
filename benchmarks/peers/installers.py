"""The peers install themselves on first use, outside the repo and .venv: sharp with npm, thumbor in its own venv
(delete ~/.cache/resizer-peers to reinstall)."""

import subprocess
import sys
from pathlib import Path

CACHE = Path.home() / ".cache" / "resizer-peers"
SHARP_DIR, THUMBOR_VENV = CACHE / "sharp", CACHE / "thumbor-venv"
SHARP_SPEC, THUMBOR_SPEC = "sharp@0.34", "thumbor>=7.8,<8"


def sharp_installed() -> bool:
    return (SHARP_DIR / "node_modules" / "sharp" / "package.json").is_file()


def thumbor_installed() -> bool:
    return (THUMBOR_VENV / "bin" / "thumbor").is_file()


def install_sharp() -> Path:
    if not sharp_installed():
        SHARP_DIR.mkdir(parents=True, exist_ok=True)
        (SHARP_DIR / "package.json").write_text('{"name": "resizer-peers-sharp", "private": true}\n')
        print(f"peers: npm install {SHARP_SPEC} in {SHARP_DIR}", file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", SHARP_SPEC], cwd=SHARP_DIR, check=True,
                       stdout=sys.stderr)
    return SHARP_DIR


def install_thumbor(python: str) -> Path:
    if not thumbor_installed():
        print(f"peers: {python} -m venv {THUMBOR_VENV} && pip install '{THUMBOR_SPEC}'", file=sys.stderr)
        subprocess.run([python, "-m", "venv", str(THUMBOR_VENV)], check=True)
        subprocess.run([str(THUMBOR_VENV / "bin" / "python"), "-m", "pip", "install", "-q", THUMBOR_SPEC],
                       check=True, stdout=sys.stderr)
    return THUMBOR_VENV
