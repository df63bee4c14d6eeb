"""How much of a session each emotion took: raw shares with a block-bootstrap range, and
shares corrected for the model's known confusions.

**Raw share.** Over the analysed frames where the patient's face is seen, the share of
frames whose (unsmoothed) label is each emotion. The per-frame label is the model's answer
for that one face image, the same kind of answer its confusion matrix was measured on; the
time smoothing of the alerts is not used here, so the correction below stays valid.

**Range: moving-block bootstrap.** Neighbouring frames are not independent: an expression
lasts seconds, and at 5 analysed frames a second one smile is 10 or more frames. Resampling
single frames would treat them as that many independent observations and give a range far
too narrow. The moving-block bootstrap (Kuensch 1989) resamples runs of consecutive frames
of ``block_s`` seconds (default :data:`BLOCK_S`, several times longer than an expression's
typical duration and than the alerts' smoothing), with overlapping start positions drawn
uniformly, until the session's length is filled; the 2.5th and 97.5th percentiles of the
resampled shares are the 95 % range. Frames of one session only are resampled together:
sessions (and patients) are never pooled.

**Adjusted share.** A classifier's shares are biased by its errors: a model that calls 20 %
of fearful faces "sad" under-counts fear. With the confusion matrix ``C`` (rows: true
emotion, columns: answer; counts measured on labelled faces), ``M[i, j] = P(answer j |
true i)`` and the observed answer shares ``q = M^T p``, where ``p`` are the true shares.
*Adjusted classify-and-count* (Forman 2008) solves that for ``p`` (least squares, then
projected onto the simplex: shares stay in [0, 1] and sum to 1). *EM* (Saerens, Latinne & Decaestecker 2002)
re-estimates the shares from the model's probabilities, reweighting each frame's
probabilities by the ratio of new to training shares until they agree (it needs calibrated
probabilities and costs a pass over the frames per iteration and bootstrap round, so the
default is adjusted classify-and-count). Both assume that
the model confuses the patient's faces as it confused the labelled faces (the same
``P(answer | true emotion)``), which fails when the session's faces differ from those (light,
pose, a face unlike any in the labelled set). The confusion matrix's own uncertainty is
carried into the range: each bootstrap round also redraws every row of ``C`` (a multinomial
with that row's count and proportions) before solving.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_engine.analytics.stats import CONFIDENCE, percentile_interval

#: Length of the bootstrap's blocks, in seconds.
BLOCK_S: float = 10.0
#: Bootstrap rounds.
N_BOOT: int = 1000
#: What the adjustment assumes, in one sentence (reports and pages say it beside the numbers).
ADJUSTMENT_ASSUMES = (
    "The adjusted share corrects the model's known mistakes (its confusion matrix measured on "
    "labelled faces); it assumes the model confuses this patient's faces as it confused those "
    "labelled faces, which fails when the video's faces differ from them (light, pose, camera)."
)


def block_length(rate_hz: float, block_s: float = BLOCK_S) -> int:
    """Frames per block: ``block_s`` seconds at ``rate_hz`` analysed frames per second (>= 1)."""
    if not rate_hz > 0:
        return 1
    return max(1, int(round(block_s * rate_hz)))


def moving_block_indices(n: int, block: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) indices into a series of ``n`` items: each row is blocks of ``block``
    consecutive items with uniformly drawn (overlapping) starts, cut to length ``n``."""
    if n <= 0:
        return np.zeros((n_boot, 0), dtype=np.int64)
    block = int(min(max(1, block), n))
    n_blocks = -(-n // block)
    starts = rng.integers(0, n - block + 1, size=(n_boot, n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(n_boot, -1)
    return idx[:, :n]


def counts_of(labels: np.ndarray, k: int) -> np.ndarray:
    """Counts of the codes 0..k-1 in ``labels`` (negative codes, i.e. no face, ignored)."""
    labels = np.asarray(labels, dtype=np.int64)
    return np.bincount(labels[labels >= 0], minlength=k)[:k].astype(float)


def bootstrap_shares(labels: np.ndarray, k: int, *, block: int, n_boot: int = N_BOOT,
                     rng: np.random.Generator | None = None) -> np.ndarray:
    """(n_boot, k) shares of each code over moving-block resamples of ``labels`` ((n,) codes
    0..k-1 of the frames where the face is seen, in time order)."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = rng or np.random.default_rng(0)
    if labels.size == 0:
        return np.full((n_boot, k), np.nan)
    idx = moving_block_indices(labels.size, block, n_boot, rng)
    drawn = labels[idx]
    counts = np.stack([(drawn == j).sum(axis=1) for j in range(k)], axis=1).astype(float)
    return counts / labels.size


# --------------------------------------------------------------------------- adjustment


def conditional(confusion) -> np.ndarray:
    """``M[i, j] = P(answer j | true i)`` from confusion counts (rows true). A row without
    faces gets the identity row (no information: taken as always right)."""
    c = np.asarray(confusion, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {c.shape}")
    rows = c.sum(axis=1, keepdims=True)
    eye = np.eye(c.shape[0])
    return np.where(rows > 0, c / np.where(rows > 0, rows, 1.0), eye)


def project_simplex(x: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row of ``x`` (..., k) onto the simplex (entries >= 0,
    summing to 1); Duchi et al. 2008, vectorised."""
    x = np.asarray(x, dtype=float)
    k = x.shape[-1]
    u = -np.sort(-x, axis=-1)
    css = np.cumsum(u, axis=-1) - 1.0
    ind = np.arange(1, k + 1)
    cond = u - css / ind > 0
    rho = k - 1 - np.argmax(cond[..., ::-1], axis=-1)
    theta = np.take_along_axis(css, rho[..., None], axis=-1) / (rho[..., None] + 1.0)
    return np.clip(x - theta, 0.0, None)


def adjusted_classify_and_count(observed, confusion) -> np.ndarray:
    """True shares ``p`` from observed answer shares ``q`` and confusion counts (rows true,
    columns answers): ``p = (M^T)^+ q`` (least squares; pseudo-inverse where ``M`` is
    singular), projected onto the simplex so that shares stay in [0, 1] and sum to 1
    (Forman 2008's clip-and-renormalise, done as a projection). Vectorised: ``observed``
    (..., k) with ``confusion`` (k, k) or (..., k, k)."""
    q = np.asarray(observed, dtype=float)
    c = np.asarray(confusion, dtype=float)
    m = conditional(c) if c.ndim == 2 else np.stack([conditional(x) for x in c])
    inv = np.linalg.pinv(np.swapaxes(m, -1, -2))
    p = np.einsum("...ij,...j->...i", inv, np.nan_to_num(q))
    out = project_simplex(p)
    bad = ~np.all(np.isfinite(q), axis=-1)
    if np.any(bad):
        out = np.where(bad[..., None], np.nan, out)
    return out


def em_shares(probs, train_priors, *, tol: float = 1e-6, max_iter: int = 1000) -> np.ndarray:
    """Saerens, Latinne & Decaestecker (2002): the shares of the new data from the model's
    probabilities ``probs`` (n, k) trained under ``train_priors`` (k,). Each round reweights
    every frame's probabilities by ``new / train`` shares, renormalises, and takes their mean
    as the new shares, until they change by less than ``tol``."""
    p = np.asarray(probs, dtype=float)
    prior = np.asarray(train_priors, dtype=float)
    prior = prior / prior.sum()
    if p.size == 0:
        return np.full(prior.shape, np.nan)
    safe = np.where(prior > 0, prior, 1.0)
    est = p.mean(axis=0)
    for _ in range(max_iter):
        w = p * np.where(prior > 0, est / safe, 0.0)
        w = w / np.clip(w.sum(axis=1, keepdims=True), 1e-300, None)
        new = w.mean(axis=0)
        if np.max(np.abs(new - est)) < tol:
            est = new
            break
        est = new
    return est


def redraw_confusion(confusion, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, k, k) confusion matrices, each row redrawn as a multinomial with the row's
    count and proportions: the uncertainty of a confusion measured on finitely many faces."""
    c = np.asarray(confusion, dtype=float)
    rows = c.sum(axis=1)
    out = np.zeros((n_boot,) + c.shape)
    for i in range(c.shape[0]):
        if rows[i] > 0:
            out[:, i, :] = rng.multinomial(int(rows[i]), c[i] / rows[i], size=n_boot)
    return out


# --------------------------------------------------------------------------- one session


@dataclass
class SessionShares:
    """Shares of one session. Arrays are (k,) in ``labels`` order: ``share`` (raw),
    ``low``/``high`` (95 % block-bootstrap range), ``adjusted`` and its range (NaN without a
    confusion matrix); ``samples``: (B, k) the raw bootstrap shares (for trends); ``frames``:
    frames with the face seen; ``block``: frames per bootstrap block."""

    labels: tuple[str, ...]
    share: np.ndarray
    low: np.ndarray
    high: np.ndarray
    adjusted: np.ndarray
    adjusted_low: np.ndarray
    adjusted_high: np.ndarray
    samples: np.ndarray
    frames: int
    block: int
    method: str = "none"

    def to_dict(self) -> dict:
        """{emotion: {share, low, high, adjusted, adjusted_low, adjusted_high}} (NaN as None)."""
        def num(v):
            v = float(v)
            return v if np.isfinite(v) else None

        return {lab: {"share": num(self.share[j]), "low": num(self.low[j]),
                      "high": num(self.high[j]), "adjusted": num(self.adjusted[j]),
                      "adjusted_low": num(self.adjusted_low[j]),
                      "adjusted_high": num(self.adjusted_high[j])}
                for j, lab in enumerate(self.labels)}


def session_shares(labels: np.ndarray, class_names, *, rate_hz: float, confusion=None,
                   probs: np.ndarray | None = None, method: str = "acc",
                   block_s: float = BLOCK_S, n_boot: int = N_BOOT, seed: int = 0,
                   confidence: float = CONFIDENCE) -> SessionShares:
    """Raw and adjusted shares of one session.

    ``labels``: (n,) codes into ``class_names`` of the frames where the patient's face is
    seen, in time order; ``rate_hz``: analysed frames per second (sets the block length in
    frames). ``confusion``: (k, k) counts in ``class_names`` order (rows true) or None (no
    adjustment). ``method``: ``"acc"`` (adjusted classify-and-count) or ``"em"`` (Saerens
    et al.; needs ``probs`` (n, k), the frames' probabilities, and takes the training shares
    from the confusion's row sums). The adjusted range redraws the frames' blocks and the
    confusion's rows together in each of the ``n_boot`` rounds.
    """
    names = tuple(class_names)
    k = len(names)
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    block = block_length(rate_hz, block_s)
    n = int((labels >= 0).sum())
    labels = labels[labels >= 0]
    share = counts_of(labels, k) / n if n else np.full(k, np.nan)
    if n:
        idx = moving_block_indices(n, block, n_boot, rng)
        drawn = labels[idx]
        samples = np.stack([(drawn == j).mean(axis=1) for j in range(k)], axis=1)
    else:
        idx, samples = None, np.full((n_boot, k), np.nan)
    low, high = percentile_interval(samples, confidence, axis=0)
    nan = np.full(k, np.nan)
    adjusted, a_low, a_high = nan, nan.copy(), nan.copy()
    used = "none"
    if confusion is not None and n:
        c = np.asarray(confusion, dtype=float)
        if c.shape != (k, k):
            raise ValueError(f"the confusion matrix is {c.shape}, the model has {k} emotions")
        drawn_c = redraw_confusion(c, n_boot, rng)
        if method == "em":
            if probs is None:
                raise ValueError("the EM adjustment needs the frames' probabilities")
            p = np.asarray(probs, dtype=float)
            prior = c.sum(axis=1)
            adjusted = em_shares(p, prior)
            adj = np.stack([em_shares(p[idx[b]], drawn_c[b].sum(axis=1)) for b in range(n_boot)])
        elif method == "acc":
            adjusted = adjusted_classify_and_count(share, c)
            adj = adjusted_classify_and_count(samples, drawn_c)
        else:
            raise ValueError(f"method is 'acc' or 'em', not {method!r}")
        a_low, a_high = percentile_interval(adj, confidence, axis=0)
        used = method
    return SessionShares(names, share, np.asarray(low), np.asarray(high), adjusted,
                         np.asarray(a_low), np.asarray(a_high), samples, n, block, used)
