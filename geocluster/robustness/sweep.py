"""Spatial robustness checks: one model question over many specifications.

:func:`robustness` fits a formula over the cartesian product of alternative weights,
model types, clustering measures, areal units and estimation methods (and, for OLS,
kinds of standard errors), and tracks chosen *focus* terms in a tidy table with a
specification curve. :func:`cluster_sensitivity` asks the same of the cluster
definitions themselves: how much do the high-high units (LISA) or density-cluster
polygons (KDE) change with the weights, bandwidth or level?

Focus terms
-----------
A focus term is a coefficient name as :func:`geocluster.regress` reports it
(``"cluster"``, ``"serial:cluster"``, ``"I(cluster ** 2)"``, ``"rho"``) or an
*effect*: ``"slope:cluster|serial=1"`` is the slope of the outcome in ``cluster`` for
firms with ``serial == 1``, evaluated at the median of ``cluster`` (add ``@0.5`` for
another level: ``"slope:cluster|serial=1@0.5"``); it is the *direct* marginal effect
of :meth:`SpatialResults.marginal_effects` (for OLS and the error model simply the
slope), so it is comparable across model types.

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
"""

from __future__ import annotations

import hashlib
import itertools
import re
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster._base.validate import check_seed as _check_seed
from geocluster.errors import (
    GeoclusterError,
    GeoclusterWarning,
    InputError,
    ModelError,
    WeightsError,
)

__all__ = ["robustness", "RobustnessResult", "cluster_sensitivity", "SensitivityResult"]

_DIMENSIONS = ("weights", "model", "exposure", "method", "inference")
_MODELS = ("ols", "lag", "error", "durbin")
_METHODS = ("ml", "gmm")
_INFERENCE = ("classical", "white", "hac")
_EFFECT_RE = re.compile(r"^slope:(?P<var>[^|@]+)\|(?P<by>[^=]+)=(?P<group>[^@]+)(?:@(?P<at>.+))?$")
_EXPOSURE_RE = re.compile(r"^(?P<method>kde|count):(?P<distance>.+)$")
_UNITS_RE = re.compile(r"^(?P<shape>grid|hex):(?P<size>.+)$")
_STAT_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "p_value")
_FIT_COLUMNS = ("spatial_param", "loglik", "aic", "nobs")


# --- the sweep ---------------------------------------------------------------------------


@dataclass
class RobustnessResult:
    """The outcome of :func:`robustness`: a tidy table, a summary and a specification curve.

    Attributes
    ----------
    table : DataFrame
        One row per specification and focus term: ``spec`` (number; 0 is the
        reference), ``weights``, ``model``, ``exposure``, ``method``, ``inference``,
        ``reference`` (True on the reference specification's rows), ``term``,
        ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p_value``, ``spatial_param``
        (rho or lambda), ``loglik``, ``aic``, ``nobs``, ``same_sample`` (fitted on
        exactly the reference's rows; missing for a specification that failed),
        ``resid_moran_I``, ``resid_moran_p``, ``residual_autocorrelation`` (a spatial
        model whose residuals still show Moran's I significant at ``alpha``) and
        ``error`` (the message of a specification that failed; its numbers are NaN).
        No wall-clock column: the same seed gives the same table (and CSV bytes).
    focus : list of str
    alpha : float
    reference : dict
        The reference specification (``reference=`` or the first value of each dimension).
    seed : int or None
    dimensions : dict
        The alternatives of each dimension (with any reference value added).
    timings : Series
        Seconds each specification took, aligned with ``table`` (same index; a
        specification's time repeats on each of its focus terms' rows).
    include_other_samples : bool
        Default of :meth:`summary`'s option of the same name.
    """

    table: pd.DataFrame
    focus: list[str]
    alpha: float
    reference: dict
    seed: Any = None
    dimensions: dict = field(default_factory=dict)
    timings: pd.Series | None = None
    include_other_samples: bool = False

    def __repr__(self) -> str:
        specs = self.table.drop_duplicates("spec")
        failed = int(specs["error"].notna().sum())
        other = int((specs["same_sample"] == False).sum())  # noqa: E712 - nullable boolean
        dims = ", ".join(f"{k}: {len(v)}" for k, v in self.dimensions.items() if len(v) > 1)
        return (
            f"<RobustnessResult: {len(specs)} specifications ({dims or 'one of each'}), "
            f"{len(self.focus)} focus terms, {failed} failed, {other} on another sample>"
        )

    def reference_label(self) -> str:
        """The reference specification as text: ``"weights knn:8, model lag, ..."``."""
        return ", ".join(f"{k} {self.reference[k]}" for k in _DIMENSIONS if k in self.reference)

    def summary(self, *, include_other_samples: bool | None = None) -> pd.DataFrame:
        """Per focus term: how many specifications keep the reference's sign and significance.

        Parameters
        ----------
        include_other_samples
            Count specifications fitted on another sample than the reference
            (``same_sample`` False) in the shares. Default: the value given to
            :func:`robustness` (False there).

        Returns
        -------
        DataFrame
            Indexed by term: ``reference`` (the reference specification as text),
            ``reference_spec`` (its number), ``specifications`` (that fitted and are
            counted in the shares), ``failed``, ``other_samples`` (fitted on another
            sample), ``left_out_other_samples`` (of those, left out of the shares),
            ``reference_estimate``, ``share_same_sign``, ``share_significant``,
            ``share_same_sign_and_significance`` (the reference's sign and its verdict
            on significance), ``share_significant_same_sign`` (significant with the
            reference's sign), ``median_estimate``, ``min_estimate``, ``max_estimate``,
            ``share_residual_autocorrelation``. ``attrs["note"]`` says in words what was
            left out.
        """
        include = self.include_other_samples if include_other_samples is None else include_other_samples
        if not isinstance(include, bool):
            raise InputError(
                f"summary: include_other_samples={include!r} must be True or False."
            )
        rows = []
        reference_spec = int(self.table.loc[self.table["reference"], "spec"].iloc[0]) \
            if self.table["reference"].any() else -1
        for term in self.focus:
            part = self.table[self.table["term"] == term]
            fitted = part[part["error"].isna() & part["estimate"].notna()]
            other = fitted["same_sample"].eq(False).fillna(False).astype(bool)
            ok = fitted if include else fitted[~other.to_numpy()]
            ref = fitted[fitted["reference"]]
            ref_est = float(ref["estimate"].iloc[0]) if len(ref) else np.nan
            ref_sig = bool(ref["p_value"].iloc[0] <= self.alpha) if len(ref) else False
            sign = np.sign(ok["estimate"])
            significant = ok["p_value"] <= self.alpha
            same_sign = sign == np.sign(ref_est) if np.isfinite(ref_est) else sign * np.nan
            n = len(ok)
            rows.append(
                {
                    "term": term,
                    "reference": self.reference_label(),
                    "reference_spec": reference_spec,
                    "specifications": int(n),
                    "failed": int(len(part) - len(fitted)),
                    "other_samples": int(other.sum()),
                    "left_out_other_samples": 0 if include else int(other.sum()),
                    "reference_estimate": ref_est,
                    "share_same_sign": float(np.mean(same_sign)) if n else np.nan,
                    "share_significant": float(np.mean(significant)) if n else np.nan,
                    "share_same_sign_and_significance": float(
                        np.mean(same_sign & (significant == ref_sig))
                    ) if n else np.nan,
                    "share_significant_same_sign": float(np.mean(same_sign & significant))
                    if n else np.nan,
                    "median_estimate": float(ok["estimate"].median()) if n else np.nan,
                    "min_estimate": float(ok["estimate"].min()) if n else np.nan,
                    "max_estimate": float(ok["estimate"].max()) if n else np.nan,
                    "share_residual_autocorrelation": float(
                        ok["residual_autocorrelation"].mean()
                    ) if n else np.nan,
                }
            )
        out = pd.DataFrame(rows).set_index("term")
        n_other = int(self.table.drop_duplicates("spec")["same_sample"].eq(False).fillna(False).sum())
        if n_other and not include:
            note = (f"{n_other} specification(s) fitted on another sample than the reference "
                    "are left out of the shares (include_other_samples=True counts them).")
        elif n_other:
            note = (f"{n_other} specification(s) fitted on another sample than the reference "
                    "are counted in the shares.")
        else:
            note = "Every specification that fitted used the reference's sample."
        out.attrs["note"] = note
        out.attrs["reference"] = dict(self.reference)
        return out

    def to_csv(self, path, **kwargs) -> None:
        """Write the tidy table (one row per specification and focus term; no timings)."""
        self.table.to_csv(path, index=False, **kwargs)

    def plot(self, term: str | None = None):
        """Specification curve: estimates sorted with CIs above, the settings below.

        The reference is circled in red; specifications fitted on another sample than
        the reference are drawn as triangles.

        Parameters
        ----------
        term
            The focus term to draw (default: the first).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D

        term = self.focus[0] if term is None else term
        if term not in self.focus:
            raise InputError(f"term={term!r} is not a focus term; choose one of {self.focus}.")
        part = self.table[(self.table["term"] == term) & self.table["estimate"].notna()]
        part = part.sort_values(["estimate", "spec"], kind="stable").reset_index(drop=True)
        # A dimension the user gave one value for is not drawn, even where it varies only
        # because OLS reports method "ols" and spatial models inference "model".
        varying = [d for d in _DIMENSIONS if part[d].nunique() > 1
                   and len(self.dimensions.get(d, [0, 0])) > 1] or ["model"]
        labels = [(d, v) for d in varying for v in sorted(part[d].astype(str).unique())]
        height = 4.5 + 0.22 * len(labels)
        fig = Figure(figsize=(max(7.0, 0.18 * len(part) + 3), height), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True,
                                   gridspec_kw={"height_ratios": [3, max(1, 0.35 * len(labels))]})
        x = np.arange(len(part))
        significant = (part["p_value"] <= self.alpha).to_numpy()
        other = part["same_sample"].eq(False).fillna(False).to_numpy(dtype=bool)
        colours = np.where(significant, "#1b4f72", "#aab7b8")
        top.vlines(x, part["ci_low"], part["ci_high"], colors=colours, linewidth=1.2)
        top.scatter(x[~other], part["estimate"].to_numpy()[~other], c=colours[~other], s=18,
                    zorder=3)
        if other.any():
            top.scatter(x[other], part["estimate"].to_numpy()[other], c=colours[other], s=28,
                        marker="^", zorder=3)
        ref = part.index[part["reference"]]
        if len(ref):
            top.scatter(ref, part.loc[ref, "estimate"], s=90, facecolors="none",
                        edgecolors="#c0392b", linewidths=1.5, zorder=4, label="reference")
        top.axhline(0, color="#555", linewidth=0.8, linestyle="--")
        level = round(100 * (1 - self.alpha), 6)
        top.set_ylabel(f"estimate of {term}\n({level:g}% CI)")
        top.set_title(f"Specification curve: {term} over {len(part)} specifications")
        handles = [Line2D([], [], marker="o", color="#1b4f72", linestyle="", label=f"p <= {self.alpha}"),
                   Line2D([], [], marker="o", color="#aab7b8", linestyle="", label="not significant")]
        if len(ref):
            handles.append(Line2D([], [], marker="o", markerfacecolor="none", color="#c0392b",
                                  linestyle="", label="reference"))
        if other.any():
            handles.append(Line2D([], [], marker="^", color="#555", linestyle="",
                                  label="other sample than the reference"))
        top.legend(handles=handles, loc="upper left", fontsize=8)
        for row, (dim, value) in enumerate(labels):
            hit = (part[dim].astype(str) == value).to_numpy()
            bottom.scatter(x[hit], np.full(hit.sum(), row), marker="s", s=14, color="#34495e")
        bottom.set_yticks(range(len(labels)), [f"{d}: {v}" for d, v in labels], fontsize=8)
        bottom.set_ylim(-0.7, len(labels) - 0.3)
        bottom.invert_yaxis()
        bottom.set_xlabel("specifications, sorted by estimate")
        return fig


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
    missing: str = "drop",
    isolates: str = "keep",
    alpha: float = 0.05,
    n_jobs: int = 1,
    seed: int | np.random.Generator | None = None,
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
        formula: column names of ``data``, strings ``"kde:25km"`` (leave-one-out kernel
        density, that bandwidth) or ``"count:10km"`` (same-industry firms within that
        radius), or a mapping ``{label: gc.exposure keyword arguments}``. ``None``: the
        formula's own ``variable`` column only. Each is computed once.
    units
        Areal units for a location-quotient measure (MAUP): ``"counties"`` (bundled),
        ``"grid:50km"``, ``"hex:25km"``, or a mapping ``{label: GeoDataFrame}``. Each
        adds an exposure alternative ``"lq@<units>"``.
    methods
        Estimation methods, ``"ml"`` and/or ``"gmm"`` (OLS is fitted once per other setting).
    inference
        Standard errors for OLS: ``"classical"``, ``"white"`` (heteroskedasticity
        robust) and/or ``"hac"`` (Kelejian-Prucha spatial HAC via spreg, with an
        adaptive triangular kernel over the k nearest firms, k the weights spec's
        largest neighbour count; the formula must have an intercept). Spatial models use their
        ML/GMM standard errors; they are fitted once per other setting.
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
        Extra :func:`geocluster.exposure` arguments for string exposure specs; default
        ``{"industry": "industry" (if present), "log": "log1p", "standardize": True}``.
    missing, isolates
        Passed to every :func:`geocluster.regress` fit: ``missing="drop"`` (default) drops
        rows with a missing value (counted), ``"raise"`` refuses them; ``isolates="keep"``
        (default), ``"drop"`` or ``"raise"`` for firms without neighbours. The study passes
        its ``[model] missing`` and ``[weights] isolates``.
    alpha
        Significance level for the summary and the residual-autocorrelation flag.
    n_jobs
        Processes for the fits (joblib); 1 runs in this process.
    seed
        Seed; every stochastic piece (exposure, large-n log-determinants) draws from it.
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
    >>> sweep = gc.robustness(firms.attrs["truth"]["formula"], firms, focus="serial:cluster",
    ...                       weights=["knn:4", "knn:8"], models=["ols", "lag"], progress=False)
    >>> len(sweep.table), int(sweep.summary().loc["serial:cluster", "specifications"])
    (4, 4)
    """
    if focus is not None:
        focus = [focus] if isinstance(focus, str) else list(focus)
        if not focus:
            raise InputError("robustness: focus= is empty; name at least one term, e.g. 'cluster' "
                             "(or focus=None for the formula's clustering terms).")
    grid = _dimensions(weights, models, methods, inference)
    _check_seed(seed, "robustness: ")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InputError(f"robustness: alpha={alpha!r} must be a number between 0 and 1, e.g. 0.05.")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0:
        raise InputError(
            f"robustness: n_jobs={n_jobs!r} must be a whole number of processes (1, 2, ...; "
            "-1 for all cores)."
        )
    if missing not in ("drop", "raise"):
        raise InputError(f"robustness: missing={missing!r} is not a policy; use 'drop' or 'raise'.")
    if isolates not in ("keep", "drop", "raise"):
        raise InputError(
            f"robustness: isolates={isolates!r} is not a policy; use 'keep', 'drop' or 'raise'."
        )
    if not isinstance(include_other_samples, bool):
        raise InputError(
            f"robustness: include_other_samples={include_other_samples!r} must be True or False."
        )
    if not isinstance(data, gpd.GeoDataFrame):
        raise InputError(f"robustness: data must be a GeoDataFrame of firms, got {type(data).__name__}.")
    if len(data) == 0:
        raise InputError("robustness: data are empty (0 rows); there are no firms to fit.")
    import geocluster as gc

    rng = np.random.default_rng(seed)
    alternatives = _exposure_alternatives(data, exposure, units, variable, exposure_options)
    grid["exposure"] = list(alternatives)
    ref_spec = _reference(reference, grid, alternatives, data, variable, exposure_options)
    specs = _specifications(grid)
    specs = [ref_spec] + [s for s in specs if s != ref_spec]

    columns = {label: _exposure_column(gc, data, variable, how) for label, how in alternatives.items()}
    focus = _check_formula_and_focus(formula, data, variable, columns[ref_spec["exposure"]], focus)
    graphs = _graphs(gc, data, grid)
    seeds = np.random.SeedSequence(int(rng.integers(0, 2**63 - 1))).spawn(len(specs))

    # The reference first, alone: it validates the focus terms before the sweep runs.
    fit = {"alpha": alpha, "missing": missing, "isolates": isolates}
    first = _fit_one(formula, data, specs[0], columns, graphs, variable, focus, fit, seeds[0])
    if first["error"] is not None and (first["error"].startswith("unknown focus")
                                       or first.get("error_kind") == "input"):
        # bad formula columns or data: every specification would fail the same way
        raise InputError(f"robustness: the reference specification failed: {first['error']}")
    tasks = list(zip(specs[1:], seeds[1:], strict=True))
    rows = [first] + _run(tasks, formula, data, columns, graphs, variable, focus, fit,
                          n_jobs, progress)
    if all(row["error"] is not None for row in rows):
        raise ModelError(
            f"robustness: all {len(rows)} specifications failed; the reference's error: "
            f"{first['error']}"
        )
    table, timings = _tidy(rows, focus)
    _warn_other_samples(table, include_other_samples)
    return RobustnessResult(table=table, focus=focus, alpha=alpha, reference=dict(specs[0]),
                            seed=_seed_label(seed), dimensions=grid, timings=timings,
                            include_other_samples=include_other_samples)


def _graphs(gc, data, grid) -> dict:
    """``weights spec -> Graph`` on every firm, built once per spec.

    Each fit restricts the Graph to its rows (and re-standardises it; ``gc.regress``
    says so), exactly as the study builds its model's weights, so the reference
    specification equals ``gc.regress(formula, data, weights=gc.weights(data, spec))``
    also when a measure is missing for some firms. A spec that cannot be built stops the
    sweep.
    """
    out = {}
    for spec in grid["weights"]:
        try:
            out[spec] = gc.weights(data, spec, isolates="ignore")
        except GeoclusterError as exc:  # a spec that cannot be built is a setup error: stop now
            raise type(exc)(f"robustness: weights spec {spec!r}: {exc}") from exc
    return out


def _check_formula_and_focus(formula, data, variable, ref_values, focus) -> list[str]:
    """Evaluate the formula once on the reference's exposure (a bad formula or column stops
    the sweep here) and derive the default focus terms."""
    from geocluster.models._design import build_design, terms_involving

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
    return terms


def _reference(reference, grid, alternatives, data, variable, options) -> dict:
    """The reference specification, its values added to the grid where missing."""
    if reference is None:
        reference = {}
    if not isinstance(reference, Mapping):
        raise InputError(
            f"robustness: reference={reference!r} must be a mapping such as "
            "{'weights': 'knn:8', 'model': 'lag', 'exposure': 'cluster'}."
        )
    unknown = [k for k in reference if k not in _DIMENSIONS]
    if unknown:
        import difflib

        close = difflib.get_close_matches(str(unknown[0]), _DIMENSIONS, n=1)
        raise InputError(
            f"robustness: reference has unknown key(s) {unknown}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; use the keys {list(_DIMENSIONS)}"
            + (" (an LQ measure on areal units is the exposure 'lq@<units>', e.g. "
               "{'exposure': 'lq@counties'})" if "units" in unknown else "")
            + "."
        )
    allowed = {"model": _MODELS, "method": (*_METHODS, "ols"),
               "inference": (*_INFERENCE, "model")}
    for key, values in allowed.items():
        if key in reference and reference[key] not in values:
            raise InputError(
                f"robustness: reference[{key!r}]={reference[key]!r} is not allowed; choose "
                f"one of {list(values)}."
            )
    if "weights" in reference and not isinstance(reference["weights"], str):
        raise InputError(
            f"robustness: reference['weights']={reference['weights']!r} must be a weights spec "
            "string such as 'knn:8' or 'queen'."
        )
    if "exposure" in reference:
        label = reference["exposure"]
        if not isinstance(label, str):
            raise InputError(
                f"robustness: reference['exposure']={label!r} must be the label of an exposure "
                "alternative, a column of the data or a spec like 'kde:25km'."
            )
        if label not in alternatives:
            added = _exposure_alternatives(data, [label], None, variable, options)
            alternatives.update(added)
            alternatives_order = [label] + [k for k in grid["exposure"] if k != label]
            grid["exposure"] = alternatives_order
    spec = {key: reference.get(key, grid[key][0]) for key in _DIMENSIONS}
    if spec["model"] == "durbin" and spec["method"] == "gmm":
        spec["method"] = "ml"  # spreg has no GMM Durbin (as in the grid)
    for key in ("weights", "model"):
        if spec[key] not in grid[key]:
            grid[key] = [spec[key], *grid[key]]
    if spec["model"] != "ols" and spec["method"] not in grid["method"] and spec["method"] != "ols":
        grid["method"] = [spec["method"], *grid["method"]]
    if spec["model"] == "ols" and spec["inference"] not in grid["inference"] \
            and spec["inference"] != "model":
        grid["inference"] = [spec["inference"], *grid["inference"]]
    # the same normalisation as the grid's (_specifications)
    if spec["model"] == "ols":
        spec["method"] = "ols"
        if spec["inference"] == "model":
            spec["inference"] = grid["inference"][0]
    else:
        spec["inference"] = "model"
        if spec["method"] == "ols":
            spec["method"] = grid["method"][0]
        if spec["model"] == "durbin" and spec["method"] == "gmm":
            spec["method"] = "ml"
    return spec


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


def _dimensions(weights, models, methods, inference) -> dict:
    def as_list(name, values, allowed=None):
        values = [values] if isinstance(values, str) else list(values)
        if not values:
            raise InputError(f"robustness: {name}= is empty; give at least one value.")
        if allowed is not None:
            bad = [v for v in values if v not in allowed]
            if bad:
                raise InputError(f"robustness: {name}={bad} not allowed; choose from {list(allowed)}.")
        return values

    return {
        "weights": as_list("weights", weights),
        "model": as_list("models", models, _MODELS),
        "method": as_list("methods", methods, _METHODS),
        "inference": as_list("inference", inference, _INFERENCE),
    }


def _specifications(grid: dict) -> list[dict]:
    """The cartesian product, without repeats that cannot differ.

    OLS has no ML/GMM distinction (its ``method`` is reported as ``"ols"``); spatial
    models have no alternative OLS standard errors (``inference`` is ``"model"``).
    """
    specs, seen = [], set()
    for weights, model, exposure, method, inference in itertools.product(
        grid["weights"], grid["model"], grid["exposure"], grid["method"], grid["inference"]
    ):
        if model == "ols":
            method = "ols"
        else:
            inference = "model"
        if model == "durbin" and method == "gmm":
            method = "ml"  # spreg has no GMM Durbin; fitted once by ML
        key = (weights, model, exposure, method, inference)
        if key in seen:
            continue
        seen.add(key)
        specs.append(dict(zip(_DIMENSIONS, (weights, model, exposure, method, inference),
                              strict=True)))
    return specs


def _exposure_alternatives(data, exposure, units, variable, options) -> dict:
    opts = dict(options or {})
    if "industry" not in opts and "industry" in data.columns:
        opts["industry"] = "industry"
    opts.setdefault("log", "log1p")
    opts.setdefault("standardize", True)
    out: dict[str, Any] = {}
    if exposure is None and units is None:
        if variable not in data.columns:
            raise InputError(
                f"robustness: the clustering column {variable!r} is not in the data; give "
                "exposure= alternatives or name the column with variable=."
            )
        return {variable: ("column", variable)}
    if isinstance(exposure, Mapping):
        for label, kwargs in exposure.items():
            out[str(label)] = ("exposure", dict(kwargs))
    elif exposure is not None:
        for item in ([exposure] if isinstance(exposure, str) else exposure):
            match = _EXPOSURE_RE.match(str(item))
            if match:
                key = "bandwidth" if match["method"] == "kde" else "radius"
                out[str(item)] = ("exposure", {"method": match["method"], key: match["distance"], **opts})
            elif item in data.columns:
                out[str(item)] = ("column", item)
            elif isinstance(item, str) and item.startswith("lq@") and len(item) > 3:
                lq_opts = {k: v for k, v in opts.items() if k in ("industry",)}
                lq_opts.update(log=False, standardize=opts.get("standardize", True))
                out[item] = ("lq", item[3:], lq_opts)
            else:
                import difflib

                close = difflib.get_close_matches(str(item), [str(c) for c in data.columns], n=3)
                raise InputError(
                    f"robustness: exposure item {item!r} is neither a column of the data"
                    + (f" (did you mean {close}?)" if close else "")
                    + " nor a spec; give a column name or a spec like 'kde:25km', "
                    "'count:10km' or 'lq@counties'."
                )
    if units is not None:
        unit_items = units.items() if isinstance(units, Mapping) else [(u, u) for u in (
            [units] if isinstance(units, str) else units)]
        for label, spec in unit_items:
            lq_opts = {k: v for k, v in opts.items() if k in ("industry",)}
            lq_opts.update(log=False, standardize=opts.get("standardize", True))
            out[f"lq@{label}"] = ("lq", spec, lq_opts)
    return out


def _exposure_column(gc, data, variable, how) -> np.ndarray:
    kind = how[0]
    if kind == "column":
        values = pd.to_numeric(data[how[1]], errors="coerce")
        return values.to_numpy(dtype=float)
    if kind == "exposure":
        result = gc.exposure(data, column="__exposure__", **how[1])
        return result["__exposure__"].to_numpy(dtype=float)
    _, spec, opts = how
    units = _units(gc, data, spec)
    result = gc.exposure(data, method="lq", column="__exposure__", units=units, **opts)
    return result["__exposure__"].to_numpy(dtype=float)


def _units(gc, data, spec):
    if isinstance(spec, gpd.GeoDataFrame):
        return spec
    if spec == "counties":
        return gc.datasets.load_counties("conus")
    match = _UNITS_RE.match(str(spec))
    if not match:
        raise InputError(
            f"robustness: units item {spec!r} is not 'counties', 'grid:SIZE' or 'hex:SIZE' "
            "(e.g. 'hex:50km'), nor a GeoDataFrame."
        )
    shape = "square" if match["shape"] == "grid" else "hex"
    return gc.grid(data, match["size"], shape=shape, clip=True)


def _run(tasks, formula, data, columns, graphs, variable, focus, fit, n_jobs, progress):
    bar = _progress_bar(len(tasks) + 1, progress)
    if bar is not None:
        bar.update(1)
    rows = []
    if n_jobs == 1 or len(tasks) < 2:
        for spec, seq in tasks:
            rows.append(_fit_one(formula, data, spec, columns, graphs, variable, focus, fit, seq))
            if bar is not None:
                bar.update(1)
    else:
        from joblib import Parallel, delayed

        jobs = (delayed(_fit_one)(formula, data, spec, columns, graphs, variable, focus, fit, seq)
                for spec, seq in tasks)
        for row in Parallel(n_jobs=n_jobs, return_as="generator")(jobs):
            rows.append(row)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return rows


def _progress_bar(total: int, progress: bool):
    if not progress or not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="robustness", unit="spec")


def _fit_one(formula, data, spec, columns, graphs, variable, focus, fit, seq) -> dict:
    import time

    import geocluster as gc

    start = time.perf_counter()
    row: dict[str, Any] = {"spec": spec, "error": None, "terms": {}}
    try:
        graph = graphs[spec["weights"]]
        if isinstance(graph, Exception):
            raise graph
        frame = data.copy()
        frame[variable] = columns[spec["exposure"]]
        method = "ml" if spec["method"] == "ols" else spec["method"]
        robust = {"classical": None, "white": "white", "hac": "hac"}.get(spec["inference"])
        kwargs: dict[str, Any] = {"model": spec["model"], "weights": graph, "method": method,
                                  "isolates": fit["isolates"], "missing": fit["missing"],
                                  "seed": np.random.default_rng(seq)}
        if robust == "white":
            kwargs["robust"] = "white"
        results = gc.regress(formula, frame, **kwargs)
        if robust == "hac":
            bse, pvalues = _hac(results)
        else:
            bse, pvalues = results.bse, results.pvalues
        for term in focus:
            row["terms"][term] = _focus_value(results, term, bse, pvalues, fit["alpha"])
        row.update(_fit_stats(results, fit["alpha"]))
        row["sample"] = _sample_key(data.index, results.data.index)
    except GeoclusterError as exc:
        row["error"] = _name_exposure(str(exc), spec["exposure"], variable)
        if isinstance(exc, InputError | WeightsError):
            row["error_kind"] = "input"
    except Exception as exc:  # noqa: BLE001 - one failing specification must not stop the sweep
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["seconds"] = time.perf_counter() - start
    return row


def _sample_key(all_rows: pd.Index, used: pd.Index) -> str:
    """A fingerprint of the rows a fit used (positions in the data, sorted)."""
    if used.equals(all_rows):
        return f"all {len(all_rows)}"
    positions = np.sort(all_rows.get_indexer(used)).astype(np.int64)
    if len(positions) == len(all_rows) and np.array_equal(positions, np.arange(len(all_rows))):
        return f"all {len(all_rows)}"  # every row, in another order
    return hashlib.sha1(positions.tobytes()).hexdigest()


def _name_exposure(message: str, label: str, variable: str) -> str:
    """Say which exposure alternative a message about the clustering column is about."""
    if label != variable and repr(variable) in message:
        return f"exposure {label!r} (in column {variable!r}): {message}"
    return message


def _focus_value(results, term, bse, pvalues, alpha) -> dict:
    from scipy import stats

    if term in results.params.index:
        est, se, p = float(results.params[term]), float(bse[term]), float(pvalues[term])
        crit = stats.norm.ppf(1 - alpha / 2)
        return {"estimate": est, "se": se, "p_value": p, "ci_low": est - crit * se,
                "ci_high": est + crit * se}
    match = _EFFECT_RE.match(term)
    if match is None:
        raise InputError(
            f"unknown focus term {term!r}; the model's terms are {list(results.params.index)} "
            "(or use an effect like 'slope:cluster|serial=1')."
        )
    var, by, group = match["var"].strip(), match["by"].strip(), match["group"].strip()
    at = float(match["at"]) if match["at"] else float(np.median(results.data[var]))
    effects = results.marginal_effects(var, by=by, at=[at], effects=("direct",), alpha=alpha)
    chosen = effects[effects["group"].astype(str) == group]
    if chosen.empty:
        raise InputError(
            f"focus {term!r}: no group {group!r} in column {by!r}; groups are "
            f"{sorted(effects['group'].astype(str).unique())}."
        )
    first = chosen.iloc[0]
    return {k: float(first[k]) for k in ("estimate", "se", "p_value", "ci_low", "ci_high")}


def _fit_stats(results, alpha) -> dict:
    import esda

    resid = np.asarray(results.resid, dtype=float)
    moran = esda.Moran(resid, results.graph, permutations=0)
    spatial = results.params.get("rho", results.params.get("lambda", np.nan))
    return {
        "spatial_param": float(spatial),
        "loglik": float(results.loglik),
        "aic": float(results.aic),
        "nobs": int(results.nobs),
        "resid_moran_I": float(moran.I),
        "resid_moran_p": float(moran.p_norm),
        "residual_autocorrelation": bool(results.model != "ols" and moran.p_norm <= alpha),
    }


def _hac(results):
    """Kelejian-Prucha spatial HAC standard errors for an OLS fit (spreg)."""
    import spreg
    from scipy import stats

    if results.model != "ols":
        return results.bse, results.pvalues
    X = results._X.to_numpy(dtype=float)
    const = np.all(X == X[:1], axis=0)
    if const.sum() != 1:
        raise InputError("HAC standard errors need a formula with an intercept.")
    Xn = X[:, ~const]
    kernel = _hac_kernel(results)
    fit = spreg.OLS(results._y.reshape(-1, 1), Xn, robust="hac", gwk=kernel, sig2n_k=True)
    se = pd.Series(np.sqrt(np.diag(fit.vm)), index=["Intercept"] + [c for c, k in zip(
        results._X.columns, const, strict=True) if not k])
    se = se.rename(index={"Intercept": results._X.columns[const][0]} if const.any() else {})
    bse = results.bse.copy()
    bse.loc[se.index] = se.to_numpy()
    z = results.params.reindex(bse.index) / bse
    pvalues = pd.Series(2 * stats.t.sf(np.abs(z), results.df_resid), index=bse.index)
    return bse, pvalues


def _hac_kernel(results):
    """Adaptive triangular kernel over the k nearest firms (k = the weights' largest
    neighbour count), with each firm itself at weight 1: Kelejian & Prucha (2007)."""
    from libpysal.weights import Kernel

    from geocluster.units import to_metric

    data = results.data
    if not isinstance(data, gpd.GeoDataFrame):
        raise InputError("HAC standard errors need firm locations (a GeoDataFrame).")
    geom = to_metric(data[[data.geometry.name]]).geometry
    geom = geom if (geom.geom_type == "Point").all() else geom.centroid
    xy = np.column_stack([geom.x.to_numpy(), geom.y.to_numpy()])
    k = int(max(2, results.graph.cardinalities.max()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not fully connected": fine for HAC
        return Kernel(xy, k=k, function="triangular", fixed=False, diagonal=True)


def _tidy(rows, focus) -> tuple[pd.DataFrame, pd.Series]:
    """The table (row 0: the reference) and the seconds of each row's specification."""
    ref_rows = rows[0]
    records, seconds = [], []
    for number, row in enumerate(rows):
        if row["error"] is not None or "sample" not in row:
            same = pd.NA
        elif ref_rows["error"] is not None:
            same = pd.NA  # nothing to compare with
        else:
            same = bool(row.get("nobs") == ref_rows.get("nobs")
                        and row["sample"] == ref_rows["sample"])
        for term in focus:
            values = row["terms"].get(term, {})
            records.append(
                {"spec": number, **row["spec"], "reference": number == 0, "term": term,
                 **{k: values.get(k, np.nan) for k in _STAT_COLUMNS},
                 **{k: row.get(k, np.nan) for k in _FIT_COLUMNS},
                 "same_sample": same,
                 **{k: row.get(k, np.nan) for k in ("resid_moran_I", "resid_moran_p")},
                 "residual_autocorrelation": bool(row.get("residual_autocorrelation", False)),
                 "error": row["error"]}
            )
            seconds.append(row["seconds"])
    table = pd.DataFrame.from_records(records)
    table["nobs"] = table["nobs"].astype("Int64")
    table["same_sample"] = table["same_sample"].astype("boolean")
    timings = pd.Series(seconds, index=table.index, name="seconds", dtype=float)
    return table, timings


# --- cluster-map sensitivity ----------------------------------------------------------------


@dataclass
class SensitivityResult:
    """How much a cluster map changes across definitions (:func:`cluster_sensitivity`).

    Attributes
    ----------
    method : str
        ``"lisa"`` or ``"density"``.
    table : DataFrame
        One row per definition (the reference first): its settings, ``reference``
        (True for the reference definition), the number of HH units (or clusters and
        their area in km^2), and ``jaccard_vs_reference``, the Jaccard overlap with the
        reference definition. The overlap of two empty maps is undefined: NaN (shown as
        "n/a" by :meth:`summary` and :meth:`plot`), not 1.
    overlap : DataFrame
        Pairwise Jaccard overlap (shared HH units over units HH in either; or shared
        cluster area over the area of the union), labels on both axes; NaN where both
        maps are empty (also on the diagonal for an empty map).
    maps : dict
        Label -> the LISA result frame or the density-cluster polygons.
    seed : int, "generator" or None
        The seed given (``"generator"`` for a numpy Generator).
    reference : str
        The label of the reference definition.
    """

    method: str
    table: pd.DataFrame
    overlap: pd.DataFrame
    maps: dict
    seed: Any = None
    reference: str | None = None
    extent: Any = None

    def __repr__(self) -> str:
        off = self.overlap.to_numpy()[~np.eye(len(self.overlap), dtype=bool)]
        defined = off[np.isfinite(off)]
        low = _jaccard_text(float(defined.min())) if defined.size else "n/a"
        undefined = int((~np.isfinite(off)).sum() // 2)
        return (f"<SensitivityResult ({self.method}): {len(self.maps)} definitions, "
                f"lowest pairwise Jaccard {low}"
                + (f", {undefined} pairs undefined (both empty)" if undefined else "") + ">")

    def summary(self) -> pd.DataFrame:
        """One row per definition: its size, its overlap with the reference, in words.

        Returns
        -------
        DataFrame
            Indexed by label: ``reference`` (bool), ``hh_units`` (LISA) or ``clusters``
            and ``area_km2`` (density), ``jaccard_vs_reference`` (NaN when both maps
            are empty) and ``overlap_with_reference``, the same as text (``"0.67"`` or
            ``"n/a (no HH units in either map)"``). ``attrs["undefined"]`` counts the
            definitions whose overlap with the reference is undefined.
        """
        out = self.table.set_index("label").copy()
        what = "no HH units in either map" if self.method == "lisa" else "no clusters in either map"
        out["overlap_with_reference"] = [
            _jaccard_text(v) if np.isfinite(v) else f"n/a ({what})"
            for v in out["jaccard_vs_reference"].astype(float)
        ]
        out.attrs["undefined"] = int((~np.isfinite(out["jaccard_vs_reference"].astype(float))).sum())
        out.attrs["reference"] = self.reference
        return out

    def plot(self, *, columns: int = 3):
        """Small multiples: one panel per definition (HH units or cluster polygons).

        Each title gives the Jaccard overlap with the reference, ``n/a`` where both maps
        are empty.

        Parameters
        ----------
        columns
            Panels per row.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        from geocluster._base.plotting import LISA_COLORS

        labels = list(self.maps)
        ncols = min(columns, len(labels))
        nrows = int(np.ceil(len(labels) / ncols))
        fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
        jaccard = self.table.set_index("label")["jaccard_vs_reference"]
        for ax, label in zip(axes, labels, strict=False):
            frame = self.maps[label]
            jac = _jaccard_text(float(jaccard.loc[label]))
            tag = " (reference)" if label == self.reference else ""
            if self.method == "lisa":
                frame.plot(ax=ax, color=LISA_COLORS["ns"], linewidth=0)
                hh = frame[frame["lisa_cluster"] == "HH"]
                if len(hh):
                    hh.plot(ax=ax, color=LISA_COLORS["HH"], linewidth=0)
                ax.set_title(f"{label}{tag}\nHH units {len(hh)}, Jaccard {jac}", fontsize=9)
            else:
                if self.extent is not None:
                    self.extent.boundary.plot(ax=ax, color="#bbbbbb", linewidth=0.5)
                if len(frame):
                    frame.plot(ax=ax, color="#d7191c", alpha=0.8, linewidth=0)
                ax.set_title(f"{label}{tag}\n{len(frame)} clusters, Jaccard {jac}", fontsize=9)
            ax.set_axis_off()
        for ax in axes[len(labels):]:
            ax.set_visible(False)
        fig.suptitle("Cluster-map sensitivity (Jaccard overlap with the reference definition)")
        return fig

    def plot_overlap(self):
        """Heat map of the pairwise Jaccard overlaps; undefined pairs are blank, "n/a".

        Returns
        -------
        matplotlib.figure.Figure
            One cell per pair of definitions, coloured 0 (no overlap) to 1 (the same
            map) and labelled with the value; a pair of empty maps gets no colour.
        """
        from matplotlib.figure import Figure

        values = self.overlap.to_numpy(dtype=float)
        labels = [str(v) for v in self.overlap.index]
        size = 1.2 + 0.9 * len(labels)
        fig = Figure(figsize=(size + 1.5, size), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(np.ma.masked_invalid(values), vmin=0, vmax=1, cmap="viridis")
        ax.set_facecolor("white")
        for i, j in itertools.product(range(len(labels)), repeat=2):
            v = values[i, j]
            ax.text(j, i, _jaccard_text(v), ha="center", va="center", fontsize=8,
                    color="black" if not np.isfinite(v) or v > 0.6 else "white")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        fig.colorbar(image, ax=ax, label="Jaccard overlap")
        ax.set_title("Pairwise overlap of the cluster maps (n/a: both empty)", fontsize=9)
        return fig


def _jaccard_text(value: float) -> str:
    return f"{value:.2f}" if np.isfinite(value) else "n/a"


def cluster_sensitivity(
    data: gpd.GeoDataFrame,
    column: str | None = None,
    *,
    method: str = "lisa",
    weights: Sequence[str] = ("queen", "knn:6", "knn:10"),
    bandwidths: Sequence = ("cv",),
    levels: Sequence[float] = (0.95,),
    reference: str | Mapping | Sequence | None = None,
    permutations: int = 999,
    simulations: int = 99,
    alpha: float = 0.05,
    correction: str | None = "fdr",
    seed: int | np.random.Generator | None = None,
    **options: Any,
) -> SensitivityResult:
    """Overlap of cluster maps across weights specs (LISA) or bandwidths and levels (KDE).

    Parameters
    ----------
    data
        Areal units with ``column`` (``method="lisa"``) or firm points (``"density"``).
    column
        The variable for :func:`geocluster.local_moran` (LISA only).
    method
        ``"lisa"``: the HH units of ``local_moran`` under each ``weights`` spec.
        ``"density"``: the polygons of ``density_clusters`` for each bandwidth x level.
    weights, permutations, alpha, correction
        For LISA.
    bandwidths, levels, simulations
        For density clusters.
    reference
        The definition the others are compared with, normally the study's own: a
        weights spec for LISA (e.g. ``"queen"``), ``{"bandwidth": ..., "level": ...}``
        or a ``(bandwidth, level)`` pair for density clusters. Added to the
        alternatives when it is not among them; it comes first in the table. ``None``:
        the first definition.
    seed
        One seed for every definition (so differences come from the definitions).
    **options
        Passed on (e.g. ``isolates="drop"`` to ``local_moran``; ``subset=``,
        ``null=``, ``cell_size=`` to ``density_clusters``).

    Returns
    -------
    SensitivityResult
        The Jaccard overlap of two empty maps is undefined and reported as NaN.

    Examples
    --------
    >>> import geocluster as gc
    >>> columbus = gc.datasets.load_columbus()
    >>> sens = gc.cluster_sensitivity(columbus, "CRIME", weights=["queen", "rook", "knn:4"],
    ...                               permutations=99, correction=None, seed=1)
    >>> sens.overlap.shape
    (3, 3)
    """
    import geocluster as gc

    _check_seed(seed, "cluster_sensitivity: ")
    seed_int = int(np.random.default_rng(seed).integers(0, 2**31 - 1))
    _check_sensitivity_options(gc, method, options)
    if method == "lisa":
        if column is None:
            raise InputError("cluster_sensitivity(method='lisa') needs column=, the variable "
                             "of the LISA map (e.g. the units' location quotients).")
        weights = [weights] if isinstance(weights, str) else list(weights)
        if not weights:
            raise InputError("cluster_sensitivity: weights= is empty; give at least one "
                             "weights spec, e.g. ['queen', 'knn:6'].")
        if reference is not None:
            if not isinstance(reference, str):
                raise InputError(
                    f"cluster_sensitivity: reference={reference!r} must be a weights spec "
                    "string for method='lisa', e.g. 'queen' (the study's areal weights)."
                )
            weights = [reference] + [w for w in weights if w != reference]
        maps, rows, sets = {}, [], {}
        for spec in weights:
            result = gc.local_moran(data, column, weights=spec, permutations=permutations,
                                    alpha=alpha, correction=correction, seed=seed_int, **options)
            maps[spec] = result
            sets[spec] = set(result.index[result["lisa_cluster"] == "HH"])
            rows.append({"label": spec, "weights": spec, "hh_units": len(sets[spec])})
        overlap = _pairwise(list(maps), lambda a, b: _jaccard_sets(sets[a], sets[b]))
        extent = None
    elif method == "density":
        bandwidths = [bandwidths] if isinstance(bandwidths, (str, int, float)) else list(bandwidths)
        levels = [levels] if isinstance(levels, float) else list(levels)
        if not bandwidths or not levels:
            raise InputError("cluster_sensitivity: bandwidths= and levels= must not be empty; "
                             "give e.g. bandwidths=['scott', '25km'], levels=[0.95].")
        pairs = list(itertools.product(bandwidths, levels))
        if reference is not None:
            ref = _density_reference(reference)
            pairs = [ref] + [p for p in pairs if p != ref]
        maps, rows = {}, []
        for bw, level in pairs:
            label = f"bandwidth {bw}, level {level}"
            polys = gc.density_clusters(data, bandwidth=bw, level=level, simulations=simulations,
                                        seed=seed_int, **options)
            maps[label] = polys
            rows.append({"label": label, "bandwidth": bw, "level": level,
                         "clusters": len(polys),
                         "area_km2": float(polys.geometry.area.sum() / 1e6) if len(polys) else 0.0})
        crs = next(iter(maps.values())).crs
        overlap = _pairwise(list(maps), lambda a, b: _jaccard_area(maps[a], maps[b], crs))
        extent = None
    else:
        raise InputError(f"cluster_sensitivity: method={method!r} must be 'lisa' or 'density'.")
    table = pd.DataFrame(rows)
    table.insert(1, "reference", np.arange(len(table)) == 0)
    table["jaccard_vs_reference"] = overlap.iloc[0].to_numpy()
    return SensitivityResult(method=method, table=table, overlap=overlap, maps=maps,
                             seed=_seed_label(seed), reference=str(table["label"].iloc[0]),
                             extent=extent)


def _density_reference(reference) -> tuple:
    if isinstance(reference, Mapping):
        unknown = sorted(set(reference) - {"bandwidth", "level"})
        if unknown or set(reference) != {"bandwidth", "level"}:
            raise InputError(
                f"cluster_sensitivity: reference={dict(reference)!r} for method='density' needs "
                "exactly the keys 'bandwidth' and 'level', e.g. {'bandwidth': '25km', 'level': 0.95}."
            )
        return reference["bandwidth"], reference["level"]
    if isinstance(reference, Sequence) and not isinstance(reference, str) and len(reference) == 2:
        return tuple(reference)
    raise InputError(
        f"cluster_sensitivity: reference={reference!r} for method='density' must be "
        "{'bandwidth': ..., 'level': ...} or a (bandwidth, level) pair."
    )


def _check_sensitivity_options(gc, method: str, options: Mapping) -> None:
    """Refuse ``**options`` the underlying function does not take (or that are set here)."""
    import inspect

    targets = {"lisa": (gc.local_moran, {"gdf", "column", "weights", "permutations", "alpha",
                                         "correction", "seed"}),
               "density": (gc.density_clusters, {"points", "bandwidth", "level", "simulations",
                                                 "seed"})}
    if method not in targets or not options:
        return
    func, managed = targets[method]
    allowed = sorted(set(inspect.signature(func).parameters) - managed)
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise InputError(
            f"cluster_sensitivity(method={method!r}): unknown option(s) {bad}; "
            f"{func.__name__} options passed on are {allowed}."
        )


def _pairwise(labels, func) -> pd.DataFrame:
    """Symmetric matrix of ``func`` over label pairs; the diagonal is ``func(a, a)`` (1, or
    NaN for an empty map)."""
    values = np.full((len(labels), len(labels)), np.nan)
    for i, j in itertools.combinations_with_replacement(range(len(labels)), 2):
        values[i, j] = values[j, i] = func(labels[i], labels[j])
    return pd.DataFrame(values, index=labels, columns=labels)


def _jaccard_sets(a: set, b: set) -> float:
    """|a & b| / |a | b|; NaN when both are empty (0/0 is undefined, not a perfect match)."""
    union = a | b
    return float(len(a & b) / len(union)) if union else float("nan")


def _jaccard_area(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, crs) -> float:
    ua = a.to_crs(crs).geometry.union_all() if len(a) else None
    ub = b.to_crs(crs).geometry.union_all() if len(b) else None
    if ua is None and ub is None:
        return float("nan")  # two empty maps: undefined
    if ua is None or ub is None:
        return 0.0
    union = ua.union(ub).area
    return float(ua.intersection(ub).area / union) if union > 0 else float("nan")


def _seed_label(seed) -> int | str | None:
    """How a seed is recorded in results: the int, None, or ``"generator"``."""
    if seed is None or isinstance(seed, np.random.Generator):
        return None if seed is None else "generator"
    return int(seed)
