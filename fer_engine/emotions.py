"""The canonical emotion vocabulary.

Every dataset reader, model and metric maps its labels through this module, so that
"Anger", "angry" and "ANGER" are one class everywhere, and so that the order of
probability columns is the same in every table.

The canonical order is the first study's: anger, contempt, disgust, fear, happy,
neutral, sad, surprise. A dataset or model covers a subset of it (FER2013 has no
contempt); :func:`subset` keeps canonical order for any such subset.
"""

from __future__ import annotations

from collections.abc import Iterable

EMOTIONS: tuple[str, ...] = (
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happy",
    "neutral",
    "sad",
    "surprise",
)

#: FER2013's seven classes, in canonical order (it has no contempt).
FER2013_EMOTIONS: tuple[str, ...] = tuple(e for e in EMOTIONS if e != "contempt")

#: The emotions the first study monitors in PTSD therapy.
CLINICAL_EMOTIONS: tuple[str, ...] = ("fear", "anger")

# Lower-case spellings seen in public datasets; two-letter codes are JAFFE's and KDEF's.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "angry", "an"),
    "contempt": ("contempt", "contemptuous"),
    "disgust": ("disgust", "disgusted", "di"),
    "fear": ("fear", "fearful", "afraid", "scared", "fe", "af"),
    "happy": ("happy", "happiness", "joy", "ha"),
    "neutral": ("neutral", "ne"),
    "sad": ("sad", "sadness", "sa"),
    "surprise": ("surprise", "surprised", "su"),
}

_LOOKUP: dict[str, str] = {
    alias: canonical for canonical, aliases in _SYNONYMS.items() for alias in aliases
}


class UnknownEmotionError(ValueError):
    """A label that is none of the eight emotions nor a known synonym."""


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "").replace("_", "").replace(" ", "")


def normalise(name: str) -> str:
    """Map any spelling of an emotion to its canonical name.

    >>> normalise("Surprised")
    'surprise'
    >>> normalise(" ANGRY ")
    'anger'

    Raises :class:`UnknownEmotionError` for a name that is not an emotion.
    """
    label = try_normalise(name)
    if label is None:
        raise UnknownEmotionError(
            f"'{name}' is not an emotion this tool knows. Known emotions: {', '.join(EMOTIONS)}."
        )
    return label


def try_normalise(name: str) -> str | None:
    """Like :func:`normalise` but returns ``None`` for an unknown name."""
    if name is None:
        return None
    return _LOOKUP.get(_key(name))


def is_emotion(name: str) -> bool:
    return try_normalise(name) is not None


def subset(labels: Iterable[str]) -> tuple[str, ...]:
    """Canonical, ordered, de-duplicated subset of the vocabulary covering ``labels``."""
    wanted = {normalise(label) for label in labels}
    return tuple(e for e in EMOTIONS if e in wanted)


def index_of(label: str, labels: Iterable[str] = EMOTIONS) -> int:
    """Position of ``label`` (any spelling) in ``labels``."""
    labels = tuple(labels)
    canonical = normalise(label)
    if canonical not in labels:
        raise UnknownEmotionError(
            f"'{label}' is not one of this model's classes ({', '.join(labels)})."
        )
    return labels.index(canonical)


def prob_column(label: str) -> str:
    """Name of the probability column for ``label`` in prediction tables: ``p_<label>``."""
    return f"p_{normalise(label)}"


def display_name(label: str) -> str:
    """Human-readable name, e.g. for chart axes: 'Anger', 'Surprise'."""
    return normalise(label).capitalize()
