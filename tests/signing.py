"""Real OpenPGP keys and signatures for tests: GnuPG keys made at test time, packages signed by ``rpmsign``.

Keys live in a temporary GNUPGHOME that is thrown away with the session.
The certificates patchsync is given are exported files, as an operator
would install them.  Two of them are doctored in a second GNUPGHOME, after
the fact, to make the refusal cases real:

* *expired*: the key is created two days ago; a later self-signature sets
  it to expire 35 hours ago.  Signatures made now (by the first home,
  which never learnt of the expiry) are made after the key expired.
* *revoked*: the certificate carries the key's own revocation (reason
  "no reason specified", which OpenPGP treats as compromise: retroactive).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TestKey:
    """A key in the signing home, and its exported public certificate as patchsync sees it."""

    __test__ = False  # not a pytest class

    name: str
    uid: str
    fingerprint: str
    cert: Path

    @property
    def key_id(self) -> str:
        return self.fingerprint[-16:]


class GnuPG:
    """One throwaway GNUPGHOME driven by the real ``gpg``."""

    def __init__(self, home: Path, gpg: str) -> None:
        self.home = home
        self.gpg = gpg
        home.mkdir(mode=0o700, parents=True, exist_ok=True)

    def run(self, *args: str, faked_time: int | None = None, stdin: bytes | None = None) -> bytes:
        cmd = [self.gpg, "--homedir", str(self.home), "--batch", "--no-tty", "--pinentry-mode", "loopback"]
        cmd += ["--passphrase", ""]
        if faked_time is not None:
            cmd.append(f"--faked-system-time={faked_time}!")
        proc = subprocess.run(
            [*cmd, *args], input=stdin, capture_output=True, check=False, env=dict(os.environ, GNUPGHOME=str(self.home))
        )
        if proc.returncode:
            raise RuntimeError(f"gpg {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout

    def fingerprint(self, uid: str) -> str:
        for line in self.run("--with-colons", "--list-keys", uid).decode().splitlines():
            if line.startswith("fpr:"):
                return line.split(":")[9]
        raise LookupError(uid)

    def generate(self, uid: str, algo: str, *, created: int | None = None) -> str:
        """A new key that can sign (``rsa2048``, ``ed25519``, ...); its fingerprint."""
        self.run("--quick-generate-key", uid, algo, "sign,cert", "never", faked_time=created)
        return self.fingerprint(uid)

    def export(self, fingerprint: str, dest: Path, *, armor: bool = True) -> Path:
        dest.write_bytes(self.run(*(["--armor"] if armor else []), "--export", fingerprint))
        return dest

    def sign_rpm(self, src: Path, fingerprint: str, dest: Path, *, digest: str | None = None) -> Path:
        """A copy of ``src`` at ``dest`` with a header signature made by ``rpmsign --addsign``."""
        from tests.conftest import require_tool

        rpmsign = require_tool("rpmsign")
        shutil.copyfile(src, dest)
        defines = {"_gpg_name": fingerprint, "_gpg_path": str(self.home), "__gpg": self.gpg}
        if digest:
            defines["_gpg_digest_algo"] = digest
        args = [arg for name, value in defines.items() for arg in ("--define", f"{name} {value}")]
        subprocess.run(
            [rpmsign, *args, "--addsign", str(dest)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, GNUPGHOME=str(self.home)),
        )
        return dest

    def sign_detached(self, data: Path, fingerprint: str, dest: Path) -> Path:
        """An ASCII-armoured detached signature of ``data`` (like ``repomd.xml.asc``)."""
        self.run("--local-user", fingerprint, "--armor", "--detach-sign", "--output", str(dest), str(data))
        return dest

    def close(self) -> None:
        gpgconf = shutil.which("gpgconf")
        if gpgconf:
            subprocess.run(
                [gpgconf, "--homedir", str(self.home), "--kill", "all"],
                check=False,
                capture_output=True,
                env=dict(os.environ, GNUPGHOME=str(self.home)),
            )


class SigningKeys:
    """The session's keys: ``rsa`` and ``ed25519`` (trusted), ``other`` (not), ``expired``, ``revoked``."""

    def __init__(self, folder: Path, gpg: str) -> None:
        self.folder = folder
        self.gnupg = GnuPG(folder / "home", gpg)
        self._aside = GnuPG(folder / "aside", gpg)
        now = int(time.time())
        self.rsa = self._key("rsa", "KOTD Signing RSA <kotd-rsa@example.org>", "rsa2048")
        self.ed25519 = self._key("ed25519", "KOTD Signing Ed25519 <kotd-ed@example.org>", "ed25519")
        self.other = self._key("other", "Someone Else <else@example.org>", "ed25519")
        self.expired = self._key("expired", "Expired Key <expired@example.org>", "ed25519", created=now - 2 * 86400)
        self.revoked = self._key("revoked", "Revoked Key <revoked@example.org>", "ed25519")
        self._doctor_expired(now)
        self._doctor_revoked()

    def _key(self, name: str, uid: str, algo: str, *, created: int | None = None) -> TestKey:
        fpr = self.gnupg.generate(uid, algo, created=created)
        cert = self.gnupg.export(fpr, self.folder / f"{name}.asc")
        return TestKey(name=name, uid=uid, fingerprint=fpr, cert=cert)

    def _doctor_expired(self, now: int) -> None:
        key = self.expired
        secret = self.gnupg.run("--export-secret-keys", key.fingerprint)
        self._aside.run("--import", stdin=secret)
        # A new self-signature, 36 h ago, that makes the key expire an hour later.
        self._aside.run("--quick-set-expire", key.fingerprint, "seconds=3600", faked_time=now - 36 * 3600)
        self._aside.export(key.fingerprint, key.cert)

    def _doctor_revoked(self) -> None:
        key = self.revoked
        # gpg stores a revocation certificate for every key it makes, defused with a leading ':'.
        rev = (self.gnupg.home / "openpgp-revocs.d" / f"{key.fingerprint}.rev").read_text()
        self._aside.run("--import", stdin=self.gnupg.run("--export", key.fingerprint))
        self._aside.run("--import", stdin=rev.replace(":-----BEGIN", "-----BEGIN").encode())
        self._aside.export(key.fingerprint, key.cert)

    def sign(self, src: Path, key: TestKey, dest: Path, *, digest: str | None = None) -> Path:
        return self.gnupg.sign_rpm(src, key.fingerprint, dest, digest=digest)

    def close(self) -> None:
        self.gnupg.close()
        self._aside.close()
