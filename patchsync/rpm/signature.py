"""OpenPGP verification: an RPM's header signature, and detached signatures (``repomd.xml.asc``).

A signature over the main header covers RPMTAG_PAYLOADDIGEST and every
FILEDIGESTS entry, so header signature + payload digest + per-file digest
is one unbroken chain from a key the team chose to every byte patchsync
uses.  Callers verify *before* they trust any digest the header lists.

Whether a signature is valid is decided by Sequoia-PGP alone (through
pysequoia, the library rpm itself verifies with through rpm-sequoia), under
its standard policy, evaluated at the signature's creation time: a key
expired or revoked then, a weak algorithm (SHA-1, MD5, short RSA/DSA keys)
or bytes changed after signing all fail there.  This module only finds the
signatures, picks the certificate by issuer and, when Sequoia refuses, words
the refusal from what the signature and certificate say about themselves.

The header signatures are RSAHEADER and DSAHEADER (rpm 4, binary packets)
and rpm 6's OPENPGP (base64 packets); the header reader collects them in
:attr:`~patchsync.rpm.header.PackageHeaders.header_signatures`.  Legacy
signatures over header + payload (SIGTAG_PGP/GPG) cannot be checked from the
header alone and are not used.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, SignatureError
from ..model import SignatureInfo

if TYPE_CHECKING:
    from pysequoia import Cert, Sig

    from .header import PackageHeaders

log = logging.getLogger(__name__)

#: Hash algorithms Sequoia's standard policy rejects for data signatures
#: (sequoia-openpgp ``policy.rs``: MD5 and RIPEMD-160 always, SHA-1 since 2013);
#: used only to word a refusal, never to decide one.
_WEAK_HASHES = ("MD5", "SHA1", "RipeMD")


@dataclass(frozen=True)
class _Key:
    cert: Cert
    #: The file the certificate came from.
    source: str


class Keyring:
    """The certificates a signature must come from (``source.keys`` or ``extract --key``)."""

    def __init__(self, keys: Sequence[_Key], *, what: str) -> None:
        self.keys = tuple(keys)
        #: How the user named these keys, for messages: ``source.keys`` or ``--key``.
        self.what = what
        self._by_id: dict[str, _Key] = {}
        from pysequoia.packet import PacketPile

        for key in self.keys:
            # Index the primary key and every subkey by fingerprint and key ID:
            # a signature's issuer names the (sub)key that signed.
            for packet in PacketPile.from_bytes(bytes(key.cert)):
                for ident in (packet.fingerprint, packet.key_id):
                    if ident:
                        self._by_id.setdefault(ident.upper(), key)

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(k.cert.fingerprint.upper() for k in self.keys)

    @property
    def digest(self) -> str:
        """SHA-256 over every certificate as loaded: changes when a key is added, removed, or updated
        (a new revocation or expiry), so a verdict remembered under it is never reused past such a change."""
        hasher = hashlib.sha256()
        for cert in sorted(bytes(k.cert) for k in self.keys):
            hasher.update(len(cert).to_bytes(8, "big") + cert)
        return hasher.hexdigest()

    def find(self, sig: Sig) -> _Key | None:
        for ident in (sig.issuer_fingerprint, sig.issuer_key_id):
            if ident and (key := self._by_id.get(ident.upper())) is not None:
                return key
        return None


def load_keyring(paths: Iterable[str | os.PathLike[str]], *, what: str = "source.keys") -> Keyring:
    """Every certificate in ``paths`` (ASCII-armoured or binary).

    A file that is missing, unreadable or holds no OpenPGP certificate is a
    :class:`~patchsync.errors.ConfigError` naming it.
    """
    from pysequoia import Cert

    keys: list[_Key] = []
    for path in paths:
        where = os.fspath(path)
        try:
            data = Path(where).read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{what}: no such key file", where=where) from None
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read the key file: {exc.strerror}", where=where) from None
        try:
            certs = Cert.split_bytes(data) if data.strip() else []
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(f"{what}: not an OpenPGP certificate: {_first_line(exc)}", where=where) from None
        if not certs:
            raise ConfigError(f"{what}: holds no OpenPGP certificate", where=where)
        keys.extend(_Key(cert=cert, source=where) for cert in certs)
    return Keyring(keys, what=what)


def verify_header(headers: PackageHeaders, keyring: Keyring) -> SignatureInfo:
    """The signer of ``headers``' main header; :class:`SignatureError` when no signature by ``keyring`` verifies."""
    if not headers.header_signatures:
        what = "only a legacy header+payload signature" if headers.legacy_signature else "none"
        raise SignatureError(
            f"signature: {what}: the main header carries no OpenPGP signature, and {keyring.what} requires one",
            where=headers.where,
        )
    return verify_detached(headers.header_blob, headers.header_signatures, keyring, where=headers.where)


def verify_detached(
    data: bytes, signatures: Sequence[bytes], keyring: Keyring, *, where: str, binary: bool = True
) -> SignatureInfo:
    """The signer of ``data``: the first of ``signatures`` that verifies by a key in ``keyring``.

    When none does, the :class:`SignatureError` names the most telling
    failure: a signature by a known key that does not verify beats one by
    an unknown key.  ``binary`` requires a binary-document signature (RPM
    headers); ``repomd.xml.asc`` may also be a text signature.
    """
    from pysequoia import Sig

    problems: list[tuple[int, str]] = []
    for raw in signatures:
        try:
            sig = Sig.from_bytes(raw)
        except (RuntimeError, ValueError) as exc:
            problems.append((0, f"not an OpenPGP signature ({_first_line(exc)})"))
            continue
        key_id = _key_id(sig)
        key = keyring.find(sig)
        if key is None:
            problems.append((1, f"by key {key_id}, which is not in {keyring.what}"))
            continue
        refusal = _check(data, sig, key, binary=binary)
        if refusal is None:
            created = sig.created
            assert created is not None  # Sequoia refuses a signature without a creation time
            user_ids = key.cert.user_ids
            return SignatureInfo(
                fingerprint=key.cert.fingerprint.upper(),
                user_id=str(user_ids[0]) if user_ids else "",
                signed_at=created.astimezone(UTC),
                key_id=key_id,
            )
        problems.append((2, f"by key {key_id} ({key.cert.fingerprint.upper()}, {key.source}): {refusal}"))
    if not problems:
        raise SignatureError("signature: none", where=where)
    _rank, worst = max(problems, key=lambda p: p[0])
    raise SignatureError(f"signature: {worst}", where=where)


def _check(data: bytes, sig: Sig, key: _Key, *, binary: bool) -> str | None:
    """``None`` when Sequoia accepts ``sig`` over ``data`` by ``key``; otherwise why it did not."""
    from pysequoia import verify
    from pysequoia.packet import SignatureType

    if binary and sig.signature_type != SignatureType.Binary:
        return f"a {sig.signature_type} signature, not one over a binary document"
    try:
        result = verify(bytes=data, store=lambda _ids: [key.cert], signature=sig)
    except RuntimeError as exc:
        log.debug("Sequoia refused the signature: %s", _first_line(exc))
    else:
        if result.valid_sigs:
            return None
    return _why(sig, key.cert)


def _why(sig: Sig, cert: Cert) -> str:
    """Word a refusal Sequoia already made, from what the signature and certificate declare."""
    created = sig.created
    now = datetime.now(UTC)
    if cert.is_revoked:
        return "the certificate is revoked"
    expires = cert.expiration
    if created is not None and expires is not None and created >= expires:
        return f"the key expired on {_when(expires)}, before the signature was made on {_when(created)}"
    hash_name = str(sig.hash_algorithm).rsplit(".", 1)[-1]
    if hash_name in _WEAK_HASHES:
        return f"{hash_name} signatures are rejected by the OpenPGP standard policy"
    if created is None:
        return "the signature has no creation time"
    if created > now:
        return f"the signature claims to be made in the future ({_when(created)})"
    if expires is not None and expires <= now and created < expires:
        # Sequoia checks the key at signing time; say so if nothing else explains it.
        return "does not verify (the certificate has expired since; the header may also have been changed)"
    return "does not verify: the signed data was changed after signing, or the policy rejects the key"


def _key_id(sig: Sig) -> str:
    if sig.issuer_key_id:
        return sig.issuer_key_id.upper()
    fingerprint = (sig.issuer_fingerprint or "").upper()
    # A v4 key ID is the low 64 bits of the fingerprint, a v6 key ID the high 64.
    return (fingerprint[:16] if sig.version >= 6 else fingerprint[-16:]) or "(no issuer)"


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _first_line(exc: BaseException) -> str:
    # pysequoia appends a Rust backtrace when RUST_BACKTRACE is set.
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
