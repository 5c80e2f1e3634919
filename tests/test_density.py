"""Tests for gc.kde, DensitySurface and gc.density_clusters."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import pdist, squareform

import geocluster as gc
from geocluster._base.summary import Summary
from geocluster.clusters import _kde
from geocluster.errors import ConfigError, CRSError, InputError, MissingDependencyError

UTM = 32633


def _frame(xy, crs=UTM, **cols):
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


def _exact(surface, xy, w=None):
    """Direct evaluation of the kernel sum at every cell centre (weight per km^2)."""
    w = np.ones(len(xy)) if w is None else w
    gx, gy = np.meshgrid(surface.x, surface.y)
    out = np.zeros(gx.shape)
    for (px, py), wi in zip(xy, w, strict=True):
        d2 = (gx - px) ** 2 + (gy - py) ** 2
        out += wi * _kde.kernel_values(surface.kernel, d2, surface.bandwidth)
    return out * 1e6


@pytest.fixture(scope="module")
def two_thousand():
    rng = np.random.default_rng(3)
    xy = np.vstack([rng.normal(0, 20_000, (1500, 2)), rng.normal(30_000, 3_000, (500, 2))])
    w = rng.uniform(0.5, 3.0, len(xy))
    return xy, w


# ----------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("bandwidth", ["scott", "silverman", "4km"])
def test_accuracy_against_exact_evaluation(two_thousand, bandwidth):
    xy, _ = two_thousand
    s = gc.kde(_frame(xy), bandwidth=bandwidth)
    exact = _exact(s, xy)
    assert np.abs(s.values - exact).max() <= 1e-3 * exact.max()


def test_accuracy_weighted(two_thousand):
    xy, w = two_thousand
    s = gc.kde(_frame(xy, w=w), bandwidth="5km", weight="w")
    exact = _exact(s, xy, w)
    assert np.abs(s.values - exact).max() <= 1e-3 * exact.max()


@pytest.mark.parametrize("kernel", ["quartic", "epanechnikov"])
def test_accuracy_compact_kernels(two_thousand, kernel):
    xy, _ = two_thousand
    s = gc.kde(_frame(xy), bandwidth="12km", kernel=kernel)
    exact = _exact(s, xy)
    assert np.abs(s.values - exact).max() <= 2e-3 * exact.max()


def test_mass_equals_total_weight_with_four_bandwidth_padding(two_thousand):
    xy, w = two_thousand
    h = 5000.0
    lo, hi = xy.min(axis=0) - 4 * h, xy.max(axis=0) + 4 * h
    s = gc.kde(_frame(xy, w=w), bandwidth=h, weight="w", extent=(lo[0], lo[1], hi[0], hi[1]))
    assert s.total_weight == pytest.approx(w.sum())
    assert s.mass == pytest.approx(w.sum(), rel=0.01)
    # default extent pads by four bandwidths too
    assert gc.kde(_frame(xy), bandwidth="3km").mass == pytest.approx(len(xy), rel=0.01)


def test_extent_smaller_than_data_keeps_outside_points_contributions(two_thousand):
    xy, _ = two_thousand
    full = gc.kde(_frame(xy), bandwidth="4km", cell_size=1000)
    # a window whose cell edges line up with the full grid's
    x0, y0 = full.x0 + 20_000, full.y0 + 30_000
    part = gc.kde(_frame(xy), bandwidth="4km", cell_size=1000,
                  extent=(x0, y0, x0 + 40_000, y0 + 30_000))
    assert part.shape == (30, 40)
    # points beyond the 5-bandwidth truncation are dropped: exp(-12.5) = 4e-6 of a kernel
    np.testing.assert_allclose(part.values, full.values[30:60, 20:60], rtol=0,
                               atol=1e-5 * full.peak)


def test_unit_is_per_square_km():
    # one point, h = 1 km: the peak of a 2-D Gaussian is 1 / (2 pi h^2) = 0.159 per km^2
    s = gc.kde(_frame(np.array([[500.0, 500.0]])), bandwidth="1km", cell_size=100,
               extent=(0, 0, 1000, 1000))
    assert s.values.max() == pytest.approx(1 / (2 * np.pi) * np.exp(-(50**2) / 1e6), rel=2e-3)
    assert s.unit == "weight per km^2"


def _naive_linear_bin(x, y, w, nx, ny):
    out = np.zeros((ny, nx))
    for xi, yi, wi in zip(x, y, w, strict=True):
        if 0 <= xi <= nx - 1 and 0 <= yi <= ny - 1:
            j, i = min(int(xi), nx - 2), min(int(yi), ny - 2)
            tx, ty = xi - j, yi - i
            out[i, j] += wi * (1 - tx) * (1 - ty)
            out[i, j + 1] += wi * tx * (1 - ty)
            out[i + 1, j] += wi * (1 - tx) * ty
            out[i + 1, j + 1] += wi * tx * ty
    return out


def test_linear_binning_against_a_naive_loop():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 11, 500), rng.uniform(-1, 8, 500)
    x[:3], y[:3] = [0, 10, 10], [0, 7, 0]  # points on the first and last nodes
    w = rng.uniform(0, 2, 500)
    for weights in (w, None):
        got = _kde.linear_bin(x, y, weights, 0.0, 0.0, 1.0, 11, 8)
        ref = _naive_linear_bin(x, y, np.ones(500) if weights is None else weights, 11, 8)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    h=st.floats(200.0, 5000.0),
)
def test_mass_is_conserved_for_any_points_and_weights(n, seed, h):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20_000, (n, 2))
    w = rng.exponential(1.0, n) + 1e-3
    s = gc.kde(_frame(xy, w=w), bandwidth=h, weight="w")
    assert s.mass == pytest.approx(w.sum(), rel=0.01)
    assert (s.values >= 0).all()


# ----------------------------------------------------------------------------- bandwidth


def test_scott_and_silverman_rules_by_hand(two_thousand):
    xy, _ = two_thousand
    n = len(xy)
    sd = np.sqrt(0.5 * (xy[:, 0].var() + xy[:, 1].var()))
    iqr = 0.5 * sum(np.subtract(*np.percentile(xy[:, k], [75, 25])) for k in range(2))
    assert gc.kde(_frame(xy), bandwidth="scott").bandwidth == pytest.approx(sd * n ** (-1 / 6))
    s = gc.kde(_frame(xy), bandwidth="silverman")
    assert s.bandwidth == pytest.approx(min(sd, iqr / 1.349) * n ** (-1 / 6))
    assert s.bandwidth_method == "silverman"
    # compact kernels: radius with the same per-axis variance (quartic: R^2 / 8)
    q = gc.kde(_frame(xy), kernel="quartic", bandwidth="scott")
    assert q.bandwidth == pytest.approx(np.sqrt(8) * sd * n ** (-1 / 6))


@pytest.mark.slow
def test_cv_bandwidth_matches_brute_force_likelihood_cross_validation():
    rng = np.random.default_rng(5)
    xy = np.vstack([rng.uniform(0, 100_000, (300, 2)), rng.normal(40_000, 3_000, (150, 2)),
                    rng.normal(70_000, 1_500, (80, 2))])
    d2 = squareform(pdist(xy, "sqeuclidean"))
    np.fill_diagonal(d2, np.inf)
    hs = np.geomspace(500, 20_000, 150)
    scores = [np.mean(np.log(np.exp(-d2 / (2 * h * h)).sum(axis=1) / (2 * np.pi * h * h)))
              for h in hs]
    best = hs[int(np.argmax(scores))]
    s = gc.kde(_frame(xy), bandwidth="cv")
    assert s.bandwidth_method == "cv"
    assert s.bandwidth == pytest.approx(best, rel=0.03)


def test_cv_warns_when_duplicated_locations_drive_it_to_the_bound():
    # with every location repeated, the leave-one-out likelihood grows without limit as
    # h shrinks: the search ends at its lower bound and says so
    rng = np.random.default_rng(0)
    xy = np.repeat(rng.uniform(0, 50_000, (100, 2)), 5, axis=0)
    with pytest.warns(gc.GeoclusterWarning, match="at the edge of its search range"):
        gc.kde(_frame(xy), bandwidth="cv")


# ----------------------------------------------------------------------------- CRS


def test_geographic_crs_is_projected_automatically():
    rng = np.random.default_rng(1)
    lon = rng.normal(13.4, 0.1, 300)
    lat = rng.normal(52.5, 0.05, 300)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    s = gc.kde(pts, bandwidth="2km")
    assert s.crs.to_epsg() == 32633  # the UTM zone of Berlin
    metric = gc.kde(gc.to_metric(pts), bandwidth="2km")
    np.testing.assert_allclose(s.values, metric.values, rtol=1e-9, atol=1e-12)
    assert s.sample(pts.iloc[:5]).notna().all()


def test_named_crs_and_no_crs():
    pts = _frame(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    assert gc.kde(pts, bandwidth="1km", crs=3857).crs.to_epsg() == 3857
    with pytest.raises(CRSError, match="is not a projected CRS in metres"):
        gc.kde(pts, bandwidth="1km", crs=4326)
    with pytest.raises(CRSError, match="has no CRS"):
        gc.kde(pts.set_crs(None, allow_override=True), bandwidth="1km")


def test_unknown_crs_raises_geocluster_crs_error():
    pts = _frame(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    with pytest.raises(CRSError, match="crs='bogus' is not a CRS pyproj knows"):
        gc.kde(pts, bandwidth="1km", crs="bogus")
    with pytest.raises(CRSError, match="crs='bogus' is not a CRS pyproj knows"):
        gc.density_clusters(pts, bandwidth="1km", simulations=19, crs="bogus")


# ----------------------------------------------------------------------------- surface


def test_sample_is_bilinear_and_aligned(two_thousand):
    xy, _ = two_thousand
    s = gc.kde(_frame(xy), bandwidth="5km")
    centres = np.array([[s.x[10], s.y[20]], [s.x[11], s.y[20]]])
    got = s.sample(centres)
    np.testing.assert_allclose(got, [s.values[20, 10], s.values[20, 11]])
    mid = s.sample(np.array([[0.5 * (s.x[10] + s.x[11]), s.y[20]]]))
    assert mid[0] == pytest.approx(0.5 * (s.values[20, 10] + s.values[20, 11]))
    frame = _frame(np.array([[0.0, 0.0], [1e8, 0.0]]))
    frame.index = ["a", "b"]
    series = s.sample(frame)
    assert list(series.index) == ["a", "b"] and np.isnan(series["b"])


def test_contours_area_of_a_single_kernel_and_holes():
    # one point: {density >= L} is a disc with K(r) = L
    s = gc.kde(_frame(np.array([[0.0, 0.0]])), bandwidth="1km", cell_size=25)
    level = 0.5 * s.peak
    r = np.sqrt(-2 * np.log(level / (1e6 / (2 * np.pi * 1000**2)))) * 1000
    c = s.contours(level)
    assert c.crs == s.crs and c.geometry.is_valid.all()
    assert c["area_km2"].iloc[0] == pytest.approx(np.pi * r * r / 1e6, rel=0.01)
    # points on a ring: the region above a level is an annulus (a polygon with a hole)
    t = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    ring = np.column_stack([10_000 * np.cos(t), 10_000 * np.sin(t)])
    s = gc.kde(_frame(ring), bandwidth="1500m")
    geom = s.contours([0.5 * s.peak]).geometry.iloc[0]
    assert geom.is_valid and len(geom.geoms) == 1
    assert len(geom.geoms[0].interiors) == 1
    assert not geom.contains(shapely.Point(0, 0))
    assert geom.contains(shapely.Point(10_000, 0))
    empty = s.contours([10 * s.peak]).geometry.iloc[0]
    assert empty.is_empty


def test_repr_plot_and_optional_exports(tmp_path):
    s = gc.kde(_frame(np.array([[0.0, 0.0], [900.0, 300.0]])), bandwidth="1km")
    text = repr(s)
    assert "DensitySurface" in text and "bandwidth 1,000 m (fixed)" in text
    assert "EPSG:32633" in text and "2 points" in text
    fig = s.plot()
    ax = fig.axes[0]
    assert "bandwidth 1 km" in ax.get_title()
    assert any("per km^2" in a.get_ylabel() for a in fig.axes)
    try:
        import xarray  # noqa: F401
    except ImportError:
        with pytest.raises(MissingDependencyError, match=r"geocluster\[raster\]"):
            s.to_xarray()
    else:
        da = s.to_xarray()
        np.testing.assert_array_equal(da.values, s.values)
        np.testing.assert_allclose(da["x"].values, s.x)
    try:
        import rasterio
    except ImportError:
        with pytest.raises(MissingDependencyError, match=r"geocluster\[raster\]"):
            s.to_geotiff(tmp_path / "d.tif")
    else:
        s.to_geotiff(tmp_path / "d.tif")
        with rasterio.open(tmp_path / "d.tif") as src:
            np.testing.assert_allclose(src.read(1)[::-1], s.values)
            np.testing.assert_allclose(tuple(src.bounds), s.bounds)
            assert src.crs.to_epsg() == 32633


def test_input_not_mutated(two_thousand):
    xy, w = two_thousand
    pts = _frame(xy[:100], crs=4326 if False else UTM, w=w[:100])
    before = pts.copy()
    gc.kde(pts, weight="w", bandwidth="2km")
    gc.density_clusters(pts, bandwidth="2km", simulations=19, seed=0, weight="w")
    pd.testing.assert_frame_equal(pts, before)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_messages():
    one = _frame(np.array([[0.0, 0.0]]))
    same = _frame(np.zeros((5, 2)))
    with pytest.raises(InputError, match="is empty"):
        gc.kde(one.iloc[:0], bandwidth="1km")
    with pytest.raises(InputError, match="a single point; give a bandwidth with a unit"):
        gc.kde(one)
    with pytest.raises(InputError, match="5 points that are all identical"):
        gc.kde(same, bandwidth="silverman")
    # with a bandwidth, one point or identical points are fine
    assert gc.kde(same, bandwidth="1km").mass == pytest.approx(5, rel=1e-3)
    with pytest.raises(InputError, match="must be a positive, finite distance"):
        gc.kde(one, bandwidth=0)
    with pytest.raises(InputError, match="must be a positive, finite distance"):
        gc.kde(one, bandwidth=-5)
    with pytest.raises(InputError, match="'wide' is not understood"):
        gc.kde(one, bandwidth="wide")
    with pytest.raises(InputError, match="kernel='box' is not supported"):
        gc.kde(one, bandwidth="1km", kernel="box")
    with pytest.raises(InputError, match="1 rows with a missing geometry"):
        gc.kde(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0), None], crs=UTM), bandwidth="1km")
    with pytest.raises(InputError, match="1 empty points"):
        gc.kde(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0), shapely.Point()], crs=UTM),
               bandwidth="1km")
    with pytest.raises(InputError, match="1 rows are not points"):
        gc.kde(gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=UTM), bandwidth="1km")


def test_huge_grid_is_refused_with_count_and_suggestion():
    pts = _frame(np.array([[0.0, 0.0], [1e6, 1e6]]))
    with pytest.raises(InputError, match=r"= 100,000,000 cells.*larger cell_size \(e\.g\. cell_size=500"):
        gc.kde(pts, bandwidth="1km", cell_size=100, extent=(0, 0, 1e6, 1e6))


def test_bad_weights():
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 5.0]])
    with pytest.raises(InputError, match="weight column 'w' has 1 missing"):
        gc.kde(_frame(xy, w=[1.0, np.nan, 2.0]), bandwidth="1km", weight="w")
    with pytest.raises(InputError, match="weight column 'w' has 2 negative values"):
        gc.kde(_frame(xy, w=[-1.0, -2.0, 2.0]), bandwidth="1km", weight="w")
    with pytest.raises(InputError, match="sums to zero"):
        gc.kde(_frame(xy, w=[0.0, 0.0, 0.0]), bandwidth="1km", weight="w")
    with pytest.raises(InputError, match="weight='v' is not a column"):
        gc.kde(_frame(xy, w=[1.0, 1.0, 1.0]), bandwidth="1km", weight="v")


# ----------------------------------------------------------------------------- clusters


def _planted(seed, n_background=1500, hubs=((30_000, 30_000, 2_000, 150), (75_000, 60_000,
             3_000, 200))):
    rng = np.random.default_rng(seed)
    parts = [rng.uniform(0, 100_000, (n_background, 2))]
    for cx, cy, sd, m in hubs:
        parts.append(rng.normal((cx, cy), sd, (m, 2)))
    return np.vstack(parts)


def test_density_clusters_recover_planted_hubs():
    xy = _planted(11)
    cl = gc.density_clusters(_frame(xy), bandwidth="2km", simulations=39, seed=1)
    assert len(cl) == 2
    assert list(cl.columns) == ["cluster_id", "area_km2", "n_firms", "total_weight",
                                "peak_density", "geometry"]
    hubs = [shapely.Point(30_000, 30_000), shapely.Point(75_000, 60_000)]
    # each hub lies in exactly one cluster, and they are different clusters
    hit = [[poly.contains(h) for h in hubs] for poly in cl.geometry]
    assert sorted(map(tuple, hit)) == [(False, True), (True, False)]
    # the larger hub is listed first, and most of its planted firms are inside
    assert cl.geometry.iloc[0].contains(hubs[1])
    assert 120 <= cl["n_firms"].iloc[0] <= 260
    assert cl.attrs["p_value"] == pytest.approx(1 / 40)
    assert cl["total_weight"].equals(cl["n_firms"].astype(float))
    assert (cl["peak_density"] > cl.attrs["threshold"]).all()
    fig = gc.kde(_frame(xy), bandwidth="2km").plot(clusters=cl)
    assert len(fig.axes[0].collections) >= 1  # the cluster outlines
    # weights: the clusters' total weight is the sum of their firms' weights
    wcl = gc.density_clusters(_frame(xy, w=np.full(len(xy), 2.5)), bandwidth="2km",
                              simulations=39, seed=1, weight="w")
    np.testing.assert_allclose(wcl["total_weight"], 2.5 * wcl["n_firms"])
    # firms get the id of their cluster
    labelled = gc.exposure(_frame(xy), method="region", regions=cl)
    assert labelled["exposure"].sum() == cl["n_firms"].sum()
    assert labelled["exposure_id"].dropna().value_counts().to_dict() == dict(
        zip(cl["cluster_id"], cl["n_firms"], strict=True))


def test_density_clusters_seed_reproducible_and_attrs():
    pts = _frame(_planted(2))
    a = gc.density_clusters(pts, bandwidth="2km", simulations=19, seed=5)
    b = gc.density_clusters(pts, bandwidth="2km", simulations=19, seed=5)
    assert_geodataframe_equal(a, b)
    assert a.attrs == b.attrs
    assert a.attrs["null"] == "csr" and a.attrs["simulations"] == 19
    assert a.crs == pts.crs
    # a numpy integer seed is recorded as the int; a Generator gives the same clusters
    c = gc.density_clusters(pts, bandwidth="2km", simulations=19, seed=np.int64(5))
    assert c.attrs["seed"] == 5 and type(c.attrs["seed"]) is int
    g = gc.density_clusters(pts, bandwidth="2km", simulations=19, seed=np.random.default_rng(5))
    assert g.attrs["seed"] == "Generator"
    assert_geodataframe_equal(a, g)


@pytest.mark.parametrize(("option", "message"), [
    ({"seed": "x"}, r"seed='x' must be None, a non-negative int or a numpy Generator"),
    ({"seed": -1}, r"seed=-1 must be None, a non-negative int"),
    ({"seed": True}, r"seed=True must be None"),
    ({"simulations": "x"}, r"simulations='x' must be an integer >= 1"),
    ({"simulations": 19.5}, r"simulations=19.5 must be an integer >= 1"),
    ({"min_firms": "x"}, r"min_firms='x' must be an integer >= 1"),
    ({"min_firms": 0}, r"min_firms=0 must be an integer >= 1"),
    ({"alpha": "x"}, r"density_clusters: alpha='x' must be a number between 0 and 1"),
    ({"alpha": 1.0}, r"alpha=1.0 must be a number between 0 and 1"),
])
def test_density_clusters_validates_numbers_and_seed(option, message):
    pts = _frame(_planted(2))
    with pytest.raises(InputError, match=message):
        gc.density_clusters(pts, bandwidth="2km", **{"simulations": 19, **option})


@pytest.mark.slow
def test_no_more_false_alarms_on_csr_than_the_level_allows():
    # 19 simulations at alpha 0.05: threshold = the largest simulated maximum, and
    # P(any cluster | CSR) = 1/20. Over 100 CSR data sets the count of data sets with a
    # cluster is Binomial(100, 0.05): P(>= 12) = 0.004.
    hits = 0
    for seed in range(100):
        rng = np.random.default_rng(1000 + seed)
        xy = rng.uniform(0, 50_000, (150, 2))
        square = gpd.GeoSeries([shapely.box(0, 0, 50_000, 50_000)], crs=UTM)
        cl = gc.density_clusters(_frame(xy), bandwidth="3km", simulations=19, seed=seed,
                                 min_firms=1, study_area=square, cell_size=1000)
        hits += len(cl) > 0
    assert hits <= 11


def test_firms_null_controls_for_overall_concentration():
    # all firms concentrate in one city; industry "b" just follows them, industry "c"
    # has its own extra hub elsewhere
    rng = np.random.default_rng(8)
    city = rng.normal(50_000, 4_000, (1200, 2))
    rural = rng.uniform(0, 100_000, (800, 2))
    xy = np.vstack([city, rural, rng.normal((20_000, 80_000), 1_500, (60, 2))])
    ind = np.where(rng.uniform(size=2000) < 0.15, "b", "a").tolist() + ["c"] * 60
    c_rows = np.flatnonzero(np.array(ind) == "a")[:90]  # some "c" firms elsewhere too
    ind = np.array(ind, dtype=object)
    ind[c_rows] = "c"
    pts = _frame(xy, industry=ind)
    opts = dict(bandwidth="3km", simulations=39, seed=3)
    csr_b = gc.density_clusters(pts, subset=("industry", "b"), **opts)
    firms_b = gc.density_clusters(pts, subset=("industry", "b"), null="firms", **opts)
    firms_c = gc.density_clusters(pts, subset=pts["industry"] == "c", null="firms", **opts)
    assert len(csr_b) >= 1  # against CSR the city looks like a cluster of "b"
    assert len(firms_b) == 0  # relabelling firms: "b" is not more concentrated than all firms
    assert len(firms_c) == 1  # "c"'s own hub is found
    assert firms_c.geometry.iloc[0].contains(shapely.Point(20_000, 80_000))


def test_density_clusters_bad_options():
    pts = _frame(_planted(1, n_background=50, hubs=()))
    with pytest.raises(ConfigError, match="simulations=9 is too few for alpha=0.05.*at least 19"):
        gc.density_clusters(pts, bandwidth="2km", simulations=9)
    with pytest.raises(InputError, match="null='firms' relabels"):
        gc.density_clusters(pts, bandwidth="2km", null="firms")
    with pytest.raises(InputError, match="null='poisson' is not supported"):
        gc.density_clusters(pts, bandwidth="2km", null="poisson")
    with pytest.raises(InputError, match="alpha=1.5 must be a number between 0 and 1"):
        gc.density_clusters(pts, bandwidth="2km", alpha=1.5)
    with pytest.raises(TypeError, match="level"):
        gc.density_clusters(pts, bandwidth="2km", level=0.95)  # the old name is gone
    with pytest.raises(InputError, match="selects no points"):
        gc.density_clusters(pts.assign(k=1), bandwidth="2km", subset=("k", 2))
    line = _frame(np.column_stack([np.arange(10.0) * 100, np.zeros(10)]))
    with pytest.raises(InputError, match="convex hull has no area"):
        gc.density_clusters(line, bandwidth="1km")


def test_density_clusters_subset_forms():
    rng = np.random.default_rng(4)
    xy = np.vstack([rng.uniform(0, 60_000, (150, 2)), rng.normal(30_000, 1_500, (40, 2))])
    pts = _frame(xy, hub=np.r_[np.zeros(150, bool), np.ones(40, bool)], k=1)
    opts = dict(bandwidth="3km", simulations=19, seed=2)
    by_name = gc.density_clusters(pts, subset="hub", **opts)
    by_mask = gc.density_clusters(pts, subset=pts["hub"].to_numpy(), **opts)
    by_pair = gc.density_clusters(pts, subset=("hub", True), **opts)
    assert len(by_name) == 1 and by_name.geometry.iloc[0].contains(shapely.Point(30_000, 30_000))
    assert_geodataframe_equal(by_name, by_mask)
    assert_geodataframe_equal(by_name, by_pair)
    with pytest.raises(InputError, match="subset='nope' is not a column of points"):
        gc.density_clusters(pts, subset="nope", **opts)
    with pytest.raises(InputError, match=r"column 'k' must be boolean.*subset=\('k', value\)"):
        gc.density_clusters(pts, subset="k", **opts)
    with pytest.raises(InputError, match=r"got int64 values of shape \(190,\)"):
        gc.density_clusters(pts, subset=np.ones(190, dtype=np.int64), **opts)
    with pytest.raises(InputError, match="got 5"):
        gc.density_clusters(pts, subset=5, **opts)


@pytest.fixture(scope="module")
def synthetic_firms():
    return gc.datasets.make_firms(4000, seed=11)


def _hub_points(firms, industry, crs):
    hubs = firms.attrs["truth"]["hubs"]
    ll = gpd.GeoSeries(gpd.points_from_xy([h["lon"] for h in hubs[industry]],
                                          [h["lat"] for h in hubs[industry]]), crs=4326)
    others = [h for k, v in hubs.items() if k != industry for h in v]
    other_ll = gpd.GeoSeries(gpd.points_from_xy([h["lon"] for h in others],
                                                [h["lat"] for h in others]), crs=4326)
    pts, other_pts = list(ll.to_crs(crs)), other_ll.to_crs(crs)
    radii = [h["radius_km"] * 1000 for h in hubs[industry]]
    # a hub is shared if another industry has a hub within 50 km of it (Boston)
    shared = [bool((other_pts.distance(p) < 50_000).any()) for p in pts]
    return pts, radii, shared


@pytest.mark.slow
@pytest.mark.parametrize("null", ["csr", "firms"])
def test_density_clusters_recover_make_firms_hubs(synthetic_firms, null):
    firms = synthetic_firms
    cl = gc.density_clusters(firms, subset=("industry", "pharma"), null=null,
                             bandwidth="15km", simulations=19, seed=2)
    hubs, radii, shared = _hub_points(firms, "pharma", cl.crs)
    assert shared == [True, False, False, False]  # Boston-Cambridge is also other hubs
    for hub, r, is_shared in zip(hubs, radii, shared, strict=True):
        if null == "csr" or not is_shared:
            # a planted hub lies in (or within its radius of) a cluster. Under the
            # firms null a hub shared with other industries need not stand out: there
            # pharma is not over-represented relative to all firms.
            assert cl.distance(hub).min() <= r
    if null == "firms":
        # relative to all firms, only the planted hubs stand out: no cluster is far from one
        for poly in cl.geometry:
            assert min(poly.distance(hub) for hub in hubs) <= 50_000
    else:
        # against CSR, places dense in all activity (large cities) show up as well
        assert len(cl) > 4
    assert cl.attrs["statistic"] == ("density" if null == "csr" else "excess density")


def test_plot_in_km_with_context_and_sqrt_scale():
    import geopandas as gpd
    from shapely.geometry import box

    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0, 900, 5000], [0, 300, 2000]),
                           crs=3857)
    surface = gc.kde(pts, bandwidth="1km")
    context = gpd.GeoDataFrame(geometry=[box(-2000, -2000, 7000, 4000)], crs=3857)
    fig = surface.plot(context=context, scale="sqrt")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "x (km)" and "square-root" in fig.axes[1].get_ylabel()
    with pytest.raises(gc.InputError, match="scale='log' must be 'linear' or 'sqrt'"):
        surface.plot(scale="log")


# ----------------------------------------------------------------------------- scales


def test_absurd_bandwidth_is_refused(two_thousand):
    xy, _ = two_thousand
    pts = _frame(xy)
    diag = np.hypot(np.ptp(xy[:, 0]), np.ptp(xy[:, 1]))
    with pytest.raises(InputError, match=r"bandwidth='1000000000km' is 1e\+09 km, .* times the "
                       r"diagonal.*Check the unit.*bandwidth='cv'"):
        gc.kde(pts, bandwidth="1000000000km")
    with pytest.raises(InputError, match=r"times the diagonal of the points' extent"):
        gc.density_clusters(pts, bandwidth=11 * diag, simulations=19, seed=1)
    # 10 times the diagonal is still accepted (a deliberately smooth surface)
    assert gc.kde(pts, bandwidth=9.9 * diag, cell_size=diag).bandwidth == pytest.approx(9.9 * diag)


def test_cell_larger_than_the_kernel_is_refused(two_thousand):
    xy, _ = two_thousand
    with pytest.raises(InputError, match=r"cell_size='5km' \(5,000 m\) is larger than the "
                       r"kernel's standard deviation \(2,000 m.*cell_size=500"):
        gc.kde(_frame(xy), bandwidth="2km", cell_size="5km")
    assert gc.kde(_frame(xy), bandwidth="2km", cell_size="2km").cell_size == 2000


@pytest.fixture(scope="module")
def national():
    return gc.datasets.make_firms(20000, seed=1)


@pytest.mark.slow
def test_default_bandwidth_finds_metro_scale_clusters(national):
    """The planted semiconductor hubs come out as separate metro-sized clusters.

    make_firms plants the industry's hubs at San Jose, Phoenix, Portland and Austin
    (among others); a metropolitan area is of the order of 10,000 km^2.
    """
    import warnings

    semis = ("industry", "semiconductors")
    with warnings.catch_warnings():
        warnings.simplefilter("error", gc.GeoclusterWarning)  # no 'too large' warning
        cl = gc.density_clusters(national, subset=semis, null="firms", simulations=19, seed=1)
    assert cl.attrs["bandwidth_m"] < 60_000
    assert len(cl) >= 3 and (cl["area_km2"] < 30_000).all()
    centres = cl.to_crs(4326).representative_point()
    hubs = {"San Jose": (-121.9, 37.3), "Phoenix": (-112.0, 33.4), "Austin": (-97.7, 30.3)}
    for name, (lon, lat) in hubs.items():
        near = np.hypot(centres.x - lon, centres.y - lat) < 1.0
        assert near.sum() == 1, name  # one cluster per hub, not one region for several


@pytest.mark.slow
def test_clusters_over_a_quarter_of_the_area_warn(national):
    semis = ("industry", "semiconductors")
    # Scott's rule: 305 km; three clusters of 0.6-1.3 million km^2 (each under a quarter
    # of the convex hull of all sites, 10.3 million km^2, together over it)
    with pytest.warns(gc.GeoclusterWarning, match=r"the 3 clusters together cover \d+% of the "
                      r"study area.*bandwidth of 305 km.*bandwidth='cv'"):
        gc.density_clusters(national, subset=semis, null="firms", bandwidth="scott",
                            simulations=19, seed=1)


def test_one_cluster_over_a_quarter_of_the_area_warns():
    # a square study area of 100 x 100 km, an industry spread over its western half
    rng = np.random.default_rng(4)
    xy = np.column_stack([rng.uniform(0, 50_000, 2000), rng.uniform(0, 100_000, 2000)])
    square = shapely.box(0, 0, 100_000, 100_000)
    with pytest.warns(gc.GeoclusterWarning, match=r"cluster 1 covers [3-6]\d% of the study area "
                      r"\(10,000 km\^2\)"):
        cl = gc.density_clusters(_frame(xy), bandwidth="5km", study_area=square,
                                 simulations=19, seed=2)
    assert cl["area_km2"].iloc[0] > 2500


def test_automatic_crs_is_the_one_of_units():
    """The KDE's automatic CRS is units.auto_metric_crs: a null-island point is ignored."""
    from geocluster.units import auto_metric_crs, to_metric

    lon = np.r_[np.linspace(-122, -71, 40), 0.0]
    lat = np.r_[np.linspace(30, 45, 40), 0.0]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    surface = gc.kde(pts, bandwidth="200km")
    assert surface.crs.to_epsg() == 5070  # the contiguous-US equal-area CRS
    assert surface.crs == auto_metric_crs(lon, lat) == to_metric(pts).crs


@pytest.mark.parametrize(("kernel", "span"), [("gaussian", 3e6), ("quartic", 4e5),
                                              ("epanechnikov", 4e5)])
def test_mass_is_kept_on_a_coarse_default_grid(kernel, span):
    """50 firms over 400-3,000 km, bandwidth 1 km: the default grid (1,000 cells a side)
    has cells of 0.4-3 km, coarse against the kernel; the surface still holds 50 firms."""
    import warnings

    rng = np.random.default_rng(1)
    xy = np.column_stack([rng.uniform(0, span, 50), rng.uniform(0, 5e4, 50)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gc.GeoclusterWarning)  # undersampling, expected
        surface = gc.kde(_frame(xy), bandwidth="1km", kernel=kernel)
    assert surface.cell_size > 300
    assert surface.mass == pytest.approx(50, rel=1e-4)  # was 4-7x off (Gaussian), +3%
    assert _kde.kernel_grid(kernel, 1000.0, 250.0).sum() * 250.0**2 == pytest.approx(1.0)


def test_density_surface_summary_and_to_frame():
    pts = _frame(np.array([[0.0, 0.0], [1000.0, 500.0], [4000.0, 0.0]]))
    s = gc.kde(pts, bandwidth="1km")
    summary = s.summary()
    assert isinstance(summary, Summary)
    top = dict(summary.top)
    assert top["kernel"] == "gaussian" and top["points"] == "3"
    assert summary.to_frame().loc["max", "density"] == pytest.approx(s.peak)
    frame = s.to_frame()
    assert frame.columns.tolist() == ["x", "y", "density"] and len(frame) == s.values.size
    assert frame["density"].sum() * s.cell_area_km2 == pytest.approx(s.mass)
    # row-major from the south-west cell: (x[0], y[0]) first, then along x
    assert (frame["x"].iloc[1], frame["y"].iloc[1]) == (s.x[1], s.y[0])
    assert "Kernel density surface" in str(summary) and "<table" in summary._repr_html_()
