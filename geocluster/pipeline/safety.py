"""The safety of a study's output folder: never lose results, never leave half-written ones.

Everything is written into a hidden temporary folder beside the output folder
(``.<out>.tmp-*``, marked with :data:`TEMP_MARKER`) and moved into place only when every
step has succeeded (:func:`move_into_place`). A run killed outright leaves its temporary
folder behind; the next run beside it removes such stale folders (only ones carrying our
marker whose process is gone; :func:`remove_stale_temp_folders`) and says so on stderr.

An existing non-empty output folder is refused unless ``force=True``, and even then it is
replaced only if geocluster wrote it: it must carry :data:`OUTPUT_MARKER` (listing its
files) and hold nothing but those files (:func:`check_output_folder`). A folder holding the
study config, an input, or files geocluster did not write is never replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
from pathlib import Path

from geocluster.errors import ConfigError
from geocluster.pipeline.config import BUILT_IN_UNITS, StudyConfig
from geocluster.pipeline.progress import say

__all__ = ["OUTPUT_MARKER", "TEMP_MARKER", "check_output_folder", "remove_stale_temp_folders",
           "move_into_place", "umask"]

#: File marking a folder written by a study run (JSON: the files it wrote).
OUTPUT_MARKER = ".geocluster-output"
#: File marking a temporary folder of a run in progress (JSON: pid and host).
TEMP_MARKER = ".geocluster-tmp"


def umask() -> int:
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


def check_output_folder(out: Path, config: StudyConfig, force: bool,
                        config_path: Path | None = None) -> None:
    """Refuse an output folder that would overwrite or delete anything not ours."""
    inputs: list[tuple[str, Path]] = []
    if config_path is not None:
        inputs.append(("the study config", config_path))
    if config.firms.path is not None:
        inputs.append(("the firm file ([firms] path)", Path(config.firms.path).resolve()))
    units = config.areal.units
    if units not in BUILT_IN_UNITS and ":" not in units:
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


def remove_stale_temp_folders(parent: Path) -> list[Path]:
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
            say(f"geocluster: removed the stale temporary folder '{folder}' left by an "
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
            say(f"geocluster: removed '{folder}', earlier results set aside by a run that was "
                 f"killed while replacing '{out}'.")
        else:
            folder.rename(out)
            say(f"geocluster: restored the earlier results '{out}' that a killed run had set "
                 f"aside as '{folder}'.")


def move_into_place(tmp: Path, out: Path, force: bool) -> None:
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
