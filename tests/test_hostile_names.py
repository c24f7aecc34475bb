"""Names from the mirror (issue 10, class 1): refused at the boundary, or a tree git accepts.

The hostile tarballs are built here, at test time: member names and the
paths inside the patches come from hypothesis and from the attacks that
broke earlier versions (a newline that became a trailer, ``.git/config``,
``..``, ``.gitmodules``, a 300-byte name, a patch called ``series``).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from patchsync.compare import compare_target
from patchsync.config import TargetConfig
from patchsync.errors import PatchsyncError, SourceError, TarballError
from patchsync.gitsync import CONFLICT, ERROR, UPDATED, sync_target
from patchsync.gitsync.tree import read_target
from patchsync.model import PatchSet
from patchsync.patches.tarball import read_tarball
from patchsync.source.index import parse_index

from .gittarget import PATCHES_DIR, TargetRepo, git, make_patch, ref, source_info, source_lines

#: Refusals are logged as errors by sync; that is what these tests expect.
pytestmark = pytest.mark.allow_error_log

SRPM = "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"
BASE_PATCH = make_patch({"src/a.c": (source_lines("a"), source_lines("a").replace("a line 5\n", "a xen\n"))})


def tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:bz2", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def target_repo(root: Path) -> TargetConfig:
    repo = TargetRepo(root / "tree")
    repo.commit("base", {"src/a.c": source_lines("a").encode()})
    repo.commit_patch("xen3-base.diff", BASE_PATCH)
    return TargetConfig(name="t", repo=str(repo.path), branch="ec2")


def sync_hostile(root: Path, name: str, path: str) -> str:
    """Tarball -> patch set -> compare -> sync; the review branch's status, or raises PatchsyncError."""
    target = target_repo(root)
    members = {"patches.xen/xen3-base.diff": BASE_PATCH, f"patches.xen/{name}": make_patch({path: (None, "x\n")})}
    try:
        data = tarball(members)
    except (ValueError, UnicodeError, tarfile.TarError):
        assume(False)  # tarfile itself cannot write this name
    top, files = read_tarball(data, where=f"{SRPM}: patches.xen.tar.bz2")
    patchset = PatchSet(source_info(), top, files, None)
    drift = compare_target(patchset, target, read_target(target))
    result = sync_target(patchset, target, drift, state_dir=root / "state")
    if result.status in (ERROR, CONFLICT):
        assert ref(Path(target.repo), target.review_ref) is None
        raise PatchsyncError(result.error or "conflict")
    return result.status


def assert_git_accepts(repo: Path, root: Path) -> None:
    fsck = subprocess.run(["git", "-C", str(repo), "fsck", "--strict"], capture_output=True, check=False)
    assert fsck.returncode == 0, fsck.stderr.decode()
    git(repo, "worktree", "add", "-q", str(root / "checkout"), "patchsync/t")
    status = git(root / "checkout", "status", "--porcelain")
    assert status == ""


_PIECES = st.sampled_from(
    [
        *(".git", ".GIT", ".git.", "git~1", ".gitmodules", ".g\u200cit", "..", ".", "", "series", "a\nb", "x\x00y"),
        *("\x7f", "tab\there", "é", "x" * 256, "Signed-off-by: evil <e@x>", "a b", "-", "~", ":", "\\"),
    ]
)
_NAME = st.lists(st.one_of(_PIECES, st.text("abcxyz.-_", min_size=1, max_size=8)), min_size=1, max_size=3).map("/".join)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(name=_NAME, path=_NAME)
@example(name="xen3-new.diff", path="drivers/xen/new.c")
@example(name="xen3-x\nSigned-off-by: evil <e@x>", path="src/b.c")
@example(name="series", path="src/b.c")
@example(name="xen3-ok.diff", path=".git/config")
@example(name="xen3-ok.diff", path="src/.gitmodules")
@example(name="x" * 300, path="src/b.c")
@example(name="xen3-ok.diff", path="a/../../b")
def test_any_name_is_refused_or_yields_a_tree_git_accepts(name: str, path: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            status = sync_hostile(root, name, path)
        except PatchsyncError as exc:
            status = str(exc)
        assert "\n" not in status
        if status == UPDATED:
            assert_git_accepts(root / "tree", root)


def test_a_newline_in_a_member_name_is_one_line_naming_the_srpm(tmp_path: Path) -> None:
    with pytest.raises(TarballError) as info:
        sync_hostile(tmp_path, "xen3-x\nSigned-off-by: evil <e@x>", "src/b.c")
    assert str(info.value).startswith(f"{SRPM}: patches.xen.tar.bz2: member name refused: control character '\\n'")
    assert "\n" not in str(info.value)


def test_a_patch_named_series_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TarballError, match=rf"^{SRPM}: patch name refused: 'series' collides with the quilt"):
        sync_hostile(tmp_path, "series", "src/b.c")


@pytest.mark.parametrize("path", [".git/config", "src/.GIT/hooks/x", "git~1/config", "src/.gitmodules", "x" * 300])
def test_a_patch_touching_a_path_git_flags_writes_nothing(tmp_path: Path, path: str) -> None:
    with pytest.raises(PatchsyncError, match="patch refused: ") as info:
        sync_hostile(tmp_path, "xen3-ok.diff", path)
    assert "xen3-ok.diff" in str(info.value)
    assert not (Path(tmp_path / "tree" / ".git" / "refs" / "patchsync")).exists()


def test_an_index_link_with_a_nul_is_one_line() -> None:
    page = '<a href="kernel-source-2.6.32.11-1.src.rpm%00.html">k</a>'
    with pytest.raises(SourceError, match=r"^http://h/src/: index link refused: control character '\\x00'"):
        parse_index(page, "http://h/src/")


def test_patches_dir_keeps_only_its_own_files(tmp_path: Path) -> None:
    """The ordinary case still syncs, and the review branch checks out."""
    assert sync_hostile(tmp_path, "xen3-new.diff", "drivers/xen/new.c") == UPDATED
    assert_git_accepts(tmp_path / "tree", tmp_path)
    assert (tmp_path / "checkout" / PATCHES_DIR / "xen3-new.diff").is_file()
