"""What every reader of :mod:`geocluster.io` shares: column names, row origins, warnings.

:class:`Origin` names rows as the user counts them (file lines, 1-based rows, index
labels); :func:`warn_user` attributes a warning to the first caller outside the
``geocluster.io`` package, i.e. the user's line.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass
from types import FrameType

import numpy as np
import pandas as pd
import pyproj

from geocluster.errors import CRSError, GeoclusterWarning

__all__ = [
    "ID_NAMES",
    "LAT_NAMES",
    "LON_NAMES",
    "SEPARATORS",
    "SEP_NAMES",
    "SHOW",
    "Origin",
    "column_list",
    "crs_label",
    "log",
    "parse_crs",
    "short_error",
    "warn_user",
]

log = logging.getLogger("geocluster")

#: Column names recognised as longitude / x, in order of preference (case-insensitive).
LON_NAMES = ("lon", "lng", "long", "longitude", "x")
#: Column names recognised as latitude / y, in order of preference (case-insensitive).
LAT_NAMES = ("lat", "latitude", "y")
#: Column names taken for an obvious firm id (case-insensitive): read as text, and
#: duplicates are reported in a warning when ``id=`` is not given.
ID_NAMES = ("id", "firm_id", "firmid", "company_id", "companyid", "fid", "business_id",
            "establishment_id", "est_id", "uid", "duns")
#: Offending rows named in a message.
SHOW = 5
SEPARATORS = (",", ";", "\t", "|")
SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class Origin:
    """Where the rows come from and how the user counts them."""

    where: str  # "'path'" or "the input frame"
    unit: str  # "line", "row" or "index"
    labels: np.ndarray  # one per row of the current frame
    crs_from_argument: bool = True  # the CRS came from crs= (not from the data)

    def at(self, mask) -> str:
        labels = self.labels[np.asarray(mask)]
        shown = ", ".join(str(v) for v in labels[:SHOW])
        more = f" and {len(labels) - SHOW} more" if len(labels) > SHOW else ""
        word = self.unit if (len(labels) == 1 or self.unit == "index") else self.unit + "s"
        return f"{word} {shown}{more}"

    def subset(self, keep) -> Origin:
        return Origin(self.where, self.unit, self.labels[np.asarray(keep)], self.crs_from_argument)


#: The folder of the ``geocluster.io`` modules: their frames are skipped by :func:`warn_user`.
_IO_DIR = os.path.dirname(os.path.abspath(__file__))


def _in_io(filename: str) -> bool:
    return os.path.dirname(os.path.abspath(filename)) == _IO_DIR


def warn_user(message: str) -> None:
    """Warn, attributed to the first caller outside the ``geocluster.io`` package (the user's line)."""
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and _in_io(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, GeoclusterWarning, stacklevel=level)


def short_error(exc: BaseException) -> str:
    """The first line of an exception as ``'Type: message'`` (at most 300 characters)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


def column_list(frame: pd.DataFrame) -> list[str]:
    """The frame's column names as text for a message (the first 20, then ``'...'``)."""
    cols = [str(c) for c in frame.columns]
    return cols if len(cols) <= 20 else cols[:20] + ["..."]


def parse_crs(crs) -> pyproj.CRS:
    """``crs=`` of :func:`~geocluster.io.read_firms` as a pyproj CRS, or :class:`CRSError`."""
    if crs is None:
        raise CRSError(
            "crs=None: say which CRS the coordinate columns are in, e.g. crs='EPSG:4326' "
            "for longitude/latitude."
        )
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise CRSError(
            f"crs={crs!r} is not a CRS pyproj knows; use e.g. 'EPSG:4326' or 'EPSG:5070'."
        ) from None


def crs_label(crs) -> str:
    """A CRS as a message shows it: ``'EPSG:4326'`` where it has a code."""
    try:
        epsg = pyproj.CRS.from_user_input(crs).to_epsg()
    except pyproj.exceptions.CRSError:
        return repr(crs)
    return f"'EPSG:{epsg}'" if epsg else repr(str(crs))
