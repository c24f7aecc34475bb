"""The one check for every name that becomes a path, a ref or a header.

Names come from outside: tarball members, index page links, the paths a
patch touches, the config's branch names.  Each is checked here, once, at
the boundary where it enters; past it, code may put the name into a git
tree, a ref or a commit message without escaping.

The rules are git's own, so that a tree patchsync writes passes
``git fsck --strict``, a remote with ``receive.fsckObjects`` accepts it and
``git worktree add`` checks it out:

* ``verify_path`` (read-cache.c) and ``fsck_tree`` (fsck.c): no empty,
  ``.`` or ``..`` component, no ``.git`` in any case or in the NTFS and
  HFS+ spellings git protects against (``.git.``, ``git~1``, ``.g\\u200cit``),
  no ``.gitmodules`` (fsck checks its contents, which a patch controls);
* ``check_refname_format`` (refs.c) for branches;
* no control character (a byte below 0x20, or 0x7f) anywhere, so no name
  can add a line to a commit message, a trailer or a mail header;
* each component at most :data:`MAX_COMPONENT` bytes (``NAME_MAX`` of
  every Linux file system), the whole path at most :data:`MAX_PATH`.

Each check returns the reason a name is refused, or ``None``; callers turn
the reason into their own error naming the file the name came from.
"""

from __future__ import annotations

import re

#: Longest path component in bytes: NAME_MAX of ext4, xfs, btrfs and tmpfs.
MAX_COMPONENT = 255
#: Longest whole path in bytes, below Linux's PATH_MAX of 4096 so that a
#: checkout under a worktree folder still fits.
MAX_PATH = 3072

#: Code points HFS+ ignores when comparing names (git's utf8.c,
#: ``next_hfs_char``), so ``.g\u200cit`` is ``.git`` on a Mac.
_HFS_IGNORED = frozenset([*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF])
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# NTFS 8.3 short names git refuses (path.c, is_ntfs_dotgit/is_ntfs_dotgitmodules).
_NTFS_SHORT = re.compile(r"^(git~1|gitmod~[1-4]|gi7eba~[1-9])$")


def control_problem(name: str) -> str | None:
    """Why ``name`` is refused for holding a control character, or None.

    >>> control_problem("xen3-fixup")
    >>> control_problem("a\\nb")
    "control character '\\\\n' in 'a\\\\nb'"
    """
    found = _CONTROL.search(name)
    if found:
        return f"control character {found.group()!r} in {name!r}"
    return None


def _git_special(component: str) -> str | None:
    """Which of git's protected names ``component`` spells on some file system, or None."""
    folded = "".join(c for c in component if ord(c) not in _HFS_IGNORED)
    # NTFS drops trailing dots and spaces and reads "name:stream" as name.
    folded = folded.split(":", 1)[0].rstrip(". ").lower()
    if folded in (".git", ".gitmodules"):
        return folded
    if _NTFS_SHORT.match(folded):
        return ".git" if folded == "git~1" else ".gitmodules"
    return None


#: What rpm leaves in a built package's version and release (rpmbuild
#: refuses '-' there; macros are expanded by then).
_RPM_EVR = re.compile(r"^[A-Za-z0-9._+~^]+$")


def package_problem(name: str, version: str, release: str) -> str | None:
    """Why a package's name, version or release cannot go into a commit subject, or None.

    >>> package_problem("kernel-source", "2.6.32.10", "0.0.3.bbbb222")
    >>> package_problem("kernel-source", "2.6.32\\nX: y", "1")
    "version '2.6.32\\\\nX: y' holds characters rpm does not allow"
    """
    problem = control_problem(name)
    if problem or "/" in name or not name:
        return problem or f"package name {name!r} is not a file name"
    for what, value in (("version", version), ("release", release)):
        if not _RPM_EVR.match(value):
            return f"{what} {value!r} holds characters rpm does not allow"
    return None


def path_problem(path: str) -> str | None:
    """Why git would refuse ``path`` (``a/b/c``) in a tree, or None.

    >>> path_problem("arch/x86/xen/enlighten.c")
    >>> path_problem("a/../b")
    "component '..' in path 'a/../b'"
    >>> path_problem(".GIT/config")
    "component '.GIT' (git's '.git') in path '.GIT/config'"
    >>> path_problem("git~1/hooks")
    "component 'git~1' (git's '.git') in path 'git~1/hooks'"
    """
    problem = control_problem(path)
    if problem:
        return problem
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return f"path {path!r} is not valid UTF-8"
    if len(raw) > MAX_PATH:
        return f"path of {len(raw)} bytes, over {MAX_PATH}: {path[:60]!r}..."
    if not path:
        return "empty path"
    # git splits on "/" and, protecting NTFS (core.protectNTFS, on by
    # default), also looks behind every backslash.
    for component in re.split(r"[/\\]", path):
        if component in ("", ".", ".."):
            return f"component {component!r} in path {path!r}" if component else f"empty component in path {path!r}"
        special = _git_special(component)
        if special:
            return f"component {component!r} (git's {special!r}) in path {path!r}"
        size = len(component.encode("utf-8", "surrogateescape"))
        if size > MAX_COMPONENT:
            return f"component of {size} bytes, over {MAX_COMPONENT}, in path {path[:60]!r}..."
    return None


def path_bytes_problem(path: bytes) -> str | None:
    """:func:`path_problem` for a path as git stores it (bytes, usually UTF-8)."""
    return path_problem(path.decode("utf-8", "surrogateescape"))


def refname_problem(refname: str) -> str | None:
    """Why ``git check-ref-format`` refuses ``refname`` (a full ref name), or None.

    >>> refname_problem("refs/heads/patchsync/ec2")
    >>> refname_problem("refs/heads/a..b")
    "'..' in ref name 'refs/heads/a..b'"
    """
    if control_problem(refname):
        return f"control character in ref name {refname!r}"
    bad = re.search(r"[ ~^:?*\[\\]", refname)
    if bad:
        return f"{bad.group()!r} in ref name {refname!r}"
    for token in ("..", "@{", "//"):
        if token in refname:
            return f"{token!r} in ref name {refname!r}"
    if refname == "@":
        return "'@' is not a ref name"
    if refname.startswith("/") or refname.endswith("/") or refname.endswith("."):
        return f"ref name {refname!r} begins or ends with '/' or ends with '.'"
    for component in refname.split("/"):
        if component.startswith("."):
            return f"component {component!r} begins with '.' in ref name {refname!r}"
        if component.endswith(".lock"):
            return f"component {component!r} ends with '.lock' in ref name {refname!r}"
    return None


def branch_problem(branch: str) -> str | None:
    """Why ``git check-ref-format --branch`` refuses ``branch``, or None.

    Also refused: ``HEAD`` and names starting ``refs/`` (git accepts both,
    but ``git checkout HEAD`` or a ``refs/heads/refs/heads/x`` make every
    later command ambiguous).

    >>> branch_problem("patchsync/ec2")
    >>> branch_problem("-x")
    "branch name '-x' begins with '-'"
    >>> branch_problem("HEAD")
    "branch name 'HEAD' is ambiguous"
    """
    if not branch:
        return "empty branch name"
    if branch.startswith("-"):
        return f"branch name {branch!r} begins with '-'"
    if branch in ("HEAD", "@") or branch.startswith("refs/"):
        return f"branch name {branch!r} is ambiguous"
    return refname_problem("refs/heads/" + branch)
