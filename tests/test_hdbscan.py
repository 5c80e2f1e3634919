"""HDBSCAN firm clusters: planted truth, scikit-learn on the same metres, bad inputs."""

import geopandas as gpd
import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from matplotlib.figure import Figure
from sklearn.cluster import HDBSCAN
from sklearn.metrics import adjusted_rand_score

import geocluster as gc
from geocluster._base.summary import Summary
from geocluster.clusters.hdbscan import (
    MIN_AREA_BUFFER_M,
    OUTLINE_PROBABILITY,
    HDBSCANResult,
    hdbscan_clusters,
)
from geocluster.errors import CRSError, InputError

CENTRES = [(20_000.0, 20_000.0), (70_000.0, 30_000.0), (45_000.0, 75_000.0)]
UTM = "EPSG:32632"


def _planted(seed: int = 4, crs: str = "EPSG:4326") -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """300 firms uniform on 100 x 100 km plus 3 blobs of 80 (sd 600 m); truth -1 = background."""
    rng = np.random.default_rng(seed)
    xy = [rng.uniform(0, 100_000, (300, 2))]
    truth = [np.full(300, -1)]
    for k, (cx, cy) in enumerate(CENTRES):
        xy.append(rng.normal((cx, cy), 600.0, (80, 2)))
        truth.append(np.full(80, k))
    xy_all = np.vstack(xy) + (400_000.0, 5_000_000.0)  # inside UTM zone 32N
    frame = gpd.GeoDataFrame(
        {"industry": np.where(np.arange(len(xy_all)) % 2 == 0, "a", "b")},
        geometry=gpd.points_from_xy(xy_all[:, 0], xy_all[:, 1]), crs=UTM,
        index=[f"f{i}" for i in range(len(xy_all))])
    return frame.to_crs(crs), np.concatenate(truth)


@pytest.fixture(scope="module")
def planted():
    return _planted()


def _sklearn(xy: np.ndarray, **kwargs) -> HDBSCAN:
    return HDBSCAN(copy=True, **kwargs).fit(xy)


def test_recovers_planted_clusters_from_a_geographic_crs(planted):
    firms, truth = planted
    res = hdbscan_clusters(firms, min_firms=30)
    assert res.crs.is_projected  # clustered in metres, not degrees
    labels = res.membership.loc[firms.index, "hdbscan_cluster"].to_numpy()
    blob = truth >= 0
    # every planted blob is one cluster of its own, holding nearly all its firms
    found = [np.bincount(labels[truth == k][labels[truth == k] >= 0]).argmax() for k in range(3)]
    assert len(set(found)) == 3
    for k, cid in enumerate(found):
        assert np.mean(labels[truth == k] == cid) >= 0.9
    assert adjusted_rand_score(truth[blob], labels[blob]) > 0.9
    # HDBSCAN attaches some background firms to the clusters, weakly: the firms clustered
    # with probability >= OUTLINE_PROBABILITY are (nearly) all planted, and the outlines,
    # drawn around those, sit on the planted centres and are far smaller than the square
    prob = res.membership.loc[firms.index, "hdbscan_probability"].to_numpy()
    strong = (labels >= 0) & (prob >= OUTLINE_PROBABILITY)
    assert np.mean(blob[strong]) > 0.95 and np.mean(strong[blob]) > 0.95
    assert np.mean(labels[~blob] < 0) > 0.5
    assert (res.clusters["area_km2"] < 100).all()
    utm = res.clusters.to_crs(UTM)
    for k, cid in enumerate(found):
        centre = shapely.Point(np.add(CENTRES[k], (400_000.0, 5_000_000.0)))
        assert utm.set_index("cluster_id").geometry[cid].contains(centre)


def test_agrees_with_scikit_learn_on_the_same_metric_coordinates(planted):
    firms, _ = planted
    metric = gc.to_metric(firms)
    xy = np.column_stack([metric.geometry.x, metric.geometry.y])
    for kwargs, ours in [({}, {}), ({"min_samples": 5}, {"min_samples": 5}),
                         ({"cluster_selection_method": "leaf"}, {"selection": "leaf"}),
                         ({"cluster_selection_epsilon": 5000.0}, {"epsilon": "5km"})]:
        ref = _sklearn(xy, min_cluster_size=20, **kwargs)
        res = hdbscan_clusters(firms, min_firms=20, **ours)
        assert res.crs.equals(metric.crs)
        np.testing.assert_array_equal(res.membership["hdbscan_cluster"], ref.labels_)
        np.testing.assert_allclose(res.membership["hdbscan_probability"], ref.probabilities_,
                                   rtol=0, atol=1e-12)
        assert res.n_clusters == ref.labels_.max() + 1
        counts = np.bincount(ref.labels_[ref.labels_ >= 0])
        np.testing.assert_array_equal(res.clusters["n_firms"], counts)


def test_by_clusters_each_group_alone_and_numbers_on(planted):
    firms, _ = planted
    res = hdbscan_clusters(firms, min_firms=15, by="industry", subset="industry in ['a', 'b']")
    metric = gc.to_metric(firms)
    offset = 0
    for group in ["a", "b"]:
        part = metric[metric["industry"] == group]
        ref = _sklearn(np.column_stack([part.geometry.x, part.geometry.y]), min_cluster_size=15)
        expected = np.where(ref.labels_ >= 0, ref.labels_ + offset, -1)
        got = res.membership.loc[part.index]
        np.testing.assert_array_equal(got["hdbscan_cluster"], expected)
        assert (got["industry"] == group).all()
        assert set(res.clusters.loc[res.clusters["industry"] == group, "cluster_id"]) == \
            set(expected[expected >= 0])
        offset += ref.labels_.max() + 1


def test_group_too_small_is_noise_with_a_note(planted):
    firms, _ = planted
    firms = firms.assign(industry=np.where(np.arange(len(firms)) < 5, "tiny", "big"))
    res = hdbscan_clusters(firms, min_firms=20, by="industry")
    assert (res.membership.loc[firms.index[:5], "hdbscan_cluster"] == -1).all()
    assert any("tiny (5)" in note for note in res.notes)


def test_firms_at_one_address_form_a_cluster_with_an_area():
    rng = np.random.default_rng(8)
    xy = np.vstack([np.tile([50_000.0, 50_000.0], (25, 1)), rng.uniform(0, 100_000, (150, 2))])
    firms = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM)
    res = hdbscan_clusters(firms, min_firms=10)
    ref = _sklearn(xy, min_cluster_size=10)
    np.testing.assert_array_equal(res.membership["hdbscan_cluster"], ref.labels_)
    building = res.membership["hdbscan_cluster"].iloc[:25]
    assert building.nunique() == 1 and building.iloc[0] >= 0
    poly = res.clusters.set_index("cluster_id").geometry[building.iloc[0]]
    # a disc of MIN_AREA_BUFFER_M around the address (a polygon, not a point)
    assert poly.geom_type == "Polygon"
    assert poly.area == pytest.approx(np.pi * MIN_AREA_BUFFER_M**2, rel=0.02)


def test_outlines_contain_their_firms(planted):
    firms, _ = planted
    metric = gc.to_metric(firms)
    for hull in ["concave", "convex"]:
        res = hdbscan_clusters(firms, min_firms=30, hull=hull, buffer="10m",
                               outline_probability=0)
        for cid, poly in res.clusters.set_index("cluster_id").geometry.items():
            members = metric.loc[res.membership.index[res.membership["hdbscan_cluster"] == cid]]
            assert poly.contains(members.geometry).all()
            assert res.clusters.set_index("cluster_id").loc[cid, "area_km2"] == \
                pytest.approx(poly.area / 1e6)
    concave = hdbscan_clusters(firms, min_firms=30).clusters.area.sum()
    convex = hdbscan_clusters(firms, min_firms=30, hull="convex").clusters.area.sum()
    assert concave <= convex + 1e-6
    # the default outline spans the members with probability >= OUTLINE_PROBABILITY only
    res = hdbscan_clusters(firms, min_firms=30, hull="convex")
    m = res.membership
    for cid, row in res.clusters.set_index("cluster_id").iterrows():
        strong = m.index[(m["hdbscan_cluster"] == cid)
                         & (m["hdbscan_probability"] >= OUTLINE_PROBABILITY)]
        assert row["n_outlined"] == len(strong) <= row["n_firms"]
        hull = shapely.convex_hull(shapely.multipoints(
            np.column_stack([metric.loc[strong].geometry.x, metric.loc[strong].geometry.y])))
        assert row.geometry.equals(hull)


def test_result_protocol(planted):
    firms, _ = planted
    res = hdbscan_clusters(firms, min_firms=30)
    assert isinstance(res, HDBSCANResult)
    assert repr(res).startswith("<HDBSCANResult: 3 clusters, ")
    table = res.to_frame()
    assert list(table.columns) == ["cluster_id", "n_firms", "n_outlined", "n_core",
                                   "mean_probability", "area_km2"]
    summary = res.summary()
    assert isinstance(summary, Summary)
    assert summary.title == f"HDBSCAN firm clusters: 3 clusters of {len(firms):,} firms"
    assert "Deterministic" in str(summary)
    assert isinstance(res.plot(firms), Figure) and isinstance(res.plot(), Figure)
    again = hdbscan_clusters(firms, min_firms=30)  # deterministic
    assert_geodataframe_equal(res.clusters, again.clusters)


def test_inputs_are_not_modified(planted):
    firms, _ = planted
    before = firms.copy()
    hdbscan_clusters(firms, min_firms=20, by="industry", subset=("industry", "a"))
    assert_geodataframe_equal(firms, before)


def test_bad_inputs(planted):
    firms, _ = planted
    with pytest.raises(InputError, match=r"hdbscan_clusters: min_firms=1 must be an integer"):
        hdbscan_clusters(firms, min_firms=1)
    with pytest.raises(InputError, match=r"hdbscan_clusters: 5 firms, fewer than "
                       r"min_firms=10, so no cluster can form"):
        hdbscan_clusters(firms.iloc[:5])
    with pytest.raises(InputError, match=r"fewer than min_samples=50; lower min_samples"):
        hdbscan_clusters(firms.iloc[:20], min_firms=5, min_samples=50)
    one = gpd.GeoDataFrame(geometry=gpd.points_from_xy([1.0] * 30, [2.0] * 30), crs=UTM)
    with pytest.raises(InputError, match=r"all 30 firms are at one location"):
        hdbscan_clusters(one)
    with pytest.raises(CRSError, match=r"hdbscan_clusters: firms has no CRS"):
        hdbscan_clusters(firms.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match=r"by='sector' is not a column of firms"):
        hdbscan_clusters(firms, by="sector")
    with pytest.raises(InputError, match=r"selection='dbscan' must be 'eom'"):
        hdbscan_clusters(firms, selection="dbscan")
    with pytest.raises(InputError, match=r"hull='alpha' must be 'concave' or 'convex'"):
        hdbscan_clusters(firms, hull="alpha")
    with pytest.raises(InputError, match=r"outline_probability=1.5 must be a number from 0"):
        hdbscan_clusters(firms, outline_probability=1.5)
    with pytest.raises(InputError, match=r"buffer="):
        hdbscan_clusters(firms, buffer="-5m")
    with pytest.raises(InputError, match=r"subset=\('industry', 'z'\) selects no"):
        hdbscan_clusters(firms, subset=("industry", "z"))
