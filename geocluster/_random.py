"""Seed checks shared by the stochastic functions (STYLE: ``seed`` is an int or a Generator)."""

from __future__ import annotations

import numpy as np

from geocluster.errors import InputError


def check_seed(seed, where: str = "") -> None:
    """Refuse a seed ``np.random.default_rng`` would reject, with a geocluster error.

    ``where`` prefixes the message (e.g. ``"k_density: "``).

    Examples
    --------
    >>> check_seed(np.int64(7))
    >>> check_seed(-1, "k_density: ")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: k_density: seed=-1 must be None, a non-negative int or ...
    """
    ok = seed is None or isinstance(seed, np.random.Generator) or (
        isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0
    )
    if not ok:
        raise InputError(
            f"{where}seed={seed!r} must be None, a non-negative int or a numpy Generator."
        )


def seed_label(seed) -> int | str | None:
    """How a seed is recorded in results: the int (numpy integers too), None, or 'Generator'.

    Examples
    --------
    >>> seed_label(np.int64(7)), seed_label(None), seed_label(np.random.default_rng(1))
    (7, None, 'Generator')
    """
    if seed is None:
        return None
    if isinstance(seed, int | np.integer):
        return int(seed)
    return "Generator"
