"""Fixtures of the dask tests: one ``LocalCluster`` with two worker processes for the session.

The cluster is started once, on first use, and shared by every test in ``tests/dask/`` that asks
for ``dask_client``; the client is the default one while the session runs, so the library
functions (which never start a client themselves) find it through
``geocluster._base.engine.active_client()``. Worker processes make the tests exercise what a real
cluster does: every task, its arguments and its result are pickled between processes.

The folder is skipped as a whole when the ``dask`` extra is not installed.
"""

from __future__ import annotations

import logging
import warnings

import pytest

pytest.importorskip("dask_geopandas", reason="the dask tests need the `dask` extra")
distributed = pytest.importorskip("distributed", reason="the dask tests need the `dask` extra")


@pytest.fixture(scope="session")
def dask_client():
    """A ``distributed.Client`` on a 2-process ``LocalCluster`` (1 thread each, no dashboard)."""
    with warnings.catch_warnings():
        # without a dashboard the scheduler still serves /health on 8787, or on a free port
        # (with a warning) when another cluster on this machine holds 8787
        warnings.filterwarnings("ignore", message="Port 8787 is already in use")
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    with cluster, distributed.Client(cluster, set_as_default=True) as client:
        yield client
