"""Marcon-Puech M function (geocluster.clusters.mfunction).

R's dbmss (``Mhat``, ``MEnvelope``) is the reference implementation, but it cannot be
installed here (CRAN is unreachable and Debian has no r-cran-dbmss), so M is checked
against an exact brute-force computation of dbmss's formula at small n, and the
envelopes by their coverage under random labelling (the null they simulate).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from geocluster._base.summary import Summary
from geocluster.clusters.mfunction import DBMSS_STEPS, m_function
from geocluster.errors import CRSError, InputError

UTM = "EPSG:32610"


def _pts(xy, **cols):
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM)


def _brute_m(xy, types, w, ref, nb, r):
    """dbmss::Mhat's formula, point by point and distance by distance."""
    n = len(types)
    out = []
    for rr in r:
        num = den = 0.0
        for i in range(n):
            if types[i] != ref:
                continue
            d = np.hypot(*(xy - xy[i]).T)
            near = [j for j in range(n) if j != i and d[j] <= rr]
            all_w = sum(w[j] for j in near)
            if all_w == 0:
                continue  # no neighbour: left out of both sums
            num += sum(w[j] for j in near if types[j] == nb) / all_w
            w_nb = sum(w[j] for j in range(n) if types[j] == nb and j != i)
            den += w_nb / (w.sum() - w[i])
        out.append(num / den if den > 0 else np.nan)
    return np.array(out)


@pytest.mark.parametrize("weighted", [False, True])
def test_m_equals_brute_force(weighted):
    rng = np.random.default_rng(1)
    xy = np.round(rng.uniform(0, 5_000, (70, 2)), -2)  # a 100-m lattice: coincident points
    xy[:5] = xy[5]                                      # and exact ties with r
    types = rng.choice(list("ABC"), 70)
    w = rng.integers(1, 40, 70).astype(float) if weighted else np.ones(70)
    pts = _pts(xy, t=types, emp=w)
    before = pts.copy()
    r = np.array([0.0, 100.0, 250.0, 500.0, 1000.0, 2500.0])
    for ref, nb in [("A", "A"), ("A", "B"), ("C", "A")]:
        res = m_function(pts, by="t", reference=ref, neighbor=nb, distances=r, simulations=0,
                         weight="emp" if weighted else None)
        exact = _brute_m(xy, types, w, ref, nb, r)
        np.testing.assert_allclose(res.m, exact, rtol=1e-12, equal_nan=True)
        assert res.intertype == (ref != nb) and res.weighted == weighted
    pd.testing.assert_frame_equal(pts, before)


def test_default_distances_follow_dbmss():
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 8_000, (60, 2))
    pts = _pts(xy, t=rng.choice(list("AB"), 60))
    res = m_function(pts, by="t", reference="A", simulations=0)
    half = np.hypot(*(xy.max(0) - xy.min(0))) / 2
    assert len(res.distance) == 63 and len(DBMSS_STEPS) == 63
    np.testing.assert_allclose(res.distance[-1], half)
    np.testing.assert_allclose(res.distance[20], half * 20 / 400)
    km = m_function(pts, by="t", reference="A", max_distance="2km", simulations=0)
    assert km.distance[-1] == 2000.0


@pytest.mark.slow
def test_envelopes_cover_under_random_labelling():
    # Types assigned at random to fixed (clustered) sites: the null of the envelopes. The
    # observed M is exchangeable with the simulated ones, so it leaves the pointwise
    # 90% envelope at a distance in about 10% and the global one anywhere in about 10%.
    rng = np.random.default_rng(3)
    xy = np.vstack([rng.normal(2_000, 400, (60, 2)), rng.uniform(0, 10_000, (90, 2))])
    r = np.array([250.0, 500.0, 1000.0, 2000.0, 3000.0])
    reps, out_local, out_global = 150, 0, 0
    for rep in range(reps):
        types = rng.permutation(np.r_[np.full(30, "A"), np.full(120, "B")])
        res = m_function(_pts(xy, t=types), by="t", reference="A", distances=r,
                         simulations=99, alpha=0.1, seed=rep)
        out_local += bool(res.m[2] > res.local_upper[2] or res.m[2] < res.local_lower[2])
        out_global += bool((res.m > res.global_upper).any() or (res.m < res.global_lower).any())
    # nominal 15 of 150; binomial 99.9% range about 5-29 (interpolated quantiles at 99
    # simulations sit slightly inside the order statistics)
    assert 4 <= out_local <= 30
    assert 3 <= out_global <= 30


def test_planted_concentration_and_intertype_attraction():
    rng = np.random.default_rng(4)
    hub = rng.normal(5_000, 300, (40, 2))
    near = hub + rng.normal(0, 100, (40, 2))  # type C sits next to the A firms
    other = rng.uniform(0, 20_000, (320, 2))
    xy = np.vstack([hub, near, other])
    types = np.r_[np.full(40, "A"), np.full(40, "C"), rng.choice(["B", "D"], 320)]
    pts = _pts(xy, t=types)
    res = m_function(pts, by="t", reference="A", max_distance="5km", simulations=99, seed=1)
    again = m_function(pts, by="t", reference="A", max_distance="5km", simulations=99, seed=1)
    other_seed = m_function(pts, by="t", reference="A", max_distance="5km", simulations=99,
                            seed=2)
    np.testing.assert_array_equal(res.simulated, again.simulated)
    assert not np.array_equal(res.simulated, other_seed.simulated)
    assert res.seed == 1 and not res.intertype
    at = np.searchsorted(res.distance, 1000)
    assert res.m[at] > res.global_upper[at] and res.p_value[at] == pytest.approx(2 / 100)
    assert res.outside_ranges()[0][0] == "above" and "above" in repr(res)
    cross = m_function(pts, by="t", reference="A", neighbor="C", max_distance="5km",
                       simulations=99, seed=1)
    assert cross.intertype and cross.m[at] > cross.global_upper[at]
    frame = res.to_frame()
    assert frame.columns.tolist() == ["distance", "distance_km", "m", "local_lower",
                                      "local_upper", "global_lower", "global_upper", "p_value"]
    s = res.summary()
    assert isinstance(s, Summary) and s.to_frame().columns.tolist() == ["kind", "from_km",
                                                                         "to_km"]
    fig = cross.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert "A -> C" in ax.get_title() and ax.get_ylabel() == "M(r)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "global 95% envelope", "pointwise 95% envelope", "M = 1", "M(r), observed"]


def test_bad_input():
    pts = _pts([[0, 0], [1, 0], [5, 0], [9, 0]], t=list("AABB"), emp=[1.0, 2, 3, 4])
    with pytest.raises(InputError, match="by='kind' is not a column"):
        m_function(pts, by="kind", reference="A")
    with pytest.raises(InputError, match="reference='Z' is not a value"):
        m_function(pts, by="t", reference="Z")
    with pytest.raises(InputError, match="neighbor='Z' is not a value"):
        m_function(pts, by="t", reference="A", neighbor="Z")
    with pytest.raises(InputError, match="has one point"):
        m_function(_pts([[0, 0], [1, 0], [2, 0]], t=list("ABB")), by="t", reference="A")
    with pytest.raises(InputError, match="every point is of type 'A'"):
        m_function(pts.assign(t="A"), by="t", reference="A")
    with pytest.raises(InputError, match="not both"):
        m_function(pts, by="t", reference="A", distances=[1, 2], max_distance="1km")
    with pytest.raises(InputError, match="strictly increasing"):
        m_function(pts, by="t", reference="A", distances=[2, 1])
    with pytest.raises(InputError, match="weight='jobs'"):
        m_function(pts, by="t", reference="A", weight="jobs")
    with pytest.raises(InputError, match="simulations=-1"):
        m_function(pts, by="t", reference="A", simulations=-1)
    with pytest.raises(InputError, match="alpha=0.7"):
        m_function(pts, by="t", reference="A", alpha=0.7)
    with pytest.raises(InputError, match="alternative='up'"):
        m_function(pts, by="t", reference="A", alternative="up")
    with pytest.raises(InputError, match="missing values"):
        m_function(pts.assign(t=["A", None, "B", "B"]), by="t", reference="A")
    with pytest.raises(CRSError, match="no CRS"):
        m_function(pts.set_crs(None, allow_override=True), by="t", reference="A")
