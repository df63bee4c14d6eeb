"""How far a map can be trusted: deletion/insertion, model randomisation, method agreement.

- Deletion / insertion (Petsiuk et al. 2018, RISE): pixels are removed from (or added
  to) the input in order of attribution, in ``steps`` equal fractions; the target's
  probability is read at each step (all steps in one batched forward pass). A
  faithful map gives a LOW deletion area (the probability falls fast) and a HIGH
  insertion area. Areas are trapezoid areas over the fraction axis 0..1, so they
  lie in [0, 1].
- Model randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps"):
  on a COPY of the model, layers are re-initialised cumulatively from the top (the
  output) down; a map that depends on what the model learned must change, so its
  Spearman rank correlation with the original map must drop. Stage 0 is a rerun on
  the unchanged copy (1.0 for deterministic methods, lower for SmoothGrad).
- Agreement: Spearman rank correlation between the maps of different methods.

:func:`face_faithfulness` measures all three-way for one classified face and
:meth:`Faithfulness.lines` says it in one sentence each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from fer_engine.explain.core import (
    CACHE,
    Explanation,
    auto_batch_size,
    check_input,
    predict_proba,
    resolve,
    resolve_target,
)
from fer_engine import emotions
from fer_engine.explain.methods import SHORT_NAMES, explain, face_input, reference_input


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps of the same shape (NaN if either is constant)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps differ in size: {a.size} vs {b.size}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


@dataclass
class Curves:
    """Deletion and insertion curves of one map (probabilities of ``target``)."""

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    deletion_auc: float
    insertion_auc: float
    target: int

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: fraction, curve ('deletion'/'insertion'), probability."""
        return pd.concat(
            [
                pd.DataFrame({"fraction": self.fractions, "curve": name, "probability": values})
                for name, values in (("deletion", self.deletion), ("insertion", self.insertion))
            ],
            ignore_index=True,
        )


def pixel_order(map_2d: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices from most to least important; ties broken at random (seeded)."""
    m = np.nan_to_num(np.asarray(map_2d, dtype=np.float64)).ravel()
    rng = np.random.default_rng(seed)
    return np.lexsort((rng.random(m.size), -m))


def deletion_insertion(
    model_or_keras,
    x: np.ndarray,
    map_2d: np.ndarray,
    *,
    target=None,
    steps: int = 50,
    deletion_baseline="black",
    insertion_baseline="blur",
    seed: int = 0,
    batch_size: int | None = None,
) -> Curves:
    """Deletion and insertion curves and areas for one map.

    ``x``: normalised input (H, W, C); ``map_2d``: (H, W) importance (higher =
    more important; an :class:`Explanation`'s ``map``). At step i of 0..steps the
    top round(i/steps * H*W) pixels (all channels) are replaced by the deletion
    reference (default black pixels, normalised per the model's spec), or taken from
    ``x`` on top of the insertion reference (default the input blurred). See
    :func:`fer_engine.explain.methods.reference_input` for references.
    """
    res = resolve(model_or_keras)
    x = check_input(x, res)
    m = np.asarray(map_2d, dtype=np.float32)
    if m.shape != x.shape[:2]:
        raise ValueError(f"map shape {m.shape} does not match the input {x.shape[:2]}")
    if steps < 1:
        raise ValueError("steps must be 1 or more")
    probs0 = predict_proba(res.keras_model, x[None])[0]
    tgt = resolve_target(target, res.labels, probs0)
    h, w, _ = x.shape
    rank = np.empty(h * w, dtype=np.int64)
    rank[pixel_order(m, seed)] = np.arange(h * w)
    rank = rank.reshape(h, w)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * h * w).astype(np.int64)
    masks = (rank[None] < counts[:, None, None])[..., None]  # (steps+1, H, W, 1)
    del_ref = reference_input(x, res.spec, deletion_baseline)
    ins_ref = reference_input(x, res.spec, insertion_baseline)
    batch = np.concatenate(
        [np.where(masks, del_ref[None], x[None]), np.where(masks, x[None], ins_ref[None])]
    ).astype(np.float32)
    p = predict_proba(res.keras_model, batch, batch_size or auto_batch_size(x.shape))[:, tgt]
    deletion, insertion = p[: steps + 1], p[steps + 1 :]
    return Curves(
        fractions,
        deletion,
        insertion,
        float(np.trapezoid(deletion, fractions)),
        float(np.trapezoid(insertion, fractions)),
        tgt,
    )


# ---------------------------------------------------------------- model randomisation


def _copy_model(keras_model):
    import keras

    copy = keras.models.clone_model(keras_model)
    copy.set_weights(keras_model.get_weights())
    return copy


def _assign(copy, name: str, weights: list) -> None:
    """Set a layer's weights on the copy and on its cached softmax-free clone, if any.

    Weights are assigned to the existing variables, so compiled functions and
    tf-keras-vis objects built on them see the new values without a rebuild.
    """
    copy.get_layer(name).set_weights(weights)
    linear = CACHE.entry(copy).get("linear")
    if linear is not None:
        linear.get_layer(name).set_weights(weights)


def randomisation_check(
    model_or_keras,
    x: np.ndarray,
    method: str = "gradcam",
    *,
    target=None,
    layers: Sequence[str] | None = None,
    max_stages: int | None = None,
    seed: int = 0,
    **options,
) -> pd.DataFrame:
    """Cascading model randomisation: Spearman between the original and randomised maps.

    ``layers``: names to re-initialise, in this order (default every layer with
    weights, from the output down). Weights are cumulative: stage k has the first k
    layers re-initialised with fresh draws from each layer's own initialiser
    (a ``clone_model`` of the model; ``seed`` is passed to
    ``keras.utils.set_random_seed``, which seeds Python, NumPy and TF globally).
    ``max_stages``: report only this many stages, evenly spaced (always including
    the last: the whole model randomised), to bound the cost on big models. The
    original model is never modified. The target stays the original model's.
    Returns a DataFrame: ``stage, layer, n_randomised, spearman, target_probability``;
    stage 0 (``layer="none (rerun)"``) repeats the method on the unchanged copy.
    """
    import keras

    res = resolve(model_or_keras)
    x = check_input(x, res)
    base = explain(res, x, method, target=target, **options)
    tgt = base.target
    km = res.keras_model
    copy = _copy_model(km)
    rerun_options = dict(options)
    if method == "smoothgrad":
        rerun_options["seed"] = options.get("seed", 0) + 1
    rows = []

    def record(stage: int, name: str, n: int, opts: dict) -> None:
        ex = explain(copy, x, method, target=tgt, labels=res.labels, input_spec=res.spec, **opts)
        rows.append(
            {
                "stage": stage,
                "layer": name,
                "n_randomised": n,
                "spearman": rank_correlation(base.map, ex.map),
                "target_probability": float(ex.probabilities[tgt]),
            }
        )

    record(0, "none (rerun)", 0, rerun_options)
    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(km)
    names = (
        list(layers)
        if layers is not None
        else [lyr.name for lyr in reversed(copy.layers) if lyr.weights]
    )
    if not names:
        raise ValueError("the model has no layer with weights to randomise")
    report = set(range(1, len(names) + 1))
    if max_stages is not None and max_stages < len(names):
        report = {round(v) for v in np.linspace(1, len(names), max(1, max_stages))}
    for k, name in enumerate(names, start=1):
        _assign(copy, name, fresh.get_layer(name).get_weights())
        if k in report:
            record(k, name, k, options)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- agreement


def agreement_matrix(maps: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Spearman rank correlation between every pair of maps: a square DataFrame."""
    names = list(maps)
    mat = np.eye(len(names))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            mat[i, j] = mat[j, i] = rank_correlation(maps[a], maps[names[j]])
    return pd.DataFrame(mat, index=names, columns=names)


def method_agreement(
    model_or_keras,
    x: np.ndarray,
    methods: Sequence[str] = ("saliency", "smoothgrad", "gradcam", "gradcam++", "ig", "occlusion"),
    *,
    target=None,
    options: Mapping[str, dict] | None = None,
) -> tuple[pd.DataFrame, dict[str, Explanation]]:
    """Maps of several methods for one input and their Spearman agreement matrix.

    ``options``: per-method keyword options, e.g. ``{"ig": {"steps": 64}}``. All
    maps explain the same target (default the predicted class).
    """
    res = resolve(model_or_keras)
    x = check_input(x, res)
    options = options or {}
    tgt = resolve_target(target, res.labels, predict_proba(res.keras_model, x[None])[0])
    exps = {m: explain(res, x, m, target=tgt, **options.get(m, {})) for m in methods}
    return agreement_matrix({m: e.map for m, e in exps.items()}), exps


# ---------------------------------------------------------------- one classified face


@dataclass
class Faithfulness:
    """Deletion/insertion areas per method (and for a random pixel order), the target's
    name, and the Spearman agreement matrix between the methods' maps."""

    target: str
    deletion: dict[str, float]
    insertion: dict[str, float]
    random_deletion: float
    random_insertion: float
    agreement: pd.DataFrame

    def pairs(self) -> list[tuple[str, str, float]]:
        names = list(self.agreement.index)
        return [(a, b, float(self.agreement.loc[a, b]))
                for i, a in enumerate(names) for b in names[i + 1:]]

    @property
    def beats_random(self) -> bool:
        """True when at least one map lowers the probability faster than a random order of
        pixels does (a smaller deletion area): without one, no map shows what the
        prediction depended on better than chance."""
        return any(np.isfinite(v) and v < self.random_deletion for v in self.deletion.values())

    def lines(self) -> list[str]:
        """Sentences: deletion, insertion, agreement; then, when no map beats the random
        order on deletion, that the maps are not to be read as the model's reasons."""
        def row(values: dict[str, float]) -> str:
            return " · ".join(f"{SHORT_NAMES.get(m, m)} {v:.2f}" for m, v in values.items())

        target = emotions.display_name(self.target) if emotions.is_emotion(self.target) \
            else self.target
        out = [
            f"Deletion area (probability of {target} while the most important pixels are "
            f"removed first; lower = more faithful): {row(self.deletion)} · random order "
            f"{self.random_deletion:.2f}",
            f"Insertion area (probability of {target} while the most important pixels are "
            f"restored first; higher = more faithful): {row(self.insertion)} · random order "
            f"{self.random_insertion:.2f}",
        ]
        pairs = [p for p in self.pairs() if np.isfinite(p[2])]
        if pairs:
            vals = [v for _, _, v in pairs]
            lo = min(pairs, key=lambda p: p[2])
            out.append(
                f"Method agreement (Spearman rank correlation between the maps, 1 = same "
                f"ranking of pixels): median {np.median(vals):.2f} over {len(pairs)} pair"
                f"{'s' if len(pairs) > 1 else ''}, lowest {SHORT_NAMES.get(lo[0], lo[0])} vs "
                f"{SHORT_NAMES.get(lo[1], lo[1])} {lo[2]:.2f}.")
        else:
            out.append("Method agreement: needs two or more methods with non-constant maps.")
        if self.deletion and not self.beats_random:
            out.append(
                f"No map lowers the probability of {target} faster than removing pixels in a "
                "random order: for this face the maps should not be read as the model's "
                "reasons, only as pictures of where each method looked.")
        return out


def face_faithfulness(model, face, explanations: Mapping[str, Explanation], *, steps: int = 25,
                      seed: int = 0) -> Faithfulness:
    """Deletion/insertion areas of each map of one classified face (``explanations``: as
    :func:`fer_engine.explain.methods.explain_face` returns them) and of a random pixel
    order, and the agreement between the maps.

    ``steps``: points on each curve (one batched model call per curve pair).
    """
    x = face_input(face, model.input_spec)
    target = next(iter(explanations.values())).target if explanations else \
        int(np.argmax(face.probabilities))
    dele, ins = {}, {}
    for m, e in explanations.items():
        c = deletion_insertion(model, x, e.map, target=target, steps=steps, seed=seed)
        dele[m], ins[m] = c.deletion_auc, c.insertion_auc
    rnd = deletion_insertion(model, x, np.zeros(x.shape[:2], np.float32), target=target,
                             steps=steps, seed=seed)
    agreement = agreement_matrix({m: e.map for m, e in explanations.items()})
    return Faithfulness(model.labels[target], dele, ins, rnd.deletion_auc, rnd.insertion_auc,
                        agreement)
