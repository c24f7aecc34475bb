"""Take the patch tarball out of a src.rpm: in memory, then atomically to disk.

``extract_patchset`` is the pure-Python replacement for
``rpm2cpio X | cpio -idmv; tar -xjf patches.xen.tar.bz2``; ``write_patchset``
writes its result to a folder that either appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import PatchsyncError, RpmError, TarballError
from .model import PatchSet, SignatureInfo, SourceInfo
from .patches.series import SERIES_CONF
from .patches.tarball import read_tarball
from .rpm.header import RpmFileEntry, member_key, read_headers
from .rpm.payload import read_members

if TYPE_CHECKING:
    from .rpm.header import PackageHeaders
    from .rpm.signature import Keyring

#: The member patchsync syncs unless told otherwise (config ``source.tarball``).
DEFAULT_TARBALL = "patches.xen.tar.bz2"


def extract_patchset(
    path: Path,
    tarball: str = DEFAULT_TARBALL,
    *,
    source: SourceInfo | None = None,
    verify_payload: bool = False,
    keyring: Keyring | None = None,
    where: str | None = None,
    headers: PackageHeaders | None = None,
) -> PatchSet:
    """The patches in ``tarball`` inside the src.rpm at ``path``, verified, with series.conf when present.

    ``source`` describes where the package came from (the source side passes
    its URL and transfer counts); without it, a ``local`` SourceInfo is made
    from the package's own header.  An empty ``source.tarball_sha256`` is
    filled in.  With a ``keyring``, the header signature is verified before
    anything the header lists is trusted, and the signer recorded in
    ``source.signature``; ``where`` names the package in errors.
    ``headers`` are the package's, when the caller has already read them
    (a download verified as it arrived), so they are not parsed again.
    """
    signer: list[SignatureInfo] = []

    def check(headers: PackageHeaders) -> None:
        from .rpm.signature import verify_header

        assert keyring is not None
        signer.append(verify_header(headers, keyring))

    headers, found = read_members(
        path,
        (tarball, SERIES_CONF),
        verify_payload=verify_payload,
        where=where,
        check_headers=check if keyring is not None else None,
        headers=headers,
    )
    data = found.get(member_key(tarball))
    if data is None:
        others = sorted(f.name for f in headers.files if ".tar." in f.name)
        hint = f"; it has {', '.join(others)}" if others else ""
        raise TarballError(f"no {tarball} in {headers.nevr}{hint}", where=path)
    top, files = read_tarball(data, where=f"{path}: {tarball}")
    digest = hashlib.sha256(data).hexdigest()
    if source is None:
        source = SourceInfo(
            url=str(path),
            file=path.name,
            version=headers.version,
            release=headers.release,
            tarball=tarball,
            tarball_sha256=digest,
        )
    elif not source.tarball_sha256:
        source = dataclasses.replace(source, tarball_sha256=digest)
    if signer:
        source = dataclasses.replace(source, signature=signer[0])
    return PatchSet(source=source, top=top, files=files, series_conf=found.get(SERIES_CONF))


def write_patchset(patchset: PatchSet, output: Path) -> None:
    """Write ``output/<top>/<files>`` (and ``output/series.conf``) byte for byte, atomically.

    Everything is written into a temporary folder beside ``output`` and
    renamed into place, so ``output`` appears complete or not at all.  An
    existing ``output`` must be an empty folder: patchsync does not delete
    what it did not write.
    """
    if patchset.series_conf is not None and patchset.top == SERIES_CONF:
        raise TarballError(f"top folder named {SERIES_CONF} clashes with series.conf", where=output)
    _write_atomically(output, lambda root: _write_tree(root, patchset))


def _write_atomically(output: Path, fill: Callable[[Path], None]) -> None:
    """Create the folder ``output`` with what ``fill`` writes into it, whole or not at all."""
    output = Path(os.path.abspath(output))
    if (output.exists() or output.is_symlink()) and (
        not output.is_dir() or output.is_symlink() or any(output.iterdir())
    ):
        raise PatchsyncError("exists and is not an empty folder; refusing to overwrite it", where=output)
    # Parents we create are removed again on failure: nothing is left behind.
    created = [p for p in reversed(output.parents) if not p.exists()]
    try:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            tmp = _make_temp_dir(output)
        except OSError as exc:
            raise PatchsyncError(f"cannot create the output folder: {exc.strerror}", where=output) from None
        try:
            fill(tmp)
            tmp.chmod(0o755)
            with contextlib.suppress(FileNotFoundError):
                output.rmdir()
            os.rename(tmp, output)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError):
                raise PatchsyncError(f"cannot write: {exc.strerror or exc}", where=output) from None
            raise
    except BaseException:
        for parent in reversed(created):
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


@dataclasses.dataclass(frozen=True)
class PackageListing:
    """Every file an RPM package's header lists, for ``extract --list``."""

    nevr: str
    rpm_format: int
    files: tuple[RpmFileEntry, ...]


def list_package(path: Path, *, keyring: Keyring | None = None) -> PackageListing:
    """The files of the package at ``path`` as its (digest-checked, and with ``keyring`` signed) header lists them.

    Only the headers are read: the listing is what rpm -qpl --dump shows.
    """
    headers = _headers_of(path)
    if keyring is not None:
        from .rpm.signature import verify_header

        verify_header(headers, keyring)
    return PackageListing(nevr=headers.nevr, rpm_format=headers.rpm_format, files=headers.files)


def _headers_of(path: Path) -> PackageHeaders:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise RpmError(f"cannot read: {exc.strerror}", where=path) from None
    with fh:
        return read_headers(fh, str(path))[0]


def file_type(entry: RpmFileEntry) -> str:
    """``file``, ``dir``, ``symlink``, ``char``, ``block``, ``fifo`` or ``socket`` (from RPMTAG_FILEMODES).

    >>> file_type(RpmFileEntry("a", 0, "", 8, mode=0o40755)), file_type(RpmFileEntry("b", 1, "ab", 8))
    ('dir', 'file')
    """
    kinds = (
        (stat.S_ISDIR, "dir"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISCHR, "char"),
        (stat.S_ISBLK, "block"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
    )
    for test, name in kinds:
        if entry.mode and test(entry.mode):
            return name
    return "file"


def extract_member(
    path: Path, member: str, output: Path, *, verify_payload: bool = False, keyring: Keyring | None = None
) -> Path:
    """Write one member of the package to ``output/<its path>``, byte for byte, atomically; its new path.

    A regular file is verified against its header digest; a directory is
    created and a symlink made with the header's target (the header, whose
    digest was checked, is what rpm itself uses); devices, fifos and sockets
    are refused.  ``output`` is created as :func:`write_patchset` does.
    """

    def check(headers: PackageHeaders) -> None:
        from .rpm.signature import verify_header

        assert keyring is not None
        verify_header(headers, keyring)

    headers = _headers_of(path)
    entry = headers.file(member)
    if entry is None:
        raise RpmError(f"no {member} in {headers.nevr}", where=path)
    key = member_key(entry.name)
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise RpmError(f"refusing to write {entry.name!r}: not a plain relative path", where=path)
    kind = file_type(entry)
    if kind not in ("file", "dir", "symlink"):
        raise RpmError(f"{entry.name} is a {kind}; patchsync writes files, folders and symlinks only", where=path)
    # A folder or symlink needs no payload byte, but --verify-payload still checks the payload.
    wanted = [key] if kind == "file" else []
    if wanted or verify_payload:
        _h, found = read_members(
            path, wanted, verify_payload=verify_payload, check_headers=check if keyring is not None else None
        )
    else:
        found = {}
        if keyring is not None:
            check(headers)
    data = found.get(key, b"")

    def fill(root: Path) -> None:
        dest = root.joinpath(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            dest.mkdir()
        elif kind == "symlink":
            dest.symlink_to(entry.linkto)
        else:
            dest.write_bytes(data)

    _write_atomically(output, fill)
    return Path(os.path.abspath(output)).joinpath(*parts)


def _make_temp_dir(output: Path) -> Path:
    """A new private folder beside ``output`` (tempfile.mkdtemp without importing random)."""
    for _ in range(100):
        tmp = output.with_name(f".{output.name}.{os.urandom(6).hex()}.tmp")
        try:
            tmp.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"no free temporary name beside {output}")  # pragma: no cover


def _write_tree(root: Path, patchset: PatchSet) -> None:
    for name, data in patchset.files.items():
        parts = name.split("/")
        # PatchSet.files come from read_tarball, but a PatchSet can be built
        # elsewhere (a cache): never write outside root.
        if name.startswith("/") or any(p in ("", ".", "..") for p in parts) or parts[0] != patchset.top:
            raise TarballError(f"refusing to write {name!r} outside {patchset.top}/", where=str(root))
        dest = root.joinpath(*parts)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    if patchset.series_conf is not None:
        (root / SERIES_CONF).write_bytes(patchset.series_conf)
