"""The run folder: write atomically, list, load, delete, zip.

This module is the only reader and writer of a run folder: analytics, explanations, the CLI
and the pages go through :func:`load_run` and :class:`Run`. Format (the contract in
``docs/run_format.md``)::

    <runs_dir>/<run_id>/            run_id = YYYYmmdd-HHMMSS-<model>-<protocol>-<4 hex>
        config.json                 every setting, seeds, versions, dataset fingerprint
        folds.json                  participants per fold (train / val / test / overlap)
        predictions.csv             one row per scored sample (pooled out-of-fold)
        history.csv                 fold, epoch, loss, accuracy, val_loss, val_accuracy, learning_rate
        models/fold_<k>.keras|.joblib, models/meta.json
        metrics.json                accuracy, macro_f1, n_samples, n_participants, leaky, ...

A run is built in the hidden sibling ``.<run_id>.partial/`` and renamed into place when
complete (a directory rename is atomic on one file system). Only folders holding
``config.json`` and ``metrics.json``, not starting with ``.``, are complete runs, so an
interrupted or cancelled training is never listed.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.data.dataset import PER_IMAGE_COLUMNS
from fer_engine.errors import ModelError

RUN_ID_PATTERN = re.compile(r"^\d{8}-\d{6}-[a-z0-9_]+-[a-z0-9-]+-[0-9a-f]{4}$")
HISTORY_COLUMNS = ("fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
#: Table columns that are not demographics (everything else is copied to predictions.csv):
#: ``fer_engine.data.PER_IMAGE_COLUMNS`` plus the participant id.
NON_DEMOGRAPHIC = ("participant", *PER_IMAGE_COLUMNS)
LIST_COLUMNS = ("run_id", "created", "dataset", "fingerprint", "synthetic", "model", "protocol",
                "leaky", "accuracy", "macro_f1", "path")


def runs_root(root=None) -> Path:
    from fer_engine.paths import runs_dir

    return Path(root) if root is not None else runs_dir()


def new_run_id(model: str, protocol: str, now: datetime | None = None) -> str:
    now = now or datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{model}-{protocol}-{secrets.token_hex(2)}"


def _clean(obj):
    """JSON-safe copy: numpy scalars/arrays to Python, NaN/inf to None, Paths to str."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(_clean(obj), indent=2, allow_nan=False) + "\n")


class RunWriter:
    """Builds a run in ``.<run_id>.partial/`` and renames it on :meth:`commit`.

    Use as a context manager: any exception (including cancellation and
    ``KeyboardInterrupt``) removes the partial folder, so nothing half-written remains.
    ``models=False``: a run that holds no models (the synthetic demo runs of
    :mod:`fer_engine.analytics.synthetic`) gets no ``models/`` folder.
    """

    def __init__(self, run_id: str, root=None, *, models: bool = True):
        self.run_id = run_id
        self.root = runs_root(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.final = self.root / run_id
        if self.final.exists():
            raise FileExistsError(self.final)
        self.path = self.root / f".{run_id}.partial"
        self.path.mkdir()
        if models:
            (self.path / "models").mkdir()
        self.committed = False

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    def write_json(self, name: str, obj) -> Path:
        write_json(self.path / name, obj)
        return self.path / name

    def write_csv(self, name: str, frame: pd.DataFrame) -> Path:
        frame.to_csv(self.path / name, index=False)
        return self.path / name

    def commit(self) -> Path:
        for required in ("config.json", "metrics.json"):
            if not (self.path / required).is_file():
                raise RuntimeError(f"cannot commit run {self.run_id}: {required} missing")
        os.rename(self.path, self.final)
        self.committed = True
        return self.final

    def abort(self) -> None:
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


# --------------------------------------------------------------------------- metrics


def summary_metrics(predictions: pd.DataFrame, labels) -> dict:
    """The headline numbers of a run from its pooled predictions (scikit-learn).

    The one place metrics.json is computed: the analytics module may extend or replace
    this function. Keys: accuracy, macro_f1 (over the classes present in truth or
    prediction), n_samples, n_participants.
    """
    from sklearn.metrics import accuracy_score, f1_score

    y_true = predictions["true"].astype(str)
    y_pred = predictions["pred"].astype(str)
    present = [lab for lab in labels if lab in set(y_true) | set(y_pred)]
    n = len(predictions)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)) if n else None,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
        if n else None,
        "n_samples": int(n),
        "n_participants": int(predictions["participant"].nunique()),
    }


def predictions_frame(samples: pd.DataFrame, table: pd.DataFrame, fold: np.ndarray,
                      proba: np.ndarray, labels) -> pd.DataFrame:
    """Build ``predictions.csv`` rows in the contract's column order.

    ``samples``: ``sample_id`` and ``row`` (into ``table``) per scored sample;
    ``fold`` (n,) int; ``proba`` (n, len(labels)).
    """
    labels = tuple(labels)
    src = table.iloc[samples["row"].to_numpy()].reset_index(drop=True)
    out = pd.DataFrame({"sample_id": samples["sample_id"].to_numpy(), "path": src["path"].to_numpy(),
                        "participant": src["participant"].astype(str).to_numpy()})
    for col in table.columns:
        if col not in NON_DEMOGRAPHIC:
            out[col] = src[col].to_numpy()
    out["fold"] = np.asarray(fold, dtype=np.int64)
    out["true"] = src["emotion"].map(emotions.normalise).to_numpy()
    proba = np.asarray(proba, dtype=np.float64)
    out["pred"] = np.asarray(labels, dtype=object)[proba.argmax(axis=1)] if len(proba) else []
    for j, lab in enumerate(labels):
        out[emotions.prob_column(lab)] = proba[:, j]
    return out


# --------------------------------------------------------------------------- reading


def is_complete(path) -> bool:
    path = Path(path)
    return (path.is_dir() and not path.name.startswith(".")
            and (path / "config.json").is_file() and (path / "metrics.json").is_file())


def resolve_run(run_id_or_path, root=None) -> Path:
    """Path of a complete run from its folder or its id (under ``root``, default
    :func:`fer_engine.paths.runs_dir`); :class:`ModelError` if there is none."""
    candidate = Path(str(run_id_or_path)).expanduser()
    if not candidate.is_dir():
        candidate = runs_root(root) / str(run_id_or_path)
    if not candidate.is_dir():
        raise ModelError(f"No run folder '{run_id_or_path}': give the path of a run folder or a "
                         f"run id found in {runs_root(root)}.")
    if not is_complete(candidate):
        raise ModelError(f"No complete run found at '{run_id_or_path}': a run folder holds "
                         "config.json and metrics.json (an interrupted training leaves neither).")
    return candidate


def is_leaky(config: dict, folds=None) -> bool:
    """True when a run's test images share participants with its training images: its
    protocol says so (``paper``) or a fold of ``folds.json`` records an overlap."""
    protocol = config.get("protocol") or {}
    if protocol.get("leaky") or protocol.get("name") == "paper":
        return True
    return any(f.get("overlap") for f in (folds or []) if isinstance(f, dict))


class RunConfigView:
    """What a run's ``config.json`` (``self.config``) and ``folds.json`` (``self.folds``)
    say, for :class:`Run` and the analytics' :class:`fer_engine.analytics.EvalRun`."""

    config: dict
    folds: list | None

    @property
    def model_name(self) -> str:
        return str((self.config.get("model") or {}).get("name") or "unknown model")

    @property
    def protocol(self) -> dict:
        return dict(self.config.get("protocol") or {})

    @property
    def protocol_name(self) -> str:
        return str(self.protocol.get("name") or "unknown protocol")

    @property
    def leaky(self) -> bool:
        """True when the run's test images share participants with its training images."""
        return is_leaky(self.config, self.folds)

    @property
    def synthetic(self) -> bool:
        return bool((self.config.get("dataset") or {}).get("synthetic"))

    @property
    def label(self) -> str:
        """``model / protocol``, with ``(LEAKY)`` for a leaky run: how people name the run."""
        return f"{self.model_name} / {self.protocol_name}{' (LEAKY)' if self.leaky else ''}"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} cannot be read ({exc}).") from exc


def _read_csv(path: Path, **options) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **options)
    except Exception as exc:  # noqa: BLE001 - any parser error is a damaged file for the user
        raise ModelError(f"{path} cannot be read ({exc}).") from exc


@dataclass
class Run(RunConfigView):
    """A complete run folder. ``config`` and ``metrics`` are read by :func:`load_run`;
    ``folds``, ``predictions`` and ``history`` on first use (tables as in the files; empty
    when the file is absent)."""

    path: Path
    config: dict
    metrics: dict

    @property
    def run_id(self) -> str:
        return self.config.get("run_id", self.path.name)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.config["labels"])

    @property
    def predictions_path(self) -> Path:
        return self.path / "predictions.csv"

    @property
    def history_path(self) -> Path:
        return self.path / "history.csv"

    @property
    def models_dir(self) -> Path:
        return self.path / "models"

    @cached_property
    def folds(self) -> list[dict]:
        path = self.path / "folds.json"
        return _read_json(path) if path.is_file() else []

    @cached_property
    def predictions(self) -> pd.DataFrame:
        if not self.predictions_path.is_file():
            return pd.DataFrame()
        return _read_csv(self.predictions_path, dtype={"participant": str, "sample_id": str})

    @cached_property
    def history(self) -> pd.DataFrame:
        if not self.history_path.is_file():
            return pd.DataFrame(columns=list(HISTORY_COLUMNS))
        return _read_csv(self.history_path)

    def model(self, fold: int | str | None = None):
        """The fold's model (default: last fold; ``"all"``: ensemble), see :mod:`fer_engine.models`."""
        from fer_engine.models import load_model

        return load_model(self.path, fold=fold)

    def fold_of(self, sample_id: str) -> int:
        """The fold whose test side scored ``sample_id`` (its model never saw that participant)."""
        hit = self.predictions.loc[self.predictions["sample_id"] == sample_id, "fold"]
        if hit.empty:
            raise ModelError(f"{sample_id} was not scored in run {self.run_id}.")
        return int(hit.iloc[0])


def load_run(run_id_or_path, root=None) -> Run:
    """The complete run at a folder or with an id (see :func:`resolve_run`)."""
    return _open(resolve_run(run_id_or_path, root))


def load_trained_model(source, fold: int | str | None = None, root=None):
    """The trained model ``source`` names: a run id (a complete run under ``root``, default
    :func:`fer_engine.paths.runs_dir`) or anything :func:`fer_engine.models.load_model`
    accepts (a run folder, a model folder or file, ``"pretrained"``, a loaded model).

    ``fold``: see :mod:`fer_engine.models` (default: last fold; ``"all"``: ensemble).
    Raises :class:`ModelError` with a readable message.
    """
    from fer_engine.models import FERModel, load_model

    if not isinstance(source, FERModel) and str(source) != "pretrained":
        if not Path(str(source)).expanduser().exists():
            try:
                source = resolve_run(source, root)
            except ModelError:
                pass  # not a run id either: load_model says what it accepts
    return load_model(source, fold=fold)


def _open(path: Path) -> Run:
    return Run(path, _read_json(path / "config.json"), _read_json(path / "metrics.json"))


def list_runs(root=None) -> pd.DataFrame:
    """One row per complete run, newest first; columns :data:`LIST_COLUMNS`.

    Folders that are partial, hidden or unreadable are skipped.
    """
    base = runs_root(root)
    rows = []
    for path in sorted(base.iterdir()) if base.is_dir() else ():
        if not is_complete(path):
            continue
        try:
            run = _open(path)
        except ModelError:
            continue
        config = run.config
        if config.get("status", "complete") != "complete":
            continue
        ds = config.get("dataset", {})
        proto = config.get("protocol", {})
        rows.append({
            "run_id": run.run_id,
            "created": config.get("created"),
            "dataset": ds.get("name"),
            "fingerprint": ds.get("fingerprint"),
            "synthetic": run.synthetic,
            "model": config.get("model", {}).get("name"),
            "protocol": proto.get("name"),
            "leaky": is_leaky(config),
            "accuracy": run.metrics.get("accuracy"),
            "macro_f1": run.metrics.get("macro_f1"),
            "path": str(path),
        })
    frame = pd.DataFrame(rows, columns=list(LIST_COLUMNS))
    if len(frame):
        frame = frame.sort_values(["created", "run_id"], ascending=False, ignore_index=True)
    return frame


def delete_run(run_id_or_path, root=None) -> None:
    """Remove a complete run folder and its zip in the default export folder (if any)."""
    path = resolve_run(run_id_or_path, root)
    shutil.rmtree(path)
    (exports_dir() / f"{path.name}.zip").unlink(missing_ok=True)


def exports_dir() -> Path:
    """Where :func:`zip_run` writes by default: ``<cache>/exports``."""
    from fer_engine.paths import cache_dir

    return cache_dir() / "exports"


def zip_run(run_id_or_path, dest=None, root=None) -> Path:
    """Zip a run folder (everything, models included); returns the ``.zip`` path.

    ``dest``: a folder (default: :func:`exports_dir`, whose zip :func:`delete_run` removes
    with the run) or a ``.zip`` file path.
    """
    path = resolve_run(run_id_or_path, root)
    dest = Path(dest) if dest is not None else exports_dir()
    if dest.suffix == ".zip":
        target = dest.with_suffix("")
    else:
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / path.name
    return Path(shutil.make_archive(str(target), "zip", root_dir=path.parent, base_dir=path.name))
