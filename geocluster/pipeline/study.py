"""A whole study from one config: firms -> clusters -> exposure -> model -> robustness -> outputs.

:func:`run_study` is what ``geocluster run STUDY.toml`` and ``geocluster demo`` call.

Nothing lost, nothing left behind
---------------------------------
Everything is written into a hidden temporary folder beside the output folder
(``.<out>.tmp-*``, marked with a ``.geocluster-tmp`` file) and moved into place only when
every step has succeeded, so a failed, interrupted (Ctrl-C) or terminated (SIGTERM) run
leaves no half-written results. A run killed outright (SIGKILL, power loss) leaves its
temporary folder behind; the next run beside it removes such stale folders (only ones
carrying our marker whose process is gone) and says so on stderr.

An existing non-empty output folder is refused unless ``force=True``, and even then it is
replaced only if geocluster wrote it: it must carry the ``.geocluster-output`` marker
(written with every result folder, listing its files) and hold nothing but those files.
A folder holding the study config, an input, or files geocluster did not write is never
replaced. The output folder gets the permissions the user's umask implies.

Warnings
--------
Every Python warning and every warning of the ``"geocluster"`` logger raised during a
step is recorded (deduplicated, with counts), printed once on stderr as it happens,
written to ``run.json`` and handed to the report as ``state["warnings"]``: a list of
``{"step", "category", "message", "count"}`` dicts.

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
import logging
import os
import platform
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
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

from geocluster.errors import ConfigError, GeoclusterError, InputError
from geocluster.pipeline.config import DEMO_FORMULA, load_config, validate_config

__all__ = ["run_study", "StudyResult", "StudyStepError", "StudyInterrupted", "demo_config",
           "OUTPUT_MARKER", "TEMP_MARKER"]

_PACKAGES = ("geocluster", "geopandas", "shapely", "pyproj", "libpysal", "esda", "spreg",
             "statsmodels", "numpy", "scipy", "pandas", "folium", "matplotlib")

#: File marking a folder written by :func:`run_study` (JSON: the files it wrote).
OUTPUT_MARKER = ".geocluster-output"
#: File marking a temporary folder of a run in progress (JSON: pid and host).
TEMP_MARKER = ".geocluster-tmp"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


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


# --- running -----------------------------------------------------------------------------


class StudyStepError(RuntimeError):
    """An unexpected failure inside a named study step (a bug; the CLI exits with 1)."""

    def __init__(self, step: str, exc: BaseException):
        text = _strip_ansi(str(exc))
        super().__init__(f"step '{step}' failed unexpectedly: {type(exc).__name__}: {text}")
        self.step = step


_StepError = StudyStepError  # the earlier private name


class StudyInterrupted(KeyboardInterrupt):
    """The run was stopped by SIGTERM (handled like Ctrl-C: nothing is left behind)."""


def _say(text: str) -> None:
    """One line on stderr, above a progress bar if one is shown."""
    try:
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        print(text, file=sys.stderr)


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
            self._bar = None


class _WarningLog:
    """Every warning of a run, by step: deduplicated, counted, printed once as it happens.

    Python warnings (``warnings.warn``) are caught by replacing ``warnings.showwarning``
    inside :meth:`capture`; warnings of the ``"geocluster"`` logger by a logger filter
    (which also keeps the logger's own handler from printing them a second time).
    """

    def __init__(self, echo: bool = True):
        self.records: list[dict[str, Any]] = []
        self._index: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.step = "config"
        self.echo = echo

    def add(self, category: str, message: str) -> None:
        message = _strip_ansi(str(message)).strip()
        key = (self.step, category, message)
        record = self._index.get(key)
        if record is not None:
            record["count"] += 1
            return
        record = {"step": self.step, "category": category, "message": message, "count": 1}
        self._index[key] = record
        self.records.append(record)
        if self.echo:
            _say(f"geocluster: warning ({self.step}): {message}")

    def end_step(self) -> None:
        """Name the warnings of the step that ended which occurred more than once."""
        if not self.echo:
            return
        for record in self.records:
            if record["step"] == self.step and record["count"] > 1:
                short = record["message"] if len(record["message"]) <= 100 else \
                    record["message"][:97] + "..."
                _say(f"geocluster: warning ({self.step}): this warning occurred "
                     f"{record['count']} times in all: {short}")

    def _show(self, message, category, filename, lineno, file=None, line=None) -> None:
        self.add(getattr(category, "__name__", str(category)), str(message))

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.add(f"log.{record.levelname.lower()}", record.getMessage())
            return False
        return True

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        logger = logging.getLogger("geocluster")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            # Deprecations in the libraries are for developers, not for the user of a study.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.showwarning = self._show
            logger.addFilter(self)
            try:
                yield
            finally:
                logger.removeFilter(self)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`StudyInterrupted` (like Ctrl-C's KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise StudyInterrupted(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """No SIGINT/SIGTERM while cleaning up (a second Ctrl-C must not leave a half-removed folder)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


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
        completed with defaults by :func:`geocluster.pipeline.config.validate_config`).
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
    """
    log = _WarningLog(echo=True)
    config_path = Path(config).resolve() if isinstance(config, (str, Path)) else None
    with log.capture():
        config = load_config(config) if config_path is not None else validate_config(config)
    out = Path(out).expanduser().resolve()
    _check_output_folder(out, config, force, config_path)
    _remove_stale_temp_folders(out.parent)
    progress = _Progress(quiet)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the parent folder of the output folder '{out}': "
                          f"{exc.strerror}; choose another output folder.") from None
    tmp: Path | None = None
    with _terminate_as_interrupt():
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
            os.chmod(tmp, 0o777 & ~_umask())
            _move_into_place(tmp, out, force)
        except BaseException:
            with _signals_ignored():
                progress.close()
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
            raise
    return StudyResult(out=out, files=files, timings=progress.timings, summary=summary)


def _umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_output_folder(out: Path, config: dict, force: bool,
                         config_path: Path | None = None) -> None:
    """Refuse an output folder that would overwrite or delete anything not ours."""
    inputs: list[tuple[str, Path]] = []
    if config_path is not None:
        inputs.append(("the study config", config_path))
    if config["firms"]["path"] is not None:
        inputs.append(("the firm file ([firms] path)", Path(config["firms"]["path"]).resolve()))
    units = config["areal"]["units"]
    if units not in ("counties", "grid", "hex"):
        inputs.append(("the units file ([areal] units)", Path(units).resolve()))
    for what, path in inputs:
        if _inside(path, out) or _inside(out, path):
            raise ConfigError(
                f"the output folder '{out}' holds {what} '{path}'; choose another output "
                "folder (--out), e.g. a new 'results' folder (geocluster never writes where "
                "its inputs are)."
            )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"the output path '{out}' is a file, not a folder; give a folder "
                          "(--out) that is new or that geocluster wrote.")
    if not out.exists():
        return
    try:
        empty = not any(out.iterdir())
        if empty:
            return
        if not force:
            raise ConfigError(
                f"the output folder '{out}' is not empty; choose a new folder, or pass "
                "--force (force=True) to replace the results of an earlier geocluster run."
            )
        present = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                         if p.is_symlink() or not p.is_dir())
    except OSError as exc:
        raise ConfigError(f"cannot list the output folder '{out}': {exc.strerror}; choose "
                          "another output folder.") from None
    written = _written_by_us(out)
    if written is None:
        raise ConfigError(
            f"--force refused: the output folder '{out}' was not written by geocluster (it has "
            f"no {OUTPUT_MARKER} marker) and holds {len(present)} files (e.g. "
            f"{', '.join(present[:5])}); choose a new output folder, or move those files "
            "away yourself."
        )
    foreign = [name for name in present if name not in written and name != OUTPUT_MARKER]
    if foreign:
        raise ConfigError(
            f"--force refused: the output folder '{out}' holds {len(foreign)} files that "
            f"geocluster did not write ({', '.join(foreign[:5])}"
            f"{', ...' if len(foreign) > 5 else ''}); move them away, or choose a new output "
            "folder."
        )


def _written_by_us(folder: Path) -> set[str] | None:
    marker = folder / OUTPUT_MARKER
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
        files = record["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, list):
        return None
    return {str(f) for f in files}


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale_temp_folders(parent: Path) -> list[Path]:
    """Remove our temporary folders left in ``parent`` by killed runs; say so on stderr.

    Only hidden folders named ``.<name>.tmp-*`` that carry :data:`TEMP_MARKER` are
    considered, and only if the process that made them (on this host) is gone.
    """
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    host = socket.gethostname()
    try:
        candidates = sorted(parent.glob(".*.tmp-*"))
    except OSError:
        return removed
    for folder in candidates:
        marker = folder / TEMP_MARKER
        if not folder.is_dir() or folder.is_symlink() or not marker.is_file():
            continue
        try:
            record = json.loads(marker.read_text(encoding="utf-8"))
            pid, owner = int(record["pid"]), str(record["host"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if owner != host or _process_alive(pid):
            continue  # a run in progress (or another machine's): not ours to judge
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(folder)
            _say(f"geocluster: removed the stale temporary folder '{folder}' left by an "
                 f"earlier run that was killed (process {pid}).")
    _restore_old_results(parent)
    return removed


def _restore_old_results(parent: Path) -> None:
    """Earlier results set aside by a run killed while replacing them (``--force``).

    ``.<out>.old-<pid>`` holds the previous results between two renames; if the run was
    killed right there, put them back when ``<out>`` is missing, else remove them.
    """
    try:
        candidates = sorted(parent.glob(".*.old-*"))
    except OSError:
        return
    for folder in candidates:
        match = re.fullmatch(r"\.(.+)\.old-(\d+)", folder.name)
        if (not match or not folder.is_dir() or folder.is_symlink()
                or _written_by_us(folder) is None or _process_alive(int(match.group(2)))):
            continue
        out = parent / match.group(1)
        if out.exists():
            shutil.rmtree(folder, ignore_errors=True)
            _say(f"geocluster: removed '{folder}', earlier results set aside by a run that was "
                 f"killed while replacing '{out}'.")
        else:
            folder.rename(out)
            _say(f"geocluster: restored the earlier results '{out}' that a killed run had set "
                 f"aside as '{folder}'.")


def _move_into_place(tmp: Path, out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:  # appeared while we ran
            raise ConfigError(f"the output folder '{out}' was filled by something else while "
                              "the study ran; choose a new folder.")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        try:
            tmp.rename(out)
        except BaseException:
            old.rename(out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.exists():
            out.rmdir()
        tmp.rename(out)


def _write_run_json(folder: Path, config: dict, timings: dict, summary: dict,
                    warning_records: list[dict] | None = None) -> None:
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
        "warnings": warning_records or [],
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


def _with_step(exc: GeoclusterError, step: str) -> GeoclusterError:
    """``exc`` as the same class with ``step '<step>': `` prefixed (ANSI codes removed)."""
    text = _strip_ansi(str(exc))
    if text.startswith("step '"):
        return exc
    message = f"step '{step}': {text}"
    try:
        new = type(exc)(message)
    except Exception:  # noqa: BLE001 - a subclass with another signature
        new = GeoclusterError(message)
    return new


def _run_steps(config: dict, folder: Path, progress: _Progress, quiet: bool,
               log: _WarningLog | None = None) -> dict:
    from geocluster.pipeline import steps

    log = log if log is not None else _WarningLog(echo=False)
    figures = folder / "figures"
    figures.mkdir()
    seeds = np.random.SeedSequence(config["study"]["seed"]).spawn(6)
    state: dict[str, Any] = {"config": config, "folder": folder, "figures": figures,
                             "quiet": quiet, "warnings": log.records}
    enabled = {
        "firms": True, "areal": config["areal"]["enabled"],
        "density": config["density"]["enabled"], "exposure": True,
        "model": config["model"]["enabled"],
        "robustness": config["model"]["enabled"] and config["robustness"]["enabled"],
        "outputs": True, "maps": config["maps"]["enabled"], "report": True,
    }
    functions: dict[str, Callable] = {
        "firms": steps.load_firms, "areal": steps.areal_clusters, "density": steps.density,
        "exposure": steps.exposure, "model": steps.model, "robustness": steps.robustness,
        "outputs": steps.write_outputs, "maps": steps.maps, "report": steps.report,
    }
    progress.start(sum(1 for key, *_ in STEPS if enabled[key]))
    for index, (key, name, label) in enumerate(STEPS):
        if not enabled[key]:
            continue
        log.step = name
        with progress.step(key, label), log.capture():
            try:
                functions[key](state, seed=np.random.default_rng(seeds[min(index, len(seeds) - 1)]))
            except GeoclusterError as exc:
                raise _with_step(exc, name) from exc
            except (OSError, MemoryError):
                raise
            except Exception as exc:  # noqa: BLE001 - wrap with the step's name
                raise StudyStepError(name, exc) from exc
        log.end_step()
    progress.close()
    return state.get("summary", {})


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
            f"[areal] units = {spec!r}: not 'counties', 'grid', 'hex' or an existing polygon "
            "file; give one of those words, or the path of a polygon file (GeoPackage, "
            "Shapefile, GeoJSON; relative to the config's folder)."
        )
    try:
        units = gpd.read_file(path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"could not read the units file '{path}': {exc}") from None
    if units.crs is None:
        raise InputError(f"the units file '{path}' has no CRS; set one (e.g. in QGIS) and retry.")
    return units
