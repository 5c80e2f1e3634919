"""The results of the sweep and of the cluster-map sensitivity.

:class:`RobustnessResult` holds the tidy table of :func:`geocluster.robustness` (one row
per specification and focus term), its per-term shares (:meth:`RobustnessResult.shares`)
and the specification curve; :class:`SensitivityResult` the overlaps of the cluster maps
of :func:`geocluster.cluster_sensitivity`. Both give their table with ``to_frame()`` and a
:class:`~geocluster._base.summary.Summary` with ``summary()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geocluster._base.summary import P_VALUE, Summary, format_number
from geocluster._base.validate import check_positive_int
from geocluster.errors import InputError
from geocluster.robustness import plots
from geocluster.robustness.plots import jaccard_text

__all__ = ["RobustnessResult", "SensitivityResult", "DIMENSIONS"]

#: The dimensions of a specification, in the table's order.
DIMENSIONS = ("weights", "model", "exposure", "method", "inference")


def _other_sample(frame: pd.DataFrame) -> pd.Series:
    """True where a row was fitted on another sample than the reference (NA counts False)."""
    return frame["same_sample"].eq(False).fillna(False).astype(bool)


@dataclass(frozen=True, eq=False)
class RobustnessResult:
    """The outcome of :func:`geocluster.robustness`: a tidy table, shares and a curve.

    Attributes
    ----------
    table : DataFrame
        One row per specification and focus term: ``spec`` (number; 0 is the
        reference), ``weights``, ``model``, ``exposure``, ``method``, ``inference``,
        ``reference`` (True on the reference specification's rows), ``term``,
        ``estimate``, ``std_error``, ``ci_low``, ``ci_high``, ``p_value``,
        ``spatial_param`` (rho or lambda), ``loglik``, ``aic``, ``nobs``,
        ``same_sample`` (fitted on exactly the reference's rows; missing for a
        specification that failed), ``resid_moran_I``, ``resid_moran_p_value``,
        ``residual_autocorrelation`` (a spatial model whose residuals still show Moran's
        I significant at ``alpha``) and ``error`` (the message of a specification that
        failed; its numbers are NaN). No wall-clock column: the same seed gives the same
        table (and CSV bytes).
    focus : list of str
    alpha : float
    reference : dict
        The reference specification (``reference=`` or the first value of each dimension).
    seed : int, str or None
        The seed given, as :func:`geocluster._base.validate.seed_label` records it.
    dimensions : dict
        The alternatives of each dimension (with any reference value added).
    timings : Series
        Seconds each specification took, aligned with ``table`` (same index; a
        specification's time repeats on each of its focus terms' rows).
    include_other_samples : bool
        Default of :meth:`shares`' and :meth:`summary`'s option of the same name.

    Examples
    --------
    >>> import geocluster as gc
    >>> firms = gc.datasets.make_firms(300, seed=3)
    >>> sweep = gc.robustness("intl ~ cluster + age", firms, focus="cluster",
    ...                       weights=["knn:4", "knn:8"], models=["ols"], progress=False)
    >>> sweep  # doctest: +ELLIPSIS
    <RobustnessResult: 2 specifications (weights: 2), 1 focus terms, 0 failed, ...>
    >>> sweep.to_frame()[["weights", "term", "estimate", "p_value"]].shape
    (2, 4)
    """

    table: pd.DataFrame
    focus: list[str]
    alpha: float
    reference: dict
    seed: int | str | None = None
    dimensions: dict = field(default_factory=dict)
    timings: pd.Series | None = None
    include_other_samples: bool = False

    def __repr__(self) -> str:
        specs = self.table.drop_duplicates("spec")
        failed = int(specs["error"].notna().sum())
        other = int(_other_sample(specs).sum())
        dims = ", ".join(f"{k}: {len(v)}" for k, v in self.dimensions.items() if len(v) > 1)
        return (
            f"<RobustnessResult: {len(specs)} specifications ({dims or 'one of each'}), "
            f"{len(self.focus)} focus terms, {failed} failed, {other} on another sample, "
            f"seed {self.seed}>"
        )

    def reference_label(self) -> str:
        """The reference specification as text: ``"weights knn:8, model lag, ..."``."""
        return ", ".join(f"{k} {self.reference[k]}" for k in DIMENSIONS if k in self.reference)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the tidy table (one row per specification and focus term)."""
        return self.table.copy()

    def _include(self, include_other_samples: bool | None) -> bool:
        include = (self.include_other_samples if include_other_samples is None
                   else include_other_samples)
        if not isinstance(include, bool):
            raise InputError(f"summary: include_other_samples={include!r} must be True or False.")
        return include

    def shares(self, *, include_other_samples: bool | None = None) -> pd.DataFrame:
        """Per focus term: how many specifications keep the reference's sign and significance.

        Parameters
        ----------
        include_other_samples
            Count specifications fitted on another sample than the reference
            (``same_sample`` False) in the shares. Default: the value given to
            :func:`geocluster.robustness` (False there).

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
            ``share_residual_autocorrelation``. :meth:`sample_note` says in words what
            was left out.
        """
        include = self._include(include_other_samples)
        has_ref = bool(self.table["reference"].any())
        reference_spec = int(self.table.loc[self.table["reference"], "spec"].iloc[0]) \
            if has_ref else -1
        rows = [self._term_shares(term, include, reference_spec) for term in self.focus]
        return pd.DataFrame(rows).set_index("term")

    def _term_shares(self, term: str, include: bool, reference_spec: int) -> dict:
        part = self.table[self.table["term"] == term]
        fitted = part[part["error"].isna() & part["estimate"].notna()]
        other = _other_sample(fitted)
        ok = fitted if include else fitted[~other.to_numpy()]
        ref = fitted[fitted["reference"]]
        ref_est = float(ref["estimate"].iloc[0]) if len(ref) else np.nan
        ref_sig = bool(ref[P_VALUE].iloc[0] <= self.alpha) if len(ref) else False
        sign = np.sign(ok["estimate"])
        significant = ok[P_VALUE] <= self.alpha
        same_sign = sign == np.sign(ref_est) if np.isfinite(ref_est) else sign * np.nan
        n = len(ok)

        def share(values) -> float:
            return float(np.mean(values)) if n else np.nan

        return {
            "term": term,
            "reference": self.reference_label(),
            "reference_spec": reference_spec,
            "specifications": int(n),
            "failed": int(len(part) - len(fitted)),
            "other_samples": int(other.sum()),
            "left_out_other_samples": 0 if include else int(other.sum()),
            "reference_estimate": ref_est,
            "share_same_sign": share(same_sign),
            "share_significant": share(significant),
            "share_same_sign_and_significance": share(same_sign & (significant == ref_sig)),
            "share_significant_same_sign": share(same_sign & significant),
            "median_estimate": float(ok["estimate"].median()) if n else np.nan,
            "min_estimate": float(ok["estimate"].min()) if n else np.nan,
            "max_estimate": float(ok["estimate"].max()) if n else np.nan,
            "share_residual_autocorrelation": share(ok["residual_autocorrelation"]),
        }

    def sample_note(self, *, include_other_samples: bool | None = None) -> str:
        """In words: how many specifications used another sample, and whether they count."""
        include = self._include(include_other_samples)
        n_other = int(_other_sample(self.table.drop_duplicates("spec")).sum())
        if n_other and not include:
            return (f"{n_other} specification(s) fitted on another sample than the reference "
                    "are left out of the shares (include_other_samples=True counts them).")
        if n_other:
            return (f"{n_other} specification(s) fitted on another sample than the reference "
                    "are counted in the shares.")
        return "Every specification that fitted used the reference's sample."

    def summary(self, *, include_other_samples: bool | None = None) -> Summary:
        """The shares per focus term (:meth:`shares`) with the sweep's settings and notes.

        Examples
        --------
        >>> import geocluster as gc
        >>> firms = gc.datasets.make_firms(300, seed=3)
        >>> sweep = gc.robustness("intl ~ cluster + age", firms, focus="cluster",
        ...                       weights=["knn:4", "knn:8"], models=["ols"], progress=False)
        >>> s = sweep.summary()
        >>> s.title, int(s.to_frame().loc["cluster", "specifications"])
        ('Robustness: 2 specifications', 2)
        """
        shares = self.shares(include_other_samples=include_other_samples)
        specs = self.table.drop_duplicates("spec")
        top = [("reference", self.reference_label()),
               ("specifications", str(len(specs))),
               ("failed", str(int(specs["error"].notna().sum()))),
               ("on another sample", str(int(_other_sample(specs).sum()))),
               ("alpha", format_number(self.alpha)),
               ("seed", str(self.seed))]
        notes = [self.sample_note(include_other_samples=include_other_samples),
                 f"Shares are over the specifications that fitted; significant: p_value <= "
                 f"{self.alpha:g}."]
        return Summary(f"Robustness: {len(specs)} specifications", top=top, table=shares,
                       notes=notes)

    def to_csv(self, path, **kwargs: Any) -> None:
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
        term = self.focus[0] if term is None else term
        if term not in self.focus:
            raise InputError(f"term={term!r} is not a focus term; choose one of {self.focus}.")
        part = self.table[(self.table["term"] == term) & self.table["estimate"].notna()]
        part = part.sort_values(["estimate", "spec"], kind="stable").reset_index(drop=True)
        # A dimension the user gave one value for is not drawn, even where it varies only
        # because OLS reports method "ols" and spatial models inference "model".
        varying = [d for d in DIMENSIONS if part[d].nunique() > 1
                   and len(self.dimensions.get(d, [0, 0])) > 1] or ["model"]
        return plots.specification_curve(part, term, varying, self.alpha)


@dataclass(frozen=True, eq=False)
class SensitivityResult:
    """How much a cluster map changes across definitions (:func:`geocluster.cluster_sensitivity`).

    Attributes
    ----------
    method : str
        ``"lisa"``, ``"density"`` or ``"hdbscan"``.
    table : DataFrame
        One row per definition (the reference first): ``label``, its settings
        (``weights``; or ``bandwidth`` and ``alpha``; or ``min_firms``), ``reference``
        (True for the reference definition), the number of HH units ``hh_units`` (or
        ``clusters`` and their ``area_km2``; HDBSCAN also ``clustered_firms``,
        ``noise_share`` and ``firm_jaccard_vs_reference``, the Jaccard overlap of the
        sets of clustered firms), and ``jaccard_vs_reference``, the Jaccard overlap with
        the reference definition. The overlap of two empty maps is undefined: NaN (shown as
        "n/a" by :meth:`summary` and :meth:`plot`), not 1.
    overlap : DataFrame
        Pairwise Jaccard overlap (shared HH units over units HH in either; or shared
        cluster area over the area of the union), labels on both axes; NaN where both
        maps are empty (also on the diagonal for an empty map).
    maps : dict
        Label -> the LISA result frame, or the density-cluster or HDBSCAN polygons.
    seed : int, str or None
        The seed given, as :func:`geocluster._base.validate.seed_label` records it.
    reference : str
        The label of the reference definition.

    Examples
    --------
    >>> import geocluster as gc
    >>> sens = gc.cluster_sensitivity(gc.datasets.load_columbus(), "CRIME",
    ...                               weights=["queen", "knn:4"], permutations=99,
    ...                               correction=None, seed=1)
    >>> sens  # doctest: +ELLIPSIS
    <SensitivityResult (lisa): 2 definitions, reference queen, lowest pairwise Jaccard ...>
    >>> list(sens.to_frame()["label"])
    ['queen', 'knn:4']
    """

    method: str
    table: pd.DataFrame
    overlap: pd.DataFrame
    maps: Mapping
    seed: int | str | None = None
    reference: str | None = None

    def __repr__(self) -> str:
        off = self.overlap.to_numpy()[~np.eye(len(self.overlap), dtype=bool)]
        defined = off[np.isfinite(off)]
        low = jaccard_text(float(defined.min())) if defined.size else "n/a"
        undefined = int((~np.isfinite(off)).sum() // 2)
        return (f"<SensitivityResult ({self.method}): {len(self.maps)} definitions, "
                f"reference {self.reference}, lowest pairwise Jaccard {low}"
                + (f", {undefined} pairs undefined (both empty)" if undefined else "") + ">")

    def to_frame(self) -> pd.DataFrame:
        """A copy of the table (one row per definition, the reference first)."""
        return self.table.copy()

    @property
    def n_undefined(self) -> int:
        """Definitions whose overlap with the reference is undefined (both maps empty)."""
        return int((~np.isfinite(self.table["jaccard_vs_reference"].astype(float))).sum())

    def definitions(self) -> pd.DataFrame:
        """One row per definition: its size, its overlap with the reference, in words.

        Returns
        -------
        DataFrame
            Indexed by label: ``reference`` (bool), ``hh_units`` (LISA) or ``clusters``
            and ``area_km2`` (density), ``jaccard_vs_reference`` (NaN when both maps
            are empty) and ``overlap_with_reference``, the same as text (``"0.67"`` or
            ``"n/a (no HH units in either map)"``).
        """
        out = self.table.set_index("label").copy()
        what = ("no HH units in either map" if self.method == "lisa"
                else "no clusters in either map")  # density and hdbscan: polygons
        out["overlap_with_reference"] = [
            jaccard_text(v) if np.isfinite(v) else f"n/a ({what})"
            for v in out["jaccard_vs_reference"].astype(float)
        ]
        return out

    def summary(self) -> Summary:
        """The definitions (:meth:`definitions`) with the reference, seed and notes.

        Examples
        --------
        >>> import geocluster as gc
        >>> sens = gc.cluster_sensitivity(gc.datasets.load_columbus(), "CRIME",
        ...                               weights=["queen", "rook"], permutations=99,
        ...                               correction=None, seed=1)
        >>> sens.summary().title
        'Cluster-map sensitivity (lisa): 2 definitions'
        """
        top = [("method", self.method), ("reference", str(self.reference)),
               ("definitions", str(len(self.table))),
               ("undefined overlaps", str(self.n_undefined)), ("seed", str(self.seed))]
        unit = "HH units" if self.method == "lisa" else "cluster area"
        notes = [f"Jaccard overlap: shared {unit} over {unit} in either map; undefined (n/a) "
                 "when both maps are empty."]
        return Summary(f"Cluster-map sensitivity ({self.method}): {len(self.table)} definitions",
                       top=top, table=self.definitions(), notes=notes)

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
        columns = check_positive_int(columns, where="SensitivityResult.plot", name="columns")
        jaccard = self.table.set_index("label")["jaccard_vs_reference"].astype(float)
        return plots.sensitivity_panels(self.method, dict(self.maps), jaccard.to_dict(),
                                        self.reference, columns)

    def plot_overlap(self):
        """Heat map of the pairwise Jaccard overlaps; undefined pairs are blank, "n/a".

        Returns
        -------
        matplotlib.figure.Figure
            One cell per pair of definitions, coloured 0 (no overlap) to 1 (the same
            map) and labelled with the value; a pair of empty maps gets no colour.
        """
        return plots.overlap_heatmap(self.overlap)
