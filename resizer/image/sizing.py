"""The one size function both backends use, so they always agree on output dimensions."""


def fit_inside(width: int, height: int, box: int) -> tuple[int, int]:
    """Fit width×height inside a box×box square, keeping the aspect ratio, never enlarging.

    The long side becomes exactly `box`; the short side is rounded to nearest, at least 1 px.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"bad source size {width}x{height}")
    if max(width, height) <= box:
        return width, height
    if width >= height:
        return box, max(1, round(height * box / width))
    return max(1, round(width * box / height)), box
