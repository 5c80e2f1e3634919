"""Bad-input corpus: study configs, output folders and the command line (engineer B).

Every case writes a small project in ``tmp_path`` (a firm CSV and a study config, as a
user would), makes one mistake, and asserts the error class (or the CLI's exit code),
words naming the problem, words naming the remedy, that the project's files are
unchanged (bytes and modification time) and that no output or temporary folder is left.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from corpus import assert_no_output, raises_clearly, untouched

import geocluster as gc
from geocluster.errors import ConfigError, CRSError, InputError
from geocluster.pipeline.cli import EXIT_CONFIG, EXIT_INPUT, main
from geocluster.pipeline.study import OUTPUT_MARKER, run_study

GOOD = """[study]
seed = 4
[firms]
path = "firms.csv"
[areal]
enabled = false
[density]
enabled = false
[model]
enabled = false
[maps]
enabled = false
"""


@pytest.fixture(scope="module")
def firm_table():
    return gc.datasets.make_firms(60, seed=1).drop(columns=["geometry"])


@pytest.fixture
def project(tmp_path, firm_table):
    """``tmp_path`` with firms.csv; returns a function writing study.toml from text."""
    firm_table.to_csv(tmp_path / "firms.csv", index=False)

    def write(text: str = GOOD, name: str = "study.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def _edit(section: str, line: str) -> str:
    """GOOD with ``line`` added at the top of ``[section]`` (a new section if absent)."""
    if f"[{section}]\n" in GOOD:
        return GOOD.replace(f"[{section}]\n", f"[{section}]\n{line}\n", 1)
    return GOOD + f"[{section}]\n{line}\n"


# --- configs that fail before anything runs (ConfigError, exit 3) --------------------------

CONFIG_CASES = {
    "unknown section": (GOOD + "[modle]\nmodel = \"lag\"\n",
                        r"unknown section \[modle\]", r"allowed sections are \[study\]"),
    "unknown key": (_edit("firms", 'lng = "x"'), r"unknown key \[firms\] lng",
                    r"allowed keys are path, synthetic"),
    "text for a number": (GOOD.replace("seed = 4", 'seed = "four"'),
                          r"\[study\] seed = 'four' has the wrong type", r"expected int"),
    "negative seed": (GOOD.replace("seed = 4", "seed = -1"), r"\[study\] seed = -1 is not allowed",
                      r"a whole number from 0"),
    "number for text": (_edit("firms", "lon = 3"), r"\[firms\] lon = 3 has the wrong type",
                        r"text needs double quotes"),
    "bad choice": (_edit("model", 'model = "sar"'), r"\[model\] model = 'sar' is not allowed",
                   r"choose one of \['ols', 'lag', 'error', 'durbin'\]"),
    "bad weights spec": (_edit("areal", 'weights = "knn"'), r"\[areal\] weights = 'knn' is not allowed",
                         r"expected 'queen'.*knn:K"),
    "alpha out of range": (_edit("areal", "alpha = 1.5"), r"\[areal\] alpha = 1.5 is not allowed",
                           r"a number between 0 and 1"),
    "bad distance": (_edit("exposure", 'radius = "10 miles"'),
                     r"\[exposure\] radius = '10 miles' is not allowed", r"'25km' or '500m'"),
    "bad coincident": (_edit("weights", 'coincident = "move"'),
                       r"\[weights\] coincident = 'move' is not allowed",
                       r"choose one of \['raise', 'jitter'\]"),
    "bad isolates": (_edit("weights", 'isolates = "ignore"'),
                     r"\[weights\] isolates = 'ignore' is not allowed",
                     r"choose one of \['keep', 'drop', 'raise'\]"),
    "popup not a list": (_edit("maps", 'popup = "NAME"'), r"\[maps\] popup = 'NAME' has the wrong type",
                         r"a TOML list such as"),
    "empty focus list": (_edit("firms", "focus_industry = []"),
                         r"\[firms\] focus_industry = \[\] is not allowed", r"an industry name"),
    "bad model in list": (_edit("robustness", 'models = ["ols", "probit"]'),
                          r"bad items \['probit'\]", r"a list drawn from \['ols'"),
    "years reversed": (_edit("areal", "years = [2015, 2011]"), r"years = \[2015, 2011\]",
                       r"give \[first, last\]"),
    "no firms": (GOOD.replace('path = "firms.csv"\n', ""), r"\[firms\] needs path",
                 r"synthetic = N"),
    "path and synthetic": (_edit("firms", "synthetic = 100"), r"path or synthetic, not both",
                           r"remove one of them"),
    "section not a table": (GOOD.replace('[study]\nseed = 4\n', 'study = "x"\n'),
                            r"\[study\] must be a table of keys", r"study"),
    "bad TOML": (GOOD.replace("[areal]", "[areal"), r"is not valid TOML", r"Fix that line"),
    "unquoted text": (GOOD.replace('path = "firms.csv"', "path = firms.csv"),
                      r"is not valid TOML", r"strings need double quotes"),
}


@pytest.mark.parametrize("text, problem, remedy", list(CONFIG_CASES.values()),
                         ids=list(CONFIG_CASES))
def test_bad_config_text(project, tmp_path, text, problem, remedy):
    config = project(text)
    out = tmp_path / "results"
    with untouched(config, tmp_path / "firms.csv"), raises_clearly(ConfigError, problem, remedy):
        run_study(config, out, quiet=True)
    assert_no_output(out)
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml"})


@pytest.mark.parametrize("text, problem, remedy", [CONFIG_CASES["unknown key"],
                                                   CONFIG_CASES["bad TOML"]],
                         ids=["unknown key", "bad TOML"])
def test_bad_config_text_cli_exit_code(project, tmp_path, capsys, text, problem, remedy):
    config = project(text)
    with untouched(config, tmp_path / "firms.csv"):
        assert main(["run", str(config), "--quiet"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err.startswith("geocluster: error: ")
    assert re.search(problem, err) and re.search(remedy, err)
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml"})


def test_config_not_utf8(project, tmp_path):
    config = tmp_path / "study.toml"
    config.write_bytes(GOOD.replace("seed = 4", 'name = "Zürich"\nseed = 4').encode("latin-1"))
    with untouched(config), raises_clearly(ConfigError, r"is not UTF-8 text", r"save it as UTF-8"):
        run_study(config, tmp_path / "results", quiet=True)
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml"})


def test_config_is_a_folder(project, tmp_path, capsys):
    folder = tmp_path / "study.toml"
    folder.mkdir()
    with untouched(folder):
        assert main(["run", str(folder), "--out", str(tmp_path / "results")]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "is a folder" in err and "give the path of a .toml file" in err
    assert "does not exist" not in err
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml"})


def test_config_missing(project, tmp_path):
    with raises_clearly(ConfigError, r"study\.toml' does not exist",
                        r"'geocluster config' prints a template"):
        run_study(tmp_path / "study.toml", tmp_path / "results", quiet=True)
    assert_no_output(tmp_path, allowed={"firms.csv"})


# --- configs that fail in a step (the step and the key are named) ----------------------------

STEP_CASES = {
    "missing firm file": (GOOD.replace("firms.csv", "nope.csv"), InputError,
                          r"step 'reading firms'.*nope\.csv' does not exist", r"check the path"),
    "unknown CRS": (_edit("firms", 'crs = "EPSG:99999"'), CRSError,
                    r"step 'reading firms'.*EPSG:99999' is not a CRS", r"use e\.g\. 'EPSG:4326'"),
    "column the data lacks": (_edit("firms", 'industry = "SECTOR"'), ConfigError,
                              r"step 'reading firms': \[firms\] industry = 'SECTOR': no such column",
                              r"its columns are .*Name one of them, or remove the key"),
    "units file missing": (GOOD.replace("[areal]\nenabled = false", '[areal]\nunits = "nope.gpkg"'),
                           ConfigError, r"\[areal\] units = '.*nope\.gpkg'.*not .*an existing polygon",
                           r"the path of a polygon file"),
}


@pytest.mark.parametrize("text, error, problem, remedy", list(STEP_CASES.values()),
                         ids=list(STEP_CASES))
def test_bad_config_values_in_steps(project, tmp_path, text, error, problem, remedy):
    config = project(text)
    out = tmp_path / "results"
    with untouched(config, tmp_path / "firms.csv"), raises_clearly(error, problem, remedy):
        run_study(config, out, quiet=True)
    assert_no_output(out)
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml"})


def test_missing_firm_file_exit_code(project, tmp_path, capsys):
    config = project(GOOD.replace("firms.csv", "nope.csv"))
    assert main(["run", str(config), "--quiet"]) == EXIT_INPUT
    assert "nope.csv' does not exist" in capsys.readouterr().err
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml"})


# --- output folders ---------------------------------------------------------------------------


def _marked_folder(folder: Path, extra: dict[str, str]) -> None:
    folder.mkdir()
    (folder / "run.json").write_text("{}")
    (folder / OUTPUT_MARKER).write_text(json.dumps({"files": ["run.json"]}))
    for name, text in extra.items():
        (folder / name).write_text(text)


OUT_CASES = {
    "out holds the config": (lambda tmp: tmp, True,
                             r"output folder '.*' holds the study config",
                             r"choose another output folder \(--out\)"),
    "out is the firm file": (lambda tmp: tmp / "firms.csv", True,
                             r"holds the firm file \(\[firms\] path\)",
                             r"choose another output folder"),
    "out is a file": (lambda tmp: _touch(tmp / "results"), True, r"is a file, not a folder",
                      r"give a folder \(--out\)"),
    "out not empty": (lambda tmp: _make(tmp / "old", {"a.txt": "x"}), False, r"is not empty",
                      r"pass --force"),
    "force on a foreign folder": (lambda tmp: _make(tmp / "old", {"a.txt": "x"}), True,
                                  r"was not written by geocluster.*a\.txt",
                                  r"choose a new output folder, or move those files away"),
    "force on our folder with a user file": (
        lambda tmp: _make(tmp / "old", {"notes.txt": "mine"}, marked=True), True,
        r"holds 1 files that geocluster did not write \(notes\.txt\)",
        r"move them away, or choose a new output folder"),
}


def _touch(path: Path) -> Path:
    path.write_text("not a folder")
    return path


def _make(folder: Path, files: dict[str, str], marked: bool = False) -> Path:
    if marked:
        _marked_folder(folder, files)
    else:
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("make_out, force, problem, remedy", list(OUT_CASES.values()),
                         ids=list(OUT_CASES))
def test_bad_output_folder(project, tmp_path, make_out, force, problem, remedy):
    config = project()
    out = make_out(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    with untouched(tmp_path), raises_clearly(ConfigError, problem, remedy):
        run_study(config, out, force=force, quiet=True)
    assert {p.name for p in tmp_path.iterdir()} == names  # nothing added, nothing removed


def test_out_is_the_data_folder(project, tmp_path, capsys):
    """The config elsewhere, the output folder = the folder of the firm file."""
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "firms.csv").rename(data / "firms.csv")
    config = project(GOOD.replace('"firms.csv"', '"data/firms.csv"'))
    with untouched(data, config):
        assert main(["run", str(config), "--out", str(data), "--force"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"the output folder '{data}' holds the firm file ([firms] path)" in err
    assert "choose another output folder (--out)" in err
    assert sorted(p.name for p in data.iterdir()) == ["firms.csv"]
    assert_no_output(tmp_path, allowed={"data", "study.toml"})


def test_force_on_the_config_folder_cli(project, tmp_path, capsys):
    """The issue's case: geocluster run proj/study.toml --out proj --force."""
    config = project()
    (tmp_path / "paper.docx").write_bytes(b"my paper")
    with untouched(tmp_path):
        assert main(["run", str(config), "--out", str(tmp_path), "--force"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "holds the study config" in err and "choose another output folder" in err


# --- the command line ----------------------------------------------------------------------


def test_validate_write_config_exists(project, tmp_path, capsys):
    config = project()
    with untouched(config, tmp_path / "firms.csv"):
        code = main(["validate", str(tmp_path / "firms.csv"), "--write-config", str(config)])
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "already exists" in err and "pass --force to overwrite it" in err
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml"})


def test_validate_write_config_is_a_folder(project, tmp_path, capsys):
    folder = tmp_path / "configs"
    folder.mkdir()
    with untouched(folder, tmp_path / "firms.csv"):
        code = main(["validate", str(tmp_path / "firms.csv"), "--write-config", str(folder)])
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "is a folder" in err and "give the path of a .toml file" in err


def test_validate_missing_file(tmp_path, capsys):
    code = main(["validate", str(tmp_path / "nope.csv"), "--write-config",
                 str(tmp_path / "s.toml")])
    assert code == EXIT_INPUT
    err = capsys.readouterr().err
    assert "nope.csv' does not exist" in err and "check the path" in err
    assert_no_output(tmp_path)


def test_validate_unknown_lon_column(project, tmp_path, capsys):
    with untouched(tmp_path / "firms.csv"):
        code = main(["validate", str(tmp_path / "firms.csv"), "--lon", "LNG",
                     "--write-config", str(tmp_path / "s.toml")])
    assert code == EXIT_INPUT
    err = capsys.readouterr().err
    assert "'LNG' does not exist" in err and "columns are" in err
    assert_no_output(tmp_path, allowed={"firms.csv"})


def test_demo_zero_firms(tmp_path, capsys):
    assert main(["demo", "--firms", "0", "--out", str(tmp_path / "demo")]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "--firms 0" in err and "give a positive number" in err
    assert_no_output(tmp_path)


def test_unknown_option_is_a_usage_error(project, tmp_path, capsys):
    config = project()
    with untouched(config):
        assert main(["run", str(config), "--froce"]) == 2
    assert "unrecognized arguments: --froce" in capsys.readouterr().err
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml"})


def test_knn_larger_than_the_units_names_step_and_key(project, tmp_path, capsys):
    import geopandas as gpd
    from shapely.geometry import box

    from geocluster.pipeline.cli import EXIT_ERROR

    units = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, crs=4326, geometry=[
        box(-105, 39, -104, 40), box(-104, 39, -103, 40), box(-103, 39, -102, 40)])
    units.to_file(tmp_path / "units.gpkg")
    config = project(GOOD.replace("[areal]\nenabled = false",
                                  '[areal]\nunits = "units.gpkg"\nweights = "knn:6"'))
    with untouched(config, tmp_path / "units.gpkg", tmp_path / "firms.csv"):
        assert main(["run", str(config), "--quiet"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "error: step 'areal clusters': [areal] weights = 'knn:6': " in err
    assert "K must be between 1 and n-1 = 2" in err and "use a smaller K" in err
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml", "units.gpkg"})


@pytest.mark.parametrize("layer, problem, remedy", [
    (None, r"has 2 layers: 'y2019' \(Point\), 'y2020' \(Point\)", r"\[firms\] layer = \"y2019\""),
    ("y2021", r"\[firms\] layer = 'y2021'.*has no layer 'y2021'", r"its layers are 'y2019', 'y2020'"),
], ids=["layer not given", "layer missing"])
def test_multi_layer_geopackage(tmp_path, firm_table, layer, problem, remedy):
    firms = gc.read_firms(firm_table, lon="lon", lat="lat")
    gpkg = tmp_path / "firms.gpkg"
    firms.to_file(gpkg, layer="y2019")
    firms.iloc[:30].to_file(gpkg, layer="y2020")
    text = GOOD.replace('"firms.csv"', '"firms.gpkg"')
    if layer is not None:
        text = _edit("firms", f'layer = "{layer}"').replace('"firms.csv"', '"firms.gpkg"')
    config = tmp_path / "study.toml"
    config.write_text(text)
    with untouched(config, gpkg), raises_clearly(InputError, r"step 'reading firms'", problem,
                                                 remedy):
        run_study(config, tmp_path / "results", quiet=True)
    assert_no_output(tmp_path, allowed={"firms.gpkg", "study.toml"})


def test_validate_write_config_into_a_missing_folder(project, tmp_path, capsys):
    with untouched(tmp_path / "firms.csv"):
        code = main(["validate", str(tmp_path / "firms.csv"), "--write-config",
                     str(tmp_path / "configs" / "study.toml")])
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "configs' does not exist" in err and "create it first or choose another path" in err
    assert_no_output(tmp_path, allowed={"firms.csv"})


def test_out_below_a_file(project, tmp_path):
    config = project()
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with untouched(config, notes), raises_clearly(
            ConfigError, r"cannot create the parent folder of the output folder '.*notes\.txt/results'",
            r"choose another output folder"):
        run_study(config, notes / "results", quiet=True)
    assert_no_output(tmp_path, allowed={"firms.csv", "study.toml", "notes.txt"})
