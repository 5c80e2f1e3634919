"""What every study step shares: its context, config-key error wording, notes, figures, weights.

A step is a function ``step(context, *inputs, seed) -> output`` whose inputs and output are
frozen dataclasses (:mod:`geocluster.pipeline.steps.data`); :class:`StepContext` carries
what is the same for every step (the typed config, the output folder, the figures written).

**Errors** from a library call fed by a config value are re-raised as the same class with
the key first (``[areal] weights = 'knn:6': ...``) by :func:`config_key`.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from geocluster.errors import GeoclusterError, GeoclusterWarning
from geocluster.pipeline.config import StudyConfig
from geocluster.weights import weights as build_weights

__all__ = ["StepContext", "config_key", "arguments", "note", "study_graph", "jittered",
           "column_list", "finite_or_none", "seed_int"]


@dataclass(frozen=True)
class StepContext:
    """What every step of one run shares.

    Attributes
    ----------
    config : StudyConfig
        The validated config.
    folder : Path
        The (temporary) output folder; figures go to ``folder / "figures"``.
    quiet : bool
        No progress bars in the library calls.
    warnings : list of dict
        The run's warning records so far (``step``, ``category``, ``message``, ``count``),
        a live list the runner fills.
    figure_files : list of str
        The figures written so far, relative to ``folder``.
    """

    config: StudyConfig
    folder: Path
    quiet: bool = True
    warnings: list[dict[str, Any]] = field(default_factory=list)
    figure_files: list[str] = field(default_factory=list)

    @property
    def figures(self) -> Path:
        return self.folder / "figures"

    def save_figure(self, fig, name: str) -> str:
        """Write ``fig`` as ``figures/<name>.png`` (no metadata: same seed, same bytes)."""
        self.figures.mkdir(exist_ok=True)
        fig.savefig(self.figures / f"{name}.png", dpi=110, metadata={"Software": None})
        plt.close(fig)
        relative = f"figures/{name}.png"
        self.figure_files.append(relative)
        return relative


def seed_int(seed: np.random.Generator) -> int:
    """An integer seed drawn from a step's Generator (for library calls taking an int)."""
    return int(seed.integers(0, 2**31 - 1))


def note(message: str) -> None:
    """A note for the report's "Warnings and notes" (the runner collects warnings)."""
    warnings.warn(message, GeoclusterWarning, stacklevel=3)


def finite_or_none(value) -> float | None:
    """``value`` as a float, or None when it is missing or not finite (JSON-ready)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def column_list(frame: pd.DataFrame) -> str:
    """The frame's columns (without the geometry) as text for a message, at most 40."""
    names = [str(c) for c in frame.columns if c != getattr(frame, "_geometry_column_name", None)]
    shown = ", ".join(names[:40])
    return shown + (f", ... ({len(names)} columns)" if len(names) > 40 else "")


def _qualified(section: str, name: str) -> str:
    return name if name.startswith("[") else f"[{section}] {name}"


def _in_study_words(text: str, section: str, args: dict | None) -> str:
    """``text`` with the library's ``arg=value`` written as the study's ``[section] key = value``."""
    for arg, (name, _) in (args or {}).items():
        text = re.sub(rf"(?<![\w.\[]){re.escape(arg)}=(?=\S)", f"{_qualified(section, name)} = ",
                      text)
    return text


def arguments(section_config: Any, *names: str, **renamed: str) -> dict:
    """``{argument: (config key, value)}`` for keys passed under their own or another name."""
    out = {n: (n, getattr(section_config, n, None)) for n in names}
    out.update({arg: (key, getattr(section_config, key, None)) for arg, key in renamed.items()})
    return out


def _reworded(exc: GeoclusterError, section: str, key: str, value, args: dict | None):
    """``exc`` as the same class with the config key at fault first."""
    message = str(exc)
    found = []
    for arg, (name, given) in (args or {}).items():
        hit = re.search(rf"(?<![\w.]){re.escape(arg)}=", message)
        if hit:
            found.append((hit.start(), name, given))
    label = _qualified(section, key)
    if found:
        _, name, value = min(found)
        label = _qualified(section, name)
    for arg, (name, _) in (args or {}).items():  # remedies in the study's words
        message = re.sub(rf"\b(pass|use|set) {re.escape(arg)}=",
                         f"set {_qualified(section, name)} = ", message)
    if "coincident" in message and "[weights] coincident" not in message:
        message += (" In a study, set [weights] coincident = \"jitter\" to separate firms "
                    "that share a location.")
    if re.search(r"isolates='(warn|keep|drop)'", message) and "[weights] isolates" not in message:
        message += (" In a study, set [weights] isolates = \"keep\" (or \"drop\") to "
                    "proceed with units that have no neighbours.")
    text = f"{label} = {value!r}: {message}"
    try:
        return type(exc)(text)
    except TypeError:  # a subclass with another constructor
        return GeoclusterError(text)


@contextlib.contextmanager
def config_key(section: str, key: str, value, *, args: dict | None = None) -> Iterator[None]:
    """Re-raise a GeoclusterError from a library call with the config key that fed it.

    ``args`` maps the call's argument names to their ``(config key, value)`` (a key given
    as ``"[section] key"`` belongs to another section). When the message names one of them
    (``simulations=9 ...``), the earliest named is the key at fault, else ``key``; a remedy
    ``pass arg=...`` becomes ``set [section] key = ...``. Warnings raised inside the block are
    passed on with every ``arg=value`` in the study's words.
    """
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    except GeoclusterError as exc:
        if str(exc).startswith("["):  # already names a config key
            raise
        raise _reworded(exc, section, key, value, args) from exc
    finally:
        for w in caught:
            warnings.warn(_in_study_words(str(w.message), section, args), w.category,
                          stacklevel=3)


_STRUCTURE = re.compile(r"units have no neighbours|connected components")


def study_graph(config: StudyConfig, frame: gpd.GeoDataFrame, spec: str, section: str, key: str,
                *, report: bool = True):
    """The weights of ``spec`` with the study's ``[weights]`` policies (jitter: study seed).

    ``report=False``: no warning about isolates and components (the caller, e.g.
    ``regress``, reports the isolates it keeps or drops itself).
    """
    policy: Literal["keep", "raise"] = "raise" if config.weights.isolates == "raise" else "keep"
    with warnings.catch_warnings(record=True) as caught, config_key(section, key, spec):
        warnings.simplefilter("always")
        graph = build_weights(frame, spec, coincident=config.weights.coincident,
                              isolates=policy, seed=config.study.seed)
    for w in caught:  # the library's remedies, in the study's words
        text = str(w.message)
        if not report and _STRUCTURE.search(text):
            continue
        text = re.sub(r"\(isolates='\w+' silences this\)",
                      "([weights] isolates = \"drop\" leaves them out; statistics that cannot "
                      "use them say so)", text)
        text = re.sub(r"isolates='(\w+)'", r'[weights] isolates = "\1"', text)
        warnings.warn(text, w.category, stacklevel=2)
    return graph


def jittered(config: StudyConfig, firms: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy of ``firms`` whose coincident points are moved apart (``[weights] coincident``).

    With ``coincident = "jitter"`` every firm that shares its location with an earlier one
    moves by at most 1e-7 degrees (about 1 cm; 1 cm in a projected CRS), drawn from the study
    seed, so the model and the robustness sweep build their weights on the same points.
    With ``"raise"`` the firms are returned as they are (weights then refuse shared sites).
    """
    if config.weights.coincident != "jitter":
        return firms
    x, y = firms.geometry.x.to_numpy(), firms.geometry.y.to_numpy()
    dup = pd.DataFrame({"x": x, "y": y}).duplicated().to_numpy()
    if not dup.any():
        return firms
    rng = np.random.default_rng(config.study.seed)
    step = 1e-7 if (firms.crs is None or firms.crs.is_geographic) else 0.01
    dx = np.where(dup, rng.uniform(-step, step, len(x)), 0.0)
    dy = np.where(dup, rng.uniform(-step, step, len(x)), 0.0)
    out = firms.copy()
    out = out.set_geometry(gpd.points_from_xy(x + dx, y + dy, crs=firms.crs))
    note(f"[weights] coincident = \"jitter\": {int(dup.sum()):,} of {len(firms):,} firms share "
         "a location with another firm and were moved by at most 1 cm for the firm-level "
         "weights (model and robustness).")
    return out
