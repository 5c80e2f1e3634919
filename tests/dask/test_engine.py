"""The study's engine (``[engine]``): what it starts, joins or reuses, and what it closes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from geocluster._base.engine import active_client
from geocluster.errors import ConfigError
from geocluster.pipeline import engine as engine_module
from geocluster.pipeline.engine import default_partitions, study_engine
from geocluster.pipeline.schema import EngineSection


def test_local_engine_starts_nothing():
    before = active_client()
    with study_engine(EngineSection()) as engine:
        assert engine.kind == "local" and engine.client is None and not engine.is_dask
        assert engine.summary() == {"kind": "local"}
        assert active_client() is before


def test_active_client_is_reused_as_it_is(dask_client, capsys):
    section = EngineSection(kind="dask", workers=5)
    with pytest.warns(UserWarning, match=r"\[engine\] workers ignored: the study runs on the "
                                         "dask client already active"):
        with study_engine(section) as engine:
            assert engine.client is dask_client and engine.started == "nothing"
            assert engine.workers == 2 and engine.partitions == 4
            assert dask_client.submit(sum, [1, 2]).result() == 3
    assert dask_client.status == "running"  # not closed: the study did not start it
    assert active_client() is dask_client
    assert "the active client's cluster (2 workers)" in capsys.readouterr().err


def test_unreachable_scheduler_names_the_key(monkeypatch):
    monkeypatch.setattr(engine_module, "CONNECT_TIMEOUT", 1)
    section = EngineSection(kind="dask", scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ConfigError, match=r"\[engine\] scheduler = 'tcp://127.0.0.1:9': cannot "
                                          "reach the dask scheduler"):
        with study_engine(section):
            pass


def test_joined_scheduler_client_is_closed_cluster_left_running(dask_client, capsys):
    address = dask_client.scheduler.address
    with study_engine(EngineSection(kind="dask", scheduler=address), quiet=True) as engine:
        assert engine.started == "client" and engine.client is not dask_client
        assert engine.client.submit(sum, [2, 3]).result() == 5
        joined = engine.client
    assert joined.status == "closed" and dask_client.status == "running"
    assert capsys.readouterr().err == ""  # quiet: no line about the cluster


def test_default_partitions():
    assert default_partitions(EngineSection(kind="dask"), 2) == 4
    assert default_partitions(EngineSection(kind="dask", partitions=7), 2) == 7


@pytest.mark.slow
def test_local_cluster_started_for_the_run_and_closed():
    # a fresh interpreter: no session client may be active when the engine starts its own
    code = textwrap.dedent("""
        import distributed
        from geocluster._base.engine import active_client
        from geocluster.pipeline.engine import study_engine
        from geocluster.pipeline.schema import EngineSection
        with study_engine(EngineSection(kind="dask", workers=1, memory_limit="1GB")) as e:
            assert e.started == "cluster" and e.workers == 1 and e.partitions == 2
            assert active_client() is e.client
            info = e.client.scheduler_info()["workers"]
            assert [w["memory_limit"] for w in info.values()] == [10**9]
            client = e.client
        assert client.status == "closed" and active_client() is None
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert done.stderr.count("a LocalCluster of 1 workers started for this run") == 1
