"""The typed inputs and outputs of the study steps (frozen dataclasses).

Each step returns one of these; the runner hands them to the steps that need them, and
:func:`geocluster.pipeline.steps.report.report` turns them into the report's own input
(:class:`geocluster.viz.report.ReportData`). ``summary`` fields hold the short,
JSON-ready facts of a step (``run.json``'s ``summary`` and the command line's digest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

__all__ = ["Columns", "FirmsData", "Focus", "ArealData", "DensityData", "ExposureData",
           "ModelPlan", "ModelData", "RobustnessData", "StudyData"]


@dataclass(frozen=True)
class Columns:
    """The firm columns a study uses (None: not in the data)."""

    industry: str | None = None
    employees: str | None = None
    patents: str | None = None
    age: str | None = None
    name: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"industry": self.industry, "employees": self.employees,
                "patents": self.patents, "age": self.age, "name": self.name}


@dataclass(frozen=True)
class FirmsData:
    """The firms as read (with innovator types when derived) and the columns used."""

    firms: gpd.GeoDataFrame
    columns: Columns
    truth: dict | None = None
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Focus:
    """The focus industries and the rule that chose them ([] without an industry column)."""

    industries: tuple[str, ...]
    rule: str


@dataclass(frozen=True)
class ArealData:
    """Local Moran (and Gi*) on the study's areal units."""

    units: gpd.GeoDataFrame
    regions: gpd.GeoDataFrame
    column: str
    seed: int
    hotspots: gpd.GeoDataFrame | None = None
    graph: Any = None
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DensityData:
    """Density clusters per focus group, their surfaces and K-densities."""

    clusters: gpd.GeoDataFrame
    surfaces: dict[str, Any]
    groups: tuple[str, ...]
    null: str
    firms: gpd.GeoDataFrame
    k_density: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def surface(self):
        """The first group's surface (the map's density layer)."""
        return next(iter(self.surfaces.values()))


@dataclass(frozen=True)
class ExposureData:
    """The firms with their exposure column."""

    firms: gpd.GeoDataFrame
    name: str
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelPlan:
    """The model the study fits: formula, group, clustering variable and wording."""

    formula: str
    by: str | None
    variable: str | None
    user_formula: bool
    outcome: str
    innovators: bool
    internationalization: bool


@dataclass(frozen=True)
class ModelData:
    """The fitted model and its effects by group."""

    plan: ModelPlan
    results: Any
    firms: gpd.GeoDataFrame
    record: dict[str, Any]
    impacts: pd.DataFrame | None = None
    effects: pd.DataFrame | None = None
    turning: pd.DataFrame | None = None
    u_test: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RobustnessData:
    """The specification sweep (None when there is no model) and the cluster-map sensitivity."""

    sweep: Any = None
    sensitivity: Any = None
    summary: dict[str, Any] | None = None


@dataclass(frozen=True)
class StudyData:
    """Everything the output steps (tables, map, report) read."""

    firms: FirmsData
    table: gpd.GeoDataFrame
    areal: ArealData | None = None
    density: DensityData | None = None
    exposure: ExposureData | None = None
    model: ModelData | None = None
    robustness: RobustnessData | None = None
