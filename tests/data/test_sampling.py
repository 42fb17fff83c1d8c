"""Rotation sampling (sphembed.data.sampling): 2DOF without roll over the full sphere, uniform 3DOF, seeding."""

import numpy as np
import pytest

from sphembed.data.sampling import sample_rotations, view_angles_to_matrix


@pytest.mark.parametrize("mode", ["2dof", "3dof"])
def test_rotations_valid_and_seeded(mode):
    R = sample_rotations(500, mode, seed=3)
    assert R.shape == (500, 3, 3) and R.dtype == np.float64
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    np.testing.assert_array_equal(R, sample_rotations(500, mode, seed=3))
    assert not np.allclose(R, sample_rotations(500, mode, seed=4))


def test_view_angles_preset():
    np.testing.assert_allclose(view_angles_to_matrix(0.0, 0.0), np.eye(3), atol=1e-15)
    # azimuth 90 degrees: the object's left side (+X) turns toward the camera (+z)
    np.testing.assert_allclose(view_angles_to_matrix(np.pi / 2, 0.0) @ [1, 0, 0], [0, 0, -1], atol=1e-15)
    np.testing.assert_allclose(view_angles_to_matrix(-np.pi / 2, 0.0) @ [1, 0, 0], [0, 0, 1], atol=1e-15)
    # elevation 90 degrees: seen from above, the top (+Y) faces the camera
    np.testing.assert_allclose(view_angles_to_matrix(0.0, np.pi / 2) @ [0, 1, 0], [0, 0, 1], atol=1e-15)


def test_2dof_no_roll_full_sphere():
    R = sample_rotations(20000, "2dof", seed=0)
    # no roll: the object's up axis stays in the camera's y-z plane, never pointing down in the image
    up = R @ [0.0, 1.0, 0.0]
    np.testing.assert_allclose(up[:, 0], 0.0, atol=1e-12)
    assert np.all(up[:, 1] >= -1e-12)
    # the viewing direction R^T e_z is uniform on the sphere: mean 0, each coordinate uniform on [-1, 1]
    # (variance 1/3); with n = 20000 the standard errors are 0.004 (mean) and 0.002 (variance), checked at 5 sigma
    view = np.einsum("nji,j->ni", R, [0.0, 0.0, 1.0])
    np.testing.assert_allclose(view.mean(axis=0), 0.0, atol=0.02)
    np.testing.assert_allclose((view ** 2).mean(axis=0), 1 / 3, atol=0.01)


def test_3dof_uniform():
    R = sample_rotations(20000, "3dof", seed=0)
    # Haar measure: E[R] = 0, E[R_ij^2] = 1/3, and the rotation angle has density (1 - cos w) / pi,
    # so E[cos w] = E[(tr R - 1) / 2] = -1/2; standard errors <= 0.005, checked at ~4-5 sigma
    np.testing.assert_allclose(R.mean(axis=0), 0.0, atol=0.02)
    np.testing.assert_allclose((R ** 2).mean(axis=0), 1 / 3, atol=0.015)
    np.testing.assert_allclose(((np.trace(R, axis1=1, axis2=2) - 1) / 2).mean(), -0.5, atol=0.02)
    # 3DOF has roll: the up axis leaves the camera's y-z plane
    assert np.abs((R @ [0.0, 1.0, 0.0])[:, 0]).max() > 0.9


@pytest.mark.parametrize("mode, n, match", [("4dof", 3, "rotation mode must be one of"), ("2dof", -1, "n must be")])
def test_bad_arguments(mode, n, match):
    with pytest.raises(ValueError, match=match):
        sample_rotations(n, mode, seed=0)


def test_pair_rows_maps_indices_to_rows():
    """Rows follow the arrays' own order of `index` values, whatever it is; unknown indices are named."""
    from sphembed.data.pairs import pair_rows

    indices = np.array([7, 3, 11, 0])  # e.g. a split read back in shard order
    rows = pair_rows(indices, [[3, 11], [0, 7], [11, 3]])
    assert rows.dtype == np.int64
    np.testing.assert_array_equal(indices[rows], [[3, 11], [0, 7], [11, 3]])
    assert pair_rows(indices, np.zeros((0, 2))).shape == (0, 2)
    with pytest.raises(ValueError, match=r"IB pairs name indices missing from the data: \[5, 9\]"):
        pair_rows(indices, [[3, 5], [9, 0]], "IB pairs")
