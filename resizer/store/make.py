"""Make and store the outputs of one original, create-only: what `resizer warm` does for each original and what
the eager function does for each upload (the edge makes the same bytes one miss at a time).

Never raises for a bad original or a storage error: the Outcome carries the status the edge would have answered.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from ..config import Config, Variant
from ..edge.negotiate import servable_formats
from ..errors import MalformedKey, ResizerError
from ..keys import derived_key, parse_public_path, public_path, validate_key
from .origins import Origin

if TYPE_CHECKING:
    from ..image.backends import Backend


class Output(NamedTuple):
    variant: str
    format: str
    key: str


class Outcome(NamedTuple):
    original: str
    made: int
    raced: int  # stored by another writer (a viewer's miss) between the listing and this write
    bytes_written: int
    transform_s: float  # measured transform seconds of the outputs made
    failure: tuple[int, str, str] | None = None  # (status, reason, detail): the edge's answer for it
    warning: str | None = None  # bad metadata on the original (ignored, as the edge ignores it)


def outputs_for(config: Config, original: str, variants: Iterable[Variant],
                formats: frozenset[str] | None = None) -> tuple[Output, ...]:
    """Every output of `original` a viewer can be sent for `variants`: each in its formats and the original's
    fallback family (`negotiate.servable_formats`), restricted to `formats`."""
    return tuple(Output(variant.name, fmt, derived_key(config, variant.name, fmt, original))
                 for variant in variants for fmt in servable_formats(variant, original)
                 if formats is None or fmt in formats)


def make_outputs(config: Config, origin: Origin, backend: "Backend", original: str,
                 outputs: tuple[Output, ...]) -> Outcome:
    """Fetch and decode `original` once, make `outputs` (the focal point read with the GET, as the edge reads it)
    and store each create-only with the headers a miss stores."""
    from ..edge.origin import IMMUTABLE
    from ..image.pipeline import render_each
    from ..image.sizing import focal_point

    made = raced = written = 0
    seconds = 0.0
    warning = None
    try:
        for out in outputs:
            _check_reachable(config, out, original)
        data, info = origin.get_object(original, max_bytes=config.limits.max_source_bytes)
        focus, warning = focal_point(info.metadata)
        requests = [(config.variant(out.variant), out.format) for out in outputs]
        results = render_each(data, requests, backend=backend, limits=config.limits, search=True, focus=focus)
        for out, result in zip(outputs, results, strict=True):
            if origin.put_if_absent(out.key, result.data, result.media_type, IMMUTABLE):
                made += 1
                written += len(result.data)
                seconds += sum(result.timings.values()) / 1000
            else:
                raced += 1
    except ResizerError as exc:
        return Outcome(original, made, raced, written, seconds, (exc.status, exc.reason, str(exc)), warning)
    except Exception as exc:  # noqa: BLE001 - a bug is a 500 at the edge too; the caller goes on
        return Outcome(original, made, raced, written, seconds,
                       (ResizerError.status, ResizerError.reason, f"{type(exc).__name__}: {exc}"), warning)
    return Outcome(original, made, raced, written, seconds, warning=warning)


def _check_reachable(config: Config, out: Output, original: str) -> None:
    """MalformedKey (400) unless a viewer's path reaches this output, as the viewer-request function parses it."""
    validate_key(out.key, config)
    request = parse_public_path(public_path(out.variant, original), config)
    if request != (original, out.variant):
        raise MalformedKey(f"no public path reaches the {out.variant!r} variant of this key")
