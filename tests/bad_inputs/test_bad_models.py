"""Bad-input corpus: models, effects, matching and robustness (engineer D).

Every case reads firms from a CSV written in ``tmp_path`` (as a user would), makes one
mistake, and asserts the error class, words naming the problem, words naming the
remedy, that the CSV and the frame read from it are unchanged, and that nothing was
written beside the CSV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from corpus import assert_no_output, raises_clearly, untouched

import geocluster as gc
from geocluster.errors import InputError, ModelError, WeightsError

FORMULA = "intl ~ serial * (cluster + I(cluster**2)) + age"


@pytest.fixture(scope="module")
def source_frame():
    return gc.datasets.make_firms(120, seed=4).drop(columns="geometry")


@pytest.fixture(scope="module")
def fitted(source_frame):
    firms = gc.read_firms(source_frame, lon="lon", lat="lat", id="firm_id")
    return gc.regress(FORMULA, firms, model="lag", weights="knn:6")


def _near_constant(firms):
    almost = np.zeros(len(firms))
    almost[3] = 1.0
    return firms.assign(almost=almost)


# (case id, call(firms, fitted), error class, problem pattern, remedy pattern)
CASES = [
    ("formula-syntax", lambda f, r: gc.regress("intl ~ cluster +* age", f),
     ModelError, r"cannot parse formula 'intl ~ cluster \+\* age'.*at character 16 \('\+\*'\)",
     r"Fix the formula's syntax"),
    ("formula-unclosed-parenthesis",
     lambda f, r: gc.regress("intl ~ cluster + np.log(employees", f),
     ModelError, r"ended before .* closed.*at character 18", r"every '\(' closed"),
    ("formula-bad-python-expression", lambda f, r: gc.regress("intl ~ age + I(cluster**)", f),
     ModelError, r"the expression at character 14 \('I\(cluster\*\*\)'\) is not valid Python",
     r"Fix the expression, e\.g\. I\(cluster\*\*2\)"),
    ("formula-several-parts", lambda f, r: gc.regress("intl ~ cluster | age", f),
     ModelError, r"has several parts \(separated by '\|'\)", r"remove the '\|' and join the terms"),
    ("formula-no-outcome", lambda f, r: gc.count_model("~ cluster", f),
     ModelError, r"has no outcome left of '~'", r"write 'outcome ~ regressors'"),
    ("formula-no-tilde", lambda f, r: gc.regress("intl = cluster", f),
     ModelError, r"needs the form 'outcome ~ regressors'", r"e\.g\. 'intl ~ cluster"),
    ("formula-absent-regressor", lambda f, r: gc.regress("intl ~ clustr + age", f),
     ModelError, r"uses 'clustr', not a column of the data \(did you mean 'cluster'",
     r"Correct the name in the formula or add the column"),
    ("formula-absent-outcome", lambda f, r: gc.regress("intll ~ cluster", f, model="ols"),
     ModelError, r"uses 'intll', not a column.*did you mean 'intl'", r"Correct the name"),
    ("all-missing-outcome",
     lambda f, r: gc.regress("intl ~ cluster", f.assign(intl=np.nan), model="ols"),
     InputError, r"'intl'.*missing \(NaN\) in every one of the 120 rows",
     r"Check that column.*or remove it from the formula"),
    ("constant-outcome", lambda f, r: gc.regress("intl ~ cluster", f.assign(intl=2.0), model="ols"),
     InputError, r"outcome 'intl' is constant.*all 2", r"Check the outcome column"),
    ("constant-regressor",
     lambda f, r: gc.regress("intl ~ cluster + k", f.assign(k=1.0), model="ols"),
     ModelError, r"regressor 'k' is constant", r"Remove it from the formula"),
    ("near-constant-regressor",
     lambda f, r: gc.regress("intl ~ cluster + almost", _near_constant(f), model="lag"),
     ModelError, r"regressor 'almost' has no usable variation.*all of its 120 used rows but one",
     r"remove it from the formula or use a measure that varies"),
    ("too-few-rows-for-knn", lambda f, r: gc.regress("intl ~ cluster", f.head(6), weights="knn:8"),
     WeightsError, r"'knn:8' gives every firm its 8 nearest neighbours.*only 6 rows",
     r"use 'knn:K' with K at most 5, or more rows"),
    ("unknown-model", lambda f, r: gc.regress("intl ~ cluster", f, model="logit"),
     ModelError, r"model='logit' is not a model geocluster fits", r"choose one of \('ols'"),
    ("probit-through-regress", lambda f, r: gc.regress("intl ~ cluster", f, model="probit"),
     ModelError, r"model='probit': binary and censored outcomes have their own functions",
     r"spatial_probit\(formula, data"),
    ("unknown-method", lambda f, r: gc.regress("intl ~ cluster", f, method="2sls"),
     ModelError, r"method='2sls' is not an estimation method", r"choose one of \('ml', 'gmm'\)"),
    ("alpha-out-of-range", lambda f, r: r.conf_int(alpha=2),
     InputError, r"alpha=2 must be a number between 0 and 1", r"e\.g\. 0\.05"),
    ("impacts-too-many-simulations", lambda f, r: r.impacts(simulations=10**9),
     InputError, r"1,000,000,000 draws .* would need about \d+\.\d GiB of memory",
     r"use simulations=1000 \(the default"),
    ("effects-by-absent-column", lambda f, r: r.marginal_effects("cluster", by="seriall"),
     InputError, r"by='seriall' is not a column of the model's data \(did you mean \['serial'\]",
     r"name one of the columns available"),
    ("plot-effects-by-absent-column", lambda f, r: r.plot_effects("cluster", by="type"),
     InputError, r"by='type' is not a column of the model's data", r"or by=None for one group"),
    ("classify-absent-patents", lambda f, r: gc.classify_innovators(f, patents="patents"),
     InputError, r"classify_innovators\(patents=\): column\(s\) \['patents'\] not found",
     r"Name columns that exist; available columns"),
    ("match-absent-treatment", lambda f, r: gc.match(f, treatment="seriel", on=["age"]),
     InputError, r"treatment='seriel' is neither a column.*did you mean",
     r"Name a boolean/0-1 column .*or run gc.classify_innovators"),
    ("match-absent-covariate", lambda f, r: gc.match(f, treatment="serial", on=["agee"]),
     InputError, r"on: column\(s\) \['agee'\] not found.*did you mean \['age'\]",
     r"Name columns that exist"),
    ("robustness-unknown-reference-key",
     lambda f, r: gc.robustness(FORMULA, f, reference={"weight": "knn:8"}, progress=False),
     InputError, r"reference has unknown key\(s\) \['weight'\] \(did you mean 'weights'\?\)",
     r"use the keys \['weights', 'model', 'exposure', 'method', 'inference'\]"),
    ("robustness-reference-bad-model",
     lambda f, r: gc.robustness(FORMULA, f, reference={"model": "sar"}, progress=False),
     InputError, r"reference\['model'\]='sar' is not allowed", r"choose one of \['ols', 'lag'"),
    ("robustness-bad-exposure",
     lambda f, r: gc.robustness(FORMULA, f, exposure=["kde25"], progress=False),
     InputError, r"exposure item 'kde25' is neither a column",
     r"give a column name or a spec.*'kde:25km'"),
    ("robustness-bad-alpha",
     lambda f, r: gc.robustness(FORMULA, f, alpha=5, progress=False),
     InputError, r"alpha=5 must be a number between 0 and 1", r"e\.g\. 0\.05"),
    ("robustness-formula-absent-column",
     lambda f, r: gc.robustness("intl ~ cluster + agee", f, models=["ols"], progress=False),
     ModelError, r"robustness: formula .* uses 'agee', not a column.*did you mean 'age'",
     r"Correct the name in the formula"),
    ("robustness-focus-none-without-exposure",
     lambda f, r: gc.robustness("intl ~ age", f, models=["ols"], progress=False),
     InputError, r"involve the clustering column variable='cluster'.*has none",
     r"Name the clustering column with variable= or the terms with focus="),
    ("sensitivity-bad-reference",
     lambda f, r: gc.cluster_sensitivity(f, "cluster", reference=["queen"]),
     InputError, r"reference=\['queen'\] must be a weights spec string", r"e\.g\. 'queen'"),
]


@pytest.mark.parametrize(("call", "error", "problem", "remedy"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_model_input(tmp_path: Path, source_frame, fitted, call, error, problem, remedy):
    path = tmp_path / "firms.csv"
    source_frame.to_csv(path, index=False)
    firms = gc.read_firms(path, lon="lon", lat="lat", id="firm_id")
    before = firms.copy()
    with untouched(path), raises_clearly(error, problem, remedy):
        call(firms, fitted)
    pd.testing.assert_frame_equal(firms, before)
    assert_no_output(tmp_path, allowed={"firms.csv"})


def test_the_corpus_has_distinct_cases():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)) >= 10
