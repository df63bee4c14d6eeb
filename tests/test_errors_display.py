"""fer_engine.errors.display_text: what the pages show of the server's paths."""

from __future__ import annotations

import pytest

from fer_engine.errors import display_text

UPLOAD = "/home/ana/.cache/fer_engine/cache/uploads/upload-k2_x9q"


@pytest.mark.parametrize("hosted", [False, True])
def test_paths_inside_an_upload_are_shown_inside_the_archive(hosted):
    assert (display_text(f"No images found in {UPLOAD}/notes. Expected either", hosted=hosted)
            == "No images found in notes. Expected either")
    assert (display_text(f"No images found in {UPLOAD}.", hosted=hosted)
            == "No images found in the uploaded archive.")
    assert (display_text(f"The metadata file {UPLOAD}/ds/emotions.csv has no set_id column",
                         hosted=hosted)
            == "The metadata file ds/emotions.csv has no set_id column")


def test_other_paths_are_kept_locally_and_cut_to_their_name_when_hosted():
    text = ("The full log is in /srv/fer/cache/logs/20261204-reading-12-ab.log. "
            "Choose (/data/sets/fer) or '/home/u/x.csv': see /tmp/a/b/: done")
    assert display_text(text, hosted=False) == text
    assert display_text(text, hosted=True) == (
        "The full log is in 20261204-reading-12-ab.log. Choose (fer) or 'x.csv': see b: done")


@pytest.mark.parametrize("text", [
    "Expected images/<set_id>/<Emotion>.jpg with an emotions.csv next to images/.",
    "class folders: [split/]<emotion>/<image>",
    "See https://example.org/a/b for help, and ~/data/x for yours.",
    "1/2 of them and/or a/b/c, at 100 MB/s",
])
def test_relative_paths_urls_and_patterns_stay(text):
    assert display_text(text, hosted=True) == text
