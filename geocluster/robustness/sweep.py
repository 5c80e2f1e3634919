"""Spatial robustness checks: one model question over many specifications.

:func:`robustness` fits a formula over the cartesian product of alternative weights,
model types, clustering measures, areal units and estimation methods (and, for OLS,
kinds of standard errors), and tracks chosen *focus* terms in a tidy table with a
specification curve (:class:`~geocluster.robustness.result.RobustnessResult`).

Focus terms
-----------
A focus term (:func:`~geocluster.robustness.specs.parse_focus_term`) is a coefficient name
as :func:`geocluster.regress` reports it (``"cluster"``, ``"serial:cluster"``,
``"I(cluster ** 2)"``, ``"rho"``) or an *effect*: ``"slope:cluster|serial=1"`` is the slope
of the outcome in ``cluster`` for firms with ``serial == 1``, evaluated at the median of
``cluster`` (add ``@0.5`` for another level: ``"slope:cluster|serial=1@0.5"``); it is the
*direct* marginal effect of :meth:`RegressionResult.marginal_effects
<geocluster.models.results.RegressionResult.marginal_effects>` (for OLS and the error
model simply the slope), so it is comparable across model types.

With ``focus=None`` the focus terms are the model's own *clustering terms*: every term
of the formula that reads the clustering column ``variable``, in the design's order.
For ``intl ~ serial * (cluster + I(cluster**2)) + age`` these are ``cluster``,
``I(cluster ** 2)``, ``serial:cluster`` and ``serial:I(cluster ** 2)`` (main effects,
squares and other transformations, and interactions; every level of an interaction
with a categorical). Durbin's ``W_`` columns are not formula terms and are left out.

Reference specification
-----------------------
``reference=`` names the specification the others are compared with, normally the
study's own model: ``{"weights": "knn:8", "model": "lag", "exposure": "cluster",
"method": "ml", "inference": "classical"}`` (keys left out take the first value of
their list). A reference value that is not among the alternatives is added to them.
Without ``reference=`` the first value of every dimension forms the reference. The
reference is fitted first and is specification 0; the ``reference`` column of the
table marks its rows. The summary reports, for each focus term, the share of
specifications whose estimate has the reference's sign, the share significant at
``alpha``, and the share with both the sign and the significance of the reference.

Samples
-------
A specification can use fewer firms than the reference (an LQ measure is missing for
firms outside the units; ``isolates`` or missing values drop others). The table's
``same_sample`` column is True when a specification used exactly the reference's rows
(same number and the same firms); the others are left out of the summary's shares
unless ``include_other_samples=True``, and the summary counts them. Weights are built
once per spec on every firm and restricted to each fit's rows (re-standardised), as the
study builds its model's weights, so the reference equals that model also when some firms
are dropped.

Seeds
-----
``seed`` is split with :func:`~geocluster._base.validate.spawn_seeds` into one child per
specification (the reference first), and each fit's :func:`geocluster.regress` gets its
own: the Monte Carlo parts of a fit (the log-determinant of large ML fits, the trace
multipliers of the direct effects of ``slope:`` terms) draw from it. The same seed gives
the same table; another seed changes what is stochastic and nothing else.
"""

from __future__ import annotations

import difflib
import itertools
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from tqdm import tqdm

from geocluster._base.validate import check_alpha, check_seed, seed_label, spawn_seeds
from geocluster.errors import GeoclusterError, GeoclusterWarning, InputError, ModelError
from geocluster.models._design import build_design, terms_involving
from geocluster.robustness.fit import FitSettings, fit_one, tidy
from geocluster.robustness.measures import (
    Alternative,
    exposure_alternatives,
    exposure_values,
)
from geocluster.robustness.result import DIMENSIONS, RobustnessResult
from geocluster.robustness.specs import FocusTerm, parse_focus_terms
from geocluster.weights import weights as build_weights

__all__ = ["robustness", "check_dimensions", "specifications", "reference_spec"]

_MODELS = ("ols", "lag", "error", "durbin")
_METHODS = ("ml", "gmm")
_INFERENCE = ("classical", "white", "hac")
_WHERE = "robustness"


def robustness(
    formula: str,
    data: gpd.GeoDataFrame,
    *,
    focus: str | Sequence[str] | None = None,
    weights: Sequence[str] = ("knn:8",),
    models: Sequence[str] = ("lag",),
    exposure: Sequence | Mapping | None = None,
    units: Sequence | Mapping | None = None,
    methods: Sequence[str] = ("ml",),
    inference: Sequence[str] = ("classical",),
    variable: str = "cluster",
    reference: Mapping | None = None,
    include_other_samples: bool = False,
    exposure_options: Mapping | None = None,
    missing: Literal["raise", "drop"] = "raise",
    isolates: Literal["raise", "drop", "keep"] = "raise",
    alpha: float = 0.05,
    n_jobs: int = 1,
    seed: int | np.random.Generator | np.random.SeedSequence | None = None,
    progress: bool = True,
) -> RobustnessResult:
    """Fit ``formula`` over every combination of the given alternatives.

    Parameters
    ----------
    formula
        A :func:`geocluster.regress` formula, e.g.
        ``"intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"``.
    data
        Firms (a GeoDataFrame; weights are built from its geometry once per spec and
        reused across models). Not modified.
    focus
        Terms to track: coefficient names or effects (see the module docstring).
        ``None`` (default): the model's clustering terms, every term of the formula that
        involves ``variable`` (main effect, squares, interactions).
    weights
        Weights specs (``"knn:4"``, ``"knn:8"``, ``"distance:25km"``, ...).
    models
        Any of ``"ols"``, ``"lag"``, ``"error"``, ``"durbin"``.
    exposure
        Alternative clustering measures that replace the column ``variable`` in the
        formula: column names of ``data``, exposure specs (``"kde:25km"``: leave-one-out
        kernel density with that bandwidth; ``"count:10km"``: same-industry firms within
        that radius; ``"lq@counties"``, ``"lq@hex:50km"``: the location quotient of the
        firm's unit; see :mod:`geocluster.robustness.specs`), or a mapping
        ``{label: geocluster.exposure keyword arguments}``. ``None``: the formula's own
        ``variable`` column only. Each is computed once.
    units
        Areal units for a location-quotient measure (MAUP): units specs (``"counties"``,
        ``"grid:50km"``, ``"hex:25km"``, a polygon file) or a mapping
        ``{label: GeoDataFrame or spec}``. Each adds an exposure alternative
        ``"lq@<units>"``.
    methods
        Estimation methods, ``"ml"`` and/or ``"gmm"`` (OLS is fitted once per other setting).
    inference
        Standard errors for OLS: ``"classical"``, ``"white"`` (heteroskedasticity
        robust) and/or ``"hac"`` (Kelejian-Prucha spatial HAC via spreg, with an
        adaptive triangular kernel over the k nearest firms, k the weights spec's
        largest neighbour count; the formula must have an intercept). Spatial models use
        their ML/GMM standard errors; they are fitted once per other setting.
    variable
        The clustering column in ``formula`` that exposure alternatives replace.
    reference
        The reference specification, normally the study's own model: a mapping with
        any of the keys ``"weights"``, ``"model"``, ``"exposure"`` (a label of the
        exposure alternatives, a column or a spec such as ``"kde:25km"``),
        ``"method"`` and ``"inference"``. Keys left out take the first value of their
        list; values not among the alternatives are added. ``None``: the first value of
        every list.
    include_other_samples
        Count specifications fitted on another sample than the reference in the
        summary's shares (default False: they are flagged and left out).
    exposure_options
        Extra :func:`geocluster.exposure` arguments for exposure specs; default
        ``{"by": "industry" (if the data have it), "log": "log1p", "standardize": True}``.
    missing, isolates
        Passed to every :func:`geocluster.regress` fit: ``missing="raise"`` (default)
        refuses rows with a missing value, ``"drop"`` drops them (counted);
        ``isolates="raise"`` (default), ``"drop"`` or ``"keep"`` for firms without
        neighbours. The study passes its ``[model] missing`` and ``[weights] isolates``.
    alpha
        Significance level for the shares, the confidence intervals and the
        residual-autocorrelation flag.
    n_jobs
        Processes for the fits (joblib); 1 runs in this process. The table does not
        depend on it.
    seed
        Seed; split into one seed per specification, which reaches its fit (see the
        module docstring). Recorded in the result as
        :func:`~geocluster._base.validate.seed_label` says.
    progress
        Show a progress bar (only on a terminal).

    Returns
    -------
    RobustnessResult

    Warns
    -----
    GeoclusterWarning
        When specifications were fitted on another sample than the reference (how many,
        and their numbers of rows).

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(400, seed=3)
    >>> formula = "intl ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"
    >>> sweep = gc.robustness(formula, firms, focus="serial:cluster",
    ...                       weights=["knn:4", "knn:8"], models=["ols", "lag"], progress=False)
    >>> len(sweep.table), int(sweep.shares().loc["serial:cluster", "specifications"])
    (4, 4)
    """
    terms = parse_focus_terms(focus, where=_WHERE)
    grid = check_dimensions(weights, models, methods, inference)
    _check_options(data, seed, missing, isolates, n_jobs, include_other_samples)
    alpha = check_alpha(alpha, where=_WHERE)
    alternatives = exposure_alternatives(data, exposure, units, variable, exposure_options)
    grid["exposure"] = list(alternatives)
    ref = reference_spec(reference, grid, alternatives, data, variable, exposure_options)
    specs = [ref] + [s for s in specifications(grid) if s != ref]

    columns = {label: exposure_values(data, alt) for label, alt in alternatives.items()}
    terms = _focus_terms(formula, data, variable, columns[ref["exposure"]], terms)
    graphs = _graphs(data, grid["weights"])
    seeds = spawn_seeds(seed, len(specs), where=_WHERE)
    settings = FitSettings(formula=formula, variable=variable, focus=terms, alpha=alpha,
                           missing=missing, isolates=isolates)

    # The reference first, alone: it validates the focus terms before the sweep runs.
    first = fit_one(data, specs[0], columns, graphs, settings, seeds[0])
    if first["error"] is not None and (first["error"].startswith("unknown focus")
                                       or first.get("error_kind") == "input"):
        # bad formula columns or data: every specification would fail the same way
        raise InputError(f"robustness: the reference specification failed: {first['error']}")
    tasks = list(zip(specs[1:], seeds[1:], strict=True))
    rows = [first] + _run(tasks, data, columns, graphs, settings, n_jobs, progress)
    if all(row["error"] is not None for row in rows):
        raise ModelError(
            f"robustness: all {len(rows)} specifications failed; the reference's error: "
            f"{first['error']}"
        )
    table, timings = tidy(rows, terms)
    _warn_other_samples(table, include_other_samples)
    return RobustnessResult(table=table, focus=[t.text for t in terms], alpha=alpha,
                            reference=dict(specs[0]), seed=seed_label(seed),
                            dimensions={d: grid[d] for d in DIMENSIONS},
                            timings=timings, include_other_samples=include_other_samples)


# --- validation ----------------------------------------------------------------------------


def _check_options(data, seed, missing, isolates, n_jobs, include_other_samples) -> None:
    check_seed(seed, _WHERE)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0:
        raise InputError(
            f"robustness: n_jobs={n_jobs!r} must be a whole number of processes (1, 2, ...; "
            "-1 for all cores)."
        )
    if missing not in ("raise", "drop"):
        raise InputError(f"robustness: missing={missing!r} is not a policy; use 'raise' or 'drop'.")
    if isolates not in ("raise", "drop", "keep"):
        raise InputError(
            f"robustness: isolates={isolates!r} is not a policy; use 'raise', 'drop' or 'keep'."
        )
    if not isinstance(include_other_samples, bool):
        raise InputError(
            f"robustness: include_other_samples={include_other_samples!r} must be True or False."
        )
    if not isinstance(data, gpd.GeoDataFrame):
        raise InputError(
            f"robustness: data must be a GeoDataFrame of firms, got {type(data).__name__}."
        )
    if len(data) == 0:
        raise InputError("robustness: data are empty (0 rows); there are no firms to fit.")


def check_dimensions(weights: Sequence[str] | str, models: Sequence[str] | str,
                     methods: Sequence[str] | str,
                     inference: Sequence[str] | str) -> dict[str, list]:
    """The alternatives of each dimension as lists, checked (``exposure`` is added later).

    Examples
    --------
    >>> check_dimensions("knn:8", ["ols", "lag"], ["ml"], ["classical"])
    {'weights': ['knn:8'], 'model': ['ols', 'lag'], 'method': ['ml'], 'inference': ['classical']}
    """
    def as_list(name, values, allowed=None):
        values = [values] if isinstance(values, str) else list(values)
        if not values:
            raise InputError(f"robustness: {name}= is empty; give at least one value.")
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            raise InputError(f"robustness: {name}={bad} not allowed; choose from {list(allowed)}.")
        return values

    return {
        "weights": as_list("weights", weights),
        "model": as_list("models", models, _MODELS),
        "method": as_list("methods", methods, _METHODS),
        "inference": as_list("inference", inference, _INFERENCE),
    }


def _focus_terms(formula, data, variable, ref_values, focus) -> tuple[FocusTerm, ...]:
    """Evaluate the formula once on the reference's exposure (a bad formula or column stops
    the sweep here) and derive the default focus terms."""
    frame = pd.DataFrame(data.drop(columns=data.geometry.name))
    frame[variable] = ref_values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # regress reports dropped rows per specification
        try:
            design = build_design(formula, frame)
        except GeoclusterError as exc:
            raise type(exc)(f"robustness: {exc}") from None
    if focus is not None:
        return focus
    terms = terms_involving(design, variable)
    if not terms:
        raise InputError(
            f"robustness: focus=None tracks the formula's terms that involve the clustering "
            f"column variable={variable!r}, but formula {formula!r} has none. Name the "
            f"clustering column with variable= or the terms with focus= (the formula's terms "
            f"are {list(design.X.columns)})."
        )
    return tuple(FocusTerm(text=t) for t in terms)


# --- the grid and its reference ------------------------------------------------------------


def _normalise(spec: dict, first_method: str, first_inference: str) -> dict:
    """OLS has no ML/GMM distinction (method ``"ols"``); spatial models no alternative OLS
    standard errors (inference ``"model"``); spreg has no GMM Durbin (fitted by ML)."""
    spec = dict(spec)
    if spec["model"] == "ols":
        spec["method"] = "ols"
        if spec["inference"] == "model":
            spec["inference"] = first_inference
    else:
        spec["inference"] = "model"
        if spec["method"] == "ols":
            spec["method"] = first_method
    if spec["model"] == "durbin" and spec["method"] == "gmm":
        spec["method"] = "ml"
    return spec


def specifications(grid: dict) -> list[dict]:
    """The cartesian product, without repeats that cannot differ.

    Examples
    --------
    >>> grid = {"weights": ["knn:8"], "model": ["ols", "lag"], "exposure": ["cluster"],
    ...         "method": ["ml", "gmm"], "inference": ["classical"]}
    >>> [(s["model"], s["method"]) for s in specifications(grid)]
    [('ols', 'ols'), ('lag', 'ml'), ('lag', 'gmm')]
    """
    specs, seen = [], set()
    for values in itertools.product(*(grid[d] for d in DIMENSIONS)):
        spec = _normalise(dict(zip(DIMENSIONS, values, strict=True)), grid["method"][0],
                          grid["inference"][0])
        key = tuple(spec[d] for d in DIMENSIONS)
        if key not in seen:
            seen.add(key)
            specs.append(spec)
    return specs


def _check_reference(reference) -> dict:
    if reference is None:
        return {}
    if not isinstance(reference, Mapping):
        raise InputError(
            f"robustness: reference={reference!r} must be a mapping such as "
            "{'weights': 'knn:8', 'model': 'lag', 'exposure': 'cluster'}."
        )
    unknown = [k for k in reference if k not in DIMENSIONS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), DIMENSIONS, n=1)
        raise InputError(
            f"robustness: reference has unknown key(s) {unknown}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; use the keys {list(DIMENSIONS)}"
            + (" (an LQ measure on areal units is the exposure 'lq@<units>', e.g. "
               "{'exposure': 'lq@counties'})" if "units" in unknown else "")
            + "."
        )
    allowed = {"model": _MODELS, "method": (*_METHODS, "ols"), "inference": (*_INFERENCE, "model")}
    for key, values in allowed.items():
        if key in reference and reference[key] not in values:
            raise InputError(
                f"robustness: reference[{key!r}]={reference[key]!r} is not allowed; choose "
                f"one of {list(values)}."
            )
    for key, what in (("weights", "a weights spec string such as 'knn:8' or 'queen'"),
                      ("exposure", "the label of an exposure alternative, a column of the "
                                   "data or a spec like 'kde:25km'")):
        if key in reference and not isinstance(reference[key], str):
            raise InputError(f"robustness: reference[{key!r}]={reference[key]!r} must be {what}.")
    return dict(reference)


def reference_spec(reference: Mapping | None, grid: dict, alternatives: dict[str, Alternative],
                   data: gpd.GeoDataFrame, variable: str, options: Mapping | None) -> dict:
    """The reference specification, its values added to ``grid`` (and ``alternatives``).

    Keys left out take the first value of their dimension; a value that is not among the
    alternatives is put first in its list; the spec is normalised as the grid's are
    (:func:`specifications`: OLS has method ``"ols"``, spatial models inference ``"model"``,
    Durbin is fitted by ML).
    """
    reference = _check_reference(reference)
    label = reference.get("exposure")
    if label is not None and label not in alternatives:
        alternatives.update(exposure_alternatives(data, [label], None, variable, options))
        grid["exposure"] = [label] + [k for k in grid["exposure"] if k != label]
    spec = {key: reference.get(key, grid[key][0]) for key in DIMENSIONS}
    if spec["model"] == "durbin" and spec["method"] == "gmm":
        spec["method"] = "ml"  # spreg has no GMM Durbin (as in the grid)
    for key in ("weights", "model"):
        if spec[key] not in grid[key]:
            grid[key] = [spec[key], *grid[key]]
    if spec["model"] != "ols" and spec["method"] not in (*grid["method"], "ols"):
        grid["method"] = [spec["method"], *grid["method"]]
    if spec["model"] == "ols" and spec["inference"] not in (*grid["inference"], "model"):
        grid["inference"] = [spec["inference"], *grid["inference"]]
    return _normalise(spec, grid["method"][0], grid["inference"][0])


# --- running -------------------------------------------------------------------------------


def _graphs(data, specs: list[str]) -> dict:
    """``weights spec -> Graph`` on every firm, built once per spec.

    Each fit restricts the Graph to its rows (and re-standardises it; ``regress`` says
    so), exactly as the study builds its model's weights, so the reference specification
    equals ``regress(formula, data, weights=weights(data, spec))`` also when a measure is
    missing for some firms. A spec that cannot be built stops the sweep. The Graph's
    isolates and components are not reported here: each fit's ``isolates`` policy deals
    with the isolates of its own rows.
    """
    out = {}
    for spec in specs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", GeoclusterWarning)
                out[spec] = build_weights(data, spec, isolates="keep")
        except GeoclusterError as exc:  # a spec that cannot be built is a setup error: stop now
            raise type(exc)(f"robustness: weights spec {spec!r}: {exc}") from exc
    return out


def _run(tasks, data, columns, graphs, settings: FitSettings, n_jobs: int,
         progress: bool) -> list[dict]:
    bar = (tqdm(total=len(tasks) + 1, desc="robustness", unit="spec", initial=1)
           if progress and sys.stderr.isatty() else None)
    if n_jobs == 1 or len(tasks) < 2:
        results = (fit_one(data, spec, columns, graphs, settings, seq) for spec, seq in tasks)
    else:
        jobs = (delayed(fit_one)(data, spec, columns, graphs, settings, seq)
                for spec, seq in tasks)
        results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    rows = []
    for row in results:
        rows.append(row)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return rows


def _warn_other_samples(table: pd.DataFrame, include: bool) -> None:
    specs = table.drop_duplicates("spec")
    other = specs[specs["same_sample"].eq(False).fillna(False).to_numpy(dtype=bool)]
    if other.empty:
        return
    ref_n = specs.loc[specs["reference"], "nobs"].iloc[0]
    detail = "; ".join(
        f"spec {int(r.spec)} ({r.exposure}, {r.weights}, {r.model}): {r.nobs} rows"
        for r in other.head(5).itertuples()
    )
    warnings.warn(
        f"robustness: {len(other)} of {len(specs)} specifications were fitted on another "
        f"sample than the reference ({ref_n} rows): {detail}"
        + ("; ..." if len(other) > 5 else "")
        + ". They are marked same_sample=False and "
        + ("counted in the summary's shares." if include else
           "left out of the summary's shares (include_other_samples=True counts them)."),
        GeoclusterWarning,
        stacklevel=3,
    )
