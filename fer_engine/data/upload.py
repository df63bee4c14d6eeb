"""Safe unpacking of an uploaded ``.zip`` dataset (no Streamlit here; the Dataset page calls it).

:func:`extract_zip` checks the whole archive **before** writing a byte, then unpacks it into
a fresh temporary folder under ``<cache>/uploads/``:

- no absolute paths, drive letters or ``..`` components (path traversal),
- no symbolic links or other special files (only regular files and folders),
- at most ``max_members`` entries, at most ``max_total_bytes`` uncompressed in total and
  per-entry compression ratio at most ``max_ratio`` (zip bombs); while writing, the bytes
  actually produced are counted too, so a lying header cannot get past the limit,
- encrypted entries are refused.

Anything wrong raises :class:`UploadError` (a :class:`~fer_engine.errors.UserFacingError`)
and leaves nothing behind. The caller owns the returned folder and removes it with
:func:`remove_upload` when the dataset is replaced; :func:`clean_stale_uploads` removes
folders left over from earlier server runs.
"""

from __future__ import annotations

import io
import json
import shutil
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fer_engine.errors import UserFacingError

#: Defaults: enough for the Kaggle tapakah68 download (152 photos, ~100 MB) and far from a bomb.
MAX_MEMBERS = 20_000
MAX_TOTAL_BYTES = 2 * 1024**3  # 2 GiB uncompressed
MAX_RATIO = 100.0  # uncompressed / compressed per entry (JPEGs are ~1)
_RATIO_MIN_BYTES = 1024 * 1024  # small entries may compress well (CSV), ratio not checked
_CHUNK = 1024 * 1024
UPLOADS = "uploads"
#: Name prefix of the folder each uploaded archive is unpacked into (``upload-<random>``).
UPLOAD_PREFIX = "upload-"
#: File in an upload folder naming the archive it was unpacked from (hidden: readers skip it).
UPLOAD_INFO = ".upload.json"


class UploadError(UserFacingError):
    """The uploaded file cannot be used as a dataset archive (message says why)."""


@dataclass(frozen=True)
class ZipLimits:
    """Limits checked before and while unpacking. Sizes in bytes."""

    max_members: int = MAX_MEMBERS
    max_total_bytes: int = MAX_TOTAL_BYTES
    max_ratio: float = MAX_RATIO


def uploads_dir() -> Path:
    """``<cache>/uploads``: where uploaded archives are unpacked (one folder per upload)."""
    from fer_engine.paths import cache_dir

    return cache_dir() / UPLOADS


def _safe_name(name: str) -> PurePosixPath:
    """The member path as a relative POSIX path, or :class:`UploadError` for traversal."""
    cleaned = name.replace("\\", "/")
    path = PurePosixPath(cleaned)
    if (
        cleaned.startswith("/")
        or (len(cleaned) > 1 and cleaned[1] == ":")  # C:/...
        or any(part == ".." for part in path.parts)
    ):
        raise UploadError(
            f"The archive contains the unsafe path '{name}' (absolute or with '..'), so it was "
            "not unpacked. Zip the dataset folder itself, with relative paths."
        )
    return path


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    """A link or special file (Unix mode bits of the entry; archives made on Windows have none)."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    return kind not in (0, stat.S_IFREG, stat.S_IFDIR)


def check_members(zf: zipfile.ZipFile, limits: ZipLimits = ZipLimits()) -> list[zipfile.ZipInfo]:
    """Validate every entry of an open archive against ``limits``; returns the entries.

    Raises :class:`UploadError` naming the first problem found.
    """
    infos = zf.infolist()
    if not infos:
        raise UploadError("The archive is empty.")
    if len(infos) > limits.max_members:
        raise UploadError(
            f"The archive has {len(infos)} entries; at most {limits.max_members} are accepted."
        )
    total = 0
    for info in infos:
        _safe_name(info.filename)
        if _is_symlink(info):
            raise UploadError(
                f"The archive contains a link or special file ('{info.filename}'); only plain "
                "files and folders are accepted."
            )
        if info.flag_bits & 0x1:
            raise UploadError(
                f"'{info.filename}' is encrypted; upload an archive without a password."
            )
        total += info.file_size
        if (
            info.file_size > _RATIO_MIN_BYTES
            and info.file_size > limits.max_ratio * max(info.compress_size, 1)
        ):
            raise UploadError(
                f"'{info.filename}' would expand {info.file_size / max(info.compress_size, 1):.0f} "
                f"times (more than {limits.max_ratio:.0f}): this looks like a zip bomb, so the "
                "archive was not unpacked."
            )
    if total > limits.max_total_bytes:
        raise UploadError(
            f"The archive would unpack to {total / 1024**2:.0f} MB; at most "
            f"{limits.max_total_bytes / 1024**2:.0f} MB are accepted."
        )
    return infos


def _archive_name(source, name: str | None) -> str | None:
    """The archive's file name without folders: ``name``, else the name of a path or of a
    file object (Streamlit's ``UploadedFile`` has one); None for bytes."""
    if name is None:
        if isinstance(source, (str, Path)):
            name = str(source)
        else:
            name = getattr(source, "name", None)
    if not isinstance(name, str) or not name.strip():
        return None
    return PurePosixPath(name.replace("\\", "/")).name.strip()[:200] or None


def extract_zip(source, dest_parent=None, limits: ZipLimits = ZipLimits(),
                name: str | None = None) -> Path:
    """Check and unpack a zip archive into a new folder; returns that folder.

    ``source``: a path, bytes, or a binary file object (e.g. Streamlit's ``UploadedFile``).
    ``dest_parent``: where the new folder is made (default :func:`uploads_dir`).
    ``name``: the archive's file name as the user knows it (default: the name of a path or
    file object); recorded in the folder (:data:`UPLOAD_INFO`) so that the dataset is named
    after it (:func:`archive_stem`), not after the temporary folder.
    Raises :class:`UploadError`; on any failure the new folder is removed.
    """
    archive = _archive_name(source, name)
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UploadError(f"The file is not a valid .zip archive ({exc}).") from None
    parent = Path(dest_parent) if dest_parent is not None else uploads_dir()
    parent.mkdir(parents=True, exist_ok=True)
    with zf:
        infos = check_members(zf, limits)
        dest = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX, dir=parent))
        try:
            written = 0
            for info in infos:
                rel = _safe_name(info.filename)
                target = dest.joinpath(*[p for p in rel.parts if p not in ("", ".")])
                if target != dest and dest not in target.parents:  # belt and braces
                    raise UploadError(f"The archive path '{info.filename}' leaves the folder.")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > limits.max_total_bytes:
                            raise UploadError(
                                "The archive unpacks to more than "
                                f"{limits.max_total_bytes / 1024**2:.0f} MB; it was not unpacked."
                            )
                        out.write(chunk)
        except UploadError:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
            shutil.rmtree(dest, ignore_errors=True)
            raise UploadError(f"The archive could not be unpacked ({exc}).") from None
    if archive:
        (dest / UPLOAD_INFO).write_text(json.dumps({"archive": archive}), encoding="utf-8")
    return dest


def archive_stem(folder) -> str | None:
    """The name of the archive that ``folder`` (an upload folder, or a folder inside one) was
    unpacked from, without ``.zip`` (``my_faces.zip`` -> ``my_faces``); None for any other
    folder or when the name was not recorded. Needs no cache setting: the upload folder is
    recognised by its name (``upload-...``) and :data:`UPLOAD_INFO`."""
    p = Path(folder)
    for candidate in [p, *p.parents][:4]:
        if not candidate.name.startswith(UPLOAD_PREFIX):
            continue
        try:
            info = json.loads((candidate / UPLOAD_INFO).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        archive = info.get("archive") if isinstance(info, dict) else None
        if isinstance(archive, str) and archive.strip():
            stem = archive.strip()
            return stem[:-4] if stem.lower().endswith(".zip") and len(stem) > 4 else stem
    return None


def is_upload_folder(path) -> bool:
    """True if ``path`` is (inside) a folder made by :func:`extract_zip` (under the uploads dir)."""
    p = Path(path).resolve()
    root = uploads_dir().resolve()
    return root in p.parents and p.relative_to(root).parts[0].startswith(UPLOAD_PREFIX)


def limits_for_upload(max_upload_bytes: int) -> ZipLimits:
    """Limits for an archive of at most ``max_upload_bytes``: images barely compress, so
    four times the upload limit (capped at :data:`MAX_TOTAL_BYTES`) is generous."""
    return ZipLimits(max_total_bytes=int(min(MAX_TOTAL_BYTES, 4 * max_upload_bytes)))


def remove_upload(path) -> None:
    """Remove an upload folder made by :func:`extract_zip` (anything else is left alone)."""
    if path is None:
        return
    p = Path(path).resolve()
    if not is_upload_folder(p):
        return
    top = uploads_dir().resolve() / p.relative_to(uploads_dir().resolve()).parts[0]
    shutil.rmtree(top, ignore_errors=True)


def clean_stale_uploads(max_age_hours: float = 24.0, parent=None) -> int:
    """Remove upload folders older than ``max_age_hours``; returns how many were removed."""
    root = Path(parent) if parent is not None else uploads_dir()
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_hours * 3600
    removed = 0
    for p in root.glob(UPLOAD_PREFIX + "*"):
        try:
            if p.is_dir() and p.stat().st_mtime < cutoff:
                shutil.rmtree(p, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed
