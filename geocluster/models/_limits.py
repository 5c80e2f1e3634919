"""Bounds on user-chosen sizes (simulation draws, grid points) before anything is allocated.

A count such as ``impacts(simulations=10**9)`` would otherwise end in numpy's allocation
error (or swap the machine); here it is refused with the memory it would take and a size
that works.
"""

from __future__ import annotations

import numpy as np

from geocluster.errors import InputError

__all__ = ["MAX_BYTES", "check_size", "format_bytes"]

#: Largest working memory one such request may need (2 GiB).
MAX_BYTES = 2 * 1024**3


def format_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def check_size(option: str, count, bytes_each: float, *, what: str, suggestion: str,
               limit: float = MAX_BYTES) -> int:
    """Refuse ``count`` (an option's value) when ``count * bytes_each`` exceeds ``limit``.

    Parameters
    ----------
    option
        How the user wrote the option, e.g. ``"impacts(simulations=)"``.
    count
        The requested number (already checked to be a non-negative integer).
    bytes_each
        Working memory per unit of ``count`` (draws: coefficients and effects in float64).
    what
        What one unit is, e.g. ``"draws of the 9 coefficients"``.
    suggestion
        What to use instead, e.g. ``"simulations=1000 (the default)"``.

    Returns
    -------
    int
        ``count`` as an int.
    """
    count = int(count)
    need = float(count) * float(bytes_each)
    if need > limit:
        largest = int(max(limit // max(bytes_each, 1), 1))
        raise InputError(
            f"{option}: {count:,} {what} would need about {format_bytes(need)} of memory "
            f"(more than the {format_bytes(limit)} geocluster allows for one request); use "
            f"{suggestion}, at most {largest:,} here."
        )
    return count


def _float_bytes(*shape: int) -> float:
    return float(np.prod([float(s) for s in shape])) * 8.0
