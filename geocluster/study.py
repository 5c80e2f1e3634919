"""A whole study from one config: firms -> clusters -> exposure -> model -> robustness -> outputs.

:func:`run_study` is what ``geocluster run STUDY.toml`` and ``geocluster demo`` call.
It writes everything into a temporary folder beside the output folder and moves it
into place only when every step has succeeded, so a failed run leaves no
half-written results; it refuses an existing non-empty output folder unless
``force=True`` and never writes where its inputs live.

Outputs (in ``out``)
--------------------
``map.html`` (self-contained), ``report.html``, ``clusters.gpkg`` (layers ``units``,
``regions``, ``density_clusters``), ``firms.parquet``, ``model.json``,
``model.txt``, ``robustness.csv``, ``figures/*.png``, ``run.json`` (the config as
run, package versions, seed, timing of each step).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.config import load_config, validate_config
from geocluster.errors import ConfigError, GeoclusterError, InputError

__all__ = ["run_study", "StudyResult", "demo_config"]

_PACKAGES = ("geocluster", "geopandas", "shapely", "pyproj", "libpysal", "esda", "spreg",
             "statsmodels", "numpy", "scipy", "pandas", "folium", "matplotlib")


@dataclass
class StudyResult:
    """What a study run produced: the output folder, files, timings and a summary."""

    out: Path
    files: list[str]
    timings: dict[str, float]
    summary: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        total = sum(self.timings.values())
        return f"<StudyResult {self.out} ({len(self.files)} files, {total:.1f} s)>"

    @property
    def report(self) -> Path:
        return self.out / "report.html"


def demo_config(n_firms: int = 5000, seed: int = 2026) -> dict:
    """The config ``geocluster demo`` runs: real US patents by county + synthetic firms.

    Examples
    --------
    >>> config = demo_config()
    >>> config["areal"]["data"], config["firms"]["synthetic"]
    ('us_patents', 5000)
    """
    return validate_config(
        {
            "study": {
                "name": "geocluster demo: US innovation clusters and firm internationalization",
                "seed": seed,
                "description": (
                    "Part (a) uses real data: utility patents by county (USPTO, 2011-2015) "
                    "and technology employment location quotients by metro area (County "
                    "Business Patterns 2019). Part (b) uses synthetic firms placed on real "
                    "ZIP-area centroids with a known data-generating process "
                    "(geocluster.datasets.make_firms)."
                ),
            },
            "firms": {"synthetic": n_firms},
            "areal": {"data": "us_patents", "weights": "knn:6"},
            # make_firms' clustering measure is this one, so the model can recover it.
            "exposure": {"method": "count", "radius": "25km", "same_industry": True},
        },
        source="demo config",
    )


# --- running -----------------------------------------------------------------------------


class _Progress:
    """A progress bar over the study's steps on stderr (tqdm), with the time of each step.

    Quiet when asked, or when stderr is not a terminal (logs, CI, notebooks' pipes).
    """

    def __init__(self, quiet: bool):
        self.quiet = quiet or not sys.stderr.isatty()
        self.timings: dict[str, float] = {}
        self._bar = None

    def start(self, total: int) -> None:
        if not self.quiet:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc="geocluster", unit="step", file=sys.stderr,
                             bar_format="{desc}: {n}/{total} steps |{bar}| {elapsed} {postfix}")

    @contextlib.contextmanager
    def step(self, name: str, label: str) -> Iterator[None]:
        if self._bar is not None:
            self._bar.set_postfix_str(label)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)
        if self._bar is not None:
            self._bar.write(f"[geocluster] {label}: {self.timings[name]:.1f} s", file=sys.stderr)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_study(
    config: dict | str | Path,
    out: str | Path,
    *,
    force: bool = False,
    quiet: bool = False,
) -> StudyResult:
    """Run a study and write its outputs into ``out``.

    Parameters
    ----------
    config
        A path to a TOML study file, or a dict with the same sections (validated and
        completed with defaults by :func:`geocluster.config.validate_config`).
    out
        Output folder. Created; an existing non-empty folder is refused unless
        ``force=True`` (then its contents are replaced, once the run has succeeded).
    force
        Replace an existing non-empty output folder.
    quiet
        No progress output.

    Returns
    -------
    StudyResult
    """
    config = load_config(config) if isinstance(config, (str, Path)) else validate_config(config)
    out = Path(out).resolve()
    _check_output_folder(out, config, force)
    progress = _Progress(quiet)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            summary = _run_steps(config, tmp, progress, quiet)
        summary["warnings"] = sorted({str(w.message) for w in caught})
        _write_run_json(tmp, config, progress.timings, summary)
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file())
        _move_into_place(tmp, out)
    except BaseException:
        progress.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return StudyResult(out=out, files=files, timings=progress.timings, summary=summary)


def _check_output_folder(out: Path, config: dict, force: bool) -> None:
    inputs = [config["firms"]["path"]]
    units = config["areal"]["units"]
    if units not in ("counties", "grid", "hex"):
        inputs.append(units)
    for item in inputs:
        if item is None:
            continue
        path = Path(item).resolve()
        if path == out or out in path.parents:
            raise ConfigError(
                f"the output folder '{out}' contains the input '{path}'; choose another "
                "output folder (geocluster never writes where its inputs are)."
            )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"the output path '{out}' is a file, not a folder.")
    if out.exists() and any(out.iterdir()) and not force:
        raise ConfigError(
            f"the output folder '{out}' is not empty; choose a new folder or pass --force "
            "to replace its contents."
        )


def _move_into_place(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        try:
            tmp.rename(out)
        except BaseException:
            old.rename(out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def _write_run_json(folder: Path, config: dict, timings: dict, summary: dict) -> None:
    versions = {}
    for name in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    record = {
        "config": config,
        "seed": config["study"]["seed"],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "timings_s": timings,
        "total_s": round(sum(timings.values()), 3),
        "summary": summary,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / "run.json").write_text(json.dumps(record, indent=2, default=_json_default))


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray, pd.Index)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


# --- the steps ---------------------------------------------------------------------------


def _run_steps(config: dict, folder: Path, progress: _Progress, quiet: bool) -> dict:
    from geocluster import _study_steps as steps

    figures = folder / "figures"
    figures.mkdir()
    seeds = np.random.SeedSequence(config["study"]["seed"]).spawn(6)
    state: dict[str, Any] = {"config": config, "folder": folder, "figures": figures,
                             "quiet": quiet}
    plan: list[tuple[str, str, Callable, bool]] = [
        ("firms", "Reading firms", steps.load_firms, True),
        ("areal", "Areal clusters (LQ, local Moran, Gi*)", steps.areal_clusters,
         config["areal"]["enabled"]),
        ("density", "Density clusters (KDE, Monte Carlo)", steps.density, config["density"]["enabled"]),
        ("exposure", "Cluster exposure per firm", steps.exposure, True),
        ("model", "Spatial regression and effects by innovator type", steps.model,
         config["model"]["enabled"]),
        ("robustness", "Robustness sweep", steps.robustness,
         config["model"]["enabled"] and config["robustness"]["enabled"]),
        ("outputs", "Writing tables and layers", steps.write_outputs, True),
        ("maps", "Interactive map", steps.maps, config["maps"]["enabled"]),
        ("report", "Report page", steps.report, True),
    ]
    progress.start(sum(1 for *_, enabled in plan if enabled))
    for index, (name, label, func, enabled) in enumerate(plan):
        if not enabled:
            continue
        with progress.step(name, label):
            try:
                func(state, seed=np.random.default_rng(seeds[min(index, len(seeds) - 1)]))
            except GeoclusterError:
                raise
            except (OSError, MemoryError):
                raise
            except Exception as exc:  # noqa: BLE001 - wrap with the step's name
                raise _StepError(name, exc) from exc
    progress.close()
    return state.get("summary", {})


class _StepError(RuntimeError):
    """An unexpected failure inside a named study step (exit code 1)."""

    def __init__(self, step: str, exc: Exception):
        super().__init__(f"study step '{step}' failed: {type(exc).__name__}: {exc}")
        self.step = step


def read_units(spec: str, firms: gpd.GeoDataFrame, cell_size: str) -> gpd.GeoDataFrame:
    """Areal units for a study: bundled counties, a square/hex grid, or a polygon file."""
    import geocluster as gc

    if spec == "counties":
        return gc.datasets.load_counties("conus")
    if spec in ("grid", "hex"):
        shape = "square" if spec == "grid" else "hex"
        return gc.grid(firms, cell_size, shape=shape, clip=True)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"[areal] units = {spec!r}: not 'counties', 'grid', 'hex' or an existing polygon file."
        )
    try:
        units = gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"could not read the units file '{path}': {exc}") from None
    if units.crs is None:
        raise InputError(f"the units file '{path}' has no CRS; set one (e.g. in QGIS) and retry.")
    return units
