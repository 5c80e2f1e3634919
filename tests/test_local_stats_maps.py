"""Map layers (gc.map bivariate=, geary=, join_counts=) and static figures of the
bivariate local Moran, local Geary and local join counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

import geocluster as gc
from geocluster._base import plotting
from geocluster.clusters.bivariate import local_moran_bv
from geocluster.clusters.geary import local_geary
from geocluster.clusters.joincounts import local_join_counts
from geocluster.clusters.local_plots import (
    GEARY_COLORS,
    JOIN_COUNT_COLORS,
    join_count_classes,
    plot_bivariate_map,
    plot_bivariate_scatter,
    plot_geary_map,
    plot_join_count_map,
)
from geocluster.errors import InputError
from geocluster.viz.layers import GeoclusterLayer

EVIL = "<img src=x onerror=window.__xss=1> {{7*7}}"


@pytest.fixture(scope="module")
def results():
    col = gc.datasets.load_columbus().set_crs("EPSG:4326")  # no CRS as bundled; any will do
    col["name"] = [EVIL if i == 0 else f"tract {i}" for i in range(len(col))]
    col["hi"] = col["CRIME"] > col["CRIME"].quantile(0.6)
    return {
        "bivariate": local_moran_bv(col, "CRIME", "INC", seed=1),
        "geary": local_geary(col, "CRIME", seed=1),
        "geary_mv": local_geary(col, ["CRIME", "INC", "HOVAL"], seed=1),
        "join_counts": local_join_counts(col, "hi", seed=1),
    }


def layer(m) -> GeoclusterLayer:
    (only,) = [c for c in m._children.values() if isinstance(c, GeoclusterLayer)]
    return only


def codes(lay) -> list[int]:
    return [f["properties"]["c"] for f in json.loads(lay.extra)["features"]]


def test_bivariate_layer_colours_and_codes(results):
    bv = results["bivariate"]
    lay = layer(gc.map(bivariate=bv, tiles=None))
    data = json.loads(lay.payload)
    assert lay.layer_name == "Bivariate LISA clusters"
    assert data["palette"] == list(plotting.LISA_COLORS.values())
    keys = list(plotting.LISA_COLORS)
    assert [keys[c] for c in codes(lay)] == bv["bilisa_cluster"].tolist()
    assert data["legend"]["title"].startswith("Bivariate local Moran")


@pytest.mark.parametrize("key, classes", [("geary", ["HH", "LL", "OP", "NEG", "ns"]),
                                          ("geary_mv", ["POS", "NEG", "ns"])])
def test_geary_layer(results, key, classes):
    lg = results[key]
    lay = layer(gc.map(geary=lg, tiles=None))
    data = json.loads(lay.payload)
    assert data["palette"] == [GEARY_COLORS[k] for k in classes]
    assert [classes[c] for c in codes(lay)] == lg["geary_cluster"].tolist()


def test_join_count_layer(results):
    jc = results["join_counts"]
    lay = layer(gc.map(join_counts=jc, tiles=None))
    data = json.loads(lay.payload)
    keys = list(JOIN_COUNT_COLORS)
    assert data["palette"] == list(JOIN_COUNT_COLORS.values())
    got = [keys[c] for c in codes(lay)]
    assert got == join_count_classes(jc).tolist()
    assert got.count("cluster") == int((jc["jc_cluster"] == "cluster").sum())
    assert got.count("event") == int(jc["jc_event"].sum()) - got.count("cluster")


def test_all_three_together_first_shown_and_escaped(results, tmp_path):
    m = gc.map(bivariate=results["bivariate"], geary=results["geary"],
               join_counts=results["join_counts"], tiles=None)
    shown = [(c.layer_name, c.show) for c in m._children.values()
             if isinstance(c, GeoclusterLayer)]
    assert shown == [("Bivariate LISA clusters", True), ("Local Geary clusters", False),
                     ("Local join counts", False)]
    page = gc.save_map(m, tmp_path / "m.html").read_text()
    assert "<img src=x" not in page and "{{7*7}}" not in page
    assert "\\u003cimg src=x onerror" in page  # the name is there, as escaped JSON text


def test_layer_validation(results):
    with pytest.raises(InputError, match="bivariate= needs the column 'bilisa_cluster'"):
        gc.map(bivariate=results["geary"], tiles=None)
    with pytest.raises(InputError, match="geary= needs the column 'geary_cluster'"):
        gc.map(geary=results["bivariate"], tiles=None)
    with pytest.raises(InputError, match=r"join_counts= needs the columns \['jc_cluster', "):
        gc.map(join_counts=results["bivariate"], tiles=None)
    bad = results["geary"].assign(geary_cluster="odd")
    with pytest.raises(InputError, match=r"values \['odd'\] outside"):
        gc.map(geary=bad, tiles=None)


def test_static_figures(results):
    bv = results["bivariate"]
    fig = plot_bivariate_scatter(bv)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "CRIME (standardised)"
    # the fitted line's slope is the regression of the lag of y on x through the origin
    x, y = bv["bilisa_x"].to_numpy(), bv["bilisa_lag"].to_numpy()
    line = ax.get_lines()[0].get_xydata()
    slope = (line[1, 1] - line[0, 1]) / (line[1, 0] - line[0, 0])
    assert slope == pytest.approx(float(x @ y / (x @ x)))
    for fig, n_classes in ((plot_bivariate_map(bv), bv["bilisa_cluster"].nunique()),
                           (plot_geary_map(results["geary"]),
                            results["geary"]["geary_cluster"].nunique()),
                           (plot_join_count_map(results["join_counts"]),
                            join_count_classes(results["join_counts"]).nunique())):
        legend = fig.axes[0].get_legend()
        assert len(legend.get_texts()) == n_classes
    with pytest.raises(InputError, match="local_geary"):
        plot_geary_map(bv)
    assert np.isfinite(slope)
