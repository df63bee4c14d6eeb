"""Region attribution: share of a map on brows, eyes, nose, mouth and the rest of the face.

The regions are fixed fractional boxes ``(x0, y0, x1, y1)`` on the ALIGNED face crop
(fractions of its width and height, origin top-left), read off the mean of 3,000
FER2013 training faces (48x48, the face filling the crop, eyes at about 38% of the
height). They suit FER-style crops and the synthetic demo faces, and the crops our
face detector makes with its default margin only roughly: treat them as coarse.

========  ====================  =========================================
region    box (x0, y0, x1, y1)  meaning
========  ====================  =========================================
brows     0.14 0.20 0.86 0.32   both eyebrows and the lower forehead
eyes      0.12 0.32 0.88 0.47   both eyes and the corners beside them
nose      0.34 0.47 0.66 0.65   nose below the eyes down to the nostrils
mouth     0.24 0.67 0.76 0.89   lips and the mouth corners
rest      everything else       hair, forehead, cheeks, chin, background
========  ====================  =========================================

Boxes do not overlap, and ``rest`` takes every other pixel, so the shares of a map
sum to 1. A share only means something relative to its region's ``area`` (the
fraction of pixels): a uniform map gives each region its area.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Fractional boxes (x0, y0, x1, y1) on the aligned face crop; "rest" is the remainder.
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "brows": (0.14, 0.20, 0.86, 0.32),
    "eyes": (0.12, 0.32, 0.88, 0.47),
    "nose": (0.34, 0.47, 0.66, 0.65),
    "mouth": (0.24, 0.67, 0.76, 0.89),
}
REGION_NAMES: tuple[str, ...] = tuple(REGIONS) + ("rest",)


def region_masks(
    height: int, width: int, regions: dict[str, tuple[float, float, float, float]] = REGIONS
) -> dict[str, np.ndarray]:
    """Boolean (height, width) masks per region plus ``rest``; earlier regions win overlaps."""
    taken = np.zeros((height, width), dtype=bool)
    masks: dict[str, np.ndarray] = {}
    for name, (x0, y0, x1, y1) in regions.items():
        m = np.zeros_like(taken)
        m[round(y0 * height) : round(y1 * height), round(x0 * width) : round(x1 * width)] = True
        m &= ~taken
        taken |= m
        masks[name] = m
    masks["rest"] = ~taken
    return masks


def region_shares(map_2d: np.ndarray, regions=REGIONS) -> pd.Series:
    """Share of a non-negative map's total per region (sums to 1; NaN for an all-zero map).

    Negative values are clipped to 0 (use an :class:`Explanation`'s ``map``).
    """
    m = np.maximum(np.nan_to_num(np.asarray(map_2d, dtype=np.float64)), 0.0)
    if m.ndim != 2:
        raise ValueError(f"expected an (H, W) map, got {m.shape}")
    masks = region_masks(*m.shape, regions=regions)
    total = m.sum()
    return pd.Series(
        {name: (m[mask].sum() / total if total > 0 else np.nan) for name, mask in masks.items()},
        name="share",
    )


def region_areas(height: int, width: int, regions=REGIONS) -> pd.Series:
    """Fraction of pixels in each region (what a uniform map's shares would be)."""
    return pd.Series(
        {k: float(v.mean()) for k, v in region_masks(height, width, regions).items()}, name="area"
    )


def region_table(maps: np.ndarray, table: pd.DataFrame, *, regions=REGIONS) -> pd.DataFrame:
    """Tidy per-image region shares: one row per (image, region).

    ``maps``: (N, H, W) non-negative maps aligned with the N rows of ``table`` (e.g. a
    run's ``predictions.csv`` rows, or any table with ``true``/``pred``/subgroup
    columns). Returns the table's columns plus ``region``, ``share``, ``area``.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3 or len(maps) != len(table):
        raise ValueError(f"need one (H, W) map per table row: {maps.shape} vs {len(table)} rows")
    areas = region_areas(maps.shape[1], maps.shape[2], regions)
    shares = (
        np.stack([region_shares(m, regions).to_numpy() for m in maps])
        if len(maps)
        else np.zeros((0, len(areas)))
    )
    base = table.reset_index(drop=True)
    frames = []
    for j, name in enumerate(areas.index):
        f = base.copy()
        f["region"] = name
        f["share"] = shares[:, j]
        f["area"] = areas[name]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def aggregate_regions(
    tidy: pd.DataFrame, by: str | Sequence[str] = "true", *, confidence: float = 0.95
) -> pd.DataFrame:
    """Mean region share per group, ready for a heat-map (pivot on ``region``).

    ``by``: column(s) of the tidy table, e.g. ``"true"`` (per emotion), ``"pred"``,
    ``"gender"`` or ``["gender", "true"]``. Returns one row per group and region:
    ``by..., region, mean, sd, n, ci_low, ci_high, area`` where the CI is a
    Student-t interval of the mean (NaN for n < 2: with a handful of images the
    interval is wide, and it says so). Images with an all-zero map are left out
    (their ``n`` does not count them).
    """
    by = [by] if isinstance(by, str) else list(by)
    d = tidy.dropna(subset=["share"])
    g = d.groupby(by + ["region"], sort=False, observed=True)
    out = g["share"].agg(mean="mean", sd="std", n="count").reset_index()
    out["area"] = g["area"].first().to_numpy()
    half = (
        stats.t.ppf(0.5 + confidence / 2, np.maximum(out["n"] - 1, 1))
        * out["sd"]
        / np.sqrt(out["n"])
    )
    half = half.where(out["n"] >= 2)
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    order = {name: i for i, name in enumerate(REGION_NAMES)}
    out["_o"] = out["region"].map(order).fillna(len(order))
    out = out.sort_values(by + ["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    return out[by + ["region", "mean", "sd", "n", "ci_low", "ci_high", "area"]]


def region_attribution(
    model_or_keras,
    inputs: np.ndarray,
    table: pd.DataFrame,
    *,
    method: str = "gradcam",
    target: str = "pred",
    by=("true",),
    implementation: str = "fast",
    **options,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Explain a run's images and aggregate region shares per group.

    ``inputs``: (N, H, W, C) normalised inputs aligned with ``table``'s rows;
    ``target``: the table column whose label each map explains (``"pred"``: why the
    model said what it said; ``"true"``: what it used for the true class).
    Returns ``(tidy per-image table, aggregate per group)``; see :func:`region_table`
    and :func:`aggregate_regions`.
    """
    from fer_engine.explain.methods import explain_batch

    if target not in table.columns:
        raise ValueError(f"the table has no column '{target}'")
    maps = explain_batch(
        model_or_keras,
        inputs,
        method,
        targets=list(table[target]),
        implementation=implementation,
        **options,
    )
    tidy = region_table(maps, table)
    return tidy, aggregate_regions(tidy, list(by) if not isinstance(by, str) else by)
