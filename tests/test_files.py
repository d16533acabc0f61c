"""Artefacts are written whole or not at all, and an output that cannot be written is refused
before any work: a full disk (a file size limit stands in for one), a folder where a file should
be, an empty path, a virtual file system."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from edgenas.files import OutputError, atomic_path, check_writable, output_error, write_bytes, write_text


def test_a_write_that_fails_leaves_the_earlier_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.tflite"
    write_bytes(target, b"old model")
    with pytest.raises(OutputError, match=f"cannot write {target}: no space left on the device"):
        with atomic_path(target) as staged:
            staged.write_bytes(b"half a ")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_a_write_pytorch_reports_as_failed_is_one_line_and_other_errors_pass(tmp_path: Path) -> None:
    target = tmp_path / "model.pt"
    with pytest.raises(OutputError, match=f"cannot write {target}: "), atomic_path(target) as staged:
        staged.write_bytes(b"x")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 625280 vs 625176")
    with pytest.raises(RuntimeError, match="a bug"), atomic_path(target):
        raise RuntimeError("a bug")
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_is_interrupted_leaves_the_earlier_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_text(target, "{}")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as staged:
        staged.write_text('{"half":')
        raise KeyboardInterrupt
    assert target.read_text() == "{}" and len(list(tmp_path.iterdir())) == 1


def test_a_written_file_has_the_usual_permissions(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    path = write_text(tmp_path / "a" / "config.yaml", "x: 1\n")  # folders are created
    assert path.read_text() == "x: 1\n" and (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_a_file_size_limit_is_one_line_and_keeps_the_earlier_file(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel refuse the write (EFBIG), as a full disk refuses it (ENOSPC)."""
    target = tmp_path / "model_int8.tflite"
    write_bytes(target, b"earlier")
    code = (
        "import resource, sys\nfrom edgenas.files import OutputError, write_bytes\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        f"try:\n    write_bytes({str(target)!r}, bytes(100_000))\n"
        "except OutputError as exc:\n    print(exc)\n    sys.exit(2)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "file size limit" in result.stdout and "Traceback" not in result.stderr
    assert target.read_bytes() == b"earlier" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


@pytest.mark.parametrize(
    ("path", "folder", "fragment"),
    [
        ("", True, "--out: an empty path"),
        ("{tmp}", False, "a folder; name the file"),
        ("{tmp}/file", True, "a file, not a folder"),
        ("{tmp}/file/model.onnx", False, "is a file, not a folder"),
        ("/proc/edgenas/model.onnx", False, "--out /proc/edgenas/model.onnx: "),
    ],
)
def test_outputs_that_cannot_be_written_are_refused(tmp_path: Path, path: str, folder: bool, fragment: str) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=fragment.replace("{tmp}", str(tmp_path))):
        check_writable(path.replace("{tmp}", str(tmp_path)), "--out", folder=folder)


def test_a_writable_output_is_accepted_and_nothing_is_created(tmp_path: Path) -> None:
    assert check_writable(tmp_path / "new" / "deeper" / "run", "--out", folder=True) == tmp_path / "new" / "deeper" / "run"
    check_writable(tmp_path / "model.onnx", "--out")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_refused_up_front(tmp_path: Path, monkeypatch) -> None:
    import os

    real = os.statvfs(tmp_path)

    class Full:
        f_bavail, f_blocks = 0, real.f_blocks

    monkeypatch.setattr(os, "statvfs", lambda path: Full())
    with pytest.raises(OutputError, match="no space left"):
        check_writable(tmp_path / "run", "--out", folder=True)


def test_os_errors_read_as_what_to_do() -> None:
    assert str(output_error(OSError(errno.EROFS, "Read-only file system"), "/mnt/run", "--out")) == (
        "--out /mnt/run: the file system is read-only: write elsewhere"
    )
    assert "Bad thing" in str(output_error(OSError(errno.ENOTSUP, "Bad thing"), "x"))


def test_temporaries_of_killed_writers_are_swept_and_nothing_else(tmp_path: Path) -> None:
    import os

    from edgenas.files import sweep_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = int(dead.stdout)  # a process that has ended
    (tmp_path / "best").mkdir()
    stale = tmp_path / "best" / f".model.onnx.{gone}.0123abcd.tmp"
    mine = tmp_path / f".report.json.{os.getpid()}.89abcdef.tmp"
    keep = [tmp_path / "best" / "model.onnx", tmp_path / ".hidden.tmp", tmp_path / f"model.{gone}.0123abcd.tmp"]
    for path in (stale, mine, *keep):
        path.write_text("x")
    assert sweep_temporaries(tmp_path) == [stale]
    assert not stale.exists() and mine.exists() and all(path.exists() for path in keep)
