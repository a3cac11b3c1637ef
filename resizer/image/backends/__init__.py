"""Image backends behind one narrow interface (`base.Backend`), chosen by name.

The libraries are imported only when a backend is first asked for, so modules that never touch pixels (the
viewer-request function, the key parser) stay free of pyvips and Pillow.
"""

from functools import cache
from importlib import import_module

from ...config import BACKENDS
from .base import Backend, SourceInfo

__all__ = ["Backend", "SourceInfo", "get_backend"]


@cache
def get_backend(name: str) -> Backend:
    """The backend called `name` (a config.BACKENDS name: class `<Name>Backend` in module `<name>`), imported on
    first use and then shared: each wraps a library that is process-wide anyway (one libvips per process)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r} (expected one of: {', '.join(BACKENDS)})")
    backend: Backend = getattr(import_module(f".{name}", __name__), f"{name.capitalize()}Backend")()
    return backend
