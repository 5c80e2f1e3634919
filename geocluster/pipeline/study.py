"""A whole study from one config: firms -> clusters -> exposure -> model -> robustness -> outputs.

:func:`run_study` is what ``geocluster run STUDY.toml`` and ``geocluster demo`` call.

Nothing lost, nothing left behind
---------------------------------
Everything is written into a hidden temporary folder beside the output folder and moved
into place only when every step has succeeded, so a failed, interrupted (Ctrl-C) or
terminated (SIGTERM) run leaves no half-written results; an existing folder is replaced
only with ``force=True`` and only if geocluster wrote it (:mod:`geocluster.pipeline.safety`).
The output folder gets the permissions the user's umask implies.

Steps
-----
Each step of :mod:`geocluster.pipeline.steps` receives the typed config and the typed
outputs of the steps before it and returns its own (frozen dataclasses); nothing is shared
through a dict.

Warnings
--------
Every Python warning and every warning of the ``"geocluster"`` logger raised during a
step is recorded (deduplicated, with counts), printed once on stderr as it happens,
written to ``run.json`` and handed to the report: a list of
``{"step", "category", "message", "count"}`` dicts (:class:`~geocluster.pipeline.progress.WarningLog`).

Engine
------
``[engine] kind = "dask"`` runs the steps inside :func:`geocluster.pipeline.engine.study_engine`
(a LocalCluster started for the run, a joined scheduler, or the active client; closed at the
end if the study started it). The firms come as a dask GeoDataFrame too
(:class:`~geocluster.pipeline.steps.firms.PartitionedFirms`), and the point-heavy work runs
on it: the firms counted in the areal units and the location quotients (which choose the
focus industries), and the ``count`` / ``kde`` exposure of every firm (by partition halos);
the density clusters, the areal statistics, the model, the robustness sweep, the map and
the report run as with ``kind = "local"``, on the aggregated tables and the firms in memory.
Both engines give the same outputs (``tests/dask/test_study_dask.py``).

Errors
------
A :class:`~geocluster.errors.GeoclusterError` raised inside a step is re-raised as the
same class with the step's name prefixed (``step 'areal clusters': [areal] weights =
...``); anything else becomes a ``StudyStepError`` naming the step (a bug: please report).

Outputs (in ``out``)
--------------------
``map.html`` (self-contained), ``report.html``, ``clusters.gpkg`` (layers ``units``,
``regions``, ``density_clusters``), ``firms.parquet``, ``model.json``,
``model.txt``, ``robustness.csv``, ``figures/*.png``, ``run.json`` (the config as
run, package versions, seed, warnings, timing of each step; the only file holding
timings, so two runs with one seed give identical bytes elsewhere) and
``.geocluster-output`` (the marker).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from importlib import metadata
from pathlib import Path
from typing import Any

from geocluster._base.jsonable import dumps
from geocluster._base.validate import make_rng, spawn_seeds
from geocluster.errors import ConfigError, GeoclusterError
from geocluster.pipeline import steps
from geocluster.pipeline.config import DEMO_FORMULA, StudyConfig, load_config, validate_config
from geocluster.pipeline.engine import Engine, study_engine
from geocluster.pipeline.progress import (
    Progress,
    StudyInterrupted,
    WarningLog,
    signals_ignored,
    strip_ansi,
    terminate_as_interrupt,
)
from geocluster.pipeline.safety import (
    OUTPUT_MARKER,
    TEMP_MARKER,
    check_output_folder,
    move_into_place,
    remove_stale_temp_folders,
    umask,
)
from geocluster.pipeline.schema import GRID_UNITS
from geocluster.pipeline.steps.common import finite_or_none
from geocluster.pipeline.steps.firms import PartitionedFirms, to_partitioned
from geocluster.pipeline.steps.units import unit_lqs
from geocluster.units import to_metric

__all__ = ["run_study", "StudyResult", "StudyStepError", "StudyInterrupted", "demo_config",
           "with_step", "STEPS", "OUTPUT_MARKER", "TEMP_MARKER"]

_PACKAGES = ("geocluster", "geopandas", "shapely", "pyproj", "libpysal", "esda", "spreg",
             "statsmodels", "numpy", "scipy", "pandas", "folium", "matplotlib", "dask",
             "distributed", "dask-geopandas")


@dataclass(frozen=True)
class StudyResult:
    """What a study run produced: the output folder, files, timings and a summary.

    Attributes
    ----------
    out : pathlib.Path
        The output folder.
    files : list of str
        The files written, relative to ``out``.
    timings : dict
        Seconds per step.
    summary : dict
        The run's summary (warnings, sizes, the model's headline numbers).

    Examples
    --------
    >>> StudyResult(Path("results"), ["report.html"], {"firms": 0.5})
    <StudyResult results (1 files, 0.5 s)>
    """

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


def demo_config(n_firms: int = 5000, seed: int = 2026) -> StudyConfig:
    """The config ``geocluster demo`` runs: real US patents by county + synthetic firms.

    Examples
    --------
    >>> config = demo_config()
    >>> config.areal.data, config.firms.synthetic
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
            # The demo's columns and model are named explicitly (the defaults would find
            # them too), so the demo does not depend on any auto-detection.
            "firms": {"synthetic": n_firms, "industry": "industry", "employees": "employees",
                      "patents": "patents_5y", "age": "age"},
            "areal": {"data": "us_patents", "weights": "knn:6"},
            # make_firms' clustering measure is this one, so the model can recover it.
            "exposure": {"method": "count", "radius": "25km", "same_industry": True},
            "model": {"formula": DEMO_FORMULA, "variable": "cluster", "by": "serial"},
            "robustness": {
                "weights": ["knn:8", "knn:4", "knn:16"], "models": ["ols", "lag", "error"],
                "focus": ["serial:cluster", "cluster", "slope:cluster|serial=1",
                          "slope:cluster|serial=0"],
                "lisa_weights": ["knn:6", "knn:10", "queen"],
            },
        },
        source="demo config",
    )


class StudyStepError(RuntimeError):
    """An unexpected failure inside a named study step (a bug; the CLI exits with 1)."""

    def __init__(self, step: str, exc: BaseException):
        text = strip_ansi(str(exc))
        super().__init__(f"step '{step}' failed unexpectedly: {type(exc).__name__}: {text}")
        self.step = step


def run_study(
    config: StudyConfig | dict | str | Path,
    out: str | Path,
    *,
    force: bool = False,
    quiet: bool = False,
) -> StudyResult:
    """Run a study and write its outputs into ``out``.

    Parameters
    ----------
    config
        A path to a TOML study file, a validated :class:`StudyConfig`, or a dict with the
        same sections (validated and completed with defaults by
        :func:`geocluster.pipeline.config.validate_config`).
    out
        Output folder. Created; an existing non-empty folder is refused unless
        ``force=True``.
    force
        Replace an existing output folder that an earlier run wrote (it carries the
        ``.geocluster-output`` marker and holds only the files that run wrote). A folder
        holding the config, an input, or other files is never replaced.
    quiet
        No progress bar (warnings and notes of stale folders are still printed on stderr).

    Returns
    -------
    StudyResult
        ``summary["warnings"]`` holds the run's warnings (also in ``run.json``).

    Raises
    ------
    ConfigError
        A bad config, or an output folder that may not be written or replaced.
    GeoclusterError
        Any other problem with the inputs, as raised by the step (its name prefixed).
    StudyStepError
        An unexpected failure inside a step (a bug).
    KeyboardInterrupt
        Ctrl-C or SIGTERM (:class:`StudyInterrupted`); nothing is left behind.

    Examples
    --------
    A small synthetic study with only the model step:

    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> config = {"study": {"seed": 1}, "firms": {"synthetic": 300},
    ...           "areal": {"enabled": False}, "density": {"enabled": False},
    ...           "robustness": {"enabled": False}, "maps": {"enabled": False}}
    >>> result = run_study(config, out, quiet=True)  # doctest: +ELLIPSIS
    >>> (out / "report.html").is_file(), "model.json" in result.files
    (True, True)
    """
    log = WarningLog(echo=True)
    config_path = Path(config).resolve() if isinstance(config, (str, Path)) else None
    with log.capture():
        if isinstance(config, str | Path):
            config = load_config(config)
        elif not isinstance(config, StudyConfig):
            config = validate_config(config)
    out = Path(out).expanduser().resolve()
    check_output_folder(out, config, force, config_path)
    remove_stale_temp_folders(out.parent)
    progress = Progress(quiet)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the parent folder of the output folder '{out}': "
                          f"{exc.strerror}; choose another output folder.") from None
    tmp: Path | None = None
    files: list[str] = []
    with terminate_as_interrupt():
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
            (tmp / TEMP_MARKER).write_text(
                json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")
            summary = _run_steps(config, tmp, progress, quiet, log)
            summary["warnings"] = log.records
            _write_run_json(tmp, config, progress.timings, summary, log.records)
            (tmp / TEMP_MARKER).unlink()
            files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
            (tmp / OUTPUT_MARKER).write_text(json.dumps(
                {"written_by": "geocluster run_study; geocluster run --force may replace this "
                               "folder", "files": files}, indent=1) + "\n")
            os.chmod(tmp, 0o777 & ~umask())
            move_into_place(tmp, out, force)
        except BaseException:
            with signals_ignored():
                progress.close()
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
            raise
    return StudyResult(out=out, files=files, timings=progress.timings, summary=summary)


def _write_run_json(folder: Path, config: StudyConfig, timings: dict, summary: dict,
                    warning_records: list[dict] | None = None) -> None:
    versions = {}
    for name in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    record = {
        "config": config.to_dict(),
        "seed": config.study.seed,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "warnings": warning_records or [],
        "timings_s": timings,
        "total_s": round(sum(timings.values()), 3),
        "summary": summary,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / "run.json").write_text(dumps(record, indent=2))


#: The study's steps: (key in run.json's timings, name in messages, progress label).
STEPS = (
    ("firms", "reading firms", "Reading firms"),
    ("areal", "areal clusters", "Areal clusters (LQ, local Moran, Gi*)"),
    ("density", "density clusters", "Density clusters (KDE, Monte Carlo)"),
    ("exposure", "exposure", "Cluster exposure per firm"),
    ("model", "model", "Spatial regression and effects by group"),
    ("robustness", "robustness", "Robustness sweep"),
    ("outputs", "writing outputs", "Writing tables and layers"),
    ("maps", "map", "Interactive map"),
    ("report", "report", "Report page"),
)


def with_step(exc: GeoclusterError, step: str) -> GeoclusterError:
    """``exc`` as the same class with ``step '<step>': `` prefixed (ANSI codes removed)."""
    text = strip_ansi(str(exc))
    if text.startswith("step '"):
        return exc
    message = f"step '{step}': {text}"
    try:
        new = type(exc)(message)
    except Exception:  # noqa: BLE001 - a subclass with another signature
        new = GeoclusterError(message)
    return new


class _Runner:
    """Runs one step at a time: its progress, its warnings, its seed, its errors."""

    def __init__(self, config: StudyConfig, progress: Progress, log: WarningLog):
        self.progress, self.log = progress, log
        self.seeds = spawn_seeds(config.study.seed, 6, where="[study] seed")
        self.index = {key: i for i, (key, *_) in enumerate(STEPS)}
        self.names = {key: (name, label) for key, name, label in STEPS}

    def __call__(self, key: str, function: Callable, *args: Any) -> Any:
        name, label = self.names[key]
        seed = make_rng(self.seeds[min(self.index[key], len(self.seeds) - 1)])
        self.log.step = name
        with self.progress.step(key, label), self.log.capture():
            try:
                result = function(*args, seed=seed)
            except GeoclusterError as exc:
                raise with_step(exc, name) from exc
            except (OSError, MemoryError):
                raise
            except Exception as exc:  # noqa: BLE001 - wrap with the step's name
                raise StudyStepError(name, exc) from exc
        self.log.end_step()
        return result


def _enabled(config: StudyConfig) -> dict[str, bool]:
    return {
        "firms": True, "areal": config.areal.enabled, "density": config.density.enabled,
        "exposure": True, "model": config.model.enabled,
        "robustness": config.model.enabled and config.robustness.enabled,
        "outputs": True, "maps": config.maps.enabled, "report": True,
    }


class PartitionedUnits(steps.StudyUnits):
    """The study's units whose firm counts and LQs are computed on the dask frame of firms.

    Everything else (focus industries, places) is :class:`~geocluster.pipeline.steps.StudyUnits`'
    own, on the firms in memory. A grid (``[areal] units = "grid" | "hex"``) is built over
    the firms in memory and counted there.
    """

    def __init__(self, config: StudyConfig, firms, columns, partitioned):
        super().__init__(config, firms, columns)
        self.partitioned = partitioned

    def _on_partitions(self, prop: cached_property):
        if self.config.areal.units in GRID_UNITS:
            return prop.func(self)
        in_memory, self.firms = self.firms, self.partitioned
        try:
            return prop.func(self)
        finally:
            self.firms = in_memory

    @cached_property
    def counted(self):
        return self._on_partitions(steps.StudyUnits.counted)

    @cached_property
    def lq(self):
        industry = self.columns.industry
        if industry is None or self.config.areal.units in GRID_UNITS:
            return steps.StudyUnits.lq.func(self)
        # StudyUnits.lq on the partitions (dask Series have no notna: selected here)
        firms = self.partitioned[self.partitioned[industry].notnull()]
        return unit_lqs(firms, self.counted, industry, self.config.areal.min_firms)


def partitioned_exposure(context: steps.StepContext, table, columns, areal, density, *,
                         partitions: int, seed) -> steps.ExposureData:
    """The exposure step on the dask engine: ``count`` / ``kde`` on the firms' partitions.

    The table (the firms with their density-cluster columns) is split spatially, the
    exposure step runs on the partitions (partition halos, the in-memory answer), and the
    firms come back in memory in the table's order. Other methods run in memory.
    """
    if context.config.exposure.method not in ("count", "kde"):
        return steps.exposure(context, table, columns, areal, density, seed=seed)
    # the metric CRS the in-memory exposure would choose (a dask frame needs one named)
    metric = to_metric(table)
    out = steps.exposure(context, to_partitioned(metric, partitions), columns, areal, density,
                         seed=seed)
    values = out.firms[out.name].compute().loc[table.index]
    # the table as the exposure step leaves it (an input column of that name renamed), in
    # memory with its own dtypes and coordinates, plus the exposure computed on the partitions
    name = out.name
    base = table.rename(columns={name: f"{name}_input"}) if name in table.columns else table
    firms = base.assign(**{name: values.to_numpy()})
    summary = {**out.summary, "mean": finite_or_none(values.mean()),
               "sd": finite_or_none(values.std())}
    return steps.ExposureData(firms=firms, name=out.name, summary=summary)


def _run_steps(config: StudyConfig, folder: Path, progress: Progress, quiet: bool,
               log: WarningLog | None = None) -> dict:
    """Every enabled step in order on the ``[engine]``, each fed the outputs before it."""
    with study_engine(config.engine, quiet=quiet) as engine:
        return _steps_on(engine, config, folder, progress, quiet, log)


def _steps_on(engine: Engine, config: StudyConfig, folder: Path, progress: Progress,
              quiet: bool, log: WarningLog | None = None) -> dict:
    log = log if log is not None else WarningLog(echo=False)
    (folder / "figures").mkdir()
    context = steps.StepContext(config=config, folder=folder, quiet=quiet, warnings=log.records)
    enabled = _enabled(config)
    run = _Runner(config, progress, log)
    progress.start(sum(1 for key, *_ in STEPS if enabled[key]))
    firms = run("firms", steps.load_firms, context,
                engine.partitions if engine.is_dask else None)
    exposure_step: Callable = steps.exposure
    units: steps.StudyUnits
    if isinstance(firms, PartitionedFirms):
        units = PartitionedUnits(config, firms.firms, firms.columns, firms.partitioned)
        exposure_step = partial(partitioned_exposure, partitions=engine.partitions)
    else:
        units = steps.StudyUnits(config, firms.firms, firms.columns)
    areal = run("areal", steps.areal_clusters, context, units) if enabled["areal"] else None
    density = (run("density", steps.density, context, firms.firms, units, areal)
               if enabled["density"] else None)
    table = density.firms if density is not None else firms.firms
    exposure = run("exposure", exposure_step, context, table, firms.columns, areal, density)
    model = (run("model", steps.model, context, exposure.firms, firms.truth)
             if enabled["model"] else None)
    robustness = (run("robustness", steps.robustness, context, model, firms.columns, areal)
                  if enabled["robustness"] else None)
    data = steps.StudyData(firms=firms, table=exposure.firms, areal=areal, density=density,
                           exposure=exposure, model=model, robustness=robustness)
    summary = _summary(data)
    summary["engine"] = engine.summary()
    run("outputs", steps.write_outputs, context, data)
    if enabled["maps"]:
        run("maps", steps.maps, context, data)
    run("report", steps.report, context, data, summary)
    progress.close()
    return summary


def _summary(data) -> dict:
    """The run's summary: the firms' facts at the top, one entry per other step that ran."""
    summary = dict(data.firms.summary)
    for key in ("areal", "density", "exposure", "model"):
        part = getattr(data, key)
        if part is not None:
            summary[key] = part.summary
    if data.robustness is not None and data.robustness.summary is not None:
        summary["robustness"] = data.robustness.summary
    return summary
