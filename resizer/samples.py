"""The sample photographs: the natural photos bundled with scikit-image (no network), which `resizer serve` shows
when no --origin is given and the workbench measures by default (see datasets/README.md for why these).

scikit-image is a workbench extra, so its data folder is located without importing it: importing skimage loads
numpy and takes seconds, and a runtime-only install does not have it at all.
"""

import importlib.util
from pathlib import Path

SAMPLE_PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg",
                 "motorcycle_left.png", "retina.jpg", "rocket.jpg")


def sample_photos_dir() -> Path | None:
    """scikit-image's data folder (`skimage.data.data_dir`), or None when scikit-image is not installed."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0]) / "data"
