"""geocluster._base.engine: the active client, dask frames, the dask extra, progress."""

from __future__ import annotations

import logging
import sys

import dask
import dask.dataframe as dd
import dask_geopandas
import distributed
import geopandas as gpd
import pandas as pd
import pytest

from geocluster._base import engine
from geocluster.errors import MissingDependencyError


def test_active_client_is_the_default_client_and_never_starts_one(dask_client, monkeypatch):
    assert engine.active_client() is dask_client

    def none():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "default_client", none)
    before = set(distributed.client._global_clients)
    assert engine.active_client() is None
    assert set(distributed.client._global_clients) == before  # nothing was started


def test_is_dask_frame():
    frame = gpd.GeoDataFrame({"a": [1, 2]}, geometry=gpd.points_from_xy([0, 1], [0, 1]),
                             crs="EPSG:4326")
    assert not engine.is_dask_frame(frame) and not engine.is_dask_frame(pd.DataFrame(frame))
    assert engine.is_dask_frame(dask_geopandas.from_geopandas(frame, npartitions=1))
    assert engine.is_dask_frame(dd.from_pandas(pd.DataFrame({"a": [1]}), npartitions=1))
    assert not engine.is_dask_frame(dd.from_pandas(pd.Series([1]), npartitions=1))
    assert not engine.is_dask_frame([frame])


def test_require_dask_names_the_extra(monkeypatch):
    engine.require_dask("a test")
    monkeypatch.setitem(sys.modules, "dask_geopandas", None)  # as if not installed
    with pytest.raises(MissingDependencyError,
                       match=r"a test needs the optional package 'dask_geopandas'.*"
                             r"pip install 'geocluster\[dask\]'"):
        engine.require_dask("a test")


def test_progress_prints_the_dashboard_link_once(dask_client, monkeypatch, capsys):
    monkeypatch.setattr(engine, "_SHOWN", set())
    monkeypatch.setattr(type(dask_client), "dashboard_link", property(lambda c: "http://d:1/s"))
    tasks = [dask.delayed(sum)([1, 2])]
    engine.dask_progress(tasks, label="step one")
    engine.dask_progress(tasks, label="step two")
    err = capsys.readouterr().err
    assert err == "step one: progress on the dask dashboard at http://d:1/s\n"


def test_progress_bar_for_futures_in_a_terminal(dask_client, monkeypatch):
    shown = []
    monkeypatch.setattr(distributed, "progress", lambda futures: shown.append(futures))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    futures = [dask_client.submit(sum, [1, 2])]
    engine.dask_progress(futures, label="sum")
    assert shown == [futures] and futures[0].result() == 3


def test_progress_without_a_client_is_logged(monkeypatch, caplog, capsys):
    monkeypatch.setattr(engine, "active_client", lambda: None)
    with caplog.at_level(logging.INFO, logger="geocluster"):
        engine.dask_progress(dask.delayed(sum)([1]), label="alone")
    assert "alone: 1 dask tasks on the local scheduler" in caplog.text
    assert capsys.readouterr().err == ""
