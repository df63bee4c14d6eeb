"""What the analytics consume: a run's predictions table plus its config.

The run folder format is documented in ``docs/run_format.md``: ``predictions.csv`` has
``sample_id, path, participant, <demographics...>, fold, true, pred, p_<label>...``.
:func:`validate_predictions` checks and normalises such a table; :class:`EvalRun` bundles
it with the run's ``config.json``, ``folds.json`` and ``history.csv``, as read by
:func:`fer_engine.experiments.runs.load_run` (the only reader of a run folder). A run folder
path or id, a loaded :class:`~fer_engine.experiments.runs.Run` or a bare predictions table
becomes an :class:`EvalRun` with :func:`as_eval_run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fer_engine import emotions
from fer_engine.format import run_name
from fer_engine.errors import ModelError, UserFacingError
from fer_engine.experiments.runs import Run, RunConfigView, load_run

#: Columns every predictions table must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("sample_id", "participant", "true", "pred")
#: Columns that are neither demographics nor probabilities.
BOOKKEEPING_COLUMNS: tuple[str, ...] = ("sample_id", "path", "participant", "fold", "true", "pred")
#: Tolerance on the sum of a row's probabilities.
PROB_SUM_TOLERANCE: float = 1e-3
#: The subgroup columns of the first study (see fer_engine.data.dataset.GROUP_COLUMNS).
GROUP_COLUMNS: tuple[str, ...] = ("country_group", "age_group", "gender")


class PredictionsError(UserFacingError):
    """A predictions table cannot be analysed (missing columns, unknown labels...)."""


def prob_columns(labels) -> list[str]:
    return [emotions.prob_column(label) for label in labels]


def infer_labels(predictions: pd.DataFrame, config: dict | None = None) -> tuple[str, ...]:
    """The run's class labels in canonical order.

    From ``config["labels"]`` when present; otherwise from the ``p_<label>`` columns, and
    failing those from the labels seen in ``true`` and ``pred``.
    """
    if config and config.get("labels"):
        return emotions.subset(config["labels"])
    from_probs = [c[2:] for c in predictions.columns if str(c).startswith("p_")]
    known = [lbl for lbl in from_probs if emotions.is_emotion(lbl)]
    if known:
        return emotions.subset(known)
    seen = pd.concat([predictions["true"], predictions["pred"]]).dropna().astype(str).unique()
    return emotions.subset(seen)


def _candidate_demographics(predictions: pd.DataFrame) -> list[str]:
    return [
        c
        for c in predictions.columns
        if c not in BOOKKEEPING_COLUMNS
        and c != "correct"
        and not str(c).startswith("p_")
        and not str(c).startswith("_")
    ]


#: How a missing demographic value reads in every table, group label and chart.
UNKNOWN: str = "unknown"


def known_or_unknown(values: pd.Series, *, text: bool = True) -> pd.Series:
    """``values`` with missing ones as :data:`UNKNOWN` (never ``NaN``); as text when
    ``text``, else known values keep their type (an age stays a number)."""
    out = values.astype(object).where(values.notna(), UNKNOWN)
    return out.astype(str) if text else out


def demographic_columns(predictions: pd.DataFrame) -> list[str]:
    """Columns that describe the participant: every non-bookkeeping, non-probability
    column whose value is the same on all rows of each participant."""
    cols = _candidate_demographics(predictions)
    if not cols:
        return []
    counts = predictions.groupby("participant")[cols].nunique(dropna=False)
    return [c for c in cols if int(counts[c].max()) <= 1]


def validate_predictions(
    predictions: pd.DataFrame, labels=None, config: dict | None = None
) -> tuple[pd.DataFrame, tuple[str, ...], list[str]]:
    """Check and normalise a predictions table.

    Returns ``(table, labels, notes)``: a copy with ``participant`` as str, ``true``/``pred``
    as canonical labels, a bool column ``correct``; the labels in canonical order; and a
    list of notes (plain sentences) about things that were tolerated, e.g. probability rows
    that do not sum to 1. Raises :class:`PredictionsError` for what cannot be analysed.
    """
    if not isinstance(predictions, pd.DataFrame):
        raise PredictionsError("The predictions must be a table (a pandas DataFrame).")
    missing = [c for c in REQUIRED_COLUMNS if c not in predictions.columns]
    if missing:
        raise PredictionsError(
            "The predictions table lacks the column(s) "
            + ", ".join(missing)
            + "; it needs at least "
            + ", ".join(REQUIRED_COLUMNS)
            + "."
        )
    if len(predictions) == 0:
        raise PredictionsError("The predictions table is empty: there is nothing to evaluate.")
    table = predictions.copy()
    labels = emotions.subset(labels) if labels is not None else infer_labels(table, config)
    if not labels:
        raise PredictionsError("No emotion labels found in the run's config or predictions.")
    notes: list[str] = []
    for col in ("true", "pred"):
        if table[col].isna().any():
            n = int(table[col].isna().sum())
            raise PredictionsError(f"{n} row(s) of the predictions table have no '{col}' label.")
        mapped = table[col].astype(str).map(emotions.try_normalise)
        bad = sorted(set(table.loc[mapped.isna() | ~mapped.isin(labels), col].astype(str)))
        if bad:
            raise PredictionsError(
                f"The '{col}' column holds label(s) {', '.join(bad)} that are not among the run's "
                f"classes ({', '.join(labels)})."
            )
        table[col] = mapped.astype(object)
    if table["participant"].isna().any():
        raise PredictionsError("Some rows of the predictions table have no participant id.")
    table["participant"] = table["participant"].astype(str).astype(object)
    if table["sample_id"].duplicated().any():
        dup = table.loc[table["sample_id"].duplicated(), "sample_id"].astype(str).iloc[0]
        raise PredictionsError(f"sample_id values must be unique; '{dup}' appears more than once.")
    pcols = prob_columns(labels)
    present = [c for c in pcols if c in table.columns]
    if present and len(present) != len(pcols):
        absent = [c for c in pcols if c not in table.columns]
        notes.append(
            "Probability columns missing for " + ", ".join(absent) + ": calibration skipped."
        )
    elif present:
        probs = table[pcols].to_numpy(dtype=float)
        if not np.isfinite(probs).all():
            raise PredictionsError("Some class probabilities are missing or not numbers.")
        off = np.abs(probs.sum(axis=1) - 1.0) > PROB_SUM_TOLERANCE
        if off.any():
            notes.append(f"{int(off.sum())} row(s) have probabilities that do not sum to 1.")
        argmax = np.asarray(labels, dtype=object)[probs.argmax(axis=1)]
        disagree = int((argmax != table["pred"].to_numpy()).sum())
        if disagree:
            notes.append(
                f"{disagree} row(s) have a predicted label that is not the most probable class; "
                "calibration uses the probability of the predicted label."
            )
    for col in _candidate_demographics(table):
        per = table.groupby("participant")[col].nunique(dropna=False)
        if (per > 1).any():
            who = per[per > 1].index[0]
            if col in GROUP_COLUMNS:
                raise PredictionsError(
                    f"Participant {who} has more than one value of '{col}' in the predictions "
                    "table; demographics must be the same on every row of a participant."
                )
            notes.append(
                f"Column '{col}' varies within participants (e.g. {who}); it is not treated as a "
                "demographic."
            )
    table["correct"] = (table["true"] == table["pred"]).to_numpy()
    return table, labels, notes


def has_probabilities(table: pd.DataFrame, labels) -> bool:
    return all(c in table.columns for c in prob_columns(labels))


@dataclass
class EvalRun(RunConfigView):
    """One run as the analytics see it.

    ``predictions`` is validated (see :func:`validate_predictions`); ``labels`` are the
    run's classes in canonical order; ``config`` the parsed ``config.json`` (may be
    ``{}`` for a bare table); ``folds`` the parsed ``folds.json`` or ``None``;
    ``history`` the ``history.csv`` table or ``None``. What the config says (model,
    protocol, leaky, synthetic) comes from :class:`~fer_engine.experiments.runs.RunConfigView`.
    """

    run_id: str
    config: dict
    predictions: pd.DataFrame
    labels: tuple[str, ...]
    folds: list | None = None
    history: pd.DataFrame | None = None
    metrics: dict | None = None
    path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_table(
        cls,
        predictions: pd.DataFrame,
        config: dict | None = None,
        run_id: str | None = None,
        folds: list | None = None,
        history: pd.DataFrame | None = None,
    ) -> EvalRun:
        config = dict(config or {})
        table, labels, notes = validate_predictions(predictions, config=config)
        rid = run_id or str(config.get("run_id") or "run")
        return cls(rid, config, table, labels, folds, history, None, None, notes)

    @classmethod
    def from_run(cls, run: Run) -> EvalRun:
        """The analytics' view of a loaded run folder (it needs ``predictions.csv``)."""
        if not run.predictions_path.is_file():
            raise ModelError(
                f"The run folder {run.path} has no predictions.csv, so it cannot be evaluated."
            )
        history = run.history
        out = cls.from_table(
            run.predictions,
            run.config,
            run_id=run.run_id,
            folds=run.folds or None,
            history=history if len(history) else None,
        )
        out.metrics = run.metrics
        out.path = run.path
        # what the run itself says about its scoring (e.g. emotions its model cannot answer)
        out.notes.extend(str(n) for n in (run.metrics.get("notes") or []))
        return out

    @property
    def participants_unknown(self) -> bool:
        """True when the dataset does not say who is in each image (e.g. FER2013): then
        independence of people cannot be checked and each image counts as its own person."""
        dataset = self.config.get("dataset") or {}
        return dataset.get("participants_known") is False or (
            not self.leaky and self.protocol.get("participant_independent") is False
        )

    @property
    def title(self) -> str:
        """How the report names the run: :func:`fer_engine.format.run_name` and its id."""
        return f"{run_name(self.model_name, self.protocol_name)} ({self.run_id})"


def as_eval_run(obj: Any, config: dict | None = None) -> EvalRun:
    """Turn a run folder path or id, a :class:`~fer_engine.experiments.runs.Run`, an
    :class:`EvalRun` or a bare predictions DataFrame (with ``config``) into an :class:`EvalRun`."""
    if isinstance(obj, EvalRun):
        return obj
    if isinstance(obj, pd.DataFrame):
        return EvalRun.from_table(obj, config)
    if isinstance(obj, (str, Path)):
        obj = load_run(obj)
    if isinstance(obj, Run):
        return EvalRun.from_run(obj)
    raise PredictionsError(f"Cannot evaluate an object of type {type(obj).__name__}.")


def run_dataset_rows(run: EvalRun, paths, dataset=None) -> tuple[Any, np.ndarray, list[str]]:
    """The run's dataset and the row in its table of each of ``paths`` (image paths of the
    run's ``predictions.csv``).

    The dataset is ``dataset`` (a :class:`fer_engine.data.Dataset` or a folder) or else
    re-read from ``config.dataset.root``. ``notes``: plain sentences (e.g. the dataset
    changed since the run). Raises :class:`fer_engine.errors.ModelError` when the images
    cannot be found.
    """
    from fer_engine.data import Dataset, load_dataset
    from fer_engine.errors import ModelError

    cfg = run.config.get("dataset") or {}
    notes: list[str] = []
    if not isinstance(dataset, Dataset):
        root = dataset if dataset is not None else cfg.get("root")
        if not root or not Path(str(root)).exists():
            raise ModelError(
                f"The images of run {run.run_id} are not at {root!r}; give the dataset folder."
            )
        dataset = load_dataset(root)
    if cfg.get("fingerprint") and dataset.fingerprint != cfg["fingerprint"]:
        notes.append("The dataset changed since the run was made (fingerprint differs).")
    paths = pd.Series(paths).astype(str)
    row_of = {str(p): i for i, p in enumerate(dataset.table["path"].astype(str))}
    missing = [p for p in paths if p not in row_of]
    if missing:
        raise ModelError(
            f"{len(missing)} image(s) of run {run.run_id} are not in the dataset (e.g. "
            f"{missing[0]})."
        )
    return dataset, paths.map(row_of).to_numpy(dtype=np.int64), notes
