"""The study runner: nothing lost, nothing left behind; same seed, same bytes; warnings and errors.

Most tests run a minimal study (firms, exposure, outputs, report: a few seconds); the
byte-identity and SIGTERM tests run the whole pipeline in subprocesses and are slow.
"""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import geocluster as gc
from geocluster.errors import ConfigError, GeoclusterWarning, InputError
from geocluster.pipeline.cli import main
from geocluster.pipeline.progress import WarningLog
from geocluster.pipeline.study import OUTPUT_MARKER, TEMP_MARKER, run_study, with_step

FAST = """
[study]
seed = 3
[firms]
path = "{path}"
on_invalid = "drop"
[areal]
enabled = false
[density]
enabled = false
[exposure]
method = "count"
same_industry = false
[model]
enabled = false
[maps]
enabled = false
"""


def _firm_csv(folder: Path, n: int = 200, bad: int = 0) -> Path:
    firms = gc.datasets.make_firms(n, seed=1)
    table = firms.drop(columns=["geometry"]).reset_index(drop=True)
    table.loc[: bad - 1, "lat"] = float("nan")  # the first `bad` rows have no latitude
    path = folder / "firms.csv"
    table.to_csv(path, index=False)
    return path


@pytest.fixture
def project(tmp_path):
    """proj/ with firms.csv and a fast study.toml (the layout of the issue)."""
    proj = tmp_path / "proj"
    proj.mkdir()
    path = _firm_csv(proj, bad=40)
    config = proj / "study.toml"
    config.write_text(FAST.format(path="firms.csv"))
    return proj, config, path


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- --force never deletes what geocluster did not write ---------------------------------


def test_force_refuses_the_folder_holding_the_config(project, capsys):
    proj, config, firms = project
    (proj / "notes.md").write_text("my notes")
    before = _snapshot(proj)
    assert main(["run", str(config), "--out", str(proj), "--force", "--quiet"]) == 3
    err = capsys.readouterr().err
    assert f"the output folder '{proj}' holds the study config" in err
    assert "choose another output folder (--out)" in err
    assert _snapshot(proj) == before
    assert not list(proj.parent.glob(".proj.tmp-*"))


def test_force_replaces_only_a_folder_geocluster_wrote(project, capsys):
    proj, config, _ = project
    out = proj / "results"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    marker = json.loads((out / OUTPUT_MARKER).read_text())
    assert set(marker["files"]) == {p.relative_to(out).as_posix() for p in out.rglob("*")
                                    if p.is_file() and p.name != OUTPUT_MARKER}
    assert {"run.json", "report.html", "firms.parquet"} <= set(marker["files"])
    first = (out / "run.json").stat().st_mtime_ns
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 3
    assert "is not empty" in capsys.readouterr().err
    assert main(["run", str(config), "--out", str(out), "--force", "--quiet"]) == 0
    assert (out / "run.json").stat().st_mtime_ns != first
    # a file the user put there: --force refuses and keeps everything
    (out / "figures" / "mine.png").write_bytes(b"not ours")
    before = _snapshot(out)
    assert main(["run", str(config), "--out", str(out), "--force", "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "--force refused" in err and "figures/mine.png" in err
    assert "move them away, or choose a new output folder" in err
    assert _snapshot(out) == before


def test_force_refuses_a_symlink_the_user_put_in_our_folder(project, tmp_path, capsys):
    proj, config, _ = project
    out = proj / "results"
    assert main(["run", str(config), "--out", str(out), "--quiet"]) == 0
    data = tmp_path / "precious"
    data.mkdir()
    (data / "x.txt").write_text("keep")
    (out / "link").symlink_to(data, target_is_directory=True)
    assert main(["run", str(config), "--out", str(out), "--force", "--quiet"]) == 3
    assert "did not write (link)" in capsys.readouterr().err
    assert (out / "link").is_symlink() and (data / "x.txt").read_text() == "keep"


def test_force_refuses_an_unmarked_folder(tmp_path, project, capsys):
    _, config, _ = project
    out = tmp_path / "somebody_elses"
    out.mkdir()
    (out / "run.json").write_text("{}")  # looks like results, but carries no marker
    assert main(["run", str(config), "--out", str(out), "--force", "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "was not written by geocluster" in err and OUTPUT_MARKER in err
    assert (out / "run.json").read_text() == "{}"


# --- permissions, stale temporary folders, SIGTERM ---------------------------------------


@pytest.mark.parametrize("mask, mode", [(0o022, 0o755), (0o027, 0o750), (0o077, 0o700)])
def test_output_folder_has_the_umask_permissions(project, mask, mode):
    proj, config, _ = project
    old = os.umask(mask)
    try:
        result = run_study(config, proj / "out", quiet=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE(result.out.stat().st_mode) == mode
    assert stat.S_IMODE((result.out / "figures").stat().st_mode) == mode


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temp_folders_of_killed_runs_are_removed(project, capsys):
    proj, config, _ = project
    host = socket.gethostname()
    stale = proj / ".results.tmp-k1ll3d"  # what a SIGKILLed run leaves
    (stale / "figures").mkdir(parents=True)
    (stale / "figures" / "half.png").write_bytes(b"half")
    (stale / TEMP_MARKER).write_text(json.dumps({"pid": _dead_pid(), "host": host}))
    running = proj / ".other.tmp-running"  # a run in progress (this process is alive)
    running.mkdir()
    (running / TEMP_MARKER).write_text(json.dumps({"pid": os.getpid(), "host": host}))
    foreign = proj / ".cache.tmp-foreign"  # not ours: no marker
    foreign.mkdir()
    (foreign / "data.bin").write_bytes(b"keep")
    assert main(["run", str(config), "--out", str(proj / "results"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert not stale.exists()
    assert f"removed the stale temporary folder '{stale}'" in err
    assert running.is_dir() and (foreign / "data.bin").read_bytes() == b"keep"
    assert str(running) not in err and str(foreign) not in err


def test_results_set_aside_by_a_killed_force_run_are_restored(project, capsys):
    proj, config, _ = project
    pid = _dead_pid()
    aside = proj / f".results.old-{pid}"  # killed between its two renames: results missing
    aside.mkdir()
    (aside / "run.json").write_text("{}")
    (aside / OUTPUT_MARKER).write_text(json.dumps({"files": ["run.json"]}))
    assert main(["run", str(config), "--out", str(proj / "elsewhere"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"restored the earlier results '{proj / 'results'}'" in err
    assert not aside.exists() and (proj / "results" / "run.json").read_text() == "{}"


SLOW_CONFIG = """
[study]
seed = 5
[firms]
synthetic = 400
[areal]
permutations = 999
[density]
simulations = 99
"""


@pytest.mark.slow
def test_sigterm_mid_run_leaves_nothing(tmp_path):
    config = tmp_path / "study.toml"
    config.write_text(SLOW_CONFIG)
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "geocluster", "run", str(config), "--out",
                             str(out), "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".results.tmp-*")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    tmp = list(tmp_path.glob(".results.tmp-*"))
    assert tmp, "the run never started writing"
    time.sleep(1.0)  # well inside the steps
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; no results were written" in err and "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.toml"]


# --- same seed, same bytes -----------------------------------------------------------------

SMALL_FULL = """
[study]
seed = 17
[firms]
synthetic = 300
[areal]
permutations = 99
weights = "knn:6"
[density]
simulations = 19
alpha = 0.1
cell_size = "20km"
[model]
impacts_simulations = 50
[robustness]
weights = ["knn:4"]
models = ["ols", "lag"]
exposure = ["count:15km"]
lisa_weights = ["knn:4"]
"""


@pytest.mark.slow
def test_same_seed_gives_the_same_bytes(tmp_path):
    config = tmp_path / "study.toml"
    config.write_text(SMALL_FULL)
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        done = subprocess.run([sys.executable, "-m", "geocluster", "run", str(config), "--out",
                               str(out), "--quiet"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        runs.append(_snapshot(out))
    a, b = runs
    assert set(a) == set(b)
    assert {"report.html", "map.html", "clusters.gpkg", "firms.parquet", "model.json",
            "robustness.csv"} <= set(a)
    differ = sorted(name for name in a if name != "run.json" and a[name] != b[name])
    assert differ == [], f"files that differ between two runs with one seed: {differ}"
    timings = [json.loads(run["run.json"])["timings_s"] for run in runs]
    assert set(timings[0]) == set(timings[1])


# --- warnings reach the user ------------------------------------------------------------


def test_dropped_rows_are_warned_on_stderr_and_in_run_json(project, capsys):
    proj, config, _ = project
    assert main(["run", str(config), "--out", str(proj / "results"), "--quiet"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "read_firms dropped 40 of 200 rows" in line]
    assert len(lines) == 1 and lines[0].startswith("geocluster: warning (reading firms): ")
    run = json.loads((proj / "results" / "run.json").read_text())
    dropped = [w for w in run["warnings"] if "dropped 40 of 200 rows" in w["message"]]
    assert dropped == [{"step": "reading firms", "category": "GeoclusterWarning",
                        "message": dropped[0]["message"], "count": 1}]
    assert run["summary"]["warnings"] == run["warnings"]
    report = (proj / "results" / "report.html").read_text()
    assert "Warnings and notes" in report and "read_firms dropped 40 of 200 rows" in report


def test_warning_log_deduplicates_counts_and_catches_the_logger(capsys):
    import logging

    log = WarningLog(echo=True)
    log.step = "areal clusters"
    with log.capture():
        for _ in range(3):
            warnings.warn("12 units are islands", GeoclusterWarning, stacklevel=1)
        warnings.warn("\x1b[31mred\x1b[0m text", UserWarning, stacklevel=1)
        warnings.warn("old library api", DeprecationWarning, stacklevel=1)  # not for users
        logging.getLogger("geocluster").warning("the logger says %d", 5)
        logging.getLogger("geocluster").info("not a warning")
    log.end_step()
    assert log.records == [
        {"step": "areal clusters", "category": "GeoclusterWarning",
         "message": "12 units are islands", "count": 3},
        {"step": "areal clusters", "category": "UserWarning", "message": "red text", "count": 1},
        {"step": "areal clusters", "category": "log.warning", "message": "the logger says 5",
         "count": 1},
    ]
    err = capsys.readouterr().err
    assert err.count("12 units are islands") == 2  # once as it happened, once with its count
    assert "occurred 3 times in all" in err and "\x1b" not in err
    assert logging.getLogger("geocluster").filters == []


def test_state_warnings_reach_the_report_step(project, monkeypatch):
    from geocluster.pipeline import steps as _study_steps

    proj, config, _ = project
    seen = {}
    real_report = _study_steps.report

    def report(context, data, summary, *, seed):
        seen["warnings"] = [dict(w) for w in context.warnings]
        real_report(context, data, summary, seed=seed)

    monkeypatch.setattr(_study_steps, "report", report)
    run_study(config, proj / "results", quiet=True)
    assert any(w["step"] == "reading firms" and "dropped 40 of 200" in w["message"]
               and w["count"] == 1 for w in seen["warnings"])
    assert all(set(w) == {"step", "category", "message", "count"} for w in seen["warnings"])


# --- errors name the step; exit codes ---------------------------------------------------


def test_step_errors_name_the_step_and_keep_their_class(project, capsys):
    proj, config, _ = project
    config.write_text(FAST.format(path="firms.csv").replace('[firms]', '[firms]\nlon = "nope"'))
    assert main(["run", str(config), "--out", str(proj / "results"), "--quiet"]) == 4
    err = capsys.readouterr().err
    assert "geocluster: error: step 'reading firms': " in err and "'nope' does not exist" in err
    assert not (proj / "results").exists() and not list(proj.glob(".results.tmp-*"))


def test_with_step_prefixes_once_and_strips_colour_codes():
    error = with_step(InputError("\x1b[1mformula\x1b[0m: no column 'x'"), "model")
    assert type(error) is InputError and str(error) == "step 'model': formula: no column 'x'"
    assert str(with_step(error, "model")) == str(error)
    assert type(with_step(ConfigError("[areal] weights = 'knn:6': K ..."), "areal clusters")) \
        is ConfigError


def test_unexpected_failure_exits_1_and_asks_for_a_report(project, monkeypatch, capsys):
    from geocluster.pipeline import steps as _study_steps

    proj, config, _ = project

    def broken(*inputs, seed):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(_study_steps, "exposure", broken)
    assert main(["run", str(config), "--out", str(proj / "results"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "step 'exposure' failed unexpectedly: ZeroDivisionError" in err
    assert "please report it" in err
    assert not (proj / "results").exists() and not list(proj.glob(".results.tmp-*"))


def test_exit_codes_are_distinct_and_listed_in_help(capsys):
    from geocluster.pipeline.cli import EXIT_CODES

    assert len(set(EXIT_CODES)) == len(EXIT_CODES) == 8 and EXIT_CODES[130].startswith("interr")
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {meaning}" in text
    assert main(["run"]) == 2  # usage error: the config is missing


def test_steps_take_and_return_typed_frozen_values(tmp_path):
    import dataclasses

    from geocluster.pipeline import steps
    from geocluster.pipeline.config import DEMO_FORMULA, validate_config

    config = validate_config({"firms": {"synthetic": 300},
                              "exposure": {"method": "count", "radius": "20km"}})
    context = steps.StepContext(config=config, folder=tmp_path)
    rng = np.random.default_rng(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        firms = steps.load_firms(context, seed=rng)
        exposure = steps.exposure(context, firms.firms, firms.columns, None, None, seed=rng)
    assert isinstance(firms, steps.FirmsData) and firms.columns.industry == "industry"
    assert firms.truth is not None and firms.summary["firms"] == 300
    with pytest.raises(dataclasses.FrozenInstanceError):
        firms.truth = None  # type: ignore[misc]
    assert isinstance(exposure, steps.ExposureData) and exposure.name == "cluster"
    assert {"cluster", "cluster_input"} <= set(exposure.firms.columns)  # make_firms' own kept
    plan = steps.model_plan(config, exposure.firms)
    assert plan == steps.ModelPlan(formula=DEMO_FORMULA, by="serial", variable="cluster",
                                   user_formula=False, outcome="intl", innovators=True,
                                   internationalization=True)


# --- the demo with a binary "exports" outcome (issue 16) ---------------------------------

BINARY_DEMO = """
[study]
seed = 5
[firms]
synthetic = 400
[areal]
enabled = false
[density]
enabled = false
[model]
family = "probit"
draws = 200
burn_in = 100
[robustness]
enabled = false
[maps]
enabled = false
"""


def test_the_probit_family_plans_the_exports_model():
    from geocluster.datasets.synthetic import export_outcomes
    from geocluster.pipeline.config import validate_config
    from geocluster.pipeline.steps.model import model_plan

    config = validate_config({"firms": {"synthetic": 100}, "model": {"family": "probit"}})
    firms = export_outcomes(gc.datasets.simulate_firms(100, seed=1)).firms
    plan = model_plan(config, firms)
    assert plan.formula == "exports ~ serial * (cluster + I(cluster**2)) + np.log(employees) + age"
    assert plan.by == "serial" and plan.internationalization
    with pytest.raises(ConfigError, match="family"):
        validate_config({"firms": {"synthetic": 100}, "model": {"family": "logit"}})


@pytest.mark.slow
def test_demo_switches_to_the_binary_exports_outcome(tmp_path):
    """[model] family = "probit": the SAR probit of exports, effects by innovator type."""
    config = tmp_path / "study.toml"
    config.write_text(BINARY_DEMO)
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        result = run_study(config, out=out, quiet=True)
    record = json.loads((out / "model.json").read_text())
    assert record["formula"].startswith("exports ~ serial * (cluster")
    assert record["family"] == "probit" and record["method"] == "mcmc"
    terms = [row["term"] for row in record["table"]]
    assert terms[-1] == "rho" and "serial:cluster" in terms
    assert {"ess", "rhat"} <= set(record["diagnostics"][0])
    assert {row["effect"] for row in record["impacts"]} == {"direct", "indirect", "total"}
    groups = {row["group"] for row in record["marginal_effects"]}
    assert groups == {0, 1}  # serial innovators vs the others
    assert record["truth"]["exports"]["model"] == "SAR probit"
    assert (out / "figures" / "effects_by_type.png").stat().st_size > 0
    assert "SAR probit" in (out / "model.txt").read_text()
    assert result is not None


@pytest.mark.slow
def test_binary_family_skips_the_linear_sweep_with_a_note(tmp_path):
    """The sweep fits linear models: with family = "probit" it is skipped, and says so."""
    config = tmp_path / "study.toml"
    config.write_text(BINARY_DEMO.replace("[robustness]\nenabled = false",
                                          "[robustness]\nenabled = true"))
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoclusterWarning)
        run_study(config, out=out, quiet=True)
    assert not (out / "robustness.csv").exists()
    run = (out / "run.json").read_text()
    assert "robustness sweep skipped: [model] family = 'probit'" in run
