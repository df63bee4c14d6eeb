"""Small statistics shared by the analytics modules: Wilson intervals, participant
(cluster) bootstrap weights, percentile intervals, permutation tests, JSON conversion.

Everything is vectorised with NumPy: a bootstrap is a (B, P) matrix of how many times
each of P participants is drawn in each of B resamples, multiplied by per-participant
counts. With 19 participants and 1,000 resamples that is a 19 x 1,000 matrix product.
"""

from __future__ import annotations

import dataclasses
import math
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

#: Default confidence level of every interval in the analytics (95 %).
CONFIDENCE: float = 0.95


def wilson_interval(successes, n, confidence: float = CONFIDENCE):
    """Wilson score interval for a binomial proportion.

    ``successes`` and ``n`` are counts (scalars or arrays of the same shape). Returns
    ``(low, high)`` as floats (scalars in, scalars out) or float arrays, in [0, 1].
    Where ``n == 0`` the proportion is undefined and both bounds are NaN.

    >>> [round(v, 4) for v in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    k = np.asarray(successes, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    if np.any(k < 0) or np.any(k > n_arr):
        raise ValueError("successes must lie between 0 and n")
    z = float(norm.ppf(0.5 + confidence / 2.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n_arr
        denom = 1.0 + z * z / n_arr
        centre = (p + z * z / (2.0 * n_arr)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n_arr + z * z / (4.0 * n_arr * n_arr)) / denom
        low = np.where(n_arr > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n_arr > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
        # exact ends: 0 successes -> low 0, all successes -> high 1 (no rounding residue)
        low = np.where((k == 0) & (n_arr > 0), 0.0, low)
        high = np.where((k == n_arr) & (n_arr > 0), 1.0, high)
    if low.ndim == 0:
        return float(low), float(high)
    return low, high


def ratio(num, den):
    """``num / den`` as float with NaN (no warning) where ``den == 0``."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def bootstrap_weights(n_clusters: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_clusters) int matrix: how often each cluster (participant) is drawn.

    Each row is one resample of ``n_clusters`` participants drawn with replacement,
    which is a multinomial draw with equal probabilities.
    """
    if n_clusters <= 0:
        return np.zeros((n_boot, 0), dtype=np.int64)
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot)


def percentile_interval(samples: np.ndarray, confidence: float = CONFIDENCE, axis: int = 0):
    """Percentile interval of bootstrap ``samples`` along ``axis``, ignoring NaN resamples.

    Returns ``(low, high)`` (floats or arrays); NaN where no resample is defined.
    """
    samples = np.asarray(samples, dtype=float)
    alpha = (1.0 - confidence) / 2.0
    valid = np.isfinite(samples)
    if not valid.any():
        shape = np.delete(np.array(samples.shape), axis) if samples.ndim > 1 else ()
        nan = np.full(tuple(shape), np.nan)
        return (float("nan"), float("nan")) if nan.ndim == 0 else (nan, nan.copy())
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, by design
        low = np.nanquantile(samples, alpha, axis=axis)
        high = np.nanquantile(samples, 1.0 - alpha, axis=axis)
    if np.ndim(low) == 0:
        return float(low), float(high)
    return low, high


def cluster_bootstrap_accuracy(
    correct: np.ndarray,
    total: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, np.ndarray]:
    """Participant-level bootstrap of pooled accuracy.

    ``correct``, ``total``: per-participant counts, shape (P,). Resamples participants
    with replacement; each resample's accuracy is sum(correct) / sum(total) over the drawn
    participants. Returns ``(low, high, samples)``; with one participant every resample
    is that participant, so the interval is degenerate (low == high == its accuracy).
    """
    correct = np.asarray(correct, dtype=float)
    total = np.asarray(total, dtype=float)
    if correct.size == 0 or n_boot <= 0:
        return float("nan"), float("nan"), np.empty(0)
    w = bootstrap_weights(correct.size, n_boot, rng)
    samples = ratio(w @ correct, w @ total)
    low, high = percentile_interval(samples, confidence)
    return low, high, samples


def permutation_test_means(
    correct: np.ndarray,
    total: np.ndarray,
    in_group: np.ndarray,
    n_perm: int,
    rng: np.random.Generator,
    max_exact: int = 100_000,
) -> tuple[float, str, int]:
    """Two-sided permutation test of a difference in pooled accuracy between two groups.

    ``correct``, ``total``: per-participant counts, shape (P,) for the participants of
    both groups; ``in_group``: bool (P,), True for the first group. The group labels are
    permuted over participants (group sizes kept). Statistic: pooled accuracy of the
    first group minus pooled accuracy of the second.

    When the number of distinct relabelings C(P, n_group) is at most ``max_exact`` all of
    them are enumerated (exact p-value: share of relabelings at least as extreme as the
    observed one, the observed one included); otherwise ``n_perm`` random relabelings are
    drawn and p = (1 + #extreme) / (1 + n_perm). Returns ``(p, method, n_relabelings)``.
    """
    correct = np.asarray(correct, dtype=float)
    total = np.asarray(total, dtype=float)
    in_group = np.asarray(in_group, dtype=bool)
    p_count, k = in_group.size, int(in_group.sum())
    if k == 0 or k == p_count:
        return float("nan"), "none", 0
    all_c, all_n = correct.sum(), total.sum()

    def stat(c_in, n_in):
        return ratio(c_in, n_in) - ratio(all_c - c_in, all_n - n_in)

    observed = stat(correct[in_group].sum(), total[in_group].sum())
    n_comb = math.comb(p_count, k)
    if n_comb <= max_exact:
        idx = np.array(list(combinations(range(p_count), k)), dtype=np.int64)
        stats = stat(correct[idx].sum(axis=1), total[idx].sum(axis=1))
        extreme = np.abs(stats) >= abs(observed) - 1e-12
        return float(extreme.mean()), "exact", int(n_comb)
    order = np.argsort(rng.random((n_perm, p_count)), axis=1)[:, :k]
    stats = stat(correct[order].sum(axis=1), total[order].sum(axis=1))
    extreme = int((np.abs(stats) >= abs(observed) - 1e-12).sum())
    return (1.0 + extreme) / (1.0 + n_perm), "monte carlo", int(n_perm)


def to_jsonable(obj: Any) -> Any:
    """Convert analytics results to plain JSON types.

    DataFrames become lists of records, Series dicts, dataclasses dicts, NumPy scalars
    Python numbers, and NaN/inf become ``None`` (JSON has no NaN).
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, pd.DataFrame):
        frame = obj.reset_index() if _named_index(obj) else obj
        return [
            {str(k): to_jsonable(v) for k, v in row.items()}
            for row in frame.to_dict(orient="records")
        ]
    if isinstance(obj, pd.Series):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, (int, str)):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


def _named_index(frame: pd.DataFrame) -> bool:
    return any(name is not None for name in frame.index.names)
