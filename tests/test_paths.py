"""Where files live: the cache outside the repository, and the folders `streamlit run` ignores."""

from __future__ import annotations

import tomllib
from pathlib import Path

from fer_engine import paths

REPO = Path(__file__).resolve().parents[1]


def test_default_cache_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv("FER_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.cache_dir() == tmp_path / "home" / ".cache" / "fer_engine" / "cache"
    assert REPO not in paths.cache_dir().parents


def test_cache_follows_xdg_cache_home_and_fer_cache_dir_wins(monkeypatch, tmp_path):
    monkeypatch.delenv("FER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_dir() == tmp_path / "xdg" / "fer_engine" / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: absolute only
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.cache_dir() == tmp_path / "home" / ".cache" / "fer_engine" / "cache"
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "mine"))
    assert paths.cache_dir() == (tmp_path / "mine").resolve()


def test_streamlit_does_not_watch_caches_runs_and_test_output():
    from streamlit.watcher.folder_black_list import FolderBlackList

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    blacklist = FolderBlackList(config["server"]["folderWatchBlacklist"])
    for folder in (".cache/synthetic", ".venv/lib", "artifacts/runs/20260101-cnn",
                   "test-output/pretrain", "fer_engine/__pycache__"):
        assert blacklist.is_blacklisted(str(REPO / folder / "module.py")), folder
    for kept in ("app.py", "pages/1_Dataset.py", "fer_engine/paths.py",
                 "artifacts/pretrained/card.py"):
        assert not blacklist.is_blacklisted(str(REPO / kept)), kept


def test_the_training_work_folder_sits_in_the_same_user_cache(monkeypatch, tmp_path):
    from fer_engine.pretrained.training import default_work_dir

    monkeypatch.delenv("FER_PRETRAIN_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_work_dir() == str(tmp_path / "xdg" / "fer_engine" / "pretrain")
    monkeypatch.setenv("FER_PRETRAIN_DIR", str(tmp_path / "mine"))
    assert default_work_dir() == str(tmp_path / "mine")


def test_shown_paths_are_relative_to_the_repository_where_they_can_be(tmp_path):
    from fer_engine.paths import REPO_ROOT, shown

    assert shown(REPO_ROOT / "artifacts" / "pretrained") == "artifacts/pretrained"
    assert shown(REPO_ROOT.parent / "shared" / "datasets") == "../shared/datasets"
    assert shown("data/fer2013") == "data/fer2013"  # relative: as given
    outside = "/nowhere-near/the/repository"
    assert shown(outside) == outside
