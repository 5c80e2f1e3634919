"""Tests for geocluster.areal: grid, aggregate, location_quotient."""

from __future__ import annotations

import re
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geocluster as gc
from geocluster.areal import lq_table
from geocluster.errors import CRSError, GeoclusterWarning, InputError
from geocluster.weights import build_graph

UTM = "EPSG:32610"
# Awkward numbers: large offsets and a cell size with no exact binary representation,
# the situation in which cells built one by one lose shared vertices.
X0, Y0, CELL = 4_500_000.123, 1_234_567.89, 333.3


@pytest.fixture(scope="module")
def cbp():
    return gc.datasets.load_cbp()


def _interior(cells: gpd.GeoDataFrame, margin: int = 1) -> np.ndarray:
    rows, cols = cells["row"].to_numpy(), cells["col"].to_numpy()
    return (
        (rows >= rows.min() + margin)
        & (rows <= rows.max() - margin)
        & (cols >= cols.min() + margin)
        & (cols <= cols.max() - margin)
    )


def _cardinalities(cells, spec):
    graph = build_graph(cells, spec, transform="b").graph
    return graph.cardinalities.reindex(cells.index).to_numpy()


# ----------------------------------------------------------------------------- grid


def test_square_grid_layout():
    cells = gc.grid((0, 0, 3000, 2000), "1km", crs=UTM)
    assert len(cells) == 6
    assert cells.crs.to_epsg() == 32610
    assert cells.index.tolist() == cells["cell_id"].tolist() == list(range(6))
    assert cells["row"].tolist() == [0, 0, 0, 1, 1, 1]
    assert cells["col"].tolist() == [0, 1, 2, 0, 1, 2]
    np.testing.assert_allclose(cells.area, 1e6)
    # Cell (row 1, col 2) is the upper-right square.
    assert cells.geometry.iloc[5].equals(shapely.box(2000, 1000, 3000, 2000))
    # Partial cells at the edge: 2.5 km wide -> 3 columns covering the extent.
    assert len(gc.grid((0, 0, 2500, 1000), 1000, crs=UTM)) == 3


def test_square_grid_shares_vertices_bit_identically():
    cells = gc.grid((X0, Y0, X0 + 50 * CELL, Y0 + 40 * CELL), CELL, crs=UTM)
    assert len(cells) == 50 * 40
    coords = shapely.get_coordinates(cells.geometry.values).reshape(len(cells), 5, 2)
    xmin, xmax = coords[..., 0].min(axis=1), coords[..., 0].max(axis=1)
    ymin, ymax = coords[..., 1].min(axis=1), coords[..., 1].max(axis=1)
    by_rc = pd.Series(
        np.arange(len(cells)), index=pd.MultiIndex.from_arrays([cells["row"], cells["col"]])
    )
    right = by_rc.reindex(pd.MultiIndex.from_arrays([cells["row"], cells["col"] + 1]))
    has = right.notna().to_numpy()
    nxt = right.to_numpy()[has].astype(int)
    assert np.array_equal(xmax[has], xmin[nxt])  # exact equality, not allclose
    above = by_rc.reindex(pd.MultiIndex.from_arrays([cells["row"] + 1, cells["col"]]))
    has = above.notna().to_numpy()
    nxt = above.to_numpy()[has].astype(int)
    assert np.array_equal(ymax[has], ymin[nxt])


def test_square_grid_contiguity_with_awkward_coordinates():
    cells = gc.grid((X0, Y0, X0 + 40 * CELL, Y0 + 40 * CELL), CELL, crs=UTM)
    inner = _interior(cells)
    assert (_cardinalities(cells, "queen")[inner] == 8).all()
    assert (_cardinalities(cells, "rook")[inner] == 4).all()
    # The same cells built one by one lose neighbours: the test can fail.
    naive = []
    for i in range(40):
        for j in range(40):
            x, y = X0 + j * CELL, Y0 + i * CELL
            naive.append(shapely.box(x, y, x + CELL, y + CELL))
    naive = cells.set_geometry(naive, crs=UTM)
    assert (_cardinalities(naive, "queen")[inner] < 8).any()


@pytest.mark.slow
def test_large_square_grid_queen_interior_has_8():
    # 316 x 316 = 99,856 cells; the case measured losing contiguity when built cell by cell
    # (~15 s on the shared 2-core machine, mostly libpysal's contiguity builder).
    cells = gc.grid((X0, Y0, X0 + 316 * 1000.0, Y0 + 316 * 1000.0), "1km", crs=UTM)
    assert len(cells) == 316 * 316
    card = _cardinalities(cells, "queen")
    inner = _interior(cells)
    assert (card[inner] == 8).all()
    assert card[~inner].min() == 3  # corners


def test_hex_grid_contiguity_and_shape():
    cells = gc.grid((X0, Y0, X0 + 30 * CELL, Y0 + 30 * CELL), CELL, shape="hex", crs=UTM)
    # Interior: centres at least 1.5 cells inside the covered extent.
    xmin, ymin, xmax, ymax = cells.total_bounds
    cx, cy = cells.centroid.x.to_numpy(), cells.centroid.y.to_numpy()
    m = 1.5 * CELL
    inner = (cx > xmin + m) & (cx < xmax - m) & (cy > ymin + m) & (cy < ymax - m)
    assert inner.sum() > 500
    assert (_cardinalities(cells, "queen")[inner] == 6).all()
    assert (_cardinalities(cells, "rook")[inner] == 6).all()
    # Regular hexagons: centre spacing CELL, area sqrt(3)/2 * CELL^2, 6 distinct vertices.
    np.testing.assert_allclose(cells.area, np.sqrt(3) / 2 * CELL**2, rtol=1e-9)
    assert (shapely.get_num_coordinates(cells.geometry.values) == 7).all()
    assert cells.geometry.is_valid.all()
    centroids = cells.centroid
    a, b = centroids.iloc[0], centroids.iloc[1]
    assert a.distance(b) == pytest.approx(CELL)
    # The cells cover the extent, and no two overlap.
    box = shapely.box(X0, Y0, X0 + 30 * CELL, Y0 + 30 * CELL)
    union = shapely.union_all(cells.geometry.values)
    assert union.covers(box) or box.difference(union).area < 1e-3
    assert cells.area.sum() == pytest.approx(union.area, rel=1e-9)
    # ... and every cell overlaps it (none merely touches its edge).
    assert (cells.intersection(box).area > 1.0).all()


def test_grid_from_frame_and_clip():
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy([-122.40, -122.30, -121.90], [37.70, 37.80, 37.30]),
        crs="EPSG:4326",
    )
    cells = gc.grid(pts, "5km")
    metric = gc.to_metric(pts)
    assert cells.crs.equals(metric.crs)
    assert shapely.union_all(cells.geometry.values).covers(shapely.box(*metric.total_bounds))
    clipped = gc.grid(pts, "5km", clip=True)
    assert 3 <= len(clipped) < len(cells)
    assert clipped.index.tolist() == list(range(len(clipped)))
    hits = clipped.sjoin(metric, predicate="intersects")
    assert hits.index.unique().size == len(clipped)  # every kept cell holds a point
    counties = gc.datasets.load_counties("conus").iloc[:20]
    assert gc.grid(counties, "20km", crs="EPSG:5070").crs.to_epsg() == 5070


def test_grid_refuses_too_many_cells():
    with pytest.raises(
        InputError, match=r"100,000,000 cells .*max_cells=5,000,000.*larger cell_size"
    ):
        gc.grid((0, 0, 1e7, 1e7), "1km", crs=UTM)
    with pytest.raises(InputError, match="max_cells=10"):
        gc.grid((0, 0, 5000, 5000), "1km", crs=UTM, max_cells=10)


def test_grid_bad_input():
    with pytest.raises(CRSError, match="needs crs="):
        gc.grid((0, 0, 10, 10), 1)
    with pytest.raises(CRSError, match="not a projected CRS in metres"):
        gc.grid((0, 0, 10, 10), 1, crs="EPSG:4326")
    with pytest.raises(CRSError, match="crs='EPSG:99999' is not a CRS"):
        gc.grid((0, 0, 10, 10), 1, crs="EPSG:99999")
    with pytest.raises(InputError, match="shape='circle'"):
        gc.grid((0, 0, 10, 10), 1, crs=UTM, shape="circle")
    with pytest.raises(InputError, match="cell_size"):
        gc.grid((0, 0, 10, 10), "ten km", crs=UTM)
    with pytest.raises(InputError, match="maxx < minx"):
        gc.grid((10, 0, 0, 10), 1, crs=UTM)
    with pytest.raises(InputError, match="4 finite numbers"):
        gc.grid((0, 0, 10), 1, crs=UTM)
    with pytest.raises(InputError, match="clip=True needs a GeoDataFrame"):
        gc.grid((0, 0, 10, 10), 1, crs=UTM, clip=True)
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=UTM))
    with pytest.raises(InputError, match="empty"):
        gc.grid(empty, 1)


# ------------------------------------------------------------------------- aggregate


def _firms(xy, crs=UTM, **cols):
    xy = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


@pytest.fixture
def small_units():
    cells = gc.grid((0, 0, 2000, 1000), "1km", crs=UTM)
    cells.index = pd.Index(["west", "east"], name="zone")
    return cells


def test_aggregate_hand_counts(small_units):
    firms = _firms(
        [(100, 500), (1500, 500), (1800, 200), (1000, 500), (5000, 5000)],
        industry=["a", "a", "b", "b", "a"],
        emp=[10, 5, 2, 1, 100],
    )
    firms_before = firms.copy()
    units_before = small_units.copy()
    with pytest.warns(GeoclusterWarning, match=r"1 of 5 firms fall outside every unit"):
        out = gc.aggregate(firms, small_units, by="industry", weight="emp")
    # (1000, 500) lies on the shared edge: counted once, in the first unit ("west").
    assert out.index.tolist() == ["west", "east"] and out.index.name == "zone"
    assert out["n_firms"].tolist() == [2, 2]
    assert out["emp"].tolist() == [11.0, 7.0]
    assert out["n_firms__a"].tolist() == [1, 1]
    assert out["n_firms__b"].tolist() == [1, 1]
    assert out["emp__a"].tolist() == [10.0, 5.0]
    assert out["emp__b"].tolist() == [1.0, 2.0]
    assert out.attrs["n_outside"] == 1
    assert out.attrs["geocluster_aggregate"]["categories"] == ["a", "b"]
    assert isinstance(out, gpd.GeoDataFrame) and out.crs == small_units.crs
    assert out.geometry.equals(small_units.geometry)
    pd.testing.assert_frame_equal(firms, firms_before)
    pd.testing.assert_frame_equal(small_units, units_before)
    assert "n_firms" not in small_units.columns


def test_aggregate_matches_floor_division_on_random_points():
    rng = np.random.default_rng(7)
    cells = gc.grid((X0, Y0, X0 + 20 * CELL, Y0 + 15 * CELL), CELL, crs=UTM)
    xy = np.column_stack(
        [
            rng.uniform(X0 - 500, X0 + 20 * CELL + 500, 5000),
            rng.uniform(Y0 - 500, Y0 + 15 * CELL + 500, 5000),
        ]
    )
    firms = _firms(xy)
    with pytest.warns(GeoclusterWarning, match="fall outside"):
        out = gc.aggregate(firms, cells)
    col = np.floor((xy[:, 0] - X0) / CELL).astype(int)
    row = np.floor((xy[:, 1] - Y0) / CELL).astype(int)
    ok = (col >= 0) & (col < 20) & (row >= 0) & (row < 15)
    expected = np.bincount(row[ok] * 20 + col[ok], minlength=len(cells))
    assert out["n_firms"].to_numpy().tolist() == expected.tolist()
    assert out.attrs["n_outside"] == int((~ok).sum())
    assert out["n_firms"].sum() + out.attrs["n_outside"] == len(firms)


def test_aggregate_reprojects_firms(small_units):
    firms = _firms([(100, 500), (1500, 500), (1800, 200)])
    lonlat = firms.to_crs("EPSG:4326")
    out = gc.aggregate(lonlat, small_units)
    assert out["n_firms"].tolist() == [1, 2]
    # Joining in another CRS keeps the units' geometry and CRS.
    out2 = gc.aggregate(firms, small_units, crs="EPSG:3857")
    assert out2["n_firms"].tolist() == [1, 2] and out2.crs == small_units.crs


def test_lq_from_units_labels_and_no_outside_warning(small_units):
    units = small_units.assign(code=["W", "E"]).set_index("code")
    firms = _firms([(100, 500), (1500, 500)], ind=["x", "y"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = gc.aggregate(firms, units, by="ind")
        lq = gc.location_quotient(firms, units=units, by="ind", min_total=0)
    assert out.attrs["n_outside"] == 0
    assert set(lq["unit"]) == {"W", "E"}
    assert list(lq.columns[:2]) == ["unit", "ind"]


def test_lq_from_units_warns_outside_and_refuses_long_table_options(small_units):
    firms = _firms([(100, 500), (1500, 500), (9000, 9000)], ind=["x", "y", "x"])
    with pytest.warns(GeoclusterWarning, match=r"location_quotient: 1 of 3 firms fall outside"):
        lq = gc.location_quotient(firms, units=small_units, by="ind", min_total=0)
    assert lq["value"].sum() == 2
    with pytest.raises(InputError, match="unit='ind' names a column of a long table"):
        gc.location_quotient(firms, units=small_units, by="ind", unit="ind")
    with pytest.raises(InputError, match="total= is for long tables"):
        gc.location_quotient(firms, units=small_units, by="ind", total="00")
    with pytest.raises(InputError, match="with units= name the firms' industry column with by="):
        gc.location_quotient(firms, units=small_units)
    with pytest.raises(InputError, match="none of the 1 firms falls inside the units"):
        gc.location_quotient(firms.iloc[2:], units=small_units, by="ind")
    # attrs are information only: an aggregate() result is a wide table, not a long one
    agg = gc.aggregate(firms.iloc[:2], small_units, by="ind")
    with pytest.raises(InputError, match="name the unit= and by= columns"):
        gc.location_quotient(agg)


def test_aggregate_bad_input(small_units):
    firms = _firms([(100, 500), (1500, 500)], ind=["x", None], emp=[1.0, np.nan])
    with pytest.raises(InputError, match=r"no column\(s\) \['industry'\]"):
        gc.aggregate(firms, small_units, by="industry")
    with pytest.raises(InputError, match="1 firms have no 'ind'"):
        gc.aggregate(firms, small_units, by="ind")
    with pytest.raises(InputError,
                       match=r"aggregate: weight column 'emp' has 1 missing \(NaN\) values"):
        gc.aggregate(firms, small_units, weight="emp")
    with pytest.raises(InputError, match="'emp' has 1 negative"):
        gc.aggregate(firms.assign(emp=[1.0, -2.0]), small_units, weight="emp")
    with pytest.raises(CRSError, match="units have no CRS"):
        gc.aggregate(firms, small_units.set_crs(None, allow_override=True))
    with pytest.raises(CRSError, match="firms have no CRS"):
        gc.aggregate(firms.set_crs(None, allow_override=True), small_units)
    with pytest.raises(InputError, match="units must be polygons"):
        gc.aggregate(firms, small_units.set_geometry(small_units.centroid))
    with pytest.raises(InputError, match="firms must be points"):
        gc.aggregate(small_units, small_units)
    with pytest.raises(InputError, match="firms is empty"):
        gc.aggregate(firms.iloc[:0], small_units)
    with pytest.raises(InputError, match="units is empty"):
        gc.aggregate(firms, small_units.iloc[:0])
    with pytest.raises(InputError, match="duplicate labels"):
        gc.aggregate(firms, small_units.set_axis(["a", "a"]))
    with pytest.raises(InputError, match=r"already have column\(s\) \['n_firms'\]"):
        gc.aggregate(firms, small_units.assign(n_firms=0))
    with pytest.raises(InputError, match="GeoDataFrame of points"):
        gc.aggregate(pd.DataFrame({"a": [1]}), small_units)


# ------------------------------------------------------------------ location quotients


def test_lq_hand_computed():
    # Unit A: 30 software, 10 retail (40); B: 10 software, 50 retail (60); total 100.
    # National shares: software 40/100, retail 60/100.
    table = pd.DataFrame(
        {"r": ["A", "A", "B", "B"], "i": ["sw", "re", "sw", "re"], "n": [30, 10, 10, 50]}
    )
    before = table.copy()
    lq = gc.location_quotient(table, unit="r", by="i", weight="n", min_total=0)
    pd.testing.assert_frame_equal(table, before)
    got = lq.set_index(["r", "i"])
    assert got.loc[("A", "sw"), "lq"] == pytest.approx((30 / 40) / (40 / 100))  # 1.875
    assert got.loc[("A", "re"), "lq"] == pytest.approx((10 / 40) / (60 / 100))
    assert got.loc[("B", "sw"), "lq"] == pytest.approx((10 / 60) / (40 / 100))
    assert got.loc[("B", "re"), "lq"] == pytest.approx((50 / 60) / (60 / 100))  # 1.389
    assert got.loc[("A", "sw"), "unit_total"] == 40
    assert got.loc[("A", "sw"), "industry_total"] == 40
    assert got.loc[("A", "sw"), "grand_total"] == 100
    assert got.loc[("B", "re"), "unit_share"] == pytest.approx(50 / 60)
    assert got.loc[("B", "re"), "national_share"] == pytest.approx(0.6)
    assert got["specialised"].to_dict() == {
        ("A", "re"): False,
        ("A", "sw"): True,
        ("B", "re"): True,
        ("B", "sw"): False,
    }
    # Raise the threshold above B's 1.389: only A/software remains specialised.
    high = gc.location_quotient(
        table, unit="r", by="i", weight="n", min_total=0, threshold=1.5
    )
    assert high["specialised"].sum() == 1
    # The minimum-size rule: A (40) is below min_total=50 -> NaN, not specialised.
    with pytest.warns(
        GeoclusterWarning,
        match=r"min_total=50\) blanked the LQ of 1 of 2 non-empty units \(50%\)",
    ):
        ruled = gc.location_quotient(table, unit="r", by="i", weight="n", min_total=50)
    ruled = ruled.set_index(["r", "i"])
    assert ruled.loc["A", "lq"].isna().all() and not ruled.loc["A", "specialised"].any()
    assert ruled.loc[("B", "re"), "lq"] == pytest.approx((50 / 60) / (60 / 100))
    # min_count: B/retail has 50 >= 40, A/software 30 < 40.
    counted = gc.location_quotient(
        table, unit="r", by="i", weight="n", min_total=0, min_count=40
    )
    assert counted.set_index(["r", "i"])["specialised"].sum() == 1


def test_lq_weighted_mean_is_one():
    rng = np.random.default_rng(3)
    units = [f"u{k}" for k in range(25)]
    inds = list("abcdefg")
    table = pd.DataFrame(
        [(u, i, rng.integers(0, 200)) for u in units for i in inds], columns=["u", "i", "n"]
    )
    lq = gc.location_quotient(table, unit="u", by="i", weight="n", min_total=0)
    # sum_r (E_r / E_N) LQ_ir = sum_r E_ir / E_iN = 1 for every industry.
    weighted = (lq["unit_total"] / lq["grand_total"] * lq["lq"]).groupby(lq["i"]).sum()
    np.testing.assert_allclose(weighted.to_numpy(), 1.0)
    # ... and sum_i national_share_i * LQ_ir = 1 for every unit.
    per_unit = (lq["national_share"] * lq["lq"]).groupby(lq["u"]).sum()
    np.testing.assert_allclose(per_unit.to_numpy(), 1.0)


def test_lq_firm_table_complete_equals_aggregate():
    rng = np.random.default_rng(11)
    cells = gc.grid((0, 0, 3000, 3000), "1km", crs=UTM)
    xy = rng.uniform(1, 2999, size=(400, 2))
    inds = rng.choice(["bio", "ict", "auto"], size=400, p=[0.2, 0.5, 0.3])
    firms = _firms(xy, industry=inds)
    from_agg = gc.location_quotient(firms, units=cells, by="industry", min_total=0)
    # The same from a table of firms with their cell computed by floor division.
    cell = (np.floor(xy[:, 1] / 1000) * 3 + np.floor(xy[:, 0] / 1000)).astype(int)
    table = pd.DataFrame({"unit": cell, "industry": inds})
    from_table = gc.location_quotient(
        table, unit="unit", by="industry", min_total=0, complete=True
    )
    cols = ["unit", "industry", "value", "unit_total", "lq", "specialised"]
    pd.testing.assert_frame_equal(
        from_agg[cols].reset_index(drop=True),
        from_table[cols].reset_index(drop=True),
        check_dtype=False,
    )
    # Employment instead of counts.
    firms["emp"] = rng.integers(1, 50, size=400)
    emp_lq = gc.location_quotient(firms, units=cells, by="industry", weight="emp", min_total=0)
    emp_lq = emp_lq.set_index(["unit", "industry"])
    e = pd.DataFrame({"u": cell, "i": inds, "emp": firms["emp"]})
    e_ir = e.groupby(["u", "i"])["emp"].sum()
    e_r = e.groupby("u")["emp"].sum()
    e_i = e.groupby("i")["emp"].sum()
    expected = (e_ir / e_r.reindex(e_ir.index, level="u")) / (
        e_i.reindex(e_ir.index, level="i") / e["emp"].sum()
    )
    np.testing.assert_allclose(emp_lq.loc[expected.index, "lq"].to_numpy(), expected.to_numpy())
    wide = lq_table(from_agg)
    assert wide.shape == (9, 3)
    assert wide.loc[4, "ict"] == pytest.approx(
        from_agg.set_index(["unit", "industry"]).loc[(4, "ict"), "lq"]
    )


def test_lq_cbp_san_jose(cbp):
    before = cbp.copy()
    lq = gc.location_quotient(
        cbp, unit="cbsa_code", by="naics_code", weight="emp", total="00", min_total=1000
    )
    pd.testing.assert_frame_equal(cbp, before)
    sj = lq[lq["cbsa_code"] == "41940"].set_index("naics_code")
    assert sj.loc["3344", "specialised"] and sj.loc["5112", "specialised"]
    assert sj.loc["3344", "lq"] > 3 and sj.loc["5112", "lq"] > 3
    # By hand from the raw rows: E_r and E_N from the "00" rows.
    emp = cbp.set_index(["cbsa_code", "naics_code"])["emp"]
    e_n = cbp.loc[cbp["naics_code"] == "00", "emp"].sum()
    for code in ("3344", "5112"):
        e_in = cbp.loc[cbp["naics_code"] == code, "emp"].sum()
        hand = (emp[("41940", code)] / emp[("41940", "00")]) / (e_in / e_n)
        assert sj.loc[code, "lq"] == pytest.approx(hand)
    # The "00" rows are the denominator, not an industry.
    assert "00" not in set(lq["naics_code"])
    # industries= keeps the chosen ones without changing their LQs.
    sub = gc.location_quotient(
        cbp,
        unit="cbsa_code",
        by="naics_code",
        weight="emp",
        total="00",
        min_total=1000,
        industries=["3344", "5112"],
    )
    assert set(sub["naics_code"]) == {"3344", "5112"}
    merged = sub.merge(lq, on=["cbsa_code", "naics_code"], suffixes=("", "_all"))
    np.testing.assert_allclose(merged["lq"], merged["lq_all"])
    # Without total=, E_r would sum all NAICS levels (double counting): warn-free but
    # different; the size rule turns small metros' LQs to NaN.
    small = lq[lq["unit_total"] < 1000]
    assert small["lq"].isna().all() and not small["specialised"].any()


def test_lq_missing_total_rows_warn():
    table = pd.DataFrame(
        {"r": ["A", "A", "A", "B"], "i": ["00", "x", "y", "x"], "n": [100, 30, 20, 10]}
    )
    with pytest.warns(GeoclusterWarning, match="1 .* rows belong to units without a total"):
        lq = gc.location_quotient(table, unit="r", by="i", weight="n", total="00", min_total=0)
    got = lq.set_index(["r", "i"])
    assert np.isnan(got.loc[("B", "x"), "lq"])
    # E_N = 100 (only A has a total); E_xN = 40.
    assert got.loc[("A", "x"), "lq"] == pytest.approx((30 / 100) / (40 / 100))


def test_lq_bad_input(cbp):
    table = pd.DataFrame({"r": ["A", "B"], "i": ["x", "x"], "n": [1.0, 2.0]})
    with pytest.raises(InputError, match=r"no column\(s\) \['emp'\]"):
        gc.location_quotient(table, unit="r", by="i", weight="emp")
    with pytest.raises(InputError, match="name the unit= and by= columns"):
        gc.location_quotient(table, unit="r")
    with pytest.raises(InputError, match="'n' has 1 negative"):
        gc.location_quotient(table.assign(n=[1.0, -1.0]), unit="r", by="i", weight="n")
    with pytest.raises(InputError, match="'n' has 1 missing"):
        gc.location_quotient(table.assign(n=[1.0, np.nan]), unit="r", by="i", weight="n")
    with pytest.raises(InputError, match="'n' must be numeric"):
        gc.location_quotient(table.assign(n=["1", "2"]), unit="r", by="i", weight="n")
    with pytest.raises(InputError, match="total='00' is not a value"):
        gc.location_quotient(table, unit="r", by="i", weight="n", total="00")
    with pytest.raises(InputError, match=r"industries \['9999'\]"):
        gc.location_quotient(
            cbp,
            unit="cbsa_code",
            by="naics_code",
            weight="emp",
            total="00",
            industries=["9999"],
        )
    with pytest.raises(InputError, match="min_total=-1"):
        gc.location_quotient(table, unit="r", by="i", min_total=-1)
    with pytest.raises(InputError, match="data are empty"):
        gc.location_quotient(table.iloc[:0], unit="r", by="i")
    with pytest.raises(InputError, match="must be a DataFrame"):
        gc.location_quotient([1, 2], unit="r", by="i")
    cells = gc.grid((0, 0, 2000, 1000), "1km", crs=UTM)
    agg = gc.aggregate(_firms([(100, 100)]), cells)
    with pytest.raises(InputError, match="name the unit= and by= columns"):
        gc.location_quotient(agg)
    with pytest.raises(InputError, match="give the output of location_quotient"):
        lq_table(table)


def test_planted_hubs_are_specialised(counties_conus):
    # make_firms plants semiconductor clusters at San Jose (Santa Clara County, 06085)
    # and Phoenix (Maricopa County, 04013), among others.
    firms = gc.datasets.make_firms(3000, seed=1)
    with pytest.warns(GeoclusterWarning, match="fall outside every unit"):
        agg = gc.aggregate(firms, counties_conus, by="industry")  # a few off the outlines
    assert agg["n_firms"].sum() + agg.attrs["n_outside"] == 3000
    assert agg.attrs["n_outside"] < 30
    # 3,000 firms over 3,107 counties: almost every county is below 30 firms
    with pytest.warns(GeoclusterWarning) as record:
        lq = gc.location_quotient(firms, units=counties_conus, by="industry", min_total=30)
    lq = lq.set_index(["unit", "industry"])
    messages = [str(w.message) for w in record]
    assert any(f"{agg.attrs['n_outside']} of 3,000 firms fall outside every unit" in m
               for m in messages)
    assert any(re.search(r"blanked the LQ of \d{3} of \d{3} non-empty units \(9\d%\).*2,418 more "
                         r"units are empty.*more than half.*min_total=\d+ ", m) for m in messages)
    assert lq.loc[("06085", "semiconductors"), "specialised"]
    assert lq.loc[("04013", "semiconductors"), "specialised"]
    assert not lq.loc[("04013", "pharma"), "specialised"]


def test_lq_min_total_warning_counts_and_suggests():
    # 10 units: totals 0, 5, 10, ..., 45 (one industry pair per unit); hand counts below
    units = [f"u{k}" for k in range(10)]
    table = pd.DataFrame(
        {"r": units * 2, "i": ["a"] * 10 + ["b"] * 10,
         "n": [2.5 * k for k in range(10)] * 2}
    )
    # min_total=20: totals 5, 10, 15 are below -> 3 of 9 non-empty units; u0 is empty
    with pytest.warns(GeoclusterWarning) as record:
        out = gc.location_quotient(table, unit="r", by="i", weight="n", min_total=20)
    messages = [str(w.message) for w in record]
    assert any("blanked the LQ of 3 of 9 non-empty units (33%)" in m
               and "1 more units are empty" in m for m in messages)
    assert not any("more than half" in m for m in messages)
    assert out["lq"].isna().sum() == 8
    # min_total=40: 7 of 9 blanked; suggest the lower quartile of the non-empty totals
    # (5, 10, ..., 45: quartile 15), which keeps about three quarters of them
    with pytest.warns(GeoclusterWarning, match=r"7 of 9 non-empty units \(78%\).*more than "
                      r"half.*min_total=15 "):
        gc.location_quotient(table, unit="r", by="i", weight="n", min_total=40)
    # the rule switched off: empty units are no reason to advise on min_total
    with warnings.catch_warnings():
        warnings.simplefilter("error", GeoclusterWarning)
        gc.location_quotient(table, unit="r", by="i", weight="n", min_total=0)


def test_lq_with_no_firms_is_refused():
    table = pd.DataFrame({"r": ["A", "B"], "i": ["x", "x"], "n": [0.0, 0.0]})
    with pytest.raises(InputError, match=r"totals sum to 0.*every LQ would be 0/0.*weight="):
        gc.location_quotient(table, unit="r", by="i", weight="n", min_total=0)
