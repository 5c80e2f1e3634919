"""The Python example in the README runs as written."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import geocluster as gc

README = Path(__file__).parent.parent / "README.md"


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no Python example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102 - our own docs
    assert (tmp_path / "map.html").is_file()
    assert namespace["results"].nobs == 5000
    assert "HH" in set(namespace["lisa"]["lisa_cluster"])


def test_readme_shows_the_two_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text


def _register(path, n=400, seed=7):
    """A headquarters file like the README's: names, cities, -99999 codes, a shared address."""
    rng = np.random.default_rng(seed)
    cities = [(37.34, -121.89), (42.36, -71.06), (30.27, -97.74), (47.61, -122.33),
              (41.88, -87.63), (33.75, -84.39), (39.74, -104.99), (41.26, -95.93)]
    pick = rng.integers(0, len(cities), n)
    lat = np.array([cities[i][0] for i in pick]) + rng.normal(0, 0.25, n)
    lon = np.array([cities[i][1] for i in pick]) + rng.normal(0, 0.25, n)
    lat[10:14], lon[10:14] = lat[10], lon[10]
    employees = rng.lognormal(5, 1.2, n).round().astype(int)
    employees[rng.random(n) < 0.05] = -99999
    pd.DataFrame({"NAME": [f"Company {i:03d} Inc." for i in range(n)], "EMPLOYEES": employees,
                  "LATITUDE": lat.round(5), "LONGITUDE": lon.round(5)}).to_csv(path, index=False)
    return int((employees == -99999).sum())


@pytest.mark.slow
def test_readme_register_walkthrough_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    walkthrough = next(b for b in blocks if "headquarters.csv" in b)
    monkeypatch.chdir(tmp_path)
    codes = _register(tmp_path / "headquarters.csv")
    namespace: dict = {}
    with pytest.warns(gc.GeoclusterWarning, match="fall outside every unit"):
        exec(compile(walkthrough, "README.md", "exec"), namespace)  # noqa: S102 - our own docs
    firms, hot = namespace["firms"], namespace["hot"]
    assert firms["EMPLOYEES"].isna().sum() == codes  # the -99999 codes read as missing
    counts = namespace["counts"]
    assert int(counts["n_firms"].sum()) == len(firms) - counts.attrs["n_outside"]
    html = (tmp_path / "headquarters_map.html").read_text()
    assert "Company 001 Inc." in html
    # counties without firms surrounded by counties without firms are never hot or cold
    assert (hot.loc[hot["n_firms"] == 0, "gi_hotspot"].str.startswith("cold")).sum() == 0
