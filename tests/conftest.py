"""Session fixtures shared by the test modules (data are loaded once per session)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import geocluster as gc

TEST_DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def columbus():
    return gc.datasets.load_columbus()


@pytest.fixture(scope="session")
def columbus_reference():
    with open(TEST_DATA / "columbus_r_spdep.json") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def counties_conus():
    return gc.datasets.load_counties("conus")
