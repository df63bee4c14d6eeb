"""Listing image files and checking them cheaply: readability, duplicates, fingerprint.

Loading a 28,709-image folder must take a second or two, so nothing here decodes every
image by default:

- ``check="quick"`` (default): the first and last bytes of every file are checked
  against its format (a JPEG must start with the SOI marker and end with EOI, a PNG
  with its signature and IEND); any file that fails, or whose format is neither JPEG
  nor PNG, is opened and fully decoded with Pillow to decide. The size a JPEG or PNG
  declares in its header is checked too: an image above the decoder's limit
  (:data:`fer_engine.preprocess.decode.MAX_PIXELS`, a possible decompression bomb) is
  unreadable, as pre-processing would refuse it. A JPEG that is damaged in the middle
  but intact at both ends passes here and is reported later, when pre-processing
  decodes it.
- ``check="full"``: every file is decoded with Pillow (slow: about 0.15 ms for a 48x48
  JPEG, far more for a photograph), after the same size check.

Duplicates are byte-identical files: only files that share their size with another
file are read and hashed (BLAKE2b), so large photographs are rarely read at all.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

#: File extensions read as images (lower case).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

#: Files and folders that operating systems and archivers leave behind; skipped without a warning.
JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "__macosx", ".ipynb_checkpoints"})

CHECK_MODES = ("quick", "full")

_JPEG_SOI = b"\xff\xd8\xff"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_EDGE = 64  # bytes read from the end of a file for the quick check
_BOMB = "the image is absurdly large (a possible decompression bomb)"
_HEAD = 4096  # bytes read from its start: enough to reach the declared size in most files
#: JPEG start-of-frame markers (they hold the image's size): C0-CF except DHT, JPG and DAC.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class FileEntry:
    """One image file found while scanning: absolute path, size in bytes, mtime in ns."""

    path: str
    size: int
    mtime_ns: int


def is_junk(name: str) -> bool:
    """Hidden files and OS clutter (``.DS_Store``, ``Thumbs.db``, ``__MACOSX``...)."""
    return name.startswith(".") or name.lower() in JUNK_NAMES


_IMAGE_SUFFIXES = tuple(IMAGE_EXTENSIONS)


def is_image_name(name: str) -> bool:
    return name.lower().endswith(_IMAGE_SUFFIXES)


def list_folder(
    folder: str | Path,
) -> tuple[list[os.DirEntry], list[os.DirEntry], list[os.DirEntry]]:
    """Split a folder's entries into (sub-folders, image files, other files), sorted by name.

    Junk entries are left out. Symbolic links are followed.
    """
    dirs, images, others = [], [], []
    with os.scandir(folder) as it:
        for entry in it:
            if is_junk(entry.name):
                continue
            if entry.is_dir():
                dirs.append(entry)
            elif entry.is_file():
                (images if is_image_name(entry.name) else others).append(entry)
    key = lambda e: e.name  # noqa: E731
    return sorted(dirs, key=key), sorted(images, key=key), sorted(others, key=key)


def file_entry(entry: os.DirEntry) -> FileEntry:
    """Size and mtime of a scanned file (the folder was scanned by absolute path)."""
    st = entry.stat()
    return FileEntry(entry.path, int(st.st_size), int(st.st_mtime_ns))


def _edges_look_valid(head: bytes, tail: bytes) -> bool | None:
    """True if the ends match a JPEG/PNG, False if they contradict it, None if not JPEG/PNG."""
    if head.startswith(_JPEG_SOI):
        return b"\xff\xd9" in tail[-16:]
    if head.startswith(_PNG_SIGNATURE):
        return b"IEND" in tail[-16:]
    return None


def declared_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) that a PNG's IHDR or a JPEG's start-of-frame segment in ``head`` (the
    first bytes of a file) declares; None when ``head`` is neither or does not reach it."""
    if head.startswith(_PNG_SIGNATURE):
        if len(head) >= 24 and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        return None
    if not head.startswith(_JPEG_SOI):
        return None
    i = 2
    while i + 9 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", head[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _size_problem(width: int, height: int) -> str | None:
    """Why an image declaring ``width`` x ``height`` pixels is refused; None if it is not
    (the decoder's own rule, :func:`fer_engine.preprocess.decode.size_problem`)."""
    from fer_engine.preprocess.decode import size_problem

    return size_problem(width, height)


def header_problem(path: str, head: bytes) -> str | None:
    """The declared size of a JPEG or PNG checked against the decoder's limit, from ``head``
    (its first bytes) or, where the size lies further in (a large EXIF block), from the
    header Pillow reads. None if fine or undecided (a damaged header is left to the other
    checks)."""
    size = declared_size(head)
    if size is None and (head.startswith(_JPEG_SOI) or head.startswith(_PNG_SIGNATURE)):
        try:
            with Image.open(path) as img:  # reads the header only
                size = img.size
        except Image.DecompressionBombError:
            return _BOMB
        except Exception:  # noqa: BLE001 - undecided here; the edges or a decode decide
            return None
    return _size_problem(*size) if size is not None else None


def pillow_problem(path: str) -> str | None:
    """Open and fully decode ``path`` with Pillow; None if fine, else a short reason
    (including an image declaring more pixels than the decoder accepts)."""
    try:
        with Image.open(path) as img:
            too_large = _size_problem(*img.size)
            if too_large:
                return too_large
            img.load()
            if img.width < 1 or img.height < 1:
                return "the image has no pixels"
    except Image.DecompressionBombError:
        return _BOMB
    except Image.UnidentifiedImageError:
        return "the file is not an image format this tool can read"
    except OSError as exc:
        text = str(exc)
        if "truncated" in text.lower():
            return "the file is truncated (incomplete download or copy?)"
        return f"the image is damaged ({text})"
    except (ValueError, SyntaxError, MemoryError) as exc:
        return f"the image is damaged ({exc})"
    return None


@dataclass
class CheckResult:
    """Outcome of :func:`check_files`: unreadable files with reasons, duplicate groups."""

    unreadable: dict[str, str]
    duplicates: list[list[str]]  # groups of >= 2 byte-identical paths, each sorted
    hashed: int = 0  # how many files were read completely


def check_files(files: list[FileEntry], check: str = "quick") -> CheckResult:
    """Check that every file can be read as an image and find byte-identical files."""
    if check not in CHECK_MODES:
        raise ValueError(f"check must be one of {CHECK_MODES}, not {check!r}")
    by_size: dict[int, list[FileEntry]] = defaultdict(list)
    for f in files:
        by_size[f.size].append(f)
    unreadable: dict[str, str] = {}
    by_digest: dict[str, list[str]] = defaultdict(list)
    hashed = 0
    for size, group in by_size.items():
        for f in group:
            if size == 0:
                unreadable[f.path] = "the file is empty (0 bytes)"
                continue
            try:
                with open(f.path, "rb") as fh:
                    if len(group) > 1:
                        data = fh.read()
                        hashed += 1
                        by_digest[hashlib.blake2b(data, digest_size=16).hexdigest()].append(f.path)
                        head, tail = data[:_HEAD], data[-_EDGE:]
                    else:
                        head = fh.read(_HEAD)
                        fh.seek(max(0, size - _EDGE))
                        tail = fh.read(_EDGE)
            except OSError as exc:
                unreadable[f.path] = f"the file cannot be opened ({exc.strerror})"
                continue
            too_large = header_problem(f.path, head)
            if too_large:
                unreadable[f.path] = too_large
                continue
            if check == "full" or not _edges_look_valid(head, tail):
                reason = pillow_problem(f.path)
                if reason:
                    unreadable[f.path] = reason
    duplicates = sorted(sorted(paths) for paths in by_digest.values() if len(paths) > 1)
    return CheckResult(unreadable, duplicates, hashed)


def fingerprint(files: list[FileEntry], root: str | Path, extra: list[bytes] = ()) -> str:
    """Content hash of a dataset: relative paths, sizes, mtimes of ``files`` plus ``extra``.

    ``extra`` holds the bytes of metadata files and the layout name. Changing, adding,
    removing or touching any image changes it. 32 hex characters.
    """
    prefix = os.path.abspath(root) + os.sep
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(files, key=lambda f: f.path):
        rel = f.path[len(prefix) :] if f.path.startswith(prefix) else f.path
        h.update(f"{rel}\0{f.size}\0{f.mtime_ns}\n".encode("utf-8", "surrogateescape"))
    for blob in extra:
        h.update(b"\1")
        h.update(blob)
    return h.hexdigest()
