"""Failure classes of the service, each tied to the HTTP status the edge answers with.

Every error the pipeline, the origins or the key parser raise is a `ResizerError`; the handlers turn it into a
short generated response (see README, "Error contract"). Anything else is a bug and becomes a 500.
"""


class ResizerError(Exception):
    """Base class: `status` is the HTTP status, `reason` a short public text (no internals)."""

    status = 500
    reason = "Internal error"


class MalformedKey(ResizerError):
    status = 400
    reason = "Malformed image path"


class OriginalNotFound(ResizerError):
    status = 404
    reason = "Original image not found"


class TooLarge(ResizerError):
    status = 413
    reason = "Image too large"


class UnsupportedType(ResizerError):
    status = 415
    reason = "Unsupported image type"


class CorruptImage(ResizerError):
    status = 422
    reason = "Corrupt or truncated image"


class OriginFailure(ResizerError):
    status = 502
    reason = "Origin storage error"


class OriginTimeout(ResizerError):
    status = 504
    reason = "Origin storage timeout"


class SettingsSkew(ResizerError):
    """A derived key of a variant this function's config does not have: a deploy is on its way to this edge."""

    status = 503
    reason = "Variant settings are being deployed; retry shortly"


class ConfigError(ValueError):
    """An invalid variants config: the message names the file, the field and the problem."""

    def __init__(self, source: str, field: str, problem: str):
        super().__init__(f"{source}: {field}: {problem}")
        self.source, self.field, self.problem = source, field, problem
