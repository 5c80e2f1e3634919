import subprocess
import sys
import zipfile

import numpy as np
import pytest

import geocluster as gc
from geocluster.datasets import data_path
from geocluster.errors import InputError


def test_counties(counties_conus):
    default = gc.datasets.load_counties()
    assert len(default) == 3107  # the contiguous US unless asked
    assert default.index.equals(counties_conus.index)
    counties = gc.datasets.load_counties("all")
    assert len(counties) == 3230  # 3,231 in the source, Falls Church (51610) has no area
    assert counties.crs.to_epsg() == 4326
    assert counties.index.is_unique and (counties.index.str.len() == 5).all()
    assert counties["fips"].equals(counties.index.to_series(index=counties.index))
    assert counties.is_valid.all()
    assert counties.loc["25025", "name"] == "Suffolk" and counties.loc["25025", "state"] == "Massachusetts"
    assert len(counties_conus) == 3107
    assert not counties_conus["state_fips"].isin(["02", "15", "72"]).any()
    with pytest.raises(InputError, match="region='usa' must be 'conus'.*or 'all'"):
        gc.datasets.load_counties("usa")


def test_patents():
    patents = gc.datasets.load_patents()
    assert list(patents.columns) == ["fips", "county", "year", "patents"]
    assert patents["year"].between(2000, 2015).all()
    assert patents["fips"].nunique() == 3019
    assert (patents["fips"].str.len() == 5).all()
    top = patents.groupby("fips")["patents"].sum().nlargest(3).index.tolist()
    assert top[0] == "06085"  # Santa Clara County leads US patenting
    with pytest.raises(InputError, match="keeps no rows"):
        gc.datasets.load_patents(years=(1990, 1995))


def test_cbp():
    cbp = gc.datasets.load_cbp()
    assert cbp["cbsa_code"].nunique() == 933
    assert set(cbp["naics_level"].unique()) == {2, 3, 4}
    total = cbp[cbp["naics_code"] == "00"].set_index("cbsa_code")["emp"]
    semis = cbp[cbp["naics_code"] == "3344"].set_index("cbsa_code")["emp"]
    assert (semis.reindex(total.index).fillna(0) <= total).all()
    assert cbp.loc[cbp["naics_code"] == "5112", "naics_title"].iloc[0] == "Software publishers"


def test_crosswalk():
    xw = gc.datasets.load_crosswalk()
    assert xw["fips"].is_unique and (xw["fips"].str.len() == 5).all()
    assert set(xw["area_type"].unique()) == {"metro", "micro"}
    row = xw.set_index("fips").loc["25025"]
    assert row["cbsa_code"] == "14460" and row["area_type"] == "metro"  # Boston


def test_zcta():
    zcta = gc.datasets.load_zcta()
    assert len(zcta) == 33791 and zcta.index.is_unique
    assert zcta.crs.to_epsg() == 4326
    assert zcta.loc["02139"].geometry.distance(zcta.loc["02138"].geometry) < 0.05  # Cambridge MA
    np.testing.assert_allclose(zcta.geometry.x, zcta["lon"])


def test_columbus(columbus):
    assert columbus.shape[0] == 49
    assert columbus["POLYID"].tolist() == list(range(1, 50))
    assert columbus.index.tolist() == list(range(49))


def test_loaders_return_new_frames():
    a = gc.datasets.load_counties()
    a.loc[a.index[0], "name"] = "changed"
    assert gc.datasets.load_counties().iloc[0]["name"] != "changed"


def test_unknown_dataset():
    with pytest.raises(InputError, match="unknown bundled data set 'nope'"):
        data_path("nope")


@pytest.mark.slow
def test_data_found_from_installed_wheel(tmp_path):
    """Build the wheel, install it in a fresh target dir, load data outside the checkout."""
    repo = data_path("patents").resolve().parent.parent
    wheel_dir = tmp_path / "wheel"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheel_dir), str(repo)],
        capture_output=True, text=True,
    )
    if build.returncode != 0 and "hatchling" in build.stderr:
        build = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir),
             str(repo)],
            capture_output=True, text=True,
        )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheel_dir.glob("geocluster-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "geocluster/_bundled_data/uspto_utility_patents_by_county_2000_2015.csv" in names
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        "import geocluster.datasets as d; p = d.data_path('patents'); "
        "assert '_bundled_data' in str(p), p; print(len(d.load_patents()))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "48304"
