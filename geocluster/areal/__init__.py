"""Areal units: regular grids, firm counts per unit, location quotients.

Three steps of the areal route from firms to clusters, one module each:

* :func:`grid` (:mod:`geocluster.areal.grid`) builds square or hexagonal cells over an
  extent. All vertex coordinates come from one shared array, so neighbouring cells
  share bit-identical vertices and contiguity weights (queen, rook) see every neighbour.
* :func:`aggregate` (:mod:`geocluster.areal.aggregate`) counts firms (and sums a weight
  such as employment) per unit, optionally per category (industry), and reports firms
  that fall outside every unit.
* :func:`location_quotient` (:mod:`geocluster.areal.lq`) computes
  ``LQ_ir = (E_ir / E_r) / (E_iN / E_N)`` for units x industries from a long table
  (e.g. County Business Patterns) or from the output of :func:`aggregate`
  (``layout="aggregate"``), with a minimum-size rule and a specialisation flag.
  :func:`lq_table` turns its result into a wide units x industries table.
"""

from __future__ import annotations

from geocluster.areal.aggregate import aggregate
from geocluster.areal.grid import MAX_CELLS, grid
from geocluster.areal.lq import location_quotient, lq_table

__all__ = ["grid", "aggregate", "location_quotient", "lq_table", "MAX_CELLS"]
