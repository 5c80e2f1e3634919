"""Fixtures of the dask tests: one ``LocalCluster`` with two worker processes for the session.

The cluster is started once, on first use, and shared by every test in ``tests/dask/`` that asks
for ``dask_client``; the client is the default one while the session runs, so the library
functions (which never start a client themselves) find it through
``geocluster._base.engine.active_client()``. Worker processes make the tests exercise what a real
cluster does: every task, its arguments and its result are pickled between processes.

The folder is skipped as a whole when the ``dask`` extra is not installed, and every test in it
is marked ``slow`` (``make test-fast`` skips them): starting the cluster and importing
geocluster in its workers alone takes 10-15 s, and the folder ran 236 s on this 2-core machine
(under load) when it was measured.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

pytest.importorskip("dask_geopandas", reason="the dask tests need the `dask` extra")
distributed = pytest.importorskip("distributed", reason="the dask tests need the `dask` extra")


HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    # a conftest hook sees every item of the session: mark only those of this folder
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)


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
