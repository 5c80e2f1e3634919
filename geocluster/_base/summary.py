"""The one summary type every geocluster result returns from ``summary()``.

A :class:`Summary` is a title, a few key-value lines, one main table and optional notes. It
prints as text (``str``/``repr``/:meth:`Summary.as_text`), renders as escaped HTML in
notebooks (``_repr_html_``) and gives its main table back with :meth:`Summary.to_frame`.

The column vocabulary of tables across geocluster is fixed here:

* coefficient tables: :data:`COEF_COLUMNS` (``estimate``, ``std_error``, ``statistic``,
  ``p_value``, ``ci_low``, ``ci_high``), indexed by term;
* any p-value column is called :data:`P_VALUE` (``p_value``);
* confidence bounds are :data:`CI_LOW` / :data:`CI_HIGH`.

Examples
--------
>>> import pandas as pd
>>> s = Summary("Example", top=[("n", "3")], table=pd.DataFrame({"x": [1.0, 2.5]}))
>>> print(s)  # doctest: +NORMALIZE_WHITESPACE
Example
=======
n: 3
-------
     x
0  1.0
1  2.5
>>> s.to_frame().shape
(2, 1)
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Summary", "COEF_COLUMNS", "P_VALUE", "CI_LOW", "CI_HIGH", "format_number"]

P_VALUE = "p_value"
CI_LOW = "ci_low"
CI_HIGH = "ci_high"
#: The columns of every coefficient table (``to_frame()`` of a model result), in order.
COEF_COLUMNS = ("estimate", "std_error", "statistic", P_VALUE, CI_LOW, CI_HIGH)


def format_number(value: object) -> str:
    """Four significant decimals, scientific for very large or small magnitudes.

    Examples
    --------
    >>> format_number(0.123456), format_number(1234567.0), format_number(float("nan"))
    ('0.1235', '1.235e+06', 'nan')
    """
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(value)
    if not isinstance(value, float | np.floating):
        return str(value)
    value = float(value)
    if not np.isfinite(value):
        return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4f}"


@dataclass(frozen=True)
class Summary:
    """A printable summary: text with ``str()``, escaped HTML in notebooks.

    Parameters
    ----------
    title : str
        The heading.
    top : sequence of (str, str)
        Key-value lines shown above the table (model, n, fit statistics, ...).
    table : pandas.DataFrame
        The main table; a coefficient table has the columns :data:`COEF_COLUMNS`.
    notes : sequence of str
        Free-text lines shown below the table (warnings, what the p-values mean).
    statistic : str
        What the ``statistic`` column of a coefficient table holds (``"z"`` or ``"t"``);
        used as its printed heading.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"estimate": [0.5], "std_error": [0.1], "statistic": [5.0],
    ...                       "p_value": [1e-6], "ci_low": [0.3], "ci_high": [0.7]},
    ...                      index=["x"])
    >>> s = Summary("A model", top=[("n", "100")], table=table)
    >>> s.to_frame().columns.tolist() == list(COEF_COLUMNS)
    True
    >>> "<h4>A model</h4>" in s._repr_html_()
    True
    """

    title: str
    top: Sequence[tuple[str, str]] = ()
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: Sequence[str] = ()
    statistic: str = "z"

    # -- text ---------------------------------------------------------------------------
    def _is_coefficients(self) -> bool:
        return tuple(self.table.columns) == COEF_COLUMNS

    def _top_lines(self, width: int) -> list[str]:
        pairs = [(str(k), str(v)) for k, v in self.top]
        if not pairs:
            return []
        if width < 78 or len(pairs) < 4:
            return [f"{k}: {v}" for k, v in pairs]
        half = (len(pairs) + 1) // 2
        left, right = pairs[:half], pairs[half:]
        lines = []
        for i in range(half):
            a = f"{left[i][0] + ':':<18}{left[i][1]:>20}"
            b = f"{right[i][0] + ':':<18}{right[i][1]:>20}" if i < len(right) else ""
            lines.append(f"{a}  {b}".rstrip())
        return lines

    def _coefficient_lines(self) -> list[str]:
        tab = self.table
        stat = self.statistic
        name_w = max(14, min(34, max((len(str(t)) for t in tab.index), default=0) + 1))
        head = (
            f"{'':<{name_w}}{'coef':>10}{'std err':>11}{stat:>9}{'P>|' + stat + '|':>9}"
            f"{'[' + 'ci_low':>11}{'ci_high' + ']':>11}"
        )
        lines = [head, "-" * len(head)]
        for term, row in tab.iterrows():
            label = str(term) if len(str(term)) < name_w else str(term)[: name_w - 2] + "~"
            cells = [format_number(float(v)) for v in row.to_numpy()]
            stat_cell = f"{float(row.iloc[2]):.3f}" if np.isfinite(row.iloc[2]) else "nan"
            p_cell = f"{float(row.iloc[3]):.3f}" if np.isfinite(row.iloc[3]) else "nan"
            lines.append(
                f"{label:<{name_w}}{cells[0]:>10}{cells[1]:>11}{stat_cell:>9}{p_cell:>9}"
                f"{cells[4]:>11}{cells[5]:>11}"
            )
        return lines

    def as_text(self) -> str:
        """The summary as plain text."""
        if self._is_coefficients():
            body = self._coefficient_lines()
        elif self.table.empty and not len(self.table.columns):
            body = []
        else:
            body = self.table.to_string(float_format=format_number).splitlines()
        width = max([len(self.title), *(len(b) for b in body), 20])
        wide = self._is_coefficients() or width >= 78
        width = max(width, 78) if wide else width
        title = self.title.center(width).rstrip() if wide else self.title
        rule = "=" * (width if wide else len(self.title))
        lines = [title, rule, *self._top_lines(width if wide else 0)]
        if body:
            lines += [rule if wide else "-" * len(self.title), *body]
        if wide:
            lines.append(rule)
        for note in self.notes:
            lines += textwrap.wrap(str(note), max(width, 40))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return self.as_text()

    # -- HTML ---------------------------------------------------------------------------
    def as_html(self) -> str:
        """The summary as an HTML fragment; every text is escaped."""
        top = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.top
        )
        notes = "".join(f"<p>{html.escape(str(n))}</p>" for n in self.notes)
        table = self.table.to_html(float_format=format_number, escape=True)
        return (
            f"<div><h4>{html.escape(self.title)}</h4><table>{top}</table>"
            f"{table}{notes}</div>"
        )

    def _repr_html_(self) -> str:
        return self.as_html()

    # -- data ---------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """A copy of the main table."""
        return self.table.copy()
