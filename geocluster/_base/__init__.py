"""The base floor: checks, distances, optional imports, figure styling, summaries.

Everything here imports only :mod:`geocluster.errors`, :mod:`geocluster.units` and third-party
packages, so every other floor may use it.
"""
