"""The results protocol shared by every model result of geocluster.

Two pieces, used by :class:`~geocluster.models.results.RegressionResult` and
:class:`~geocluster.models.outcomes.OutcomeResult` alike, so that the same question
asked of either gets the same names:

* :class:`Coefficients`: ``params`` (a Series named ``"estimate"``), ``bse``
  (``"std_error"``), ``tvalues`` (``"t"`` for t-based inference, else ``"z"``),
  ``pvalues`` (``"p_value"``), ``conf_int(alpha)`` (columns ``ci_low``, ``ci_high``),
  ``cov_params()`` and ``to_frame(alpha)`` (index = term, columns exactly
  :data:`~geocluster._base.summary.COEF_COLUMNS`). A subclass sets ``params`` and the
  covariance matrix ``_vcov`` and says through :meth:`Coefficients._t_df` whether its
  inference is t-based.
* :class:`EffectsInputs`: what :mod:`geocluster.models.effects` needs from a fitted
  model. A result provides it through its one documented method ``effects_inputs()``
  (no attribute sniffing).

Examples
--------
>>> import numpy as np, pandas as pd
>>> class Toy(Coefficients):
...     def __init__(self):
...         self.params = pd.Series([1.0, 2.0], index=["a", "b"], name="estimate")
...         self._vcov = np.diag([0.25, 1.0])
>>> Toy().to_frame().round(3)
      estimate  std_error  statistic  p_value  ci_low  ci_high
term
a          1.0        0.5        2.0    0.046   0.020     1.98
b          2.0        1.0        2.0    0.046   0.040     3.96
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from geocluster._base.summary import CI_HIGH, CI_LOW, COEF_COLUMNS, P_VALUE
from geocluster._base.validate import check_alpha

__all__ = ["Coefficients", "EffectsInputs"]


class Coefficients:
    """Coefficient protocol: ``params``, ``bse``, ``tvalues``, ``pvalues``, ``conf_int``.

    Attributes
    ----------
    params : pandas.Series
        Estimates, named ``"estimate"``, indexed by term (set by the subclass).
    """

    params: pd.Series
    _vcov: np.ndarray

    def _t_df(self) -> int | None:
        """Residual degrees of freedom when inference is Student-t, else None (normal)."""
        return None

    def _dist(self):
        df = self._t_df()
        return stats.norm() if df is None else stats.t(df=df)

    @property
    def statistic_name(self) -> str:
        """``"t"`` for t-based inference (OLS), ``"z"`` otherwise."""
        return "z" if self._t_df() is None else "t"

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of ``params`` (same index and columns)."""
        names = self.params.index
        return pd.DataFrame(self._vcov, index=names, columns=names)

    @property
    def bse(self) -> pd.Series:
        """Standard errors, a Series named ``"std_error"``."""
        se = np.sqrt(np.diag(np.asarray(self._vcov, dtype=float)))
        return pd.Series(se, index=self.params.index, name="std_error")

    @property
    def tvalues(self) -> pd.Series:
        """``params / bse``, named ``"t"`` (t-based inference) or ``"z"``."""
        with np.errstate(divide="ignore", invalid="ignore"):
            values = self.params.to_numpy(dtype=float) / self.bse.to_numpy()
        return pd.Series(values, index=self.params.index, name=self.statistic_name)

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values (Student t or normal, as ``tvalues``), named ``"p_value"``."""
        p = 2 * self._dist().sf(np.abs(self.tvalues.to_numpy()))
        return pd.Series(p, index=self.params.index, name=P_VALUE)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Confidence intervals at level ``1 - alpha``: columns ``ci_low``, ``ci_high``."""
        alpha = check_alpha(alpha, where="conf_int")
        q = self._dist().ppf(1 - alpha / 2)
        se = self.bse
        frame = pd.DataFrame(
            {CI_LOW: self.params - q * se, CI_HIGH: self.params + q * se},
            index=self.params.index,
        )
        frame.index.name = "term"
        return frame

    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """The coefficient table: index ``term``, columns ``COEF_COLUMNS``."""
        ci = self.conf_int(alpha)
        frame = pd.DataFrame(
            {
                "estimate": self.params.to_numpy(dtype=float),
                "std_error": self.bse.to_numpy(),
                "statistic": self.tvalues.to_numpy(),
                P_VALUE: self.pvalues.to_numpy(),
                CI_LOW: ci[CI_LOW].to_numpy(),
                CI_HIGH: ci[CI_HIGH].to_numpy(),
            },
            index=pd.Index(self.params.index, name="term"),
        )
        return frame[list(COEF_COLUMNS)]


@dataclass(frozen=True)
class EffectsInputs:
    """What the effect computations need from a fitted model.

    Attributes
    ----------
    model : str
        ``"ols"``, ``"lag"``, ``"error"``, ``"durbin"`` or ``"glm"``.
    formula : str
        The formula as given.
    params : pandas.Series
        Every estimate (the spatial parameter ``rho`` of lag and Durbin models included).
    cov : pandas.DataFrame
        Their covariance matrix (same labels).
    model_spec : formulaic.ModelSpec
        Builds the design columns of new rows.
    data : pandas.DataFrame
        The rows used in the fit (without geometry is fine).
    nobs : int
        Number of rows used.
    slx_pairs : tuple of (str, str)
        Durbin: (design column, its lag ``W_<column>``); empty otherwise.
    link : str
        ``"identity"``, ``"log"`` or ``"logit"`` (for ``model="glm"``).
    label : str
        How figures name the model (e.g. ``"lag"`` or ``"poisson"``).
    multipliers : callable or None
        Lag and Durbin: ``rho -> {"direct", "total", "direct_wx"}``, the scalar
        multipliers of ``(I - rho W)^-1`` at any ``rho``; None for models without one.
    t_df : int or None
        Residual degrees of freedom when inference is Student-t (OLS), else None.
    """

    model: str
    formula: str
    params: pd.Series
    cov: pd.DataFrame
    model_spec: object
    data: pd.DataFrame
    nobs: int
    slx_pairs: tuple[tuple[str, str], ...] = ()
    link: str = "identity"
    label: str = ""
    multipliers: Callable[[float], dict] | None = None
    t_df: int | None = None
