"""The dask engine seen from the library: the active client, dask frames, progress.

The library never starts a cluster or a client itself: a function given a dask frame runs on
the active ``distributed.Client`` when there is one (the user's, or the one a study's
``[engine]`` section started) and otherwise on dask's default local scheduler. Everything here
works without dask installed (``is_dask_frame`` is then always False, ``active_client`` None);
only :func:`require_dask` insists on it, with the error that names the ``dask`` extra.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterable
from typing import Any

from geocluster._base.optional import import_optional

__all__ = ["DASK_EXTRA", "active_client", "dask_progress", "is_dask_frame", "require_dask"]

log = logging.getLogger("geocluster")

#: The extra that installs dask, dask.distributed and dask-geopandas.
DASK_EXTRA = "dask"
#: Dashboard links already printed, one per scheduler address (``dask_progress`` prints once).
_SHOWN: set[str] = set()


def require_dask(purpose: str) -> None:
    """Raise :class:`~geocluster.errors.MissingDependencyError` unless the dask extra is there.

    Parameters
    ----------
    purpose
        What needs dask, for the message (e.g. ``"read_firms(engine='dask')"``).

    Examples
    --------
    >>> require_dask("a partitioned aggregation")  # dask is installed here: nothing happens
    """
    for name in ("dask", "distributed", "dask_geopandas"):
        import_optional(name, DASK_EXTRA, purpose)


def is_dask_frame(obj: object) -> bool:
    """True for a dask DataFrame or dask-geopandas GeoDataFrame (without importing dask).

    Examples
    --------
    >>> import pandas as pd
    >>> import dask.dataframe as dd
    >>> is_dask_frame(pd.DataFrame({"a": [1]})), is_dask_frame(dd.from_dict({"a": [1]}, 1))
    (False, True)
    """
    if "dask" not in sys.modules:
        return False
    dd = sys.modules.get("dask.dataframe") or importlib.import_module("dask.dataframe")
    return isinstance(obj, dd.DataFrame)


def active_client() -> Any | None:
    """The current ``distributed.Client``, or None (no client, or distributed not installed).

    Never starts one: ``distributed.get_client()`` would start a ``LocalCluster`` when there
    is none, so the default client is looked up instead.

    Examples
    --------
    >>> client = active_client()  # None unless a Client was started before
    >>> client is None or type(client).__name__ == "Client"
    True
    """
    if importlib.util.find_spec("distributed") is None:
        return None
    distributed = importlib.import_module("distributed")
    try:
        return distributed.default_client()
    except ValueError:  # "No clients found"
        return None


def _dashboard(client) -> str | None:
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - a scheduler without a dashboard, or no HTTP server
        return None
    return str(link) if link else None


def dask_progress(futures_or_collection: Any, *, label: str) -> None:
    """Show the progress of long dask work, once, the way the setting allows.

    * futures (already submitted) in a terminal: dask's progress bar
      (``distributed.progress``, which waits for them);
    * otherwise, with an active client that has a dashboard: its link, printed once per
      scheduler on standard error (``label: progress on the dask dashboard at ...``);
    * otherwise (no client, or no dashboard): a line on the ``"geocluster"`` logger at INFO.

    Parameters
    ----------
    futures_or_collection
        ``distributed.Future`` objects, a dask collection, delayed objects, or a list of them.
    label
        What runs, for the message (e.g. ``"aggregate: locating firms in units"``).

    Examples
    --------
    >>> import dask
    >>> task = dask.delayed(sum)([1, 2])
    >>> dask_progress([task], label="a sum")  # no client here: logged, nothing printed
    >>> task.compute()
    3
    """
    items = list(futures_or_collection) if isinstance(futures_or_collection, (list, tuple)) \
        else [futures_or_collection]
    client = active_client()
    if client is None:
        log.info("%s: %d dask tasks on the local scheduler", label, len(items))
        return
    futures = _futures(items)
    if futures and sys.stderr.isatty():
        distributed = importlib.import_module("distributed")
        distributed.progress(futures)
        return
    link = _dashboard(client)
    key = str(getattr(client.scheduler, "address", id(client)))
    if link is None:
        log.info("%s: running on the dask scheduler at %s", label, key)
        return
    if key not in _SHOWN:
        _SHOWN.add(key)
        print(f"{label}: progress on the dask dashboard at {link}", file=sys.stderr)
    log.info("%s: running on the dask scheduler at %s", label, key)


def _futures(items: Iterable[Any]) -> list:
    distributed = importlib.import_module("distributed")
    return [item for item in items if isinstance(item, distributed.Future)]
