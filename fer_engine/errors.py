"""Exceptions whose message is written for the person using the tool.

The CLI prints them as one line and the pages show them with ``st.error``; neither
shows a traceback. Anything else that escapes is a bug: :func:`failure_message` turns it
into one sentence naming the file that holds its full log. :func:`display_text` is what
the pages put such a sentence through: it hides server paths in the hosted demo.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
import traceback
from datetime import datetime
from pathlib import Path


class UserFacingError(Exception):
    """Base class: ``str(exc)`` is a complete sentence a non-programmer understands."""


class DatasetError(UserFacingError):
    """A dataset cannot be used at all (fatal validation problem)."""


class ImageError(UserFacingError):
    """An image cannot be decoded, is too large, or is not an image."""


class NoFaceError(UserFacingError):
    """No face was found and the caller did not allow a centre crop."""


class WeightsUnavailableError(UserFacingError):
    """Pretrained (ImageNet) weights could not be obtained."""


class ModelError(UserFacingError):
    """A model file or run folder cannot be loaded or does not fit the data."""


class TrainingCancelled(UserFacingError):
    """Training was stopped by the user; nothing was written as a complete run."""


class SettingsError(UserFacingError):
    """A setting is out of its range (a number of epochs, a share, a folder to write to)."""


#: Where :func:`failure_message` writes the full log of an unexpected error:
#: ``fer_engine.paths.cache_dir() / LOG_FOLDER``.
LOG_FOLDER = "logs"


def write_failure_log(exc: BaseException, action: str) -> Path | None:
    """Write ``exc``'s traceback to a new file under the cache's ``logs`` folder (the
    system's temporary folder if that cannot be written); returns its path, or None when
    neither can be written."""
    from fer_engine.paths import cache_dir

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^a-z0-9]+", "-", action.lower()).strip("-")[:40] or "error"
    text = (f"{action} failed at {datetime.now().isoformat(timespec='seconds')}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    for folder in (cache_dir() / LOG_FOLDER, Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{stamp}-{slug}-{os.getpid()}-{secrets.token_hex(2)}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def failure_message(exc: BaseException, action: str) -> str:
    """The one sentence a person reads when ``action`` (e.g. "Training") raised ``exc``.

    A :class:`UserFacingError` is its own message. Anything else is a bug: the sentence
    names what failed and the file that holds the full log (:func:`write_failure_log`).
    """
    if isinstance(exc, UserFacingError):
        return str(exc)
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    log = write_failure_log(exc, action)
    what = type(exc).__name__ + (f": {detail}" if detail else "")
    where = f"The full log is in {log}." if log else "Its log could not be written to disk."
    return f"{action} failed with an internal error ({what}). {where}"


# Characters that end a path inside a sentence (spaces, quotes, brackets, separators).
_PATH_CHARS = r"[^\s'\"`()\[\]<>,;|]"
#: An absolute POSIX path (at least one character after its first ``/``), not part of a
#: URL or of a relative path such as ``images/<set_id>``.
_ABSOLUTE = re.compile(rf"(?<![\w.~:/\\>\]-])/{_PATH_CHARS}+")
#: A path inside an upload folder (``.../uploads/upload-<random>[/rest]``).
_IN_UPLOAD = re.compile(rf"(?<![\w.~:/\\-])(?:/{_PATH_CHARS}*?)?/uploads/upload-[\w-]+"
                        rf"(?P<rest>/{_PATH_CHARS}*)?")
_SENTENCE_END = ".:"


def _split_punctuation(path: str) -> tuple[str, str]:
    """A matched path and the sentence punctuation right after it (``/a/b.`` -> ``/a/b``, ``.``)."""
    stripped = path.rstrip(_SENTENCE_END)
    return stripped, path[len(stripped):]


def _inside_upload(match: re.Match) -> str:
    rest, end = _split_punctuation(match.group("rest") or "")
    return (rest.strip("/") or "the uploaded archive") + end


def _hidden(match: re.Match) -> str:
    path, end = _split_punctuation(match.group(0))
    return (Path(path.rstrip("/")).name or "a server folder") + end


def display_text(text: str, *, hosted: bool) -> str:
    """``text`` (a message for the pages) with the server's paths taken out where they mean
    nothing to the reader or must not be seen.

    Always: a path inside an uploaded archive's temporary folder becomes the path inside the
    archive (``faces/angry``), the folder itself "the uploaded archive". With the hosted-demo
    switch on (``hosted``), every other absolute path is cut to its last part, the name of the
    file or folder (``/srv/fer/cache/logs/x.log`` -> ``x.log``), so no server path is shown.
    Relative paths, URLs and layout patterns such as ``images/<set_id>/<Emotion>.jpg`` stay.
    """
    text = _IN_UPLOAD.sub(_inside_upload, str(text))
    if hosted:
        text = _ABSOLUTE.sub(_hidden, text)
    return text
