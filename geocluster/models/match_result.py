"""The result of :func:`geocluster.match`: matched sample, pairs and balance.

:class:`MatchResult` holds the matched firms and the balance diagnostics the way R's
MatchIt reports them; :func:`balance_table` computes the standardised mean differences
and variance ratios before and after matching.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geocluster._base.summary import Summary

__all__ = ["MatchResult", "balance_table"]

_SUMMARY_COLUMNS = (
    "mean_treated_before",
    "mean_control_before",
    "smd_before",
    "mean_treated_after",
    "mean_control_after",
    "smd_after",
    "var_ratio_after",
)


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
        The settings used, including the seed (as recorded by ``seed_label``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(0)
    >>> firms = pd.DataFrame({"size": rng.normal(size=200), "serial": rng.random(200) < 0.3})
    >>> m = gc.match(firms, treatment="serial", on=["size"], seed=1)
    >>> int(m.counts.loc["all", "treated"]) == int(firms["serial"].sum())
    True
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

    def to_frame(self) -> pd.DataFrame:
        """The balance table (one row per covariate, see ``balance``)."""
        return self.balance.copy()

    def summary(self) -> Summary:
        """Sample sizes and the balance table (MatchIt's ``summary()`` layout).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> import geocluster as gc
        >>> rng = np.random.default_rng(0)
        >>> firms = pd.DataFrame({"size": rng.normal(size=200), "serial": rng.random(200) < 0.3})
        >>> s = gc.match(firms, treatment="serial", on=["size"], seed=1).summary()
        >>> list(s.to_frame().columns)[:3]
        ['mean_treated_before', 'mean_control_before', 'smd_before']
        """
        counts = self.counts
        top = [(f"{group} ({row})", str(int(counts.loc[row, group])))
               for row in counts.index for group in counts.columns]
        return Summary(
            title="Matched sample: covariate balance",
            top=top,
            table=self.balance[list(_SUMMARY_COLUMNS)],
            notes=[repr(self), "SMD = standardised mean difference (treated minus control "
                   "over the treated units' standard deviation before matching)."],
        )


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    sw = w.sum()
    if sw <= 0:
        return np.nan, np.nan
    m = float((w * x).sum() / sw)
    denom = sw - (w**2).sum() / sw
    v = float((w * (x - m) ** 2).sum() / denom) if denom > 0 else np.nan
    return m, v


def balance_table(cov: pd.DataFrame, t: np.ndarray, w_after: np.ndarray) -> pd.DataFrame:
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
