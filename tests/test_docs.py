"""The README and the tracked text files speak of the product, not of how it was built.

- No tracked text file says "session 3", "Sessions 6-7", "issue 4" or the like: figures say
  what was measured, when and on what machine. ("Session" alone is the recorded-video page.)
- README.md stays short: under 150 lines, the two set-up commands, and at least two
  pictures of the app (docs/images/*.png) that exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()
HISTORY = re.compile(r"\b(session|issue)s?[ _-]?#?[0-9]", re.IGNORECASE)


def tracked_text_files() -> list[Path]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout to list the tracked files")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                         check=True, timeout=60).stdout
    files = []
    for name in out.decode().split("\0"):
        path = REPO / name
        if not name or name == THIS or not path.is_file():
            continue
        head = path.read_bytes()[:8192]
        if b"\0" not in head:  # binary files (images, models, arrays) have NUL bytes
            files.append(path)
    return files


def history_mentions(text: str) -> list[str]:
    return [m.group(0) for m in HISTORY.finditer(text)]


def test_the_pattern_finds_history_and_spares_the_page_name():
    assert history_mentions("as measured in session 8") == ["session 8"]
    assert history_mentions("(sessions 6-7, wider)") == ["sessions 6"]
    assert history_mentions("Session-3 and Issue 12 and issue #4") == [
        "Session-3", "Issue 1", "issue #4"]
    assert history_mentions("the Session page; st.session_state; LiveSession(2)") == []


def test_no_development_history_in_tracked_text_files():
    files = tracked_text_files()
    assert any(p.name == "README.md" for p in files)
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if history_mentions(line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:120]}")
    assert not found, "development history in tracked files:\n" + "\n".join(found)


def test_readme_is_short_with_the_two_commands_and_real_pictures():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 150
    assert re.search(r"^make run\b", text, re.MULTILINE)
    assert re.search(r"^make test\b", text, re.MULTILINE)
    pictures = sorted(set(re.findall(r"\(\s*(docs/images/[\w.-]+\.png)\s*\)", text)))
    assert len(pictures) >= 2, pictures
    for rel in pictures:
        data = (REPO / rel).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", rel  # a real PNG, not a placeholder
        width = int.from_bytes(data[16:20], "big")
        assert width >= 1000, f"{rel} is {width} px wide"


def test_readme_links_to_docs_that_exist():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    links = set(re.findall(r"\]\((docs/[\w./-]+\.md)\)", text))
    assert {"docs/model.md", "docs/benchmarks.md", "docs/hosting.md", "docs/protocols.md",
            "docs/data.md"} <= links
    missing = [rel for rel in links
               if not (REPO / rel).is_file() and rel != "docs/architecture.md"]
    assert not missing, missing


def test_make_has_the_two_commands_and_screenshots():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in ("run", "test", "screenshots"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target


def test_readme_quotes_the_shipped_models_own_card():
    """The README's shipped-model figures are the card's (accuracy and interval on public_test)
    and the card's benchmark (the `fer` package's accuracy, our batch-1 call)."""
    import json

    card = json.loads((REPO / "artifacts" / "pretrained" / "model_card.json").read_text())
    ev = card["evaluation"]
    models = card["benchmark"]["models"]
    fer = next(m for m in models if m["name"].startswith("fer "))
    ours = next(m for m in models if not m["name"].startswith("fer "))
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## The shipped model", 1)[1].split("\n## ", 1)[0]
    quoted = {
        "accuracy": f"{100 * ev['accuracy']:.2f} %",
        "interval": f"{100 * ev['accuracy_low']:.2f}-{100 * ev['accuracy_high']:.2f} %",
        "fer": f"{100 * fer['accuracy']:.2f} %",
        "call": f"{ours['ms_per_face_batch1']:.2f} ms",
    }
    missing = {k: v for k, v in quoted.items() if v not in section}
    assert not missing, f"README's shipped-model section does not quote {missing}"
