"""``geocluster._base.linalg.neumann_solve`` against a dense solve."""

import numpy as np
import pytest
import scipy.sparse as sp

from geocluster._base.linalg import neumann_solve
from geocluster.errors import ModelError


def _row_standardised(n, k, seed):
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), k)
    cols = np.concatenate([rng.choice(np.delete(np.arange(n), i), k, replace=False)
                           for i in range(n)])
    W = sp.csr_array((np.full(n * k, 1.0 / k), (rows, cols)), shape=(n, n))
    return W


@pytest.mark.parametrize("rho", [-0.9, -0.3, 0.0, 0.25, 0.6, 0.95])
@pytest.mark.parametrize("shape", [(60,), (60, 3)])
def test_matches_dense_solve(rho, shape):
    W = _row_standardised(60, 5, seed=1)
    B = np.random.default_rng(2).normal(size=shape)
    expected = np.linalg.solve(np.eye(60) - rho * W.toarray(), B)
    got = neumann_solve(W, B, rho)
    assert got.shape == B.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-11 * np.abs(B).max() / (1 - abs(rho)))


def test_every_form_of_w_gives_the_same_answer():
    W = _row_standardised(40, 4, seed=3)
    B = np.random.default_rng(4).normal(size=40)
    ref = neumann_solve(W, B, 0.7)
    for form in (sp.csr_matrix(W), W.__matmul__, lambda v: W @ v):
        np.testing.assert_array_equal(neumann_solve(form, B, 0.7), ref)
    np.testing.assert_allclose(neumann_solve(W.toarray(), B, 0.7), ref, rtol=1e-13)


def test_non_symmetric_non_standardised_w():
    rng = np.random.default_rng(5)
    W = sp.random_array((50, 50), density=0.1, random_state=6, format="csr")
    W = W / (1.5 * np.abs(np.linalg.eigvals(W.toarray())).max())  # spectral radius 2/3
    B = rng.normal(size=50)
    expected = np.linalg.solve(np.eye(50) - 1.2 * W.toarray(), B)  # |rho| rad = 0.8
    np.testing.assert_allclose(neumann_solve(W, B, 1.2), expected, atol=1e-10)


def test_input_untouched_and_new_float_array():
    W = _row_standardised(10, 2, seed=7)
    B = np.arange(10)
    out = neumann_solve(W, B, 0.5)
    assert out.dtype == float and B.tolist() == list(range(10))
    zero = neumann_solve(W, B, 0.0)
    assert zero.tolist() == list(map(float, range(10))) and zero is not B


def test_zero_right_hand_side_and_empty():
    W = _row_standardised(10, 2, seed=7)
    assert neumann_solve(W, np.zeros(10), 0.9).tolist() == [0.0] * 10
    assert neumann_solve(sp.csr_array((0, 0)), np.zeros(0), 0.5).shape == (0,)


def test_tolerance_controls_accuracy():
    W = _row_standardised(30, 3, seed=8)
    B = np.random.default_rng(9).normal(size=30)
    exact = np.linalg.solve(np.eye(30) - 0.9 * W.toarray(), B)
    loose = np.abs(neumann_solve(W, B, 0.9, tol=1e-3) - exact).max()
    tight = np.abs(neumann_solve(W, B, 0.9) - exact).max()
    assert tight < 1e-10 < loose


@pytest.mark.filterwarnings("error")
def test_no_convergence_and_divergence_raise():
    swap = sp.csr_array(np.array([[0, 1.0], [1.0, 0]]))
    with pytest.raises(ModelError, match=r"^the series for \(I - rho W\)\^-1 did not converge in "
                                         r"50 terms at rho=1; rho is too close to the stability "
                                         r"bound"):
        neumann_solve(swap, np.array([1.0, 0.0]), 1.0, max_iter=50)
    with pytest.raises(ModelError, match=r"^the series for \(I - rho W\)\^-1 diverged after \d+ "
                                         r"terms at rho=3"):
        neumann_solve(swap, np.array([1.0, 0.0]), 3.0)
    with pytest.raises(ModelError, match=r"^rho=nan must be a finite number\.$"):
        neumann_solve(swap, np.array([1.0, 0.0]), float("nan"))
    with pytest.raises(ModelError, match=r"^rho='0.5' must be a finite number\.$"):
        neumann_solve(swap, np.array([1.0, 0.0]), "0.5")
