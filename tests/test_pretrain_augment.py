"""The shipped model's training levers for ordinary photos: photometric degradations, mixup /
cutmix and the weight average (EMA) of ``train-pretrained``.

Each lever is measured on synthetic faces: what it changes and by how much, that its draws
are fixed by the seed, and that off means the batch is untouched. Then a tiny training with
every lever on: recorded in the state and the card's command, resumed to the same network,
and exported with the average weights.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from fer_engine.errors import ModelError  # noqa: E402
from fer_engine.pretrained import augment as aug  # noqa: E402
from fer_engine.pretrained.training import PretrainConfig  # noqa: E402

OFF = {k: 0 for k in aug.PHOTOMETRIC}


def _faces(n: int = 64, seed: int = 0) -> np.ndarray:
    """(n, 48, 48, 1) float32 mid-grey textures in [0.25, 0.75] (no clipping by the levers)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48]
    base = 0.5 + 0.15 * np.sin(xx[None] / rng.uniform(1.5, 4, (n, 1, 1))) \
        * np.cos(yy[None] / rng.uniform(1.5, 4, (n, 1, 1)))
    return np.clip(base + rng.normal(0, 0.05, (n, 48, 48)), 0.25, 0.75).astype(np.float32)[..., None]


def _photometric(x, seed=(7, 3), **levers):
    import tensorflow as tf

    cfg = PretrainConfig(**{**OFF, "photometric_p": 1.0, **levers})
    return np.asarray(aug.photometric(tf.constant(x), cfg, tf.constant(seed, tf.int64)))


def _high_frequency(x) -> np.ndarray:
    """Per image: mean squared difference of neighbouring pixels."""
    return (np.diff(x, axis=1) ** 2).mean(axis=(1, 2, 3)) + (np.diff(x, axis=2) ** 2).mean(axis=(1, 2, 3))


def test_gamma_raises_each_face_to_one_power_within_the_range():
    x = _faces()
    out = _photometric(x, gamma=0.5)
    power = np.log(out) / np.log(x)  # x in [0.25, 0.75]: log x < 0
    per_face = power.reshape(len(x), -1)
    np.testing.assert_allclose(per_face, np.broadcast_to(per_face[:, :1], per_face.shape),
                               rtol=1e-3)  # one power per face
    g = per_face[:, 0]
    assert np.all((g >= np.exp(-0.5) - 1e-4) & (g <= np.exp(0.5) + 1e-4))
    assert g.min() < 0.8 and g.max() > 1.25  # the range is used, both ways


def test_contrast_scales_the_deviation_from_the_mean_and_keeps_the_mean():
    x = _faces()
    out = _photometric(x, contrast=0.3)
    ratio = out.std(axis=(1, 2, 3)) / x.std(axis=(1, 2, 3))
    assert np.all((ratio >= 0.7 - 1e-4) & (ratio <= 1.3 + 1e-4))
    assert ratio.min() < 0.8 and ratio.max() > 1.2
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), x.mean(axis=(1, 2, 3)), atol=1e-5)


def test_blur_and_low_resolution_remove_fine_detail_and_keep_the_brightness():
    x = _faces()
    for levers in ({"blur": 1.5}, {"low_res": 0.6}):
        out = _photometric(x, **levers)
        kept = _high_frequency(out) / _high_frequency(x)
        assert np.all(kept < 1.0 + 1e-6) and np.median(kept) < 0.6, (levers, np.median(kept))
        if "blur" in levers:
            assert kept.max() > 0.6  # mild draws (sigma near 0) too
        np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), x.mean(axis=(1, 2, 3)), atol=0.01)
    # a sigma near 0 or the full side leaves a face as it is
    np.testing.assert_allclose(_photometric(x, blur=0.05), x, atol=1e-5)
    np.testing.assert_array_equal(_photometric(x, low_res=0.01), x)  # 47.5-48 px: 48


def test_noise_has_the_drawn_spread_and_jpeg_errors_grow_as_quality_falls():
    x = _faces(256)
    out = _photometric(x, noise=0.06)
    sd = (out - x).std(axis=(1, 2, 3))
    assert sd.max() <= 0.06 * 1.1 and abs(sd.mean() - 0.03) < 0.005  # uniform in [0, 0.06]
    err = {q: np.abs(_photometric(x, jpeg_quality=q) - x).mean() for q in (5, 60, 95)}
    assert err[5] > err[60] > err[95] > 0
    assert err[5] > 2 * err[95]


def test_each_lever_hits_the_share_of_faces_it_is_given_and_draws_are_seeded():
    x = _faces(400)
    out = _photometric(x, gamma=0.5, photometric_p=0.3)
    changed = np.abs(out - x).max(axis=(1, 2, 3)) > 1e-4
    assert 0.22 < changed.mean() < 0.38
    same = _photometric(x, gamma=0.5, photometric_p=0.3)
    np.testing.assert_array_equal(out, same)
    other = _photometric(x, seed=(7, 4), gamma=0.5, photometric_p=0.3)
    assert not np.array_equal(out, other)
    everything = dict(gamma=0.4, contrast=0.3, blur=1.0, low_res=0.5, noise=0.03, jpeg_quality=30)
    np.testing.assert_array_equal(_photometric(x, photometric_p=0.0, **everything), x)
    assert not aug.photometric_on(PretrainConfig()) and not aug.mixing_on(PretrainConfig())


def _mix(x, y, seed=(1, 2), crop=44, **levers):
    import tensorflow as tf

    cfg = PretrainConfig(**{"mixup": 0.0, "cutmix": 0.0, "mix_p": 1.0, **levers})
    xm, ym = aug.mix(tf.constant(x), tf.constant(y), cfg, tf.constant(seed, tf.int64), crop=crop)
    return np.asarray(xm), np.asarray(ym)


def _flat_batch(n: int = 7):
    """Face i is the constant i / 10 and of class i: a mixed face says what went in."""
    x = np.broadcast_to((np.arange(n, dtype=np.float32) / 10)[:, None, None, None],
                        (n, 48, 48, 1)).copy()
    return x, np.eye(n, dtype=np.float32)


def test_mixup_blends_faces_and_targets_with_one_weight():
    x, y = _flat_batch()
    lams = []
    for s in range(6):
        xm, ym = _mix(x, y, seed=(s, 0), mixup=0.4)
        np.testing.assert_allclose(ym.sum(1), 1.0, atol=1e-6)
        for i in range(len(x)):
            lam = ym[i, i]
            partner = [j for j in range(len(x)) if j != i and ym[i, j] > 1e-6]
            expect = x[i, 0, 0, 0] * lam + (x[partner[0], 0, 0, 0] * (1 - lam) if partner else 0)
            np.testing.assert_allclose(xm[i], expect if partner else x[i], atol=1e-5)
        lams.append(ym[np.arange(7), np.arange(7)][0])
    assert len({round(float(v), 4) for v in lams}) > 3  # a new weight per batch


def test_cutmix_targets_weigh_the_pasted_share_of_what_the_network_sees():
    x, y = _flat_batch()
    seen_any = False
    for s in range(8):
        xm, ym = _mix(x, y, seed=(s, 5), cutmix=1.0, crop=44)
        centre = xm[:, 2:46, 2:46, 0]
        for i in range(len(x)):
            pasted = np.abs(centre[i] - x[i, 0, 0, 0]) > 1e-6
            partner = [j for j in range(len(x)) if j != i and ym[i, j] > 1e-6]
            if partner:
                assert ym[i, partner[0]] == pytest.approx(pasted.mean(), abs=1e-5)
                seen_any = True
            else:
                assert pasted.mean() == 0.0
    assert seen_any


def test_mixing_probability_and_both_kinds():
    x, y = _flat_batch()
    np.testing.assert_array_equal(_mix(x, y, mixup=0.4, mix_p=0.0)[0], x)
    kinds = set()
    mixed = 0
    for s in range(40):
        xm, _ = _mix(x, y, seed=(s, 9), mixup=0.4, cutmix=1.0, mix_p=0.5)
        if not np.array_equal(xm, x):
            mixed += 1
            # cutmix keeps every pixel one of the batch's values; mixup blends them
            values = np.unique(np.round(xm, 5))
            kinds.add("cutmix" if set(values) <= set(np.round(x[:, 0, 0, 0], 5)) else "mixup")
    assert 10 <= mixed <= 30 and kinds == {"mixup", "cutmix"}


def test_levers_out_of_range_are_refused_in_plain_words(tmp_path):
    from fer_engine.pretrained.training import train

    X = np.zeros((16, 48, 48, 1), np.uint8)
    y = np.arange(16) % 7
    cfg = PretrainConfig(work_dir=str(tmp_path / "w"), repo_checkpoint="", jpeg_quality=120,
                         ema=1.0)
    with pytest.raises(ModelError, match="jpeg_quality must be 0 \\(off\\) or 1-95, not 120; "
                                         "ema must be at least 0 and below 1"):
        train(cfg, X, y, X, y, log=lambda _: None)


LEVERS = dict(gamma=0.4, contrast=0.3, blur=1.0, low_res=0.5, noise=0.03, jpeg_quality=30,
              photometric_p=0.6, mixup=0.2, cutmix=1.0, mix_p=0.8, ema=0.9)


def _tiny(tmp: Path, name: str, epochs: int = 2, **levers) -> PretrainConfig:
    return PretrainConfig(data=str(tmp), work_dir=str(tmp / name / "work"),
                          out_dir=str(tmp / name / "model"), repo_checkpoint="", epochs=epochs,
                          widths=(4,), repeats=(1,), dense=8, batch_size=16,
                          mixed_precision="off", **levers)


def test_the_levers_change_the_epochs_batches_and_nothing_else_when_off():
    import keras

    from fer_engine.pretrained.training import _augmenter, _dataset

    rng = np.random.default_rng(0)
    X = rng.integers(40, 216, (32, 48, 48, 1), dtype=np.uint8)
    y = np.arange(32) % 7

    def batches(cfg, epoch=0):
        keras.utils.set_random_seed(cfg.seed * 1000 + epoch)
        augment = _augmenter(cfg, cfg.seed * 1000 + epoch)
        return [(np.asarray(a), np.asarray(b)) for a, b in _dataset(cfg, X, y, epoch, augment)]

    plain = PretrainConfig(batch_size=16)
    base, again = batches(plain), batches(plain)
    for (a, b), (c, d) in zip(base, again):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert all(np.isin(b, (0.0, 1.0)).all() for _, b in base)  # plain one-hot targets
    levered = PretrainConfig(batch_size=16, **{k: v for k, v in LEVERS.items() if k != "ema"})
    first, second = batches(levered), batches(levered)
    for (a, b), (c, d) in zip(first, second):  # fixed by (seed, epoch, batch)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    diff = np.mean([np.abs(a - c).mean() for (a, _), (c, _) in zip(base, first)])
    assert diff > 0.02
    soft = np.concatenate([b for _, b in first])
    assert (soft.max(1) < 1).mean() > 0.2 and np.allclose(soft.sum(1), 1.0, atol=1e-5)
    later = batches(levered, epoch=1)
    assert not np.array_equal(first[0][0], later[0][0])
    # under mixed bfloat16 precision the geometric augmenter's faces are bfloat16: mixing too
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        mixed = batches(replace(levered, mixup=0.2, cutmix=0.0, mix_p=1.0))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert mixed[0][0].dtype.name == "bfloat16" and (mixed[0][1].max(1) < 1).any()


def test_a_training_with_every_lever_resumes_exactly_and_exports_the_average(tmp_path):
    """Two epochs straight and one + one resumed give the same raw weights and the same
    average; the state records the levers, the card's command repeats them, and the export
    serves the average (not the raw weights)."""
    import keras

    from fer_engine.models import load_model
    from fer_engine.pretrained.card import training_command
    from fer_engine.pretrained.training import STATE, average_weights, export, train

    rng = np.random.default_rng(3)
    X = rng.integers(0, 256, (48, 48, 48, 1), dtype=np.uint8)
    y = np.arange(48) % 7
    Xv, yv = X[:14], y[:14]

    def run(name, stop_after=None):
        return train(_tiny(tmp_path, name, **LEVERS), X, y, Xv, yv, log=lambda _: None,
                     stop_after=stop_after)

    straight, state = run("straight")
    run("split", stop_after=1)
    resumed, state2 = run("split")
    assert state2["epoch"] == 2
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    avg, avg2 = average_weights(straight), average_weights(resumed)
    for a, b in zip(avg, avg2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    raw = [np.asarray(v.value) for v in straight.trainable_variables]
    assert max(np.abs(a - r).max() for a, r in zip(avg, raw)) > 1e-4  # an average, not a copy
    saved = json.loads((tmp_path / "split" / "work" / STATE).read_text())["config"]
    assert {k: saved[k] for k in LEVERS} == LEVERS
    assert all("val_accuracy_ema_flip_tta" in h for h in state2["history"])
    command = training_command(saved)["command"]
    for flag in ("--gamma 0.4", "--jpeg-quality 30", "--mixup 0.2", "--cutmix 1.0",
                 "--mix-p 0.8", "--ema 0.9", "--low-res 0.5", "--photometric-p 0.6"):
        assert flag in command
    from fer_engine.pretrained.card import _training, _training_md

    md = "\n".join(_training_md(_training({**state2, "config": saved,
                                            "export": {"ema_weights": True}})))
    assert "per face: gamma exp(±0.4), contrast ±0.3" in md and "JPEG quality 30-95" in md
    assert "mixup (Beta 0.2) or cutmix (Beta 1.0), a batch mixed with probability 0.8" in md
    assert "decay 0.9 per step; the average is what was exported" in md

    cfg = _tiny(tmp_path, "straight", **LEVERS)
    export(straight, cfg, state, Path(cfg.out_dir))  # batch norms as trained: a pure swap
    for var, a in zip(straight.trainable_variables, avg):
        np.testing.assert_array_equal(np.asarray(var.value), a)
    served = load_model(Path(cfg.out_dir) / "model.keras").keras_model
    faces = Xv.astype(np.float32) / 255.0
    np.testing.assert_allclose(np.asarray(served(faces)),
                               np.asarray(straight(faces, training=False)), atol=1e-4)
    record = json.loads((Path(cfg.out_dir) / "training_state.json").read_text())["export"]
    assert record == {"batchnorm_recalibrated_on": 0, "ema_weights": True}
    keras.backend.clear_session()


def test_a_checkpoint_from_before_the_levers_resumes_with_them_off(tmp_path):
    """A state written before these settings existed has none of them: it resumes as long as
    they stay at their defaults (off), and is refused when one is turned on."""
    from fer_engine.pretrained.training import STATE, train

    X = np.random.default_rng(4).integers(0, 256, (32, 48, 48, 1), dtype=np.uint8)
    y = np.arange(32) % 7
    cfg = _tiny(tmp_path, "old", epochs=2)
    train(cfg, X, y, X[:8], y[:8], log=lambda _: None, stop_after=1)
    path = Path(cfg.work_dir) / STATE
    state = json.loads(path.read_text())
    for k in LEVERS:
        state["config"].pop(k)
    path.write_text(json.dumps(state))
    on = replace(cfg, mixup=0.2)
    with pytest.raises(ModelError, match="different settings \\(mixup\\)"):
        train(on, X, y, X[:8], y[:8], log=lambda _: None)
    logs = []
    _, done = train(cfg, X, y, X[:8], y[:8], log=logs.append)
    assert done["epoch"] == 2 and any("resuming after epoch 1 of 2" in m for m in logs)
    assert asdict(PretrainConfig())["mixup"] == 0.0
