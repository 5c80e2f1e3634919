"""Distances written with their unit (``"25km"``, ``"500m"``): the one parser.

It lives in a module of its own, with no scientific imports, so that the config checks and
the command line (``geocluster config``) stay instant; :mod:`geocluster.units` re-exports it.
"""

from __future__ import annotations

import math
import numbers
import re

from geocluster.errors import InputError

__all__ = ["parse_distance"]

_UNIT_FACTORS = {"m": 1.0, "km": 1000.0}
_DISTANCE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(m|km)\s*$")


def parse_distance(value: str | float | int, *, name: str = "distance") -> float:
    """Return a distance in metres from ``"25km"``, ``"500m"`` or a number of metres.

    Parameters
    ----------
    value
        A string with a unit (``m`` or ``km``), or a plain number taken as metres.
    name
        The option's name, used in error messages.

    Returns
    -------
    float
        The distance in metres; always positive.

    Examples
    --------
    >>> parse_distance("25km")
    25000.0
    >>> parse_distance("500 m")
    500.0
    >>> parse_distance(1200)
    1200.0
    """
    if isinstance(value, bool):
        raise InputError(f"{name}={value!r} is not a distance; give e.g. '25km' or '500m'.")
    if isinstance(value, numbers.Real):
        metres = float(value)
    elif isinstance(value, str):
        match = _DISTANCE_RE.match(value.lower())
        if match is None:
            raise InputError(
                f"{name}={value!r} is not a distance: write a positive number with a "
                "unit, e.g. '25km' or '500m' (a number, not text, means metres)."
            )
        metres = float(match.group(1)) * _UNIT_FACTORS[match.group(2)]
    else:
        raise InputError(
            f"{name}={value!r} is not a distance; give e.g. '25km', '500m' or a number of metres."
        )
    if not math.isfinite(metres) or metres <= 0:
        raise InputError(f"{name}={value!r} must be a positive, finite distance.")
    return metres
