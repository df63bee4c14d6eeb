"""The first convolution layer: its filters and its activations, as image grids."""

from __future__ import annotations

import math

import numpy as np

from fer_engine.explain.core import CACHE, check_input, first_conv_layer, resolve


def tile_grid(
    tiles: np.ndarray, *, cols: int | None = None, pad: int = 1, pad_value: float = 1.0
) -> np.ndarray:
    """Arrange (N, h, w) or (N, h, w, 3) tiles in a near-square grid, ``pad`` pixels apart.

    Returns (rows*(h+pad)-pad, cols*(w+pad)-pad[, 3]) float32.
    """
    tiles = np.asarray(tiles, dtype=np.float32)
    n, h, w = tiles.shape[:3]
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    shape = (rows * (h + pad) - pad, cols * (w + pad) - pad) + tiles.shape[3:]
    grid = np.full(shape, pad_value, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tiles[i]
    return grid


def _unit(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def first_conv_filters(model_or_keras, *, layer: str | None = None, pad: int = 1) -> dict:
    """Filters of the first Conv2D layer.

    Returns ``{"layer", "kernel": (kh, kw, in, out) raw weights, "grid": image}``: the
    grid holds one tile per filter, scaled to [0, 1] over all filters together (so
    their strengths compare); tiles are gray (kh, kw) for a 1-channel input and
    RGB (kh, kw, 3) for a 3-channel one (other channel counts: the channel mean).
    """
    res = resolve(model_or_keras)
    name = layer or first_conv_layer(res.keras_model)
    kernel = np.asarray(res.keras_model.get_layer(name).get_weights()[0], dtype=np.float32)
    tiles = np.moveaxis(kernel, -1, 0)  # (out, kh, kw, in)
    tiles = tiles if tiles.shape[-1] == 3 else tiles.mean(axis=-1)
    return {"layer": name, "kernel": kernel, "grid": tile_grid(_unit(tiles), pad=pad)}


def first_conv_activations(
    model_or_keras, x: np.ndarray, *, layer: str | None = None, pad: int = 1
) -> dict:
    """Activations of the first Conv2D layer for one normalised input.

    Returns ``{"layer", "activations": (h, w, n) float32, "grid": (.., ..) in [0, 1]}``
    (each map scaled to its own range, so weak maps stay visible).
    """
    import keras

    res = resolve(model_or_keras)
    x = check_input(x, res)
    name = layer or first_conv_layer(res.keras_model)
    sub = CACHE.get(
        res.keras_model,
        ("sub", name),
        lambda: keras.Model(res.keras_model.inputs[0], res.keras_model.get_layer(name).output),
    )
    acts = np.asarray(sub(x[None], training=False))[0].astype(np.float32)
    tiles = np.stack([_unit(acts[..., i]) for i in range(acts.shape[-1])])
    return {"layer": name, "activations": acts, "grid": tile_grid(tiles, pad=pad)}
