"""The study's engine: ``[engine] kind = "dask"`` starts (or joins) a dask cluster for one run.

Only a study starts an engine. In Python, every library function given a dask frame runs on
the active ``distributed.Client`` (:func:`geocluster._base.engine.active_client`) and starts
nothing; :func:`study_engine` is what ``run_study`` wraps its steps in:

* ``kind = "local"``: nothing is started, the steps run in this process as always;
* ``kind = "dask"`` with an active client (a user's ``Client`` made before ``run_study``):
  that client is used as it is, nothing is started or closed (``workers`` and
  ``memory_limit``, which size a new cluster, are then noted as unused);
* ``kind = "dask"`` with ``scheduler = "tcp://host:port"``: a client joins that cluster
  (a :class:`~geocluster.errors.ConfigError` naming the key when it cannot be reached) and
  is closed at the end; the cluster is left running;
* ``kind = "dask"`` otherwise: a ``LocalCluster`` of ``workers`` processes (one thread each,
  ``memory_limit`` each) is started, and closed with its client when the run ends, also on
  an error or Ctrl-C.

The dashboard link is printed once, on standard error (through the library's
:func:`~geocluster._base.engine.dask_progress`, so the steps do not print it again); without
``bokeh`` there is no dashboard and the line says so.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from geocluster._base.engine import DASK_EXTRA, active_client, dask_progress, require_dask
from geocluster._base.optional import import_optional
from geocluster.errors import ConfigError
from geocluster.pipeline.schema import EngineSection

__all__ = ["Engine", "study_engine", "default_partitions"]

#: Seconds to wait for ``[engine] scheduler`` before giving up with a ConfigError.
CONNECT_TIMEOUT = 20


@dataclass(frozen=True)
class Engine:
    """The engine a study runs on: its kind, its client (None for local), what it started.

    Attributes
    ----------
    kind : str
        ``"local"`` or ``"dask"``.
    client : distributed.Client or None
        The client the dask steps use.
    started : str
        ``"nothing"`` (local, or an active client reused), ``"client"`` (joined a
        scheduler) or ``"cluster"`` (a LocalCluster started for the run).
    workers : int
        Workers of the cluster when it started (1 for local).
    partitions : int
        Partitions for firms that do not come partitioned (``[engine] partitions``).

    Examples
    --------
    >>> Engine("local", None, "nothing", 1, 1)
    <Engine local>
    """

    kind: str
    client: Any
    started: str
    workers: int
    partitions: int

    @property
    def is_dask(self) -> bool:
        return self.kind == "dask"

    def __repr__(self) -> str:
        if not self.is_dask:
            return "<Engine local>"
        address = getattr(getattr(self.client, "scheduler", None), "address", "?")
        return (f"<Engine dask at {address} ({self.workers} workers, {self.partitions} "
                f"partitions; started {self.started})>")

    def summary(self) -> dict[str, Any]:
        """The engine's facts for ``run.json``."""
        info: dict[str, Any] = {"kind": self.kind}
        if self.is_dask:
            info.update(workers=self.workers, partitions=self.partitions, started=self.started)
        return info


def default_partitions(section: EngineSection, workers: int) -> int:
    """``[engine] partitions``, else 2 per worker.

    Examples
    --------
    >>> default_partitions(EngineSection(kind="dask"), 3)
    6
    >>> default_partitions(EngineSection(kind="dask", partitions=5), 3)
    5
    """
    return section.partitions if section.partitions is not None else 2 * max(1, workers)


@contextlib.contextmanager
def study_engine(section: EngineSection, *, quiet: bool = False) -> Iterator[Engine]:
    """The engine of ``[engine]`` for the duration of a run; closes only what it started.

    Parameters
    ----------
    section
        The validated ``[engine]`` section.
    quiet
        Print no line about the cluster (its dashboard link).

    Yields
    ------
    Engine

    Raises
    ------
    MissingDependencyError
        ``kind = "dask"`` without the ``dask`` extra installed.
    ConfigError
        ``[engine] scheduler`` cannot be reached.

    Examples
    --------
    >>> with study_engine(EngineSection()) as engine:
    ...     engine
    <Engine local>
    """
    if section.kind != "dask":
        yield Engine("local", None, "nothing", 1, 1)
        return
    require_dask("[engine] kind = 'dask'")
    distributed = import_optional("distributed", DASK_EXTRA, "[engine] kind = 'dask'")
    with contextlib.ExitStack() as stack:
        client, started = _client(section, distributed, stack)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        engine = Engine("dask", client, started, workers, default_partitions(section, workers))
        if not quiet:
            _announce(engine)
        yield engine


def _client(section: EngineSection, distributed, stack: contextlib.ExitStack):
    """The client of the run and what was started for it (closed by ``stack``)."""
    current = active_client()
    if current is not None and section.scheduler is None:
        unused = [k for k in ("workers", "memory_limit") if getattr(section, k) is not None]
        if unused:
            warnings.warn(
                f"[engine] {', '.join(unused)} ignored: the study runs on the dask client "
                f"already active in this session ({current.scheduler.address}), as it is.",
                stacklevel=4)
        return current, "nothing"
    if section.scheduler is not None:
        try:
            client = distributed.Client(section.scheduler, timeout=CONNECT_TIMEOUT,
                                        set_as_default=True)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"[engine] scheduler = {section.scheduler!r}: cannot reach the dask scheduler "
                f"({type(exc).__name__}: {exc}); check the address and that the scheduler "
                "runs, or remove the key to start a LocalCluster for the run."
            ) from None
        stack.callback(client.close)
        return client, "client"
    workers = section.workers or os.cpu_count() or 1
    options: dict[str, Any] = dict(n_workers=workers, threads_per_worker=1, processes=True,
                                   silence_logs=logging.ERROR)
    if section.memory_limit is not None:
        options["memory_limit"] = section.memory_limit
    if importlib.util.find_spec("bokeh") is None:
        options["dashboard_address"] = None  # no dashboard without bokeh
    else:
        options["dashboard_address"] = ":0"  # a free port: another cluster may hold 8787
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port 8787 is already in use")
        cluster = distributed.LocalCluster(**options)
    stack.callback(cluster.close)
    client = distributed.Client(cluster, set_as_default=True)
    stack.callback(client.close)
    return client, "cluster"


def _announce(engine: Engine) -> None:
    """One line about the cluster; its dashboard link once (shared with the steps)."""
    client = engine.client
    what = {"cluster": f"a LocalCluster of {engine.workers} workers started for this run",
            "client": f"the cluster at {client.scheduler.address} ({engine.workers} workers)",
            "nothing": f"the active client's cluster ({engine.workers} workers)"}[engine.started]
    if importlib.util.find_spec("bokeh") is None:
        print(f"dask: {what}; no dashboard (pip install bokeh to get one).", file=sys.stderr)
        return
    print(f"dask: {what}.", file=sys.stderr)
    dask_progress([], label="geocluster study")
