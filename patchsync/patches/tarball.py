"""Read SUSE's patch tarball (``patches.xen.tar.bz2``) from bytes, refusing anything hostile.

The result is data, never files on disk: only regular files under the
tarball's one top folder are accepted, and their bytes are kept exactly.
A tarball with absolute paths, ``..``, links, devices, duplicate names or
oversized members is refused as a whole rather than partly used.
"""

from __future__ import annotations

import io
import lzma
import tarfile
import zlib

from ..errors import TarballError
from ..names import control_problem, path_problem

#: Largest single patch accepted; SUSE's largest (xen3-auto-*) are a few MB.
MAX_MEMBER = 32 * 1024 * 1024
#: Largest total of all patches accepted (all of patches.xen is ~10 MB);
#: with the interpreter it keeps a whole read under 200 MB of memory.
MAX_TOTAL = 64 * 1024 * 1024
#: Most members accepted; patches.xen has a few hundred.
MAX_MEMBERS = 100_000
#: Largest pax extended header or GNU long name/link accepted.  tarfile
#: reads such a header whole, before it yields the member it describes,
#: so its declared size is checked here first (a 10 KB tarball can declare
#: gigabytes); real ones hold a path, a few times 4 KB at most.
MAX_EXTENDED = 64 * 1024
#: All extended headers of one tarball together, each counted at least one
#: block: bounds the work a chain of small ones can cause.
MAX_EXTENDED_TOTAL = 16 * 1024 * 1024

_CORRUPT = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError, RecursionError)
_EXTENDED_TYPES = frozenset(
    {tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK}
)


_BLOCK = tarfile.BLOCKSIZE


class _BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that checks an extended header's declared size before tarfile reads it."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED_TYPES:
            if self.size > MAX_EXTENDED:
                raise TarballError(
                    f"extended header (type {self.type!r}) declares {self.size} bytes, over the {MAX_EXTENDED} limit"
                )
            used = getattr(archive, "_patchsync_extended", 0) + max(self.size, _BLOCK) + _BLOCK
            if used > MAX_EXTENDED_TOTAL:
                raise TarballError(f"extended headers total over the {MAX_EXTENDED_TOTAL} bytes limit")
            archive._patchsync_extended = used  # type: ignore[attr-defined]
        member: tarfile.TarInfo = super()._proc_member(archive)  # type: ignore[misc]
        return member


def _clean_path(name: str, *, where: str) -> tuple[str, ...]:
    """The member's path components; raises on anything that could leave the top folder."""
    if name.startswith("/"):
        raise TarballError(f"absolute path {name!r} refused", where=where)
    if "\\" in name:
        raise TarballError(f"odd characters in member name {name!r}", where=where)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise TarballError(f"member name {name!r} is not UTF-8", where=where) from None
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise TarballError(f"path {name!r} with '..' refused", where=where)
    if not parts:
        raise TarballError(f"empty member name {name!r}", where=where)
    # The name becomes a patch name, then a path in a git tree, a commit
    # subject and a mail header: git's rules and no control characters.
    problem = control_problem(name) or path_problem("/".join(parts))
    if problem:
        raise TarballError(f"member name refused: {problem}", where=where)
    return parts


def read_tarball(  # noqa: PLR0912, PLR0915  one loop over tar headers, one check per field
    data: bytes,
    *,
    where: str,
    max_member: int = MAX_MEMBER,
    max_total: int = MAX_TOTAL,
) -> tuple[str, dict[str, bytes]]:
    """The top folder name and ``{"<top>/<path>": bytes}`` of every regular file.

    bz2, xz and gzip tarballs are recognised by content.
    """
    try:
        # Closed by the with below.
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:*", tarinfo=_BoundedTarInfo)  # noqa: SIM115
    except TarballError as exc:
        raise TarballError(exc.message, where=where) from None
    except _CORRUPT as exc:
        raise TarballError(f"not a readable tarball: {exc}", where=where) from None
    top: str | None = None
    files: dict[str, bytes] = {}
    seen: set[tuple[str, ...]] = set()
    dirs: set[tuple[str, ...]] = set()
    total = 0
    count = 0
    try:
        with tar:
            for member in tar:
                count += 1
                if count > MAX_MEMBERS:
                    raise TarballError(f"more than {MAX_MEMBERS} members", where=where)
                parts = _clean_path(member.name, where=where)
                if top is None:
                    top = parts[0]
                elif parts[0] != top:
                    raise TarballError(
                        f"{member.name!r} is outside the top folder {top!r} (one top folder expected)", where=where
                    )
                if parts in seen:
                    raise TarballError(f"duplicate member {member.name!r}", where=where)
                seen.add(parts)
                if member.isdir():
                    dirs.add(parts)
                    continue
                if member.issym() or member.islnk():
                    raise TarballError(f"link {member.name!r} -> {member.linkname!r} refused", where=where)
                if not member.isreg() or member.issparse():
                    raise TarballError(f"{member.name!r} is not a regular file (type {member.type!r})", where=where)
                if len(parts) == 1:
                    raise TarballError(f"file {member.name!r} is not inside a top folder", where=where)
                if member.size > max_member:
                    raise TarballError(
                        f"member {member.name!r} has {member.size} bytes, over the {max_member} limit", where=where
                    )
                total += member.size
                if total > max_total:
                    raise TarballError(f"members total over the {max_total} bytes limit", where=where)
                fh = tar.extractfile(member)
                if fh is None:  # pragma: no cover - isreg() members always have data
                    raise TarballError(f"cannot read {member.name!r}", where=where)
                content = fh.read()
                if len(content) != member.size:
                    raise TarballError(f"member {member.name!r} is truncated", where=where)
                files["/".join(parts)] = content
    except TarballError as exc:
        if exc.where is None:
            raise TarballError(exc.message, where=where) from None
        raise
    except _CORRUPT as exc:
        raise TarballError(f"corrupt tarball: {exc}", where=where) from None
    # A file and a folder of the same name, e.g. "top/a" and "top/a/b".
    for path in files:
        parts = tuple(path.split("/"))
        for i in range(2, len(parts)):
            if parts[:i] in seen and parts[:i] not in dirs:
                raise TarballError(f"{'/'.join(parts[:i])!r} is both a file and a folder", where=where)
    if top is None or not files:
        raise TarballError("the tarball has no files", where=where)
    return top, files
