"""The options of :func:`geocluster.datasets.make_firms`, checked once: :func:`check_options`.

Each check names the argument, what was given and what to give; the checked values are
one frozen :class:`DGPOptions`, with the random generator and the seed as recorded.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import numpy as np

from geocluster._base.validate import check_seed, make_rng, seed_label
from geocluster.datasets.geography import INDUSTRIES
from geocluster.datasets.truth import DEFAULT_BETA, TERMS
from geocluster.errors import InputError, WeightsError
from geocluster.units import parse_distance
from geocluster.weights import parse_weights_spec

__all__ = ["DGPOptions", "check_options"]


@dataclass(frozen=True)
class DGPOptions:
    """The checked options of one synthetic draw.

    Attributes
    ----------
    n
        Number of firms.
    weights, k
        The weights spec of the lag DGP and its K when it is ``"knn:K"`` (the fast path).
    shares
        Industry name -> share of firms (summing to 1).
    rho, hub_share, beta, sigma, radius_m
        The spatial parameter, the planted-hub probability, the coefficients of ``intl``
        by term, the error standard deviation and the cluster radius in metres.
    seed
        The seed as recorded (:func:`geocluster._base.validate.seed_label` of the seed
        used; a fresh int when ``seed=None``).
    """

    n: int
    weights: str
    k: int | None
    shares: dict[str, float]
    rho: float
    hub_share: float
    beta: dict[str, float]
    sigma: float
    radius_m: float
    seed: int | str | None


def check_options(
    n, *, seed=None, industries=None, rho=0.4, weights="knn:8", cluster_radius="25km",
    hub_share=0.35, beta=None, sigma=1.0,
) -> tuple[DGPOptions, np.random.Generator]:
    """Check every option of :func:`~geocluster.datasets.make_firms`; the options and the rng.

    Examples
    --------
    >>> options, rng = check_options(500.0, seed=3, industries={"pharma": 2, "software": 2})
    >>> options.n, options.k, options.shares, options.seed
    (500, 8, {'pharma': 0.5, 'software': 0.5}, 3)
    >>> check_options(100, rho=1.0)
    Traceback (most recent call last):
    ...
    geocluster.errors.InputError: rho=1.0 must lie strictly between -1 and 1 for the spatial-lag DGP ...
    """
    k = _weights_k(weights)
    n = _check_n(n, (k + 1) if k is not None else 2)
    shares = _check_industries(industries)
    rho = _check_rho(rho)
    hub_share = _check_hub_share(hub_share)
    beta = _check_beta(beta)
    sigma = _check_sigma(sigma)
    radius_m = parse_distance(cluster_radius, name="cluster_radius")
    rng, seed_used = _seed_rng(seed)
    options = DGPOptions(n=n, weights=weights, k=k, shares=shares, rho=rho, hub_share=hub_share,
                         beta=beta, sigma=sigma, radius_m=radius_m, seed=seed_used)
    return options, rng


def _check_n(n, k_min: int) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        if isinstance(n, float) and float(n).is_integer():
            n = int(n)
        else:
            raise InputError(f"n={n!r} must be a whole number of firms, e.g. n=5000.")
    n = int(n)
    if n < 1:
        raise InputError(f"n={n} must be at least 1.")
    if n < k_min:
        raise InputError(
            f"n={n} is too small for the weights of the lag DGP: they need at least "
            f"{k_min} firms. Use a larger n or fewer neighbours (e.g. weights='knn:4')."
        )
    return n


def _check_industries(industries) -> dict[str, float]:
    valid = list(INDUSTRIES)
    if industries is None:
        chosen = {name: INDUSTRIES[name]["share"] for name in valid}
    elif isinstance(industries, str):
        raise InputError(
            f"industries={industries!r} must be a list of names or a mapping "
            f"{{name: share}}, e.g. industries=['{industries}']; choose from {valid}."
        )
    elif isinstance(industries, Mapping):
        chosen = dict(industries)
    else:
        try:
            names = list(industries)
            hash(tuple(names))
        except TypeError:
            raise InputError(
                f"industries={industries!r} must be a list of industry names or a mapping "
                f"{{name: share}}; choose from {valid}."
            ) from None
        if len(set(names)) != len(names):
            raise InputError(f"industries={names!r} names an industry twice.")
        chosen = {name: INDUSTRIES.get(name, {}).get("share", np.nan) for name in names}
    unknown = [name for name in chosen if name not in INDUSTRIES]
    if unknown:
        raise InputError(f"unknown industry {unknown[0]!r}; choose from {valid}.")
    if not chosen:
        raise InputError(f"industries is empty; choose one or more of {valid}.")
    try:
        shares = np.array([float(chosen[name]) for name in chosen])
    except (TypeError, ValueError):
        shares = np.array([np.nan])
    if not np.all(np.isfinite(shares)) or np.any(shares < 0) or shares.sum() <= 0:
        raise InputError(
            f"industry shares {chosen} must be non-negative numbers with a positive sum."
        )
    return {name: float(share / shares.sum()) for name, share in zip(chosen, shares, strict=True)}


def _real(value) -> float | None:
    """``value`` as a float when it is a real number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _check_rho(rho) -> float:
    value = _real(rho)
    if value is None or not np.isfinite(value):
        raise InputError(f"rho={rho!r} must be a number strictly between -1 and 1.")
    if abs(value) >= 1:
        raise InputError(
            f"rho={rho!r} must lie strictly between -1 and 1 for the spatial-lag DGP "
            "to be stationary (I - rho W invertible); e.g. rho=0.4."
        )
    return value


def _check_hub_share(hub_share) -> float:
    value = _real(hub_share)
    if value is None or not 0 <= value <= 1:
        raise InputError(f"hub_share={hub_share!r} must be a number between 0 and 1.")
    return value


def _check_beta(beta) -> dict[str, float]:
    if beta is None:
        return dict(DEFAULT_BETA)
    if not isinstance(beta, Mapping):
        raise InputError(
            f"beta={beta!r} must be a mapping {{term: coefficient}} with terms from {list(TERMS)}."
        )
    unknown = [term for term in beta if term not in DEFAULT_BETA]
    if unknown:
        raise InputError(
            f"beta has unknown term {unknown[0]!r}; the terms of the formula are {list(TERMS)}."
        )
    merged = dict(DEFAULT_BETA)
    for term, value in beta.items():
        number = _real(value)
        if number is None or not np.isfinite(number):
            raise InputError(f"beta[{term!r}]={value!r} must be a finite number.")
        merged[term] = number
    return merged


def _check_sigma(sigma) -> float:
    value = _real(sigma)
    if value is None or not np.isfinite(value) or value <= 0:
        raise InputError(f"sigma={sigma!r} must be a positive, finite number.")
    return value


def _weights_k(weights) -> int | None:
    """K of a ``"knn:K"`` spec (the fast path of the lag DGP), else None."""
    if not isinstance(weights, str):
        raise InputError(f"weights={weights!r} must be a specification string such as 'knn:8'.")
    try:
        parsed = parse_weights_spec(weights)
    except WeightsError as exc:
        raise InputError(f"weights={weights!r} cannot be built for the firms: {exc}") from None
    return parsed.k if parsed.kind == "knn" else None


def _seed_rng(seed) -> tuple[np.random.Generator, int | str | None]:
    """The generator and the seed to record: a fresh int is drawn for ``seed=None``."""
    check_seed(seed, "make_firms")
    if seed is None:
        seed = int(cast(int, np.random.SeedSequence().entropy))  # 128 bits of fresh entropy
    return make_rng(seed, "make_firms"), seed_label(seed)
