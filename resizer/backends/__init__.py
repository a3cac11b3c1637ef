"""Image backends behind one narrow interface (`base.Backend`), chosen by name.

The libraries are imported only when a backend is first asked for, so modules that never touch pixels (the
viewer-request function, the key parser) stay free of pyvips and Pillow.
"""

from functools import cache
from importlib import import_module

from ..config import BACKENDS
from .base import Backend, SourceInfo

__all__ = ["Backend", "SourceInfo", "get_backend"]

_CLASSES = {"vips": ("vips", "VipsBackend"), "pillow": ("pillow", "PillowBackend")}  # keys: config.BACKENDS


@cache
def get_backend(name: str) -> Backend:
    """The backend called `name` ("vips" or "pillow"), imported on first use and then shared."""
    if name not in _CLASSES:
        raise ValueError(f"unknown backend {name!r} (expected one of: {', '.join(BACKENDS)})")
    module, cls = _CLASSES[name]
    return getattr(import_module(f".{module}", __name__), cls)()
