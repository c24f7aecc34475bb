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
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import PatchsyncError, TarballError
from .model import PatchSet, SignatureInfo, SourceInfo
from .patches.tarball import read_tarball
from .rpm.header import member_key
from .rpm.payload import read_members

if TYPE_CHECKING:
    from .rpm.header import PackageHeaders
    from .rpm.signature import Keyring

#: The member patchsync syncs unless told otherwise (config ``source.tarball``).
DEFAULT_TARBALL = "patches.xen.tar.bz2"
#: SUSE's ordered patch list, a separate source of kernel-source.
SERIES_CONF = "series.conf"


def extract_patchset(
    path: Path,
    tarball: str = DEFAULT_TARBALL,
    *,
    source: SourceInfo | None = None,
    verify_payload: bool = False,
    keyring: Keyring | None = None,
    where: str | None = None,
) -> PatchSet:
    """The patches in ``tarball`` inside the src.rpm at ``path``, verified, with series.conf when present.

    ``source`` describes where the package came from (the source side passes
    its URL and transfer counts); without it, a ``local`` SourceInfo is made
    from the package's own header.  An empty ``source.tarball_sha256`` is
    filled in.  With a ``keyring``, the header signature is verified before
    anything the header lists is trusted, and the signer recorded in
    ``source.signature``; ``where`` names the package in errors.
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
    output = Path(os.path.abspath(output))
    if (output.exists() or output.is_symlink()) and (
        not output.is_dir() or output.is_symlink() or any(output.iterdir())
    ):
        raise PatchsyncError("exists and is not an empty folder; refusing to overwrite it", where=output)
    if patchset.series_conf is not None and patchset.top == SERIES_CONF:
        raise TarballError(f"top folder named {SERIES_CONF} clashes with series.conf", where=output)
    # Parents we create are removed again on failure: nothing is left behind.
    created = [p for p in reversed(output.parents) if not p.exists()]
    try:
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            tmp = _make_temp_dir(output)
        except OSError as exc:
            raise PatchsyncError(f"cannot create the output folder: {exc.strerror}", where=output) from None
        try:
            _write_tree(tmp, patchset)
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
