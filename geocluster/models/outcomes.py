"""Non-spatial baselines for count and share outcomes.

Internationalisation has several faces: a binary "exports at all", the **number of
foreign markets** served (a count) and the **export intensity** (a share of sales in
[0, 1]). :func:`count_model` (Poisson, negative binomial) and :func:`share_model`
(Papke-Wooldridge fractional logit) fit them with statsmodels, from the same formula
that :func:`geocluster.regress` takes, built with formulaic so the column names match.

When to prefer the spatial lag model
------------------------------------
These baselines respect the nature of the outcome (non-negative integers, shares
bounded by 0 and 1) but treat firms as independent: they model no spatial dependence.
Prefer ``gc.regress(..., model="lag")`` when the question is about spillovers in the
outcome itself (a firm's exporting depends on its neighbours' exporting, so effects
carry a spatial multiplier) or when residual diagnostics (Moran's I of residuals,
LM-lag) show spatial dependence; prefer these baselines when the count or fractional
nature dominates (many zeros, small counts, shares piled at 0 or 1), and report both
when they disagree. Clustering in the data can also be handled without a spatial model
by cluster-robust errors (``cov_type="cluster"``, ``groups=`` a region column).
"""

from __future__ import annotations

import warnings
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.errors import InputError, ModelError

__all__ = ["count_model", "share_model", "OutcomeResults"]


class OutcomeResults:
    """A fitted count or share model (thin wrapper of a statsmodels results object).

    Attributes
    ----------
    params, bse, pvalues, tvalues : pandas.Series
        Coefficients (named like the formulaic design columns), standard errors,
        p-values and z-statistics. The negative binomial has an extra ``alpha``
        (overdispersion: Var(y) = mu + alpha * mu**2).
    nobs : int
        Number of firms used.
    family, formula, cov_type : str
    model, link : str
        ``"glm"`` and ``"log"`` (counts) or ``"logit"`` (shares), for
        :mod:`geocluster.models.effects`.
    data : DataFrame
        The rows used (without geometry).
    sm_results
        The statsmodels results object (for everything else: ``predict``,
        ``get_margeff`` on discrete models, ...).
    """

    model = "glm"

    def __init__(
        self,
        sm_results,
        *,
        family: str,
        formula: str,
        cov_type: str,
        names,
        model_spec,
        yname,
        link: str,
        data: pd.DataFrame,
    ):
        self.sm_results = sm_results
        self.link = link
        self.data = data
        self.family = family
        self.formula = formula
        self.cov_type = cov_type
        self.model_spec = model_spec
        self.endog_name = yname
        names = list(names)
        self.params = pd.Series(np.asarray(sm_results.params), index=names, name="params")
        self.bse = pd.Series(np.asarray(sm_results.bse), index=names, name="bse")
        self.pvalues = pd.Series(np.asarray(sm_results.pvalues), index=names, name="pvalues")
        self.tvalues = pd.Series(np.asarray(sm_results.tvalues), index=names, name="z")
        self.nobs = int(sm_results.nobs)
        self.llf = float(sm_results.llf)
        self.aic = float(sm_results.aic)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals as a DataFrame with columns ``lower`` and ``upper``."""
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise InputError(f"alpha={alpha!r} must be a number between 0 and 1, e.g. 0.05.")
        ci = np.asarray(self.sm_results.conf_int(alpha=alpha))
        return pd.DataFrame(ci, index=self.params.index, columns=["lower", "upper"])

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the estimates (named rows and columns)."""
        cov = np.asarray(self.sm_results.cov_params())
        return pd.DataFrame(cov, index=self.params.index, columns=self.params.index)

    def summary(self):
        """The statsmodels summary, with geocluster's column names."""
        return self.sm_results.summary(yname=self.endog_name, xname=list(self.params.index))

    # -- effects (geocluster.models.effects, on the response scale) --------------------
    def marginal_effects(self, variable: str, by: str | None = None, at=None, **kwargs):
        """Slope of the expected outcome in ``variable`` by group (response scale); see
        :func:`geocluster.models.effects.marginal_effects`."""
        from geocluster.models import effects

        return effects.marginal_effects(self, variable, by=by, at=at, **kwargs)

    def turning_point(self, variable: str, by: str | None = None, **kwargs):
        """Turning point of a quadratic in ``variable`` (of the linear predictor, hence of
        the expected outcome: the link is monotone); see
        :func:`geocluster.models.effects.turning_point`."""
        from geocluster.models import effects

        return effects.turning_point(self, variable, by=by, **kwargs)

    def u_test(self, variable: str, by: str | None = None, **kwargs):
        """Lind & Mehlum U-test on the linear predictor; see
        :func:`geocluster.models.effects.u_test`."""
        from geocluster.models import effects

        return effects.u_test(self, variable, by=by, **kwargs)

    def plot_effects(self, variable: str, by: str | None = None, **kwargs):
        """Expected outcome over ``variable`` by group with bands; see
        :func:`geocluster.models.effects.plot_effects`."""
        from geocluster.models import effects

        return effects.plot_effects(self, variable, by=by, **kwargs)

    def __repr__(self) -> str:
        return (
            f"<OutcomeResults: {self.family}, {self.formula!r}, n={self.nobs}, "
            f"{len(self.params)} parameters, log-likelihood {self.llf:.3f}, cov_type={self.cov_type}>"
        )


def _design(formula: str, data: pd.DataFrame):
    from formulaic import model_matrix

    if not isinstance(formula, str) or "~" not in formula:
        raise InputError(f"formula must be a string like 'y ~ x1 + x2', got {formula!r}.")
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if isinstance(data, gpd.GeoDataFrame) and data._geometry_column_name in data.columns:
        frame = pd.DataFrame(data.drop(columns=data._geometry_column_name))
    else:
        frame = pd.DataFrame(data)
    if len(frame) == 0:
        raise InputError(f"data are empty (0 rows); the formula {formula!r} has nothing to fit.")
    from geocluster.models._design import check_formula_columns, formulaic_message, parse_formula

    parsed = parse_formula(formula)  # a syntax error: ModelError naming the position
    check_formula_columns(formula, parsed, set(map(str, frame.columns)))
    try:
        mm = model_matrix(formula, frame, na_action="raise")
    except Exception as exc:
        msg = formulaic_message(exc)
        if any(word in msg.lower() for word in ("missing", "nan", "null")):
            raise InputError(
                f"the formula {formula!r} uses columns with missing values; geocluster does "
                f"not drop rows silently. Drop or impute them first ({msg})"
            ) from exc
        raise InputError(f"the formula {formula!r} cannot be built from the data: {msg}") from exc
    y = np.asarray(mm.lhs, dtype=float)
    if y.ndim == 2:
        if y.shape[1] != 1:
            raise InputError(
                f"the formula {formula!r} must have exactly one numeric outcome on the left; "
                f"it expands to {y.shape[1]} columns ({', '.join(map(str, mm.lhs.columns[:5]))}"
                f"{', ...' if y.shape[1] > 5 else ''}): is the outcome a text column?"
            )
        y = y[:, 0]
    X = mm.rhs
    from geocluster.models._design import check_full_rank

    check_full_rank(pd.DataFrame(np.asarray(X, dtype=float), index=frame.index,
                                 columns=list(X.columns)), what=f"the design of {formula!r}")
    return (
        y,
        np.asarray(X, dtype=float),
        list(X.columns),
        X.model_spec,
        str(mm.lhs.columns[0]),
        frame,
    )


def _fit_kwargs(cov_type: str, groups, data: pd.DataFrame) -> dict:
    if groups is not None and cov_type != "cluster":
        raise InputError(
            f"groups={groups!r} is only used with cov_type='cluster' (got cov_type="
            f"{cov_type!r}); pass cov_type='cluster' for cluster-robust errors, or drop groups=."
        )
    if cov_type == "cluster":
        if groups is None:
            raise InputError("cov_type='cluster' needs groups= (a column name of data).")
        if not isinstance(groups, str) or groups not in data.columns:
            import difflib

            close = difflib.get_close_matches(str(groups), [str(c) for c in data.columns], n=3)
            raise InputError(
                f"groups column {groups!r} not found in data"
                + (f" (did you mean {close}?)" if close else "")
                + f"; name one of the columns available: {[str(c) for c in data.columns]}."
            )
        g = pd.factorize(data[groups])[0]
        if (g < 0).any():
            raise InputError(
                f"groups column {groups!r} has {int((g < 0).sum())} missing values; fill or "
                "drop those rows, or cluster on another column."
            )
        return {"cov_type": "cluster", "cov_kwds": {"groups": g}}
    if cov_type not in ("nonrobust", "HC0", "HC1", "HC2", "HC3"):
        raise InputError(
            f"cov_type must be one of 'nonrobust', 'HC0', 'HC1', 'HC2', 'HC3', 'cluster', "
            f"got {cov_type!r}."
        )
    return {"cov_type": cov_type}


def _fit(make, fit_kwargs, what: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=RuntimeWarning)
        try:
            from statsmodels.tools.sm_exceptions import ConvergenceWarning

            warnings.simplefilter("error", category=ConvergenceWarning)
            res = make().fit(**fit_kwargs)
        except (np.linalg.LinAlgError, RuntimeWarning, ValueError, Warning) as exc:
            raise ModelError(
                f"the {what} did not converge or could not be estimated "
                f"({type(exc).__name__}: {exc}). Check for collinear covariates, "
                "separation or outcomes with no variation."
            ) from exc
    if not np.all(np.isfinite(np.asarray(res.params))):
        raise ModelError(f"the {what} returned non-finite estimates.")
    return res


def count_model(
    formula: str,
    data: pd.DataFrame,
    *,
    family: Literal["poisson", "negbin"] = "poisson",
    cov_type: str = "HC1",
    groups: str | None = None,
) -> OutcomeResults:
    """Poisson or negative binomial regression of a count (e.g. foreign markets served).

    A non-spatial baseline beside :func:`geocluster.regress`, with the same formula
    syntax (formulaic: ``C(industry)``, ``I(cluster**2)``, ``cluster:serial``, ...).

    * ``family="poisson"``: statsmodels GLM with log link. With robust standard errors
      (the default ``cov_type="HC1"``) it is the Poisson quasi-ML estimator, consistent
      for E[y|x] = exp(x'b) whatever the dispersion, so non-integer non-negative outcomes
      are allowed.
    * ``family="negbin"``: NB2 negative binomial by maximum likelihood (statsmodels
      ``NegativeBinomial``), Var(y) = mu + alpha mu^2; ``alpha`` is reported as the last
      parameter. Needs integer counts.

    Coefficients are semi-elasticities: a one-unit increase of a covariate multiplies the
    expected count by ``exp(b)``.

    **When to prefer the spatial lag model.** These models treat firms as independent.
    If the outcome itself spills over between nearby firms (neighbours' exporting raises a
    firm's exporting), or residuals show spatial autocorrelation, use
    ``gc.regress(..., model="lag")``; if the count nature dominates (many zeros, small
    counts), this baseline is the better-specified model. Report both when they disagree.
    ``cov_type="cluster"`` with ``groups=`` a region column gives errors robust to
    dependence within regions without modelling it.

    Parameters
    ----------
    formula
        ``"outcome ~ covariates"``; the outcome must be a non-negative count.
    data
        Firms (DataFrame or GeoDataFrame; the geometry is ignored). Missing values in
        the formula's columns raise :class:`~geocluster.errors.InputError` (no silent
        dropping).
    family
        ``"poisson"`` or ``"negbin"``.
    cov_type
        ``"HC1"`` (default), ``"HC0"``, ``"HC2"``, ``"HC3"``, ``"nonrobust"`` or
        ``"cluster"`` (with ``groups``).
    groups
        Column of ``data`` with cluster ids, for ``cov_type="cluster"``.

    Returns
    -------
    OutcomeResults
        ``params``, ``bse``, ``pvalues``, ``conf_int()``, ``summary()``, ``sm_results``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=500)})
    >>> df["markets"] = rng.poisson(np.exp(0.5 + 0.8 * df["x"]))
    >>> res = gc.count_model("markets ~ x", df)
    >>> res.params.round(1).tolist()
    [0.5, 0.8]
    """
    if family not in ("poisson", "negbin"):
        raise InputError(f"family must be 'poisson' or 'negbin', got {family!r}.")
    y, X, names, spec, yname, frame = _design(formula, data)
    if np.any(y < 0):
        raise InputError(
            f"the outcome {yname!r} has {int((y < 0).sum())} negative value(s); a count "
            "model needs non-negative outcomes."
        )
    kwargs = _fit_kwargs(cov_type, groups, data)
    if family == "poisson":
        import statsmodels.api as sm

        res = _fit(lambda: sm.GLM(y, X, family=sm.families.Poisson()), kwargs, "Poisson regression")
    else:
        if np.any(y != np.round(y)):
            raise InputError(
                f"the outcome {yname!r} has non-integer values; the negative binomial needs "
                "counts (use family='poisson', a quasi-likelihood, for non-integer outcomes)."
            )
        from statsmodels.discrete.discrete_model import NegativeBinomial

        res = _fit(
            lambda: NegativeBinomial(y, X, loglike_method="nb2"),
            {**kwargs, "disp": 0, "maxiter": 500},
            "negative binomial regression",
        )
        names = names + ["alpha"]
    return OutcomeResults(
        res,
        family=family,
        formula=formula,
        cov_type=cov_type,
        names=names,
        model_spec=spec,
        yname=yname,
        link="log",
        data=frame,
    )


def share_model(
    formula: str,
    data: pd.DataFrame,
    *,
    cov_type: str = "HC0",
    groups: str | None = None,
) -> OutcomeResults:
    """Fractional logit of a share in [0, 1] (e.g. export intensity), Papke & Wooldridge (1996).

    Quasi-maximum likelihood with the Bernoulli log-likelihood and a logit link
    (statsmodels GLM, Binomial family) and robust sandwich standard errors: consistent for
    E[y|x] = 1 / (1 + exp(-x'b)) without assuming a distribution, and it keeps exact 0s
    and 1s (no log-odds transform of the outcome is needed).

    **When to prefer the spatial lag model.** This baseline respects the bounded nature
    of the share but treats firms as independent. If export intensity spills over between
    nearby firms, or residuals are spatially autocorrelated, use
    ``gc.regress(..., model="lag")`` (a linear model of the share); if many shares sit at
    or near 0 and 1, the fractional logit is the better-specified model. Report both when
    they disagree, or use ``cov_type="cluster"`` with ``groups=`` a region column.

    Parameters
    ----------
    formula
        ``"share ~ covariates"``; the outcome must lie in [0, 1].
    data
        Firms (DataFrame or GeoDataFrame). Missing values raise.
    cov_type
        ``"HC0"`` (default, Papke-Wooldridge), ``"HC1"``, ``"HC2"``, ``"HC3"``,
        ``"nonrobust"`` or ``"cluster"`` (with ``groups``).
    groups
        Column with cluster ids, for ``cov_type="cluster"``.

    Returns
    -------
    OutcomeResults

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=2000)})
    >>> p = 1 / (1 + np.exp(-(-1 + 0.5 * df["x"])))
    >>> df["share"] = rng.binomial(20, p) / 20  # exports / sales, some exact zeros
    >>> gc.share_model("share ~ x", df).params.round(1).tolist()
    [-1.0, 0.5]
    """
    y, X, names, spec, yname, frame = _design(formula, data)
    if np.any((y < 0) | (y > 1)):
        raise InputError(
            f"the outcome {yname!r} has {int(((y < 0) | (y > 1)).sum())} value(s) outside "
            "[0, 1]; the fractional logit needs shares (divide percentages by 100)."
        )
    import statsmodels.api as sm

    kwargs = _fit_kwargs(cov_type, groups, data)
    res = _fit(
        lambda: sm.GLM(y, X, family=sm.families.Binomial(link=sm.families.links.Logit())),
        kwargs,
        "fractional logit",
    )
    return OutcomeResults(
        res,
        family="fractional logit",
        formula=formula,
        cov_type=cov_type,
        names=names,
        model_spec=spec,
        yname=yname,
        link="logit",
        data=frame,
    )
