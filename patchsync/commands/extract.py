"""``patchsync extract``: take the patch tarball, or any one member, out of a src.rpm; or list its files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PatchsyncError

if TYPE_CHECKING:
    from ..extract import PackageListing

HELP = "extract the patch tarball (and series.conf) from a src.rpm into a folder, or list its files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..extract import DEFAULT_TARBALL

    parser.add_argument("src_rpm", metavar="SRC_RPM", help="the kernel-source src.rpm")
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--tarball",
        metavar="NAME",
        default=DEFAULT_TARBALL,
        help=f"member holding the patches (default {DEFAULT_TARBALL})",
    )
    what.add_argument(
        "--list", action="store_true", help="list every file of the package (name, size, digest algorithm, digest)"
    )
    what.add_argument(
        "--member", metavar="PATH", help="write this one member to DIR/PATH, byte for byte, whatever its type"
    )
    parser.add_argument("--json", action="store_true", help="with --list: print the listing as JSON")
    parser.add_argument(
        "--output", metavar="DIR", help="folder to create: DIR/<top folder>/... and DIR/series.conf (or DIR/PATH)"
    )
    parser.add_argument(
        "--verify-payload", action="store_true", help="also check the digest of the whole compressed payload"
    )
    parser.add_argument(
        "--key",
        metavar="FILE",
        action="append",
        default=[],
        help="OpenPGP certificate file; the header must be signed by one of these (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from ..extract import extract_member, extract_patchset, list_package, write_patchset

    if args.json and not args.list:
        raise PatchsyncError("--json goes with --list")
    if not args.list and args.output is None:
        raise PatchsyncError("--output DIR is required to extract (or use --list)")
    keyring = None
    if args.key:
        from ..rpm.signature import load_keyring

        keyring = load_keyring(args.key, what="--key")
    src_rpm = Path(args.src_rpm)
    if args.list:
        _print_listing(list_package(src_rpm, keyring=keyring), as_json=args.json)
        return 0
    output = Path(args.output)
    if args.member is not None:
        written = extract_member(src_rpm, args.member, output, verify_payload=args.verify_payload, keyring=keyring)
        if not args.quiet:
            print(f"{written}: from {src_rpm.name}")
        return 0
    patchset = extract_patchset(src_rpm, args.tarball, verify_payload=args.verify_payload, keyring=keyring)
    write_patchset(patchset, output)
    if not args.quiet:
        series = " and series.conf" if patchset.series_conf is not None else ""
        src = patchset.source
        print(f"{output}: {len(patchset.files)} files under {patchset.top}/{series} from {src.file}")
        if src.signature is not None:
            print(f"{src.file}: {src.signature_line}")
    return 0


def _print_listing(listing: PackageListing, *, as_json: bool) -> None:
    """One line per file (``NAME SIZE ALGORITHM DIGEST``, ``-`` for none), or the JSON documented in docs/json.md."""
    from ..extract import file_type

    if not as_json:
        for f in listing.files:
            algo = f.hash_name if f.digest else "-"
            print(f"{f.name} {f.size} {algo} {f.digest or '-'}")
        return
    from ._common import print_json

    print_json(
        {
            "package": listing.nevr,
            "rpm_format": listing.rpm_format,
            "files": [
                {
                    "name": f.name,
                    "type": file_type(f),
                    "size": f.size,
                    "mode": f"{f.mode:o}" if f.mode else None,
                    "digest_algorithm": f.hash_name if f.digest else None,
                    "digest": f.digest or None,
                    "link_target": f.linkto or None,
                }
                for f in listing.files
            ],
        }
    )
