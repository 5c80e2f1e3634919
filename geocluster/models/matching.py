"""Matched samples of firms (nearest neighbour, as R's MatchIt ``method="nearest"``).

:func:`match` builds a matched sample (nearest neighbour on the propensity score or the
Mahalanobis distance, optionally within exact strata) and reports covariate balance the
way R's MatchIt does (:class:`~geocluster.models.match_result.MatchResult`). The
innovator types it usually matches on come from
:func:`~geocluster.models.innovators.classify_innovators`.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from statsmodels.discrete.discrete_model import Logit

from geocluster._base.validate import check_seed, make_rng, seed_label
from geocluster.errors import InputError, ModelError
from geocluster.models.innovators import (
    INNOVATOR_TYPES,
    check_columns,
    check_frame,
    classify_innovators,
    is_number,
    numeric_column,
)
from geocluster.models.match_result import MatchResult, balance_table

__all__ = ["INNOVATOR_TYPES", "classify_innovators", "match", "MatchResult"]

_ORDERS = ("largest", "smallest", "random", "data")


@dataclass(frozen=True)
class _Options:
    """The checked options of :func:`match`."""

    on: list[str]
    exact: list[str]
    distance: str
    ratio: int
    replace: bool
    caliper: float | None
    order: str


def _treatment_indicator(firms, treatment, control, type_column):
    """Return (treated bool Series, control bool Series)."""
    if treatment in firms.columns:
        if control is not None:
            raise InputError(
                f"control={control!r} only applies when treatment names a category of "
                f"{type_column!r}; {treatment!r} is a column, whose False/0 rows are the controls."
            )
        s = firms[treatment]
        if s.isna().any():
            raise InputError(
                f"treatment column {treatment!r} has {int(s.isna().sum())} missing value(s)."
            )
        if pd.api.types.is_bool_dtype(s):
            t = s.astype(bool)
        elif pd.api.types.is_numeric_dtype(s) and set(np.unique(s)) <= {0, 1}:
            t = s.astype(bool)
        else:
            raise InputError(
                f"treatment column {treatment!r} must be boolean or 0/1, got values like "
                f"{list(pd.unique(s)[:3])}. Pass a category instead, e.g. "
                f"treatment='serial' with type_column='innovator_type'."
            )
        return t, ~t
    if type_column in firms.columns:
        types = firms[type_column]
        values = set(pd.unique(types.dropna()))
        if treatment in values:
            t = types == treatment
            if control is None:
                c = ~t & types.notna()
            else:
                if control not in values:
                    raise InputError(
                        f"control={control!r} is not a value of {type_column!r} "
                        f"(values: {sorted(map(str, values))})."
                    )
                c = types == control
            return t.fillna(False).astype(bool), c.fillna(False).astype(bool)
    names = [str(c) for c in firms.columns]
    values = ([str(v) for v in pd.unique(firms[type_column].dropna())]
              if type_column in firms.columns else [])
    close = difflib.get_close_matches(str(treatment), names + values, n=3)
    where = (f"a value of column {type_column!r}" if type_column in firms.columns
             else f"a value of type_column={type_column!r} (not a column either)")
    raise InputError(
        f"treatment={treatment!r} is neither a column of the frame nor {where}"
        + (f" (did you mean {close}?)" if close else "")
        + f". Name a boolean/0-1 column (available columns: {names}) or run "
        "gc.classify_innovators(...) first and name a type such as 'serial'."
    )


def _logit_propensity(X: np.ndarray, t: np.ndarray, on: list[str]) -> np.ndarray:
    exog = np.column_stack([np.ones(len(t)), X])
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=Warning)
        try:
            fit = Logit(t.astype(float), exog).fit(disp=0, maxiter=200)
        except Exception as exc:  # PerfectSeparation, singular matrix, convergence
            raise ModelError(
                f"the propensity-score logit of treatment on {on} could not be estimated "
                f"({type(exc).__name__}: {exc}). Drop covariates that separate treated and "
                "controls perfectly or are collinear, or use distance='mahalanobis'."
            ) from exc
    return exog @ fit.params  # linear predictor = logit of the propensity score


def _greedy(
    dist_fn,
    treated: np.ndarray,
    controls: np.ndarray,
    *,
    ratio: int,
    replace: bool,
    caliper: float | None,
    tie_key: np.ndarray,
):
    """Greedy nearest-neighbour matching within one stratum.

    ``dist_fn(tp)`` gives the distances from treated position ``tp`` to ``controls``;
    ``treated`` is in matching order; returns a list of (treated_pos, control_pos, distance).
    Matching runs in ``ratio`` rounds (each treated unit gets its first control, then
    its second, ...), as MatchIt does.
    """
    pairs = []
    available = np.ones(len(controls), dtype=bool)
    tie_c = tie_key[controls]
    used_by: list[set[int]] = [set() for _ in treated]
    for _ in range(ratio):
        for i, tp in enumerate(treated):
            d = dist_fn(tp)
            ok = np.isfinite(d)
            if not replace:
                ok &= available
            if caliper is not None:
                ok &= d <= caliper
            if used_by[i]:
                ok[list(used_by[i])] = False
            if not ok.any():
                continue
            cand = np.flatnonzero(ok)
            dmin = d[cand].min()
            tied = cand[d[cand] <= dmin + 1e-12 * max(1.0, abs(dmin))]
            j = tied[np.argmin(tie_c[tied])]
            pairs.append((tp, controls[j], float(d[j])))
            used_by[i].add(j)
            if not replace:
                available[j] = False
    return pairs


def match(
    firms: pd.DataFrame,
    *,
    treatment: str = "serial",
    on: list[str],
    exact: list[str] | str | None = None,
    distance: Literal["propensity", "mahalanobis"] = "propensity",
    ratio: int = 1,
    replace: bool = False,
    caliper: float | None = None,
    order: Literal["largest", "smallest", "random", "data"] | None = None,
    control: str | None = None,
    type_column: str = "innovator_type",
    seed: int | np.random.Generator | None = None,
) -> MatchResult:
    """Nearest-neighbour matching of treated firms (e.g. serial innovators) to controls.

    The estimand is the effect on the treated (ATT), as in MatchIt's ``method="nearest"``:
    every treated firm gets up to ``ratio`` nearest controls.

    * ``distance="propensity"`` (default): a logit of the treatment on the ``on``
      covariates (statsmodels, with an intercept) gives each firm a propensity score;
      distances are absolute differences of its logit (the linear predictor).
    * ``distance="mahalanobis"``: distances on the ``on`` covariates scaled by their
      full-sample covariance matrix.

    Parameters
    ----------
    firms
        Firms, one per row. Not modified.
    treatment
        A boolean or 0/1 column (True = treated, False = control), or a value of
        ``type_column`` (e.g. ``"serial"`` after :func:`classify_innovators`), in which
        case the controls are the rows equal to ``control`` (default: all other rows
        with a known type; ``control="non-serial"`` compares small firms only).
    on
        Numeric covariates to match on (bool allowed). Missing values raise.
    exact
        Column(s) that must be equal within every matched set (e.g. ``["industry"]``):
        matching runs separately in each stratum; treated firms in a stratum without
        controls stay unmatched.
    distance
        ``"propensity"`` or ``"mahalanobis"``.
    ratio
        Controls per treated firm (matched in rounds: first one for every treated firm,
        then a second, ...).
    replace
        Whether a control may be matched to several treated firms. Default False
        (MatchIt's default): matching is greedy in ``order``.
    caliper
        Largest allowed distance, in standard deviations (full analysis sample) of the
        logit of the propensity score (0.2 is the common choice, Austin 2011). With
        ``distance="mahalanobis"`` the propensity score is still estimated for the
        caliper (MatchIt's ``mahvars`` practice). Treated firms without a control inside
        the caliper stay unmatched.
    order
        Order in which treated firms pick controls: ``"largest"`` propensity first
        (default with propensity scores, as MatchIt), ``"smallest"``, ``"random"``
        (uses ``seed``) or ``"data"`` (row order; default with Mahalanobis distance).
    control
        See ``treatment``.
    type_column
        Column holding innovator types (see ``treatment``).
    seed
        Int, Generator or SeedSequence for the random order and for breaking exact ties
        in distance (recorded with ``seed_label`` in ``options["seed"]``).

    Returns
    -------
    MatchResult
        ``.matched`` (matched rows with ``match_id`` and ``match_weight``), ``.pairs``,
        ``.balance`` (standardised mean differences and variance ratios before and
        after), ``.counts``, ``.summary()``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(0)
    >>> size = rng.normal(size=400)
    >>> firms = pd.DataFrame({"size": size, "serial": rng.random(400) < 1 / (1 + np.exp(1.5 - size))})
    >>> m = gc.match(firms, treatment="serial", on=["size"], caliper=0.2, seed=1)
    >>> bool(abs(m.balance.loc["size", "smd_after"]) < abs(m.balance.loc["size", "smd_before"]))
    True
    """
    check_frame(firms)
    check_seed(seed, "match")
    if not firms.index.is_unique:
        dups = firms.index[firms.index.duplicated()].unique()[:3].tolist()
        raise InputError(
            f"firms' index has duplicate labels (e.g. {dups}); matched pairs refer to firms by "
            "index. Use reset_index() or set_index() on a unique firm id column."
        )
    rng = make_rng(seed, "match")
    opt = _check_options(firms, on, exact, distance, ratio, replace, caliper, order)
    is_t, is_c = _treatment_indicator(firms, treatment, control, type_column)
    data, t, cov = _analysis_sample(firms, is_t, is_c, opt, treatment)
    X = cov.to_numpy(float)
    need_ps = (opt.distance == "propensity" or opt.caliper is not None
               or opt.order in ("largest", "smallest"))
    lp = _logit_propensity(X, t, opt.on) if need_ps else None
    cal = None if lp is None or opt.caliper is None else (
        float(opt.caliper) * float(np.std(lp, ddof=1)))
    make_dist = _distance_maker(opt, X, lp, cal)
    n = len(data)
    tie_key = rng.random(n)
    order_key = _order_key(opt.order, n, lp, rng)
    pairs = _match_strata(data, t, opt, make_dist, order_key, tie_key, cal)
    options = {
        "treatment": treatment, "control": control, "on": opt.on, "exact": opt.exact,
        "distance": opt.distance, "ratio": opt.ratio, "replace": opt.replace,
        "caliper": opt.caliper, "order": opt.order, "seed": seed_label(seed),
    }
    return _assemble(firms, data, t, cov, lp, pairs, order_key, options)


def _check_options(firms, on, exact, distance, ratio, replace, caliper, order) -> _Options:
    if isinstance(on, str):
        on = [on]
    on = list(on) if on is not None else []
    if not on:
        raise InputError("on must name at least one numeric covariate to match on.")
    exact = [] if exact is None else [exact] if isinstance(exact, str) else list(exact)
    if distance not in ("propensity", "mahalanobis"):
        raise InputError(f"distance must be 'propensity' or 'mahalanobis', got {distance!r}.")
    if not isinstance(ratio, int | np.integer) or isinstance(ratio, bool) or ratio < 1:
        raise InputError(f"ratio must be a positive integer, got {ratio!r}.")
    if caliper is not None and (not is_number(caliper) or not caliper > 0):
        raise InputError(f"caliper must be a positive number of SDs or None, got {caliper!r}.")
    if order is None:
        order = "largest" if distance == "propensity" else "data"
    if order not in _ORDERS:
        raise InputError(
            f"order must be one of 'largest', 'smallest', 'random', 'data', got {order!r}."
        )
    if order in ("largest", "smallest") and distance == "mahalanobis" and caliper is None:
        raise InputError(
            f"order={order!r} needs a propensity score; with distance='mahalanobis' use "
            "order='data' or 'random' (or give a caliper, which estimates one)."
        )
    check_columns(firms, on, "on")
    check_columns(firms, exact, "exact")
    return _Options(on=on, exact=exact, distance=distance, ratio=int(ratio),
                    replace=bool(replace), caliper=caliper, order=order)


def _analysis_sample(firms, is_t, is_c, opt: _Options, treatment):
    """Treated and control rows, the treatment flags and the (complete) covariates."""
    sample = (is_t | is_c).to_numpy()
    data = firms.loc[sample]
    t = is_t.to_numpy()[sample]
    cov = pd.DataFrame({c: numeric_column(data, c, "on") for c in opt.on}, index=data.index)
    bad = cov.isna().any(axis=1) | data[opt.exact].isna().any(axis=1)
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} row(s) have missing values in {opt.on + opt.exact}; matching "
            "needs complete covariates. Drop or impute those rows first."
        )
    if t.sum() == 0 or (~t).sum() == 0:
        raise InputError(
            f"matching needs treated and control firms; got {int(t.sum())} treated and "
            f"{int((~t).sum())} controls for treatment={treatment!r}."
        )
    return data, t, cov


def _distance_maker(opt: _Options, X: np.ndarray, lp, cal):
    """``make(control_positions) -> dist(treated_position) -> distances``."""
    if opt.distance == "propensity":

        def make_propensity(cps):
            lpc = lp[cps]
            return lambda tp: np.abs(lpc - lp[tp])

        return make_propensity
    S = np.atleast_2d(np.cov(X, rowvar=False))
    try:
        L = np.linalg.cholesky(np.linalg.inv(S))
    except np.linalg.LinAlgError as exc:
        raise ModelError(
            f"the covariance matrix of {opt.on} is singular (a covariate is constant or "
            "collinear with others); drop it for Mahalanobis matching."
        ) from exc
    Z = X @ L

    def make_mahalanobis(cps):
        Zc = Z[cps]
        lpc = lp[cps] if cal is not None else None

        def dist_fn(tp):
            diff = Zc - Z[tp]
            d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            if lpc is not None:
                d[np.abs(lpc - lp[tp]) > cal] = np.inf
            return d

        return dist_fn

    return make_mahalanobis


def _order_key(order: str, n: int, lp, rng: np.random.Generator) -> np.ndarray:
    """Rank of each unit in the order treated firms pick their controls."""
    if order == "random":
        return rng.permutation(n)
    if order == "data":
        return np.arange(n)
    signed = -lp if order == "largest" else lp
    return np.argsort(np.argsort(signed, kind="stable"), kind="stable")


def _match_strata(data, t, opt: _Options, make_dist, order_key, tie_key, cal) -> list:
    """Greedy matching within each exact stratum: (treated, control, distance) triples."""
    n = len(data)
    if opt.exact:
        strata = data.groupby(opt.exact, sort=False, dropna=False,
                              observed=True).ngroup().to_numpy()
    else:
        strata = np.zeros(n, dtype=int)
    pairs = []
    for s in pd.unique(strata):
        in_s = strata == s
        tr = np.flatnonzero(in_s & t)
        co = np.flatnonzero(in_s & ~t)
        if len(tr) == 0 or len(co) == 0:
            continue
        tr = tr[np.argsort(order_key[tr], kind="stable")]
        pairs += _greedy(
            make_dist(co), tr, co, ratio=opt.ratio, replace=opt.replace,
            caliper=cal if opt.distance == "propensity" else None, tie_key=tie_key,
        )
    if not pairs:
        raise ModelError(
            "no treated firm could be matched (no controls in its exact stratum or inside "
            "the caliper). Relax exact=, widen the caliper or check the treatment column."
        )
    return pairs


def _set_ids_and_weights(pairs, order_key, n):
    """Matched-set ids (global matching order) and MatchIt's ATT weights."""
    tr_pos = np.array([p[0] for p in pairs])
    co_pos = np.array([p[1] for p in pairs])
    matched_t = np.unique(tr_pos)
    set_order = matched_t[np.argsort(order_key[matched_t], kind="stable")]
    set_id = {int(p): k + 1 for k, p in enumerate(set_order)}
    pair_ids = np.array([set_id[int(p)] for p in tr_pos])
    # ATT weights (MatchIt): treated 1, control sum of 1/k over its sets, rescaled
    k_per_set = pd.Series(pair_ids).value_counts()
    w = np.zeros(n)
    w[matched_t] = 1.0
    np.add.at(w, co_pos, 1.0 / k_per_set.loc[pair_ids].to_numpy())
    used_c = np.unique(co_pos)
    w[used_c] *= len(used_c) / w[used_c].sum()
    unit_id = np.zeros(n, dtype=int)
    for p, c, i in sorted(zip(tr_pos, co_pos, pair_ids, strict=True), key=lambda z: z[2]):
        unit_id[p] = i
        if unit_id[c] == 0:
            unit_id[c] = i
    return tr_pos, co_pos, pair_ids, w, unit_id


def _assemble(firms, data, t, cov, lp, pairs, order_key, options) -> MatchResult:
    n = len(data)
    tr_pos, co_pos, pair_ids, w, unit_id = _set_ids_and_weights(pairs, order_key, n)
    keep = w > 0
    index = data.index
    matched = firms.loc[index[keep]].copy()
    matched["match_treated"] = t[keep]
    matched["match_id"] = unit_id[keep]
    matched["match_weight"] = w[keep]
    matched = matched.sort_values(
        ["match_id", "match_treated"], ascending=[True, False], kind="stable"
    )
    pairs_df = pd.DataFrame(
        {"treated": index[tr_pos], "control": index[co_pos], "match_id": pair_ids,
         "distance": np.array([p[2] for p in pairs])}
    ).sort_values(["match_id", "distance"], kind="stable", ignore_index=True)
    bal_cov = cov.copy()
    propensity = None
    if lp is not None:
        propensity = pd.Series(1 / (1 + np.exp(-lp)), index=index, name="propensity")
        bal_cov.insert(0, "distance", propensity.to_numpy())
    counts = pd.DataFrame(
        {
            "control": [int((~t).sum()), int((keep & ~t).sum()), int((~keep & ~t).sum())],
            "treated": [int(t.sum()), int((keep & t).sum()), int((~keep & t).sum())],
        },
        index=["all", "matched", "unmatched"],
    )
    return MatchResult(matched=matched, pairs=pairs_df, balance=balance_table(bal_cov, t, w),
                       counts=counts, propensity=propensity, options=options)
