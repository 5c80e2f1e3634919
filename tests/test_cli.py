"""The command line and the study pipeline, end to end on a small firm file."""

import json
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

import geocluster as gc
from geocluster.pipeline.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def firm_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    firms = gc.datasets.make_firms(800, seed=7)
    table = pd.DataFrame(firms.drop(columns=["geometry", "cluster", "cluster_count"]))
    table = table.rename(columns={"lon": "longitude", "lat": "latitude"})
    path = folder / "firms.csv"
    table.to_csv(path, index=False)
    return path


def _write_config(folder, firm_csv, **overrides):
    sections = {
        "study": 'name = "test study <script>alert(1)</script>"\nseed = 11',
        "firms": f'path = "{firm_csv}"\nid = "firm_id"',
        "areal": 'permutations = 99\nweights = "knn:6"',
        "density": 'simulations = 19\nalpha = 0.1\nbandwidth = "40km"\ncell_size = "10km"',
        "exposure": 'method = "count"\nradius = "25km"',
        "model": "impacts_simulations = 50",
        "robustness": 'weights = ["knn:4", "knn:8"]\nmodels = ["ols", "lag"]\nexposure = ["count:25km", "kde:25km"]',
    }
    sections.update(overrides)
    text = "\n\n".join(f"[{name}]\n{body}" for name, body in sections.items())
    path = folder / "study.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def study_run(firm_csv, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    config = _write_config(folder, firm_csv)
    out = folder / "results"
    code = main(["run", str(config), "--out", str(out), "--quiet"])
    return code, out, config


def test_run_writes_every_output(study_run):
    code, out, _ = study_run
    assert code == 0
    for name in ["map.html", "report.html", "clusters.gpkg", "firms.parquet", "model.json",
                 "model.txt", "run.json", "figures/lisa_map.png", "figures/effects_by_type.png",
                 "figures/kde_clusters.png", "robustness.csv", "figures/specification_curve.png",
                 "lisa_sensitivity.csv", "figures/lisa_sensitivity.png", "k_density.csv",
                 "figures/k_density.png"]:
        assert (out / name).is_file(), name
    layers = set(pyogrio.list_layers(out / "clusters.gpkg")[:, 0])
    assert {"units", "hotspots"} <= layers
    firms = gpd.read_parquet(out / "firms.parquet")
    assert len(firms) == 800 and "cluster" in firms.columns and "density_cluster" in firms.columns
    model = json.loads((out / "model.json").read_text())
    terms = {row["term"] for row in model["table"]}
    assert {"rho", "cluster", "serial:cluster"} <= terms
    run = json.loads((out / "run.json").read_text())
    assert run["seed"] == 11 and run["packages"]["esda"]
    assert {"firms", "areal", "density", "exposure", "model", "robustness", "maps",
            "report"} <= set(run["timings_s"])
    sweep = pd.read_csv(out / "robustness.csv")
    assert sweep["spec"].nunique() == 2 * 3 + 2 * 3  # ols and lag x 2 weights x 3 measures
    assert sweep["error"].isna().all()
    report = (out / "report.html").read_text()
    assert "test study" in report and 'href="map.html"' in report and "data:image/png;base64," in report
    assert "<script>" not in report and "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    assert not list(out.parent.glob(".results.tmp-*"))


def test_existing_output_needs_force(study_run, capsys):
    code, out, config = study_run
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 3
    assert "is not empty" in capsys.readouterr().err
    old_report = (out / "report.html").stat().st_mtime_ns
    assert main(["run", str(config), "--out", str(out), "--quiet", "--force"]) == 0
    assert (out / "report.html").stat().st_mtime_ns != old_report
    foreign = out / "my_notes.txt"
    foreign.write_text("mine")
    assert main(["run", str(config), "--out", str(out), "--quiet", "--force"]) == 3
    err = capsys.readouterr().err
    assert "--force refused" in err and "my_notes.txt" in err and "move them away" in err
    assert foreign.read_text() == "mine" and (out / "report.html").is_file()


def test_bad_config_key_exit_2(firm_csv, tmp_path, capsys):
    config = _write_config(tmp_path, firm_csv, model='modle = "lag"')
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "unknown key [model] modle" in err and "allowed keys are" in err
    assert not out.exists()


def test_failed_run_leaves_nothing(firm_csv, tmp_path, capsys):
    config = _write_config(tmp_path, firm_csv, model='formula = "intl ~ cluster + nonexistent"')
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "error: step 'model': [model] formula = " in err and "nonexistent" in err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_never_writes_over_inputs(firm_csv, tmp_path, capsys):
    config = _write_config(tmp_path, firm_csv)
    assert main(["run", str(config), "--out", str(firm_csv.parent), "--force", "--quiet"]) == 3
    assert "holds the firm file ([firms] path)" in capsys.readouterr().err
    assert firm_csv.is_file()


def test_missing_firm_file_exit_2(tmp_path, capsys):
    config = _write_config(tmp_path, tmp_path / "nope.csv")
    assert main(["run", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 4
    assert "does not exist" in capsys.readouterr().err


def test_validate_suggests_config(firm_csv, capsys):
    assert main(["validate", str(firm_csv), "--id", "firm_id"]) == 0
    captured = capsys.readouterr()
    assert "800 firms accepted" in captured.err
    assert "[firms]" in captured.out and 'industry = "industry"' in captured.out
    assert 'id = "firm_id"' in captured.out


def test_config_command_prints_every_section(capsys):
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for section in ["[study]", "[firms]", "[areal]", "[density]", "[model]", "[robustness]"]:
        assert section in out


def test_help_and_module_entry():
    run = subprocess.run([sys.executable, "-m", "geocluster", "--help"], capture_output=True,
                         text=True)
    assert run.returncode == 0
    for word in ("run", "demo", "validate", "Exit codes"):
        assert word in run.stdout
    run = subprocess.run([sys.executable, "-m", "geocluster", "run", "--help"],
                         capture_output=True, text=True)
    assert run.returncode == 0 and "--force" in run.stdout
    assert main([]) == 2
