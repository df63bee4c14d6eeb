"""Region attribution over a run: each image explained by its own fold's model, shares per
region per emotion and subgroup, counts and small-n warnings, and the explain --regions CLI.

One tiny real run (6 synthetic people x 3 emotions, cnn, group-kfold k=2, 1 epoch) per module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from fer_engine.errors import UserFacingError  # noqa: E402
from fer_engine.explain import (  # noqa: E402
    REGION_NAMES,
    explain_batch,
    region_masks,
    region_shares,
    run_region_attribution,
)
from fer_engine.explain import methods as explain_methods  # noqa: E402

LABELS = ("anger", "happy", "sad")
#: 5 women and 1 man (a group under 5 people); ages on both sides of the 31-year cut.
PEOPLE = pd.DataFrame({
    "set_id": [str(i) for i in range(6)],
    "gender": ["FEMALE"] * 5 + ["MALE"],
    "age": [25, 27, 45, 50, 29, 33],
    "country": ["RU"] * 6,
})


@pytest.fixture(scope="module")
def run_path(tmp_path_factory):
    from fer_engine.data import load_dataset
    from fer_engine.data.synthetic import generate
    from fer_engine.experiments.spec import ExperimentSpec
    from fer_engine.experiments.training import run_experiment

    base = tmp_path_factory.mktemp("regions")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_CACHE_DIR", str(base / "cache"))
        data = load_dataset(generate(base / "data", participants=PEOPLE, emotions=LABELS))
        spec = ExperimentSpec("cnn", "group-kfold", k=2, epochs=1, batch_size=8, seed=0,
                              val_fraction=0)
        yield run_experiment(data, spec, out_dir=base / "runs")


@pytest.fixture(scope="module")
def result(run_path):
    return run_region_attribution(run_path)


def test_per_image_shares_sum_to_one_and_use_the_run_margin(result, run_path):
    from fer_engine.experiments.runs import load_run

    per = result.per_image
    pred = load_run(run_path).predictions
    assert len(per) == len(pred) == 18 and result.n_images == 18 and result.n_rows == 18
    assert set(per["sample_id"]) == set(pred["sample_id"])
    shares = per[list(REGION_NAMES)].to_numpy()
    assert np.isfinite(shares).all() and (shares >= 0).all()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-9)
    # detected faces are cut with the run's margin (0.2): the face regions are then smaller
    face = per["status"] == "face"
    assert face.all() and (per.loc[face, "margin"] == 0.2).all()
    assert result.areas.sum() == pytest.approx(1.0)
    assert result.areas["rest"] > 0.75 and result.participant_independent
    assert result.method == "gradcam" and result.target == "pred"


def test_tables_per_emotion_and_subgroup_with_counts_and_small_n(result):
    cols = ["n_images", "n_participants", *REGION_NAMES, "small_sample", "warning",
            *(f"{r}_{end}" for r in REGION_NAMES for end in ("low", "high"))]
    by_emotion = result.table("emotion")
    assert list(by_emotion.columns) == ["emotion", *cols]
    assert list(by_emotion["emotion"]) == list(LABELS)  # canonical order
    assert list(by_emotion["n_images"]) == [6, 6, 6]
    assert list(by_emotion["n_participants"]) == [6, 6, 6]
    assert not by_emotion["small_sample"].any() and result.small_groups_note("emotion") == ""
    np.testing.assert_allclose(by_emotion[list(REGION_NAMES)].sum(axis=1), 1.0, atol=1e-9)
    # the means are the per-image shares averaged within each group
    manual = result.per_image.groupby("true")[list(REGION_NAMES)].mean().loc[list(LABELS)]
    np.testing.assert_allclose(by_emotion[list(REGION_NAMES)].to_numpy(), manual.to_numpy())

    by_gender = result.table("gender").set_index("gender")
    assert list(by_gender.index) == ["female", "male"]
    assert by_gender.loc["female", ["n_images", "n_participants"]].tolist() == [15, 5]
    assert by_gender.loc["male", ["n_images", "n_participants"]].tolist() == [3, 1]
    assert not by_gender.loc["female", "small_sample"] and by_gender.loc["female", "warning"] == ""
    assert by_gender.loc["male", "small_sample"] and "Only 1 person" in by_gender.loc["male",
                                                                                     "warning"]
    assert result.small_groups_note("gender") == "gender: fewer than 5 people in male."

    # 95 % intervals from resampling people: around the mean, wider for the 1-person group
    # (which has none: one person resampled is always that person)
    for r in REGION_NAMES:
        assert (by_gender[f"{r}_low"] <= by_gender[r] + 1e-12).all()
        assert (by_gender[r] <= by_gender[f"{r}_high"] + 1e-12).all()
    assert by_gender.loc["male", "rest_low"] == pytest.approx(by_gender.loc["male", "rest_high"])
    assert by_gender.loc["female", "rest_high"] > by_gender.loc["female", "rest_low"]

    by_age = result.table("age_group").set_index("age_group")
    assert by_age["n_participants"].to_dict() == {"31_plus": 3, "under_31": 3}
    assert by_age["n_images"].sum() == 18 and by_age["small_sample"].all()
    with pytest.raises(UserFacingError, match="group by one of"):
        result.table("hair_colour")


def test_each_image_is_explained_by_its_own_fold_model(result, run_path):
    from fer_engine.models import load_model
    from fer_engine.preprocess import prepare_image

    per = result.per_image
    models = {k: load_model(run_path, fold=k) for k in (0, 1)}
    for fold in (0, 1):
        row = per[per["fold"] == fold].iloc[0]
        x = prepare_image(row["path"], models[fold].input_spec, margin=0.2).inputs
        own, other = (
            explain_batch(models[k], x, "gradcam", targets=[row["pred"]])[0]
            for k in (fold, 1 - fold)
        )
        got = row[list(REGION_NAMES)].to_numpy(dtype=float)
        np.testing.assert_allclose(got, region_shares(own, margin=0.2).to_numpy(), atol=1e-4)
        assert np.abs(own - other).max() > 0.05  # the other fold's model gives another map


def test_a_mouth_only_map_gives_mouth_share_one(run_path, monkeypatch):
    for margin in (0.0, 0.2):
        masks = region_masks(48, 48, margin=margin)
        shares = region_shares(masks["mouth"].astype(float), margin=margin)
        assert shares["mouth"] == 1.0 and shares.drop("mouth").sum() == 0.0
    # through the whole run pipeline: every map is lit on the mouth (at either margin) only
    mouth = region_masks(48, 48, margin=0.0)["mouth"] & region_masks(48, 48, margin=0.2)["mouth"]
    assert mouth.sum() > 50

    def fake_explain_batch(model, xs, method, *, targets=None, **_):
        assert method == "occlusion" and len(targets) == len(xs)
        return np.repeat(mouth[None].astype(np.float32), len(xs), axis=0)

    monkeypatch.setattr(explain_methods, "explain_batch", fake_explain_batch)
    fake = run_region_attribution(run_path, method="occlusion", target="true", max_images=7)
    assert len(fake.per_image) == 7 and any("random sample of 7 of 18" in n for n in fake.notes)
    for by in ("emotion", "gender"):
        table = fake.table(by)
        assert (table["mouth"] == 1.0).all()
        assert (table[["brows", "eyes", "nose", "rest"]] == 0.0).all().all()
        assert table["n_images"].sum() == 7


def test_regions_cli_prints_tables_and_writes_csv(run_path, tmp_path, capsys):
    from fer_engine.cli import main

    out = tmp_path / "shares.csv"
    code = main(["explain", "--model", str(run_path), "--regions", "--by", "gender",
                 "--csv", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "gradcam maps of the predicted emotion on 18 image(s)" in text
    assert "(which never saw that person)" in text
    assert "By emotion:" in text and "By gender:" in text
    assert "gender: fewer than 5 people in male." in text
    header = next(line for line in text.splitlines() if line.lstrip().startswith("gender "))
    assert header.split() == ["gender", "n_images", "n_participants", *REGION_NAMES]
    csv = pd.read_csv(out)
    assert len(csv) == 18 and set(REGION_NAMES) <= set(csv.columns)


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "required: IMAGE, --method, --out"),
        (["--method", "gradcam", "img.png"], "required: --out"),
        (["--regions", "--out", "x.png"], "drop --out"),
        (["--regions", "img.png"], "drop IMAGE"),
        (["--regions", "--method", "filters"], "not 'filters'"),
        (["--regions", "--target", "anger"], "'pred' or 'true'"),
        (["--by", "gender", "--method", "gradcam", "--out", "x.png", "img.png"],
         "only apply with --regions"),
    ],
)
def test_cli_usage_errors(argv, message, capsys):
    from fer_engine.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["explain", "--model", "some-run", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_regions_of_something_that_is_not_a_run(tmp_path, capsys):
    from fer_engine.cli import main

    assert main(["explain", "--model", str(tmp_path / "nope"), "--regions"]) == 2
    assert "No run folder" in capsys.readouterr().err


def test_share_intervals_resample_people_not_images():
    """Two people with opposite maps: the interval of the mean mouth share spans both
    people's values (0 to 1), however many images each has; one person alone has none."""
    from fer_engine.explain.regions import region_summary

    rows = []
    for person, mouth in (("p1", 1.0), ("p2", 0.0)):
        for i in range(20):
            rows.append({"participant": person, "true": "happy", "mouth": mouth, "brows": 0.0,
                         "eyes": 0.0, "nose": 0.0, "rest": 1.0 - mouth})
    per = pd.DataFrame(rows)
    t = region_summary(per, "emotion", labels=["happy"], n_boot=400).iloc[0]
    assert t["mouth"] == pytest.approx(0.5)
    assert t["mouth_low"] == 0.0 and t["mouth_high"] == 1.0  # an image bootstrap would give ~0.5
    one = region_summary(per[per["participant"] == "p1"], "emotion", labels=["happy"]).iloc[0]
    assert one["mouth_low"] == one["mouth_high"] == 1.0 and one["small_sample"]
