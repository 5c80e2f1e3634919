"""density_clusters on a dask GeoDataFrame: the CSR null drawn and binned without the points;
the same clusters and p-values as in memory for the same seed."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

import geocluster as gc
from geocluster.clusters.partitioned import convex_hull, hull_candidates, summarize
from geocluster.errors import InputError

dask = pytest.importorskip("dask")
pytest.importorskip("dask.dataframe")
dask_geopandas = pytest.importorskip("dask_geopandas")


def partitioned(gdf: gpd.GeoDataFrame, sizes: list[int]):
    cuts = np.cumsum([0, *sizes])
    parts = [dask.delayed(gdf.iloc[a:b].copy()) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return dask.dataframe.from_delayed(parts, meta=gdf.iloc[:0], verify_meta=False)


@pytest.fixture(scope="module")
def firms():
    rng = np.random.default_rng(11)
    xy = np.vstack([rng.uniform(0, 100_000, (500, 2)), rng.normal(30_000, 2_000, (80, 2)),
                    rng.normal(70_000, 2_500, (60, 2))])
    return gpd.GeoDataFrame(
        {"industry": np.where(np.arange(len(xy)) % 3 == 0, "bio", "it"),
         "emp": rng.integers(1, 100, len(xy)).astype(float)},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=3857,
    )


SIZES = [1, 0, 300, 339]


def assert_same_clusters(got, expected):
    assert len(got) == len(expected) > 0
    for key in ("threshold", "p_value", "alpha", "null", "statistic", "simulations", "seed",
                "bandwidth_m", "kernel"):
        assert got.attrs[key] == expected.attrs[key], key
    assert got["cluster_id"].tolist() == expected["cluster_id"].tolist()
    assert got["n_firms"].tolist() == expected["n_firms"].tolist()
    np.testing.assert_allclose(got["total_weight"], expected["total_weight"], rtol=1e-14)
    np.testing.assert_allclose(got["peak_density"], expected["peak_density"], rtol=1e-13)
    np.testing.assert_allclose(got["area_km2"], expected["area_km2"], rtol=1e-10)
    # contours of surfaces equal to ~1e-16 of the peak: vertices equal to well under 1 mm
    for a, b in zip(got.geometry, expected.geometry, strict=True):
        assert shapely.equals_exact(a, b, tolerance=1e-6)
    assert got.crs.equals(expected.crs)


@pytest.mark.parametrize("weight", [None, "emp"])
def test_csr_clusters_equal_in_memory(dask_client, firms, weight):
    kw = {"bandwidth": "3km", "simulations": 19, "seed": 4, "weight": weight}
    expected = gc.density_clusters(firms, **kw)
    got = gc.density_clusters(partitioned(firms, SIZES), **kw)
    assert_same_clusters(got, expected)


@pytest.mark.slow
def test_subset_and_study_area_equal_in_memory(dask_client, firms):
    area = gpd.GeoDataFrame(geometry=[shapely.box(-5000, -5000, 105_000, 105_000)], crs=3857)
    kw = {"bandwidth": "4km", "simulations": 19, "seed": 2, "subset": ("industry", "it"),
          "study_area": area, "min_firms": 3}
    expected = gc.density_clusters(firms, **kw)
    got = gc.density_clusters(partitioned(firms, SIZES), **kw)
    assert_same_clusters(got, expected)
    kw["subset"] = "industry == 'it'"
    assert_same_clusters(gc.density_clusters(partitioned(firms, SIZES), **kw), expected)


def test_default_study_area_is_the_hull_of_all_points(dask_client, firms):
    frame = partitioned(firms, SIZES)
    hull = convex_hull(frame, summarize(frame, where="test"), where="test")
    expected = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(
        firms.geometry.values)))
    assert shapely.equals_exact(hull, expected, tolerance=0)


@pytest.mark.slow
def test_options_that_need_the_points_are_refused(dask_client, firms):
    frame = partitioned(firms, SIZES)
    with pytest.raises(InputError, match=r"null='firms' is not available for a dask"):
        gc.density_clusters(frame, bandwidth="3km", null="firms", subset=("industry", "bio"),
                            simulations=19)
    with pytest.raises(InputError, match=r"bandwidth='cv' is not available"):
        gc.density_clusters(frame, simulations=19)
    with pytest.raises(InputError, match=r"subset=.*query string or a \(column, value\)"):
        gc.density_clusters(frame, bandwidth="3km", simulations=19,
                            subset=np.ones(len(firms), dtype=bool))
    with pytest.raises(InputError, match=r"subset=\('industry', 'none'\) selects no points"):
        gc.density_clusters(frame, bandwidth="3km", simulations=19,
                            subset=("industry", "none"))


@pytest.mark.parametrize("weight", [None, "emp"])
def test_the_points_are_read_once(firms, weight):
    # summary, hull, binning, weights and the firms in each cluster all from the points the
    # summary kept on the workers; the simulations never touch them
    reads: list = []

    def read(a, b):
        reads.append(a)
        return firms.iloc[a:b].copy()

    cuts = np.cumsum([0, *SIZES])
    frame = dask.dataframe.from_delayed(
        [dask.delayed(read)(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)],
        meta=firms.iloc[:0], verify_meta=False)
    kw = {"bandwidth": "3km", "simulations": 19, "seed": 4, "weight": weight}
    with dask.config.set(scheduler="sync"):
        got = gc.density_clusters(frame, **kw)
    assert sorted(reads) == cuts[:-1].tolist()
    assert_same_clusters(got, gc.density_clusters(firms, **kw))


@pytest.mark.parametrize("shape", ["uniform", "normal", "circle", "grid", "line", "one", "two"])
def test_hull_candidates_keep_every_hull_vertex(shape):
    rng = np.random.default_rng(1)
    x, y = {
        "uniform": lambda: rng.uniform(0, 1e5, (2, 5000)),
        "normal": lambda: rng.normal(3e5, 1e4, (2, 5000)),
        "circle": lambda: (lambda a: (1e4 * np.cos(a), 1e4 * np.sin(a)))(
            rng.uniform(0, 2 * np.pi, 2000)),
        "grid": lambda: [v.ravel() * 100.0 for v in np.meshgrid(np.arange(60), np.arange(40))],
        "line": lambda: (np.arange(50.0), 2 * np.arange(50.0)),  # collinear: a degenerate hull
        "one": lambda: (np.array([5.0]), np.array([7.0])),
        "two": lambda: (np.array([5.0, 5.0, 9.0]), np.array([7.0, 7.0, 1.0])),
    }[shape]()
    keep = hull_candidates(x, y)
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([x, y])))
    kept = shapely.convex_hull(shapely.multipoints(np.column_stack([x[keep], y[keep]])))
    assert shapely.equals_exact(kept, hull, tolerance=0)
    if shape in ("uniform", "normal", "grid"):
        assert keep.sum() < 0.2 * len(x)  # the interior is dropped
