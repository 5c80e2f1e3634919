"""Spatial regression of firm outcomes, effects by innovator type, matching (floor 4).

Modules, bottom to top (each imports only the ones above it in this list):

* ``_limits``, ``_design`` (formula -> design: the one path, also for new rows),
  ``diagnostics`` (Moran's I and LM tests of OLS residuals, LR test), ``graph`` (weights
  on exactly the rows a model uses);
* ``_logdet``, ``_ml_fit``, ``_ml_traces``, ``_sparse_ml`` (the large-n ML estimator),
  ``impacts`` (spatial multipliers, LeSage-Pace impacts);
* ``protocol`` (the results protocol: ``Coefficients``, ``EffectsInputs``),
  ``effects_context``, ``effects`` (marginal effects, turning points, U-test),
  ``effects_plot`` (predicted curves and their figure), ``base`` (``ModelResult``);
* ``results`` (``RegressionResult``), ``regress`` (``gc.regress``), ``outcomes``
  (``gc.count_model``, ``gc.share_model``, ``OutcomeResult``);
* ``innovators`` (``gc.classify_innovators``), ``match_result`` (``MatchResult``),
  ``matching`` (``gc.match``).

A new model goes in its own module next to ``outcomes``: its result subclasses
``base.ModelResult`` (sets ``params`` and ``_vcov``, implements ``effects_inputs()`` and
``summary()``), so coefficient tables, effects and figures work unchanged.
"""
