"""Shared fitting path of the probit and tobit models: design, weights, chains, result.

:func:`geocluster.models.probit.spatial_probit` and
:func:`geocluster.models.tobit.spatial_tobit` validate their own outcome and call
:func:`fit_limited`; the sampler is :mod:`geocluster.models._mcmc`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from tqdm.auto import tqdm

from geocluster._base.validate import check_positive_int, make_rng, seed_label
from geocluster.errors import GeoclusterWarning, InputError, ModelError, WeightsError
from geocluster.models import _mcmc
from geocluster.models._design import build_design, check_full_rank, warn_dropped
from geocluster.models.bayes_result import LimitedDependentResult
from geocluster.models.graph import graph_for_rows

__all__ = ["fit_limited", "SPATIAL", "METHODS"]

SPATIAL = ("lag", "error", None)
METHODS = ("mcmc", "ml")


def check_options(data, *, spatial, method, weights, missing, isolates, crs, where) -> None:
    """The options shared by probit and tobit, checked (errors name the argument)."""
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"{where}: data must be a (Geo)DataFrame, got {type(data).__name__}.")
    if len(data) == 0 or not data.index.is_unique:
        raise InputError(f"{where}: data must have rows and a unique index (the unit ids); "
                         "use reset_index().")
    if spatial not in SPATIAL:
        raise ModelError(f"{where}: spatial={spatial!r} must be 'lag' (SAR), 'error' (SEM) "
                         "or None (no spatial dependence).")
    if method not in METHODS:
        raise ModelError(f"{where}: method={method!r} must be 'mcmc' or 'ml'.")
    if method == "ml" and spatial is not None:
        raise ModelError(f"{where}: method='ml' is the non-spatial baseline; use "
                         f"spatial=None with it, or method='mcmc' for spatial={spatial!r}.")
    if spatial is not None and weights is None:
        raise WeightsError(f"{where}: spatial={spatial!r} needs weights= (a spec such as "
                           "'knn:8' or a libpysal Graph).")
    if missing not in ("raise", "drop"):
        raise ModelError(f"{where}: missing={missing!r} must be 'raise' or 'drop'.")
    if isolates not in ("raise", "drop", "keep"):
        raise ModelError(f"{where}: isolates={isolates!r} must be 'raise', 'drop' or 'keep'.")
    if crs is not None and not isinstance(weights, str):
        raise InputError(f"{where}: crs= applies only to weights given as a spec string.")


def design_and_weights(formula, data, *, spatial, weights, missing, isolates, crs, context):
    """The design on the complete rows and the row-standardised W on exactly those rows."""
    design = build_design(formula, data, context=context, missing=missing)
    warn_dropped(design, len(data), stacklevel=4)
    if spatial is None:
        return design, None
    graph, label = graph_for_rows(data.loc[design.index], weights, isolates=isolates, crs=crs)
    if graph.n < len(design.index):
        keep = pd.Index(graph.unique_ids)
        warnings.warn(f"{len(design.index) - graph.n} units without neighbours under "
                      f"weights {label} dropped.", GeoclusterWarning, stacklevel=4)
        n_missing = design.n_dropped
        design = build_design(formula, data.loc[keep], context=context, missing=missing)
        design.n_dropped = n_missing
    return design, sp.csr_matrix(graph.sparse, dtype=float)


def sampler_options(draws, burn_in, thin, chains, where) -> tuple[int, int, int, int]:
    """``draws``, ``burn_in``, ``thin``, ``chains`` as ints (positive; burn_in >= 0)."""
    return (check_positive_int(draws, where=where, name="draws"),
            check_positive_int(burn_in, where=where, name="burn_in", minimum=0),
            check_positive_int(thin, where=where, name="thin"),
            check_positive_int(chains, where=where, name="chains"))


def fit_limited(kind: str, design, W, *, data: pd.DataFrame, spatial, draws: int,
                burn_in: int, thin: int, chains: int, seed, progress: bool,
                extra: dict) -> LimitedDependentResult:
    """Run ``chains`` chains of the sampler and assemble the result."""
    X = design.X.to_numpy(dtype=float)
    check_full_rank(design.X, what=f"the {kind} model's design")
    if len(design.y) <= X.shape[1] + 2:
        raise ModelError(f"{len(design.y)} rows are too few for the {X.shape[1]} "
                         f"coefficients of this {kind} model; use more rows.")
    root = make_rng(seed, where=f"spatial_{kind}").bit_generator.seed_seq
    assert isinstance(root, np.random.SeedSequence)
    setup_seed, *chain_seeds = root.spawn(chains + 1)
    y = np.asarray(design.y, dtype=float)
    prob = _mcmc.Problem.build(y, X, W, kind, spatial, np.random.default_rng(setup_seed))
    bar = tqdm(total=chains * (burn_in + draws * thin), disable=not progress,
               desc=f"{spatial or 'non-spatial'} {kind} MCMC", leave=False)
    try:
        runs = [_mcmc.run_chain(prob, draws=draws, burn_in=burn_in, thin=thin,
                                rng=np.random.default_rng(s), progress=bar)
                for s in chain_seeds]
    finally:
        bar.close()
    out = {key: np.stack([r[key] for r in runs]) for key in ("beta", "rho", "sigma2")}
    names = list(design.X.columns)
    if spatial is not None:
        names.append("rho" if spatial == "lag" else "lambda")
    if kind == "tobit":
        names.append("sigma2")
    k = X.shape[1]
    parts = [out["beta"].reshape(-1, k)]
    if spatial is not None:
        parts.append(out["rho"].reshape(-1, 1))
    if kind == "tobit":
        parts.append(out["sigma2"].reshape(-1, 1))
    sample = np.hstack(parts)
    return LimitedDependentResult(
        kind=kind, spatial=spatial, names=names, params=sample.mean(axis=0),
        vcov=np.atleast_2d(np.cov(sample, rowvar=False)), draws=out, design=design,
        data=pd.DataFrame(data.loc[design.index]), W=W, y=y,
        extra={**extra, "draws": draws, "burn_in": burn_in, "thin": thin, "chains": chains,
               "seed": seed_label(seed), "colours": len(prob.colours),
               "estimator": "Gibbs sampling (LeSage-Pace), griddy Gibbs for "
               f"{names[len(design.X.columns)] if spatial else 'no spatial parameter'}"},
    )
