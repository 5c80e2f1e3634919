"""Bad-input corpus: study configs that do not fit the firm table.

Every case runs :func:`geocluster.pipeline.study.run_study` on a small real-like register (NAME,
CITY, STATE, EMPLOYEES, REVENUES; no industry, patents or internationalization column,
unless the case adds one) with a config that names something the data lack or cannot
support. Each asserts the error class, words naming the config key and the problem,
words naming the remedy, that the register is unchanged, and that no output (not even a
temporary folder) is left.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from corpus import assert_no_output, raises_clearly, untouched

import geocluster as gc
from geocluster.errors import ConfigError, InputError, WeightsError
from geocluster.pipeline.study import run_study

N = 120


def _register(*, industry: bool = False, shared: int = 0, kind: str = "csv", blank: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    counties = gc.datasets.load_counties("conus").sample(12, random_state=4)
    centre = counties.geometry.representative_point()
    which = rng.integers(0, len(counties), N)
    lon = centre.x.to_numpy()[which] + rng.normal(0, 0.02, N)
    lat = centre.y.to_numpy()[which] + rng.normal(0, 0.02, N)
    if shared:
        lon[:shared], lat[:shared] = lon[0], lat[0]
    table = pd.DataFrame({
        "NAME": [f"Firm {i}" for i in range(N)], "CITY": "Springfield", "STATE": "MD",
        "LATITUDE": lat, "LONGITUDE": lon,
        "EMPLOYEES": rng.integers(5, 5000, N), "REVENUES": np.round(rng.uniform(1, 900, N), 1),
    })
    if blank:
        table["REVENUES"] = table["REVENUES"].astype(float)
        table.loc[: blank - 1, "REVENUES"] = np.nan
    if industry:
        table["SECTOR"] = rng.choice(["banks", "retail", "energy"], N)
    return table


# Each case: (id, register options, config sections, error class, problem, remedy).
# The fast cases switch off the steps they do not need.
_LIGHT = {"areal": {"enabled": False}, "density": {"enabled": False},
          "maps": {"enabled": False}}
_NO_MODEL = {**_LIGHT, "model": {"enabled": False}}

CASES = [
    ("industry column missing", {}, {"firms": {"industry": "SECTOR"}}, ConfigError,
     r"\[firms\] industry = 'SECTOR': no such column.*NAME, CITY", r"name one of them|remove the key"),
    ("employees column missing", {}, {"firms": {"employees": "STAFF"}}, ConfigError,
     r"\[firms\] employees = 'STAFF': no such column", r"name one of them|remove the key"),
    ("patents column missing", {}, {"firms": {"patents": "PATENTS"}}, ConfigError,
     r"\[firms\] patents = 'PATENTS': no such column", r"name one of them|remove the key"),
    ("age column missing", {}, {"firms": {"age": "FOUNDED"}}, ConfigError,
     r"\[firms\] age = 'FOUNDED': no such column", r"name one of them|remove the key"),
    ("name column missing", {}, {"firms": {"name": "COMPANY"}}, ConfigError,
     r"\[firms\] name = 'COMPANY': no such column", r"name the column with the firms' names"),
    ("focus industry not in the data", {"industry": True},
     {"firms": {"industry": "SECTOR", "focus_industry": "aerospace"}, **_LIGHT,
      "density": {"enabled": True}}, ConfigError,
     r"\[firms\] focus_industry = 'aerospace'.*not an industry in column 'SECTOR'.*banks",
     r"name one of them"),
    ("focus industry without an industry column", {},
     {"firms": {"focus_industry": "banks"}, **_LIGHT, "density": {"enabled": True}},
     ConfigError, r"\[firms\] focus_industry = 'banks' needs an industry column",
     r"set \[firms\] industry|remove focus_industry"),
    ("formula names absent columns", {},
     {"model": {"formula": "np.log(SALES) ~ cluster + np.log(EMPLOYEES)"}, **_LIGHT},
     ConfigError, r"\[model\] formula = .*'SALES', not column", r"use those names"),
    ("by names an absent column", {},
     {"model": {"formula": "np.log(REVENUES) ~ cluster", "by": "SECTOR"}, **_LIGHT},
     ConfigError, r"\[model\] by = 'SECTOR': no such column", r"name a group column|remove the key"),
    ("variable not in the formula", {},
     {"model": {"formula": "np.log(REVENUES) ~ cluster", "variable": "density"}, **_LIGHT},
     ConfigError, r"\[model\] variable = 'density' is not in \[model\] formula",
     r"name the clustering term"),
    ("popup names an absent column", {},
     {**_NO_MODEL, "maps": {"enabled": True, "tiles": "none", "popup": ["WEBSITE"]}},
     ConfigError, r"\[maps\] popup = \['WEBSITE'\]: 'WEBSITE' not column", r"name existing columns"),
    ("lq exposure without industries", {}, {"exposure": {"method": "lq"}, **_NO_MODEL},
     ConfigError, r"\[exposure\] method = 'lq' needs an industry column",
     r"use method = \"kde\" or \"count\""),
    ("areal weights K larger than the units", {},
     {"areal": {"weights": "knn:5000", "permutations": 9}, "density": {"enabled": False},
      "model": {"enabled": False}, "maps": {"enabled": False}},
     WeightsError, r"\[areal\] weights = 'knn:5000':.*K must be between", r"use a smaller K"),
    ("firms sharing an address in model weights", {"shared": 6},
     {"model": {"formula": "np.log(REVENUES) ~ cluster", "weights": "knn:4"}, **_LIGHT},
     WeightsError, r"\[model\] weights = 'knn:4':.*6 of 120 units share a location",
     r"\[weights\] coincident = \"jitter\""),
    ("unknown text encoding", {}, {"firms": {"encoding": "klingon-8"}}, InputError,
     r"\[firms\] encoding = 'klingon-8':.*not a known text encoding", r"use e\.g\. 'utf-8'"),
    ("two-layer GeoPackage without a layer", {"kind": "gpkg"}, {}, InputError,
     r"has 2 layers: 'headquarters'", r"\[firms\] layer = \"headquarters\""),
    ("GeoPackage layer that does not exist", {"kind": "gpkg"},
     {"firms": {"layer": "hq"}}, InputError,
     r"\[firms\] layer = 'hq':.*no layer 'hq'", r"its layers are 'headquarters', 'other'"),
    ("too few simulations for the level", {},
     {**_NO_MODEL, "density": {"enabled": True, "simulations": 9, "alpha": 0.05}},
     ConfigError, r"\[density\] simulations = 9:.*too few for alpha=0.05",
     r"at least 19 simulations"),
    ("isolated units with isolates = raise", {},
     {"weights": {"isolates": "raise"}, "areal": {"permutations": 9},
      "density": {"enabled": False}, "model": {"enabled": False}, "maps": {"enabled": False}},
     WeightsError, r"\[areal\] weights = 'queen':.*2 of 3107 units have no neighbours",
     r"set \[weights\] isolates = \"keep\""),
    ("grid cells too small", {},
     {"areal": {"units": "grid", "cell_size": "5m"}, "density": {"enabled": False},
      "model": {"enabled": False}, "maps": {"enabled": False}},
     InputError, r"\[areal\] cell_size = '5m':.*more than max_cells", r"larger cell_size"),
    ("units file that does not exist", {},
     {"areal": {"units": "nope.gpkg"}, "density": {"enabled": False},
      "model": {"enabled": False}, "maps": {"enabled": False}},
     ConfigError, r"\[areal\] units = .*nope\.gpkg.*not 'counties', 'grid', 'hex'",
     r"path of a polygon file"),
    ("empty model cells with missing = raise", {"blank": 5},
     {"model": {"formula": "np.log(REVENUES) ~ cluster", "missing": "raise"}, **_LIGHT},
     InputError, r"\[model\] missing = 'raise':.*5 rows have missing values.*REVENUES: 5",
     r"set \[model\] missing = 'drop'"),
    ("tooltip names an absent column", {},
     {**_NO_MODEL, "maps": {"enabled": True, "tiles": "none", "tooltip": ["NAME", "URL"]}},
     ConfigError, r"\[maps\] tooltip = .*'URL' not column", r"name existing columns"),
]


def _write(table: pd.DataFrame, folder, kind: str):
    if kind == "csv":
        path = folder / "hq.csv"
        table.to_csv(path, index=False)
        return path
    path = folder / "hq.gpkg"
    frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["LONGITUDE"],
                                                                table["LATITUDE"]), crs=4326)
    frame.to_file(path, layer="headquarters", driver="GPKG")
    frame.head(3).to_file(path, layer="other", driver="GPKG")
    return path


@pytest.mark.parametrize(("options", "sections", "error", "problem", "remedy"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_study_config(tmp_path, options, sections, error, problem, remedy):
    data = tmp_path / "data"
    data.mkdir()
    options = dict(options)
    path = _write(_register(**options), data, options.pop("kind", "csv"))
    config = {"study": {"seed": 3}, "firms": {"path": str(path)},
              "maps": {"tiles": "none"}, "robustness": {"enabled": False}}
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values}
    results = tmp_path / "results"
    results.mkdir()
    with untouched(path), raises_clearly(error, problem, remedy):
        run_study(config, results / "out", quiet=True)
    assert_no_output(results)

