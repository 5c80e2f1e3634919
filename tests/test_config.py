import dataclasses
import tomllib

import pytest

from geocluster.errors import ConfigError
from geocluster.pipeline.config import SCHEMA, example_config, load_config, validate_config


def test_defaults_fill_every_key():
    config = validate_config({"firms": {"path": "f.csv"}})
    for section, keys in SCHEMA.items():
        assert {f.name for f in dataclasses.fields(getattr(config, section))} == set(keys)
    assert config.model.model == "lag"
    # Keys the study derives from the data default to None (the steps document the rule).
    for section, key in [("robustness", "models"), ("robustness", "weights"),
                         ("robustness", "focus"), ("robustness", "lisa_weights"),
                         ("model", "formula"), ("model", "by"), ("model", "variable"),
                         ("firms", "industry"), ("firms", "patents"), ("firms", "name"),
                         ("firms", "layer"), ("firms", "encoding"), ("maps", "popup")]:
        assert getattr(getattr(config, section), key) is None, (section, key)
    assert dataclasses.asdict(config.weights) == {"coincident": "raise", "isolates": "keep"}
    assert config.areal.missing == "raise" and config.model.missing == "drop"
    assert config.maps.tiles == "OpenStreetMap"
    assert config.to_dict()["areal"]["years"] == [2011, 2015]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.model = "ols"  # type: ignore[misc]


def test_example_config_is_valid_toml_and_complete():
    parsed = tomllib.loads(example_config())
    assert set(parsed) == set(SCHEMA)
    parsed["firms"]["path"] = "firms.csv"
    validate_config(parsed)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"firms": {"path": "f.csv"}, "modle": {}}, r"unknown section \[modle\]; allowed sections"),
        ({"firms": {"path": "f.csv", "lng": "x"}}, r"unknown key \[firms\] lng; allowed keys are path"),
        ({"firms": {"path": "f.csv"}, "model": {"model": "sar"}},
         r"\[model\] model = 'sar' is not allowed; choose one of \['ols', 'lag', 'error', 'durbin'\]"),
        ({"firms": {"path": "f.csv"}, "model": {"weights": "knn"}},
         r"\[model\] weights = 'knn' is not allowed; expected 'queen'"),
        ({"firms": {"path": "f.csv"}, "density": {"alpha": 1.5}},
         r"\[density\] alpha = 1.5 is not allowed; expected a number between 0 and 1"),
        ({"firms": {"path": "f.csv"}, "density": {"level": 0.95}},
         r"unknown key \[density\] level; allowed keys are"),
        ({"firms": {"path": "f.csv"}, "robustness": {"focus": ["cluster", "slope:cluster"]}},
         r"\[robustness\] focus = .* is not allowed; expected a list of a coefficient name.*"
         r"\(bad item 'slope:cluster'\)"),
        ({"firms": {"path": "f.csv"}, "exposure": {"column": "cluster"}},
         r"unknown key \[exposure\] column; allowed keys are .*name"),
        ({"firms": {"path": "f.csv"}, "robustness": {"exposure": ["kde25"]}},
         r"\[robustness\] exposure = \['kde25'\] is not allowed; expected a list of 'kde:BANDWIDTH'"),
        ({"firms": {"path": "f.csv"}, "areal": {"units": "countries"}},
         r"\[areal\] units: units spec 'countries' is not one of 'counties'"),
        ({"firms": {"path": "f.csv"}, "robustness": {"lisa_weights": ["queen", "knn"]}},
         r"\[robustness\] lisa_weights = \['queen', 'knn'\] is not allowed; expected a list of 'queen'.*\(bad item 'knn'\)"),
        ({"firms": {"path": "f.csv"}, "density": {"simulations": "many"}},
         r"\[density\] simulations = 'many' has the wrong type; expected int"),
        ({"firms": {"path": "f.csv"}, "exposure": {"radius": "10 miles"}},
         r"\[exposure\] radius = '10 miles' is not allowed; expected a distance"),
        ({"firms": {"path": "f.csv"}, "robustness": {"models": ["ols", "probit"]}},
         r"bad items \['probit'\]"),
        ({"firms": {"path": "f.csv"}, "areal": {"getis_ord": "yes"}},
         r"\[areal\] getis_ord = 'yes' has the wrong type; expected true/false"),
        ({}, r"\[firms\] needs path"),
        ({"firms": {"path": "f.csv", "synthetic": 10}}, "path or synthetic, not both"),
        ({"firms": {"path": "f.csv"}, "areal": {"years": [2015, 2011]}}, r"years = \[2015, 2011\]"),
        ({"firms": "f.csv"}, r"\[firms\] must be a table"),
        ({"firms": {"path": "f.csv"}, "weights": {"coincident": "move"}},
         r"\[weights\] coincident = 'move' is not allowed; choose one of \['raise', 'jitter'\]"),
        ({"firms": {"path": "f.csv"}, "weights": {"isolates": True}},
         r"\[weights\] isolates = True has the wrong type; expected text"),
        ({"firms": {"path": "f.csv"}, "areal": {"missing": "keep"}},
         r"\[areal\] missing = 'keep' is not allowed; choose one of \['raise', 'drop'\]"),
        ({"firms": {"path": "f.csv"}, "model": {"missing": "zero"}},
         r"\[model\] missing = 'zero' is not allowed; choose one of \['drop', 'raise'\]"),
        ({"firms": {"path": "f.csv", "layer": 2}}, r"\[firms\] layer = 2 has the wrong type"),
        ({"firms": {"path": "f.csv", "focus_industry": []}},
         r"\[firms\] focus_industry = \[\] is not allowed; expected an industry name"),
        ({"firms": {"path": "f.csv", "focus_industry": [1.5]}},
         r"focus_industry = \[1\.5\] is not allowed"),
        ({"firms": {"path": "f.csv"}, "maps": {"popup": ["NAME", 3]}},
         r"\[maps\] popup = \['NAME', 3\] is not allowed; expected a list of column names"),
        ({"firms": {"path": "f.csv"}, "maps": {"tooltip": "NAME"}},
         r"\[maps\] tooltip = 'NAME' has the wrong type; expected list"),
    ],
)
def test_bad_configs_name_key_value_and_choices(raw, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


def test_load_config_resolves_paths(tmp_path):
    study = tmp_path / "study.toml"
    study.write_text('[firms]\npath = "data/firms.csv"\n')
    config = load_config(study)
    assert config.firms.path == str((tmp_path / "data" / "firms.csv").resolve())


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"is a folder; give the path of a \.toml file"):
        load_config(tmp_path)
    broken = tmp_path / "broken.toml"
    broken.write_text("[firms\npath = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(broken)


def test_new_keys_accept_their_documented_values():
    config = validate_config({
        "firms": {"path": "f.csv", "layer": "firms", "encoding": "latin-1", "name": "NAME",
                  "focus_industry": ["software", "biotech"]},
        "weights": {"coincident": "jitter", "isolates": "drop"},
        "areal": {"missing": "drop"}, "model": {"missing": "raise", "formula": "y ~ x"},
        "maps": {"tiles": "none", "popup": ["NAME", "CITY"], "tooltip": []},
    })
    assert config.firms.focus_industry == ("software", "biotech")
    assert config.weights.coincident == "jitter" and config.maps.popup == ("NAME", "CITY")
    assert validate_config({"firms": {"path": "f", "focus_industry": "software"}}).firms \
        .focus_industry == "software"


def test_example_config_documents_every_key_with_its_choices():
    text = example_config()
    lines = text.splitlines()
    for section, keys in SCHEMA.items():
        assert f"[{section}]" in lines
        start = lines.index(f"[{section}]")
        ends = [i for i, line in enumerate(lines) if i > start and line.startswith("[")]
        end = ends[0] if ends else len(lines)
        for name, key in keys.items():
            shown = [i for i in range(start, end)
                     if lines[i].startswith((f"{name} = ", f"# {name} = "))]
            assert shown, name
            assert lines[shown[0] - 1].startswith("# "), f"{section}.{name} has no comment"
            if key.choices:
                block = " ".join(lines[max(0, shown[0] - 6):shown[0]])
                for choice in key.choices:
                    assert f'"{choice}"' in block, (section, name, choice)
    assert '# layer = ...' in text and 'coincident = "raise"' in text
    assert 'tiles = "OpenStreetMap"' in text


def test_ignored_options_are_warned_about():
    from geocluster.errors import GeoclusterWarning

    with pytest.warns(GeoclusterWarning, match=r"\[firms\] crs, lon ignored: the firms are synthetic"):
        validate_config({"firms": {"synthetic": 10, "lon": "x", "crs": "EPSG:3857"}})
    with pytest.warns(GeoclusterWarning, match=r"\[areal\] years ignored: it applies only to"):
        validate_config({"firms": {"path": "f.csv"}, "areal": {"years": [2011, 2012]}})
    with pytest.warns(GeoclusterWarning, match=r"\[model\] formula ignored: \[model\] enabled = false"):
        validate_config({"firms": {"path": "f.csv"},
                         "model": {"enabled": False, "formula": "y ~ x"}})


def test_engine_section_defaults_and_values():
    config = validate_config({"firms": {"path": "f.csv"}})
    assert dataclasses.asdict(config.engine) == {"kind": "local", "workers": None,
                                                 "memory_limit": None, "scheduler": None,
                                                 "partitions": None}
    config = validate_config({"firms": {"path": "f.csv"},
                              "engine": {"kind": "dask", "workers": 2, "memory_limit": "3.5GiB",
                                         "partitions": 8}})
    assert (config.engine.kind, config.engine.workers, config.engine.memory_limit,
            config.engine.partitions) == ("dask", 2, "3.5GiB", 8)
    joined = validate_config({"firms": {"path": "f.csv"},
                              "engine": {"kind": "dask", "scheduler": "tcp://10.0.0.5:8786"}})
    assert joined.engine.scheduler == "tcp://10.0.0.5:8786"
    assert joined.to_dict()["engine"]["scheduler"] == "tcp://10.0.0.5:8786"
    assert validate_config({"firms": {"path": "f"}, "engine": {"memory_limit": "auto",
                                                               "kind": "dask"}})


@pytest.mark.parametrize(
    "engine, message",
    [
        ({"kind": "spark"}, r"\[engine\] kind = 'spark' is not allowed; choose one of "
                            r"\['local', 'dask'\]"),
        ({"kind": "dask", "workers": 0}, r"\[engine\] workers = 0 is not allowed; expected a "
                                         "positive whole number"),
        ({"kind": "dask", "workers": "2"}, r"\[engine\] workers = '2' has the wrong type"),
        ({"kind": "dask", "memory_limit": "lots"},
         r"\[engine\] memory_limit = 'lots' is not allowed; expected memory per worker such as"),
        ({"kind": "dask", "memory_limit": 4}, r"\[engine\] memory_limit = 4 has the wrong type"),
        ({"kind": "dask", "scheduler": "localhost:8786"},
         r"\[engine\] scheduler = 'localhost:8786' is not allowed; expected a scheduler "
         r"address such as 'tcp://"),
        ({"kind": "dask", "scheduler": "tcp://:8786"}, r"scheduler = 'tcp://:8786' is not"),
        ({"kind": "dask", "scheduler": "tcp://h:8786", "workers": 2, "memory_limit": "1GB"},
         r"joins an existing cluster, whose workers are its own; remove \[engine\] workers, "
         "memory_limit"),
        ({"kind": "dask", "partitons": 2}, r"unknown key \[engine\] partitons; allowed keys "
                                           "are kind, workers, memory_limit, scheduler"),
    ],
)
def test_bad_engine_sections_name_the_key(engine, message):
    with pytest.raises(ConfigError, match=message):
        validate_config({"firms": {"path": "f.csv"}, "engine": engine})


def test_engine_options_of_a_local_engine_are_warned_about():
    from geocluster.errors import GeoclusterWarning

    with pytest.warns(GeoclusterWarning, match=r"\[engine\] memory_limit, workers ignored: "
                                               r"\[engine\] kind = 'local'"):
        validate_config({"firms": {"path": "f.csv"},
                         "engine": {"workers": 2, "memory_limit": "1GB"}})
