"""One target tree and one KOTD that between them have every patch status."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from patchsync.config import TargetConfig
from patchsync.model import PatchSet, Status, TargetDrift

from .gittarget import PATCHES_DIR, TargetRepo, drift, expected_tree, git, make_patch, patchset, source_lines


def _edit(text: str, changes: dict[int, str]) -> str:
    lines = text.splitlines(keepends=True)
    for number, new in changes.items():
        lines[number - 1] = new
    return "".join(lines)


BASE_FILES = {
    "src/a.c": source_lines("a"),
    "src/b.c": source_lines("b"),
    "src/c.c": source_lines("c", 80),
    "src/d.c": source_lines("d"),
    "src/g.c": source_lines("g"),
    "src/z.c": source_lines("z"),
    "drivers/xen/h.c": source_lines("h"),
}

C_P03 = _edit(BASE_FILES["src/c.c"], {10: "c line 10 xen\n"})

TREE_PATCHES = {
    "xen3-p01.diff": make_patch({"src/a.c": (BASE_FILES["src/a.c"], _edit(BASE_FILES["src/a.c"], {5: "a xen\n"}))}),
    "xen3-p02.diff": make_patch(
        {"src/b.c": (BASE_FILES["src/b.c"], _edit(BASE_FILES["src/b.c"], {10: "b xen\n"}))}, subject="b old"
    ),
    "xen3-p03.diff": make_patch({"src/c.c": (BASE_FILES["src/c.c"], C_P03)}),
    "xen3-p04.diff": make_patch({"src/c.c": (C_P03, _edit(C_P03, {50: "c line 50 old\n"}))}),
    "xen3-p05.diff": make_patch({"src/d.c": (BASE_FILES["src/d.c"], _edit(BASE_FILES["src/d.c"], {20: "d xen\n"}))}),
    "xen3-p06.diff": make_patch({"drivers/xen/new.c": (None, source_lines("new", 10))}, subject="new driver"),
    "xen3-p07.diff": make_patch(
        {"drivers/xen/h.c": (BASE_FILES["drivers/xen/h.c"], _edit(BASE_FILES["drivers/xen/h.c"], {3: "h ours\n"}))}
    ),
}

KOTD_ORDER = [
    "xen3-p01.diff",
    "xen3-p02.diff",
    "xen3-p03.diff",
    "xen3-p08.diff",
    "xen3-p04.diff",
    "xen3-p06-new.diff",
    "xen3-p07.diff",
]

KOTD_PATCHES = {
    "xen3-p01.diff": TREE_PATCHES["xen3-p01.diff"],
    "xen3-p02.diff": make_patch(
        {"src/b.c": (BASE_FILES["src/b.c"], _edit(BASE_FILES["src/b.c"], {10: "b xen\n"}))}, subject="b new"
    ),
    "xen3-p03.diff": make_patch({"src/c.c": (BASE_FILES["src/c.c"], C_P03)}, context=5),
    "xen3-p08.diff": make_patch({"src/g.c": (BASE_FILES["src/g.c"], _edit(BASE_FILES["src/g.c"], {7: "g xen\n"}))}),
    "xen3-p04.diff": make_patch({"src/c.c": (C_P03, _edit(C_P03, {50: "c line 50 new\n", 60: "c line 60 new\n"}))}),
    "xen3-p06-new.diff": TREE_PATCHES["xen3-p06.diff"],
    "xen3-p07.diff": make_patch(
        {"drivers/xen/h.c": (BASE_FILES["drivers/xen/h.c"], _edit(BASE_FILES["drivers/xen/h.c"], {3: "h suse\n"}))}
    ),
}

STATUSES: dict[str, Status] = {
    "xen3-p02.diff": "metadata",
    "xen3-p03.diff": "refreshed",
    "xen3-p08.diff": "added",
    "xen3-p04.diff": "modified",
    "xen3-p06-new.diff": "renamed",
    "xen3-p07.diff": "held",
}
RENAMES = {"xen3-p06-new.diff": "xen3-p06.diff"}
HOLD = ("xen3-p07.diff",)


@dataclass
class Scenario:
    repo: Path
    base: str
    others: list[str]
    commits: dict[str, str]  # patch name or label -> commit
    target: TargetConfig
    patchset: PatchSet
    drift: TargetDrift
    state_dir: Path
    kotd: dict[str, bytes] = field(default_factory=dict)

    def expected(self, scratch: Path) -> str:
        """The invariant tree for the KOTD (held patches at the tree's version)."""
        series = [(n, TREE_PATCHES[n] if n in HOLD else self.kotd[n]) for n in KOTD_ORDER]
        return expected_tree(self.repo, scratch, self.base, self.others, series)

    def with_target(self, **changes: object) -> Scenario:
        target = replace(self.target, **changes)  # type: ignore[arg-type]
        return replace(self, target=target, drift=replace(self.drift, mode=target.mode))


def build(tmp_path: Path, mode: str, *, name: str = "lucid-ec2", bare: bool = False, series: bool = False) -> Scenario:
    """The target repository with base, seven patch commits, a config and a SAUCE commit.

    With ``series``, each patch commit also appends its name to a quilt
    ``series`` file in the patches folder.
    """
    work = TargetRepo(tmp_path / ("work" if bare else "repo"))
    listed: list[str] = []

    def add(name_: str) -> str:
        listed.append(name_)
        extra = {f"{PATCHES_DIR}/series": "".join(f"{n}\n" for n in listed).encode()} if series else None
        return work.commit_patch(name_, TREE_PATCHES[name_], extra=extra)

    base = work.commit("Linux 2.6.32", {k: v.encode() for k, v in BASE_FILES.items()})
    work.git("tag", "v2.6.32")
    commits: dict[str, str] = {}
    others: list[str] = []
    for name_ in ("xen3-p01.diff", "xen3-p02.diff"):
        commits[name_] = add(name_)
    config = work.commit(
        "UBUNTU: [Config] ec2: enable XEN_BLKDEV",
        {"debian.ec2/config/config.common.ec2": b"CONFIG_XEN_BLKDEV=y\n"},
        author="Config Person <config@example.org>",
    )
    others.append(config)
    commits["config"] = config
    for name_ in ("xen3-p03.diff", "xen3-p04.diff"):
        commits[name_] = add(name_)
    sauce = work.commit(
        "UBUNTU: SAUCE: z: fix the z driver",
        {"src/z.c": _edit(BASE_FILES["src/z.c"], {3: "z fixed\n"}).encode()},
        author="Sauce Person <sauce@example.org>",
    )
    others.append(sauce)
    commits["sauce"] = sauce
    for name_ in ("xen3-p05.diff", "xen3-p06.diff", "xen3-p07.diff"):
        commits[name_] = add(name_)
    repo = work.path
    if bare:
        repo = tmp_path / "repo.git"
        git(tmp_path, "clone", "-q", "--bare", str(work.path), str(repo))
    target, d = describe(repo, mode, name)
    return Scenario(
        repo=repo,
        base=base,
        others=others,
        commits=commits,
        target=target,
        patchset=patchset(KOTD_PATCHES, KOTD_ORDER),
        drift=d,
        state_dir=tmp_path / "state",
        kotd=dict(KOTD_PATCHES),
    )


def describe(repo: Path, mode: str, name: str = "lucid-ec2") -> tuple[TargetConfig, TargetDrift]:
    """The target config and drift of a scenario repository (also from another process)."""
    target = TargetConfig(
        name=name,
        repo=str(repo),
        branch="ec2",
        base="v2.6.32",
        patches_dir=PATCHES_DIR,
        mode=mode,  # type: ignore[arg-type]
        hold=HOLD,
    )
    head = git(repo, "rev-parse", "refs/heads/ec2").strip()
    d = drift(
        target,
        head,
        tree=TREE_PATCHES,
        kotd=KOTD_PATCHES,
        kotd_order=KOTD_ORDER,
        tree_order=list(TREE_PATCHES),
        statuses=STATUSES,
        renames=RENAMES,
    )
    return target, d


def sync_in_subprocess(repo: str, mode: str, state_dir: str, stall: str, stage: str) -> None:
    """Entry point for ``python -c``: sync the scenario at ``repo``, stalled at ``stage`` (kill tests)."""
    from patchsync.gitsync import sync_target

    from .stalled import stall_at

    target, d = describe(Path(repo), mode)
    checkpoint = stall_at(Path(stall), stage)
    sync_target(patchset(KOTD_PATCHES, KOTD_ORDER), target, d, state_dir=Path(state_dir), checkpoint=checkpoint)
