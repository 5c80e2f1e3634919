"""Step 9, the report page: the study's typed results -> :class:`ReportData` -> ``report.html``."""

from __future__ import annotations

import numpy as np

from geocluster.pipeline.steps.common import StepContext
from geocluster.pipeline.steps.data import StudyData
from geocluster.viz.report import (
    ArealReport,
    DensityReport,
    ModelReport,
    ReportData,
    RobustnessReport,
    build_report,
)

__all__ = ["report", "report_data"]


def report_data(context: StepContext, data: StudyData, summary: dict) -> ReportData:
    """What the report shows, from the steps' outputs and the run's summary so far."""
    config = context.config
    areal = density = model = robustness = None
    if data.areal is not None:
        a = config.areal
        areal = ArealReport(units=data.areal.units, regions=data.areal.regions,
                            column=data.areal.column, weights=a.weights,
                            permutations=a.permutations, correction=a.correction, alpha=a.alpha)
    if data.density is not None:
        d = config.density
        density = DensityReport(clusters=data.density.clusters, groups=data.density.groups,
                                null=data.density.null, alpha=d.alpha,
                                simulations=d.simulations, min_firms=d.min_firms)
    if data.model is not None:
        m, plan = data.model, data.model.plan
        model = ModelReport(results=m.results, formula=plan.formula, model=config.model.model,
                            weights=config.model.weights, outcome=plan.outcome, by=plan.by,
                            variable=plan.variable, innovators=plan.innovators,
                            internationalization=plan.internationalization, impacts=m.impacts,
                            effects=m.effects, turning=m.turning, u_test=m.u_test)
    r = data.robustness
    if r is not None and (r.sweep is not None or r.sensitivity is not None):
        robustness = RobustnessReport(sweep=r.sweep, sensitivity=r.sensitivity,
                                      areal_weights=config.areal.weights)
    return ReportData(
        title=config.study.name, description=config.study.description, folder=context.folder,
        settings=config.to_dict(), warnings=list(context.warnings), summary=summary,
        columns=data.firms.columns.as_dict(), areal=areal, density=density, model=model,
        robustness=robustness,
    )


def report(context: StepContext, data: StudyData, summary: dict, *,
           seed: np.random.Generator) -> None:
    """Write ``report.html``."""
    page = build_report(report_data(context, data, summary))
    (context.folder / "report.html").write_text(page, encoding="utf-8")
