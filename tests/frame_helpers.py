"""Helpers shared by test modules that compare frames from dask with frames from memory."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pandas_values(frame) -> pd.DataFrame:
    """Plain pandas values: dask's pyarrow strings (missing = NA) as pandas' (missing = nan)."""
    frame = pd.DataFrame(frame).copy()
    for column in frame.columns:
        if column != "geometry" and pd.api.types.is_string_dtype(frame[column]):
            values = frame[column]
            frame[column] = values.astype(object).where(values.notna(), np.nan)
    if pd.api.types.is_string_dtype(frame.index):
        frame.index = frame.index.astype(object)
    return frame


def assert_same_frame(left, right) -> None:
    """Frames equal, reading dask's pyarrow strings as pandas' (see :func:`pandas_values`)."""
    pd.testing.assert_frame_equal(pandas_values(left), pandas_values(right))
