"""Point layouts for the partition-halo edge cases, shared by the dask exposure and
weights tests: each is a metric GeoDataFrame and the sizes of its partitions (consecutive
rows), built so that the partitions are spatial strips along x."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

CRS = "EPSG:32633"


def _frame(xy, rng) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(
        {"emp": rng.integers(1, 50, len(xy)).astype(float),
         "ind": rng.choice(["a", "b"], len(xy))},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=CRS,
        index=[f"f{i}" for i in range(len(xy))],
    )


def boundary():
    """Two strips sharing the line x = 10 km, firms on it in both, and firms at exactly
    the 5 km radius from it; a lattice, so that knn distances tie."""
    rng = np.random.default_rng(1)
    gx, gy = np.meshgrid(np.arange(0, 20_001, 2500.0), np.arange(0, 10_001, 2500.0))
    xy = np.column_stack([gx.ravel(), gy.ravel()])
    order = np.lexsort((xy[:, 1], xy[:, 0]))
    xy = xy[order]
    left = int((xy[:, 0] <= 10_000).sum()) - 3  # three firms on x = 10 km go right
    return _frame(xy, rng), [left, len(xy) - left]


def empty_and_single():
    """An empty partition between two, and a partition of one firm."""
    rng = np.random.default_rng(2)
    a = np.column_stack([rng.uniform(0, 8000, 40), rng.uniform(0, 8000, 40)])
    c = np.column_stack([rng.uniform(14_000, 22_000, 40), rng.uniform(0, 8000, 40)])
    xy = np.vstack([a[np.argsort(a[:, 0])], [[11_000.0, 4000.0]], c[np.argsort(c[:, 0])]])
    return _frame(xy, rng), [40, 0, 1, 40]


def duplicates():
    """The same location in three partitions (and twice in one)."""
    rng = np.random.default_rng(3)
    xy = np.column_stack([np.sort(rng.uniform(0, 30_000, 60)), rng.uniform(0, 6000, 60)])
    xy[[5, 6, 25, 45]] = [9000.0, 3000.0]
    return _frame(xy, rng), [20, 20, 20]


def narrow():
    """Twelve strips 1 km wide, radius 4.5 km: halos reach several partitions."""
    rng = np.random.default_rng(4)
    xy = np.column_stack([np.sort(rng.uniform(0, 12_000, 240)), rng.uniform(0, 3000, 240)])
    return _frame(xy, rng), [20] * 12


#: name -> (layout, a radius in metres that crosses partitions)
LAYOUTS = {
    "boundary": (boundary, 5000.0),
    "empty_and_single": (empty_and_single, 3000.0),
    "duplicates": (duplicates, 3500.0),
    "radius_larger_than_partition": (narrow, 4500.0),
}


def partitioned(gdf: gpd.GeoDataFrame, sizes: list[int]):
    """A dask GeoDataFrame with partitions of ``sizes`` consecutive rows (0 allowed)."""
    import dask
    import dask.dataframe as dd
    import dask_geopandas  # noqa: F401  (registers the GeoDataFrame collection)

    cuts = np.cumsum([0, *sizes])
    parts = [dask.delayed(gdf.iloc[a:b].copy())
             for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return dd.from_delayed(parts, meta=gdf.iloc[:0])


def whole_extent():
    """A register NOT partitioned in space: the firms in random order, so that every
    partition's box is the whole extent (as the files of a national register in id
    order); a few locations shared across partitions."""
    rng = np.random.default_rng(5)
    xy = np.column_stack([rng.uniform(0, 30_000, 300), rng.uniform(0, 12_000, 300)])
    xy[[10, 100, 200]] = [15_000.0, 6000.0]
    return _frame(xy, rng), [75] * 4


def line():
    """Half of the firms on the line x = 6 km (a tile cut falls on it, two cuts fall
    together: an empty tile column), several of them at one location; random order."""
    rng = np.random.default_rng(6)
    xy = np.column_stack([rng.uniform(0, 12_000, 240), rng.uniform(0, 4000, 240)])
    xy[:120, 0] = 6000.0
    xy[:10, 1] = 2000.0
    return _frame(xy[rng.permutation(len(xy))], rng), [30] * 8


#: registers whose partitions each cover the whole extent (re-blocked in tiles)
MIXED = {
    "whole_extent": (whole_extent, 3000.0),
    "line": (line, 1500.0),
}
