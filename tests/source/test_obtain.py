"""obtain(): issue 6's cheap polling, proved by nginx's own access log."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from patchsync import config as configmod
from patchsync.errors import SourceError
from patchsync.source import obtain
from patchsync.source.pipeline import fetch
from tests.conftest import require_tool
from tests.rpmbuild import build_srpm
from tests.servers import Fault, FaultServer, Nginx

MB = 1024 * 1024
#: Like a real kernel-source src.rpm, most of the file is the Linux tarball.
FILLER = 20 * MB
PATCHES_V1 = {
    "xen3-auto-common.diff": b"--- a/kernel/fork.c\n+++ b/kernel/fork.c\n@@ -1 +1 @@\n-old\n+new\n",
    "xen3-fixup-xen": b"--- a/arch/x86/xen/enlighten.c\n+++ b/arch/x86/xen/enlighten.c\n@@ -1 +1 @@\n-a\n+b\n",
}
PATCHES_V2 = {**PATCHES_V1, "xen-balloon-max-target": b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-1\n+2\n"}
SERIES = b"patches.xen/xen3-auto-common.diff\npatches.xen/xen3-fixup-xen\n"


def files_of(patches: dict[str, bytes]) -> dict[str, bytes]:
    return {f"patches.xen/{name}": data for name, data in patches.items()}


@pytest.fixture(scope="module")
def kotd(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four ~20 MB KOTD builds: a rebuild with the same tarball, a new tarball, a new series.conf."""
    out = tmp_path_factory.mktemp("kotd")
    return {
        "first": build_srpm(out, patches=PATCHES_V1, series_conf=SERIES, release="0.0.3.a1", extra_size=FILLER),
        "rebuild": build_srpm(out, patches=PATCHES_V1, series_conf=SERIES, release="0.0.4.b2", extra_size=FILLER),
        "newtar": build_srpm(out, patches=PATCHES_V2, series_conf=SERIES, release="0.0.5.c3", extra_size=FILLER),
        "newseries": build_srpm(
            out, patches=PATCHES_V2, series_conf=SERIES + b"# moved\n", release="0.0.6.d4", extra_size=FILLER
        ),
    }


def make_config(tmp_path: Path, url: str) -> configmod.Config:
    return configmod.parse(
        {"source": {"url": url, "timeout_seconds": 5, "retries": 1}, "state": {"dir": str(tmp_path / "state")}},
        "test.toml",
    )


def publish(root: Path, *srpms: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for srpm in srpms:
        shutil.copyfile(srpm, root / srpm.name)


def tree_and_config(tmp_path: Path, server: Nginx) -> Path:
    """A bare tree whose ``ec2`` branch carries PATCHES_V1, and a config polling ``server``; its path.

    ``state.dir`` is ``tmp_path/state``.
    """
    from tests.gittarget import commit_files, init

    repo = init(tmp_path / "tree.git", bare=True)
    commit_files(repo, {"Makefile": b"all:\n"}, "base", branch="ec2")
    for name, data in PATCHES_V1.items():
        commit_files(repo, {f"debian.ec2/patches/{name}": data}, f"UBUNTU: [Xen] {name}", branch="ec2")
    config = tmp_path / "patchsync.toml"
    config.write_text(
        f'[source]\nurl = "{server.url}src/"\n[state]\ndir = "{tmp_path / "state"}"\n'
        f'[[target]]\nname = "lucid-ec2"\nrepo = "{repo}"\nbranch = "ec2"\n'
    )
    return config


def sent(server: Nginx, since: int) -> tuple[int, int]:
    """(bytes nginx sent, number of requests) since request number ``since``."""
    log = server.log()[since:]
    return sum(e.bytes_sent for e in log), len(log)


def test_second_poll_costs_only_the_header(
    tmp_path: Path, kotd: dict[str, Path], nginx: Callable[[Path], Nginx]
) -> None:
    www = tmp_path / "www" / "src"
    publish(www, kotd["first"])
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/")

    first = obtain(config)
    assert first.source.payload == "downloaded"
    assert dict(first.files) == files_of(PATCHES_V1)
    assert first.series_conf == SERIES
    size = kotd["first"].stat().st_size
    assert size > FILLER
    mark = len(server.log())
    assert first.source.bytes_transferred >= size

    # Same file again: the header shows the tarball is cached.
    again = obtain(config)
    nginx_bytes, _ = sent(server, mark)
    assert nginx_bytes < MB
    assert again.source.payload == "skipped"
    assert again.source.note == f"tarball unchanged since {kotd['first'].name}"
    assert again.source.bytes_transferred < MB
    assert dict(again.files) == dict(first.files)
    assert again.series_conf == SERIES
    assert again.source.tarball_sha256 == first.source.tarball_sha256
    assert again.source.to_json()["payload"] == "skipped"

    # A new release with the same tarball costs only its header too.
    publish(www, kotd["rebuild"])
    mark = len(server.log())
    rebuild = obtain(config)
    nginx_bytes, _ = sent(server, mark)
    assert nginx_bytes < MB
    assert (rebuild.source.file, rebuild.source.release) == (kotd["rebuild"].name, "0.0.4.b2")
    assert rebuild.source.payload == "skipped"
    assert rebuild.source.note == f"tarball unchanged since {kotd['first'].name}"
    assert dict(rebuild.files) == files_of(PATCHES_V1)

    # A changed tarball: the full download.
    publish(www, kotd["newtar"])
    mark = len(server.log())
    changed = obtain(config)
    nginx_bytes, _ = sent(server, mark)
    assert nginx_bytes > kotd["newtar"].stat().st_size
    assert changed.source.payload == "downloaded"
    assert dict(changed.files) == files_of(PATCHES_V2)
    # The header probe's bytes were not fetched twice.
    body = sum(e.body_bytes_sent for e in server.log()[mark:] if e.path.endswith(".src.rpm"))
    assert body == kotd["newtar"].stat().st_size

    # series.conf changed, tarball did not: download (the order may have changed).
    publish(www, kotd["newseries"])
    reordered = obtain(config)
    assert reordered.source.payload == "downloaded"
    assert reordered.series_conf == SERIES + b"# moved\n"


def test_a_fresh_download_parses_the_headers_once(
    tmp_path: Path, kotd: dict[str, Path], nginx: Callable[[Path], Nginx], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's parse serves the download's verification and the extraction too."""
    from patchsync.rpm import header, verify
    from patchsync.source import probe

    parsed: list[str] = []
    real = header.parse_headers

    def counting(buf: bytes, where: str) -> header.PackageHeaders:
        headers = real(buf, where)
        parsed.append(where)
        return headers

    for module in (header, verify, probe):
        monkeypatch.setattr(module, "parse_headers", counting)
    publish(tmp_path / "www" / "src", kotd["first"])
    server = nginx(tmp_path / "www")
    result = obtain(make_config(tmp_path, server.url + "src/"))
    assert result.source.payload == "downloaded"
    assert parsed == [server.url + "src/" + kotd["first"].name]


def test_unchanged_repodata_fetches_nothing_more(
    tmp_path: Path, kotd: dict[str, Path], nginx: Callable[[Path], Nginx]
) -> None:
    www = tmp_path / "www" / "src"
    publish(www, kotd["first"])
    subprocess.run([require_tool("createrepo_c"), "--quiet", str(www)], check=True)
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/")
    obtain(config)
    mark = len(server.log())
    again = obtain(config)
    log = server.log()[mark:]
    # Only conditional requests on the metadata, each answered 304: no header probe.
    assert log
    assert all(e.path.startswith("/src/repodata/") and e.status == 304 for e in log)
    assert again.source.payload == "skipped"
    assert again.source.bytes_transferred == 0


def test_server_ignoring_range_falls_back_to_full_download(
    tmp_path: Path, kotd: dict[str, Path], fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = fault_server.add(kotd["first"].name, kotd["first"].read_bytes())
    fault_server.faults = [Fault("ignore_range", path="/" + kotd["first"].name)]
    config = make_config(tmp_path, fault_server.url)
    result = obtain(config)
    assert result.source.payload == "downloaded"
    assert dict(result.files) == files_of(PATCHES_V1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{url}: server ignores Range requests; downloading the whole file to read its headers" in warnings


def test_local_src_rpm(tmp_path: Path, kotd: dict[str, Path]) -> None:
    config = make_config(tmp_path, "")
    result = obtain(config, src_rpm=str(kotd["first"]))
    assert result.source.payload == "local"
    assert result.source.bytes_transferred == 0
    assert dict(result.files) == files_of(PATCHES_V1)


def test_already_fetched_src_rpm_is_cached(
    tmp_path: Path, kotd: dict[str, Path], nginx: Callable[[Path], Nginx]
) -> None:
    publish(tmp_path / "www" / "src", kotd["first"])
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/")
    fetched = fetch(config)
    assert fetched.payload == "downloaded"
    result = obtain(config)
    assert result.source.payload == "cached"
    assert result.source.bytes_transferred < MB


def test_mirror_going_backwards(tmp_path: Path, kotd: dict[str, Path], nginx: Callable[[Path], Nginx]) -> None:
    www = tmp_path / "www" / "src"
    publish(www, kotd["first"], kotd["rebuild"])
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/")
    synced = obtain(config).source
    assert synced.file == kotd["rebuild"].name
    (www / kotd["rebuild"].name).unlink()
    with pytest.raises(SourceError, match="mirror went backwards"):
        obtain(config, last_synced=synced)
    assert obtain(config).source.file == kotd["first"].name
    explicit = obtain(config, src_rpm=server.url + "src/" + kotd["first"].name)
    assert explicit.source.file == kotd["first"].name


def test_second_check_via_the_cli_costs_under_1_mb(
    tmp_path: Path, kotd: dict[str, Path], nginx: Callable[[Path], Nginx], capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 6 end to end: ``patchsync check --json`` twice, bytes counted by nginx."""
    from patchsync.cli import main

    publish(tmp_path / "www" / "src", kotd["first"])
    server = nginx(tmp_path / "www")
    config = tree_and_config(tmp_path, server)
    docs = []
    marks = []
    for _ in range(2):
        marks.append(len(server.log()))
        code = main(["--config", str(config), "check", "--json"])
        out = capsys.readouterr().out
        assert code == 0, out
        docs.append(json.loads(out)["source"])
    second_bytes = sum(e.bytes_sent for e in server.log()[marks[1] :])
    assert docs[0]["payload"] == "downloaded"
    assert docs[0]["bytes_transferred"] >= kotd["first"].stat().st_size
    assert docs[1]["payload"] == "skipped"
    assert docs[1]["note"] == f"tarball unchanged since {kotd['first'].name}"
    assert second_bytes < MB
    assert docs[1]["bytes_transferred"] < MB
    # check -v says the same in words.
    assert main(["--config", str(config), "check", "-v"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        f"source: payload skipped, {docs[1]['bytes_transferred']:,} bytes transferred;"
        f" tarball unchanged since {kotd['first'].name}"
    )


def test_check_writes_only_caches_and_the_guard_is_what_sync_recorded(
    tmp_path: Path, kotd: dict[str, Path], nginx: Callable[[Path], Nginx], capsys: pytest.CaptureFixture[str]
) -> None:
    """``check`` leaves the database alone; the going-backwards guard is the last successful sync."""
    from patchsync.cli import main
    from patchsync.state import State

    www = tmp_path / "www" / "src"
    publish(www, kotd["first"], kotd["rebuild"])
    config = tree_and_config(tmp_path, nginx(tmp_path / "www"))
    state_dir = tmp_path / "state"
    assert main(["--config", str(config), "check"]) == 0
    # Caches only (nginx's autoindex sends no validators, so no http-cache/): no database.
    assert sorted(p.name for p in state_dir.iterdir()) == ["locks", "source-probe.json", "srpms", "tarballs"]

    assert main(["--config", str(config), "sync", "--no-mail"]) == 0
    with State(state_dir) as state:
        synced = state.last_synced()
        assert synced is not None
        assert synced.file == kotd["rebuild"].name
        runs = state.runs()
    capsys.readouterr()

    # The mirror goes back to an older build: refused, and check recorded nothing.
    (www / kotd["rebuild"].name).unlink()
    assert main(["--config", str(config), "check"]) == 2
    assert "mirror went backwards" in capsys.readouterr().err
    with State(state_dir) as state:
        assert state.runs() == runs
        assert state.last_synced() == synced


def test_probe_cut_off_falls_back_to_full_download(
    tmp_path: Path, kotd: dict[str, Path], fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    path = "/" + kotd["first"].name
    url = fault_server.add(kotd["first"].name, kotd["first"].read_bytes())
    fault_server.faults = [Fault("truncate", at=1000, path=path)]
    result = obtain(make_config(tmp_path, fault_server.url))
    assert result.source.payload == "downloaded"
    assert dict(result.files) == files_of(PATCHES_V1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"{url}: reading the headers failed (connection closed mid-body); downloading the whole file" in warnings


def test_download_errors_are_one_line_on_the_cli(
    tmp_path: Path, kotd: dict[str, Path], fault_server: FaultServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """An HTML error page served as the src.rpm: exit 2, one line naming the URL, nothing left behind."""
    from patchsync.cli import main

    url = fault_server.add(kotd["first"].name, kotd["first"].read_bytes())
    fault_server.faults = [Fault("html", path="/" + kotd["first"].name)]
    config = tmp_path / "patchsync.toml"
    config.write_text(f'[source]\nurl = "{fault_server.url}"\n[state]\ndir = "{tmp_path / "state"}"\n')
    assert main(["--config", str(config), "fetch"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"patchsync: error: {url}: not an RPM package: it is an HTML/XML page (an error page saved as the file?)\n"
    )
    assert list((tmp_path / "state" / "srpms").iterdir()) == []


def test_a_file_name_that_lies_about_its_version_is_refused(tmp_path: Path, nginx: Callable[[Path], Nginx]) -> None:
    """Issue 10, class 4: the guard compares the package's own version, not the file name's."""
    built = tmp_path / "built"
    built.mkdir()
    newer = build_srpm(built, patches=PATCHES_V1, version="2.6.32.10", release="1")
    older = build_srpm(built, patches=PATCHES_V1, version="2.6.32.9", release="1")
    www = tmp_path / "www" / "src"
    publish(www, newer)
    server = nginx(tmp_path / "www")
    config = make_config(tmp_path, server.url + "src/")
    assert obtain(config).source.version == "2.6.32.10"
    # The mirror now offers "2.6.32.11", which really is 2.6.32.9.
    (www / newer.name).unlink()
    liar = "kernel-source-2.6.32.11-1.src.rpm"
    shutil.copyfile(older, www / liar)
    with pytest.raises(SourceError) as info:
        obtain(config)
    assert str(info.value) == (
        f"{server.url}src/{liar}: {liar} holds kernel-source-2.6.32.9-1, not kernel-source-2.6.32.11-1;"
        " refusing a package whose header disagrees with its name"
    )
    with pytest.raises(SourceError, match=r"holds kernel-source-2\.6\.32\.9-1"):
        fetch(config)
    # A local mirror is held to the same rule.
    local = tmp_path / "local"
    local.mkdir()
    shutil.copyfile(older, local / liar)
    with pytest.raises(SourceError, match=r"holds kernel-source-2\.6\.32\.9-1"):
        obtain(make_config(tmp_path / "l", str(local)))
