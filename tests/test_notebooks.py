"""The notebooks in notebooks/ run from top to bottom (executed in a scratch folder)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))

#: What a notebook must leave in its scratch folder and show in its outputs.
EXPECTED = {
    "04_your_own_firms.ipynb": {
        "files": ["my_firms.csv", "my_firms_clean.csv", "study.toml", "my_firms_map.html",
                  "results/report.html", "results/run.json", "results/map.html"],
        "text": [
            # validate reports the sentinel codes, the shared addresses and the dropped lines
            "sentinel values in 'EMPLOYEES'",
            "23 firms share a location",
            "2 rows have missing coordinates (lines 52, 53)",
            # after recoding, the written config uses the employees column
            'employees = "EMPLOYEES"',
            # geocluster run on the written config (density switched off) succeeds
            "exit code 0",
            # the warnings listed by step
            "GeoclusterWarning: read_firms dropped 2 of 300 rows",
            "24 of 298 firms fall outside every unit",
        ],
    },
}


def _text(book) -> str:
    parts = []
    for cell in book.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out["text"])
            elif "text/plain" in out.get("data", {}):
                parts.append(out["data"]["text/plain"])
    return "\n".join(parts)


def test_notebooks_exist():
    names = [p.name for p in NOTEBOOKS]
    assert {"01_quickstart.ipynb", "02_internationalization.ipynb", "03_robustness.ipynb",
            "04_your_own_firms.ipynb"} <= set(names)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    book = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in book.cells if cell.cell_type == "code"), (
        f"{path.name} is committed with outputs; clear them"
    )
    NotebookClient(book, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [out for cell in book.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
    expected = EXPECTED.get(path.name, {})
    for name in expected.get("files", []):
        assert (tmp_path / name).is_file(), f"{path.name} did not write {name}"
    text = _text(book)
    for snippet in expected.get("text", []):
        assert snippet in text, f"{path.name}: {snippet!r} not in the outputs"
