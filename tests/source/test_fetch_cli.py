"""``patchsync fetch`` end to end against nginx."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from patchsync.cli import main
from tests.rpmbuild import build_srpm
from tests.servers import Nginx, free_port

PATCHES = {"xen3-patch-2.6.32.9-10": b"--- a/Makefile\n+++ b/Makefile\n@@ -1 +1 @@\n-9\n+10\n"}


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "patchsync.toml"
    config.write_text(
        f'[source]\nurl = "{url}"\ntimeout_seconds = 5\nretries = 0\n[state]\ndir = "{tmp_path / "state"}"\n'
    )
    return config


@pytest.fixture
def mirror(tmp_path: Path, nginx: Callable[[Path], Nginx]) -> tuple[Nginx, Path, Path]:
    src = tmp_path / "www" / "src"
    old = build_srpm(src, patches=PATCHES, release="0.0.1.aaaa111")
    new = build_srpm(src, patches=PATCHES, release="0.0.12.cccc333")
    build_srpm(src, patches=PATCHES, name="kernel-syms", release="0.0.99")
    assert old.exists()
    return nginx(tmp_path / "www"), new, src


def test_fetch_prints_the_newest_verified_path(
    tmp_path: Path, mirror: tuple[Nginx, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, new, _ = mirror
    config = write_config(tmp_path, server.url + "src/")
    assert main(["--config", str(config), "fetch"]) == 0
    out, err = capsys.readouterr()
    path = Path(out.strip())
    assert path == tmp_path / "state" / "srpms" / new.name
    assert path.read_bytes() == new.read_bytes()
    assert err == ""  # no progress bar when stderr is not a TTY


def test_fetch_output_dir(tmp_path: Path, mirror: tuple[Nginx, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    server, new, _ = mirror
    config = write_config(tmp_path, server.url + "src/")
    assert main(["--config", str(config), "fetch", "--output", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "out" / new.name)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [new.name]


def test_fetch_explicit_src_rpm(
    tmp_path: Path, mirror: tuple[Nginx, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    server, _, src = mirror
    config = write_config(tmp_path, server.url + "src/")
    url = server.url + "src/kernel-source-2.6.32.10-0.0.1.aaaa111.src.rpm"
    assert main(["--config", str(config), "fetch", "--src-rpm", url]) == 0
    path = Path(capsys.readouterr().out.strip())
    assert path.read_bytes() == (src / "kernel-source-2.6.32.10-0.0.1.aaaa111.src.rpm").read_bytes()


def test_fetch_with_no_candidates_is_one_line(
    tmp_path: Path, nginx: Callable[[Path], Nginx], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "www" / "src").mkdir(parents=True)
    server = nginx(tmp_path / "www")
    config = write_config(tmp_path, server.url + "src/")
    assert main(["--config", str(config), "fetch"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"patchsync: error: {server.url}src/: no kernel-source-<version>-<release>.src.rpm found\n"


def test_connection_refused_names_the_configured_url_and_logs_each_retry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/kotd/src/"
    config = tmp_path / "patchsync.toml"
    config.write_text(f'[source]\nurl = "{url}"\nretries = 2\n[state]\ndir = "{tmp_path / "state"}"\n')
    assert main(["--config", str(config), "fetch"]) == 2
    err = capsys.readouterr().err.splitlines()
    # Each retry at the default level (a dead mirror must not look like a
    # hung run), then one error naming the URL the user configured.
    probe = url + "repodata/repomd.xml"
    assert err == [
        f"patchsync: WARNING: retrying 1/2 in 1 s: {probe}: connection refused",
        f"patchsync: WARNING: retrying 2/2 in 2 s: {probe}: connection refused",
        f"patchsync: error: {url}: connection refused (gave up after 3 attempts)",
    ]
