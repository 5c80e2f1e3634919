"""The one Neumann-series solver for ``(I - rho W)^-1 B`` (spatial lag reduced forms).

Used by the synthetic data-generating process, the large-n ML lag model and the
reduced-form predictions of results: ``(I - rho W)^-1 B = sum_k rho^k W^k B``, which
converges when ``|rho|`` times the spectral radius of ``W`` is below 1 (always for a
row-standardised ``W`` and ``|rho| < 1``). Each term costs one sparse product, so it is the
method of choice for large ``n`` and moderate ``|rho|``; it is written once here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from geocluster.errors import ModelError

__all__ = ["neumann_solve"]

#: Default relative size of the last term at which the series stops.
DEFAULT_TOL = 1e-13
#: A term this many times the right-hand side means the series diverges.
_DIVERGED = 1e100
#: Default largest number of terms.
DEFAULT_MAX_ITER = 10_000


def neumann_solve(
    W: sp.sparray | sp.spmatrix | np.ndarray | Callable[[np.ndarray], np.ndarray],
    B: np.ndarray,
    rho: float,
    *,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
) -> np.ndarray:
    """``(I - rho W)^-1 B`` by the Neumann series ``B + rho W B + rho^2 W^2 B + ...``.

    Parameters
    ----------
    W
        The n x n weights: a scipy sparse matrix or array, a dense array, or a function
        returning ``W @ v`` for an array ``v`` of the shape of ``B``.
    B
        The right-hand side, shape ``(n,)`` or ``(n, k)``; not modified.
    rho
        The spatial parameter; the series needs ``|rho| * spectral_radius(W) < 1``.
    tol
        The series stops when the largest absolute entry of the last term is at most
        ``tol`` times the largest absolute entry of ``B``.
    max_iter
        Largest number of terms.

    Returns
    -------
    numpy.ndarray
        A new float array of the shape of ``B``.

    Raises
    ------
    ModelError
        The series did not converge in ``max_iter`` terms, or diverged (``rho`` too close
        to, or beyond, the stability bound).

    Examples
    --------
    >>> W = sp.csr_array(np.array([[0, 1.0], [1.0, 0]]))
    >>> neumann_solve(W, np.array([1.0, 0.0]), 0.5).round(12).tolist()  # = [4/3, 2/3]
    [1.333333333333, 0.666666666667]
    >>> neumann_solve(W, np.array([1.0, 0.0]), 1.0)
    Traceback (most recent call last):
    ...
    geocluster.errors.ModelError: the series for (I - rho W)^-1 did not converge in 10000 terms at rho=1; ...
    """
    if isinstance(rho, bool) or not isinstance(rho, int | float | np.integer | np.floating) or (
            not np.isfinite(rho)):
        raise ModelError(f"rho={rho!r} must be a finite number.")
    lag = W if callable(W) and not isinstance(W, np.ndarray | sp.sparray | sp.spmatrix) \
        else W.__matmul__
    out = np.array(B, dtype=float, copy=True)
    if rho == 0 or out.size == 0:
        return out
    ref = max(float(np.max(np.abs(out))), 1e-300)
    term = out
    for k in range(1, max_iter + 1):
        term = rho * np.asarray(lag(term))
        out += term
        size = float(np.max(np.abs(term)))
        if size <= tol * ref:
            return out
        if not size <= _DIVERGED * ref:  # also NaN
            raise ModelError(
                f"the series for (I - rho W)^-1 diverged after {k} terms at rho={rho:.6g}: "
                "|rho| times the spectral radius of W is not below 1. Check rho and the weights "
                "(row-standardised weights need |rho| < 1)."
            )
    raise ModelError(
        f"the series for (I - rho W)^-1 did not converge in {max_iter} terms at rho={rho:.6g}; "
        "rho is too close to the stability bound (|rho| times the spectral radius of W must be "
        "below 1). Use a direct (sparse LU) solve or another weights spec."
    )
