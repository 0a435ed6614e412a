"""Output files are written whole, with ordinary permissions, and a failed write leaves nothing behind."""

import os
import stat

import pytest

from strokebot.files import write_bytes_atomic, write_text_atomic


def test_a_written_file_has_the_permissions_the_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "hello")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    with pytest.raises(TypeError):
        write_bytes_atomic(tmp_path / "b.bin", object())  # not bytes: the write fails midway
    assert os.listdir(tmp_path) == []


def test_an_existing_file_is_replaced_whole(tmp_path):
    target = tmp_path / "c.txt"
    target.write_text("old content that is longer")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["c.txt"]


def test_the_permissions_follow_a_strict_umask_and_the_umask_is_left_alone(tmp_path):
    old = os.umask(0o077)
    try:
        write_text_atomic(tmp_path / "d.txt", "private")
        assert os.umask(0o077) == 0o077  # writing did not change it
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "d.txt").stat().st_mode) == 0o600
