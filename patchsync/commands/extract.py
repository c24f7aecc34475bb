"""``patchsync extract``: take the patch tarball out of a src.rpm, no config needed."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "extract the patch tarball (and series.conf) from a src.rpm into a folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..extract import DEFAULT_TARBALL

    parser.add_argument("src_rpm", metavar="SRC_RPM", help="the kernel-source src.rpm")
    parser.add_argument(
        "--tarball",
        metavar="NAME",
        default=DEFAULT_TARBALL,
        help=f"member holding the patches (default {DEFAULT_TARBALL})",
    )
    parser.add_argument(
        "--output", metavar="DIR", required=True, help="folder to create: DIR/<top folder>/... and DIR/series.conf"
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
    from ..extract import extract_patchset, write_patchset

    keyring = None
    if args.key:
        from ..rpm.signature import load_keyring

        keyring = load_keyring(args.key, what="--key")
    output = Path(args.output)
    patchset = extract_patchset(Path(args.src_rpm), args.tarball, verify_payload=args.verify_payload, keyring=keyring)
    write_patchset(patchset, output)
    if not args.quiet:
        series = " and series.conf" if patchset.series_conf is not None else ""
        src = patchset.source
        print(f"{output}: {len(patchset.files)} files under {patchset.top}/{series} from {src.file}")
        if src.signature is not None:
            print(f"{src.file}: {src.signature_line}")
    return 0
