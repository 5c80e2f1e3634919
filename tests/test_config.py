import tomllib

import pytest

from geocluster.config import SCHEMA, example_config, load_config, validate_config
from geocluster.errors import ConfigError


def test_defaults_fill_every_key():
    config = validate_config({"firms": {"path": "f.csv"}})
    for section, keys in SCHEMA.items():
        assert set(config[section]) == set(keys)
    assert config["model"]["model"] == "lag" and config["robustness"]["models"]


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
        ({"firms": {"path": "f.csv"}, "density": {"level": 1.5}},
         r"\[density\] level = 1.5 is not allowed; expected a number between 0 and 1"),
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
    ],
)
def test_bad_configs_name_key_value_and_choices(raw, message):
    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


def test_load_config_resolves_paths(tmp_path):
    study = tmp_path / "study.toml"
    study.write_text('[firms]\npath = "data/firms.csv"\n')
    config = load_config(study)
    assert config["firms"]["path"] == str((tmp_path / "data" / "firms.csv").resolve())


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[firms\npath = 1")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(broken)
