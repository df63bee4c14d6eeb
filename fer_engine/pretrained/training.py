"""Training of the shipped FER2013 model: long, resumable, checkpointed every epoch.

This is not one of the study protocols (those live in :mod:`fer_engine.experiments.training`):
it trains :mod:`fer_engine.models.fervgg` on FER2013's ``train`` split with the
dataset's own ``public_test`` split for monitoring, and exports the result with
its model card to ``artifacts/pretrained/``.

Recipe: SGD with Nesterov momentum, one warm-up epoch then cosine decay to zero,
decoupled weight decay, label smoothing, and augmentation of training batches only
(flip, rotation, shift, zoom, random erasing; optionally photometric degradations and
mixup / cutmix, :mod:`fer_engine.pretrained.augment`), optionally a moving average of the
weights (EMA, exported instead of the raw weights). The *last* epoch is exported (no
checkpoint is picked by its public-test score); public_test was still watched while
the recipe and the schedule length were chosen, so the card calls its figures optimistic.
A resumed run may change ``--epochs``: the cosine schedule is re-scaled from the current
step and the change recorded in the state (and the card).

Every epoch ends with an atomic checkpoint (model + optimizer state + history) in
the work folder, outside the repository (``~/.cache/fer_engine/pretrain`` unless
``FER_PRETRAIN_DIR`` or ``--work-dir`` says otherwise), and with a compact copy in the
repository (``artifacts/pretrained/training/``: weights and optimiser slots in float16,
about 8 MB, overwritten in place) that a fresh checkout can resume from. Running the same
command again resumes after the last completed epoch of whichever of the two is further
along, and says which. Each epoch's data order, augmentation and dropout masks are seeded by
(seed, epoch), so a resumed run computes the same network as an uninterrupted one
(on the same machine; tests/test_model_card.py checks it). The augmentation runs in
one tf.data call at a time: in parallel its random stream was shared out in whatever
order the calls came, and it costs little (15-27 ms of a 350-700 ms step, measured).

Mixed bfloat16 precision is used on CPUs with AMX/AVX512-BF16 (about twice as fast in
an early measurement here; two interleaved rounds of benchmarks/pretrain_speed.py on
2026-11-23, 86/133 images/s against float32's 131/79 on the 2-core development machine,
could not tell them apart on a busy host); the
exported model is float32 with batch norms folded.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fer_engine.emotions import FER2013_EMOTIONS
from fer_engine.errors import DatasetError, ModelError
from fer_engine.paths import pretrained_dir

CHECKPOINT = "checkpoint.keras"
STATE = "state.json"
#: The compact checkpoint kept in the repository (beside its own STATE).
COMPACT = "checkpoint.npz"
#: Settings a checkpoint may be resumed under with another value: where the checkpoints and the
#: export live, and the schedule length (a new --epochs re-scales the schedule, recorded).
NOT_TRAINING_SETTINGS = ("epochs", "work_dir", "out_dir", "repo_checkpoint")


#: Settings with a ``train-pretrained`` option: (config field, flag). Tuples are comma lists.
CLI_OPTIONS = (
    ("work_dir", "--work-dir"), ("out_dir", "--out"), ("repo_checkpoint", "--repo-checkpoint"),
    ("batch_size", "--batch-size"), ("learning_rate", "--learning-rate"), ("seed", "--seed"),
    ("widths", "--widths"), ("repeats", "--repeats"), ("dense", "--dense"),
    ("dropout", "--dropout"), ("weight_decay", "--weight-decay"),
    ("label_smoothing", "--label-smoothing"), ("rotation_deg", "--rotation-deg"),
    ("shift", "--shift"), ("zoom", "--zoom"), ("erasing", "--erasing"),
    ("gamma", "--gamma"), ("contrast", "--contrast"), ("blur", "--blur"),
    ("low_res", "--low-res"), ("noise", "--noise"), ("jpeg_quality", "--jpeg-quality"),
    ("photometric_p", "--photometric-p"), ("mixup", "--mixup"), ("cutmix", "--cutmix"),
    ("mix_p", "--mix-p"), ("ema", "--ema"),
    ("mixed_precision", "--mixed-precision"),
)
#: Settings that say where files go, not how the network is trained.
LOCATION_SETTINGS = ("work_dir", "out_dir", "repo_checkpoint")


def default_work_dir() -> str:
    """The working checkpoint's folder, outside the work tree so a new checkout keeps it."""
    from fer_engine.paths import user_cache_root

    return os.environ.get("FER_PRETRAIN_DIR") or str(user_cache_root() / "fer_engine" / "pretrain")


@dataclass
class PretrainConfig:
    """Every setting of a pretrained-model training (recorded in the model card)."""

    data: str = "../shared/datasets/fer2013"
    train_split: str = "train"
    val_split: str = "public_test"
    work_dir: str = field(default_factory=default_work_dir)
    out_dir: str = "artifacts/pretrained"
    #: The compact resumable checkpoint committed with the repository ("" = none).
    repo_checkpoint: str = field(default_factory=lambda: str(pretrained_dir() / "training"))
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 0.02
    warmup_epochs: int = 1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    dropout: float = 0.4
    widths: tuple[int, ...] = (32, 64, 128, 256)
    repeats: tuple[int, ...] = (2, 2, 3, 3)
    dense: int = 256
    crop: int = 44
    rotation_deg: float = 15.0
    shift: float = 0.1
    zoom: float = 0.15
    erasing: float = 0.5
    # Photometric degradations of training faces (fer_engine.pretrained.augment; 0 = off),
    # each applied to a face with probability photometric_p.
    gamma: float = 0.0
    contrast: float = 0.0
    blur: float = 0.0
    low_res: float = 0.0
    noise: float = 0.0
    jpeg_quality: int = 0
    photometric_p: float = 0.5
    # Batch mixing: Beta parameters of mixup and cutmix (0 = off); a batch is mixed with
    # probability mix_p.
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_p: float = 1.0
    #: Exponential moving average of the weights, decay per step (0 = off); exported instead
    #: of the raw weights when on.
    ema: float = 0.0
    seed: int = 0
    mixed_precision: str = "auto"  # auto | bf16 | off
    labels: tuple[str, ...] = field(default=FER2013_EMOTIONS)

    def arch(self) -> dict:
        return {
            "widths": tuple(self.widths),
            "repeats": tuple(self.repeats),
            "dense": self.dense,
            "dropout": self.dropout,
            "crop": self.crop,
        }


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def _augmenter(cfg: PretrainConfig, seed: int):
    import keras
    from keras import layers

    inp = keras.Input((48, 48, 1))
    x = layers.RandomFlip("horizontal", seed=seed)(inp)
    x = layers.RandomRotation(cfg.rotation_deg / 360.0, fill_mode="reflect", seed=seed + 1)(x)
    x = layers.RandomTranslation(cfg.shift, cfg.shift, fill_mode="reflect", seed=seed + 2)(x)
    x = layers.RandomZoom((-cfg.zoom, cfg.zoom), fill_mode="reflect", seed=seed + 3)(x)
    if cfg.erasing > 0:
        x = layers.RandomErasing(
            factor=cfg.erasing, scale=(0.02, 0.2), fill_value=0.5, value_range=(0, 1), seed=seed + 4
        )(x)
    return keras.Model(inp, x, name="augment")


def _dataset(cfg: PretrainConfig, X: np.ndarray, y: np.ndarray, epoch: int, augment):
    """The epoch's training batches: shuffled, photometric degradations, the geometric
    ``augment`` model, one-hot targets, mixing; every draw fixed by (seed, epoch, batch)."""
    import tensorflow as tf

    from fer_engine.pretrained import augment as aug

    n_classes = len(cfg.labels)
    photometric, mixing = aug.photometric_on(cfg), aug.mixing_on(cfg)
    ds = tf.data.Dataset.from_tensor_slices((X, y))
    ds = ds.shuffle(len(X), seed=cfg.seed * 1000 + epoch, reshuffle_each_iteration=False)
    ds = ds.batch(cfg.batch_size).enumerate()

    def prep(i, batch):
        xb, yb = batch
        seed = tf.stack([tf.constant(cfg.seed * 1000 + epoch, tf.int64), i])
        xb = tf.cast(xb, tf.float32) / 255.0
        if photometric:
            xb = aug.photometric(xb, cfg, seed)
        xb = augment(xb, training=True)
        yb = tf.one_hot(yb, n_classes)
        if mixing:
            xb, yb = aug.mix(xb, yb, cfg, seed + tf.constant([0, 1 << 30], tf.int64),
                             crop=cfg.crop)
        return xb, yb

    return ds.map(prep).prefetch(2)


def _schedule(cfg: PretrainConfig, steps_per_epoch: int):
    import keras

    total = cfg.epochs * steps_per_epoch
    warm = cfg.warmup_epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=max(1, total - warm),
        warmup_target=cfg.learning_rate,
        warmup_steps=warm,
    )


def _restart_dropout_streams(model, epoch: int) -> None:
    """Point the dropout layers' random streams at a place fixed by the epoch.

    A checkpoint does not keep a seed generator's call counter (it reloads as 0), so
    without this a resumed run would start the dropout masks over from the first epoch's.
    """
    for var in model.non_trainable_variables:
        if var.path.split("/")[-1] == "seed_generator_state":
            seed = np.asarray(var.value)[0]
            var.assign(np.array([seed, epoch << 20], dtype=var.dtype))


def compile_for_training(model, cfg: PretrainConfig, learning_rate, *, xla: bool = False):
    """The recipe's optimiser and loss. ``xla`` stays off: with Keras' "auto" (XLA) this
    CPU trained at 45 and 68 images/s against 86 and 133 without it (bf16, two interleaved
    rounds of benchmarks/pretrain_speed.py; TensorFlow's own kernels use oneDNN); a
    checkpoint reloads without XLA anyway."""
    import keras

    model.compile(
        keras.optimizers.SGD(learning_rate, momentum=cfg.momentum, nesterov=True,
                             weight_decay=cfg.weight_decay, use_ema=cfg.ema > 0,
                             ema_momentum=cfg.ema if cfg.ema > 0 else 0.99),
        keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
        jit_compile=xla,
    )
    _keep_raw_weights_after_fit(model)


def _keep_raw_weights_after_fit(model) -> None:
    """Keras ends every ``fit`` by copying the optimiser's weight average (EMA) into the
    model; training calls ``fit`` once per epoch, so that would restart the raw weights from
    the average each epoch. The average stays in the optimiser (and its checkpoints) and
    :func:`use_average_weights` puts it in the model at export."""
    if getattr(model.optimizer, "use_ema", False):
        model.optimizer.finalize_variable_values = lambda var_list: None


def average_weights(model) -> list | None:
    """The optimiser's moving average of the trainable weights (numpy), or None without EMA."""
    opt = model.optimizer
    if opt is None or not getattr(opt, "use_ema", False) or not opt.built:
        return None
    return [np.asarray(v.value) for v in opt._model_variables_moving_average]


def use_average_weights(model) -> bool:
    """Put the weight average (EMA) into the model's trainable weights; False without one."""
    avg = average_weights(model)
    if avg is None:
        return False
    for var, value in zip(model.trainable_variables, avg):
        var.assign(value)
    return True


def _atomic_save(model, state: dict, work: Path) -> None:
    tmp = work / f".{CHECKPOINT}.tmp.keras"
    model.save(tmp)
    os.replace(tmp, work / CHECKPOINT)
    _write_state(state, work)


def _write_state(state: dict, folder: Path, name: str = STATE) -> None:
    tmp_state = folder / f".{name}.tmp"
    tmp_state.write_text(json.dumps(state, indent=1))
    os.replace(tmp_state, folder / name)


def _read_state(folder: Path, checkpoint: str) -> dict | None:
    """The state of a checkpoint in ``folder``, or None when there is no complete one."""
    if not ((folder / checkpoint).exists() and (folder / STATE).exists()):
        return None
    try:
        return json.loads((folder / STATE).read_text())
    except (OSError, ValueError):
        return None


def save_compact(model, state: dict, folder: Path) -> Path:
    """Write the compact resumable checkpoint: trainable weights and optimiser slots in
    float16, the rest (batch-norm statistics, step counter) as they are, and the state.

    Variables are keyed by their place and name (:func:`_compact_keys`; Keras numbers the
    paths of a second model in one process, so paths do not repeat), which
    :func:`load_compact` maps back onto a freshly built model. The file is replaced atomically.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    trainable = {id(v) for v in model.trainable_variables}
    arrays = {}
    for key, v in _compact_keys(model):
        a = np.asarray(v.value)
        small = id(v) in trainable or (key.startswith("optimizer/") and a.dtype.kind == "f" and a.ndim)
        arrays[key] = a.astype(np.float16) if small else a
    tmp = folder / f".{COMPACT}.tmp.npz"
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, folder / COMPACT)
    _write_state(state, folder)
    return folder / COMPACT


def _compact_keys(model) -> list:
    """``(key, variable)`` of every model and optimiser variable: "model/0007/gamma"."""
    return ([(f"model/{i:04d}/{v.name}", v) for i, v in enumerate(model.variables)]
            + [(f"optimizer/{i:04d}/{v.name}", v) for i, v in enumerate(model.optimizer.variables)])


def load_compact(model, folder: Path) -> None:
    """Fill a compiled model built from the same config with a :func:`save_compact` file."""
    with np.load(Path(folder) / COMPACT) as data:
        arrays = {k: data[k] for k in data.files}
    model.optimizer.build(model.trainable_variables)
    targets = _compact_keys(model)
    missing = [k for k, v in targets if k not in arrays or arrays[k].shape != tuple(v.shape)]
    if missing or len(arrays) != len(targets):
        raise ModelError(
            f"The compact checkpoint in {folder} does not fit this network "
            f"({len(missing)} of its {len(targets)} variables missing or of another shape); it was made with "
            "another architecture."
        )
    for key, var in targets:
        var.assign(arrays[key].astype(var.dtype))


def _resume_source(cfg: PretrainConfig, work: Path):
    """``(kind, folder, state)`` of the furthest-along checkpoint, or None for a new run.

    The working checkpoint (full precision) wins a tie with the compact one."""
    found = []
    state = _read_state(work, CHECKPOINT)
    if state is not None:
        found.append((state["epoch"], 1, "working checkpoint", work, state))
    if cfg.repo_checkpoint:
        repo = Path(cfg.repo_checkpoint)
        state = _read_state(repo, COMPACT)
        if state is not None:
            found.append((state["epoch"], 0, "compact checkpoint in the repository", repo, state))
    if not found:
        return None
    _, _, kind, folder, state = max(found, key=lambda f: (f[0], f[1]))
    return kind, folder, state


def predict_batched(model, X: np.ndarray, batch: int = 512, flip: bool = False) -> np.ndarray:
    """Class probabilities for float inputs in [0, 1], (n, 48, 48, 1); optional flip-TTA."""
    out = []
    for i in range(0, len(X), batch):
        xb = X[i : i + batch]
        p = np.asarray(model.predict_on_batch(xb))
        if flip:
            p = (p + np.asarray(model.predict_on_batch(xb[:, :, ::-1]))) / 2.0
        out.append(p)
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def train(
    cfg: PretrainConfig,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    log: Callable[[str], None] = print,
    stop_after: int | None = None,
):
    """Train (or resume) and return the trained training-graph model and the history.

    X arrays: (n, 48, 48, 1) uint8 pixels; y: int class indices into ``cfg.labels``.
    ``stop_after``: end after this many epochs in this call (for tests / time slicing).
    """
    import keras

    from fer_engine.models import fervgg

    from fer_engine.pretrained import augment as aug

    bad = aug.check(cfg)
    if bad:
        raise ModelError("Training settings out of range: " + "; ".join(bad) + ".")
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    use_bf16 = cfg.mixed_precision == "bf16" or (cfg.mixed_precision == "auto" and cpu_has_bf16())
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if use_bf16 else "float32")
    try:
        state = {"epoch": 0, "history": [], "seconds": 0.0, "config": _jsonable(asdict(cfg))}
        steps = int(np.ceil(len(X_train) / cfg.batch_size))
        source = _resume_source(cfg, work)
        if source is not None:
            kind, folder, state = source
            new_cfg = _jsonable(asdict(cfg))
            # a setting added since the checkpoint was made had its default then
            old_cfg = {**_jsonable(asdict(PretrainConfig(work_dir="", repo_checkpoint=""))),
                       **state["config"]}
            changed = sorted(k for k in set(old_cfg) | set(new_cfg)
                             if k not in NOT_TRAINING_SETTINGS and old_cfg.get(k) != new_cfg.get(k))
            if changed:
                raise ModelError(
                    f"The {kind} in {folder} was made with different settings "
                    f"({', '.join(changed)}); use another --work-dir or delete it to start afresh."
                )
            if folder == work:
                model = keras.models.load_model(work / CHECKPOINT)
                model.jit_compile = False  # see compile_for_training
                _keep_raw_weights_after_fit(model)
            else:
                old = PretrainConfig(**{**asdict(cfg), "epochs": old_cfg["epochs"]})
                model = fervgg.build(len(cfg.labels), **cfg.arch())
                compile_for_training(model, cfg, _schedule(old, steps))
                load_compact(model, folder)
            if old_cfg["epochs"] != cfg.epochs:
                if cfg.epochs <= state["epoch"]:
                    raise ModelError(
                        f"--epochs {cfg.epochs} is not more than the {state['epoch']} "
                        "epochs already trained."
                    )
                # A new length re-scales the cosine schedule from the current step on;
                # the change is recorded so the model card can say so.
                model.optimizer.learning_rate = _schedule(cfg, steps)
                state.setdefault("schedule_changes", []).append(
                    {"after_epoch": state["epoch"], "epochs_from": old_cfg["epochs"],
                     "epochs_to": cfg.epochs}
                )
                state["config"] = new_cfg
                log(f"schedule length changed from {old_cfg['epochs']} to {cfg.epochs} epochs")
            log(f"resuming after epoch {state['epoch']} of {cfg.epochs} from the {kind} "
                f"({folder})")
        else:
            keras.utils.set_random_seed(cfg.seed)
            model = fervgg.build(len(cfg.labels), **cfg.arch())
            compile_for_training(model, cfg, _schedule(cfg, steps))
            log(f"new training: {model.count_params():,} parameters, bf16={use_bf16}")
        X_val_f = X_val.astype(np.float32) / 255.0
        done_here = 0
        while state["epoch"] < cfg.epochs:
            epoch = state["epoch"]
            keras.utils.set_random_seed(cfg.seed * 1000 + epoch)
            _restart_dropout_streams(model, epoch)
            augment = _augmenter(cfg, cfg.seed * 1000 + epoch)
            t0 = time.time()
            hist = model.fit(
                _dataset(cfg, X_train, y_train, epoch, augment), epochs=1, verbose=0,
                shuffle=False,  # the dataset is shuffled by (seed, epoch); silences a warning
            ).history
            p = predict_batched(model, X_val_f)
            pf = predict_batched(model, X_val_f[:, :, ::-1])
            row = {
                "epoch": epoch + 1,
                "loss": float(hist["loss"][-1]),
                "accuracy": float(hist["accuracy"][-1]),
                "val_accuracy": float((p.argmax(1) == y_val).mean()),
                "val_accuracy_flip_tta": float(((p + pf).argmax(1) == y_val).mean()),
                "learning_rate": float(np.asarray(model.optimizer.learning_rate)),
            }
            avg = average_weights(model)
            if avg is not None:  # the average as exported, with the batch norms of training
                raw = [np.asarray(v.value) for v in model.trainable_variables]
                use_average_weights(model)
                pa = predict_batched(model, X_val_f, flip=True)
                for var, value in zip(model.trainable_variables, raw):
                    var.assign(value)
                row["val_accuracy_ema_flip_tta"] = float((pa.argmax(1) == y_val).mean())
            row["seconds"] = round(time.time() - t0, 1)
            state["history"].append(row)
            state["epoch"] = epoch + 1
            state["seconds"] = float(state["seconds"]) + row["seconds"]
            _atomic_save(model, state, work)
            if cfg.repo_checkpoint:
                save_compact(model, state, Path(cfg.repo_checkpoint))
            log(
                f"epoch {row['epoch']}/{cfg.epochs}  loss {row['loss']:.4f}  "
                f"train acc {row['accuracy']:.4f}  {cfg.val_split} acc {row['val_accuracy']:.4f} "
                f"(flip-TTA {row['val_accuracy_flip_tta']:.4f}"
                + (f", EMA flip-TTA {row['val_accuracy_ema_flip_tta']:.4f}"
                   if "val_accuracy_ema_flip_tta" in row else "")
                + f")  lr {row['learning_rate']:.5f}  {row['seconds']:.0f}s"
            )
            done_here += 1
            if stop_after is not None and done_here >= stop_after:
                break
        return model, state
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _jsonable(d):
    return json.loads(json.dumps(d, default=list))


def recalibrate_batchnorm(model, X: np.ndarray, batch: int = 256) -> int:
    """Re-estimate every batch normalisation's moving mean and variance on un-augmented faces.

    During training the moving statistics follow augmented batches (rotated, zoomed, partly
    erased faces), which differ from the plain faces the model is used on. One pass over ``X``
    ((n, 48, 48, 1) uint8 pixels, in order) sets each statistic to the mean over the batches
    of that batch's statistic, as in training mode. Changes ``model`` in place; returns n.
    """
    import keras

    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not bns or len(X) == 0:
        return 0
    momenta = [layer.momentum for layer in bns]
    for layer in bns:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, np.float32))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, np.float32))
    try:
        for k, start in enumerate(range(0, len(X), batch)):
            for layer in bns:
                layer.momentum = k / (k + 1.0)  # running mean of the batch statistics
            model(X[start : start + batch].astype(np.float32) / 255.0, training=True)
    finally:
        for layer, momentum in zip(bns, momenta):
            layer.momentum = momentum
    return int(len(X))


def export(model, cfg: PretrainConfig, state: dict, out_dir: Path,
           recalibrate_on: np.ndarray | None = None) -> Path:
    """Fold batch norms into a float32 inference model; save it, its meta.json and LiteRT twin.

    With ``cfg.ema`` on, the optimiser's weight average replaces the raw weights first
    (recorded as ``export.ema_weights``); the batch norms' statistics, which followed the raw
    weights, are then best re-estimated. ``recalibrate_on``: un-augmented training faces to re-estimate the batch-norm statistics
    on first (:func:`recalibrate_batchnorm`; recorded in training_state.json as
    ``export.batchnorm_recalibrated_on``); None keeps the statistics of the training batches.
    """
    from fer_engine.models import fervgg
    from fer_engine.models.pretrained import FACE_MARGIN
    from fer_engine.preprocess import GRAY_48

    used_average = cfg.ema > 0 and use_average_weights(model)
    n_recalibrated = 0
    if recalibrate_on is not None:
        n_recalibrated = recalibrate_batchnorm(model, recalibrate_on)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fused = fervgg.fold_batchnorm(model, len(cfg.labels), **cfg.arch())
    wrapped = fervgg.FERVGGModel(cfg.labels, GRAY_48, {**cfg.arch(), "fused": True}, model=fused)
    wrapped.face_margin = FACE_MARGIN  # photos are cut as FER2013 frames its faces
    tmp = out_dir / ".export.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    wrapped.save(tmp)
    from fer_engine.models import lite

    lite.write_twin(tmp / "model.keras", fused)  # LiteRT twin for fast batch-1 calls
    for name in ("model.keras", "meta.json", "model.tflite", "model.tflite.json"):
        os.replace(tmp / name, out_dir / name)
    shutil.rmtree(tmp, ignore_errors=True)
    # the state train() returned: the working folder has none when the run was resumed from
    # the compact checkpoint on a fresh checkout
    record = {"batchnorm_recalibrated_on": n_recalibrated}
    if used_average:
        record["ema_weights"] = True
    _write_state({**state, "export": record}, out_dir, "training_state.json")
    return out_dir / "model.keras"


def load_fer2013(cfg: PretrainConfig, *, log: Callable[[str], None] = print):
    """FER2013 train/validation arrays through the engine's reader and pre-processing.

    Returns ``(X_train, y_train, X_val, y_val, info)``; X are (n, 48, 48, 1) uint8.
    Training images byte-identical to a validation image are left out of training,
    so the validation split is a clean held-out set (``info`` records how many).
    """
    from fer_engine.data import load_dataset
    from fer_engine.preprocess import GRAY_48, prepare_dataset

    dataset = load_dataset(cfg.data)
    missing = [s for s in (cfg.train_split, cfg.val_split) if s not in set(dataset.table["split"])]
    if missing:
        raise DatasetError(f"{cfg.data} has no '{missing[0]}' split (found: "
                           f"{', '.join(sorted(set(dataset.table['split'].dropna())))}).")
    if tuple(dataset.labels) != tuple(cfg.labels):
        raise DatasetError(f"{cfg.data} has the emotions {', '.join(dataset.labels)}; the shipped "
                           f"model is trained on FER2013's {', '.join(cfg.labels)}.")
    prepared = prepare_dataset(dataset, GRAY_48, detect=False)
    table = dataset.table.reset_index(drop=True)
    usable = prepared.status != "error"
    y = table["emotion"].map({lab: i for i, lab in enumerate(cfg.labels)}).to_numpy()
    is_train = (table["split"] == cfg.train_split).to_numpy() & usable
    is_val = (table["split"] == cfg.val_split).to_numpy() & usable
    # Leave out training copies of validation images (FER2013 has some across splits).
    dup = table.get("duplicate_group")
    leaked = np.zeros(len(table), bool)
    if dup is not None:
        val_groups = set(dup[is_val].dropna())
        leaked = is_train & dup.isin(val_groups).to_numpy()
    info = {
        "dataset_fingerprint": dataset.fingerprint,
        "n_train": int((is_train & ~leaked).sum()),
        "n_val": int(is_val.sum()),
        "n_train_excluded_as_copies_of_val": int(leaked.sum()),
        "n_unreadable": int((~usable).sum()),
        "warnings": [str(w) for w in dataset.warnings],
    }
    log(f"FER2013: {info['n_train']} training images ({info['n_train_excluded_as_copies_of_val']} "
        f"left out as copies of {cfg.val_split} images), {info['n_val']} {cfg.val_split} images")
    train_idx = np.flatnonzero(is_train & ~leaked)
    val_idx = np.flatnonzero(is_val)
    return prepared.X[train_idx], y[train_idx], prepared.X[val_idx], y[val_idx], info
