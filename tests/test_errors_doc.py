"""docs/errors.md documents every exception class, its bases, and the CLI's exit codes."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

import geocluster.errors as errors
import geocluster.pipeline as pipeline
import geocluster.pipeline.cli as cli
import geocluster.pipeline.schema as schema

DOC = Path(__file__).parent.parent / "docs" / "errors.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _classes(module) -> dict[str, type]:
    return {
        name: obj for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException | Warning)
        and obj.__module__ == module.__name__ and not name.startswith("_")
    }


def _headings(doc: str) -> dict[str, list[str]]:
    """``### `Name(Base, Other)` `` headings -> {Name: [Base, Other]}."""
    found = {}
    for name, bases in re.findall(r"^###+ `(\w+)\(([\w, ]+)\)`", doc, flags=re.MULTILINE):
        found[name] = [b.strip() for b in bases.split(",")]
    return found


def test_every_error_class_has_a_section_with_its_true_bases(doc):
    headings = _headings(doc)
    classes = _classes(errors)
    assert set(errors.__all__) == set(classes), "errors.__all__ and the module's classes differ"
    for name, cls in classes.items():
        assert name in headings, f"docs/errors.md has no '### `{name}(...)`' section"
        assert headings[name] == [b.__name__ for b in cls.__bases__], name
    for name in headings:
        assert name in classes, f"docs/errors.md documents {name}, which geocluster.errors lacks"


def _pipeline_modules():
    folder = Path(pipeline.__file__).parent
    names = sorted(f"{pipeline.__name__}.{path.stem}" for path in folder.glob("*.py")
                   if path.stem != "__init__")
    return [importlib.import_module(name) for name in names]


def test_study_runner_errors_are_documented_with_their_bases(doc):
    # every exception class of the pipeline's modules, wherever it moves to
    found = {name: cls for module in _pipeline_modules() for name, cls in _classes(module).items()}
    assert {"StudyStepError", "StudyInterrupted"} <= set(found), sorted(found)
    for name, cls in found.items():
        bases = ", ".join(b.__name__ for b in cls.__bases__)
        assert f"`{name}({bases})`" in doc, f"{name}({bases}) is not in docs/errors.md"


def test_class_tree_matches_the_hierarchy(doc):
    tree = doc[doc.index("```\nValueError"):]
    tree = tree[: tree.index("```", 4)]
    for name, cls in _classes(errors).items():
        if issubclass(cls, Warning):
            continue
        assert re.search(rf"── {name}\b", tree), f"{name} is missing from the class tree"
    # CRSError sits under InputError in the tree (indented one level deeper)
    lines = tree.splitlines()
    row = {re.sub(r"[^\w]", "", line.split("──")[-1].split("(")[0]): line for line in lines if "──" in line}
    assert row["CRSError"].index("──") > row["InputError"].index("──")


def _exit_rows(doc: str) -> list[tuple[int, str, list[str]]]:
    """(code, constant, classes in the 'raised for' column) of the exit-code table."""
    section = doc[doc.index("## Exit codes"):]
    rows = []
    for line in section.splitlines():
        if m := re.match(r"^\| `(\d+)` \| `(EXIT_\w+)` \|(.*)$", line):
            cells = m.group(3).split("|")
            raised = re.findall(r"`(\w+)`", cells[-2]) if len(cells) >= 2 else []
            rows.append((int(m.group(1)), m.group(2), raised))
    return rows


def test_exit_codes_match_the_cli(doc):
    constants = {name: value for name, value in vars(cli).items()
                 if name.startswith("EXIT_") and isinstance(value, int)}
    assert constants, "geocluster.pipeline.cli exposes no EXIT_* constants"
    rows = _exit_rows(doc)
    assert rows, "docs/errors.md has no exit-code table"
    for code, name, _ in rows:
        assert constants.get(name) == code, f"docs say {name} = {code}, cli has {constants.get(name)}"
    assert {code for code, _, _ in rows} == set(constants.values()), "a code is undocumented"
    if hasattr(cli, "EXIT_CODES"):
        assert {code for code, _, _ in rows} == set(cli.EXIT_CODES)


def _patch_example_config(monkeypatch, replacement):
    """Make `geocluster config` call ``replacement``: the name as the CLI looks it up."""
    if hasattr(cli, "example_config"):
        monkeypatch.setattr(cli, "example_config", replacement)
    else:
        monkeypatch.setattr(schema, "example_config", replacement)


def _raising_config(exc):
    def example_config():
        raise exc
    return example_config


@pytest.mark.parametrize("name", sorted(n for n in errors.__all__ if n.endswith("Error")))
def test_each_error_class_exits_with_the_documented_code(doc, name, monkeypatch, capsys):
    # `geocluster config` with example_config raising the class: the exit code must be
    # the one the doc's table lists for that class.
    documented = [code for code, _, raised in _exit_rows(doc) if name in raised]
    assert len(documented) == 1, f"{name} is listed for {len(documented)} exit codes"
    _patch_example_config(monkeypatch, _raising_config(getattr(errors, name)("boom")))
    assert cli.main(["config"]) == documented[0]
    assert "boom" in capsys.readouterr().err


@pytest.mark.parametrize(("exc", "name"), [
    (OSError(28, "No space left on device"), "OSError"),
    (KeyboardInterrupt(), "KeyboardInterrupt"),
    (RuntimeError("a bug"), "StudyStepError"),
])
def test_other_failures_exit_with_the_documented_code(doc, exc, name, monkeypatch, capsys):
    documented = [code for code, _, raised in _exit_rows(doc) if name in raised]
    assert len(documented) == 1, name
    _patch_example_config(monkeypatch, _raising_config(exc))
    assert cli.main(["config"]) == documented[0]
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("geocluster: ")


def test_usage_error_exits_with_the_documented_code(doc, capsys):
    documented = [code for code, name, _ in _exit_rows(doc) if name == "EXIT_USAGE"]
    assert cli.main(["run", "--no-such-option"]) == documented[0]


def test_the_class_tree_example_catches_crserror_first(doc):
    # The doc's advice "catch CRSError before InputError" is right only if CRSError is one.
    assert issubclass(errors.CRSError, errors.InputError)
    assert "CRSError is an InputError" in doc


def test_the_documented_top_level_names_exist(doc):
    import geocluster as gc

    line = doc[doc.index("All live in `geocluster.errors`"):].split("\n\n")[0]
    for name in re.findall(r"`gc\.(\w+)`", line):
        assert getattr(gc, name) is getattr(errors, name), name
    if "all but `MissingDependencyError`" in line:
        assert not hasattr(gc, "MissingDependencyError")
