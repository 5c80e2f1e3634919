"""The result of the spatial probit and tobit fits (Bayesian MCMC or the ML baselines).

What the protocol's columns mean for a Bayesian fit (``draws`` is not None):
``estimate`` is the posterior mean, ``std_error`` the posterior standard deviation,
``statistic`` their ratio (mean / sd, a z-like summary, no sampling distribution is
implied), ``p_value`` the two-sided posterior tail probability
``2 min(P(theta > 0 | y), P(theta < 0 | y))`` and ``ci_low``/``ci_high`` the equal-tailed
credible interval (posterior quantiles ``alpha/2`` and ``1 - alpha/2``). For the ML
baselines (``draws`` is None) they are the usual asymptotic (normal) quantities.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from geocluster._base.summary import CI_HIGH, CI_LOW, P_VALUE, Summary, format_number
from geocluster._base.validate import check_alpha
from geocluster.errors import ModelError
from geocluster.models import _mcmc
from geocluster.models.base import ModelResult
from geocluster.models.impacts import trace_powers
from geocluster.models.protocol import EffectsInputs

__all__ = ["LimitedDependentResult"]


class LimitedDependentResult(ModelResult):
    """A fitted probit or tobit model, spatial (SAR / SEM, Bayesian) or not.

    Attributes
    ----------
    params : pandas.Series
        Posterior means (ML estimates for the baselines), named ``"estimate"``:
        coefficients, then ``rho`` (lag) or ``lambda`` (error), then ``sigma2`` (tobit).
    draws : dict or None
        Posterior draws: ``{"beta": (chains, draws, k), "rho": (chains, draws),
        "sigma2": (chains, draws)}``; None for the ML baselines.
    kind : str
        ``"probit"`` or ``"tobit"``.
    spatial : str or None
        ``"lag"``, ``"error"`` or None.
    nobs : int
        Rows used.
    extra : dict
        The estimator, the log-determinant method, the seed, draws/burn-in/thin/chains.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"x": rng.normal(size=300)})
    >>> df["y"] = (0.5 + df["x"] + rng.normal(size=300) > 0).astype(int)
    >>> from geocluster.models.probit import spatial_probit
    >>> res = spatial_probit("y ~ x", df, spatial=None, method="ml")
    >>> res.to_frame().columns.tolist()
    ['estimate', 'std_error', 'statistic', 'p_value', 'ci_low', 'ci_high']
    """

    def __init__(self, *, kind: str, spatial: str | None, names: list[str], params,
                 vcov, draws: dict | None, design, data: pd.DataFrame, W, y: np.ndarray,
                 extra: dict):
        self.kind, self.spatial = kind, spatial
        self.params = pd.Series(np.asarray(params, dtype=float), index=names, name="estimate")
        self._vcov = np.asarray(vcov, dtype=float)
        self.draws = draws
        self.formula = design.formula
        self.model_spec = design.model_spec
        self.endog_name = design.y_name
        self.n_dropped = int(design.n_dropped)
        self.k = design.X.shape[1]
        self.data = data
        self.W = W
        self.y = y
        self.nobs = len(y)
        self.extra = extra

    # -- posterior quantities ------------------------------------------------------------
    def sample(self) -> pd.DataFrame:
        """Every kept draw of every chain: one row per draw, one column per parameter."""
        if self.draws is None:
            raise ModelError("the ML baseline has no posterior draws; fit with "
                             "method='mcmc' for a sample and diagnostics.")
        parts = [self.draws["beta"].reshape(-1, self.k)]
        if self.spatial is not None:
            parts.append(self.draws["rho"].reshape(-1, 1))
        if self.kind == "tobit":
            parts.append(self.draws["sigma2"].reshape(-1, 1))
        return pd.DataFrame(np.hstack(parts), columns=self.params.index)

    def _chains(self) -> list[np.ndarray]:
        assert self.draws is not None
        out = [self.draws["beta"][:, :, j] for j in range(self.k)]
        if self.spatial is not None:
            out.append(self.draws["rho"])
        if self.kind == "tobit":
            out.append(self.draws["sigma2"])
        return out

    @property
    def pvalues(self) -> pd.Series:
        """Posterior tail probability (Bayesian fit) or normal two-sided p, ``"p_value"``."""
        if self.draws is None:
            return super().pvalues
        s = self.sample().to_numpy()
        tail = np.minimum((s > 0).mean(axis=0), (s < 0).mean(axis=0))
        return pd.Series(np.minimum(2 * tail, 1.0), index=self.params.index, name=P_VALUE)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Equal-tailed credible intervals (Bayesian) or normal intervals (ML)."""
        alpha = check_alpha(alpha, where="conf_int")
        if self.draws is None:
            return super().conf_int(alpha)
        q = np.quantile(self.sample().to_numpy(), [alpha / 2, 1 - alpha / 2], axis=0)
        frame = pd.DataFrame({CI_LOW: q[0], CI_HIGH: q[1]}, index=self.params.index)
        frame.index.name = "term"
        return frame

    def diagnostics(self) -> pd.DataFrame:
        """Effective sample size and split-R-hat over chains for every parameter.

        Returns
        -------
        DataFrame
            index = term; columns ``ess`` (multi-chain, Geyer's initial monotone
            sequence), ``rhat`` (split-R-hat, BDA3; near 1 when the chains agree).
        """
        if self.draws is None:
            raise ModelError("the ML baseline has no posterior draws; fit with "
                             "method='mcmc' for a sample and diagnostics.")
        rows = [(_mcmc.effective_sample_size(c), _mcmc.split_rhat(c)) for c in self._chains()]
        return pd.DataFrame(rows, index=pd.Index(self.params.index, name="term"),
                            columns=["ess", "rhat"])

    def impacts(self, alpha: float = 0.05) -> pd.DataFrame:
        """Direct, indirect and total effects averaged over observations (LeSage-Pace).

        Probit: on the probability, ``phi(Phi^-1(mean(y)))`` times the multipliers as in R
        spatialprobit's ``marginal.effects``; tobit: on the latent outcome. Lag model:
        direct ``beta tr((I - rho W)^-1) / n``, total ``beta / (1 - rho)``; error model
        and non-spatial fits: direct = total = ``beta``. One value per posterior draw;
        the table gives the posterior mean, sd and the equal-tailed interval (for the ML
        baselines: 2,000 draws of the asymptotic normal of the estimates, seed 0).

        Returns
        -------
        DataFrame
            index (``term``, ``effect``) with effect ``direct``/``indirect``/``total``;
            columns ``estimate``, ``std_error``, ``ci_low``, ``ci_high``, ``p_value``.
        """
        alpha = check_alpha(alpha, where="impacts")
        beta, rho = self._impact_draws()
        terms = [t for t in self.params.index[: self.k] if t != "Intercept"]
        cols = [list(self.params.index[: self.k]).index(t) for t in terms]
        scale = stats.norm.pdf(stats.norm.ppf(np.mean(self.y))) if self.kind == "probit" \
            else 1.0
        if self.spatial == "lag":
            t = trace_powers(self.W, 100, seed=0)
            direct_m = np.polyval(t[::-1], rho)
            total_m = 1 / (1 - rho)
        else:
            direct_m = total_m = np.ones(len(rho))
        rows = []
        for term, j in zip(terms, cols, strict=True):
            d = scale * beta[:, j] * direct_m
            tot = scale * beta[:, j] * total_m
            for effect, v in (("direct", d), ("indirect", tot - d), ("total", tot)):
                rows.append(_draw_row(term, effect, v, alpha, bayes=self.draws is not None))
        return pd.DataFrame(rows).set_index(["term", "effect"])

    def _impact_draws(self) -> tuple[np.ndarray, np.ndarray]:
        if self.draws is not None:
            return self.draws["beta"].reshape(-1, self.k), self.draws["rho"].ravel()
        rng = np.random.default_rng(0)
        b = rng.multivariate_normal(self.params.to_numpy()[: self.k],
                                    self._vcov[: self.k, : self.k], size=2000)
        return b, np.zeros(len(b))

    def effects_inputs(self) -> EffectsInputs:
        """Effects by group on the probability (probit link) or the latent mean (tobit),
        from the posterior means and covariance of the coefficients; the spatial
        multiplier is not applied (see :meth:`impacts` for the spatial effects)."""
        names = self.params.index[: self.k]
        return EffectsInputs(
            model="glm", formula=self.formula, params=self.params[names],
            cov=self.cov_params().loc[names, names], model_spec=self.model_spec,
            data=self.data, nobs=self.nobs,
            link="probit" if self.kind == "probit" else "identity", label=self._label(),
        )

    def _label(self) -> str:
        return {"lag": "SAR ", "error": "SEM ", None: ""}[self.spatial] + self.kind

    def summary(self, alpha: float = 0.05) -> Summary:
        """Coefficients (posterior summaries) and the sampler's settings and diagnostics."""
        table = self.to_frame(check_alpha(alpha, where="summary"))
        top = [("Dep. variable", self.endog_name), ("Model", self._label()),
               ("Estimator", self.extra.get("estimator", "")),
               ("No. observations", f"{self.nobs}"),
               ("Dropped (missing)", f"{self.n_dropped}")]
        notes = []
        if self.draws is not None:
            diag = self.diagnostics()
            top += [("Draws x chains", f"{self.extra['draws']} x {self.extra['chains']} "
                     f"(burn-in {self.extra['burn_in']}, thin {self.extra['thin']})"),
                    ("Min. ESS", format_number(float(diag["ess"].min()))),
                    ("Max. R-hat", format_number(float(diag["rhat"].max())))]
            notes = ["estimate = posterior mean, std_error = posterior sd, statistic = "
                     "mean/sd, p_value = two-sided posterior tail probability, ci = "
                     "equal-tailed credible interval."]
        label = self._label()
        return Summary(title=f"{label[0].upper()}{label[1:]} model", top=top, table=table,
                       notes=notes, statistic="z")

    def __repr__(self) -> str:
        how = (f"MCMC {self.extra['draws']} draws x {self.extra['chains']} chains"
               if self.draws is not None else "maximum likelihood")
        return (f"<LimitedDependentResult: {self._label()}, {self.formula!r}, "
                f"n={self.nobs}, {len(self.params)} parameters, {how}>")


def _draw_row(term, effect, v, alpha, *, bayes: bool) -> dict:
    lo, hi = np.quantile(v, [alpha / 2, 1 - alpha / 2])
    tail = min((v > 0).mean(), (v < 0).mean())
    return {"term": term, "effect": effect, "estimate": float(v.mean()),
            "std_error": float(v.std(ddof=1)), "ci_low": float(lo), "ci_high": float(hi),
            P_VALUE: float(min(2 * tail, 1.0))}
