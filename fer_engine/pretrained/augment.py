"""Photometric degradations and batch mixing of the shipped model's training batches.

Ordinary photos differ from FER2013's crops in light, sharpness, resolution, sensor noise and
compression. :func:`photometric` degrades each training face in those ways, each lever applied
to each face with probability ``photometric_p``:

- ``gamma``: pixels raised to the power exp(u), u uniform in [-gamma, gamma];
- ``contrast``: deviation from the face's mean scaled by a factor uniform in [1 - c, 1 + c];
- ``blur``: Gaussian blur, sigma uniform in [0, blur] pixels of the 48x48 face;
- ``low_res``: the face shrunk to a side uniform in [48 (1 - low_res), 48] pixels (area
  averaging) and enlarged back (bilinear), as a small face in a photo is;
- ``noise``: Gaussian noise, its standard deviation uniform in [0, noise] (pixels in [0, 1]);
- ``jpeg_quality``: JPEG re-compression at a quality uniform in [jpeg_quality, 95] (0: off).

Applied in that order (light, optics, size, sensor, file). :func:`mix` then blends pairs of
faces of a batch and their one-hot targets: mixup (Zhang et al. 2018; weight lam ~ Beta(a, a))
or cutmix (Yun et al. 2019; a box of the partner's face pasted in, the targets weighted by the
share of the pixels the network sees, i.e. inside its central ``crop``), a batch mixed with
probability ``mix_p``, and with both on each mixed batch one or the other at even odds.

Every random draw is stateless, from a seed (2,) int tensor that the caller fixes by
(seed, epoch, batch index), so a resumed training draws what an uninterrupted one draws.
Inputs: (batch, 48, 48, 1) float32 in [0, 1]; targets (batch, classes).
"""

from __future__ import annotations

#: The photometric levers (PretrainConfig fields; 0 turns one off).
PHOTOMETRIC = ("gamma", "contrast", "blur", "low_res", "noise", "jpeg_quality")
#: The batch-mixing levers (Beta distribution parameters; 0 turns one off).
MIXING = ("mixup", "cutmix")
HIGHEST_JPEG_QUALITY = 95


def photometric_on(cfg) -> bool:
    return cfg.photometric_p > 0 and any(getattr(cfg, k) > 0 for k in PHOTOMETRIC)


def mixing_on(cfg) -> bool:
    return cfg.mix_p > 0 and any(getattr(cfg, k) > 0 for k in MIXING)


def check(cfg) -> list[str]:
    """Plain sentences for settings out of range (empty when all are usable)."""
    bad = []
    for name in ("photometric_p", "mix_p"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            bad.append(f"{name} must be between 0 and 1, not {getattr(cfg, name)}")
    for name in ("gamma", "contrast", "blur", "noise", "mixup", "cutmix"):
        if getattr(cfg, name) < 0:
            bad.append(f"{name} must not be negative, not {getattr(cfg, name)}")
    if cfg.contrast >= 1:
        bad.append(f"contrast must be below 1, not {cfg.contrast}")
    if not 0.0 <= cfg.low_res < 1.0:
        bad.append(f"low_res must be at least 0 and below 1, not {cfg.low_res}")
    if cfg.jpeg_quality and not 1 <= cfg.jpeg_quality <= HIGHEST_JPEG_QUALITY:
        bad.append(f"jpeg_quality must be 0 (off) or 1-{HIGHEST_JPEG_QUALITY}, not {cfg.jpeg_quality}")
    if not 0.0 <= cfg.ema < 1.0:
        bad.append(f"ema must be at least 0 and below 1, not {cfg.ema}")
    return bad


def _seeds(seed, n: int):
    import tensorflow as tf

    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=n)


def _gaussian_blur(x, sigma):
    """Blur each image of ``x`` (b, h, w, 1) with its own ``sigma`` (b,) (0: unchanged)."""
    import tensorflow as tf

    radius = 4
    taps = tf.range(-radius, radius + 1, dtype=tf.float32)
    s = tf.maximum(sigma, 1e-3)[:, None]
    k = tf.exp(-(taps[None, :] ** 2) / (2.0 * s**2))
    k = k / tf.reduce_sum(k, axis=1, keepdims=True)  # (b, taps): exactly a delta at sigma ~0
    imgs = tf.transpose(x, [3, 1, 2, 0])  # (1, h, w, b): each image its own channel
    imgs = tf.pad(imgs, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    kt = tf.transpose(k)  # (taps, b)
    imgs = tf.nn.depthwise_conv2d(imgs, kt[None, :, :, None], [1, 1, 1, 1], "VALID")
    imgs = tf.nn.depthwise_conv2d(imgs, kt[:, None, :, None], [1, 1, 1, 1], "VALID")
    return tf.transpose(imgs, [3, 1, 2, 0])


def photometric(x, cfg, seed):
    """``x`` degraded by the levers of ``cfg`` (see the module docstring), same shape."""
    import tensorflow as tf

    b = tf.shape(x)[0]
    size = x.shape[1]
    s = _seeds(seed, 2 * len(PHOTOMETRIC) + 1)

    def chosen(i):
        return tf.random.stateless_uniform([b], s[2 * i]) < cfg.photometric_p

    def draw(i, low, high):
        return tf.random.stateless_uniform([b], s[2 * i + 1], low, high)

    per_image = (slice(None), None, None, None)
    if cfg.gamma > 0:
        g = tf.exp(draw(0, -cfg.gamma, cfg.gamma))
        x = tf.where(chosen(0)[per_image], tf.pow(x, g[per_image]), x)
    if cfg.contrast > 0:
        c = draw(1, 1.0 - cfg.contrast, 1.0 + cfg.contrast)
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        y = tf.clip_by_value((x - mean) * c[per_image] + mean, 0.0, 1.0)
        x = tf.where(chosen(1)[per_image], y, x)
    if cfg.blur > 0:
        sigma = tf.where(chosen(2), draw(2, 0.0, cfg.blur), 0.0)
        x = _gaussian_blur(x, sigma)
    if cfg.low_res > 0:
        side = tf.cast(tf.round(draw(3, size * (1.0 - cfg.low_res), float(size))), tf.int32)
        side = tf.where(chosen(3), tf.maximum(side, 2), size)

        def shrink(args):
            img, n = args
            small = tf.image.resize(img, tf.stack([n, n]), method="area")
            return tf.image.resize(small, [size, size], method="bilinear")

        y = tf.map_fn(shrink, (x, side), fn_output_signature=tf.TensorSpec(x.shape[1:], tf.float32))
        x = tf.where((side < size)[per_image], y, x)
    if cfg.noise > 0:
        sd = tf.where(chosen(4), draw(4, 0.0, cfg.noise), 0.0)
        eps = tf.random.stateless_normal(tf.shape(x), s[2 * len(PHOTOMETRIC)])
        x = tf.clip_by_value(x + eps * sd[per_image], 0.0, 1.0)
    if cfg.jpeg_quality > 0:
        q = tf.cast(tf.floor(draw(5, float(cfg.jpeg_quality), HIGHEST_JPEG_QUALITY + 1.0)), tf.int32)
        use = chosen(5)

        def jpeg(args):
            img, quality, on = args
            return tf.cond(on, lambda: tf.image.adjust_jpeg_quality(img, quality), lambda: img)

        x = tf.map_fn(jpeg, (x, q, use), fn_output_signature=tf.TensorSpec(x.shape[1:], tf.float32))
    return x


def mix(x, y, cfg, seed, crop: int | None = None):
    """``(x, y)`` with pairs of faces blended by mixup or cutmix (see the module docstring).

    ``crop``: the side of the central square the network sees (``cfg.crop``); cutmix weights
    the targets by the partner's share of it. A batch left unmixed is returned unchanged.
    """
    import tensorflow as tf

    s = _seeds(seed, 6)
    b = tf.shape(x)[0]
    size = x.shape[1]
    crop = min(crop or size, size)
    partner = tf.argsort(tf.random.stateless_uniform([b], s[0]))
    xp, yp = tf.gather(x, partner), tf.gather(y, partner)

    def beta(alpha, seed_pair):
        pair = _seeds(seed_pair, 2)
        g1 = tf.random.stateless_gamma([], pair[0], alpha)
        g2 = tf.random.stateless_gamma([], pair[1], alpha)
        return g1 / (g1 + g2)

    mixed = tf.random.stateless_uniform([], s[1]) < cfg.mix_p
    if cfg.mixup > 0 and cfg.cutmix > 0:
        use_cutmix = tf.random.stateless_uniform([], s[2]) < 0.5
    else:
        use_cutmix = tf.constant(cfg.cutmix > 0)
    outs_x, outs_y = [x], [y]
    if cfg.mixup > 0:
        lam = beta(cfg.mixup, s[3])
        lx = tf.cast(lam, x.dtype)  # the geometric augmenter gives bfloat16 under mixed precision
        outs_x.append(lx * x + (1.0 - lx) * xp)
        lam = tf.cast(lam, y.dtype)
        outs_y.append(lam * y + (1.0 - lam) * yp)
    if cfg.cutmix > 0:
        lam = beta(cfg.cutmix, s[4])
        side = tf.sqrt(1.0 - lam) * size
        centre = tf.random.stateless_uniform([2], s[5], 0.0, float(size))
        lo = tf.clip_by_value(tf.round(centre - side / 2), 0.0, float(size))
        hi = tf.clip_by_value(tf.round(centre + side / 2), 0.0, float(size))
        idx = tf.range(size, dtype=tf.float32)
        rows = (idx >= lo[0]) & (idx < hi[0])
        cols = (idx >= lo[1]) & (idx < hi[1])
        box = rows[:, None] & cols[None, :]
        start = (size - crop) // 2
        seen = tf.reduce_mean(tf.cast(box[start:start + crop, start:start + crop], tf.float32))
        outs_x.append(tf.where(box[None, :, :, None], xp, x))
        seen = tf.cast(seen, y.dtype)
        outs_y.append((1.0 - seen) * y + seen * yp)
    if len(outs_x) == 3:
        pick = tf.where(use_cutmix, 2, 1)
    else:
        pick = tf.constant(1)
    pick = tf.where(mixed, pick, 0)
    return (tf.switch_case(pick, [lambda v=v: v for v in outs_x]),
            tf.switch_case(pick, [lambda v=v: v for v in outs_y]))
