"""Step 5, model: the spatial regression and its effects by group.

``[model] formula`` when given; otherwise the demo's formula (``DEMO_FORMULA``) only if
the firm table has every variable it uses, else the model and the robustness sweep are
skipped with a note. ``[model] by`` defaults to ``serial`` when the study derives it
(patents and employees present), ``[model] variable`` to the exposure column when the
formula uses it. The innovator and internationalization wording of the report appears
only for those variables.

The firms' Graph is built once on every firm, as the robustness sweep builds it, so the
sweep's reference specification is this model exactly (``regress`` restricts it to the
complete rows and says so).
"""

from __future__ import annotations

import re
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

from geocluster.datasets.synthetic import SyntheticFirms, export_outcomes
from geocluster.errors import ConfigError, GeoclusterError
from geocluster.models._design import formula_variables
from geocluster.models.probit import spatial_probit
from geocluster.models.regress import regress
from geocluster.models.tobit import spatial_tobit
from geocluster.pipeline.config import DEMO_FORMULA, StudyConfig
from geocluster.pipeline.steps.common import (
    StepContext,
    arguments,
    column_list,
    config_key,
    finite_or_none,
    jittered,
    note,
    seed_int,
    study_graph,
)
from geocluster.pipeline.steps.data import ModelData, ModelPlan
from geocluster.viz.report import model_title

__all__ = ["model", "model_plan"]

#: ``[model] family`` -> the demo's outcome of that family (``datasets.export_outcomes``).
FAMILY_OUTCOMES = {"linear": "intl", "probit": "exports", "tobit": "sales_abroad"}
#: ``[model] model`` -> the spatial structure of the probit / tobit.
LIMITED_SPATIAL: dict[str, Literal["lag", "error"] | None] = {
    "lag": "lag", "durbin": "lag", "error": "error", "ols": None}


def _outcome_label(formula: str) -> str:
    lhs = formula.split("~", 1)[0].strip()
    return re.sub(r"\bnp\.", "", lhs)


def model_plan(config: StudyConfig, firms: pd.DataFrame) -> ModelPlan | None:
    """The model the study fits: formula, by, variable; None (with a note) if it cannot."""
    cfg = config.model
    columns = set(map(str, firms.columns))
    exposure_name = config.exposure.name
    formula = cfg.formula
    user_formula = formula is not None
    if formula is None:
        formula = DEMO_FORMULA.replace("cluster", exposure_name) \
            if exposure_name != "cluster" else DEMO_FORMULA
        formula = f"{FAMILY_OUTCOMES[cfg.family]} ~ {formula.split('~', 1)[1].strip()}"
    with config_key("model", "formula", formula):
        variables = formula_variables(formula)
    lacking = sorted(variables - columns)
    if lacking and not user_formula:
        note(f"model step skipped: no [model] formula is given and the firm table lacks "
             f"{len(lacking)} of the columns of the demo's model; give [model] formula = "
             f"\"outcome ~ {exposure_name} + ...\" with columns of your data to fit a model.")
        return None
    if lacking:
        raise ConfigError(
            f"[model] formula = {formula!r} uses {', '.join(map(repr, lacking))}, not "
            f"column(s) of the firm table; its columns are {column_list(firms)}. Use "
            f"those names (the exposure column is {exposure_name!r})."
        )
    by = cfg.by
    if by is None:
        by = "serial" if "serial" in columns and "serial" in variables else None
    elif by not in columns:
        raise ConfigError(
            f"[model] by = {by!r}: no such column in the firm table; its columns are "
            f"{column_list(firms)}. Name a group column or remove the key."
        )
    variable = cfg.variable
    if variable is None:
        variable = exposure_name if exposure_name in variables else None
    elif variable not in variables:
        raise ConfigError(
            f"[model] variable = {variable!r} is not in [model] formula = {formula!r}; name "
            f"the clustering term of the formula (e.g. {exposure_name!r})."
        )
    return ModelPlan(formula=formula, by=by, variable=variable, user_formula=user_formula,
                     outcome=_outcome_label(formula),
                     innovators=by == "serial" and "innovator_type" in columns,
                     internationalization=formula.split("~", 1)[0].strip()
                     in FAMILY_OUTCOMES.values())


def model(context: StepContext, firms: gpd.GeoDataFrame, truth: dict | None = None, *,
          seed: np.random.Generator) -> ModelData | None:
    """Fit the planned model (:func:`model_plan`); impacts, effects by group, turning points,
    U-test. None (with a note) when there is no model to fit."""
    config = context.config
    cfg = config.model
    firms, truth = _with_export_outcomes(cfg.family, firms, truth)
    plan = model_plan(config, firms)
    if plan is None:
        return None
    firms = jittered(config, firms)
    graph = study_graph(config, firms, cfg.weights, "model", "weights", report=False)
    with config_key("model", "formula" if plan.user_formula else "weights",
                    plan.formula if plan.user_formula else cfg.weights,
                    args=arguments(cfg, "model", "method", "missing", "family")):
        results = _fit(config, plan, firms, graph, seed_int(seed))
    record = _record(config, plan, results)
    extra: dict[str, Any] = {}
    if cfg.model in ("lag", "durbin") and cfg.family != "linear":
        extra["impacts"] = results.impacts()
        record["impacts"] = extra["impacts"].reset_index().to_dict(orient="records")
    elif cfg.model in ("lag", "durbin"):
        with config_key("model", "impacts_simulations", cfg.impacts_simulations):
            extra["impacts"] = results.impacts(simulations=cfg.impacts_simulations,
                                               seed=seed_int(seed))
        record["impacts"] = extra["impacts"].reset_index().to_dict(orient="records")
    if plan.by is not None and plan.variable is not None:
        extra.update(_effects(context, results, plan, record))
    if truth:
        record["truth"] = truth
    summary = {
        "model": cfg.model, "family": cfg.family, "nobs": int(results.nobs), "formula": plan.formula,
        "title": model_title(plan.outcome, internationalization=plan.internationalization),
        "variable": plan.variable,
        "rho": finite_or_none(results.params.get("rho", np.nan)),
        "terms": {k: finite_or_none(v) for k, v in results.params.items()},
    }
    return ModelData(plan=plan, results=results, firms=firms, record=record, summary=summary,
                     **extra)


def _with_export_outcomes(family: str, firms, truth: dict | None):
    """Synthetic firms get the demo's ``exports`` / ``sales_abroad`` (with their truth)
    when the family needs them and the firm table lacks them."""
    outcome = FAMILY_OUTCOMES[family]
    if family == "linear" or outcome in firms.columns or not truth or "intl" not in firms:
        return firms, truth
    sim = export_outcomes(SyntheticFirms(firms=firms, truth=truth))
    return sim.firms, sim.truth


def _fit(config: StudyConfig, plan: ModelPlan, firms, graph, seed: int):
    """``gc.regress`` for the linear family, the Bayesian spatial probit / tobit else."""
    cfg = config.model
    if cfg.family == "linear":
        return regress(plan.formula, firms, model=cfg.model, weights=graph,
                       method=cfg.method, missing=cfg.missing,
                       isolates=config.weights.isolates, seed=seed)
    fit = spatial_probit if cfg.family == "probit" else spatial_tobit
    return fit(plan.formula, firms, spatial=LIMITED_SPATIAL[cfg.model], weights=graph,
               draws=cfg.draws, burn_in=cfg.burn_in, missing=cfg.missing,
               isolates=config.weights.isolates, seed=seed, progress=False)


def _record(config: StudyConfig, plan: ModelPlan, results) -> dict[str, Any]:
    """``model.json``: the fit, its coefficient table and diagnostics."""
    cfg = config.model
    record: dict[str, Any] = {
        "formula": plan.formula, "model": cfg.model, "weights": cfg.weights,
        "method": cfg.method if cfg.family == "linear" else "mcmc", "family": cfg.family,
        "nobs": int(results.nobs),
        "loglik": finite_or_none(getattr(results, "loglik", np.nan)),
        "aic": finite_or_none(getattr(results, "aic", np.nan)),
        "table": results.to_frame().reset_index().to_dict(orient="records"),
    }
    if cfg.family != "linear":  # convergence: ESS and R-hat per parameter
        record["diagnostics"] = results.diagnostics().reset_index().to_dict(orient="records")
        return record
    try:
        record["diagnostics"] = results.diagnostics.reset_index().to_dict(orient="records")
    except Exception:  # noqa: BLE001 - diagnostics are optional for some models
        record["diagnostics"] = None
    return record


def _effects(context: StepContext, results, plan: ModelPlan, record: dict) -> dict[str, Any]:
    variable, by = plan.variable, plan.by
    with config_key("model", "by", by):
        effects = results.marginal_effects(variable, by=by)
        turning = results.turning_point(variable, by=by)
    record["marginal_effects"] = effects.to_dict(orient="records")
    record["turning_points"] = turning.to_dict(orient="records")
    out: dict[str, Any] = {"effects": effects, "turning": turning}
    try:
        out["u_test"] = results.u_test(variable, by=by)
        record["u_test"] = out["u_test"].to_dict(orient="records")
    except GeoclusterError as exc:
        record["u_test"] = f"not computed: {exc}"
    context.save_figure(results.plot_effects(variable, by=by), "effects_by_type")
    return out
