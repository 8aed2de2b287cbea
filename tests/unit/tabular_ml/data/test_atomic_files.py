"""write_atomically: the new content, or on a failure the old one, and never a temporary file left."""

from __future__ import annotations

import errno
import os
import stat
import threading

import pytest

from tabular_ml.data.atomic_files import replace_durably, write_atomically
from tests.support.small_disk import fill, small_tmpfs


def test_the_file_holds_the_new_content_and_no_temporary_is_left(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b'{"old": true}')
    write_atomically(path, b'{"new": true}')
    assert path.read_bytes() == b'{"new": true}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_new_file_gets_the_mode_asked_whatever_the_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        write_atomically(tmp_path / "a", b"x", mode=0o640)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o640


def test_a_large_content_is_written_whole(tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    write_atomically(tmp_path / "big", data)
    assert (tmp_path / "big").read_bytes() == data


def test_a_missing_directory_raises_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "absent" / "state.json", b"x")
    assert list(tmp_path.iterdir()) == []


def test_a_disk_filling_up_mid_write_leaves_the_old_file_whole_and_no_temporary(tmp_path):
    with small_tmpfs(tmp_path / "disk", "64k") as disk:
        path = disk / "state.json"
        write_atomically(path, b'{"version": "1"}')
        filler = fill(disk)
        os.truncate(filler, filler.stat().st_size - 8192)  # room for two pages of a 32 KiB write
        with pytest.raises(OSError) as raised:
            write_atomically(path, b"x" * 32768)
        assert raised.value.errno == errno.ENOSPC
        assert path.read_bytes() == b'{"version": "1"}'
        assert sorted(p.name for p in disk.iterdir()) == ["filler", "state.json"]
        filler.unlink()
        write_atomically(path, b'{"version": "2"}')  # space again: the next write succeeds
        assert path.read_bytes() == b'{"version": "2"}'


def test_concurrent_writers_leave_one_complete_content(tmp_path):
    path = tmp_path / "state.json"
    contents = [bytes([65 + n]) * 100_000 for n in range(8)]
    threads = [threading.Thread(target=write_atomically, args=(path, data)) for data in contents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_bytes() in contents
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_replace_durably_renames_over_the_target(tmp_path):
    (tmp_path / ".new").write_bytes(b"new")
    (tmp_path / "final").write_bytes(b"old")
    replace_durably(tmp_path / ".new", tmp_path / "final")
    assert (tmp_path / "final").read_bytes() == b"new" and not (tmp_path / ".new").exists()
