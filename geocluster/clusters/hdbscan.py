"""HDBSCAN firm clusters: :func:`hdbscan_clusters` and :class:`HDBSCANResult`.

A cluster definition beside the KDE density clusters (:func:`geocluster.density_clusters`):
scikit-learn's :class:`~sklearn.cluster.HDBSCAN` (Campello, Moulavi & Sander 2013;
McInnes, Healy & Astels 2017) on the firms' coordinates in metres. A cluster is a set of
at least ``min_firms`` firms that stays together over a range of density levels of the
mutual-reachability hierarchy; firms in no such set are noise (cluster ``-1``). There is
no bandwidth, no grid and no simulation, and nothing random: the same firms in the same
order give the same clusters.

The name says the algorithm because ``density_clusters`` already names the KDE
definition; both are density-based, and the robustness comparison
(:func:`geocluster.cluster_sensitivity`, ``method="hdbscan"``) sets one beside the other.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from matplotlib.figure import Figure
from sklearn.cluster import HDBSCAN

from geocluster._base.summary import Summary
from geocluster._base.validate import check_positive_int, read_points, subset_mask
from geocluster._distance import parse_distance
from geocluster.errors import InputError

__all__ = ["hdbscan_clusters", "HDBSCANResult", "CONCAVE_RATIO", "MIN_AREA_BUFFER_M",
           "OUTLINE_PROBABILITY"]

_WHERE = "hdbscan_clusters"
#: ``shapely.concave_hull`` ratio of the ``hull="concave"`` outlines (0 most concave,
#: 1 the convex hull): follows bent and elongated clusters without cutting between firms.
CONCAVE_RATIO = 0.3
#: The default ``outline_probability``: members weaker than this stay members but are
#: left out of the outline.
OUTLINE_PROBABILITY = 0.2
#: The buffer, in metres, given to an outline without area (every firm of the cluster
#: at one address or on one line) when ``buffer`` is 0, so that each cluster has a polygon.
MIN_AREA_BUFFER_M = 1.0
_SELECTIONS = ("eom", "leaf")
_HULLS = ("concave", "convex")
_M2_PER_KM2 = 1e6


@dataclass(frozen=True, eq=False)
class HDBSCANResult:
    """The HDBSCAN clusters of a set of firms (:func:`geocluster.hdbscan_clusters`).

    Attributes
    ----------
    clusters : GeoDataFrame
        One row per cluster, by ``cluster_id``: ``cluster_id`` (0, 1, ...), the ``by``
        group (when given), ``n_firms``, ``n_outlined`` (the members the outline spans,
        see ``outline_probability``), ``n_core`` (members with probability 1),
        ``mean_probability``, ``area_km2`` and the outline polygon, in :attr:`crs`.
    membership : DataFrame
        One row per firm analysed (the input's index, ``subset`` rows only):
        ``hdbscan_cluster`` (the cluster id, ``-1`` for noise), ``hdbscan_probability``
        (scikit-learn's ``probabilities_``: the strength of the firm's membership, 1 in
        the cluster's core, 0 for noise) and the ``by`` column when given.
    crs : pyproj.CRS
        The metric CRS the clustering and the polygons are in.
    min_firms, min_samples : int
        The minimum cluster size and the neighbourhood size of the core distances.
    selection, hull : str
    epsilon_m, buffer_m, outline_probability : float
    by : str or None
    notes : list of str
        What the table alone does not say (groups too small to hold a cluster).

    Examples
    --------
    >>> import geocluster as gc
    >>> from geocluster.clusters.hdbscan import hdbscan_clusters
    >>> res = hdbscan_clusters(gc.datasets.make_firms(400, seed=2), min_firms=15)
    >>> res  # doctest: +ELLIPSIS
    <HDBSCANResult: ... clusters, ... of 400 firms clustered (...% noise), min_firms 15, ...>
    >>> list(res.membership.columns)
    ['hdbscan_cluster', 'hdbscan_probability']
    """

    clusters: gpd.GeoDataFrame
    membership: pd.DataFrame
    crs: pyproj.CRS
    min_firms: int
    min_samples: int
    selection: str = "eom"
    hull: str = "concave"
    epsilon_m: float = 0.0
    buffer_m: float = 0.0
    by: str | None = None
    notes: list[str] = field(default_factory=list)
    outline_probability: float = OUTLINE_PROBABILITY

    @property
    def n_clusters(self) -> int:
        """The number of clusters."""
        return len(self.clusters)

    @property
    def noise_share(self) -> float:
        """The share of the firms analysed that are noise (in no cluster)."""
        labels = self.membership["hdbscan_cluster"].to_numpy()
        return float(np.mean(labels < 0)) if len(labels) else float("nan")

    def __repr__(self) -> str:
        n = len(self.membership)
        clustered = int((self.membership["hdbscan_cluster"] >= 0).sum())
        by = f", by {self.by}" if self.by else ""
        return (f"<HDBSCANResult: {self.n_clusters} clusters, {clustered:,} of {n:,} firms "
                f"clustered ({self.noise_share:.0%} noise), min_firms {self.min_firms}"
                f"{by}, {self.crs.name}>")

    def to_frame(self) -> pd.DataFrame:
        """The clusters table without the polygons (one row per cluster, by ``cluster_id``)."""
        return pd.DataFrame(self.clusters.drop(columns="geometry"))

    def summary(self) -> Summary:
        """The clusters table with the settings, the noise share and notes.

        Examples
        --------
        >>> import geocluster as gc
        >>> from geocluster.clusters.hdbscan import hdbscan_clusters
        >>> res = hdbscan_clusters(gc.datasets.make_firms(300, seed=2), min_firms=15)
        >>> res.summary().title  # doctest: +ELLIPSIS
        'HDBSCAN firm clusters: ... clusters of 300 firms'
        """
        n = len(self.membership)
        noise = int((self.membership["hdbscan_cluster"] < 0).sum())
        top = [("firms", f"{n:,}"), ("clusters", str(self.n_clusters)),
               ("noise", f"{noise:,} ({self.noise_share:.1%})"),
               ("min_firms", str(self.min_firms)), ("min_samples", str(self.min_samples)),
               ("selection", self.selection), ("epsilon", f"{self.epsilon_m:g} m"),
               ("outline", f"{self.hull} hull of members with probability >= "
                           f"{self.outline_probability:g}, buffer {self.buffer_m:g} m"),
               ("crs", self.crs.name)]
        if self.by:
            top.insert(2, ("by", self.by))
        notes = ["Deterministic: HDBSCAN draws no random numbers.",
                 "hdbscan_probability: strength of membership (1 in the core, 0 for noise).",
                 *self.notes]
        table = self.to_frame().set_index("cluster_id")
        return Summary(f"HDBSCAN firm clusters: {self.n_clusters} clusters of {n:,} firms",
                       top=top, table=table, notes=notes)

    def plot(self, firms: gpd.GeoDataFrame | None = None) -> Figure:
        """The cluster outlines over the firms (members coloured by cluster, noise grey).

        Parameters
        ----------
        firms
            The frame given to :func:`hdbscan_clusters` (to draw the firms); ``None``
            draws the outlines only.

        Returns
        -------
        matplotlib.figure.Figure
        """
        fig = Figure(figsize=(7.0, 6.0), layout="constrained")
        ax = fig.subplots()
        if firms is not None:
            pts = firms.loc[self.membership.index].to_crs(self.crs)
            labels = self.membership["hdbscan_cluster"].to_numpy()
            noise = labels < 0
            if noise.any():
                pts[noise].plot(ax=ax, color="#bbbbbb", markersize=3)
            if (~noise).any():
                pts[~noise].plot(ax=ax, column=labels[~noise] % 20, cmap="tab20",
                                 markersize=6, vmin=0, vmax=19)
        if len(self.clusters):
            self.clusters.boundary.plot(ax=ax, color="#222222", linewidth=1.0)
        ax.set_title(f"HDBSCAN: {self.n_clusters} clusters, min_firms {self.min_firms}, "
                     f"{self.noise_share:.0%} noise", fontsize=10)
        ax.set_axis_off()
        return fig


def hdbscan_clusters(
    firms: gpd.GeoDataFrame,
    *,
    min_firms: int = 10,
    min_samples: int | None = None,
    subset: np.ndarray | pd.Series | str | tuple[str, object] | None = None,
    by: str | None = None,
    selection: str = "eom",
    epsilon: str | float = 0.0,
    hull: str = "concave",
    outline_probability: float = OUTLINE_PROBABILITY,
    buffer: str | float = 0.0,
    crs: str | int | pyproj.CRS | None = None,
) -> HDBSCANResult:
    """Density-based firm clusters by HDBSCAN, with their outlines and each firm's membership.

    scikit-learn's :class:`~sklearn.cluster.HDBSCAN` runs on the firms' coordinates in
    metres (the automatic metric CRS of :func:`geocluster.to_metric`, or ``crs``), so
    distances are Euclidean metres and a geographic CRS is never clustered in degrees.
    HDBSCAN is deterministic: no ``seed``.

    Parameters
    ----------
    firms
        GeoDataFrame of firm points with a CRS. Firms sharing an address are kept:
        their mutual-reachability distance is 0, so many firms in one building form a
        cluster of their own when they are at least ``min_firms``.
    min_firms
        The smallest cluster, in firms (HDBSCAN's ``min_cluster_size``); at least 2.
    min_samples
        Firms in the neighbourhood of a core firm, the firm itself included
        (HDBSCAN's ``min_samples``); ``None``: ``min_firms``. Larger values make the
        clustering more conservative (more noise).
    subset
        The firms to cluster (a mask, a boolean column, a ``(column, value)`` pair or a
        query string); default all.
    by
        A grouping column (e.g. ``"industry"``): each group is clustered on its own and
        the cluster ids run on across groups. A group with fewer than ``min_firms``
        (or ``min_samples``) firms is all noise, and a note says so.
    selection
        ``"eom"`` (excess of mass, the default: the most persistent clusters) or
        ``"leaf"`` (the leaves of the condensed tree: more, smaller, homogeneous
        clusters).
    epsilon
        HDBSCAN's ``cluster_selection_epsilon`` as a distance (``"2km"`` or metres):
        clusters closer than this are merged; 0 (default) merges none.
    hull
        The outline of each cluster: ``"concave"`` (default; ``shapely.concave_hull``
        with ratio :data:`CONCAVE_RATIO`, which follows bent clusters) or ``"convex"``.
    outline_probability
        The outline is drawn around the members whose ``hdbscan_probability`` is at
        least this (default :data:`OUTLINE_PROBABILITY`: still in the cluster at a fifth
        of its peak density level). HDBSCAN attaches fringe firms, often background
        that a cluster swallowed when it split off, with a low probability; they stay
        members but do not stretch the polygon far into the background. 0 outlines
        every member.
    buffer
        A distance added around each outline (``"250m"`` or metres; default 0). An
        outline without area (all members at one address or on a line) gets
        :data:`MIN_AREA_BUFFER_M` metres when ``buffer`` is 0.
    crs
        The metric CRS to cluster in; default the automatic one.

    Returns
    -------
    HDBSCANResult
        ``clusters`` (the polygons), ``membership`` (per firm: ``hdbscan_cluster``,
        -1 for noise, and ``hdbscan_probability``); ``summary()``, ``to_frame()``,
        ``plot()``. Without ``by`` the cluster ids are scikit-learn's labels.

    Notes
    -----
    The time is scikit-learn's and grows faster than linearly: about 4 s for 20,000
    firms and 2 minutes for 100,000 in one group (``min_firms=25``, synthetic firms, one
    core); ``by=`` splits the work (100,000 firms in 5 industries: 23 s).

    Examples
    --------
    >>> import geopandas as gpd, numpy as np
    >>> import geocluster as gc
    >>> rng = np.random.default_rng(1)
    >>> xy = np.vstack([rng.uniform(0, 100_000, (200, 2)),
    ...                 rng.normal(30_000, 800, (60, 2)), rng.normal(70_000, 800, (60, 2))])
    >>> pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=3857)
    >>> from geocluster.clusters.hdbscan import hdbscan_clusters
    >>> res = hdbscan_clusters(pts, min_firms=30)
    >>> res.n_clusters, bool(res.clusters["n_firms"].ge(55).all())
    (2, True)
    """
    min_firms, min_samples, epsilon_m, buffer_m = _check_options(
        min_firms, min_samples, selection, epsilon, hull, buffer)
    outline_probability = _check_probability(outline_probability)
    pts = read_points(firms, where=_WHERE, crs=crs, what="firms")
    mask = subset_mask(firms, subset, where=_WHERE, what="firms")
    keep = np.ones(len(pts), dtype=bool) if mask is None else mask
    x, y, index = pts.x[keep], pts.y[keep], pts.index[keep]
    groups = _groups(firms, by, keep)
    _check_size(x, y, min_firms, min_samples)
    labels, probs, notes = _cluster_groups(x, y, groups, min_firms, min_samples, selection,
                                           epsilon_m, by)
    membership = pd.DataFrame({"hdbscan_cluster": labels, "hdbscan_probability": probs},
                              index=index)
    if by is not None:
        membership[by] = groups
    outline = Outline(hull, outline_probability, buffer_m)
    clusters = _outlines(x, y, labels, probs, groups, by, outline, pts.crs)
    return HDBSCANResult(clusters=clusters, membership=membership, crs=pts.crs,
                         min_firms=min_firms, min_samples=min_samples, selection=selection,
                         hull=hull, epsilon_m=epsilon_m, buffer_m=buffer_m, by=by, notes=notes,
                         outline_probability=outline_probability)


def _check_options(min_firms, min_samples, selection, epsilon, hull,
                   buffer) -> tuple[int, int, float, float]:
    min_firms = check_positive_int(min_firms, where=_WHERE, name="min_firms", minimum=2)
    min_samples = min_firms if min_samples is None else check_positive_int(
        min_samples, where=_WHERE, name="min_samples")
    if selection not in _SELECTIONS:
        raise InputError(f"{_WHERE}: selection={selection!r} must be 'eom' (excess of mass) "
                         "or 'leaf'.")
    if hull not in _HULLS:
        raise InputError(f"{_WHERE}: hull={hull!r} must be 'concave' or 'convex'.")
    return (min_firms, min_samples, _metres(epsilon, "epsilon"), _metres(buffer, "buffer"))


def _check_probability(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InputError(f"{_WHERE}: outline_probability={value!r} must be a number from 0 "
                         "to 1, e.g. 0.2 (0 outlines every member).")
    return float(value)


def _metres(value, name: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return 0.0
    metres = parse_distance(value, name=name)
    if not np.isfinite(metres) or metres < 0:
        raise InputError(f"{_WHERE}: {name}={value!r} must be a distance of 0 or more, "
                         "e.g. '500m' or '2km'.")
    return float(metres)


def _groups(firms: gpd.GeoDataFrame, by: str | None, keep: np.ndarray) -> np.ndarray | None:
    if by is None:
        return None
    if by not in firms.columns:
        raise InputError(f"{_WHERE}: by={by!r} is not a column of firms; columns are "
                         f"{[c for c in firms.columns if c != firms.geometry.name]}.")
    values = firms[by].to_numpy()[keep]
    missing = pd.isna(values)
    if missing.any():
        raise InputError(f"{_WHERE}: column {by!r} has {int(missing.sum())} missing values "
                         "among the firms analysed; fill or drop them first.")
    return values


def _check_size(x: np.ndarray, y: np.ndarray, min_firms: int, min_samples: int) -> None:
    n = len(x)
    if n < min_firms:
        raise InputError(f"{_WHERE}: {n} firms, fewer than min_firms={min_firms}, so no "
                         "cluster can form; lower min_firms or select more firms.")
    if n < min_samples:
        raise InputError(f"{_WHERE}: {n} firms, fewer than min_samples={min_samples}; "
                         "lower min_samples.")
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        raise InputError(f"{_WHERE}: all {n} firms are at one location, so there is no "
                         "density to compare; check the geocoding (a town or postcode "
                         "centroid?) or cluster a larger area.")


def _cluster_groups(x, y, groups, min_firms, min_samples, selection, epsilon_m,
                    by) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """HDBSCAN per group; cluster ids run on across groups (in sorted group order)."""
    labels = np.full(len(x), -1, dtype=np.int64)
    probs = np.zeros(len(x))
    notes: list[str] = []
    if groups is None:
        parts = [("", np.arange(len(x)))]
    else:
        codes, uniques = pd.factorize(groups, sort=True)
        parts = [(str(u), np.flatnonzero(codes == i)) for i, u in enumerate(uniques)]
    small = []
    offset = 0
    for name, rows in parts:
        if len(rows) < max(min_firms, min_samples, 2):
            small.append(f"{name} ({len(rows)})")
            continue
        lab, prob = _fit(np.column_stack([x[rows], y[rows]]), min_firms, min_samples,
                         selection, epsilon_m)
        labels[rows] = np.where(lab >= 0, lab + offset, -1)
        probs[rows] = prob
        offset += int(lab.max()) + 1 if (lab >= 0).any() else 0
    if small:
        notes.append(f"{by} groups with fewer firms than min_firms/min_samples, all noise: "
                     + ", ".join(small) + ".")
    return labels, probs, notes


def _fit(xy: np.ndarray, min_firms: int, min_samples: int, selection: str,
         epsilon_m: float) -> tuple[np.ndarray, np.ndarray]:
    model = HDBSCAN(min_cluster_size=min_firms, min_samples=min_samples,
                    cluster_selection_method=selection,
                    cluster_selection_epsilon=epsilon_m, copy=True)
    with warnings.catch_warnings():
        # duplicate addresses make zero distances; scikit-learn handles them
        warnings.simplefilter("ignore", RuntimeWarning)
        model.fit(xy)
    return model.labels_.astype(np.int64), np.asarray(model.probabilities_, dtype=float)


@dataclass(frozen=True)
class Outline:
    """How a cluster's polygon is drawn: the hull, the members it spans, the buffer."""

    hull: str
    probability: float
    buffer_m: float


def _outlines(x, y, labels, probs, groups, by, outline: Outline, crs) -> gpd.GeoDataFrame:
    rows = []
    for cid in np.unique(labels[labels >= 0]):
        members = labels == cid
        drawn = members & (probs >= outline.probability)
        if not drawn.any():  # cannot happen for HDBSCAN (its core has probability 1)
            drawn = members
        geom = _outline(x[drawn], y[drawn], outline.hull, outline.buffer_m)
        row: dict[str, Any] = {"cluster_id": int(cid)}
        if by is not None:
            row[by] = groups[members][0]
        row.update(n_firms=int(members.sum()), n_outlined=int(drawn.sum()),
                   n_core=int((probs[members] >= 1.0).sum()),
                   mean_probability=float(probs[members].mean()),
                   area_km2=float(geom.area / _M2_PER_KM2), geometry=geom)
        rows.append(row)
    columns = ["cluster_id", *([by] if by else []), "n_firms", "n_outlined", "n_core",
               "mean_probability",
               "area_km2", "geometry"]
    frame = pd.DataFrame(rows, columns=columns)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=crs)


def _outline(x: np.ndarray, y: np.ndarray, hull: str, buffer_m: float) -> shapely.Geometry:
    """The polygon of one cluster: its concave or convex hull, buffered."""
    points = shapely.multipoints(np.column_stack([x, y]))
    shape = (shapely.concave_hull(points, ratio=CONCAVE_RATIO) if hull == "concave"
             else shapely.convex_hull(points))
    if buffer_m > 0:
        return shape.buffer(buffer_m)
    if shape.area <= 0:
        return shape.buffer(MIN_AREA_BUFFER_M)
    return shape
