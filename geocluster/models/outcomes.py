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

import difflib
import warnings
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import statsmodels.api as sm
from formulaic.utils.context import capture_context
from statsmodels.discrete.discrete_model import NegativeBinomial
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from geocluster._base.summary import Summary, format_number
from geocluster._base.validate import check_alpha
from geocluster.errors import InputError, ModelError
from geocluster.models._design import Design, build_design, check_full_rank, warn_dropped
from geocluster.models.base import ModelResult
from geocluster.models.protocol import EffectsInputs

__all__ = ["count_model", "share_model", "OutcomeResult"]


class OutcomeResult(ModelResult):
    """A fitted count or share model (a statsmodels fit in geocluster's results protocol).

    Attributes
    ----------
    params, bse, pvalues, tvalues : pandas.Series
        Coefficients (named like the formulaic design columns; Series name
        ``"estimate"``), standard errors (``"std_error"``), p-values (``"p_value"``) and
        z-statistics (``"z"``). The negative binomial has an extra ``alpha``
        (overdispersion: Var(y) = mu + alpha * mu**2).
    nobs : int
        Number of firms used.
    family, formula, cov_type : str
    model, link : str
        ``"glm"`` and ``"log"`` (counts) or ``"logit"`` (shares).
    data : DataFrame
        The rows used (without geometry).
    n_dropped : int
        Rows dropped for missing values (``missing="drop"``).
    sm_results
        The statsmodels results object (for everything else: ``predict``,
        ``get_margeff`` on discrete models, its own ``summary()``, ...).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=300)})
    >>> df["markets"] = rng.poisson(np.exp(0.5 + 0.8 * df["x"]))
    >>> res = gc.count_model("markets ~ x", df)
    >>> list(res.to_frame().columns)
    ['estimate', 'std_error', 'statistic', 'p_value', 'ci_low', 'ci_high']
    """

    model = "glm"

    def __init__(self, sm_results, *, family: str, formula: str, cov_type: str, names,
                 design: Design, link: str, data: pd.DataFrame):
        self.sm_results = sm_results
        self.link = link
        self.data = data
        self.family = family
        self.formula = formula
        self.cov_type = cov_type
        self.model_spec = design.model_spec
        self.endog_name = design.y_name
        self.n_dropped = int(design.n_dropped)
        names = list(names)
        self.params = pd.Series(np.asarray(sm_results.params, dtype=float), index=names,
                                name="estimate")
        self._vcov = np.asarray(sm_results.cov_params(), dtype=float)
        self.nobs = int(sm_results.nobs)
        self.llf = float(sm_results.llf)
        self.loglik = self.llf
        self.aic = float(sm_results.aic)

    def summary(self, alpha: float = 0.05) -> Summary:
        """Coefficients and fit statistics (the statsmodels summary: ``sm_results.summary()``).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> import geocluster as gc
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"x": rng.normal(size=300)})
        >>> df["markets"] = rng.poisson(np.exp(0.5 + 0.8 * df["x"]))
        >>> gc.count_model("markets ~ x", df).summary().title
        'Count model (poisson), quasi-maximum likelihood'
        >>> gc.count_model("markets ~ x", df).summary().to_frame().index.tolist()
        ['Intercept', 'x']
        """
        table = self.to_frame(check_alpha(alpha, where="summary"))
        kind = "Share model" if self.link == "logit" else "Count model"
        how = "quasi-maximum likelihood" if self.family != "negbin" else "maximum likelihood"
        top = [
            ("Dep. variable", self.endog_name),
            ("Family", self.family),
            ("Link", self.link),
            ("Covariance", self.cov_type),
            ("No. observations", f"{self.nobs}"),
            ("Dropped (missing)", f"{self.n_dropped}"),
            ("Log-likelihood", format_number(self.llf)),
            ("AIC", format_number(self.aic)),
        ]
        notes = ["No spatial dependence is modelled; compare gc.regress(..., model='lag')."]
        return Summary(title=f"{kind} ({self.family}), {how}", top=top, table=table,
                       notes=notes, statistic=self.statistic_name)

    def effects_inputs(self) -> EffectsInputs:
        """What :mod:`geocluster.models.effects` needs (effects on the response scale)."""
        return EffectsInputs(
            model="glm", formula=self.formula, params=self.params, cov=self.cov_params(),
            model_spec=self.model_spec, data=self.data, nobs=self.nobs, link=self.link,
            label=self.family,
        )

    def __repr__(self) -> str:
        return (
            f"<OutcomeResult: {self.family}, {self.formula!r}, n={self.nobs}, "
            f"{len(self.params)} parameters, log-likelihood {self.llf:.3f}, "
            f"cov_type={self.cov_type}>"
        )


def _outcome_design(formula: str, data: pd.DataFrame, missing: str, context) -> tuple[Design,
                                                                              pd.DataFrame]:
    """The design on the complete rows (the one formula path of the models) and the frame."""
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if isinstance(data, gpd.GeoDataFrame) and data._geometry_column_name in data.columns:
        frame = pd.DataFrame(data.drop(columns=data._geometry_column_name))
    else:
        frame = pd.DataFrame(data)
    if len(frame) == 0:
        raise InputError(f"data are empty (0 rows); the formula {formula!r} has nothing to fit.")
    design = build_design(formula, frame, context=context, missing=missing)
    warn_dropped(design, len(frame), stacklevel=3)
    check_full_rank(design.X, what=f"the design of {formula!r}")
    return design, frame.loc[design.index]


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
    missing: Literal["raise", "drop"] = "raise",
) -> OutcomeResult:
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
        Firms (DataFrame or GeoDataFrame; the geometry is ignored).
    family
        ``"poisson"`` or ``"negbin"``.
    cov_type
        ``"HC1"`` (default), ``"HC0"``, ``"HC2"``, ``"HC3"``, ``"nonrobust"`` or
        ``"cluster"`` (with ``groups``).
    groups
        Column of ``data`` with cluster ids, for ``cov_type="cluster"``.
    missing
        Rows with a missing value in a column of the formula: ``"raise"`` (default, an
        :class:`~geocluster.errors.InputError` naming the columns) or ``"drop"`` (left
        out and counted in a :class:`~geocluster.errors.GeoclusterWarning`).

    Returns
    -------
    OutcomeResult
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
    design, frame = _outcome_design(formula, data, missing, capture_context(1))
    y, X, names, yname = design.y, design.X.to_numpy(), list(design.X.columns), design.y_name
    if np.any(y < 0):
        raise InputError(
            f"the outcome {yname!r} has {int((y < 0).sum())} negative value(s); a count "
            "model needs non-negative outcomes."
        )
    kwargs = _fit_kwargs(cov_type, groups, frame)
    if family == "poisson":
        res = _fit(lambda: sm.GLM(y, X, family=sm.families.Poisson()), kwargs, "Poisson regression")
    else:
        if np.any(y != np.round(y)):
            raise InputError(
                f"the outcome {yname!r} has non-integer values; the negative binomial needs "
                "counts (use family='poisson', a quasi-likelihood, for non-integer outcomes)."
            )
        res = _fit(
            lambda: NegativeBinomial(y, X, loglike_method="nb2"),
            {**kwargs, "disp": 0, "maxiter": 500},
            "negative binomial regression",
        )
        names = names + ["alpha"]
    return OutcomeResult(res, family=family, formula=formula, cov_type=cov_type, names=names,
                         design=design, link="log", data=frame)


def share_model(
    formula: str,
    data: pd.DataFrame,
    *,
    cov_type: str = "HC0",
    groups: str | None = None,
    missing: Literal["raise", "drop"] = "raise",
) -> OutcomeResult:
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
        Firms (DataFrame or GeoDataFrame; the geometry is ignored).
    cov_type
        ``"HC0"`` (default, Papke-Wooldridge), ``"HC1"``, ``"HC2"``, ``"HC3"``,
        ``"nonrobust"`` or ``"cluster"`` (with ``groups``).
    groups
        Column with cluster ids, for ``cov_type="cluster"``.
    missing
        Rows with a missing value in a column of the formula: ``"raise"`` (default, an
        :class:`~geocluster.errors.InputError` naming the columns) or ``"drop"`` (left
        out and counted in a :class:`~geocluster.errors.GeoclusterWarning`).

    Returns
    -------
    OutcomeResult

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
    design, frame = _outcome_design(formula, data, missing, capture_context(1))
    y, X, names, yname = design.y, design.X.to_numpy(), list(design.X.columns), design.y_name
    if np.any((y < 0) | (y > 1)):
        raise InputError(
            f"the outcome {yname!r} has {int(((y < 0) | (y > 1)).sum())} value(s) outside "
            "[0, 1]; the fractional logit needs shares (divide percentages by 100)."
        )
    kwargs = _fit_kwargs(cov_type, groups, frame)
    res = _fit(
        lambda: sm.GLM(y, X, family=sm.families.Binomial(link=sm.families.links.Logit())),
        kwargs,
        "fractional logit",
    )
    return OutcomeResult(res, family="fractional logit", formula=formula, cov_type=cov_type,
                         names=names, design=design, link="logit", data=frame)
