"""``source.keys`` in the config and ``extract --key``: signed src.rpms from rpmsign, keys made at test time."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchsync import config
from patchsync.cli import main
from patchsync.errors import ConfigError
from patchsync.model import UNCHECKED
from tests import rpmtools
from tests.conftest import DATA
from tests.signing import SigningKeys

UNSIGNED = DATA / "srpms" / "gzip" / "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"


def _config(tmp_path: Path, keys: list[Path]) -> Path:
    path = tmp_path / "patchsync.toml"
    listed = ", ".join(f'"{k}"' for k in keys)
    path.write_text(f'[source]\nurl = "http://127.0.0.1:9/src/"\nkeys = [{listed}]\n[state]\ndir = "{tmp_path}"\n')
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


# -- source.keys ----------------------------------------------------------------


def test_keys_default_to_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(tmp_path, [])
    assert config.load(path).source.keys == ()
    rc, out, _err = _run(capsys, "--config", str(path), "config", "check")
    assert rc == 0
    assert out.splitlines()[1] == UNCHECKED == "signature: not checked (source.keys is empty)"


def test_config_check_names_the_certificates(
    signing_keys: SigningKeys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(tmp_path, [signing_keys.rsa.cert, signing_keys.ed25519.cert])
    assert config.load(path).source.keys == (str(signing_keys.rsa.cert), str(signing_keys.ed25519.cert))
    rc, out, _err = _run(capsys, "--config", str(path), "config", "check")
    assert rc == 0
    line = out.splitlines()[1]
    assert line.startswith("signature: required, by one of 2 certificates: ")
    assert signing_keys.rsa.fingerprint in line
    assert signing_keys.ed25519.fingerprint in line


def test_config_check_names_every_source(
    signing_keys: SigningKeys, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "patchsync.toml"
    path.write_text(
        f'[[source]]\nname = "sle15"\nurl = "http://127.0.0.1:9/sle15/"\nkeys = ["{signing_keys.rsa.cert}"]\n'
        '[[source]]\nname = "sle12"\nurl = "http://127.0.0.1:9/sle12/"\n'
        f'[state]\ndir = "{tmp_path}"\n'
        '[[target]]\nname = "t"\nrepo = "/srv/git/t"\nbranch = "ec2"\nsource = "sle12"\n'
        '[[target]]\nname = "u"\nrepo = "/srv/git/u"\nbranch = "ec2"\nsource = "sle15"\n'
    )
    rc, out, _err = _run(capsys, "--config", str(path), "config", "check")
    assert rc == 0
    assert out.splitlines() == [
        f"{path}: OK; sources: sle15 (http://127.0.0.1:9/sle15/), sle12 (http://127.0.0.1:9/sle12/); "
        "targets: t (released), u (released)",
        f"source sle15: signature: required, by one of 1 certificates: {signing_keys.rsa.fingerprint}",
        f"source sle12: {UNCHECKED}",
    ]


@pytest.mark.parametrize("problem", ["missing", "folder", "empty", "garbage"])
def test_bad_key_file_is_a_config_error_naming_it(
    signing_keys: SigningKeys, tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    bad = tmp_path / "kotd.asc"
    if problem == "folder":
        bad.mkdir()
    elif problem == "empty":
        bad.write_bytes(b"")
    elif problem == "garbage":
        bad.write_bytes(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnonsense\n-----END PGP PUBLIC KEY BLOCK-----\n")
    path = _config(tmp_path, [signing_keys.rsa.cert, bad])
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{bad}: source.keys: ")
    rc, _out, err = _run(capsys, "--config", str(path), "config", "check")
    assert rc == 2
    assert err.startswith(f"patchsync: error: {bad}: source.keys: ")
    assert err.count("\n") == 1


def test_keys_must_be_a_list(tmp_path: Path) -> None:
    path = tmp_path / "patchsync.toml"
    path.write_text('[source]\nkeys = "/etc/patchsync/keys/kotd.asc"\n')
    with pytest.raises(ConfigError, match=r"'source\.keys' must be a list of a string"):
        config.load(path)


# -- extract --key --------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_rsa(signing_keys: SigningKeys, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return signing_keys.sign(UNSIGNED, signing_keys.rsa, tmp_path_factory.mktemp("x") / UNSIGNED.name)


def test_extract_with_the_right_key(
    signing_keys: SigningKeys, signed_rsa: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    rc, stdout, err = _run(
        capsys,
        "extract",
        str(signed_rsa),
        "--output",
        str(out),
        "--key",
        str(signing_keys.other.cert),
        "--key",
        str(signing_keys.rsa.cert),
    )
    assert (rc, err) == (0, "")
    assert f"signed by {signing_keys.rsa.fingerprint} {signing_keys.rsa.uid}" in stdout
    assert (out / "series.conf").is_file()


@pytest.mark.parametrize("case", ["unsigned", "other key", "tampered"])
def test_extract_refuses_and_writes_nothing(
    signing_keys: SigningKeys, signed_rsa: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    pkg = tmp_path / "k.src.rpm"
    if case == "unsigned":
        pkg.write_bytes(UNSIGNED.read_bytes())
        expected = "signature: none"
    elif case == "other key":
        pkg.write_bytes(signing_keys.sign(UNSIGNED, signing_keys.other, tmp_path / "o.src.rpm").read_bytes())
        expected = f"signature: by key {signing_keys.other.key_id}, which is not in --key"
    else:
        pkg.write_bytes(rpmtools.patch_main_header(signed_rsa.read_bytes(), b"bbbb222", b"bbbb223"))
        expected = f"signature: by key {signing_keys.rsa.key_id} ({signing_keys.rsa.fingerprint}"
    out = tmp_path / "out"
    rc, stdout, err = _run(capsys, "extract", str(pkg), "--output", str(out), "--key", str(signing_keys.rsa.cert))
    assert rc == 2
    assert stdout == ""
    assert err.startswith(f"patchsync: error: {pkg}: {expected}"), err
    assert err.count("\n") == 1
    assert not out.exists()


def test_extract_key_file_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, _out, err = _run(
        capsys, "extract", str(UNSIGNED), "--output", str(tmp_path / "o"), "--key", str(tmp_path / "nope.asc")
    )
    assert rc == 2
    assert err == f"patchsync: error: {tmp_path / 'nope.asc'}: --key: no such key file\n"
