"""Region attribution: share of a map on brows, eyes, nose, mouth and the rest of the face.

The regions are fixed fractional boxes ``(x0, y0, x1, y1)`` (fractions of width and
height, origin top-left) in FACE-BOX coordinates: 0..1 spans the face as a tight
FER2013 crop or a Haar face box frames it. They were read off the mean of 3,000
FER2013 training faces (48x48, eyes at about 38% of the height) and checked on the
mean of our detector's crops of the synthetic demo faces and on a real photo
(scikit-image's astronaut), where they land on brows, eyes, nose and mouth once the
crop margin is accounted for. They are coarse by design.

========  ====================  =========================================
region    box (x0, y0, x1, y1)  meaning
========  ====================  =========================================
brows     0.14 0.20 0.86 0.32   both eyebrows and the lower forehead
eyes      0.12 0.32 0.88 0.47   both eyes and the corners beside them
nose      0.34 0.47 0.66 0.65   nose below the eyes down to the nostrils
mouth     0.24 0.67 0.76 0.89   lips and the mouth corners
rest      everything else       hair, forehead, cheeks, chin, background
========  ====================  =========================================

``margin``: the crop a map covers may hold more than the face. Our pre-processing
cuts a square of side ``face * (1 + 2 * margin)`` centred on the detected face
(``fer_engine.preprocess.crop_box``), so a face-box fraction ``u`` sits at
``(margin + u) / (1 + 2 * margin)`` of the crop. Use ``margin=0`` for datasets of face
crops taken whole (FER2013, ``--no-detect``) and the run's ``preprocess.margin``
(default 0.2) when faces were detected; :func:`crop_margin` reads it from a run config.

Boxes do not overlap, and ``rest`` takes every other pixel, so the shares of a map
sum to 1. A share only means something relative to its region's ``area`` (the
fraction of pixels): a uniform map gives each region its area.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

Box = tuple[float, float, float, float]

#: Fractional boxes (x0, y0, x1, y1) in face-box coordinates; "rest" is the remainder.
REGIONS: dict[str, Box] = {
    "brows": (0.14, 0.20, 0.86, 0.32),
    "eyes": (0.12, 0.32, 0.88, 0.47),
    "nose": (0.34, 0.47, 0.66, 0.65),
    "mouth": (0.24, 0.67, 0.76, 0.89),
}
REGION_NAMES: tuple[str, ...] = (*REGIONS, "rest")


def crop_margin(config: dict) -> float:
    """The margin to use for a run's crops: its ``preprocess.margin`` if faces were
    detected, else 0 (the images were taken whole as face crops)."""
    pre = (config or {}).get("preprocess", {}) or {}
    return float(pre.get("margin", 0.2)) if pre.get("detect", True) else 0.0


def region_boxes(margin: float = 0.0, regions: dict[str, Box] = REGIONS) -> dict[str, Box]:
    """The region boxes as fractions of a crop with ``margin`` around the face."""
    if margin < 0:
        raise ValueError("margin must be 0 or more")
    k = 1.0 + 2.0 * margin
    return {
        name: tuple((margin + v) / k for v in box)  # type: ignore[misc]
        for name, box in regions.items()
    }


def region_masks(
    height: int, width: int, *, margin: float = 0.0, regions: dict[str, Box] = REGIONS
) -> dict[str, np.ndarray]:
    """Boolean (height, width) masks per region plus ``rest``; earlier regions win overlaps."""
    taken = np.zeros((height, width), dtype=bool)
    masks: dict[str, np.ndarray] = {}
    for name, (x0, y0, x1, y1) in region_boxes(margin, regions).items():
        m = np.zeros_like(taken)
        m[round(y0 * height) : round(y1 * height), round(x0 * width) : round(x1 * width)] = True
        m &= ~taken
        taken |= m
        masks[name] = m
    masks["rest"] = ~taken
    return masks


def region_shares(map_2d: np.ndarray, *, margin: float = 0.0, regions=REGIONS) -> pd.Series:
    """Share of a non-negative map's total per region (sums to 1; NaN for an all-zero map).

    Negative values are clipped to 0 (use an :class:`Explanation`'s ``map``).
    """
    m = np.maximum(np.nan_to_num(np.asarray(map_2d, dtype=np.float64)), 0.0)
    if m.ndim != 2:
        raise ValueError(f"expected an (H, W) map, got {m.shape}")
    masks = region_masks(*m.shape, margin=margin, regions=regions)
    total = m.sum()
    return pd.Series(
        {name: (m[mask].sum() / total if total > 0 else np.nan) for name, mask in masks.items()},
        name="share",
    )


def region_areas(height: int, width: int, *, margin: float = 0.0, regions=REGIONS) -> pd.Series:
    """Fraction of pixels in each region (what a uniform map's shares would be)."""
    masks = region_masks(height, width, margin=margin, regions=regions)
    return pd.Series({k: float(v.mean()) for k, v in masks.items()}, name="area")


def region_table(
    maps: np.ndarray, table: pd.DataFrame, *, margin: float = 0.0, regions=REGIONS
) -> pd.DataFrame:
    """Tidy per-image region shares: one row per (image, region).

    ``maps``: (N, H, W) non-negative maps aligned with the N rows of ``table`` (e.g. a
    run's ``predictions.csv`` rows, or any table with ``true``/``pred``/subgroup
    columns); ``margin``: see the module docstring. Returns the table's columns plus
    ``region``, ``share``, ``area``.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3 or len(maps) != len(table):
        raise ValueError(f"need one (H, W) map per table row: {maps.shape} vs {len(table)} rows")
    areas = region_areas(maps.shape[1], maps.shape[2], margin=margin, regions=regions)
    shares = (
        np.stack([region_shares(m, margin=margin, regions=regions).to_numpy() for m in maps])
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
    margin: float = 0.0,
    implementation: str = "fast",
    **options,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Explain a run's images and aggregate region shares per group.

    ``inputs``: (N, H, W, C) normalised inputs aligned with ``table``'s rows;
    ``target``: the table column whose label each map explains (``"pred"``: why the
    model said what it said; ``"true"``: what it used for the true class); ``margin``:
    the crops' margin around the face (0 for whole face-crop images such as FER2013,
    :func:`crop_margin` of the run config otherwise).
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
    tidy = region_table(maps, table, margin=margin)
    return tidy, aggregate_regions(tidy, list(by) if not isinstance(by, str) else by)
