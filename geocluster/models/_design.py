"""Formulas -> design matrices for the regression models (statsmodels-style formulas).

Formulas are parsed and evaluated with ``formulaic``, so users write them as in
statsmodels: ``intl ~ serial * (cluster + I(cluster**2)) + age + np.log(employees) +
C(industry)``. Column names follow formulaic (``Intercept``, ``I(cluster ** 2)``,
``serial:cluster``, ``C(industry)[T.b]``).

The rows used are those with no missing value in any column the formula reads; the
design is evaluated on those rows only, so categorical levels, the model matrix and the
spatial weights built afterwards all refer to the same rows.
"""

from __future__ import annotations

import difflib
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix
from formulaic.errors import FactorEvaluationError, FormulaicError

from geocluster.errors import GeoclusterWarning, InputError, ModelError

__all__ = ["Design", "build_design", "check_full_rank", "check_formula_columns",
           "formula_variables", "parse_formula", "terms_involving", "formulaic_message",
           "warn_dropped", "evaluate_spec"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MARK_OPEN, _MARK_CLOSE = "\u29db", "\u29da"  # formulaic's markers around the offending token


@dataclass
class Design:
    """The evaluated design: outcome, regressors and what it took to get there."""

    formula: str
    y: np.ndarray
    y_name: str
    X: pd.DataFrame
    model_spec: object
    index: pd.Index
    variables: list[str]
    n_dropped: int
    dropped_by: dict[str, int] = field(default_factory=dict)

    @property
    def has_intercept(self) -> bool:
        return "Intercept" in self.X.columns


def parse_formula(formula: str) -> Formula:
    """Parse ``formula`` (must have an outcome on the left of ``~``)."""
    if not isinstance(formula, str) or "~" not in formula:
        raise ModelError(
            f"formula={formula!r} needs the form 'outcome ~ regressors', "
            "e.g. 'intl ~ cluster + np.log(employees) + C(industry)'."
        )
    try:
        parsed = Formula(formula)
    except FormulaicError as exc:
        raise ModelError(_syntax_message(formula, exc)) from None
    except SyntaxError as exc:  # a Python expression inside a term, e.g. I(x**)
        token = (exc.text or "").strip()
        start = formula.find(token) if token else -1
        where = f" at character {start + 1} ({token!r})" if start >= 0 else ""
        raise ModelError(
            f"cannot parse formula {formula!r}: the expression{where} is not valid Python "
            f"({exc.msg}). Fix the expression, e.g. I(cluster**2) or np.log(employees)."
        ) from None
    if not hasattr(parsed, "lhs") or len(parsed.lhs) == 0:
        raise ModelError(
            f"formula {formula!r} has no outcome left of '~'; write 'outcome ~ regressors', "
            "e.g. 'intl ~ cluster + age'."
        )
    if not hasattr(parsed.rhs, "required_variables") or not hasattr(parsed.lhs, "required_variables"):
        raise ModelError(
            f"formula {formula!r} has several parts (separated by '|'); geocluster's models take "
            "one: remove the '|' and join the terms with '+'."
        )
    return parsed


def formulaic_message(exc: BaseException) -> str:
    """The text of a formulaic error without its terminal colour codes and token markers."""
    text = _ANSI.sub("", str(exc))
    return text.replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "").strip()


def _syntax_message(formula: str, exc: BaseException) -> str:
    """A syntax error of ``formula``: what is wrong, where (character position) and what to do."""
    text = _ANSI.sub("", str(exc))
    what, _, marked = text.partition("\n\n")
    what = what.strip().rstrip(".")
    where = ""
    start = marked.find(_MARK_OPEN)
    end = marked.find(_MARK_CLOSE, start + 1)
    if start >= 0 and end > start:
        token = marked[start + 1:end]
        # the marked line is the formula with the two markers inserted: the opening marker's
        # index is the 0-based position of the token in the formula
        where = f" at character {start + 1} ({token!r})" if token.strip() else f" at character {start + 1}"
    return (
        f"cannot parse formula {formula!r}: {what[:1].lower() + what[1:]}{where}. Fix the "
        "formula's syntax: 'outcome ~ term + term', interactions with ':' or '*', every "
        "'(' closed, functions as np.log(x) or I(x**2); e.g. "
        "'intl ~ serial * (cluster + I(cluster**2)) + np.log(employees)'."
    )


def terms_involving(design: Design, variable: str) -> list[str]:
    """Design columns of every formula term that involves ``variable``.

    A term involves the variable when the variable is among the data columns it reads:
    ``cluster``, ``I(cluster ** 2)``, ``np.log(cluster)``, ``serial:cluster`` and
    ``serial:I(cluster ** 2)`` all involve ``cluster``; every column of such a term is
    listed (``C(industry):cluster`` gives one per level), in the design's column order.
    """
    spec = design.model_spec
    term_variables = getattr(spec, "term_variables", None) or {}
    term_indices = getattr(spec, "term_indices", None) or {}
    names = list(getattr(spec, "column_names", design.X.columns))
    picked: set[int] = set()
    for term, variables in term_variables.items():
        if variable in {str(v) for v in variables}:
            picked.update(term_indices.get(term, []))
    return [names[i] for i in sorted(picked)]


def formula_variables(formula: str) -> set[str]:
    """The data columns a formula reads (outcome and regressors; not functions like ``np``).

    Examples
    --------
    >>> sorted(formula_variables("intl ~ serial * I(cluster**2) + np.log(employees)"))
    ['cluster', 'employees', 'intl', 'serial']
    """
    parsed = parse_formula(formula)
    return _value_variables(parsed.lhs) | _value_variables(parsed.rhs)


def _value_variables(part) -> set[str]:
    return {str(v) for v in part.required_variables if _is_value(v)}


def _is_value(variable) -> bool:
    roles = {str(r).lower() for r in getattr(variable, "roles", ())}
    return not roles or any("value" in r for r in roles)


def check_formula_columns(formula: str, parsed, columns: set[str]) -> list[str]:
    """The data columns a parsed formula uses (sorted); a ModelError naming any that the
    data lack, with the closest names."""
    needed = sorted(_value_variables(parsed.lhs) | _value_variables(parsed.rhs))
    unknown = [v for v in needed if v not in columns]
    if unknown:
        close = _close_names(unknown[0], columns)
        raise ModelError(
            f"formula {formula!r} uses {_names(unknown)}, not a column of the data"
            + (f" (did you mean {_names(close)}?)" if close else "")
            + ". Correct the name in the formula or add the column to the data; columns are: "
            + _names(sorted(columns)[:30]) + ("..." if len(columns) > 30 else "") + "."
        )
    return needed


def build_design(
    formula: str,
    data: pd.DataFrame,
    *,
    context: Mapping | None = None,
    missing: str = "drop",
) -> Design:
    """Evaluate ``formula`` on the complete rows of ``data``.

    Parameters
    ----------
    formula
        ``"outcome ~ regressors"`` in statsmodels/formulaic syntax.
    data
        The rows; its index is kept.
    context
        Functions the formula may call besides formulaic's own (the caller's session);
        numpy is always available as ``np``. Values always come from ``data``.
    missing
        ``"drop"`` (rows with a missing value in a used column are left out and counted)
        or ``"raise"``.

    Returns
    -------
    Design
    """
    parsed = parse_formula(formula)
    if missing not in ("drop", "raise"):
        raise ModelError(f"missing={missing!r} must be 'drop' or 'raise'.")
    ctx = {"np": np, **(dict(context) if context else {})}
    columns = set(map(str, data.columns))
    # values must come from the data (a same-named variable of the caller's session would
    # not follow the row selection); only functions are taken from the context
    needed = check_formula_columns(formula, parsed, columns)
    used = [v for v in needed if v in columns]
    if not used:
        raise ModelError(f"formula {formula!r} uses no column of the data.")

    na = pd.DataFrame({c: data[c].isna().to_numpy() for c in used}, index=data.index)
    dropped_by = {c: int(na[c].sum()) for c in used if na[c].any()}
    bad = na.any(axis=1).to_numpy()
    if bad.all():
        _raise_no_complete_rows(formula, len(data), dropped_by)
    if bad.any() and missing == "raise":
        raise InputError(
            f"{int(bad.sum())} rows have missing values in the model's columns "
            f"({', '.join(f'{c}: {k}' for c, k in dropped_by.items())}); drop them or pass "
            "missing='drop'."
        )
    # All columns are kept: formulaic does not list the arguments of its stateful
    # transforms (center, scale, ...) among the required variables.
    frame = pd.DataFrame(data.loc[~bad])
    try:
        # na_action="ignore": rows were chosen above; a NaN made by a transformation must
        # raise below instead of silently dropping rows (which would misalign the weights).
        with np.errstate(divide="ignore", invalid="ignore"):
            mm = model_matrix(parsed, frame, context=ctx, na_action="ignore")
    except FactorEvaluationError as exc:
        raise ModelError(
            f"cannot evaluate formula {formula!r}: {formulaic_message(exc)}. Check the "
            "functions the formula calls (numpy as np.log, formulaic's C(), I(), center())."
        ) from None
    except FormulaicError as exc:
        raise ModelError(
            f"cannot build the design of {formula!r}: {formulaic_message(exc)}. Check the "
            "formula's terms against the data's columns and types."
        ) from None
    lhs, rhs = mm.lhs, mm.rhs
    if lhs.shape[1] != 1:
        raise ModelError(
            f"the outcome of {formula!r} expands to {lhs.shape[1]} columns "
            f"({_names(list(lhs.columns))}); use one numeric outcome column."
        )
    y_name = str(lhs.columns[0])
    y = np.asarray(lhs.iloc[:, 0], dtype=float)
    nonfinite = ~np.isfinite(y)
    if nonfinite.any():
        rows = frame.index[nonfinite][:5].tolist()
        raise InputError(
            f"the outcome {y_name!r} has {int(nonfinite.sum())} infinite or undefined values "
            f"(e.g. rows {rows}); drop those rows or transform the outcome (np.log of 0 "
            "is -inf: use np.log1p or filter zeros)."
        )
    X = pd.DataFrame(np.asarray(rhs, dtype=float), index=frame.index, columns=list(rhs.columns))
    if X.shape[1] == 0:
        raise ModelError(f"formula {formula!r} has no regressors (not even an intercept).")
    finite = np.isfinite(X.to_numpy())
    if not finite.all():
        cols = [c for c, ok in zip(X.columns, finite.all(axis=0), strict=True) if not ok]
        raise InputError(
            f"regressor {_names(cols)} has infinite or undefined values after the formula's "
            "transformations (e.g. np.log of 0 or of a negative number); filter those rows "
            "or use another transformation."
        )
    return Design(
        formula=formula,
        y=y,
        y_name=y_name,
        X=X,
        model_spec=rhs.model_spec,
        index=frame.index,
        variables=used,
        n_dropped=int(bad.sum()),
        dropped_by=dropped_by,
    )


def _raise_no_complete_rows(formula: str, n: int, dropped_by: dict[str, int]) -> None:
    empty = [c for c, k in dropped_by.items() if k == n]
    if empty:
        raise InputError(
            f"column {_names(empty)} of formula {formula!r} is missing (NaN) in every one "
            f"of the {n} rows, so no row can be used. Check that column (a failed "
            "join or a wrong file?) or remove it from the formula."
        )
    raise InputError(
        f"no complete rows: every row of the {n} has a missing value in one of "
        f"{_names(list(dropped_by))} (formula {formula!r}). Fill the missing values or "
        "remove some of these columns from the formula."
    )


def warn_dropped(design: Design, n_rows: int, *, stacklevel: int = 3) -> None:
    """The :class:`~geocluster.errors.GeoclusterWarning` of ``missing="drop"``: how many
    of the ``n_rows`` rows were dropped, by column (nothing when none was)."""
    if not design.n_dropped:
        return
    detail = ", ".join(f"{c}: {k}" for c, k in design.dropped_by.items())
    warnings.warn(
        f"{design.n_dropped} of {n_rows} rows dropped for missing values ({detail}); "
        f"the model and its weights use the remaining {len(design.index)} rows.",
        GeoclusterWarning,
        stacklevel=stacklevel + 1,
    )


def evaluate_spec(model_spec, frame: pd.DataFrame) -> pd.DataFrame:
    """The design columns of a fitted right-hand side (``Design.model_spec``) on new rows.

    Rows are kept as given (no NaN dropping, so the result aligns with ``frame``);
    formulaic's errors propagate for the caller to word (see :func:`formulaic_message`).

    Examples
    --------
    >>> design = build_design("y ~ x + I(x**2)", pd.DataFrame({"y": [1.0, 2, 4], "x": [0.0, 1, 2]}))
    >>> evaluate_spec(design.model_spec, pd.DataFrame({"x": [3.0]})).to_numpy().tolist()
    [[1.0, 3.0, 9.0]]
    """
    with np.errstate(all="ignore"):  # NaN from e.g. np.log(<= 0) is the caller's to check
        X = model_spec.get_model_matrix(frame, na_action="ignore")
    return pd.DataFrame(np.asarray(X, dtype=float), columns=list(X.columns), index=frame.index)


def check_full_rank(X: pd.DataFrame, *, what: str = "the design") -> None:
    """Raise :class:`ModelError` naming a constant or perfectly collinear column of ``X``."""
    values = X.to_numpy(dtype=float)
    names = list(X.columns)
    n, k = values.shape
    has_intercept = "Intercept" in names
    for j, name in enumerate(names):
        col = values[:, j]
        if name != "Intercept" and n > 1 and np.ptp(col) == 0 and "[" in name and col[0] == 0:
            raise ModelError(
                f"the dummy {name!r} is 0 in every used row: that category has no rows "
                "(left after dropping missing values). A pandas Categorical keeps unused "
                "levels; use .cat.remove_unused_categories() or merge rare levels."
            )
        if name != "Intercept" and n > 1 and np.ptp(col) == 0:
            if has_intercept or sum(np.ptp(values[:, i]) == 0 for i in range(k)) > 1:
                raise ModelError(
                    f"regressor {name!r} is constant (every used row has {col[0]:g}), so it "
                    f"cannot be told apart from the intercept in {what}. Remove it from the "
                    "formula (or check the rows left after dropping missing values)."
                )
    lone_constant = not has_intercept and sum(np.ptp(values[:, i]) == 0 for i in range(k)) == 1
    for j, name in enumerate(names):
        col = values[:, j]
        if name == "Intercept" or n < 3 or (lone_constant and np.ptp(col) == 0):
            continue
        odd = _odd_one_out(col)
        if odd is None:
            continue
        common = col[1] if odd == 0 else col[0]
        if "[" in name:
            remedy = ("that category (or combination) has a single firm: merge rare levels "
                      "or drop that row")
        else:
            remedy = "remove it from the formula or use a measure that varies across firms"
        raise ModelError(
            f"regressor {name!r} has no usable variation in {what}: all of its {n} used rows "
            f"but one (index label {X.index[odd]!r}) equal {common:g}, so its coefficient "
            f"would rest on one firm; {remedy}."
        )
    norms = np.linalg.norm(values, axis=0)
    if np.any(norms == 0):
        name = names[int(np.flatnonzero(norms == 0)[0])]
        raise ModelError(f"regressor {name!r} is zero in every used row; remove it.")
    scaled = values / norms
    if np.linalg.matrix_rank(scaled) == k:
        return
    kept: list[int] = []
    for j in range(k):
        if kept:
            basis = scaled[:, kept]
            coef, *_ = np.linalg.lstsq(basis, scaled[:, j], rcond=None)
            resid = scaled[:, j] - basis @ coef
            if np.linalg.norm(resid) < 1e-8:
                partners = [names[i] for i, c in zip(kept, coef, strict=True) if abs(c) > 1e-8]
                raise ModelError(
                    f"regressor {names[j]!r} is perfectly collinear with "
                    f"{_names(partners)} in {what} (it is an exact linear combination of "
                    "them). Remove one of these terms from the formula."
                )
        kept.append(j)
    raise ModelError(f"{what} is rank deficient; remove redundant terms from the formula.")


def _odd_one_out(col: np.ndarray) -> int | None:
    """Position of the one value that differs when all others are equal (else None).

    A constant column (no odd value) also gives None: it is reported separately.
    """
    for candidate in (col[0], col[1]):
        differ = np.flatnonzero(col != candidate)
        if len(differ) == 1:
            return int(differ[0])
    return None


def _names(items) -> str:
    return ", ".join(repr(str(i)) for i in items)


def _close_names(name: str, columns) -> list[str]:
    return difflib.get_close_matches(name, sorted(columns), n=3, cutoff=0.6)
