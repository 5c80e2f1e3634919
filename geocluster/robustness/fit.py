"""One specification of the sweep: fit it, read its focus terms, and tidy all the rows.

:func:`fit_one` fits one specification with :func:`geocluster.regress` (its own seed,
the sweep's ``missing``/``isolates`` policies) and returns a plain row (picklable, for
joblib); a failure is recorded in the row, not raised. :func:`tidy` turns the rows into the
table of :class:`~geocluster.robustness.result.RobustnessResult`.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import spreg
from libpysal.weights import Kernel
from scipy import stats

from geocluster._base.summary import CI_HIGH, CI_LOW, P_VALUE
from geocluster.errors import GeoclusterError, InputError, WeightsError
from geocluster.models.regress import regress
from geocluster.robustness.specs import FocusTerm
from geocluster.units import to_metric

__all__ = ["FitSettings", "fit_one", "sample_key", "tidy", "STAT_COLUMNS"]

#: The numbers of a focus term in the table.
STAT_COLUMNS = ("estimate", "std_error", CI_LOW, CI_HIGH, P_VALUE)
_FIT_COLUMNS = ("spatial_param", "loglik", "aic", "nobs")
_MORAN_COLUMNS = ("resid_moran_I", "resid_moran_p_value")


@dataclass(frozen=True)
class FitSettings:
    """What every fit of one sweep shares."""

    formula: str
    variable: str
    focus: tuple[FocusTerm, ...]
    alpha: float
    missing: Literal["raise", "drop"]
    isolates: Literal["raise", "drop", "keep"]


def fit_one(data: gpd.GeoDataFrame, spec: dict, columns: dict, graphs: dict,
            settings: FitSettings, seed: np.random.SeedSequence) -> dict:
    """Fit one specification; a row with its focus terms and fit statistics (or its error)."""
    start = time.perf_counter()
    row: dict[str, Any] = {"spec": spec, "error": None, "terms": {}}
    try:
        frame = data.copy()
        frame[settings.variable] = columns[spec["exposure"]]
        results = regress(
            settings.formula, frame, model=spec["model"], weights=graphs[spec["weights"]],
            method="ml" if spec["method"] == "ols" else spec["method"],
            robust="white" if spec["inference"] == "white" else None,
            isolates=settings.isolates, missing=settings.missing,
            seed=np.random.default_rng(seed),
        )
        stats_of = _coefficients(results, spec["inference"] == "hac", settings.alpha)
        for term in settings.focus:
            row["terms"][term.text] = _focus_value(results, term, stats_of, settings.alpha)
        row.update(_fit_stats(results, settings.alpha))
        row["sample"] = sample_key(data.index, results.data.index)
    except GeoclusterError as exc:
        row["error"] = _name_exposure(str(exc), spec["exposure"], settings.variable)
        if isinstance(exc, InputError | WeightsError):
            row["error_kind"] = "input"
    except Exception as exc:  # noqa: BLE001 - one failing specification must not stop the sweep
        row["error"] = f"{type(exc).__name__}: {exc}"
    row["seconds"] = time.perf_counter() - start
    return row


def sample_key(all_rows: pd.Index, used: pd.Index) -> str:
    """A fingerprint of the rows a fit used (positions in the data, sorted).

    Examples
    --------
    >>> rows = pd.Index(["a", "b", "c"])
    >>> sample_key(rows, rows), sample_key(rows, pd.Index(["c", "b", "a"]))
    ('all 3', 'all 3')
    """
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


def _coefficients(results, hac: bool, alpha: float) -> pd.DataFrame:
    """Estimate, standard error, p-value and CI of every coefficient (HAC ones for OLS)."""
    if hac and results.model == "ols":
        return _hac_coefficients(results, alpha)
    ci = results.conf_int(alpha)
    return pd.DataFrame({"estimate": results.params, "std_error": results.bse,
                         P_VALUE: results.pvalues, CI_LOW: ci[CI_LOW], CI_HIGH: ci[CI_HIGH]})


def _focus_value(results, term: FocusTerm, coefficients: pd.DataFrame, alpha: float) -> dict:
    if not term.is_effect:
        if term.text not in coefficients.index:
            raise InputError(
                f"unknown focus term {term.text!r}; the model's terms are "
                f"{list(results.params.index)} (or use an effect like 'slope:cluster|serial=1')."
            )
        return {k: float(coefficients.loc[term.text, k]) for k in STAT_COLUMNS}
    at = term.at if term.at is not None else float(np.median(results.data[term.variable]))
    effects = results.marginal_effects(term.variable, by=term.by, at=[at], effects=("direct",),
                                       alpha=alpha)
    chosen = effects[effects["group"].astype(str) == term.group]
    if chosen.empty:
        raise InputError(
            f"focus {term.text!r}: no group {term.group!r} in column {term.by!r}; groups are "
            f"{sorted(effects['group'].astype(str).unique())}."
        )
    first = chosen.iloc[0]
    return {k: float(first[k]) for k in STAT_COLUMNS}


def _fit_stats(results, alpha: float) -> dict:
    resid = np.asarray(results.resid, dtype=float)
    moran = esda.Moran(resid, results.graph, permutations=0)
    spatial = results.params.get("rho", results.params.get("lambda", np.nan))
    return {
        "spatial_param": float(spatial),
        "loglik": float(results.loglik),
        "aic": float(results.aic),
        "nobs": int(results.nobs),
        "resid_moran_I": float(moran.I),
        "resid_moran_p_value": float(moran.p_norm),
        "residual_autocorrelation": bool(results.model != "ols" and moran.p_norm <= alpha),
    }


def _hac_coefficients(results, alpha: float) -> pd.DataFrame:
    """Kelejian-Prucha spatial HAC standard errors for an OLS fit (spreg); t-based p and CI."""
    design = results.X
    X = design.to_numpy(dtype=float)
    const = np.all(X == X[:1], axis=0)
    if const.sum() != 1:
        raise InputError("HAC standard errors need a formula with an intercept.")
    fit = spreg.OLS(results.y.to_numpy(dtype=float).reshape(-1, 1), X[:, ~const], robust="hac",
                    gwk=_hac_kernel(results), sig2n_k=True)
    names = [design.columns[const][0]] + [c for c, k in zip(design.columns, const, strict=True)
                                          if not k]
    se = pd.Series(np.sqrt(np.diag(fit.vm)), index=names)
    bse = results.bse.copy()
    bse.loc[se.index] = se.to_numpy()
    params = results.params.reindex(bse.index)
    t = params / bse
    crit = stats.t.ppf(1 - alpha / 2, results.df_resid)
    return pd.DataFrame({"estimate": params, "std_error": bse,
                         P_VALUE: 2 * stats.t.sf(np.abs(t), results.df_resid),
                         CI_LOW: params - crit * bse, CI_HIGH: params + crit * bse})


def _hac_kernel(results) -> Kernel:
    """Adaptive triangular kernel over the k nearest firms (k = the weights' largest
    neighbour count), with each firm itself at weight 1: Kelejian & Prucha (2007)."""
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


def tidy(rows: list[dict], focus: tuple[FocusTerm, ...]) -> tuple[pd.DataFrame, pd.Series]:
    """The table (row 0: the reference) and the seconds of each row's specification."""
    ref = rows[0]
    records, seconds = [], []
    for number, row in enumerate(rows):
        if row["error"] is not None or "sample" not in row or ref["error"] is not None:
            same = pd.NA  # failed, or nothing to compare with
        else:
            same = bool(row.get("nobs") == ref.get("nobs") and row["sample"] == ref["sample"])
        for term in focus:
            values = row["terms"].get(term.text, {})
            records.append(
                {"spec": number, **row["spec"], "reference": number == 0, "term": term.text,
                 **{k: values.get(k, np.nan) for k in STAT_COLUMNS},
                 **{k: row.get(k, np.nan) for k in _FIT_COLUMNS},
                 "same_sample": same,
                 **{k: row.get(k, np.nan) for k in _MORAN_COLUMNS},
                 "residual_autocorrelation": bool(row.get("residual_autocorrelation", False)),
                 "error": row["error"]}
            )
            seconds.append(row["seconds"])
    table = pd.DataFrame.from_records(records)
    table["nobs"] = table["nobs"].astype("Int64")
    table["same_sample"] = table["same_sample"].astype("boolean")
    timings = pd.Series(seconds, index=table.index, name="seconds", dtype=float)
    return table, timings
