"""Fit what the machine's axes do from measured cross centres: an affine map, its parts and their errors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


class FitError(ValueError):
    """Too few or degenerate points for an affine fit."""


@dataclass(frozen=True, eq=False)
class AffineFit:
    """``measured = matrix @ nominal + offset`` (mm), with the least-squares covariance and residuals.

    ``matrix``'s columns are the drawn X and Y axes; ``parts`` splits it as the machine's names do.
    """

    matrix: np.ndarray  # 2x2
    offset_mm: np.ndarray  # (2,)
    residuals_mm: np.ndarray  # (n, 2), measured - fitted
    used: np.ndarray  # (n_all,) bool: the points the fit kept
    parts: dict[str, float]  # scale_x, scale_y, skew_deg, rotation_deg
    sigmas: dict[str, float]  # one standard deviation of each part, and offset_x_mm, offset_y_mm

    @property
    def rms_mm(self) -> float:
        return float(np.sqrt(np.mean(np.sum(self.residuals_mm ** 2, axis=1))))

    def to_nominal(self, measured: np.ndarray) -> np.ndarray:
        """The nominal points the fitted map sends to ``measured`` (the inverse map)."""
        return (np.asarray(measured) - self.offset_mm) @ np.linalg.inv(self.matrix).T


def decompose(matrix: np.ndarray) -> dict[str, float]:
    """scale_x, scale_y (axis lengths), skew_deg (Y's lean from square toward +X), rotation_deg (of X)."""
    rotation = math.atan2(matrix[1, 0], matrix[0, 0])
    c, s = math.cos(rotation), math.sin(rotation)
    upper = np.array([[c, s], [-s, c]]) @ matrix
    return {
        "scale_x": float(math.hypot(matrix[0, 0], matrix[1, 0])),
        "scale_y": float(math.hypot(upper[0, 1], upper[1, 1])),
        "skew_deg": math.degrees(math.atan2(upper[0, 1], upper[1, 1])),
        "rotation_deg": math.degrees(rotation),
    }


def fit_affine(nominal: np.ndarray, measured: np.ndarray, reject_sigma: float = 4.0) -> AffineFit:
    """Least-squares affine map from ``nominal`` to ``measured`` points (n, 2), one round of outlier rejection.

    A point whose residual is more than ``reject_sigma`` robust standard deviations (and 0.05 mm) off is
    dropped and the fit repeated, so one smudged cross cannot bend the result.
    """
    nominal, measured = np.asarray(nominal, float), np.asarray(measured, float)
    used = np.ones(len(nominal), bool)
    for _ in range(2):
        design = np.column_stack([nominal[used], np.ones(used.sum())])
        if used.sum() < 4 or np.linalg.matrix_rank(design) < 3:
            raise FitError(f"an affine fit needs at least 4 points not on one line, got {int(used.sum())}")
        params, *_ = np.linalg.lstsq(design, measured[used], rcond=None)
        residual = measured - np.column_stack([nominal, np.ones(len(nominal))]) @ params
        distance = np.hypot(*residual.T)
        spread = 1.4826 * np.median(distance[used]) + 1e-9
        keep = distance <= max(reject_sigma * spread, 0.05)
        if (keep == used).all() or keep.sum() < 4:
            break
        used = keep
    matrix, offset = params[:2].T, params[2]
    residuals = residual[used]
    dof = max(2 * int(used.sum()) - 6, 1)
    variance = float(np.sum(residuals ** 2)) / dof
    covariance = variance * np.linalg.inv(design.T @ design)  # of each output coordinate's 3 parameters
    parts = decompose(matrix)
    # matrix[i, j] = params[j, i]: entries of one row share ``covariance``, rows are independent
    jac = np.zeros((4, 4))  # d part / d (m00, m01, m10, m11)
    for e in range(4):
        step = np.zeros(4)
        step[e] = 1e-7
        hi, lo = decompose(matrix + step.reshape(2, 2)), decompose(matrix - step.reshape(2, 2))
        jac[:, e] = [(hi[k] - lo[k]) / 2e-7 for k in parts]
    cov_m = np.zeros((4, 4))
    cov_m[:2, :2] = covariance[:2, :2]
    cov_m[2:, 2:] = covariance[:2, :2]
    cov_parts = jac @ cov_m @ jac.T
    sigmas = {k: float(np.sqrt(max(cov_parts[i, i], 0))) for i, k in enumerate(parts)}
    sigmas["offset_x_mm"] = sigmas["offset_y_mm"] = float(np.sqrt(covariance[2, 2]))
    return AffineFit(matrix=matrix, offset_mm=offset, residuals_mm=residuals, used=used, parts=parts, sigmas=sigmas)


def rigid_residuals_mm(nominal: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Each measured point's offset (n, 2) from its nominal one after the best turn and shift only (Kabsch).

    The sheet's placement on the glass or against the board is a turn and a shift; whatever remains is
    the machine's: how far its crosses are from where they were commanded. In the nominal frame.
    """
    nominal, measured = np.asarray(nominal, float), np.asarray(measured, float)
    a, b = nominal - nominal.mean(axis=0), measured - measured.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    turn = u @ np.diag([1.0, d]) @ vt  # a @ turn ~ b
    return b @ turn.T - a
