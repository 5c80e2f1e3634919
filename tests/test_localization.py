"""Tests for geocluster.clusters.localization (Duranton-Overman K-density)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy.spatial.distance import cdist, pdist
from scipy.stats import norm

import geocluster as gc
import geocluster.clusters._pairs as pairs
import geocluster.clusters.colocalization as colocal
import geocluster.clusters.localization as loc
from geocluster._base.summary import Summary
from geocluster.errors import CRSError, InputError

UTM = "EPSG:32610"


def _sites(xy, crs=UTM, **cols):
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


def _exact_k(xy, h, grid, w=None):
    """K-density per km by brute force: every pair from pdist, exact Gaussian, reflected."""
    d = pdist(xy)
    pw = np.ones_like(d) if w is None else pdist(w[:, None], lambda a, b: a[0] * b[0])
    dens = norm.pdf((grid[:, None] - d) / h) + norm.pdf((grid[:, None] + d) / h)
    return (dens * pw).sum(axis=1) / (h * pw.sum()) * 1000.0


@pytest.fixture(scope="module")
def planted():
    # 900 sites spread over a 100 km square; the industry is 100 firms packed around
    # (30 km, 30 km) with a 2 km standard deviation.
    rng = np.random.default_rng(42)
    xy = np.vstack([rng.uniform(0, 100_000, (900, 2)), rng.normal(30_000, 2_000, (100, 2))])
    industry = np.r_[np.full(900, "other"), np.full(100, "biotech")]
    emp = rng.integers(1, 200, size=1000).astype(float)
    return _sites(xy, industry=industry, emp=emp, idx=np.arange(1000))


def test_planted_concentration_is_localised(planted):
    before = planted.copy()
    res = gc.k_density(planted, subset=("industry", "biotech"), simulations=99, seed=1)
    pd.testing.assert_frame_equal(planted, before)
    assert res.is_localised and not res.is_dispersed
    assert res.localisation_index > 0 and res.dispersion_index == 0
    # Localised from 0 km out to a few cluster diameters, not at the far end.
    first = res.localised_ranges()[0]
    assert first[0] == 0 and 5_000 < first[1] < 20_000
    assert res.k[0] > 5 * res.global_upper[0]
    assert res.n_firms == 100 and res.n_sites == 1000
    assert "localised" in repr(res) and "100 of 1,000 sites" in repr(res)
    # Bands are ordered: global outside local, lower below upper.
    assert (res.global_upper >= res.local_upper - 1e-12).all()
    assert (res.global_lower <= res.local_lower + 1e-12).all()
    assert (res.local_lower <= res.local_upper).all()
    # The weighted version sees the same concentration.
    weighted = gc.k_density(
        planted, subset=planted["industry"] == "biotech", weight="emp", simulations=49, seed=1
    )
    assert weighted.is_localised and weighted.weighted


@pytest.mark.slow
def test_random_industry_is_rarely_localised():
    # The industry's firms are a random subset of the sites: the null hypothesis holds,
    # so the global 5% band should be crossed in about 5% of the runs.
    localised = dispersed = 0
    runs = 16
    for s in range(runs):
        rng = np.random.default_rng(1000 + s)
        xy = np.vstack([rng.uniform(0, 100_000, (350, 2)), rng.normal(50_000, 8_000, (150, 2))])
        chosen = np.zeros(500, dtype=bool)
        chosen[rng.choice(500, 40, replace=False)] = True
        res = gc.k_density(_sites(xy), subset=chosen, simulations=199, seed=s)
        localised += res.is_localised
        dispersed += res.is_dispersed
    # Expected 0.8 of 16 at 5%; more than 3 has probability < 1% under the nominal rate.
    assert localised <= 3
    assert dispersed <= 3


def test_dispersed_industry():
    # Sites crowd into three tight towns plus a spread-out hinterland; the industry
    # lives in the hinterland only, so its firms are farther apart than random draws
    # from all sites, i.e. too few short distances.
    rng = np.random.default_rng(5)
    towns = np.vstack(
        [rng.normal(c, 1_500, (300, 2)) for c in ([20e3, 20e3], [80e3, 30e3], [50e3, 80e3])]
    )
    xy = np.vstack([towns, rng.uniform(0, 100_000, (100, 2))])
    chosen = np.r_[np.zeros(900, bool), np.ones(100, bool)]
    res = gc.k_density(_sites(xy), subset=chosen, simulations=99, seed=3, max_distance="20km")
    assert (res.k[:20] < res.global_lower[:20]).any()
    if not res.is_localised:
        assert res.is_dispersed and res.dispersion_index > 0


def test_indices_follow_duranton_overman():
    d = np.linspace(0, 10_000, 11)  # 0..10 km, 1-km steps
    lower, upper = np.full(11, 1.0), np.full(11, 2.0)
    k = np.full(11, 1.5)
    k[2] = 3.0  # 1 above the upper band at one distance: Gamma = trapezoid = 1 x 1 km
    k[8] = 0.5  # below the lower band
    gamma, psi = loc._indices(d, k, lower, upper, 99)
    assert gamma == pytest.approx(1.0) and psi == 0.0  # localised: Psi set to 0
    k[2] = 1.5
    gamma, psi = loc._indices(d, k, lower, upper, 99)
    assert gamma == 0.0 and psi == pytest.approx(0.5)


def test_global_band_is_crossed_by_at_most_alpha_of_simulations():
    rng = np.random.default_rng(0)
    sims = rng.normal(size=(199, 50)).cumsum(axis=1)
    lower_loc, upper_loc, lower, upper, q_lo, q_hi = loc._bands(sims, 0.05, 50)
    above = (sims > upper).any(axis=1).mean()
    below = (sims < lower).any(axis=1).mean()
    assert above <= 0.05 and below <= 0.05
    # ... and it is the tightest such band: a slightly lower level is crossed by more.
    assert (sims > np.quantile(sims, q_hi - 0.002, axis=0)).any(axis=1).mean() > 0.05
    assert q_hi > 0.95 and q_lo < 0.05
    np.testing.assert_allclose(upper_loc, np.quantile(sims, 0.95, axis=0))


def test_blocked_distances_equal_pdist(monkeypatch):
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 5_000, (157, 2))
    w = rng.uniform(0.5, 3, 157)
    monkeypatch.setattr(pairs, "BLOCK_PAIRS", 1_000)  # many blocks of 6 rows
    chunks = list(pairs.pair_blocks(xy, w))
    assert len(chunks) > 20
    d = np.concatenate([c[0] for c in chunks])
    pw = np.concatenate([c[1] for c in chunks])
    ref = pdist(xy)
    order, ref_order = np.argsort(d, kind="stable"), np.argsort(ref, kind="stable")
    np.testing.assert_array_equal(np.sort(d), np.sort(ref))
    ref_w = pdist(w[:, None], lambda a, b: a[0] * b[0])
    np.testing.assert_allclose(np.sort(pw), np.sort(ref_w))
    np.testing.assert_allclose(pw[order].sum(), ref_w[ref_order].sum())


@pytest.mark.parametrize("block", [1_000, pairs.BLOCK_PAIRS])
def test_k_equals_brute_force(monkeypatch, block):
    monkeypatch.setattr(pairs, "BLOCK_PAIRS", block)
    rng = np.random.default_rng(2)
    xy = np.vstack([rng.uniform(0, 50_000, (250, 2)), rng.normal(10_000, 3_000, (50, 2))])
    emp = rng.integers(1, 100, 300).astype(float)
    sites = _sites(xy, emp=emp)
    chosen = np.r_[np.zeros(200, bool), np.ones(100, bool)]
    res = gc.k_density(sites, subset=chosen, simulations=0)
    exact = _exact_k(xy[chosen], res.bandwidth, res.distance)
    np.testing.assert_allclose(res.k, exact, atol=1e-4 * exact.max())
    resw = gc.k_density(sites, subset=chosen, weight="emp", simulations=0, bandwidth="2km")
    assert resw.bandwidth == 2000.0
    exact_w = _exact_k(xy[chosen], 2000.0, resw.distance, w=emp[chosen])
    np.testing.assert_allclose(resw.k, exact_w, atol=1e-4 * exact_w.max())


def test_defaults_median_distance_and_silverman():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 80_000, (400, 2))
    chosen = np.zeros(400, bool)
    chosen[:120] = True
    res = gc.k_density(_sites(xy), subset=chosen, simulations=0)
    all_d = pdist(xy)
    span = np.hypot(*(xy.max(0) - xy.min(0)))
    assert res.max_distance == pytest.approx(np.median(all_d), abs=span / 16_384)
    d = pdist(xy[:120])
    iqr = np.subtract(*np.percentile(d, [75, 25]))
    silverman = 0.9 * min(d.std(), iqr / 1.34) * len(d) ** -0.2
    assert res.bandwidth == pytest.approx(silverman, rel=2e-3)
    assert res.distance[0] == 0 and res.distance[-1] == pytest.approx(res.max_distance)
    assert len(res.distance) == 201


def test_density_integrates_to_one_with_reflection():
    rng = np.random.default_rng(4)
    xy = rng.normal(0, 3_000, (200, 2))  # many short distances: reflection matters
    res = gc.k_density(_sites(xy), simulations=0, max_distance="40km", grid_points=2001)
    km = res.distance / 1000
    assert np.trapezoid(res.k, km) == pytest.approx(1.0, abs=2e-3)
    assert "no test" in repr(res)


def test_seed_determinism(planted):
    kwargs = dict(subset=("industry", "biotech"), simulations=19, max_distance="50km")
    a = gc.k_density(planted, seed=7, **kwargs)
    b = gc.k_density(planted, seed=7, **kwargs)
    c = gc.k_density(planted, seed=8, **kwargs)
    np.testing.assert_array_equal(a.simulated, b.simulated)
    np.testing.assert_array_equal(a.global_upper, b.global_upper)
    assert a.seed == 7
    assert not np.array_equal(a.simulated, c.simulated)
    d = gc.k_density(planted, seed=np.random.default_rng(7), **kwargs)
    np.testing.assert_array_equal(a.simulated, d.simulated)
    # The same industry given as a mask, a bool column, or (column, value) agrees.
    mask = (planted["industry"] == "biotech").to_numpy()
    e = gc.k_density(planted.assign(bio=mask), seed=7, **{**kwargs, "subset": "bio"})
    np.testing.assert_array_equal(a.k, e.k)
    np.testing.assert_array_equal(a.simulated, e.simulated)


def test_geographic_input_is_projected(planted):
    lonlat = planted.to_crs("EPSG:4326")
    res = gc.k_density(lonlat, subset=("industry", "biotech"), simulations=0, max_distance="30km")
    ref = gc.k_density(planted, subset=("industry", "biotech"), simulations=0, max_distance="30km")
    assert gc.units.is_metric(res.crs)  # a UTM zone chosen by to_metric (zone 9 here)
    np.testing.assert_allclose(res.k, ref.k, atol=0.02 * ref.k.max())  # zone 9 vs 10 scale
    named = gc.k_density(
        lonlat, subset=("industry", "biotech"), simulations=0, max_distance="30km", crs=UTM
    )
    assert named.crs.to_epsg() == 32610
    np.testing.assert_allclose(named.k, ref.k, rtol=1e-6, atol=1e-9)


def test_frame_and_plot(planted):
    res = gc.k_density(
        planted, subset=("industry", "biotech"), simulations=19, seed=0, max_distance="60km"
    )
    frame = res.to_frame()
    assert list(frame.columns) == [
        "distance",
        "distance_km",
        "k",
        "local_lower",
        "local_upper",
        "global_lower",
        "global_upper",
        "localised",
        "dispersed",
    ]
    assert len(frame) == 201 and frame["distance_km"].iloc[-1] == pytest.approx(60.0)
    assert frame["localised"].iloc[0]
    fig = res.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "distance (km)" and "per km" in ax.get_ylabel()
    assert "K-density" in ax.get_title() and "localised" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["global 90% band", "local 5-95% band", "K(d), observed"]
    assert len(ax.collections) == 2  # the two shaded bands


def test_bad_input(planted):
    with pytest.raises(InputError, match="points must be a GeoDataFrame of points, got DataFrame"):
        gc.k_density(pd.DataFrame({"a": [1]}))
    with pytest.raises(CRSError, match="no CRS"):
        gc.k_density(planted.set_crs(None, allow_override=True), subset=("industry", "biotech"))
    with pytest.raises(InputError, match="must be boolean"):
        gc.k_density(planted, subset="industry")
    with pytest.raises(InputError, match="'sector' is not a column"):
        gc.k_density(planted, subset=("sector", "x"))
    with pytest.raises(InputError, match="no point has industry == 'toys'"):
        gc.k_density(planted, subset=("industry", "toys"))
    with pytest.raises(InputError, match="boolean mask of length 1000"):
        gc.k_density(planted, subset=np.ones(10, bool))
    with pytest.raises(InputError, match="index differs"):
        gc.k_density(planted, subset=pd.Series(True, index=np.arange(1, 1001)))
    with pytest.raises(InputError, match="selects 2 firms; at least 3"):
        gc.k_density(planted, subset=planted["idx"] < 2)
    with pytest.raises(InputError, match="selects all 1000 sites"):
        gc.k_density(planted)
    with pytest.raises(InputError, match="weight column 'emp' has 1 negative"):
        gc.k_density(
            planted.assign(emp=np.r_[-1.0, planted["emp"].to_numpy()[1:]]),
            subset=("industry", "biotech"),
            weight="emp",
        )
    with pytest.raises(InputError, match="weight='jobs'"):
        gc.k_density(planted, subset=("industry", "biotech"), weight="jobs")
    with pytest.raises(InputError, match="simulations=-1"):
        gc.k_density(planted, subset=("industry", "biotech"), simulations=-1)
    with pytest.raises(InputError, match="alpha=0.7"):
        gc.k_density(planted, subset=("industry", "biotech"), alpha=0.7)
    with pytest.raises(InputError, match="max_distance"):
        gc.k_density(planted, subset=("industry", "biotech"), max_distance="far")
    with pytest.raises(InputError, match="must be .silverman. or a distance"):
        gc.k_density(planted, subset=("industry", "biotech"), bandwidth="scott")
    poly = planted.assign(geometry=planted.buffer(10))
    with pytest.raises(InputError, match="must be points"):
        gc.k_density(poly, subset=("industry", "biotech"))
    same = _sites(np.zeros((5, 2)), f=np.array([1, 1, 1, 0, 0], bool))
    with pytest.raises(InputError, match="same location"):
        gc.k_density(same, subset="f")


def test_equal_weights_equal_unweighted():
    rng = np.random.default_rng(9)
    xy = rng.uniform(0, 100_000, (300, 2))
    sites = _sites(xy, w=np.full(300, 3.0))
    chosen = np.arange(300) < 80
    plain = gc.k_density(sites, subset=chosen, simulations=9, seed=2)
    weighted = gc.k_density(sites, subset=chosen, weight="w", simulations=9, seed=2)
    assert weighted.bandwidth == pytest.approx(plain.bandwidth, rel=1e-12)
    np.testing.assert_allclose(weighted.k, plain.k, rtol=1e-10)
    np.testing.assert_allclose(weighted.simulated, plain.simulated, rtol=1e-10)


def test_planted_hubs_on_us_geography():
    # make_firms plants 35% of each industry's firms within 40 km of its hubs.
    firms = gc.datasets.make_firms(3000, seed=1)
    res = gc.k_density(
        firms,
        subset=("industry", "semiconductors"),
        simulations=49,
        seed=0,
        max_distance="300km",
        bandwidth="10km",
    )
    assert res.is_localised
    assert res.localised_ranges()[0][0] == 0.0
    assert res.crs.to_epsg() == 5070


def test_rounding_noise_above_the_band_is_a_tie_not_localisation():
    distance = np.linspace(0, 10_000, 11)
    upper = np.full(11, 0.2)
    lower = np.full(11, 0.05)
    k = upper + 1e-17  # the observed curve equals the band up to rounding
    assert loc._indices(distance, k, lower, upper, 99, tol=1e-10 * 0.2) == (0.0, 0.0)
    # a real excess of 0.01 per km over 10 km is Gamma = 0.1
    gamma, psi = loc._indices(distance, upper + 0.01, lower, upper, 99, tol=1e-10 * 0.2)
    assert gamma == pytest.approx(0.1) and psi == 0.0


def test_k_density_summary_and_seed_label(planted):
    res = gc.k_density(planted, subset=("industry", "biotech"), simulations=19,
                       seed=np.random.default_rng(3), bandwidth="10km")
    assert res.seed == "Generator"  # recorded the one way (it was None)
    summary = res.summary()
    assert isinstance(summary, Summary)
    top = dict(summary.top)
    assert top["verdict"] == ("localised" if res.is_localised else top["verdict"])
    assert top["simulations"] == "19" and top["seed"] == "Generator"
    table = summary.to_frame()
    assert table.columns.tolist() == ["kind", "from_km", "to_km"]
    assert len(table) == len(res.localised_ranges()) + len(res.dispersed_ranges())
    assert "Duranton-Overman K-density test" in str(summary)


# --------------------------------------------------------------------------------------
# co-localisation: the cross K-density of two industries (clusters.colocalization)
# --------------------------------------------------------------------------------------


def _exact_cross_k(xa, xb, h, grid, wa=None, wb=None):
    """Cross K-density per km by brute force over all n_a x n_b pairs (cdist)."""
    d = cdist(xa, xb).ravel()
    pw = np.ones_like(d) if wa is None else np.multiply.outer(wa, wb).ravel()
    dens = norm.pdf((grid[:, None] - d) / h) + norm.pdf((grid[:, None] + d) / h)
    return (dens * pw).sum(axis=1) / (h * pw.sum()) * 1000.0


def _two_hubs(seed=0, same_hub=True, n_other=400):
    rng = np.random.default_rng(seed)
    a = rng.normal(30_000, 2_000, (40, 2))
    b = rng.normal(30_000 if same_hub else 70_000, 2_000, (40, 2))
    xy = np.vstack([a, b, rng.uniform(0, 100_000, (n_other, 2))])
    ind = np.r_[np.full(40, "a"), np.full(40, "b"), np.full(n_other, "o")]
    emp = rng.integers(1, 100, len(ind)).astype(float)
    return _sites(xy, ind=ind, emp=emp), xy


@pytest.mark.parametrize("block", [500, pairs.BLOCK_PAIRS])
def test_cross_k_equals_brute_force(monkeypatch, block):
    monkeypatch.setattr(pairs, "BLOCK_PAIRS", block)
    sites, xy = _two_hubs(1, same_hub=False)
    before = sites.copy()
    res = colocal.k_density_pair(sites, by="ind", pair=("a", "b"), simulations=0)
    pd.testing.assert_frame_equal(sites, before)
    exact = _exact_cross_k(xy[:40], xy[40:80], res.bandwidth, res.distance)
    np.testing.assert_allclose(res.k, exact, atol=1e-4 * exact.max())
    # Silverman's rule on the 1600 cross distances
    d = cdist(xy[:40], xy[40:80]).ravel()
    iqr = np.subtract(*np.percentile(d, [75, 25]))
    assert res.bandwidth == pytest.approx(0.9 * min(d.std(), iqr / 1.34) * len(d) ** -0.2,
                                          rel=2e-3)
    emp = sites["emp"].to_numpy()
    resw = colocal.k_density_pair(sites, by="ind", pair=("a", "b"), weight="emp",
                                  bandwidth="3km", simulations=0)
    exact_w = _exact_cross_k(xy[:40], xy[40:80], 3000.0, resw.distance, emp[:40], emp[40:80])
    np.testing.assert_allclose(resw.k, exact_w, atol=1e-4 * exact_w.max())
    assert resw.weighted and "no test" in repr(resw)


def test_pair_in_one_hub_is_colocalised_under_relocation_not_labelling():
    sites, _ = _two_hubs(2, same_hub=True)
    reloc = colocal.k_density_pair(sites, by="ind", pair=("a", "b"), simulations=49, seed=1,
                                   max_distance="40km")
    assert reloc.is_localised and reloc.localised_ranges()[0][0] == 0.0
    # A and B share the hub: given where they are, the labels are as good as random
    label = colocal.k_density_pair(sites, by="ind", pair=("a", "b"), simulations=49, seed=1,
                                   max_distance="40km", null="labelling")
    assert not label.is_localised and label.null == "labelling"
    again = colocal.k_density_pair(sites, by="ind", pair=("a", "b"), simulations=49, seed=1,
                                   max_distance="40km")
    np.testing.assert_array_equal(reloc.simulated, again.simulated)
    assert reloc.seed == 1 and reloc.n_a == 40 and reloc.n_b == 40 and reloc.n_sites == 480
    assert "co-localised" in repr(reloc) and "'a' x 'b'" in repr(reloc)
    s = reloc.summary()
    assert isinstance(s, Summary) and dict(s.top)["verdict"] == "co-localised"
    assert set(s.to_frame()["kind"]) <= {"co-localised", "co-dispersed"}
    fig = reloc.plot()
    assert "Cross K-density a x b" in fig.axes[0].get_title()
    assert "K_AB(d), observed" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_segregated_pair_is_codispersed_under_labelling():
    sites, _ = _two_hubs(3, same_hub=False)
    res = colocal.k_density_pair(sites, by="ind", pair=("a", "b"), simulations=49, seed=2,
                                 max_distance="30km", null="labelling", weight="emp")
    assert not res.is_localised and res.is_dispersed
    assert (res.k[:20] < res.global_lower[:20]).all()


def test_k_density_pair_bad_input(planted):
    with pytest.raises(InputError, match="points must be a GeoDataFrame"):
        colocal.k_density_pair(pd.DataFrame({"a": [1]}), by="a", pair=(1, 2))
    with pytest.raises(InputError, match="by='sector' is not a column"):
        colocal.k_density_pair(planted, by="sector", pair=("a", "b"))
    with pytest.raises(InputError, match="two different industries"):
        colocal.k_density_pair(planted, by="industry", pair=("biotech", "biotech"))
    with pytest.raises(InputError, match="no firm has industry == 'toys'"):
        colocal.k_density_pair(planted, by="industry", pair=("biotech", "toys"))
    with pytest.raises(InputError, match="null='random'"):
        colocal.k_density_pair(planted, by="industry", pair=("biotech", "other"), null="random")
    with pytest.raises(InputError, match="hold all 1000 sites"):
        colocal.k_density_pair(planted, by="industry", pair=("biotech", "other"))
    with pytest.raises(InputError, match="simulations=-1"):
        colocal.k_density_pair(planted, by="industry", pair=("biotech", "other"),
                               simulations=-1)
    two = _sites([[0, 0], [1, 0], [5, 5], [9, 9]], ind=["a", "b", "c", "c"])
    with pytest.raises(InputError, match="gives 1 cross pairs"):
        colocal.k_density_pair(two, by="ind", pair=("a", "b"))
