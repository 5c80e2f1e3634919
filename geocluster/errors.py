"""Exceptions raised by geocluster.

Every error a user can cause is a :class:`GeoclusterError` (a ``ValueError``), so
``except ValueError`` keeps working, while the subclasses say which part of the
input is at fault. Messages name the file, column, row or option and what to do.

Examples
--------
>>> issubclass(CRSError, InputError) and issubclass(InputError, ValueError)
True
>>> try:
...     raise WeightsError("unknown weights spec 'queens'")
... except ValueError as exc:
...     type(exc).__name__
'WeightsError'
"""

from __future__ import annotations

__all__ = [
    "GeoclusterError",
    "InputError",
    "CRSError",
    "WeightsError",
    "ModelError",
    "ConfigError",
    "MissingDependencyError",
    "GeoclusterWarning",
]


class GeoclusterError(ValueError):
    """Base class of every error geocluster raises on purpose."""


class InputError(GeoclusterError):
    """A file, table, column or value given to geocluster cannot be used."""


class CRSError(InputError):
    """A coordinate reference system is missing, unknown or unsuitable."""


class WeightsError(GeoclusterError):
    """A spatial weights specification or Graph cannot be used."""


class ModelError(GeoclusterError):
    """A model cannot be specified or estimated as asked."""


class ConfigError(GeoclusterError):
    """A study configuration has a missing key, bad value or unknown option."""


class MissingDependencyError(GeoclusterError, ImportError):
    """An optional dependency is needed for the requested feature."""


class GeoclusterWarning(UserWarning):
    """Something worth knowing that does not stop the computation (counts included)."""
