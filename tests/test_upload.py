"""fer_engine.data.upload: safe unpacking of an uploaded dataset archive."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest

from fer_engine.data import upload
from fer_engine.data.upload import UploadError, ZipLimits, extract_zip


def make_zip(entries: dict[str, bytes], **kw) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=kw.get("compression", zipfile.ZIP_DEFLATED)) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_extracts_into_a_fresh_folder_under_the_cache(cache):
    data = make_zip({"ds/emotions.csv": b"set_id;gender\n0;FEMALE\n", "ds/images/0/Happy.jpg": b"x" * 10})
    a = extract_zip(data)
    b = extract_zip(io.BytesIO(data))
    assert a != b and a.parent == b.parent == cache / "uploads"
    assert (a / "ds" / "images" / "0" / "Happy.jpg").read_bytes() == b"x" * 10
    assert upload.is_upload_folder(a / "ds") and not upload.is_upload_folder(cache)
    upload.remove_upload(a / "ds")  # removes the whole upload folder, not just the subfolder
    assert not a.exists() and b.exists()


@pytest.mark.parametrize("name", ["../evil.txt", "ds/../../evil.txt", "/etc/evil.txt", "C:/evil.txt",
                                  "ds\\..\\..\\evil.txt"])
def test_path_traversal_is_refused_and_nothing_is_written(cache, tmp_path, name):
    data = make_zip({"ds/ok.txt": b"fine", name: b"bad"})
    with pytest.raises(UploadError, match="unsafe path"):
        extract_zip(data)
    assert not (tmp_path / "evil.txt").exists()
    assert not list((cache / "uploads").glob("upload-*"))


def test_symlink_entries_are_refused(cache):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("ds/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UploadError, match="link or special file"):
        extract_zip(buf.getvalue())


def test_zip_bomb_ratio_member_count_and_total_size(cache):
    bomb = make_zip({"ds/zeros.bin": b"\0" * (8 * 1024 * 1024)})
    assert len(bomb) < 100_000
    with pytest.raises(UploadError, match="zip bomb"):
        extract_zip(bomb)
    many = make_zip({f"ds/{i}.txt": b"x" for i in range(30)})
    with pytest.raises(UploadError, match="30 entries; at most 20"):
        extract_zip(many, limits=ZipLimits(max_members=20))
    big = make_zip({"a.bin": b"x" * 5000, "b.bin": b"y" * 5000}, compression=zipfile.ZIP_STORED)
    with pytest.raises(UploadError, match="unpack to"):
        extract_zip(big, limits=ZipLimits(max_total_bytes=8000))
    assert not list((cache / "uploads").glob("upload-*"))


def test_not_a_zip_and_empty_zip(cache):
    with pytest.raises(UploadError, match="not a valid .zip"):
        extract_zip(b"this is a text file")
    with pytest.raises(UploadError, match="empty"):
        extract_zip(make_zip({}))


def test_limits_for_upload_and_stale_cleanup(cache):
    assert upload.limits_for_upload(20 * 1024**2).max_total_bytes == 80 * 1024**2
    assert upload.limits_for_upload(10 * 1024**3).max_total_bytes == upload.MAX_TOTAL_BYTES
    old = extract_zip(make_zip({"a.txt": b"a"}))
    new = extract_zip(make_zip({"b.txt": b"b"}))
    import os

    os.utime(old, (1, 1))
    assert upload.clean_stale_uploads(max_age_hours=1) == 1
    assert not old.exists() and new.exists()
    upload.remove_upload(Path("/tmp"))  # not an upload folder: left alone
    assert Path("/tmp").exists()


def test_the_dataset_is_named_after_the_archive(cache, tmp_path):
    from data_builders import class_folders

    from fer_engine.data import load_dataset

    folders = class_folders(tmp_path / "src", {"": {"angry": 2, "happy": 2}})
    entries = {f"{p.parent.name}/{p.name}": p.read_bytes() for p in folders.rglob("*.jpg")}
    top_level = make_zip(entries)  # emotion folders at the top of the archive
    wrapped = make_zip({f"faces/{k}": v for k, v in entries.items()})
    one_split = make_zip({f"train/{k}": v for k, v in entries.items()})

    class Uploaded(io.BytesIO):  # what Streamlit hands over: bytes with the user's file name
        name = "my_faces.zip"

    for data, expected, split in ((top_level, "my_faces", None), (wrapped, "my_faces", None),
                                  (one_split, "my_faces/train", "train")):
        folder = extract_zip(Uploaded(data))
        assert upload.archive_stem(folder) == "my_faces"
        ds = load_dataset(folder)
        assert ds.name == expected and "upload-" not in ds.name
        assert ds.n_images == 4  # the name file is not read as data
        assert set(ds.table["split"]) == {split}  # a wrapping folder is not a split
    path = tmp_path / "Study 2.ZIP"
    path.write_bytes(top_level)
    assert load_dataset(extract_zip(path)).name == "Study 2"
    assert load_dataset(extract_zip(top_level, name="C:\\data\\shared.zip")).name == "shared"
    unnamed = extract_zip(top_level)  # bytes without a name: the folder's name, as before
    assert upload.archive_stem(unnamed) is None
    assert load_dataset(unnamed).name == unnamed.name
