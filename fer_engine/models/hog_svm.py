"""``hog_svm``: the second study's classical baseline. HOG features + an RBF SVM (scikit-learn).

Input: 64x64 grayscale, ``raw`` normalisation (0..255). Features: OpenCV's
``cv2.HOGDescriptor`` (window 64, block 16, stride 8, cell 8, 9 bins: 1,764 values).
Classifier: StandardScaler + ``SVC(kernel="rbf")`` with sigmoid-calibrated
probabilities (``CalibratedClassifierCV(..., ensemble=False)``; ``SVC(probability=True)``
is deprecated in scikit-learn 1.9). ``features(X)`` returns the HOG vectors.
Options: ``C`` (default 10), ``gamma`` (default ``"scale"``).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import joblib
import numpy as np

from fer_engine.errors import ModelError
from fer_engine.models.base import (
    CancelToken,
    FERModel,
    ProgressCallback,
    TrainConfig,
    check_cancel,
    encode_labels,
    report_single_step_fit,
)
from fer_engine.preprocess import InputSpec


class HOGSVMModel(FERModel):
    name = "hog_svm"
    file_format = "joblib"

    def __init__(self, labels, input_spec: InputSpec | None = None, options: dict | None = None,
                 *, pipeline=None, weights: str | None = None, C: float = 10.0, gamma="scale"):
        options = dict(options or {})
        if weights not in (None, "none"):
            raise ModelError("The hog_svm model has no pretrained weights; use --weights none.")
        options.setdefault("C", float(C))
        options.setdefault("gamma", gamma)
        options.setdefault("weights", "none")
        super().__init__(labels, input_spec or InputSpec(64, 1, "raw"), options)
        if self.input_spec.channels != 1 or self.input_spec.normalisation != "raw":
            raise ModelError("hog_svm takes grayscale images with 'raw' normalisation.")
        s = self.input_spec.size
        cell = 8 if s >= 32 else 4
        self._hog = cv2.HOGDescriptor((s, s), (2 * cell, 2 * cell), (cell, cell), (cell, cell), 9)
        self._pipeline = pipeline
        self._classes: np.ndarray | None = None if pipeline is None else np.asarray(pipeline.classes_)

    @property
    def keras_model(self):
        return None

    def features(self, X, batch_size: int = 256) -> np.ndarray:
        """HOG vectors, shape (n, d) float32 (d = 1,764 at 64x64)."""
        X = self._check_input(X)
        X = np.clip(np.rint(X.astype(np.float32) if X.dtype != np.uint8 else X), 0, 255).astype(np.uint8)
        return np.stack([self._hog.compute(np.ascontiguousarray(img[..., 0])).ravel() for img in X]
                        ).astype(np.float32) if len(X) else np.zeros((0, 0), np.float32)

    def fit(self, X, y, *, X_val=None, y_val=None, config: TrainConfig | None = None,
            progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> list[dict]:
        """Fit scaler + calibrated SVM. Returns one history row (epoch 1; no learning rate).

        ``config.class_weight`` gives the SVM balanced class weights; epochs, batch size,
        learning rate and augmentation do not apply and are ignored.
        """
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.metrics import log_loss
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        config = config or TrainConfig()
        check_cancel(cancel)
        y_idx = encode_labels(y, self.labels)
        counts = np.bincount(y_idx)
        counts = counts[counts > 0]
        if len(counts) < 2:
            raise ModelError("HOG+SVM needs training images of at least two emotions.")
        if counts.min() < 2:
            raise ModelError("HOG+SVM needs at least two training images of every emotion it sees.")
        F = self.features(X)
        check_cancel(cancel)
        svc = SVC(kernel="rbf", C=self.options["C"], gamma=self.options["gamma"],
                  class_weight="balanced" if config.class_weight else None, random_state=config.seed)
        clf = CalibratedClassifierCV(svc, cv=int(min(5, counts.min())), ensemble=False)
        self._pipeline = make_pipeline(StandardScaler(), clf).fit(F, y_idx)
        self._classes = np.asarray(self._pipeline.classes_)
        check_cancel(cancel)
        all_idx = list(range(len(self.labels)))
        p = self._proba_from_features(F)
        row = {"epoch": 1, "loss": float(log_loss(y_idx, p, labels=all_idx)),
               "accuracy": float((p.argmax(1) == y_idx).mean()),
               "val_loss": math.nan, "val_accuracy": math.nan, "learning_rate": math.nan}
        if X_val is not None and len(X_val):
            yv = encode_labels(y_val, self.labels)
            pv = self.predict_proba(X_val)
            row["val_loss"] = float(log_loss(yv, pv, labels=all_idx))
            row["val_accuracy"] = float((pv.argmax(1) == yv).mean())
        report_single_step_fit(progress, row)
        return [row]

    def _proba_from_features(self, F: np.ndarray) -> np.ndarray:
        out = np.zeros((len(F), len(self.labels)), np.float32)
        if len(F):
            out[:, self._classes] = self._pipeline.predict_proba(F)
            out /= out.sum(axis=1, keepdims=True)
        return out

    def predict_proba(self, X, batch_size: int = 256) -> np.ndarray:
        """(n, n_labels) float32; emotions absent from training get probability 0."""
        if self._pipeline is None:
            raise ModelError("This hog_svm model has not been trained yet.")
        return self._proba_from_features(self.features(X))

    def _save_model_file(self, path: Path) -> None:
        if self._pipeline is None:
            raise ModelError("This hog_svm model has not been trained yet; there is nothing to save.")
        joblib.dump({"pipeline": self._pipeline, "labels": list(self.labels)}, path)

    @classmethod
    def _load_model_file(cls, path: Path, labels, input_spec: InputSpec, options: dict):
        blob = joblib.load(path)
        return cls(labels, input_spec, options, pipeline=blob["pipeline"])
