"""Tests for geocluster.clusters.hotspots: Getis-Ord Gi* / Gi."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy import stats

import geocluster as gc
from geocluster.clusters.hotspots import GI_COLUMNS, plot_hotspot_map
from geocluster.errors import GeoclusterWarning, InputError, WeightsError

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def col():
    return gc.datasets.load_columbus()


@pytest.fixture(scope="module")
def ref():
    with open(DATA / "columbus_r_spdep.json") as handle:
        return json.load(handle)


def ord_getis_z(y: np.ndarray, w: np.ndarray, star: bool) -> np.ndarray:
    """Ord & Getis (1995) z of G_i (star=False) or G_i* (diagonal of w used), written out."""
    n = len(y)
    z = np.empty(n)
    for i in range(n):
        if star:
            others, wi, m = y, w[i], n
        else:
            keep = np.arange(n) != i
            others, wi, m = y[keep], w[i][keep], n - 1
        mean = others.mean()
        sd = np.sqrt((others**2).mean() - mean**2)
        s1 = (wi**2).sum()
        wsum = wi.sum()
        z[i] = (wi @ others - mean * wsum) / (sd * np.sqrt((m * s1 - wsum**2) / (m - 1)))
    return z


def test_gi_star_matches_spdep(col, ref):
    gi = gc.getis_ord(col, "CRIME", seed=1)
    np.testing.assert_allclose(gi["gi_z"], ref["local_g_star_crime"]["z"], rtol=1e-6)
    assert gi.attrs["statistic"] == "getis_ord_gi_star" and gi.attrs["transform"] == "B"


@pytest.mark.parametrize(("star", "transform"), [(True, "r"), (False, "b"), (False, "r")])
def test_gi_z_matches_formula(col, star, transform):
    gi = gc.getis_ord(col, "HOVAL", star=star, transform=transform, permutations=0)
    w = gc.weights(col, "queen", transform="b").sparse.toarray()
    if star:
        np.fill_diagonal(w, 1.0)
    if transform == "r":
        w = w / w.sum(axis=1, keepdims=True)
    expected = ord_getis_z(col["HOVAL"].to_numpy(float), w, star)
    np.testing.assert_allclose(gi["gi_z"], expected, rtol=1e-9)


def test_gi_p_agrees_with_esda_on_continuous_data(col):
    """Without ties the tie-aware folded p estimates what esda's p_sim estimates.

    Both are Monte Carlo estimates of the same permutation probability from different
    random draws, so they agree within sampling error (9999 draws each).
    """
    from esda.getisord import G_Local

    gi = gc.getis_ord(col, "CRIME", seed=6, permutations=9999)
    g = gc.weights(col, "queen", transform="b").assign_self_weight(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        esda_g = G_Local(col["CRIME"].to_numpy(float), g, transform="B", star=True,
                         permutations=9999, seed=1, n_jobs=1, keep_simulations=False)
    p, q = gi["gi_p"].to_numpy(), np.asarray(esda_g.p_sim, dtype=float)
    se = np.sqrt(np.maximum(p * (1 - p), 1e-4) / 9999)
    assert np.all(np.abs(p - q) < 5 * np.sqrt(2) * se + 2e-4)
    np.testing.assert_allclose(gi["gi_G"], esda_g.Gs)


@pytest.mark.filterwarnings("ignore:getis_ord, 99% bins")
def test_seed_reproducible(col):
    a = gc.getis_ord(col, "CRIME", seed=31, correction="fdr")
    b = gc.getis_ord(col, "CRIME", seed=31, correction="fdr")
    pd.testing.assert_frame_equal(a, b)
    c = gc.getis_ord(col, "CRIME", seed=32, correction="fdr")
    assert not np.array_equal(a["gi_p"], c["gi_p"])


def test_bins_reproduce_arcgis_thresholds(col):
    gi = gc.getis_ord(col, "CRIME", permutations=0, alternative="two-sided")
    z = gi["gi_z"].to_numpy()
    expected = np.select(
        [z > 2.5758, z > 1.96, z > 1.6449, z < -2.5758, z < -1.96, z < -1.6449],
        ["hot 99%", "hot 95%", "hot 90%", "cold 99%", "cold 95%", "cold 90%"],
        "ns",
    )
    np.testing.assert_array_equal(gi["gi_hotspot"], expected)
    np.testing.assert_allclose(gi["gi_p"], 2 * stats.norm.sf(np.abs(z)))


def test_bins_and_cluster_follow_corrected_cutoffs(col):
    gi = gc.getis_ord(col, "CRIME", seed=2, correction="fdr", permutations=4999)
    p, z = gi["gi_p"].to_numpy(), gi["gi_z"].to_numpy()
    cut = gi.attrs["cutoffs"]
    assert cut["99%"] <= cut["95%"] <= cut["90%"] <= 0.10
    level = np.select(
        [p <= cut["99%"], p <= cut["95%"], p <= cut["90%"]], ["99%", "95%", "90%"], ""
    )
    side = np.where(z > 0, "hot ", "cold ")
    expected = np.where(level == "", "ns", np.char.add(side, level.astype(str)))
    np.testing.assert_array_equal(gi["gi_hotspot"], expected)
    sig = p <= gi.attrs["cutoff"]
    np.testing.assert_array_equal(
        gi["gi_cluster"], np.where(sig, np.where(z > 0, "hot", "cold"), "ns")
    )
    assert gi.attrs["cutoff"] == cut["95%"]  # alpha = 0.05
    assert set(gi["gi_hotspot"]) >= {"hot 99%", "cold 95%"}


def test_hot_spots_found_on_grid():
    cells = [shapely.box(i, j, i + 1, j + 1) for j in range(10) for i in range(10)]
    grid = gpd.GeoDataFrame(geometry=cells, crs="EPSG:3857")
    rng = np.random.default_rng(1)
    value = rng.poisson(5, 100).astype(float)
    hot = np.array([(j in (1, 2, 3)) and (i in (1, 2, 3)) for j in range(10) for i in range(10)])
    value[hot] += 25
    grid["firms"] = value
    gi = gc.getis_ord(grid, "firms", seed=3)
    assert gi.loc[hot, "gi_hotspot"].str.startswith("hot").all()
    assert gi.loc[22, "gi_hotspot"] == "hot 99%"  # the centre of the block
    far = np.array([(j >= 6) and (i >= 6) for j in range(10) for i in range(10)])
    assert not gi.loc[far, "gi_hotspot"].str.startswith("hot").any()


def test_bad_input(col):
    frame = col[["CRIME", "geometry"]].copy()
    frame["zero"] = np.tile([1.0, -1.0], 25)[:49]
    frame.loc[48, "zero"] = 0.0
    with pytest.raises(InputError, match="sums to zero"):
        gc.getis_ord(frame, "zero")
    with pytest.raises(InputError, match=r"transform='v' must be 'b' \(binary\) or 'r'"):
        gc.getis_ord(frame, "CRIME", transform="v")
    with pytest.raises(InputError, match=r"star='yes' must be True"):
        gc.getis_ord(frame, "CRIME", star="yes")
    with pytest.raises(InputError, match="column 'crime' is not in the frame"):
        gc.getis_ord(frame, "crime")
    with pytest.raises(InputError, match="correction='BH' must be None"):
        gc.getis_ord(frame, "CRIME", correction="BH")
    frame.loc[5, "CRIME"] = np.nan
    with pytest.raises(InputError, match="1 missing values"):
        gc.getis_ord(frame, "CRIME")


def test_isolates_policies(col):
    far = shapely.box(100, 100, 101, 101)
    extra = gpd.GeoDataFrame({"CRIME": [30.0]}, geometry=[far], index=[999])
    frame = pd.concat([col[["CRIME", "geometry"]], extra])
    with pytest.raises(WeightsError, match=r"1 of 50 units have no neighbours \(ids \[999\]\)"):
        gc.getis_ord(frame, "CRIME")
    with pytest.warns(gc.GeoclusterWarning, match="dropped 1 units"):
        dropped = gc.getis_ord(frame, "CRIME", seed=1, isolates="drop")
    alone = gc.getis_ord(col[["CRIME", "geometry"]], "CRIME", seed=1)
    pd.testing.assert_frame_equal(
        dropped.drop(index=999)[list(GI_COLUMNS)], alone[list(GI_COLUMNS)]
    )
    kept = gc.getis_ord(frame, "CRIME", seed=1, isolates="keep")
    assert kept.loc[999, "gi_hotspot"] == "ns" and np.isnan(kept.loc[999, "gi_z"])
    assert kept["gi_z"].iloc[:-1].notna().all()


def test_inputs_untouched(col):
    before = col.copy()
    g = gc.weights(col, "queen")
    adjacency = g.adjacency.copy()
    out = gc.getis_ord(col, "CRIME", weights=g, seed=1)
    pd.testing.assert_frame_equal(col, before)
    pd.testing.assert_series_equal(g.adjacency, adjacency)
    assert out.index.equals(col.index)
    assert list(GI_COLUMNS) == [c for c in out.columns if c.startswith("gi_")]


@pytest.mark.filterwarnings("ignore:getis_ord, 99% bins")
def test_hotspot_map(col):
    gi = gc.getis_ord(col, "CRIME", seed=1, correction="fdr")
    fig = plot_hotspot_map(gi)
    ax = fig.axes[0]
    assert ax.get_title() == "Gi* hot and cold spots of CRIME (fdr correction)"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 7
    assert f"ns ({int((gi['gi_hotspot'] == 'ns').sum())})" in labels
    with pytest.raises(InputError, match="returned by gc.getis_ord"):
        plot_hotspot_map(col)


def test_row_standardising_changes_only_g(col):
    from esda.getisord import G_Local

    b = gc.getis_ord(col, "CRIME", seed=4, transform="b")
    r = gc.getis_ord(col, "CRIME", seed=4, transform="r")
    np.testing.assert_allclose(r["gi_z"], b["gi_z"], rtol=1e-12)
    np.testing.assert_array_equal(r["gi_p"], b["gi_p"])
    assert not np.allclose(r["gi_G"], b["gi_G"])
    # esda's own z for row-standardised weights uses the binary variance (why we recompute)
    g = gc.weights(col, "queen", transform="b").assign_self_weight(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        esda_r = G_Local(col["CRIME"].to_numpy(float), g, transform="R", star=True, permutations=0)
        esda_b = G_Local(col["CRIME"].to_numpy(float), g, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(b["gi_z"], esda_b.Zs, rtol=1e-12)
    assert not np.allclose(esda_r.Zs, b["gi_z"])


def test_fdr_resolution_warning():
    cells = [shapely.box(i, j, i + 1, j + 1) for j in range(30) for i in range(30)]
    grid = gpd.GeoDataFrame(geometry=cells, crs="EPSG:3857")
    rng = np.random.default_rng(2)
    value = rng.poisson(5, 900).astype(float)
    block = np.array([(j < 6) and (i < 6) for j in range(30) for i in range(30)])
    value[block] += 30
    grid["firms"] = value
    with pytest.warns(GeoclusterWarning, match=r"99% bins: \d+ units have the smallest .* 0.001 "):
        gi = gc.getis_ord(grid, "firms", seed=1, permutations=999, correction="fdr")
    assert not gi["gi_hotspot"].str.endswith("99%").any()
    assert gi.loc[block, "gi_hotspot"].str.startswith("hot").mean() > 0.8
    with pytest.warns(GeoclusterWarning, match="local_moran: .* FDR at 0.01 over 900 units"):
        gc.local_moran(grid, "firms", seed=1, permutations=99, correction="fdr", alpha=0.01)
