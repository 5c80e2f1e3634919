"""Progress, warnings and signals of a study run (stderr; no scientific imports).

Warnings
--------
Every Python warning and every warning of the ``"geocluster"`` logger raised during a
step is recorded by :class:`WarningLog` (deduplicated, with counts), printed once on
stderr as it happens, written to ``run.json`` and handed to the report: a list of
``{"step", "category", "message", "count"}`` dicts.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm
from tqdm.auto import tqdm as tqdm_auto

__all__ = ["Progress", "WarningLog", "StudyInterrupted", "say", "strip_ansi",
           "terminate_as_interrupt", "signals_ignored"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def say(text: str) -> None:
    """One line on stderr, above a progress bar if one is shown."""
    tqdm.write(text, file=sys.stderr)


class StudyInterrupted(KeyboardInterrupt):
    """The run was stopped by SIGTERM (handled like Ctrl-C: nothing is left behind)."""


class Progress:
    """A progress bar over the study's steps on stderr (tqdm), with the time of each step.

    Quiet when asked, or when stderr is not a terminal (logs, CI, notebooks' pipes).
    """

    def __init__(self, quiet: bool):
        self.quiet = quiet or not sys.stderr.isatty()
        self.timings: dict[str, float] = {}
        self._bar = None

    def start(self, total: int) -> None:
        if not self.quiet:
            self._bar = tqdm_auto(total=total, desc="geocluster", unit="step", file=sys.stderr,
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


class WarningLog:
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
        message = strip_ansi(str(message)).strip()
        key = (self.step, category, message)
        record = self._index.get(key)
        if record is not None:
            record["count"] += 1
            return
        record = {"step": self.step, "category": category, "message": message, "count": 1}
        self._index[key] = record
        self.records.append(record)
        if self.echo:
            say(f"geocluster: warning ({self.step}): {message}")

    def end_step(self) -> None:
        """Name the warnings of the step that ended which occurred more than once."""
        if not self.echo:
            return
        for record in self.records:
            if record["step"] == self.step and record["count"] > 1:
                short = record["message"] if len(record["message"]) <= 100 else \
                    record["message"][:97] + "..."
                say(f"geocluster: warning ({self.step}): this warning occurred "
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
def terminate_as_interrupt() -> Iterator[None]:
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
def signals_ignored() -> Iterator[None]:
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
