"""Lazy import of optional dependencies with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from geocluster.errors import MissingDependencyError


def import_optional(name: str, extra: str, purpose: str) -> ModuleType:
    """Import ``name`` or raise :class:`MissingDependencyError` naming the extra.

    Parameters
    ----------
    name
        Importable module name, e.g. ``"dask_geopandas"``.
    extra
        The geocluster extra that installs it, e.g. ``"dask"``.
    purpose
        What the caller wanted to do, used in the message.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the optional package {name!r}, which is not installed. "
            f"Install it with: pip install 'geocluster[{extra}]'"
        ) from exc
