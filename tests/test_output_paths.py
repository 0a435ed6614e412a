"""Output paths are checked before the work: a folder, FIFO, device or socket is no output file, a file no
output folder, and a folder that cannot be made or written in is refused, all in one line with nothing
written. A symbolic link is followed: its target is replaced and the link stays. No message names a
temporary file.
"""

import os
import socket
from pathlib import Path

import pytest

from strokebot.cli import main
from strokebot.files import OutputPathError, check_output_dir, check_output_file, write_text_atomic

UNWRITABLE = Path("/proc/strokebot-no-such-folder")  # nothing can be made in /proc, not even by root
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="10mm" height="10mm">'
       '<line x1="1" y1="1" x2="4" y2="3" stroke="black"/></svg>')


def run(capsys, args: list[object]) -> tuple[int, list[str]]:
    """Run `strokebot ARGS` in this process: its exit status and its lines on stderr."""
    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code, capsys.readouterr().err.strip().splitlines()


@pytest.fixture()
def specials(tmp_path):
    """A folder holding a folder, a FIFO and a socket."""
    os.mkdir(tmp_path / "folder")
    os.mkfifo(tmp_path / "fifo")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    yield tmp_path
    server.close()


@pytest.mark.parametrize("name, kind", [("folder", "a folder"), ("fifo", "a FIFO"), ("sock", "a socket")])
def test_a_folder_fifo_or_socket_is_no_output_file(specials, name, kind):
    with pytest.raises(OutputPathError, match=f"cannot write {specials / name}: it is {kind}, not a file"):
        check_output_file(specials / name)


def test_a_device_is_no_output_file():
    with pytest.raises(OutputPathError, match="cannot write /dev/null: it is a device, not a file"):
        check_output_file("/dev/null")


def test_a_new_file_in_new_folders_passes_and_nothing_is_made(tmp_path):
    check_output_file(tmp_path / "a" / "b" / "x.gcode")
    check_output_dir(tmp_path / "c" / "d", ["x.png"])
    assert os.listdir(tmp_path) == []


def test_a_folder_that_cannot_be_made_is_refused():
    with pytest.raises(OutputPathError, match=f"cannot write {UNWRITABLE}/x.png: cannot create anything in /proc"):
        check_output_file(UNWRITABLE / "x.png")
    with pytest.raises(OutputPathError, match="cannot create anything in /proc"):
        check_output_dir(UNWRITABLE)


def test_a_file_or_fifo_is_no_output_folder_and_a_file_in_it_must_be_a_file(specials):
    (specials / "file").write_text("x")
    for name, kind in (("file", "a regular file"), ("fifo", "a FIFO")):
        with pytest.raises(OutputPathError, match=f"cannot write into {specials / name}: it is {kind}, not a folder"):
            check_output_dir(specials / name)
    with pytest.raises(OutputPathError, match="cannot write .*/sim.png: it is a folder"):
        os.mkdir(specials / "folder" / "sim.png")
        check_output_dir(specials / "folder", ["strokes.svg", "sim.png"])


def test_a_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match="not a folder|Not a directory"):
        check_output_file(tmp_path / "file" / "x.gcode")


def test_writing_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.gcode"
    target.write_text("old")
    link = tmp_path / "link.gcode"
    link.symlink_to(target.name)
    check_output_file(link)
    write_text_atomic(link, "new")
    assert link.is_symlink() and os.readlink(link) == "real.gcode"
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link.gcode", "real.gcode"]


def test_a_dangling_symlink_is_written_to_its_target_when_the_target_s_folder_exists(tmp_path):
    link = tmp_path / "link.gcode"
    link.symlink_to("made.gcode")
    check_output_file(link)
    write_text_atomic(link, "new")
    assert link.is_symlink() and (tmp_path / "made.gcode").read_text() == "new"

    nowhere = tmp_path / "nowhere.gcode"
    nowhere.symlink_to("missing/x.gcode")
    with pytest.raises(OutputPathError, match="links to .*missing/x.gcode, whose folder does not exist"):
        check_output_file(nowhere)


def test_a_symlink_loop_is_refused_in_one_line(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(OutputPathError, match="cannot write .*loop: Too many levels of symbolic links"):
        check_output_file(tmp_path / "loop")


def test_a_failed_write_names_the_output_never_the_temporary_and_leaves_nothing(tmp_path):
    os.mkdir(tmp_path / "folder")
    with pytest.raises(OutputPathError) as info:
        write_text_atomic(tmp_path / "folder", "x")  # the rename onto a folder fails
    assert str(info.value) == f"cannot write {tmp_path / 'folder'}: Is a directory"
    with pytest.raises(OutputPathError) as info:
        write_text_atomic(UNWRITABLE / "x.png", "x")
    assert str(info.value).startswith(f"cannot write {UNWRITABLE / 'x.png'}: ") and ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == ["folder"] and os.listdir(tmp_path / "folder") == []


@pytest.mark.parametrize("case, args_fn, words", [
    ("plan -o a FIFO", lambda d: ["plan", d / "s.svg", "-o", d / "fifo"], "it is a FIFO, not a file"),
    ("plan -o a folder", lambda d: ["plan", d / "s.svg", "-o", d / "folder"], "is a directory"),
    ("plan --stats a device", lambda d: ["plan", d / "s.svg", "-o", d / "x.gcode", "--stats", "/dev/null"],
     "cannot write /dev/null: it is a device"),
    ("plan -o and --stats the same", lambda d: ["plan", d / "s.svg", "-o", d / "x.gcode", "--stats", d / "x.gcode"],
     "is named for two outputs"),
    ("plan into /proc", lambda d: ["plan", d / "s.svg", "-o", UNWRITABLE / "x.gcode"],
     "cannot create anything in /proc"),
    ("simulate -o a socket", lambda d: ["simulate", d / "g.gcode", "-o", d / "sock"], "it is a socket, not a file"),
    ("simulate --pty -o a FIFO", lambda d: ["simulate", "--pty", "-o", d / "fifo"], "it is a FIFO, not a file"),
    ("fit -o a file", lambda d: ["fit", d / "x.png", "-o", d / "s.svg"], "is a file"),
    ("fit -o a FIFO", lambda d: ["fit", d / "x.png", "-o", d / "fifo"], "it is a FIFO, not a folder"),
    ("fit -o where render.png is a folder",
     lambda d: ["fit", d / "x.png", "-o", d, "--iters", "100000"], "render.png: it is a folder, not a file"),
    ("draw -o into /proc", lambda d: ["draw", d / "x.png", "-o", UNWRITABLE, "--iters", "100000"],
     "cannot create anything in /proc"),
    ("draw -o where the journal is a FIFO",
     lambda d: ["draw", d / "x.png", "-o", d / "out", "--iters", "100000"],
     "out/drawing.gcode.journal: it is a FIFO, not a file"),
    ("painter paint -o a FIFO", lambda d: ["painter", "paint", d / "a.txt", "-o", d / "fifo"], "it is a FIFO"),
    ("painter train -o a folder's checkpoint",
     lambda d: ["painter", "train", "--kind", "vae", "--data", d, "-o", d / "p.pt"], "p.pt.ckpt: it is a folder"),
    ("painter train --samples a file",
     lambda d: ["painter", "train", "--kind", "vae", "--data", d, "-o", d / "q.pt", "--samples", d / "s.svg"],
     "is a file"),
    ("painter dataset -o a FIFO", lambda d: ["painter", "dataset", "-o", d / "fifo", "--strokes", "10"],
     "it is a FIFO, not a folder"),
])
def test_a_command_refuses_an_output_path_in_one_line_before_any_work(capsys, specials, case, args_fn, words):
    d = specials
    (d / "s.svg").write_text(SVG)
    (d / "g.gcode").write_text("G0 X1\n")
    os.mkdir(d / "render.png")
    os.mkdir(d / "p.pt.ckpt")
    os.mkdir(d / "out")
    os.mkfifo(d / "out" / "drawing.gcode.journal")
    before = sorted(os.listdir(d))
    code, err = run(capsys, args_fn(d))
    assert code == 2 and len(err) == 1, (case, err)
    assert err[0].startswith("strokebot: error: ") and words in err[0], (case, err)
    assert sorted(os.listdir(d)) == before


def test_plan_writes_through_a_symlink_and_the_link_stays(capsys, tmp_path):
    (tmp_path / "s.svg").write_text(SVG)
    (tmp_path / "real.gcode").write_text("old\n")
    (tmp_path / "link.gcode").symlink_to("real.gcode")
    code, err = run(capsys, ["plan", tmp_path / "s.svg", "-o", tmp_path / "link.gcode"])
    assert code == 0, err
    assert (tmp_path / "link.gcode").is_symlink() and "G1" in (tmp_path / "real.gcode").read_text()
    assert sorted(os.listdir(tmp_path)) == ["link.gcode", "real.gcode", "s.svg"]
