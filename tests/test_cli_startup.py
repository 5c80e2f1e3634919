"""The command line starts without the scientific stack (``--help``, ``--version``, ``config``).

Timings belong in ``benchmarks/bench_cli.py``; here the cause of a slow start is checked
directly: which heavy packages a command imports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "pandas", "geopandas", "pyproj", "shapely", "scipy", "libpysal", "esda",
         "spreg", "statsmodels", "folium", "matplotlib")

PROBE = """
import contextlib, io, json, sys
from geocluster.pipeline.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
heavy = sorted(name for name in {heavy!r} if name in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy, "chars": len(out.getvalue())}}))
"""


def _probe(*argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["config"], ["run", "--help"],
                                  ["validate", "--help"]])
def test_fast_commands_import_no_scientific_package(argv):
    result = _probe(*argv)
    assert result["code"] == 0
    assert result["chars"] > 0  # it printed its answer
    assert result["heavy"] == []


def test_import_geocluster_is_light_until_a_function_is_used():
    code = ("import sys, geocluster as gc; light = 'pandas' not in sys.modules; "
            "f = gc.local_moran; print(light, 'pandas' in sys.modules, f.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.split() == ["True", "True", "geocluster.clusters.lisa"]


def test_public_names_survive_submodule_imports():
    import geocluster as gc
    import geocluster.exposure
    import geocluster.robustness
    import geocluster.weights  # noqa: F401 - binding the submodule is what is tested

    assert callable(gc.weights) and gc.weights.__name__ == "weights"
    assert gc.exposure.__name__ == "exposure" and gc.robustness.__name__ == "robustness"
    assert gc.datasets.__name__ == "geocluster.datasets"
    assert set(gc.__all__) <= set(dir(gc))
    with pytest.raises(AttributeError, match="no attribute 'local_moranx'"):
        gc.local_moranx  # noqa: B018
