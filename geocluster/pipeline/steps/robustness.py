"""Step 6, robustness: the specification sweep and the cluster-map sensitivity.

The reference specification is the study's own model (its weights, model type and
exposure column); the default alternatives are the model's weights with K/2 and 2K
neighbours (D/2 and 2D for distances) and OLS; the focus terms are the model's own
clustering terms. The cluster-map sensitivity compares the areal weights with two others
and uses the areal step's seed, so its reference map is the areal step's map.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from geocluster.pipeline.steps.common import (
    StepContext,
    config_key,
    finite_or_none,
    note,
    seed_int,
)
from geocluster.pipeline.steps.data import ArealData, Columns, ModelData, RobustnessData
from geocluster.robustness.sensitivity import cluster_sensitivity
from geocluster.robustness.sweep import robustness as sweep_specifications
from geocluster.weights.spec import parse_weights_spec

__all__ = ["robustness"]


def robustness(context: StepContext, model: ModelData | None, columns: Columns,
               areal: ArealData | None, *, seed: np.random.Generator) -> RobustnessData:
    """The sweep around the study's model (when there is one) and the LISA sensitivity."""
    if model is None:
        note("robustness sweep skipped: there is no model to vary (see the model step's "
             "note); the cluster-map sensitivity still runs.")
        return RobustnessData(sensitivity=_lisa_sensitivity(context, areal, seed))
    family = context.config.model.family
    if family != "linear":
        note(f"robustness sweep skipped: [model] family = {family!r} is a Bayesian "
             "limited-dependent-variable model, and the sweep fits linear models only (its "
             "reference would not be the study's model); the cluster-map sensitivity still runs.")
        return RobustnessData(sensitivity=_lisa_sensitivity(context, areal, seed))
    sweep = _sweep(context, model, columns, seed)
    context.save_figure(sweep.plot(), "specification_curve")
    for number, term in enumerate(list(sweep.focus)[1:], start=2):
        context.save_figure(sweep.plot(term), f"specification_curve_{number}")
    table = sweep.summary().to_frame()
    summary = {
        "specifications": int(sweep.table["spec"].nunique()),
        "failed": int(sweep.table.loc[sweep.table["error"].notna(), "spec"].nunique()),
        "reference": {k: str(v) for k, v in dict(sweep.reference).items()},
        "focus": list(map(str, sweep.focus)),
        "share_significant_same_sign": {
            term: finite_or_none(v) for term, v in table["share_significant_same_sign"].items()
        },
    }
    return RobustnessData(sweep=sweep, sensitivity=_lisa_sensitivity(context, areal, seed),
                          summary=summary)


def _sweep(context: StepContext, model: ModelData, columns: Columns, seed):
    config = context.config
    cfg, mcfg, ecfg = config.robustness, config.model, config.exposure
    plan = model.plan
    name = ecfg.name
    options = {"by": columns.industry if ecfg.same_industry else None,
               "log": "log1p", "standardize": True}
    weights = _with_first(cfg.weights if cfg.weights is not None
                          else _weights_alternatives(mcfg.weights), mcfg.weights)
    models = _with_first(cfg.models if cfg.models is not None else ["ols"], mcfg.model)
    exposure = _with_first(cfg.exposure, name) if plan.variable is not None else [name]
    if cfg.focus is not None:
        focus: list[str] | None = list(cfg.focus)
    elif plan.variable is not None:
        focus = None  # robustness tracks every formula term involving the exposure
    else:
        focus = _focus_terms(model.results, plan.variable, plan.by)
    kwargs: dict[str, Any] = dict(
        focus=focus, weights=weights, models=models, exposure=exposure,
        variable=plan.variable or name, exposure_options=options, n_jobs=cfg.n_jobs,
        seed=seed_int(seed), progress=not context.quiet,
        reference={"weights": mcfg.weights, "model": mcfg.model, "exposure": name},
        missing=mcfg.missing, isolates=config.weights.isolates,
    )
    if mcfg.method != "ml":
        kwargs["methods"] = _with_first(["ml"], mcfg.method)
    with config_key("robustness", "focus" if cfg.focus is not None else "weights",
                    list(cfg.focus) if cfg.focus is not None else weights):
        return sweep_specifications(plan.formula, model.firms, **kwargs)


def _focus_terms(results, variable: str | None, by: str | None) -> list[str]:
    """The model's own clustering terms (those that name the clustering variable)."""
    names = [str(k) for k in results.params.index if k not in ("rho", "lambda", "CONSTANT")]
    if variable is None:
        return [n for n in names if n != "Intercept"][:1]
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(variable)}(?![A-Za-z0-9_])")
    terms = [n for n in names if pattern.search(n) and not n.startswith("W_")]
    if by is not None:
        terms += [f"slope:{variable}|{by}=1", f"slope:{variable}|{by}=0"]
    return terms or [n for n in names if n != "Intercept"][:1]


def _with_first(values, first) -> list:
    """``values`` with ``first`` moved (or added) to the front: the reference comes first."""
    return [first] + [v for v in (values or []) if v != first]


def _weights_alternatives(spec: str) -> list[str]:
    """The model's weights and two neighbours of it: K/2 and 2K, or D/2 and 2D."""
    parsed = parse_weights_spec(spec)
    if parsed.kind == "knn" and parsed.k is not None:
        k = parsed.k
        return list(dict.fromkeys([spec, f"knn:{max(1, k // 2)}", f"knn:{2 * k}"]))
    if parsed.needs_metres and parsed.distance is not None:
        head = "distance" if parsed.kind == "distance" else f"kernel:{parsed.kernel}"
        metres = parsed.distance
        return [spec, f"{head}:{metres / 2:g}m", f"{head}:{metres * 2:g}m"]
    return [spec, "knn:4", "knn:16"]


def _lisa_alternatives(spec: str) -> list[str]:
    """The areal weights and two alternatives."""
    others = [s for s in ("queen", "knn:6", "knn:10", "rook") if s != str(spec).strip().lower()]
    return [spec, *others[:2]]


def _lisa_sensitivity(context: StepContext, areal: ArealData | None, seed):
    config = context.config
    given = config.robustness.lisa_weights
    if areal is None or (given is not None and len(given) == 0):
        return None
    acfg = config.areal
    own = acfg.weights
    specs = _with_first(list(given) if given is not None else _lisa_alternatives(own), own)
    with config_key("robustness", "lisa_weights", specs,
                    args={k: (f"[areal] {k}", getattr(acfg, k))
                          for k in ("permutations", "alpha", "correction")}):
        sensitivity = cluster_sensitivity(
            areal.units[[areal.column, areal.units.geometry.name]], areal.column,
            weights=specs, permutations=acfg.permutations, alpha=acfg.alpha,
            correction=None if acfg.correction == "none" else acfg.correction,
            seed=areal.seed, isolates=config.weights.isolates, missing=acfg.missing,
            reference=own,
        )
    context.save_figure(sensitivity.plot(), "lisa_sensitivity")
    return sensitivity
