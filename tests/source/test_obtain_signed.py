"""obtain() with ``source.keys``: every src.rpm's header signature is verified on every path.

The packages are built by rpmbuild and signed by rpmsign with keys made at
test time (tests/signing.py); nginx serves them and its access log counts
what the header-only path cost.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patchsync import config as configmod
from patchsync.doctor import Finding, diagnose
from patchsync.errors import SignatureError
from patchsync.rpm.header import parse_headers
from patchsync.source import obtain
from patchsync.source.pipeline import fetch
from patchsync.state import State
from tests import rpmtools
from tests.conftest import require_tool
from tests.rpmbuild import build_srpm
from tests.servers import Fault, FaultServer, Nginx
from tests.signing import SigningKeys, TestKey

MB = 1024 * 1024
#: Enough that a payload download could not pass for a header probe.
FILLER = 3 * MB
PATCHES = {
    "xen3-auto-common.diff": b"--- a/kernel/fork.c\n+++ b/kernel/fork.c\n@@ -1 +1 @@\n-old\n+new\n",
    "xen3-fixup-xen": b"--- a/arch/x86/xen/enlighten.c\n+++ b/arch/x86/xen/enlighten.c\n@@ -1 +1 @@\n-a\n+b\n",
}
SERIES = b"patches.xen/xen3-auto-common.diff\npatches.xen/xen3-fixup-xen\n"
FILES = {f"patches.xen/{name}": data for name, data in PATCHES.items()}

Signed = Callable[[str, str], Path]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two KOTD builds with the same tarball: the second's payload is skipped once the first's is cached."""
    out = tmp_path_factory.mktemp("kotd")
    return {
        "first": build_srpm(out, patches=PATCHES, series_conf=SERIES, release="0.0.3.a1", extra_size=FILLER),
        "rebuild": build_srpm(out, patches=PATCHES, series_conf=SERIES, release="0.0.4.b2", extra_size=FILLER),
    }


@pytest.fixture(scope="module")
def signed(built: dict[str, Path], signing_keys: SigningKeys, tmp_path_factory: pytest.TempPathFactory) -> Signed:
    """``signed(build, key)``: the build signed by rpmsign with that key ("none": unsigned; "tampered")."""
    folder = tmp_path_factory.mktemp("signed")
    made: dict[tuple[str, str], Path] = {}

    def get(which: str, key: str) -> Path:
        if key == "none":
            return built[which]
        if (which, key) not in made:
            dest = folder / key / built[which].name
            dest.parent.mkdir(exist_ok=True)
            if key == "tampered":
                made[which, key] = _tampered(get(which, "rsa"), dest)
            else:
                made[which, key] = signing_keys.sign(built[which], getattr(signing_keys, key), dest)
        return made[which, key]

    return get


def _tampered(src: Path, dest: Path) -> Path:
    """The signed package with the tarball's FILEDIGESTS entry changed and the header's own digests recomputed:
    what a mirror would serve to point a header at another tarball."""
    data = src.read_bytes()
    digest = parse_headers(data, src.name).file("patches.xen.tar.bz2")
    assert digest is not None
    old = digest.digest.encode()
    new = bytes(reversed(old))
    assert new != old
    dest.write_bytes(rpmtools.patch_main_header(data, old, new))
    return dest


def make_config(tmp_path: Path, url: str, keys: list[TestKey]) -> configmod.Config:
    return configmod.parse(
        {
            "source": {"url": url, "timeout_seconds": 5, "retries": 1, "keys": [str(k.cert) for k in keys]},
            "state": {"dir": str(tmp_path / "state")},
        },
        "test.toml",
    )


def publish(root: Path, *srpms: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for srpm in srpms:
        shutil.copyfile(srpm, root / srpm.name)


def sent(server: Nginx, since: int) -> int:
    return sum(e.bytes_sent for e in server.log()[since:])


def state_snapshot(state: Path) -> dict[str, object]:
    """What a refused package must leave as it was: cached src.rpms, tarball cache, probe record."""
    srpms = state / "srpms"
    tarballs = state / "tarballs"
    probe = state / "source-probe.json"
    return {
        "srpms": sorted(p.name for p in srpms.iterdir()) if srpms.is_dir() else [],
        "tarballs": sorted(p.name for p in tarballs.iterdir()) if tarballs.is_dir() else [],
        "probe": probe.read_bytes() if probe.exists() else None,
    }


@pytest.mark.parametrize("key_name", ["rsa", "ed25519"])
def test_signed_kotd_is_verified_on_every_path(
    tmp_path: Path, signed: Signed, signing_keys: SigningKeys, nginx: Callable[[Path], Nginx], key_name: str
) -> None:
    key: TestKey = getattr(signing_keys, key_name)
    www = tmp_path / "www" / "src"
    publish(www, signed("first", key_name))
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/", [signing_keys.other, key])

    # The newest KOTD, downloaded: verified as its headers arrived.
    first = obtain(config)
    assert first.source.payload == "downloaded"
    assert dict(first.files) == FILES
    signature = first.source.signature
    assert signature is not None
    assert (signature.fingerprint, signature.user_id, signature.key_id) == (key.fingerprint, key.uid, key.key_id)
    assert abs(signature.signed_at - datetime.now(UTC)) < timedelta(hours=1)
    assert first.source.to_json()["signature"] == {
        "status": "verified",
        "fingerprint": key.fingerprint,
        "signed_at": signature.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user_id": key.uid,
        "key_id": key.key_id,
    }
    assert first.source.signature_line == f"signed by {key.fingerprint} {key.uid}"

    # A rebuild with the same tarball: its payload is skipped, its header still verified.
    publish(www, signed("rebuild", key_name))
    mark = len(server.log())
    rebuild = obtain(config)
    assert sent(server, mark) < MB
    assert rebuild.source.payload == "skipped"
    assert rebuild.source.file == signed("rebuild", key_name).name
    assert rebuild.source.signature is not None
    assert rebuild.source.signature.fingerprint == key.fingerprint
    assert rebuild.source.bytes_transferred < MB

    # --src-rpm of the first one, its tarball no longer cached: complete in state.dir/srpms,
    # verified from the file there.
    shutil.rmtree(tmp_path / "state" / "tarballs")
    explicit = obtain(config, src_rpm=server.url + "src/" + signed("first", key_name).name)
    assert explicit.source.payload == "cached"
    assert explicit.source.signature == signature

    # --src-rpm of a local file.
    local = obtain(config, src_rpm=str(signed("first", key_name)))
    assert local.source.payload == "local"
    assert local.source.signature == signature


def test_without_keys_nothing_is_checked(tmp_path: Path, signed: Signed, nginx: Callable[[Path], Nginx]) -> None:
    publish(tmp_path / "www" / "src", signed("first", "none"))
    server = nginx(tmp_path / "www")
    result = obtain(make_config(tmp_path, server.url + "src/", []))
    assert result.source.signature is None
    assert result.source.to_json()["signature"] == {"status": "unchecked"}
    assert result.source.signature_line == "signature: not checked (source.keys is empty)"


def test_unchanged_mirror_reuses_the_signer_only_under_the_same_keys(
    tmp_path: Path, signed: Signed, signing_keys: SigningKeys, nginx: Callable[[Path], Nginx]
) -> None:
    """A 304 on the metadata skips even the header probe; changed keys make it probe (and verify) again."""
    www = tmp_path / "www" / "src"
    publish(www, signed("first", "rsa"))
    subprocess.run([require_tool("createrepo_c"), "--quiet", str(www)], check=True)
    repomd = www / "repodata" / "repomd.xml"
    signing_keys.gnupg.sign_detached(repomd, signing_keys.rsa.fingerprint, repomd.with_name("repomd.xml.asc"))
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/", [signing_keys.rsa])
    first = obtain(config)

    mark = len(server.log())
    again = obtain(config)
    assert all(e.path.startswith("/src/repodata/") and e.status == 304 for e in server.log()[mark:])
    assert again.source.payload == "skipped"
    assert again.source.signature == first.source.signature

    # Another key trusted beside it: the remembered verdict does not carry over.
    mark = len(server.log())
    widened = obtain(make_config(tmp_path, server.url + "src/", [signing_keys.rsa, signing_keys.other]))
    probes = [e for e in server.log()[mark:] if e.path.endswith(".src.rpm")]
    assert probes
    assert all(e.range for e in probes)
    assert widened.source.payload == "skipped"
    assert widened.source.signature == first.source.signature

    # And a key removed: the package is refused although its metadata did not change.
    with pytest.raises(SignatureError, match=f"by key {signing_keys.rsa.key_id}, which is not in source.keys"):
        obtain(make_config(tmp_path, server.url + "src/", [signing_keys.other]))


def _refusals(keys: SigningKeys) -> dict[str, str]:
    rsa = keys.rsa
    return {
        "none": "signature: none: the main header carries no OpenPGP signature, and source.keys requires one",
        "other": f"signature: by key {keys.other.key_id}, which is not in source.keys",
        "tampered": f"signature: by key {rsa.key_id} ({rsa.fingerprint}, {rsa.cert}): does not verify",
        "expired": f"signature: by key {keys.expired.key_id} ({keys.expired.fingerprint}, {keys.expired.cert}):"
        " the key expired on",
        "revoked": f"signature: by key {keys.revoked.key_id} ({keys.revoked.fingerprint}, {keys.revoked.cert}):"
        " the certificate is revoked",
    }


@pytest.mark.parametrize("bad", ["none", "other", "tampered", "expired", "revoked"])
def test_refused_rebuild_is_not_taken_from_the_tarball_cache(
    tmp_path: Path, signed: Signed, signing_keys: SigningKeys, nginx: Callable[[Path], Nginx], bad: str
) -> None:
    """The tarball is cached, so only the signature stands between the header and a skipped payload."""
    trusted = [signing_keys.rsa, signing_keys.ed25519, signing_keys.expired, signing_keys.revoked]
    www = tmp_path / "www" / "src"
    publish(www, signed("first", "ed25519"))
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/", trusted)
    obtain(config)
    before = state_snapshot(tmp_path / "state")

    publish(www, signed("rebuild", bad))
    url = server.url + "src/" + signed("rebuild", bad).name
    mark = len(server.log())
    with pytest.raises(SignatureError) as info:
        obtain(config)
    message = str(info.value)
    assert message.startswith(f"{url}: {_refusals(signing_keys)[bad]}"), message
    assert "\n" not in message
    # Refused from the header alone: no payload fetched, nothing cached or remembered.
    assert sent(server, mark) < MB
    assert state_snapshot(tmp_path / "state") == before


@pytest.mark.parametrize("bad", ["none", "tampered"])
def test_refused_while_downloading_leaves_nothing(
    tmp_path: Path, signed: Signed, signing_keys: SigningKeys, fault_server: FaultServer, bad: str
) -> None:
    """A server that ignores Range: the download stops at the headers, and its .part is removed."""
    package = signed("first", bad)
    url = fault_server.add(package.name, package.read_bytes())
    fault_server.faults = [Fault("ignore_range", path="/" + package.name)]
    config = make_config(tmp_path, fault_server.url, [signing_keys.rsa])
    with pytest.raises(SignatureError) as info:
        obtain(config)
    assert str(info.value).startswith(f"{url}: {_refusals(signing_keys)[bad]}")
    assert state_snapshot(tmp_path / "state") == {"srpms": [], "tarballs": [], "probe": None}


def test_cached_src_rpm_is_refused_once_keys_are_set(
    tmp_path: Path, signed: Signed, signing_keys: SigningKeys, nginx: Callable[[Path], Nginx]
) -> None:
    """A src.rpm fetched before source.keys was set is verified when it is used, and removed when refused."""
    package = signed("first", "none")
    publish(tmp_path / "www" / "src", package)
    server = nginx(tmp_path / "www")
    unkeyed = make_config(tmp_path, server.url + "src/", [])
    assert fetch(unkeyed).payload == "downloaded"
    assert fetch(unkeyed).signature is None
    keyed = make_config(tmp_path, server.url + "src/", [signing_keys.rsa])
    with pytest.raises(SignatureError) as info:
        fetch(keyed)
    assert str(info.value) == f"{server.url}src/{package.name}: {_refusals(signing_keys)['none']}"
    assert list((tmp_path / "state" / "srpms").iterdir()) == []


def test_local_src_rpm_is_verified(tmp_path: Path, signed: Signed, signing_keys: SigningKeys) -> None:
    config = make_config(tmp_path, "", [signing_keys.rsa])
    package = signed("first", "other")
    with pytest.raises(SignatureError) as info:
        obtain(config, src_rpm=str(package))
    assert str(info.value) == f"{package}: {_refusals(signing_keys)['other']}"


@pytest.mark.allow_error_log  # the cycle logs the refusal it records
def test_check_and_sync_refuse_with_one_line(
    tmp_path: Path,
    signed: Signed,
    signing_keys: SigningKeys,
    nginx: Callable[[Path], Nginx],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit 2, one line naming the URL and the key; the review branch is not written, nothing is recorded."""
    from patchsync.cli import main
    from tests.gittarget import commit_files, init

    repo = init(tmp_path / "tree.git", bare=True)
    commit_files(repo, {"Makefile": b"all:\n"}, "base", branch="ec2")
    package = signed("first", "other")
    publish(tmp_path / "www" / "src", package)
    server = nginx(tmp_path / "www")
    config = tmp_path / "patchsync.toml"
    config.write_text(
        f'[source]\nurl = "{server.url}src/"\nkeys = ["{signing_keys.rsa.cert}"]\n'
        f'[state]\ndir = "{tmp_path / "state"}"\n'
        f'[[target]]\nname = "lucid-ec2"\nrepo = "{repo}"\nbranch = "ec2"\n'
    )
    refs_before = subprocess.run(
        ["git", "-C", str(repo), "for-each-ref"], check=True, capture_output=True, text=True
    ).stdout
    expected = f"patchsync: error: {server.url}src/{package.name}: {_refusals(signing_keys)['other']}\n"
    for command in (["check", "--json"], ["sync"]):
        assert main(["--config", str(config), *command]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.endswith(expected)
        assert err.count("patchsync: error:") == 1
    refs_after = subprocess.run(
        ["git", "-C", str(repo), "for-each-ref"], check=True, capture_output=True, text=True
    ).stdout
    assert refs_after == refs_before
    assert state_snapshot(tmp_path / "state") == {"srpms": [], "tarballs": [], "probe": None}
    with State(tmp_path / "state") as state:
        assert (state.last_seen(), state.last_synced()) == (None, None)
    assert main(["--config", str(config), "history", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["source"], r["error"]) for r in runs] == [(None, expected.removeprefix("patchsync: error: ").strip())]


def test_reports_name_the_signer(
    tmp_path: Path,
    signed: Signed,
    signing_keys: SigningKeys,
    nginx: Callable[[Path], Nginx],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """check's and sync's first line, their JSON and history name the signer; without keys, check -v says so."""
    from patchsync.cli import main
    from tests.gittarget import commit_files, init

    key = signing_keys.ed25519
    repo = init(tmp_path / "tree.git", bare=True)
    commit_files(repo, {"Makefile": b"all:\n"}, "base", branch="ec2")
    for name, data in PATCHES.items():
        commit_files(repo, {f"debian.ec2/patches/{name}": data}, f"UBUNTU: [Xen] {name}", branch="ec2")
    package = signed("first", "ed25519")
    publish(tmp_path / "www" / "src", package)
    server = nginx(tmp_path / "www")

    def write_config(keys: list[TestKey]) -> str:
        config = tmp_path / "patchsync.toml"
        listed = ", ".join(f'"{k.cert}"' for k in keys)
        config.write_text(
            f'[source]\nurl = "{server.url}src/"\nkeys = [{listed}]\n[state]\ndir = "{tmp_path / "state"}"\n'
            f'[[target]]\nname = "lucid-ec2"\nrepo = "{repo}"\nbranch = "ec2"\n'
        )
        return str(config)

    def run(*args: str) -> str:
        assert main(list(args)) == 0
        return capsys.readouterr().out

    config = write_config([key])
    sha = obtain(make_config(tmp_path, server.url + "src/", [key])).source.tarball_sha256
    headline = f"KOTD {package.name} (patches.xen.tar.bz2 sha256 {sha[:12]}), signed by {key.fingerprint} {key.uid}"
    assert run("--config", config, "check").splitlines()[0] == headline
    assert run("--config", config, "sync").splitlines()[0] == headline
    for args in (("check", "--json"), ("sync", "--json")):
        signature = json.loads(run("--config", config, *args))["source"]["signature"]
        assert (signature["status"], signature["fingerprint"]) == ("verified", key.fingerprint)
    runs = json.loads(run("--config", config, "history", "--json"))["runs"]
    assert [r["source"]["signature"]["fingerprint"] for r in runs] == [key.fingerprint] * 2

    config = write_config([])
    lines = run("--config", config, "check", "-v").splitlines()
    assert lines[0] == f"KOTD {package.name} (patches.xen.tar.bz2 sha256 {sha[:12]})"
    assert lines[2] == "signature: not checked (source.keys is empty)"
    assert json.loads(run("--config", config, "check", "--json"))["source"]["signature"] == {"status": "unchecked"}


# -- repodata/repomd.xml.asc ----------------------------------------------------------


def signed_repo(tmp_path: Path, signed: Signed, signing_keys: SigningKeys, signer: TestKey | None) -> Path:
    """An RPM-MD repository of the rsa-signed first build, its repomd.xml signed by ``signer`` (None: no .asc)."""
    www = tmp_path / "www" / "src"
    publish(www, signed("first", "rsa"))
    subprocess.run([require_tool("createrepo_c"), "--quiet", str(www)], check=True)
    repomd = www / "repodata" / "repomd.xml"
    if signer is not None:
        signing_keys.gnupg.sign_detached(repomd, signer.fingerprint, repomd.with_name("repomd.xml.asc"))
    return repomd


def test_signed_repomd_is_verified_before_its_metadata_is_used(
    tmp_path: Path,
    signed: Signed,
    signing_keys: SigningKeys,
    nginx: Callable[[Path], Nginx],
    caplog: pytest.LogCaptureFixture,
) -> None:
    signed_repo(tmp_path, signed, signing_keys, signing_keys.ed25519)
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/", [signing_keys.rsa, signing_keys.ed25519])
    assert obtain(config).source.payload == "downloaded"
    asc = server.url + "src/repodata/repomd.xml.asc"
    key = signing_keys.ed25519
    logged = f"{server.url}src/repodata/repomd.xml: signed by {key.fingerprint} {key.uid}"
    assert logged in caplog.messages
    # Unchanged: every request, the .asc's included, is a 304, and the signature is checked again.
    caplog.clear()
    mark = len(server.log())
    assert obtain(config).source.payload == "skipped"
    assert {(e.path.rsplit("/", 1)[-1], e.status) for e in server.log()[mark:]} >= {("repomd.xml.asc", 304)}
    assert all(e.status == 304 for e in server.log()[mark:])
    assert logged in caplog.messages
    # Without keys the .asc is not asked for.
    mark = len(server.log())
    obtain(make_config(tmp_path / "unkeyed", server.url + "src/", []))
    assert asc.removeprefix(server.url.rstrip("/")) not in {e.path for e in server.log()[mark:]}


@pytest.mark.parametrize("problem", ["changed", "other"])
def test_bad_repomd_signature_is_refused(
    tmp_path: Path, signed: Signed, signing_keys: SigningKeys, nginx: Callable[[Path], Nginx], problem: str
) -> None:
    """repomd.xml changed after signing, or signed by a key not trusted: nothing from the metadata is used."""
    repomd = signed_repo(
        tmp_path, signed, signing_keys, signing_keys.other if problem == "other" else signing_keys.ed25519
    )
    if problem == "changed":
        # Still valid XML naming the same primary.xml: only the signature tells.
        repomd.write_bytes(repomd.read_bytes().replace(b"<revision>", b"<revision>1", 1))
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/", [signing_keys.rsa, signing_keys.ed25519])
    with pytest.raises(SignatureError) as info:
        obtain(config)
    asc = f"{server.url}src/repodata/repomd.xml.asc"
    if problem == "changed":
        key = signing_keys.ed25519
        expected = f"{asc}: signature: by key {key.key_id} ({key.fingerprint}, {key.cert}): does not verify"
    else:
        expected = f"{asc}: signature: by key {signing_keys.other.key_id}, which is not in source.keys"
    assert str(info.value).startswith(expected), str(info.value)
    # Refused before primary.xml was read or any src.rpm asked for.
    paths = [e.path for e in server.log()]
    assert not [p for p in paths if "primary" in p or p.endswith(".src.rpm")]
    assert state_snapshot(tmp_path / "state") == {"srpms": [], "tarballs": [], "probe": None}


def test_a_repomd_published_while_it_is_read_is_read_again(
    tmp_path: Path, signed: Signed, signing_keys: SigningKeys, fault_server: FaultServer
) -> None:
    """The mirror answers the old repomd.xml, then publishes: the new signature does not match it."""
    repomd = signed_repo(tmp_path, signed, signing_keys, signing_keys.ed25519)
    www = tmp_path / "www"
    for path in www.rglob("*"):
        if path.is_file():
            fault_server.files["/" + path.relative_to(www).as_posix()] = path.read_bytes()
    old = repomd.read_bytes().replace(b"<revision>", b"<revision>0", 1)
    fault_server.faults = [Fault("status", status=200, body=old, path="/src/repodata/repomd.xml")]
    config = make_config(tmp_path, fault_server.url + "src/", [signing_keys.rsa, signing_keys.ed25519])
    assert obtain(config).source.payload == "downloaded"
    asked = [s.path.rsplit("/", 1)[-1] for s in fault_server.served if "repomd" in s.path]
    assert asked == ["repomd.xml", "repomd.xml.asc", "repomd.xml", "repomd.xml.asc"]


def test_doctor_verifies_the_repomd_signature_as_a_cycle_would(
    tmp_path: Path, signed: Signed, signing_keys: SigningKeys, nginx: Callable[[Path], Nginx]
) -> None:
    signed_repo(tmp_path, signed, signing_keys, signing_keys.other)
    server = nginx(tmp_path / "www")
    path = tmp_path / "patchsync.toml"

    def source_line(keys: list[TestKey]) -> Finding:
        listed = ", ".join(f'"{k.cert}"' for k in keys)
        path.write_text(f'[source]\nurl = "{server.url}src/"\nkeys = [{listed}]\n[state]\ndir = "{tmp_path}/s"\n')
        (found,) = [f for f in diagnose(path) if f.check == "source"]
        return found

    refused = source_line([signing_keys.rsa])
    asc = f"{server.url}src/repodata/repomd.xml.asc"
    assert not refused.ok
    other = signing_keys.other.key_id
    assert refused.detail.startswith(f"{asc}: signature: by key {other}, which is not in source.keys")
    assert refused.fix.startswith("add the certificate of the key that signs the mirror's repodata to source.keys")
    # Trusting the key that signed it, doctor passes, as the cycle would.
    passed = source_line([signing_keys.rsa, signing_keys.other])
    assert passed.ok, passed
    assert passed.detail.startswith(f"{server.url}src/: 1 src.rpm (repodata), newest ")


def test_unsigned_repomd_is_a_warning(
    tmp_path: Path,
    signed: Signed,
    signing_keys: SigningKeys,
    nginx: Callable[[Path], Nginx],
    caplog: pytest.LogCaptureFixture,
) -> None:
    signed_repo(tmp_path, signed, signing_keys, None)
    server = nginx(tmp_path / "www")
    result = obtain(make_config(tmp_path, server.url + "src/", [signing_keys.rsa]))
    assert result.source.signature is not None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"{server.url}src/repodata/repomd.xml: no repomd.xml.asc: the repository metadata is not signed"
        " (each src.rpm's header signature still is)"
    ]
