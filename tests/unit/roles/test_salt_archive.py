"""roles/salt_bootstrap/files/archive.sh: the one way the role packs and unpacks the wheelhouse and the states.
Two plays on one controller pack into the same cache at once; a node or the master unpacks while another run
may too."""
import os
import subprocess

ARCHIVE_SH = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "salt_bootstrap", "files", "archive.sh")


def archive(*args):
    return subprocess.run(["sh", ARCHIVE_SH, *args], text=True, capture_output=True, timeout=60, check=True).stdout


def tree(root, size):
    for n in range(20):
        path = root / f"d{n % 4}" / f"f{n}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([n]) * size)


def test_two_packs_at_once_leave_one_whole_archive_and_no_temporary_file(tmp_path):
    """Two runs pack different states (a checkout changed between them) into one archive at once, many times:
    the archive is always the whole of one of them, never a mix."""
    small, large = tmp_path / "small", tmp_path / "large"
    tree(small, 1000)
    tree(large, 50000)
    target = tmp_path / "cache" / "salt-tree.tar"
    target.parent.mkdir()
    whole = {}
    for name in (small, large):
        archive("pack", str(tmp_path / f"{name.name}.tar"), str(name))
        whole[name.name] = (tmp_path / f"{name.name}.tar").read_bytes()
    for attempt in range(15):
        runs = [subprocess.Popen(["sh", ARCHIVE_SH, "pack", str(target), str(src)], stdout=subprocess.PIPE)
                for src in (small, large, small, large)]
        assert [r.wait(timeout=60) for r in runs] == [0, 0, 0, 0]
        assert target.read_bytes() in whole.values(), f"attempt {attempt}: a mix of both trees"
    assert os.listdir(target.parent) == ["salt-tree.tar"]


def test_unpack_gives_exactly_the_archive_and_an_unchanged_pack_touches_nothing(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    tree(src, 10)
    (src / ".complete").write_text("")              # a build marker at the top: left out
    (src / "d1" / "__pycache__").mkdir()             # bytecode a test or a tool left beside a script: left out
    (src / "d1" / "__pycache__" / "guard.cpython-311.pyc").write_bytes(b"\0")
    target = tmp_path / "a.tar"
    assert archive("pack", str(target), str(src)).strip() == "changed"
    before = os.stat(target).st_mtime_ns
    assert archive("pack", str(target), str(src)).strip() == "unchanged"
    assert os.stat(target).st_mtime_ns == before
    (out / "stale").mkdir(parents=True)              # what an older archive had
    archive("unpack", str(target), str(out))
    assert sorted(os.listdir(out)) == ["d0", "d1", "d2", "d3"]
    assert "__pycache__" not in os.listdir(out / "d1")
    assert (out / "d1" / "f5").read_bytes() == bytes([5]) * 10
    assert sorted(os.listdir(tmp_path)) == ["a.tar", "out", "src"]
