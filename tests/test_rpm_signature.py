"""OpenPGP header signatures: src.rpms built by rpmbuild, signed by rpmsign with keys made at test time."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patchsync.errors import ConfigError, RpmError, SignatureError
from patchsync.rpm import tags
from patchsync.rpm.header import parse_headers
from patchsync.rpm.signature import Keyring, load_keyring, verify_detached, verify_header
from tests import rpmtools
from tests.conftest import CORPUS, DATA
from tests.signing import SigningKeys, TestKey

UNSIGNED = DATA / "srpms" / "gzip" / "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"


@pytest.fixture(scope="module")
def signed(signing_keys: SigningKeys, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The committed fixture signed by each key (and once with SHA-1), built once per module."""
    folder = tmp_path_factory.mktemp("signed")
    out = {
        key.name: signing_keys.sign(UNSIGNED, key, folder / f"{key.name}.src.rpm")
        for key in (signing_keys.rsa, signing_keys.ed25519, signing_keys.other, signing_keys.expired)
    }
    out["revoked"] = signing_keys.sign(UNSIGNED, signing_keys.revoked, folder / "revoked.src.rpm")
    out["sha1"] = signing_keys.sign(UNSIGNED, signing_keys.rsa, folder / "sha1.src.rpm", digest="sha1")
    return out


def _keyring(*keys: TestKey) -> Keyring:
    return load_keyring([k.cert for k in keys])


def _refusal(path: Path, keyring: Keyring) -> str:
    headers = parse_headers(path.read_bytes(), path.name)
    with pytest.raises(SignatureError) as info:
        verify_header(headers, keyring)
    message = str(info.value)
    assert message.startswith(f"{path.name}: signature: "), message
    assert "\n" not in message
    return message


@pytest.mark.parametrize(("name", "tag"), [("rsa", tags.SIGTAG_RSA), ("ed25519", tags.SIGTAG_DSA)])
def test_header_signed_by_a_trusted_key_verifies(
    signing_keys: SigningKeys, signed: dict[str, Path], name: str, tag: int
) -> None:
    key: TestKey = getattr(signing_keys, name)
    data = signed[name].read_bytes()
    headers = parse_headers(data, "k.src.rpm")
    assert len(headers.header_signatures) == 1
    assert headers.header_blob == data[headers.header_start : headers.payload_offset]
    # rpmsign put the signature where rpm puts one for that algorithm.
    assert rpmtools.rewrite_signature(data, drop={tag}) != data
    signer = verify_header(headers, _keyring(signing_keys.other, key))
    assert signer.fingerprint == key.fingerprint
    assert signer.user_id == key.uid
    assert signer.key_id == key.key_id
    assert abs(signer.signed_at - datetime.now(UTC)) < timedelta(hours=1)
    assert signer.to_json()["status"] == "verified"
    assert signer.to_json()["signed_at"].endswith("Z")


def test_binary_certificate_file(signing_keys: SigningKeys, signed: dict[str, Path], tmp_path: Path) -> None:
    cert = signing_keys.gnupg.export(signing_keys.ed25519.fingerprint, tmp_path / "kotd.gpg", armor=False)
    assert not cert.read_bytes().startswith(b"-----")
    headers = parse_headers(signed["ed25519"].read_bytes(), "k")
    assert verify_header(headers, load_keyring([cert])).fingerprint == signing_keys.ed25519.fingerprint


def test_unsigned_is_refused(signing_keys: SigningKeys) -> None:
    message = _refusal(UNSIGNED, _keyring(signing_keys.rsa))
    assert "signature: none: the main header carries no OpenPGP signature, and source.keys requires one" in message


def test_signed_by_another_key_is_refused(signing_keys: SigningKeys, signed: dict[str, Path]) -> None:
    message = _refusal(signed["other"], _keyring(signing_keys.rsa, signing_keys.ed25519))
    assert f"by key {signing_keys.other.key_id}, which is not in source.keys" in message


def test_header_changed_after_signing_is_refused(
    signing_keys: SigningKeys, signed: dict[str, Path], tmp_path: Path
) -> None:
    """A byte of the main header changed and the header's own SHA1/SHA256 recomputed: only the signature tells."""
    data = rpmtools.patch_main_header(signed["rsa"].read_bytes(), b"0.0.3.bbbb222", b"0.0.3.bbbb223")
    tampered = tmp_path / "tampered.src.rpm"
    tampered.write_bytes(data)
    headers = parse_headers(data, "tampered.src.rpm")  # the self-digests agree ...
    assert headers.release == "0.0.3.bbbb223"
    message = _refusal(tampered, _keyring(signing_keys.rsa))  # ... the signature does not
    assert f"by key {signing_keys.rsa.key_id}" in message
    assert "does not verify" in message


def test_key_expired_before_signing_is_refused(signing_keys: SigningKeys, signed: dict[str, Path]) -> None:
    message = _refusal(signed["expired"], _keyring(signing_keys.expired))
    assert f"by key {signing_keys.expired.key_id}" in message
    assert "the key expired on" in message
    assert "before the signature was made" in message


def test_revoked_key_is_refused(signing_keys: SigningKeys, signed: dict[str, Path]) -> None:
    message = _refusal(signed["revoked"], _keyring(signing_keys.revoked))
    assert f"by key {signing_keys.revoked.key_id}" in message
    assert "revoked" in message


def test_sha1_signature_is_refused_by_the_policy(signing_keys: SigningKeys, signed: dict[str, Path]) -> None:
    message = _refusal(signed["sha1"], _keyring(signing_keys.rsa))
    assert "SHA1 signatures are rejected by the OpenPGP standard policy" in message


def test_one_good_signature_among_several_suffices(signing_keys: SigningKeys, signed: dict[str, Path]) -> None:
    """RSAHEADER by an unknown key and DSAHEADER by a trusted one: the package is trusted."""
    rsa = parse_headers(signed["rsa"].read_bytes(), "a")
    ed = parse_headers(signed["ed25519"].read_bytes(), "b")
    assert rsa.header_blob == ed.header_blob  # the same header, signed twice
    both = (*rsa.header_signatures, *ed.header_signatures)
    signer = verify_detached(rsa.header_blob, both, _keyring(signing_keys.ed25519), where="x")
    assert signer.fingerprint == signing_keys.ed25519.fingerprint


def test_garbage_signature_is_refused(signing_keys: SigningKeys) -> None:
    with pytest.raises(SignatureError, match=r"^x: signature: not an OpenPGP signature"):
        verify_detached(b"data", [b"\x00garbage"], _keyring(signing_keys.rsa), where="x")


def test_rpm6_openpgp_tag(signing_keys: SigningKeys, signed: dict[str, Path]) -> None:
    """rpm 6 keeps header signatures base64-encoded in OPENPGP (a string array): rpmsign's moved there."""
    data = signed["rsa"].read_bytes()
    headers = parse_headers(data, "k")
    b64 = base64.b64encode(headers.header_signatures[0]) + b"\0"
    moved = rpmtools.rewrite_signature(
        data, drop={tags.SIGTAG_RSA}, add={tags.SIGTAG_OPENPGP: (tags.TYPE_STRING_ARRAY, 1, b64)}
    )
    v6 = parse_headers(moved, "k")
    assert v6.header_signatures == headers.header_signatures
    assert verify_header(v6, _keyring(signing_keys.rsa)).fingerprint == signing_keys.rsa.fingerprint
    bad = rpmtools.rewrite_signature(
        data, drop={tags.SIGTAG_RSA}, add={tags.SIGTAG_OPENPGP: (tags.TYPE_STRING_ARRAY, 1, b"not base64!\0")}
    )
    with pytest.raises(RpmError, match="OPENPGP entry is not base64"):
        parse_headers(bad, "k")


def test_rpm6_sample_openpgp_tag_is_read() -> None:
    """The OPENPGP tag of rpm's own signed v6 sample (its key is rpm's test key, not ours)."""
    sample = CORPUS.parent / "rpm-samples" / "libhello-1.0.1-1.x86_64-rpmv6.rpm"
    if not sample.is_file():
        pytest.skip(f"{sample} not found (../shared is absent)")
    try:
        headers = parse_headers(sample.read_bytes(), sample.name)
    except RpmError as exc:
        pytest.skip(f"rpm v6 headers are not readable yet (issue 13): {exc}")
    assert len(headers.header_signatures) == 1
    with pytest.raises(SignatureError, match="by key 5496CCFE8AF2CF5F, which is not in --key"):
        verify_header(headers, load_keyring([], what="--key"))


# -- key files ------------------------------------------------------------------


def test_missing_key_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_keyring([tmp_path / "nope.asc"])
    assert str(info.value) == f"{tmp_path / 'nope.asc'}: source.keys: no such key file"


def test_unreadable_key_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: source.keys: cannot read the key file"):
        load_keyring([tmp_path])


@pytest.mark.parametrize(
    "content", [b"", b"hello\n", b"-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"]
)
def test_key_file_without_a_certificate_names_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "kotd.asc"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=rf"^{path}: --key: "):
        load_keyring([path], what="--key")


def test_a_file_may_hold_several_certificates(
    signing_keys: SigningKeys, signed: dict[str, Path], tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.asc"
    bundle.write_bytes(signing_keys.other.cert.read_bytes() + signing_keys.rsa.cert.read_bytes())
    keyring = load_keyring([bundle])
    assert set(keyring.fingerprints) == {signing_keys.other.fingerprint, signing_keys.rsa.fingerprint}
    headers = parse_headers(signed["rsa"].read_bytes(), "k")
    assert verify_header(headers, keyring).fingerprint == signing_keys.rsa.fingerprint
