"""Tests for geocluster.clusters.lisa: local and global Moran's I, regions, figures."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from libpysal.graph import Graph
from scipy import stats
from statsmodels.stats.multitest import multipletests

import geocluster as gc
from geocluster._base.summary import Summary
from geocluster.clusters import _inference as inf
from geocluster.clusters.lisa import LISA_COLUMNS
from geocluster.clusters.lisa_plots import plot_lisa_map, plot_moran_scatter
from geocluster.errors import GeoclusterWarning, InputError, WeightsError
from geocluster.weights import build_graph

DATA = Path(__file__).parent / "data"
RTOL = 1e-6


@pytest.fixture(scope="module")
def col():
    return gc.datasets.load_columbus()


@pytest.fixture(scope="module")
def ref():
    with open(DATA / "columbus_r_spdep.json") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def lisa_spdep(col):
    return gc.local_moran(col, "CRIME", seed=11, scaling="spdep")


def square_grid(nx: int, ny: int) -> gpd.GeoDataFrame:
    """Unit squares on integer coordinates (exactly shared vertices), ids 'r{row}c{col}'."""
    cells = [shapely.box(i, j, i + 1, j + 1) for j in range(ny) for i in range(nx)]
    ids = [f"r{j}c{i}" for j in range(ny) for i in range(nx)]
    return gpd.GeoDataFrame(
        {"row": np.repeat(np.arange(ny), nx), "col": np.tile(np.arange(nx), ny)},
        geometry=cells,
        index=pd.Index(ids),
        crs="EPSG:3857",
    )


@pytest.fixture(scope="module")
def two_blocks():
    """12 x 12 grid, noise plus two separated high blocks and one low block."""
    grid = square_grid(12, 12)
    rng = np.random.default_rng(5)
    value = rng.normal(0, 0.3, len(grid))
    block_a = (grid["row"] <= 3) & (grid["col"] <= 3)  # 16 cells
    block_b = (grid["row"] >= 9) & (grid["col"] >= 9)  # 9 cells
    block_low = (grid["row"] >= 9) & (grid["col"] <= 2)  # 9 cells
    value[block_a.to_numpy()] += 4
    value[block_b.to_numpy()] += 4
    value[block_low.to_numpy()] -= 4
    grid["value"] = value
    grid["firms"] = rng.integers(1, 50, len(grid))
    grid["lq"] = rng.uniform(0.5, 2.0, len(grid))
    return grid, block_a.to_numpy(), block_b.to_numpy(), block_low.to_numpy()


# ----------------------------------------------------------- agreement with R spdep


def test_local_moran_matches_spdep(lisa_spdep, ref):
    r = ref["local_moran_crime"]
    np.testing.assert_allclose(lisa_spdep["lisa_I"], r["Ii"], rtol=RTOL)
    np.testing.assert_allclose(lisa_spdep["lisa_EI"], r["E_Ii"], rtol=RTOL)
    np.testing.assert_allclose(lisa_spdep["lisa_VI"], r["Var_Ii"], rtol=RTOL)
    np.testing.assert_allclose(lisa_spdep["lisa_z"], r["Z_Ii"], rtol=RTOL)


def test_esda_scaling_is_n_minus_1_over_n_of_spdep(col, ref, lisa_spdep):
    lisa = gc.local_moran(col, "CRIME", seed=11)
    n = len(col)
    np.testing.assert_allclose(
        lisa["lisa_I"] * n / (n - 1), ref["local_moran_crime"]["Ii"], rtol=RTOL
    )
    np.testing.assert_allclose(
        lisa["lisa_EI"] * n / (n - 1), ref["local_moran_crime"]["E_Ii"], rtol=RTOL
    )
    # z is scale free, and the permutation p-values do not depend on the scaling
    np.testing.assert_allclose(lisa["lisa_z"], ref["local_moran_crime"]["Z_Ii"], rtol=RTOL)
    np.testing.assert_array_equal(lisa["lisa_p"], lisa_spdep["lisa_p"])


def test_global_moran_matches_spdep(col, ref):
    mi = gc.global_moran(col, "CRIME", seed=1)
    g = ref["global_moran_crime"]
    assert mi.I == pytest.approx(g["I"], rel=RTOL)
    assert mi.EI == pytest.approx(g["expectation"], rel=RTOL)
    assert mi.VI_rand == pytest.approx(g["variance_randomisation"], rel=RTOL)
    assert mi.z_rand == pytest.approx(
        (g["I"] - g["expectation"]) / g["variance_randomisation"] ** 0.5
    )
    assert mi.p_rand == pytest.approx(2 * stats.norm.sf(mi.z_rand))


def test_global_moran_normality_variance_closed_form(col):
    # Cliff & Ord normality variance computed here from the weights matrix.
    w = gc.weights(col, "queen").sparse.toarray()
    n = len(col)
    s0 = w.sum()
    s1 = 0.5 * ((w + w.T) ** 2).sum()
    s2 = ((w.sum(0) + w.sum(1)) ** 2).sum()
    v = (n * n * s1 - n * s2 + 3 * s0 * s0) / ((n * n - 1) * s0 * s0) - (1 / (n - 1)) ** 2
    mi = gc.global_moran(col, "CRIME", permutations=0)
    assert mi.VI_norm == pytest.approx(v, rel=RTOL)
    assert np.isnan(mi.p_sim)


def test_global_moran_permutations_seeded_and_sensible(col):
    a = gc.global_moran(col, "CRIME", seed=3, permutations=499)
    b = gc.global_moran(col, "CRIME", seed=3, permutations=499)
    assert a == b
    assert a.p_sim == pytest.approx(1 / 500)  # I = 0.50 is far beyond every permutation
    # the permutation distribution matches the randomisation moments
    assert a.sim_mean == pytest.approx(a.EI, abs=4 * a.VI_rand**0.5 / 499**0.5)
    assert a.sim_sd == pytest.approx(a.VI_rand**0.5, rel=0.15)
    state = np.random.get_state()[1].copy()
    gc.global_moran(col, "HOVAL", seed=None, permutations=99)
    np.testing.assert_array_equal(np.random.get_state()[1], state)
    assert "GlobalMoranResult of 'CRIME' on 49 units" in repr(a)


def test_global_moran_generator_seed_equals_int_seed(col):
    a = gc.global_moran(col, "CRIME", seed=7, permutations=99)
    b = gc.global_moran(col, "CRIME", seed=np.random.default_rng(7), permutations=99)
    assert (a.p_sim, a.sim_mean, a.sim_sd) == (b.p_sim, b.sim_mean, b.sim_sd)
    assert b.seed == "Generator"


def test_global_moran_p_sim_for_random_data_is_not_small():
    grid = square_grid(10, 10)
    grid["noise"] = np.random.default_rng(0).normal(size=len(grid))
    res = gc.global_moran(grid, "noise", weights="rook", seed=1)
    assert res.p_sim > 0.05 and res.p_rand > 0.05


# ----------------------------------------------------------- p-values and seeds


def test_same_seed_identical_output(col):
    a = gc.local_moran(col, "CRIME", seed=123, correction="fdr")
    b = gc.local_moran(col, "CRIME", seed=123, correction="fdr")
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs
    c = gc.local_moran(col, "CRIME", seed=np.random.default_rng(123))
    d = gc.local_moran(col, "CRIME", seed=np.random.default_rng(123))
    pd.testing.assert_series_equal(c["lisa_p"], d["lisa_p"])
    e = gc.local_moran(col, "CRIME", seed=124)
    assert not np.array_equal(a["lisa_p"], e["lisa_p"])


def test_global_random_state_untouched(col):
    np.random.seed(99)
    expected = np.random.random(3)
    np.random.seed(99)
    gc.local_moran(col, "CRIME", seed=5, permutations=99)
    np.testing.assert_array_equal(np.random.random(3), expected)


def test_lisa_p_agrees_with_esda_on_continuous_data(col):
    """Without ties the tie-aware folded p estimates what esda's p_sim estimates.

    (The exact count over the recorded permutation table is in tests/test_ties.py.)
    """
    from esda.moran import Moran_Local

    lisa = gc.local_moran(col, "CRIME", seed=8, permutations=9999)
    g = gc.weights(col, "queen")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        esda_lm = Moran_Local(col["CRIME"].to_numpy(), g, permutations=9999, seed=3,
                              keep_simulations=False)
    p, q = lisa["lisa_p"].to_numpy(), np.asarray(esda_lm.p_sim, dtype=float)
    se = np.sqrt(np.maximum(p * (1 - p), 1e-4) / 9999)
    assert np.all(np.abs(p - q) < 5 * np.sqrt(2) * se + 2e-4)
    assert lisa["lisa_p"].max() <= 0.5 + 1e-12
    assert lisa.attrs["p_value"] == (
        "folded one-sided pseudo p-value, conditional permutation, ties counted on both sides"
    )


def test_two_sided_and_analytic_p(col):
    folded = gc.local_moran(col, "CRIME", seed=8)
    two = gc.local_moran(col, "CRIME", seed=8, alternative="two-sided")
    np.testing.assert_allclose(two["lisa_p"], np.minimum(1, 2 * folded["lisa_p"]))
    analytic = gc.local_moran(col, "CRIME", permutations=0)
    np.testing.assert_allclose(analytic["lisa_p"], stats.norm.sf(np.abs(analytic["lisa_z"])))
    assert analytic.attrs["p_value"] == "folded one-sided normal approximation"


def test_fdr_and_bonferroni_cutoffs(col):
    lisa = gc.local_moran(col, "CRIME", seed=21, correction="fdr", permutations=9999)
    p = lisa["lisa_p"].to_numpy()
    reject = multipletests(p, alpha=0.05, method="fdr_bh")[0]
    np.testing.assert_array_equal(lisa["lisa_cluster"] != "ns", reject)
    assert lisa.attrs["correction"] == "fdr"
    assert p[reject].max() <= lisa.attrs["cutoff"] < p[~reject].min()
    none = gc.local_moran(col, "CRIME", seed=21, permutations=9999)
    assert none.attrs["cutoff"] == 0.05
    assert (none["lisa_cluster"] != "ns").sum() >= reject.sum()
    bonf = gc.local_moran(col, "CRIME", seed=21, correction="bonferroni", permutations=9999)
    assert bonf.attrs["cutoff"] == pytest.approx(0.05 / 49)
    np.testing.assert_array_equal(bonf["lisa_cluster"] != "ns", bonf["lisa_p"] <= 0.05 / 49)


def test_cutoff_helper_against_statsmodels():
    rng = np.random.default_rng(4)
    for _ in range(20):
        p = np.concatenate([rng.uniform(0, 0.01, rng.integers(0, 15)), rng.uniform(size=60)])
        cut = inf.cutoff(p, 0.1, "fdr")
        np.testing.assert_array_equal(p <= cut, multipletests(p, alpha=0.1, method="fdr_bh")[0])
    assert inf.cutoff(np.array([0.5, 0.9]), 0.05, "fdr") == 0.0


def test_bonferroni_unreachable_warns(col):
    with pytest.warns(GeoclusterWarning, match="smallest pseudo p-value is 0.01.*Bonferroni"):
        res = gc.local_moran(col, "CRIME", seed=1, permutations=99, correction="bonferroni")
    assert (res["lisa_cluster"] == "ns").all()


# ----------------------------------------------------------- quadrants, clusters, regions


def test_quadrants_and_clusters(lisa_spdep):
    std, lag = lisa_spdep["lisa_std"], lisa_spdep["lisa_lag"]
    expected = np.select(
        [(std > 0) & (lag > 0), (std <= 0) & (lag > 0), (std <= 0) & (lag <= 0)],
        ["HH", "LH", "LL"],
        "HL",
    )
    np.testing.assert_array_equal(lisa_spdep["lisa_q"], expected)
    sig = lisa_spdep["lisa_p"] <= 0.05
    np.testing.assert_array_equal(
        lisa_spdep["lisa_cluster"], np.where(sig, lisa_spdep["lisa_q"], "ns")
    )
    assert list(LISA_COLUMNS) == [c for c in lisa_spdep.columns if c.startswith("lisa_")]
    # with row-standardised weights the mean of spdep's I_i is the global Moran's I (from R)
    assert lisa_spdep["lisa_I"].mean() == pytest.approx(0.500188557182861, rel=RTOL)


def test_regions_on_grid(two_blocks):
    grid, block_a, block_b, block_low = two_blocks
    lisa = gc.local_moran(grid, "value", weights="queen", seed=2, correction="fdr")
    region = lisa["lisa_region"]
    # the big high block is HH-1, the small one HH-2, the low block LL-1
    assert set(region[block_a].dropna()) == {"HH-1"}
    assert set(region[block_b].dropna()) == {"HH-2"}
    assert set(region[block_low].dropna()) == {"LL-1"}
    assert region[block_a].notna().sum() >= 12 and region[block_low].notna().sum() >= 6
    # regions only for significant HH / LL units, and every region is connected
    members = lisa[region.notna()]
    assert set(members["lisa_cluster"]) <= {"HH", "LL"}
    assert (lisa.loc[lisa["lisa_cluster"].isin(["HH", "LL"]), "lisa_region"]).notna().all()
    g = gc.weights(grid, "queen")
    for rid, frame in members.groupby("lisa_region"):
        sub = g.subgraph(frame.index)
        assert sub.n_components == 1, rid
        assert rid.split("-")[0] == frame["lisa_cluster"].iloc[0]
    sizes = members.groupby("lisa_region").size()
    hh = sizes[sizes.index.str.startswith("HH")]
    assert list(hh.sort_values(ascending=False, kind="stable").index) == sorted(
        hh.index, key=lambda r: int(r.split("-")[1])
    )


def test_cluster_regions(two_blocks):
    grid, *_ = two_blocks
    lisa = gc.local_moran(grid, "value", seed=2, correction="fdr")
    regions = gc.cluster_regions(lisa, column="value", sum_columns=["firms"], lq_column="lq")
    members = lisa[lisa["lisa_region"].notna()]
    assert set(regions.index) == set(members["lisa_region"])
    for rid, row in regions.iterrows():
        units = members[members["lisa_region"] == rid]
        assert row["n_units"] == len(units)
        assert sorted(row["units"]) == sorted(units.index)
        assert row["firms"] == units["firms"].sum()
        assert row["mean_lq"] == pytest.approx(units["lq"].mean())
        assert row["mean_value"] == pytest.approx(units["value"].mean())
        assert row.geometry.area == pytest.approx(len(units))  # unit squares
        assert row["cluster"] == rid[:2]
    assert regions.crs == grid.crs
    assert regions.index[0] == "HH-1"
    with pytest.raises(InputError, match="column 'employment' is not in the LISA result"):
        gc.cluster_regions(lisa, sum_columns=["employment"])
    with pytest.raises(InputError, match="returned by gc.local_moran"):
        gc.cluster_regions(grid)
    holes = lisa.copy()
    holes.loc[holes["lisa_region"] == "HH-1", "firms"] = np.nan
    with pytest.raises(
        InputError, match=r"column 'firms' is missing for \d+ units in LISA regions"
    ):
        gc.cluster_regions(holes, sum_columns=["firms"])
    # an LQ may be undefined for some units: averaged over the others, and counted
    holes = lisa.copy()
    first = holes.index[holes["lisa_region"] == "HH-1"][0]
    holes.loc[first, "lq"] = np.nan
    part = gc.cluster_regions(holes, lq_column="lq")
    assert "mean_value" not in part.columns  # no column= given: attrs are not an input
    units = holes[holes["lisa_region"] == "HH-1"]
    assert part.loc["HH-1", "mean_lq"] == pytest.approx(units["lq"].dropna().mean())
    assert part.loc["HH-1", "n_lq"] == len(units) - 1


def test_cluster_regions_empty(col):
    with pytest.warns(GeoclusterWarning, match="no unit can be significant"):
        lisa = gc.local_moran(col, "CRIME", seed=1, permutations=99, correction="bonferroni")
    regions = gc.cluster_regions(lisa)
    assert len(regions) == 0 and "n_units" in regions.columns


# ----------------------------------------------------------- isolates and missing values


@pytest.fixture(scope="module")
def col_island(col):
    far = shapely.box(100, 100, 101, 101)
    extra = gpd.GeoDataFrame({"CRIME": [30.0]}, geometry=[far], index=[999])
    return pd.concat([col[["CRIME", "geometry"]], extra])


def test_isolates_raise_names_ids(col_island):
    with pytest.raises(
        WeightsError, match=r"1 of 50 units have no neighbours \(ids \[999\]\).*isolates='drop'"
    ):
        gc.local_moran(col_island, "CRIME", seed=1)


def test_isolates_drop_equals_analysis_without_them(col_island, col):
    with pytest.warns(GeoclusterWarning, match="dropped 1 units without neighbours"):
        dropped = gc.local_moran(col_island, "CRIME", seed=4, isolates="drop")
    alone = gc.local_moran(col[["CRIME", "geometry"]], "CRIME", seed=4)
    assert dropped.loc[999, "lisa_cluster"] == "ns"
    assert np.isnan(dropped.loc[999, "lisa_I"]) and np.isnan(dropped.loc[999, "lisa_p"])
    assert pd.isna(dropped.loc[999, "lisa_region"])
    pd.testing.assert_frame_equal(
        dropped.drop(index=999)[list(LISA_COLUMNS)], alone[list(LISA_COLUMNS)]
    )
    assert dropped.attrs["isolate_ids"] == [999] and dropped.attrs["n_isolates"] == 1


def test_isolates_keep(col_island):
    kept = gc.local_moran(col_island, "CRIME", seed=4, isolates="keep")
    assert kept.loc[999, "lisa_cluster"] == "ns" and np.isnan(kept.loc[999, "lisa_p"])
    # the isolate stays in n and in the standardisation of the others
    y = col_island["CRIME"].to_numpy()
    z = (y - y.mean()) / y.std()
    g = build_graph(col_island, "queen").graph
    lag = g.lag(z)
    n = len(y)
    expected = (n - 1) * z * lag / (z @ z)
    np.testing.assert_allclose(kept["lisa_I"].to_numpy()[:-1], expected[:-1], rtol=1e-12)
    assert kept["lisa_p"].iloc[:-1].notna().all()
    # why the isolate is masked: esda alone calls it as significant as possible
    from esda.moran import Moran_Local

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Moran_Local(y, g, permutations=999, seed=1)
    assert raw.p_sim[-1] == pytest.approx(1 / 1000)


def test_isolates_on_conus_counties_queen():
    counties = gc.datasets.load_counties("conus")
    counties["x"] = np.arange(len(counties), dtype=float)
    with pytest.raises(
        WeightsError, match=r"2 of 3107 units have no neighbours \(ids \['25019', '53055'\]\)"
    ):
        gc.local_moran(counties, "x", permutations=0)


def test_missing_values(col):
    frame = col[["CRIME", "geometry"]].copy()
    frame.loc[[3, 17], "CRIME"] = np.nan
    with pytest.raises(
        InputError,
        match=r"column 'CRIME' has 2 missing values \(e.g. rows \[3, 17\]\).*missing='drop'",
    ):
        gc.local_moran(frame, "CRIME")
    with pytest.warns(GeoclusterWarning, match="dropped 2 units with missing values"):
        res = gc.local_moran(frame, "CRIME", seed=1, missing="drop")
    assert res.loc[[3, 17], "lisa_I"].isna().all()
    assert (res.loc[[3, 17], "lisa_cluster"] == "ns").all()
    assert res["lisa_I"].notna().sum() == 47
    assert res.attrs["missing_ids"] == [3, 17] and res.attrs["n_missing_dropped"] == 2
    # the dropped units leave the weights: others are row-standardised over the rest
    sub = frame.drop(index=[3, 17])
    direct = gc.local_moran(sub, "CRIME", seed=1)
    np.testing.assert_allclose(res["lisa_I"].dropna(), direct["lisa_I"], rtol=1e-12)


# ----------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"column": "crime"}, r"column 'crime' is not in the frame. Did you mean 'CRIME'\?"),
        ({"column": "label"}, r"column 'label' has dtype .* needs numbers"),
        ({"column": "flat"}, r"column 'flat' is constant"),
        ({"column": "inf"}, r"column 'inf' has infinite values"),
        ({"correction": "holm"}, r"correction='holm' must be None, 'fdr'"),
        ({"permutations": -1}, r"permutations=-1 must be 0"),
        ({"permutations": 9.5}, r"permutations=9.5 must be a whole number"),
        ({"alpha": 5}, r"local_moran: alpha=5 must be a number between 0 and 1"),
        ({"isolates": "ignore"}, r"isolates='ignore' must be one of"),
        ({"scaling": "R"}, r"scaling='R' must be 'esda' or 'spdep'"),
        ({"alternative": "above"}, r"alternative='above' must be 'folded'.*'greater' or 'less'"),
        ({"seed": "abc"}, r"seed='abc' must be None, a non-negative int or a numpy Generator"),
        ({"n_jobs": 0}, r"n_jobs=0 must be -1"),
    ],
)
def test_bad_input(col, kwargs, match):
    frame = col[["CRIME", "geometry"]].copy()
    frame["label"] = "x"
    frame["flat"] = 3.0
    frame["inf"] = np.where(np.arange(49) == 2, np.inf, 1.0)
    kwargs = {"column": "CRIME", **kwargs}
    column = kwargs.pop("column")
    with pytest.raises(InputError, match=match):
        gc.local_moran(frame, column, **kwargs)


def test_too_few_units_and_not_a_geodataframe(col):
    with pytest.raises(InputError, match="local_moran needs at least 3 units; the frame has 2"):
        gc.local_moran(col.iloc[:2], "CRIME")
    with pytest.raises(InputError, match="local_moran needs a GeoDataFrame, got DataFrame"):
        gc.local_moran(pd.DataFrame(col.drop(columns="geometry")), "CRIME")


def test_graph_ids_must_match(col):
    g = gc.weights(col, "queen")
    shifted = col.set_index(col.index + 1)
    with pytest.raises(WeightsError, match=r"does not match the frame.*gc.weights\(gdf, spec\)"):
        gc.local_moran(shifted, "CRIME", weights=g)


# ----------------------------------------------------------- inputs untouched, index kept


def test_inputs_untouched_and_index_kept(col):
    frame = col.set_index("POLYID", drop=False)
    frame.index = frame.index.map(lambda i: f"p{i:02d}")
    before = frame.copy()
    g = gc.weights(frame, "knn:5", transform=None)
    adjacency = g.adjacency.copy()
    res = gc.local_moran(frame, "CRIME", weights=g, seed=1)
    pd.testing.assert_frame_equal(frame, before)
    pd.testing.assert_series_equal(g.adjacency, adjacency)
    assert np.asarray(g.sparse.sum(axis=1)).max() == 5  # still binary, not row-standardised
    assert res.index.equals(frame.index)
    assert res is not frame
    assert res.attrs["weights"] == "(the given Graph)"


def test_given_graph_equals_spec(col):
    by_spec = gc.local_moran(col, "CRIME", weights="queen", seed=9)
    by_graph = gc.local_moran(col, "CRIME", weights=Graph.build_contiguity(col, rook=False), seed=9)
    pd.testing.assert_frame_equal(by_spec[list(LISA_COLUMNS)], by_graph[list(LISA_COLUMNS)])


# ----------------------------------------------------------- figures


def test_figures(lisa_spdep):
    fig = plot_moran_scatter(lisa_spdep)
    ax = fig.axes[0]
    assert ax.get_title() == "Moran scatterplot of CRIME"
    assert ax.get_ylabel() == "spatial lag of CRIME"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    slope = [lab for lab in labels if lab.startswith("slope")][0]
    # the slope of the lag on the standardised value is global Moran's I
    assert slope == "slope = 0.500"
    fig = plot_lisa_map(lisa_spdep)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    n_hh = int((lisa_spdep["lisa_cluster"] == "HH").sum())
    assert f"HH ({n_hh})" in labels and len(labels) == 5
    with pytest.raises(InputError, match="frame returned by gc.local_moran"):
        plot_moran_scatter(lisa_spdep.drop(columns="lisa_lag"))
    # attrs only label the figures: a frame that lost them still plots, and column= names it
    bare = lisa_spdep.copy()
    bare.attrs = {}
    assert plot_moran_scatter(bare).axes[0].get_title() == "Moran scatterplot of value"
    named = plot_lisa_map(bare, column="CRIME").axes[0].get_title()
    assert named == "LISA clusters of CRIME (alpha = 0.05, no correction)"


# ----------------------------------------------------------- the US innovation hubs


@pytest.mark.slow
def test_us_innovation_hubs_are_hh_regions():
    counties = gc.datasets.load_counties("conus")
    patents = gc.datasets.load_patents(years=(2011, 2015)).groupby("fips")["patents"].sum()
    counties["log_patents"] = np.log1p(patents.reindex(counties.index).fillna(0))
    lisa = gc.local_moran(counties, "log_patents", weights="knn:6", seed=2015, correction="fdr")
    hubs = {
        "06085": "Santa Clara",
        "06081": "San Mateo",
        "25017": "Middlesex MA",
        "53033": "King WA",
        "37183": "Wake NC",
    }
    assert (lisa.loc[list(hubs), "lisa_cluster"] == "HH").all()
    # Austin is an HH-quadrant hub significant before correction, but at p ~ 0.01 it sits
    # on the FDR cut-off: with ties counted, the zero-patent counties are no longer
    # called extreme LL, fewer units pass and the cut-off is about 0.010 here
    assert lisa.loc["48453", "lisa_q"] == "HH" and lisa.loc["48453", "lisa_p"] < 0.05
    region = lisa["lisa_region"]
    assert region.loc[list(hubs)].str.startswith("HH-").all()
    # the Bay Area's core counties form one region; Boston's and Seattle's are other regions
    assert region["06085"] == region["06081"] == region["06001"]
    assert len({region["06085"], region["25017"], region["53033"]}) == 3
    # rural low-patenting areas appear as LL, not HH
    assert (lisa["lisa_cluster"] == "LL").sum() > 50
    regions = gc.cluster_regions(lisa, sum_columns=["log_patents"])
    assert regions.loc[region["06085"], "n_units"] >= 5


@pytest.mark.slow
def test_seed_identical_across_processes(col):
    """The same seed gives the same bytes in a fresh interpreter."""
    import hashlib
    import subprocess
    import sys

    code = (
        "import hashlib, geocluster as gc\n"
        "r = gc.local_moran(gc.datasets.load_columbus(), 'CRIME', seed=77, correction='fdr')\n"
        "g = gc.getis_ord(gc.datasets.load_columbus(), 'CRIME', seed=77)\n"
        "print(hashlib.sha256(r['lisa_p'].to_numpy().tobytes()"
        " + g['gi_p'].to_numpy().tobytes()).hexdigest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = gc.local_moran(col, "CRIME", seed=77, correction="fdr")
    g = gc.getis_ord(col, "CRIME", seed=77)
    here = hashlib.sha256(r["lisa_p"].to_numpy().tobytes() + g["gi_p"].to_numpy().tobytes())
    assert out.stdout.strip() == here.hexdigest()


def test_n_jobs_does_not_change_results(col):
    a = gc.local_moran(col, "CRIME", seed=1, permutations=199)
    b = gc.local_moran(col, "CRIME", seed=1, permutations=199, n_jobs=2)
    pd.testing.assert_frame_equal(a, b)


def test_negative_seed_is_a_geocluster_error(columbus):
    with pytest.raises(gc.GeoclusterError, match="seed=-1 must be None, a non-negative int"):
        gc.local_moran(columbus, "CRIME", seed=-1, permutations=99)


def test_zero_variance_unit_has_no_z_and_is_not_significant():
    # one non-zero count on a 6 x 6 grid: under conditional permutation that unit's
    # neighbours always get zeros, so its I_i never changes: variance 0, z undefined
    grid = square_grid(6, 6)
    grid["n"] = 0.0
    grid.loc["r2c3", "n"] = 5.0
    res = gc.local_moran(grid, "n", weights="queen", permutations=0)
    assert res.loc["r2c3", "lisa_VI"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(res.loc["r2c3", "lisa_z"]) and np.isnan(res.loc["r2c3", "lisa_p"])
    assert res.loc["r2c3", "lisa_cluster"] == "ns"
    with pytest.warns(GeoclusterWarning, match="35 of 36 units"):
        perm = gc.local_moran(grid, "n", weights="queen", permutations=199, seed=1)
    assert perm.loc["r2c3", "lisa_p"] == 1.0  # every draw ties


def test_global_moran_result_speaks_the_results_protocol(col):
    mi = gc.global_moran(col, "CRIME", seed=1, permutations=99)
    table = mi.to_frame()
    assert table.columns.tolist() == ["I", "expected", "variance", "z", "p_value"]
    assert table.loc["randomisation", "p_value"] == mi.p_rand
    assert table.loc["permutation", "p_value"] == mi.p_sim == mi.p_value
    assert table.loc["normality", "z"] == mi.z_norm
    summary = mi.summary()
    assert isinstance(summary, Summary)
    text = str(summary)
    assert "Global Moran's I of 'CRIME'" in text and "p_value" in text
    assert "<h4>" in summary._repr_html_()
    pd.testing.assert_frame_equal(summary.to_frame(), table)
    analytic = gc.global_moran(col, "CRIME", permutations=0)
    assert analytic.p_value == analytic.p_rand and np.isnan(analytic.to_frame().iloc[2, -1])
