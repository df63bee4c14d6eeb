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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from fer_engine.preprocess.crop import DEFAULT_MARGIN

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
    return float(pre.get("margin", DEFAULT_MARGIN)) if pre.get("detect", True) else 0.0


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


# ---------------------------------------------------------------- over a run's images

#: ``--by`` names a reader understands -> predictions.csv columns.
GROUP_ALIASES: dict[str, str] = {"emotion": "true", "predicted": "pred"}


@dataclass
class RunRegions:
    """Region shares of a run's images, each explained by the fold model that never saw it.

    ``participant_independent``: the run's protocol kept each person on one side of
    every split, so each image's fold model never saw that person.
    ``per_image``: one row per explained image: ``sample_id, path, participant, fold,
    true, pred`` and the run's demographic columns, ``status`` (pre-processing: ``face``,
    ``centre``, ``whole``), ``margin`` (of the crop, see the module docstring), then one
    share column per region (:data:`REGION_NAMES`; a row sums to 1, all NaN when the map
    was all zero). ``areas``: mean fraction of pixels per region over those crops (the
    shares a uniform map would get). ``notes``: plain sentences (sampling, leaky run,
    fallback crops, all-zero maps).
    """

    run_id: str
    method: str
    target: str
    per_image: pd.DataFrame
    areas: pd.Series
    n_rows: int
    labels: tuple[str, ...]
    participant_independent: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def n_images(self) -> int:
        """Images whose map had some attribution (they enter the means)."""
        return int(self.per_image[list(REGION_NAMES)].notna().all(axis=1).sum())

    def table(self, by: str = "emotion", min_participants: int | None = None) -> pd.DataFrame:
        """Mean share per region per group: see :func:`region_summary`."""
        return region_summary(self.per_image, by, labels=self.labels,
                              min_participants=min_participants)

    def small_groups_note(self, by: str, min_participants: int | None = None) -> str:
        """One line naming the groups under ``min_participants`` people ("" if none)."""
        from fer_engine.analytics.subgroups import MIN_PARTICIPANTS

        k = MIN_PARTICIPANTS if min_participants is None else min_participants
        t = self.table(by, k)
        small = t.loc[t["small_sample"], by].astype(str).tolist()
        return f"{by}: fewer than {k} people in " + ", ".join(small) + "." if small else ""


def region_summary(
    per_image: pd.DataFrame,
    by: str = "emotion",
    *,
    labels=None,
    min_participants: int | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean region share per group of a per-image table (:attr:`RunRegions.per_image`).

    ``by``: ``"emotion"`` (the true label), ``"predicted"``, or any column such as
    ``country_group``, ``age_group``, ``gender`` (missing values form the group
    ``unknown``). Returns one row per group: ``<by>, n_images, n_participants``, the mean
    share of each region (columns :data:`REGION_NAMES`, each row sums to 1),
    ``small_sample`` (fewer than ``min_participants`` people, default the analytics'
    ``MIN_PARTICIPANTS`` = 5), ``warning`` (the analytics' sentence, "" otherwise), and a
    95 % interval per region, ``<region>_low`` / ``<region>_high``: percentile interval of
    ``n_boot`` participant-level bootstrap resamples (people drawn with replacement within
    the group, their images kept together, as the analytics' accuracy intervals do); with
    one person the interval is that person's mean (no spread to measure: the warning says so).
    Images with an all-zero map are not counted. Emotions come in ``labels`` order.
    """
    from fer_engine.analytics.inputs import UNKNOWN, known_or_unknown
    from fer_engine.analytics.subgroups import MIN_PARTICIPANTS, small_sample_warning
    from fer_engine.errors import UserFacingError

    k = MIN_PARTICIPANTS if min_participants is None else int(min_participants)
    column = GROUP_ALIASES.get(by, by)
    if column not in per_image.columns:
        choices = ["emotion"] + [c for c in per_image.columns if c in _GROUPABLE]
        raise UserFacingError(
            f"This run's images have no '{by}' column; group by one of: {', '.join(choices)}."
        )
    shares = list(REGION_NAMES)
    d = per_image.dropna(subset=shares)
    key = known_or_unknown(d[column])
    g = d.assign(_group=key).groupby("_group", sort=False)
    out = g[shares].mean()
    out.insert(0, "n_participants", g["participant"].nunique())
    out.insert(0, "n_images", g.size())
    order = [str(v) for v in (labels or ())] if column in ("true", "pred") else []
    rank = {v: i for i, v in enumerate(order)}
    out = out.reset_index().rename(columns={"_group": by})
    out["_o"] = [(rank.get(v, len(rank)), v == UNKNOWN, v) for v in out[by]]
    out = out.sort_values("_o").drop(columns="_o").reset_index(drop=True)
    out["small_sample"] = out["n_participants"] < k
    out["warning"] = [small_sample_warning(int(n), k) for n in out["n_participants"]]
    low, high = _share_intervals(d.assign(_group=key), shares, out[by].tolist(), n_boot, seed)
    for j, name in enumerate(shares):
        out[f"{name}_low"], out[f"{name}_high"] = low[:, j], high[:, j]
    return out


def _share_intervals(d: pd.DataFrame, shares: list[str], groups: list[str], n_boot: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Participant-bootstrap percentile intervals of the mean shares, (n_groups, n_regions) each."""
    from fer_engine.analytics.stats import bootstrap_weights, percentile_interval

    rng = np.random.default_rng(seed)
    low = np.full((len(groups), len(shares)), np.nan)
    high = low.copy()
    for i, group in enumerate(groups):
        sub = d[d["_group"] == group]
        per = sub.groupby("participant", dropna=False)[shares].agg(["sum", "count"])
        sums = per.xs("sum", axis=1, level=1)[shares].to_numpy(dtype=float)  # (P, R)
        counts = per.xs("count", axis=1, level=1)[shares[0]].to_numpy(dtype=float)  # (P,)
        w = bootstrap_weights(len(counts), n_boot, rng)  # (B, P)
        samples = (w @ sums) / (w @ counts)[:, None]  # mean share of each resample's images
        low[i], high[i] = percentile_interval(samples, axis=0)
    return low, high


#: Columns that may be used as ``by`` besides the emotions.
_GROUPABLE = ("country_group", "age_group", "gender", "country", "pred")


def run_region_attribution(
    run,
    *,
    method: str = "gradcam",
    target: str = "pred",
    max_images: int | None = None,
    seed: int = 0,
    dataset=None,
    implementation: str = "fast",
    layer: str | None = None,
    **options,
) -> RunRegions:
    """Explain the images of a run and measure the share of each map per face region.

    ``run``: a run folder, run id or :class:`fer_engine.analytics.inputs.EvalRun`. Each
    image of ``predictions.csv`` is re-read from the run's dataset (``config.dataset.root``
    or ``dataset``), pre-processed with the run's settings (cached) and explained by the
    model of its own ``fold``: under ``loso``/``group-kfold`` that model never saw the
    person. ``target``: ``"pred"`` (why the model said what it said) or ``"true"``.
    ``max_images``: explain a random sample of that many images (``seed``), for speed.
    Augmented copies of the leaky ``paper`` protocol (``#aug`` sample ids) are skipped:
    their pixels are not stored. Crops of detected faces use the run's margin; fallback
    crops (no face found) and whole images use margin 0 (taken as face crops).
    ``method``, ``implementation``, ``layer``, ``options``: as
    :func:`fer_engine.explain.explain_batch`. Imports TensorFlow.
    """
    from fer_engine.analytics.inputs import as_eval_run, run_dataset_rows
    from fer_engine.errors import ModelError
    from fer_engine.models import load_model, read_meta
    from fer_engine.preprocess import InputSpec, prepare_dataset

    if target not in ("pred", "true"):
        raise ModelError(f"The target of region attribution is 'pred' or 'true', not '{target}'.")
    run = as_eval_run(run)
    if run.path is None or not (Path(run.path) / "models").is_dir():
        raise ModelError(f"Run {run.run_id} has no saved models, so nothing can be explained.")
    model_cfg = run.config.get("model") or {}
    if model_cfg.get("format") == "joblib" or model_cfg.get("name") == "hog_svm":
        raise ModelError(
            f"Run {run.run_id} is a HOG+SVM model: it has no gradients or layers to explain. "
            "Choose a run of a CNN, ResNet50 or VGG16 model."
        )
    table = run.predictions.reset_index(drop=True)
    paths = table["path"] if "path" in table.columns else table["sample_id"]
    dataset, rows, notes = run_dataset_rows(run, paths, dataset)
    n_rows = len(table)
    use = ~table["sample_id"].astype(str).str.contains(r"#aug\d+$", regex=True).to_numpy()
    if not use.all():
        notes.append(f"{int((~use).sum())} augmented copies skipped (their pixels are not stored).")
    pre = run.config.get("preprocess") or {}
    prepared = prepare_dataset(
        dataset,
        InputSpec.from_dict(read_meta(run.path)["input_spec"]),
        detect=bool(pre.get("detect", True)),
        margin=float(pre.get("margin", DEFAULT_MARGIN)),
        fallback=str(pre.get("fallback", "centre")),
        # Runs that do not name a detector were prepared with the Haar cascade, unaligned.
        detector=str(pre.get("detector", "haar")),
        align=bool(pre.get("align", False)),
    )
    status = prepared.status[rows].astype(str)
    usable = np.isin(status, ("face", "centre", "whole"))
    if not usable[use].all():
        notes.append(f"{int((~usable[use]).sum())} image(s) could not be pre-processed now and "
                     "are left out.")
    use &= usable
    index = np.flatnonzero(use)
    if max_images is not None and 0 < int(max_images) < len(index):
        notes.append(f"Explained a random sample of {int(max_images)} of {len(index)} images "
                     f"(seed {seed}).")
        index = np.sort(np.random.default_rng(seed).choice(index, int(max_images), replace=False))
    if not len(index):
        raise ModelError(f"No image of run {run.run_id} can be explained.")
    if run.leaky:
        notes.append("This run is LEAKY: its models saw these participants in training, so the "
                     "maps show a model that may have memorised the faces.")
    face_margin = crop_margin(run.config)
    sub = table.iloc[index].reset_index(drop=True)
    sub["status"] = status[index]
    sub["margin"] = np.where(sub["status"] == "face", face_margin, 0.0)
    if (sub["status"] == "centre").any() and face_margin > 0:
        notes.append(f"{int((sub['status'] == 'centre').sum())} image(s) had no face found: "
                     "their centre crop is taken as a face crop (margin 0).")
    folds = sub["fold"].to_numpy() if "fold" in sub else np.zeros(len(sub), int)
    shares = np.full((len(sub), len(REGION_NAMES)), np.nan)
    areas = np.zeros((len(sub), len(REGION_NAMES)))
    for fold in pd.unique(folds):
        at_fold = folds == fold
        model = load_model(run.path, fold=int(fold) if "fold" in sub else None)
        for margin in pd.unique(sub.loc[at_fold, "margin"]):
            idx = np.flatnonzero(at_fold & (sub["margin"].to_numpy() == margin))
            part = sub.iloc[idx].reset_index(drop=True)
            tidy, _ = region_attribution(
                model, prepared.inputs(rows[index[idx]]), part, method=method, target=target,
                margin=float(margin), implementation=implementation, layer=layer, **options,
            )
            wide = tidy.assign(_i=np.tile(np.arange(len(part)), len(REGION_NAMES)))
            shares[idx] = wide.pivot(index="_i", columns="region", values="share")[
                list(REGION_NAMES)].to_numpy()
            areas[idx] = region_areas(*prepared.X.shape[1:3], margin=float(margin)).to_numpy()
    for j, name in enumerate(REGION_NAMES):
        sub[name] = shares[:, j]
    zero = int(np.isnan(shares).any(axis=1).sum())
    if zero:
        notes.append(f"{zero} image(s) got an all-zero map (nothing to share out) and are not "
                     "counted.")
    mean_area = pd.Series(areas.mean(axis=0) if len(sub) else np.nan, index=list(REGION_NAMES),
                          name="area")
    independent = bool(run.protocol.get("participant_independent")) and not run.leaky
    return RunRegions(run.run_id, method, target, sub, mean_area, n_rows, run.labels,
                      independent, notes)
