"""The base class of geocluster's model results: coefficients and effects by group.

:class:`ModelResult` adds to the coefficient protocol
(:class:`~geocluster.models.protocol.Coefficients`) the effect methods that every model
result shares: :meth:`~ModelResult.marginal_effects`, :meth:`~ModelResult.turning_point`,
:meth:`~ModelResult.u_test`, :meth:`~ModelResult.predicted` and
:meth:`~ModelResult.plot_effects`, each a call of the function of the same name in
:mod:`geocluster.models.effects` / :mod:`geocluster.models.effects_plot` on the
:class:`~geocluster.models.protocol.EffectsInputs` the subclass provides through
:meth:`~ModelResult.effects_inputs`.
"""

from __future__ import annotations

import pandas as pd

from geocluster.models import effects, effects_plot
from geocluster.models.protocol import Coefficients, EffectsInputs

__all__ = ["ModelResult"]


class ModelResult(Coefficients):
    """Coefficients plus effects by group; subclasses implement :meth:`effects_inputs`.

    Attributes
    ----------
    params : pandas.Series
        Estimates, named ``"estimate"``.
    """

    def effects_inputs(self) -> EffectsInputs:
        """What the effect computations need from this fit (see :class:`EffectsInputs`)."""
        raise NotImplementedError

    def marginal_effects(self, variable: str, by: str | None = None, at=None,
                         **kwargs) -> pd.DataFrame:
        """Marginal effects of ``variable`` by group; see
        :func:`geocluster.models.effects.marginal_effects`."""
        return effects.marginal_effects(self, variable, by=by, at=at, **kwargs)

    def turning_point(self, variable: str, by: str | None = None, **kwargs) -> pd.DataFrame:
        """Turning point of a quadratic in ``variable``; see
        :func:`geocluster.models.effects.turning_point`."""
        return effects.turning_point(self, variable, by=by, **kwargs)

    def u_test(self, variable: str, by: str | None = None, **kwargs) -> pd.DataFrame:
        """Lind & Mehlum U-test; see :func:`geocluster.models.effects.u_test`."""
        return effects.u_test(self, variable, by=by, **kwargs)

    def predicted(self, variable: str, by: str | None = None, **kwargs) -> pd.DataFrame:
        """Predicted outcome curve by group; see
        :func:`geocluster.models.effects_plot.predicted`."""
        return effects_plot.predicted(self, variable, by=by, **kwargs)

    def plot_effects(self, variable: str, by: str | None = None, **kwargs):
        """Plot the predicted outcome by group; see
        :func:`geocluster.models.effects_plot.plot_effects`."""
        return effects_plot.plot_effects(self, variable, by=by, **kwargs)
