"""Floor 4: robustness checks (the sweep, cluster-map sensitivity, the shared spec parsers).

:func:`robustness` fits one model question over many specifications and tracks chosen focus
terms (:class:`RobustnessResult`); :func:`cluster_sensitivity` asks how much a cluster map
changes with its definition (:class:`SensitivityResult`). :mod:`geocluster.robustness.specs`
parses the spec mini-languages (exposure measures, areal units, focus terms) for both the
Python API and the study config.

Modules: :mod:`~geocluster.robustness.sweep` (:func:`robustness`; one fit in
:mod:`~geocluster.robustness.fit`), :mod:`~geocluster.robustness.measures` (units and
clustering measures built from specs), :mod:`~geocluster.robustness.sensitivity`
(:func:`cluster_sensitivity`), :mod:`~geocluster.robustness.result` (the result classes) and
:mod:`~geocluster.robustness.plots` (their figures).

The names are loaded on first use (PEP 562), so the study config can use the parsers of
:mod:`~geocluster.robustness.specs` without importing the scientific stack.

Examples
--------
>>> from geocluster.robustness import robustness
>>> robustness.__module__
'geocluster.robustness.sweep'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["robustness", "RobustnessResult", "cluster_sensitivity", "SensitivityResult"]

#: Public name -> the module that defines it.
_LAZY = {
    "robustness": "geocluster.robustness.sweep",
    "RobustnessResult": "geocluster.robustness.result",
    "cluster_sensitivity": "geocluster.robustness.sensitivity",
    "SensitivityResult": "geocluster.robustness.result",
}


def __getattr__(name: str) -> Any:
    try:
        module_name = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'geocluster.robustness' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and IDEs see: the eager imports
    from geocluster.robustness.result import RobustnessResult, SensitivityResult  # noqa: F401
    from geocluster.robustness.sensitivity import cluster_sensitivity  # noqa: F401
    from geocluster.robustness.sweep import robustness  # noqa: F401
