"""Several KOTD sources in one service: each tree follows its own SUSE branch (issue 14).

Two real mirrors (nginx on 127.0.0.1), src.rpms built by rpmbuild, and the
two target repositories of the sync scenario, one in each mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.daemonrun import run_patchsync, write_config
from tests.gittarget import git
from tests.rpmbuild import build_srpm, make_tarball
from tests.servers import Nginx, nginx  # noqa: F401 - the fixture
from tests.syncscenario import HOLD, KOTD_ORDER, KOTD_PATCHES, Scenario, build

SLE = ("2.6.32.10", "0.0.3.bbbb222")
HEAD = ("2.6.32.12", "0.0.1.cccc333")
SERIES = "".join(f"\t+xen\tpatches.xen/{n}\n" for n in KOTD_ORDER).encode()


def publish(root: Path, version: tuple[str, str], **extra: object) -> Path:
    """A KOTD src/ folder holding one kernel-source src.rpm of the scenario's patches."""
    root.mkdir(parents=True)
    return build_srpm(
        root,
        patches=KOTD_PATCHES,
        series_conf=SERIES,
        version=version[0],
        release=version[1],
        **extra,  # type: ignore[arg-type]
    )


@dataclass
class Pair:
    """Two mirrors, two trees, one config."""

    config: Path
    lucid: Scenario
    natty: Scenario
    sle: Nginx
    head: Nginx


def target(name: str, sc: Scenario, source: str) -> dict[str, object]:
    return {
        "name": name,
        "source": source,
        "repo": str(sc.repo),
        "branch": "ec2",
        "base": "v2.6.32",
        "mode": sc.target.mode,
        "hold": list(HOLD),
    }


@pytest.fixture
def pair(tmp_path: Path, nginx: Callable[[Path], Nginx]) -> Pair:  # noqa: F811 - the fixture
    publish(tmp_path / "mirror-sle" / "src", SLE)
    publish(tmp_path / "mirror-head" / "src", HEAD)
    sle, head = nginx(tmp_path / "mirror-sle"), nginx(tmp_path / "mirror-head")
    lucid = build(tmp_path / "lucid", "released")
    natty = build(tmp_path / "natty", "development")
    config = write_config(
        tmp_path / "patchsync.toml",
        {
            "source": [
                {"name": "sle11-sp1", "url": sle.url + "src/"},
                {"name": "head", "url": head.url + "src/"},
            ],
            "state": {"dir": str(tmp_path / "state")},
            "target": [target("lucid-ec2", lucid, "sle11-sp1"), target("natty-ec2", natty, "head")],
        },
    )
    return Pair(config, lucid, natty, sle, head)


def subjects(repo: Path, rev_range: str) -> list[str]:
    return git(repo, "log", "--format=%s", rev_range).splitlines()


def test_one_sync_brings_each_tree_to_its_own_source(tmp_path: Path, pair: Pair) -> None:
    proc = run_patchsync(pair.config, "sync", "--json", "--no-mail")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert "source" not in doc  # no one KOTD stands for two sources
    assert [(s["name"], s["file"]) for s in doc["sources"]] == [
        ("sle11-sp1", "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"),
        ("head", "kernel-source-2.6.32.12-0.0.1.cccc333.src.rpm"),
    ]
    assert [(t["name"], t["source"], t["status"]) for t in doc["targets"]] == [
        ("lucid-ec2", "sle11-sp1", "updated"),
        ("natty-ec2", "head", "updated"),
    ]
    for sc, name, version in ((pair.lucid, "lucid-ec2", SLE), (pair.natty, "natty-ec2", HEAD)):
        review = f"refs/heads/patchsync/{name}"
        assert git(sc.repo, "rev-parse", f"{review}^{{tree}}").strip() == sc.expected(tmp_path / f"oracle-{name}")
        written = subjects(sc.repo, f"v2.6.32..{review}")
        kotd = f"{version[0]}-{version[1]}"
        assert any(kotd in s for s in written), written
        other = f"{HEAD[0]}-{HEAD[1]}" if version == SLE else f"{SLE[0]}-{SLE[1]}"
        assert not any(other in s for s in written)
    # The history keeps both sources and which source each target followed.
    history = json.loads(run_patchsync(pair.config, "history", "--json").stdout)
    (run,) = history if isinstance(history, list) else history["runs"]
    assert [s["name"] for s in run["sources"]] == ["sle11-sp1", "head"]
    assert [t["source"] for t in run["targets"]] == ["sle11-sp1", "head"]
    text = run_patchsync(pair.config, "history").stdout
    assert "  sle11-sp1 2.6.32.10-0.0.3.bbbb222, head 2.6.32.12-0.0.1.cccc333  " in text, text
    status = run_patchsync(pair.config, "status").stdout
    assert "source sle11-sp1: last KOTD seen: kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm" in status, status
    assert "source head: last KOTD seen: kernel-source-2.6.32.12-0.0.1.cccc333.src.rpm" in status, status


def test_a_failing_source_fails_only_its_targets(tmp_path: Path, pair: Pair) -> None:
    for rpm in (pair.head.root / "src").iterdir():
        rpm.unlink()
    proc = run_patchsync(pair.config, "sync", "--json", "--no-mail")
    assert proc.returncode == 2
    doc = json.loads(proc.stdout)
    assert [t["name"] for t in doc["targets"]] == ["lucid-ec2"]
    assert doc["targets"][0]["status"] == "updated"
    head = doc["sources"][1]
    assert head["name"] == "head"
    assert "kernel-source" in head["error"]
    assert proc.stderr.strip().splitlines()[-1].startswith("patchsync: error: source head: ")
    review = "refs/heads/patchsync/lucid-ec2"
    assert git(pair.lucid.repo, "rev-parse", f"{review}^{{tree}}").strip() == pair.lucid.expected(tmp_path / "o")
    assert git(pair.natty.repo, "for-each-ref", "refs/heads/patchsync/").strip() == ""


def test_source_option_restricts_a_run_to_its_targets(pair: Pair) -> None:
    proc = run_patchsync(pair.config, "check", "--json", "--source", "head")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert [s["name"] for s in doc["sources"]] == ["head"]
    assert [t["name"] for t in doc["targets"]] == ["natty-ec2"]
    # Nothing was asked of the other mirror.
    assert [e for e in pair.sle.log() if e.path.endswith(".rpm")] == []


def test_src_rpm_with_several_sources_needs_a_source(pair: Pair) -> None:
    local = next((pair.head.root / "src").iterdir())
    proc = run_patchsync(pair.config, "check", "--src-rpm", str(local))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"patchsync: error: {pair.config}: --src-rpm stands for one source's KOTD:"
        " with several sources give --source NAME or --target NAME\n"
    )
    proc = run_patchsync(pair.config, "check", "--src-rpm", str(local), "--target", "natty-ec2")
    assert proc.returncode == 1, proc.stderr


def test_two_sources_sharing_a_src_rpm_fetch_it_once(tmp_path: Path, nginx: Callable[[Path], Nginx]) -> None:  # noqa: F811
    arch = {f"patches.arch/{n}": data for n, data in KOTD_PATCHES.items()}
    series = SERIES + "".join(f"\t+xen\tpatches.arch/{n}\n" for n in KOTD_ORDER).encode()
    (tmp_path / "mirror" / "src").mkdir(parents=True)
    srpm = build_srpm(
        tmp_path / "mirror" / "src",
        patches=KOTD_PATCHES,
        series_conf=series,
        extra_sources={"patches.arch.tar.bz2": make_tarball(arch)},
        extra_size=2 * 1024 * 1024,
    )
    server = nginx(tmp_path / "mirror")
    lucid = build(tmp_path / "lucid", "released")
    config = write_config(
        tmp_path / "patchsync.toml",
        {
            "source": [
                {"name": "xen", "url": server.url + "src/"},
                {"name": "arch", "url": server.url + "src/", "tarball": "patches.arch.tar.bz2"},
            ],
            "state": {"dir": str(tmp_path / "state")},
            "target": [target("lucid-xen", lucid, "xen"), target("lucid-arch", lucid, "arch")],
        },
    )
    proc = run_patchsync(config, "check", "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(s["name"], s["tarball"], s["file"]) for s in doc["sources"]] == [
        ("xen", "patches.xen.tar.bz2", srpm.name),
        ("arch", "patches.arch.tar.bz2", srpm.name),
    ]
    # The mirror served the listing, the header and the package once each.
    served = [e for e in server.log() if e.path.endswith(".rpm")]
    full = [e for e in served if e.status == 200]
    assert len(full) + len([e for e in served if e.status == 206]) <= 2, served
    assert sum(e.body_bytes_sent for e in served) <= srpm.stat().st_size + 256 * 1024
    assert len([e for e in server.log() if e.path == "/src/"]) == 1
    assert doc["sources"][1]["bytes_transferred"] == 0
