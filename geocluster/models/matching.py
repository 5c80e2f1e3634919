"""Innovator typing and matched samples of firms.

:func:`classify_innovators` applies the SBA/CHI "small serial innovator" definition;
:func:`match` builds a matched sample (nearest neighbour on the propensity score or the
Mahalanobis distance, optionally within exact strata) and reports covariate balance the
way R's MatchIt does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from geocluster.errors import InputError, ModelError

__all__ = ["INNOVATOR_TYPES", "classify_innovators", "match", "MatchResult"]

#: Categories of :func:`classify_innovators`, in their (ordered) order.
INNOVATOR_TYPES = ("non-serial", "serial", "large")


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------
def _check_frame(firms, what: str = "firms") -> None:
    if not isinstance(firms, pd.DataFrame):
        raise InputError(
            f"{what} must be a pandas DataFrame or GeoDataFrame, got {type(firms).__name__}."
        )


def _check_columns(firms: pd.DataFrame, columns, option: str) -> None:
    bad = [c for c in columns if not isinstance(c, str | int)]
    if bad:
        raise InputError(f"{option}: {bad[0]!r} is not a column name; give column names (str).")
    missing = [c for c in columns if c not in firms.columns]
    if missing:
        import difflib

        names = [str(c) for c in firms.columns]
        close = difflib.get_close_matches(str(missing[0]), names, n=3)
        raise InputError(
            f"{option}: column(s) {missing} not found in the frame"
            + (f" (did you mean {close}?)" if close else "")
            + f". Name columns that exist; available columns: {list(firms.columns)}."
        )


def _numeric(firms: pd.DataFrame, column: str, option: str) -> pd.Series:
    s = firms[column]
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if not pd.api.types.is_numeric_dtype(s):
        raise InputError(
            f"{option}: column {column!r} must be numeric, got dtype {s.dtype}. "
            "Convert it, or use it in exact= if it is a category."
        )
    return s.astype(float)


# ---------------------------------------------------------------------------
# classify_innovators
# ---------------------------------------------------------------------------
def classify_innovators(
    firms: pd.DataFrame,
    *,
    patents: str = "patents_5y",
    employees: str = "employees",
    min_patents: float = 15,
    max_employees: float = 500,
    column: str = "innovator_type",
    missing: Literal["raise", "keep"] = "raise",
) -> pd.DataFrame:
    """Classify firms as ``serial``, ``non-serial`` or ``large`` innovators.

    The definition follows the U.S. Small Business Administration studies by CHI
    Research (Hicks & Hegde 2005; Breitzman & Hicks 2008) used by Libaers & Meyer
    (2011): a **small serial innovator** is a firm with at most ``max_employees``
    (500) employees that was granted at least ``min_patents`` (15) U.S. patents in
    the last five years. A small firm with fewer patents is ``non-serial`` (this
    includes small firms with no patent: the function assumes the frame holds a
    sample of innovating firms; filter on patents first if it does not), and a
    firm with more than ``max_employees`` employees is ``large`` whatever its
    patents.

    Parameters
    ----------
    firms
        Firms, one per row (DataFrame or GeoDataFrame). Not modified.
    patents
        Column with the number of patents granted in the last five years.
    employees
        Column with the number of employees.
    min_patents
        Fewest patents that make a small firm a serial innovator (inclusive).
    max_employees
        Most employees of a small firm (inclusive); above it a firm is ``large``.
    column
        Name of the new column.
    missing
        ``"raise"`` (default) raises :class:`~geocluster.errors.InputError` when a
        needed value is missing; ``"keep"`` leaves the type missing (NaN) for those
        firms (a firm with more than ``max_employees`` employees is ``large`` even if
        its patent count is missing).

    Returns
    -------
    DataFrame or GeoDataFrame
        A copy of ``firms`` (same index) with ``column`` as an ordered categorical
        with categories ``non-serial < serial < large``.

    Examples
    --------
    >>> import pandas as pd
    >>> import geocluster as gc
    >>> firms = pd.DataFrame({"patents_5y": [20, 3, 40, 15], "employees": [120, 80, 9000, 500]})
    >>> gc.classify_innovators(firms)["innovator_type"].tolist()
    ['serial', 'non-serial', 'large', 'serial']
    """
    _check_frame(firms)
    if missing not in ("raise", "keep"):
        raise InputError(f"missing must be 'raise' or 'keep', got {missing!r}.")
    if not isinstance(column, str) or not column:
        raise InputError(f"column must be a non-empty string, got {column!r}.")
    for name, value in (("min_patents", min_patents), ("max_employees", max_employees)):
        if not _is_number(value) or not np.isfinite(value) or value < 0:
            raise InputError(f"{name} must be a non-negative number, got {value!r}.")
    _check_columns(firms, [patents], "classify_innovators(patents=)")
    _check_columns(firms, [employees], "classify_innovators(employees=)")
    pat = _numeric(firms, patents, "patents")
    emp = _numeric(firms, employees, "employees")
    for name, s in ((patents, pat), (employees, emp)):
        if (s < 0).any():
            raise InputError(
                f"column {name!r} has {(s < 0).sum()} negative value(s); counts cannot be negative."
            )
    large = emp > max_employees
    small = emp <= max_employees
    undetermined = emp.isna() | (small & pat.isna())
    if undetermined.any() and missing == "raise":
        raise InputError(
            f"{int(undetermined.sum())} firm(s) have a missing {employees!r} or {patents!r} "
            "value, so their innovator type is unknown. Fill or drop those rows, or pass "
            "missing='keep' to leave their type missing."
        )
    labels = np.full(len(firms), None, dtype=object)
    labels[(small & (pat >= min_patents)).to_numpy()] = "serial"
    labels[(small & (pat < min_patents)).to_numpy()] = "non-serial"
    labels[large.to_numpy()] = "large"
    out = firms.copy()
    out[column] = pd.Categorical(labels, categories=list(INNOVATOR_TYPES), ordered=True)
    return out


# ---------------------------------------------------------------------------
# match
# ---------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class MatchResult:
    """A matched sample and its balance diagnostics (returned by :func:`match`).

    Attributes
    ----------
    matched
        The matched firms: one row per unit (treated or control) kept by the matching,
        input index and columns, plus ``match_treated`` (bool), ``match_id`` (the
        matched set: 1, 2, ... in matching order; with replacement a reused control
        carries the id of its first set) and ``match_weight`` (ATT weights as in
        MatchIt: 1 for treated units; for controls the sum over their sets of one over
        the set's number of controls, rescaled to sum to the number of matched controls).
    pairs
        One row per (treated, control) pair: ``treated``, ``control`` (index labels),
        ``match_id`` and ``distance``.
    balance
        Per covariate (and ``distance``, the propensity score, when estimated): means of
        treated and controls before and after matching, standardised mean differences
        (treated minus control over the treated units' standard deviation in the full
        sample, MatchIt's ATT convention) and variance ratios (treated over control).
    counts
        Units by group: all, matched, unmatched (including those dropped by the caliper).
    propensity
        Estimated propensity score for every unit of the analysis sample (None with
        ``distance="mahalanobis"`` and no caliper).
    options
        The settings used, including the seed.
    """

    matched: pd.DataFrame
    pairs: pd.DataFrame
    balance: pd.DataFrame
    counts: pd.DataFrame
    propensity: pd.Series | None
    options: dict = field(default_factory=dict)

    @property
    def max_smd(self) -> tuple[float, float]:
        """Largest absolute SMD over the covariates ``(before, after)``."""
        b = self.balance.drop(index="distance", errors="ignore")
        return float(b["smd_before"].abs().max()), float(b["smd_after"].abs().max())

    def __repr__(self) -> str:
        o = self.options
        n_t = int(self.counts.loc["matched", "treated"])
        n_all = int(self.counts.loc["all", "treated"])
        n_c = int(self.counts.loc["matched", "control"])
        dist = "logit propensity score" if o["distance"] == "propensity" else "Mahalanobis distance"
        cal = "" if o["caliper"] is None else f", caliper {o['caliper']:g} SD"
        rep = "with" if o["replace"] else "without"
        before, after = self.max_smd
        return (
            f"<MatchResult: {n_t} of {n_all} treated matched to {n_c} controls "
            f"(nearest neighbour on {dist}, ratio {o['ratio']}, {rep} replacement{cal}); "
            f"max |SMD| {before:.3f} -> {after:.3f}>"
        )

    def summary(self) -> str:
        """Sample sizes and the balance table as text (MatchIt's ``summary()`` layout)."""
        cols = [
            "mean_treated_before",
            "mean_control_before",
            "smd_before",
            "mean_treated_after",
            "mean_control_after",
            "smd_after",
            "var_ratio_after",
        ]
        with pd.option_context("display.width", 120, "display.max_columns", 20):
            return (
                f"{self!r}\n\nSample sizes:\n{self.counts.to_string()}\n\n"
                f"Balance (SMD = standardised mean difference):\n"
                f"{self.balance[cols].round(4).to_string()}"
            )


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
    import difflib

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
    from statsmodels.discrete.discrete_model import Logit

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


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    sw = w.sum()
    if sw <= 0:
        return np.nan, np.nan
    m = float((w * x).sum() / sw)
    denom = sw - (w**2).sum() / sw
    v = float((w * (x - m) ** 2).sum() / denom) if denom > 0 else np.nan
    return m, v


def _balance(cov: pd.DataFrame, t: np.ndarray, w_after: np.ndarray) -> pd.DataFrame:
    rows = []
    ones = np.ones(len(t))
    for name in cov.columns:
        x = cov[name].to_numpy(float)
        mt_b, vt_b = _wmean_var(x[t], ones[t])
        mc_b, vc_b = _wmean_var(x[~t], ones[~t])
        keep = w_after > 0
        mt_a, vt_a = _wmean_var(x[t & keep], w_after[t & keep])
        mc_a, vc_a = _wmean_var(x[~t & keep], w_after[~t & keep])
        sd = np.sqrt(vt_b) if vt_b > 0 else np.sqrt((vt_b + vc_b) / 2)
        sd = sd if sd > 0 else np.nan
        rows.append(
            {
                "covariate": name,
                "mean_treated_before": mt_b,
                "mean_control_before": mc_b,
                "smd_before": (mt_b - mc_b) / sd,
                "var_ratio_before": vt_b / vc_b if vc_b > 0 else np.nan,
                "mean_treated_after": mt_a,
                "mean_control_after": mc_a,
                "smd_after": (mt_a - mc_a) / sd,
                "var_ratio_after": vt_a / vc_a if vc_a > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("covariate")


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
    used_by = [set() for _ in treated]
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
        Int or Generator for the random order and for breaking exact ties in distance.

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
    _check_frame(firms)
    _check_seed(seed)
    if not firms.index.is_unique:
        dups = firms.index[firms.index.duplicated()].unique()[:3].tolist()
        raise InputError(
            f"firms' index has duplicate labels (e.g. {dups}); matched pairs refer to firms by "
            "index. Use reset_index() or set_index() on a unique firm id column."
        )
    rng = np.random.default_rng(seed)
    if isinstance(on, str):
        on = [on]
    on = list(on) if on is not None else []
    if not on:
        raise InputError("on must name at least one numeric covariate to match on.")
    if exact is None:
        exact = []
    elif isinstance(exact, str):
        exact = [exact]
    exact = list(exact)
    if distance not in ("propensity", "mahalanobis"):
        raise InputError(f"distance must be 'propensity' or 'mahalanobis', got {distance!r}.")
    if not isinstance(ratio, int | np.integer) or isinstance(ratio, bool) or ratio < 1:
        raise InputError(f"ratio must be a positive integer, got {ratio!r}.")
    if caliper is not None and (not _is_number(caliper) or not caliper > 0):
        raise InputError(f"caliper must be a positive number of SDs or None, got {caliper!r}.")
    if order is None:
        order = "largest" if distance == "propensity" else "data"
    if order not in ("largest", "smallest", "random", "data"):
        raise InputError(
            f"order must be one of 'largest', 'smallest', 'random', 'data', got {order!r}."
        )
    if order in ("largest", "smallest") and distance == "mahalanobis" and caliper is None:
        raise InputError(
            f"order={order!r} needs a propensity score; with distance='mahalanobis' use "
            "order='data' or 'random' (or give a caliper, which estimates one)."
        )
    _check_columns(firms, on, "on")
    _check_columns(firms, exact, "exact")
    is_t, is_c = _treatment_indicator(firms, treatment, control, type_column)

    sample = (is_t | is_c).to_numpy()
    data = firms.loc[sample]
    t = is_t.to_numpy()[sample]
    cov = pd.DataFrame({c: _numeric(data, c, "on") for c in on}, index=data.index)
    bad = cov.isna().any(axis=1) | data[exact].isna().any(axis=1)
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} row(s) have missing values in {on + exact}; matching needs "
            "complete covariates. Drop or impute those rows first."
        )
    if t.sum() == 0 or (~t).sum() == 0:
        raise InputError(
            f"matching needs treated and control firms; got {int(t.sum())} treated and "
            f"{int((~t).sum())} controls for treatment={treatment!r}."
        )
    X = cov.to_numpy(float)

    need_ps = distance == "propensity" or caliper is not None or order in ("largest", "smallest")
    lp = _logit_propensity(X, t, on) if need_ps else None
    cal = None
    if caliper is not None:
        cal = float(caliper) * float(np.std(lp, ddof=1))
    if distance == "propensity":

        def make_dist(cps):
            lpc = lp[cps]

            def dist_fn(tp):
                return np.abs(lpc - lp[tp])

            return dist_fn

    else:
        S = np.atleast_2d(np.cov(X, rowvar=False))
        try:
            L = np.linalg.cholesky(np.linalg.inv(S))
        except np.linalg.LinAlgError as exc:
            raise ModelError(
                f"the covariance matrix of {on} is singular (a covariate is constant or "
                "collinear with others); drop it for Mahalanobis matching."
            ) from exc
        Z = X @ L

        def make_dist(cps):
            Zc = Z[cps]
            lpc = lp[cps] if cal is not None else None

            def dist_fn(tp):
                diff = Zc - Z[tp]
                d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
                if lpc is not None:
                    d[np.abs(lpc - lp[tp]) > cal] = np.inf
                return d

            return dist_fn

    n = len(data)
    tie_key = rng.random(n)
    if order == "random":
        order_key = rng.permutation(n)
    elif order == "data":
        order_key = np.arange(n)
    elif order == "largest":
        order_key = np.argsort(np.argsort(-lp, kind="stable"), kind="stable")
    else:
        order_key = np.argsort(np.argsort(lp, kind="stable"), kind="stable")

    if exact:
        strata = data.groupby(exact, sort=False, dropna=False, observed=True).ngroup().to_numpy()
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
        stratum_cal = cal if distance == "propensity" else None
        pairs += _greedy(
            make_dist(co),
            tr,
            co,
            ratio=ratio,
            replace=replace,
            caliper=stratum_cal,
            tie_key=tie_key,
        )
    if not pairs:
        raise ModelError(
            "no treated firm could be matched (no controls in its exact stratum or inside "
            "the caliper). Relax exact=, widen the caliper or check the treatment column."
        )
    # set ids in the global matching order of the treated units
    tr_pos = np.array([p[0] for p in pairs])
    co_pos = np.array([p[1] for p in pairs])
    dists = np.array([p[2] for p in pairs])
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
        {
            "treated": index[tr_pos],
            "control": index[co_pos],
            "match_id": pair_ids,
            "distance": dists,
        }
    ).sort_values(["match_id", "distance"], kind="stable", ignore_index=True)

    bal_cov = cov.copy()
    propensity = None
    if lp is not None:
        propensity = pd.Series(1 / (1 + np.exp(-lp)), index=index, name="propensity")
        bal_cov.insert(0, "distance", propensity.to_numpy())
    balance = _balance(bal_cov, t, w)
    counts = pd.DataFrame(
        {
            "control": [int((~t).sum()), int((keep & ~t).sum()), int((~keep & ~t).sum())],
            "treated": [int(t.sum()), int((keep & t).sum()), int((~keep & t).sum())],
        },
        index=["all", "matched", "unmatched"],
    )
    options = {
        "treatment": treatment,
        "control": control,
        "on": on,
        "exact": exact,
        "distance": distance,
        "ratio": int(ratio),
        "replace": bool(replace),
        "caliper": caliper,
        "order": order,
        "seed": seed,
    }
    return MatchResult(
        matched=matched,
        pairs=pairs_df,
        balance=balance,
        counts=counts,
        propensity=propensity,
        options=options,
    )


def _check_seed(seed) -> None:
    """Refuse a seed ``np.random.default_rng`` would reject, with a geocluster error."""
    ok = seed is None or isinstance(seed, np.random.Generator) or (
        isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0
    )
    if not ok:
        raise InputError(f"seed={seed!r} must be None, a non-negative int or a numpy Generator.")


def _is_number(value) -> bool:
    """A real number (not a bool, string or array)."""
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
