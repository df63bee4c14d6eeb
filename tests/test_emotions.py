"""The canonical emotion vocabulary and its synonyms."""

import pytest

from fer_engine import emotions as emo


def test_canonical_order_and_fer2013_subset():
    assert emo.EMOTIONS == (
        "anger",
        "contempt",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sad",
        "surprise",
    )
    assert emo.FER2013_EMOTIONS == (
        "anger",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sad",
        "surprise",
    )
    assert "contempt" not in emo.FER2013_EMOTIONS


@pytest.mark.parametrize(
    "name, canonical",
    [
        ("Anger", "anger"),
        ("angry", "anger"),
        ("ANGRY", "anger"),
        (" anger ", "anger"),
        ("Happy", "happy"),
        ("happiness", "happy"),
        ("Sad", "sad"),
        ("SADNESS", "sad"),
        ("Surprised", "surprise"),
        ("surprise", "surprise"),
        ("Contempt", "contempt"),
        ("Disgusted", "disgust"),
        ("fearful", "fear"),
        ("Neutral", "neutral"),
    ],
)
def test_synonyms_any_case(name, canonical):
    assert emo.normalise(name) == canonical
    assert emo.is_emotion(name)


def test_unknown_names():
    assert emo.try_normalise("smile") is None
    assert emo.try_normalise(None) is None
    assert not emo.is_emotion("calm")
    with pytest.raises(emo.UnknownEmotionError, match="'calm' is not an emotion"):
        emo.normalise("calm")


def test_subset_keeps_canonical_order_and_dedupes():
    assert emo.subset(["Surprised", "angry", "Anger", "happy"]) == ("anger", "happy", "surprise")


def test_index_prob_column_and_display_name():
    assert emo.index_of("Surprised") == 7
    assert emo.index_of("sad", emo.FER2013_EMOTIONS) == 5
    with pytest.raises(emo.UnknownEmotionError):
        emo.index_of("contempt", emo.FER2013_EMOTIONS)
    assert emo.prob_column("Angry") == "p_anger"
    assert emo.display_name("surprised") == "Surprise"
