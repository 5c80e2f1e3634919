"""The study with ``[engine] kind = "dask"`` gives the outputs of the local run.

Two pairs of runs, each on small data (the study reuses the session's dask client, so no
cluster is started here; ``test_engine.py`` starts one):

* the demo study (synthetic firms split into partitions; focus industries from the LQs of
  the partitions; the count exposure by partition halos), end to end: map and report too;
* a study of a partitioned GeoParquet register (``write_firms_dataset``) read with
  ``read_firms(engine="dask")``, its areal statistics on the firms counted by partitions.

Equal means: the firm table (every column, same dtypes), the units and density-cluster
layers, the model (``model.json``), the robustness table, and the run's summary except
the engine's own entry. Floats are compared to 1e-12 in the firm table (the standardised
exposure's mean and sd are sums over partitions, taken in another order: last-bit
differences) and to 1e-7 in the model and the sweep (the ML optimiser turns last-bit input
differences into differences at its tolerance, ~1e-9 here).
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

from geocluster.datasets import write_firms_dataset
from geocluster.pipeline.config import validate_config
from geocluster.pipeline.study import demo_config, run_study

pytestmark = pytest.mark.slow


def _runs(config, tmp_path, dask_client):
    local = run_study(config, tmp_path / "local", quiet=True)
    dask = run_study(config.replace("engine", kind="dask", partitions=5),
                     tmp_path / "dask", quiet=True)
    return local, dask


def _assert_close(a, b, where=""):
    """Equal JSON-like values; floats to 1e-7 relative (the ML optimiser's tolerance)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and not isinstance(b, str):
        assert b == pytest.approx(a, rel=1e-7, abs=1e-12, nan_ok=True), where
    else:
        assert a == b, where


def _assert_same_outputs(local, dask, layers):
    a, b = local.out, dask.out
    firms_a = gpd.read_parquet(a / "firms.parquet")
    firms_b = gpd.read_parquet(b / "firms.parquet")
    # every column, same dtypes; the standardised exposure to the last bits (its mean and
    # sd are sums over partitions, in another order)
    assert_geodataframe_equal(firms_a, firms_b, check_less_precise=False)
    pd.testing.assert_frame_equal(firms_a.drop(columns="geometry"),
                                  firms_b.drop(columns="geometry"), check_exact=False,
                                  rtol=1e-12, atol=1e-12)
    for layer in layers:
        assert_geodataframe_equal(gpd.read_file(a / "clusters.gpkg", layer=layer),
                                  gpd.read_file(b / "clusters.gpkg", layer=layer))
    _assert_close(json.loads((a / "model.json").read_text()),
                  json.loads((b / "model.json").read_text()), "model.json")
    if (a / "robustness.csv").exists():
        pd.testing.assert_frame_equal(pd.read_csv(a / "robustness.csv"),
                                      pd.read_csv(b / "robustness.csv"), check_exact=False,
                                      rtol=1e-7)
    summary_a = json.loads((a / "run.json").read_text())["summary"]
    summary_b = json.loads((b / "run.json").read_text())["summary"]
    assert summary_a.pop("engine") == {"kind": "local"}
    assert summary_b.pop("engine")["kind"] == "dask"
    summary_b.pop("partitions")
    _assert_close(summary_a, summary_b, "summary")
    return firms_a


def test_demo_study_on_dask_equals_local(tmp_path, dask_client):
    config = demo_config(n_firms=400, seed=11)
    config = (config.replace("areal", permutations=99).replace("density", simulations=19)
              .replace("model", impacts_simulations=50)
              .replace("robustness", weights=("knn:8",), models=("ols",), exposure=(),
                       lisa_weights=()))
    local, dask = _runs(config, tmp_path, dask_client)
    run = json.loads((dask.out / "run.json").read_text())
    assert run["summary"]["engine"] == {"kind": "dask", "workers": 2, "partitions": 5,
                                        "started": "nothing"}
    assert run["summary"]["partitions"] == 5
    assert run["config"]["engine"]["kind"] == "dask"
    assert {"map.html", "report.html", "model.json"} <= set(dask.files)
    firms = _assert_same_outputs(local, dask, ["units", "density_clusters"])
    # the exposure is the demo's count at 25 km: not constant, and non-trivial at the edges
    assert firms["cluster"].std() > 0.5
    assert pd.Series(firms["cluster"]).notna().all()


def test_parquet_register_study_on_dask_equals_local(tmp_path, dask_client):
    folder = tmp_path / "register"
    write_firms_dataset(folder, 700, partitions=3, seed=5)
    config = validate_config({
        "study": {"seed": 3},
        "firms": {"path": str(folder), "id": "firm_id"},
        "areal": {"data": "firms", "permutations": 99, "getis_ord": False},
        "density": {"enabled": False},
        "exposure": {"method": "count", "radius": "30km"},
        "model": {"impacts_simulations": 50},
        "robustness": {"enabled": False}, "maps": {"enabled": False},
    })
    local, dask = _runs(config, tmp_path, dask_client)
    firms = _assert_same_outputs(local, dask, ["units"])
    assert len(firms) == 700
    units = gpd.read_file(dask.out / "clusters.gpkg", layer="units")
    assert units["n_firms"].sum() == 700 - json.loads(
        (dask.out / "run.json").read_text())["summary"]["areal"]["firms_outside"]
