"""Development mode: rewrite base..branch so each patch commit carries the KOTD version.

The replay runs in memory on git trees: a commit whose parent did not
change is kept as it is (same id); a commit whose parent changed is
replayed file by file (a file the new parent has as the old parent had it
takes the commit's version directly, anything else goes through a 3-way
merge), so the cost is the files the commits touch, never the whole tree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import GitError
from ..model import SERIES_FILE, Commit, PatchDelta
from . import message, trees
from .access import is_ancestor
from .context import Context, edit_series
from .objects import ObjectStore, TreeEntry
from .repo import run_git
from .treeapply import ConflictError, apply_patch, replay

#: Statuses whose patch a development sync rewrites in its commit.
_REWRITE = frozenset({"metadata", "refreshed", "modified", "renamed", "removed"})


@dataclass(frozen=True)
class RangeCommit:
    """One commit of base..branch: ids and the files it changes (from git's raw diff)."""

    sha: str
    parent: str
    tree: str
    changes: trees.Delta


@dataclass
class _Item:
    """One step of the new history: an existing commit, or a patch to add."""

    commit: RangeCommit | None = None
    patches: tuple[str, ...] = ()  # tree names of the patch files the commit touches
    added: PatchDelta | None = None


@dataclass(frozen=True)
class Range:
    """base..branch, read once and checked (no merges, one commit per patch file)."""

    base: str
    commits: tuple[RangeCommit, ...]
    patches_of: Mapping[str, tuple[str, ...]]  # commit sha -> tree patch names


#: From this many commits to replay on, their objects are read in one go.
_READ_AHEAD_FROM = 16

#: Starts each commit's record in the ``git log`` stream below.
_RECORD = b"\x01"


def _entry(mode: bytes, sha: bytes) -> TreeEntry | None:
    return (
        None if set(mode) == {ord("0")} else TreeEntry(mode.lstrip(b"0") if mode == b"040000" else mode, sha.decode())
    )


def _log(repo: str, base_sha: str, branch_commit: str) -> list[tuple[list[str], str, trees.Delta]]:
    """(sha and parents, tree, changed files) per commit of the range, oldest first.

    One ``git log --raw`` computes every commit's diff in C: no tree of the
    range is read in Python just to find what a commit changed.
    """
    out = run_git(
        repo,
        [
            # The user's log/diff configuration must not change the stream.
            "-c", "log.showSignature=false", "-c", "diff.external=",
            "log", "--reverse", "--topo-order", "-z", "--raw", "--no-renames", "--no-abbrev", "--no-color",
            "--no-ext-diff", "--no-notes",
            "--format=%x01%H %P%x02%T", f"{base_sha}..{branch_commit}", "--",
        ],
    ).stdout  # fmt: skip
    commits: list[tuple[list[str], str, trees.Delta]] = []
    for record in out.split(_RECORD)[1:]:
        fields = record.split(b"\0")
        ids, _, tree = fields[0].partition(b"\x02")
        changes: trees.Delta = {}
        i = 1
        while i + 1 < len(fields):
            raw = fields[i].lstrip(b"\n")
            if not raw.startswith(b":"):
                break
            old_mode, new_mode, old_sha, new_sha, _status = raw[1:].split(b" ")
            changes[fields[i + 1]] = (_entry(old_mode, old_sha), _entry(new_mode, new_sha))
            i += 2
        commits.append((ids.decode().split(), tree.decode(), changes))
    return commits


def read_range(ctx: Context, base: str, branch_commit: str) -> Range:
    store = ctx.store
    base_sha = store.resolve(base)
    if base_sha is None:
        raise GitError(f"base {base!r} does not exist", where=ctx.target.repo)
    if not is_ancestor(ctx.target.repo, base_sha, branch_commit):
        raise GitError(f"base {base!r} is not an ancestor of {ctx.target.branch}", where=ctx.target.repo)
    log = _log(ctx.target.repo, base_sha, branch_commit)
    merges = [ids[0][:12] for ids, _, _ in log if len(ids) > 2]
    if merges:
        raise GitError(
            f"{base}..{ctx.target.branch} has merge commits ({', '.join(merges)}); "
            "development mode needs a linear range",
            where=ctx.target.repo,
        )
    prefix = ctx.patch_path("")
    commits: list[RangeCommit] = []
    patches_of: dict[str, tuple[str, ...]] = {}
    carriers: dict[str, list[str]] = {}
    for ids, tree, changes in log:
        sha = ids[0]
        commits.append(RangeCommit(sha, ids[1], tree, changes))
        names = []
        for path in changes:
            if path.startswith(prefix):
                name = path[len(prefix) :].decode("utf-8", "surrogateescape")
                if "/" not in name and name != SERIES_FILE:
                    names.append(name)
                    carriers.setdefault(name, []).append(sha[:12])
        patches_of[sha] = tuple(sorted(names))
    several = {name: shas_ for name, shas_ in carriers.items() if len(shas_) > 1}
    if several:
        name, shas_ = sorted(several.items())[0]
        raise GitError(
            f"several commits in {base}..{ctx.target.branch} touch {name} ({', '.join(shas_)}); "
            "development mode needs one commit per patch",
            where=ctx.target.repo,
        )
    return Range(base_sha, tuple(commits), patches_of)


def plan(ctx: Context, rng: Range, deltas: Sequence[PatchDelta]) -> tuple[str, list[Commit]]:
    """The new head and the commits that differ from the old history; raises ConflictError."""
    by_tree_name = {(d.previous_name or d.name): d for d in deltas if d.status in _REWRITE}
    added = [d for d in deltas if d.status == "added"]
    carried = {name for names in rng.patches_of.values() for name in names}
    stray = sorted(set(by_tree_name) - carried)
    if stray:
        raise GitError(
            f"{stray[0]} is not added by any commit in {ctx.target.base}..{ctx.target.branch}; cannot rewrite it",
            where=ctx.target.repo,
        )
    items = _order(ctx, rng, by_tree_name, added)
    _read_ahead(ctx, rng, items, by_tree_name)
    # How every replayed version of a quilt series file must change: the
    # removals and renames everywhere, the added patches once their commit
    # is in the new history.
    series_edits = [d for d in deltas if d.status in ("removed", "renamed")]
    store = ctx.store
    head = rng.base
    tree = store.commit(rng.base).tree
    out: list[Commit] = []
    for item in items:
        if item.added is not None:
            head, tree = _add(ctx, head, tree, item.added, out)
            series_edits.append(item.added)
            continue
        entry = item.commit
        assert entry is not None
        rewrite = [by_tree_name[n] for n in item.patches if n in by_tree_name]
        if not rewrite and entry.parent == head:
            head, tree = entry.sha, entry.tree
            continue
        commit = store.commit(entry.sha)
        draft = _replay(ctx, entry, tree, rewrite, series_edits)
        if draft is None:
            # A removed patch's commit that carried nothing else: say so,
            # a maintainer must see every commit that leaves the history.
            subject = commit.message.split(b"\n", 1)[0].decode("utf-8", "replace")
            ctx.dropped.append(Commit(entry.sha, subject, tuple(d.name for d in rewrite)))
            continue
        if rewrite:
            msg = message.add_trailers(
                commit.message,
                message.source_trailers(ctx.source),
                signoff=ctx.ids.committer_name_email if ctx.target.signoff else None,
            )
            for delta in rewrite:
                if delta.status == "renamed" and delta.previous_name:
                    msg = message.rename_in_subject(msg, delta.previous_name, delta.name)
            committer = ctx.ids.committer
        else:
            msg, committer = commit.message, commit.committer
        new_tree = draft.write(store)
        sha = store.write_commit(
            new_tree, [head], author=commit.author, committer=committer, message=msg, extra=commit.extra
        )
        subject = msg.split(b"\n", 1)[0].decode("utf-8", "replace")
        out.append(Commit(sha, subject, tuple(d.name for d in rewrite)))
        head, tree = sha, new_tree
    return head, out


def _read_ahead(ctx: Context, rng: Range, items: Sequence[_Item], by_tree_name: Mapping[str, PatchDelta]) -> None:
    """Read at once the commits the plan replays and the folders their files sit in.

    Up to the first commit that changes, the history is kept as it is;
    from there every commit is read, and each file it touches is looked
    up in a folder that, until a replayed commit edits it, is the one that
    first commit's parent has.
    """
    head = rng.base
    at = 0
    while at < len(items):
        commit = items[at].commit
        if commit is None or commit.parent != head or any(n in by_tree_name for n in items[at].patches):
            break
        head = commit.sha
        at += 1
    if at == len(items):
        return
    rest = [item.commit for item in items[at:] if item.commit is not None]
    if len(rest) < _READ_AHEAD_FROM:
        return  # a few round trips cost less than another git process
    folders: set[str] = set()
    for commit in rest:
        for path in commit.changes:
            parts = path.decode("utf-8", "surrogateescape").split("/")[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    names = [name for commit in rest for name in (commit.sha, commit.parent)]
    names += [f"{head}^{{tree}}", *(f"{head}:{folder}" for folder in sorted(folders))]
    ctx.store.prefetch(names)


def _order(
    ctx: Context, rng: Range, by_tree_name: Mapping[str, PatchDelta], added: Sequence[PatchDelta]
) -> list[_Item]:
    """The new sequence: patch commits in KOTD order in the slots patch commits had."""
    rank = {name: i for i, name in enumerate(ctx.kotd_order)}
    items = [_Item(commit=c, patches=rng.patches_of[c.sha]) for c in rng.commits]

    def result_name(item: _Item) -> str | None:
        if len(item.patches) != 1:
            return None
        name = item.patches[0]
        delta = by_tree_name.get(name)
        if delta is not None:
            if delta.status == "removed":
                return None
            name = delta.name
        return name if name in rank else None

    slots = [i for i, item in enumerate(items) if result_name(item) is not None]
    movable = sorted((items[i] for i in slots), key=lambda it: rank[result_name(it) or ""])
    for slot, item in zip(slots, movable, strict=True):
        items[slot] = item
    present = {result_name(it) for it in items} - {None}
    for delta in sorted(added, key=lambda d: rank.get(d.name, len(rank))):
        at = 0
        if delta.name in rank:
            for before in reversed(ctx.kotd_order[: rank[delta.name]]):
                if before in present:
                    at = 1 + max(i for i, it in enumerate(items) if _names(it, by_tree_name) & {before})
                    break
        items.insert(at, _Item(added=delta))
        present.add(delta.name)
    return items


def _names(item: _Item, by_tree_name: Mapping[str, PatchDelta]) -> set[str]:
    if item.added is not None:
        return {item.added.name}
    return {(by_tree_name[n].name if n in by_tree_name else n) for n in item.patches}


def _replay(
    ctx: Context, commit: RangeCommit, onto: str, rewrite: list[PatchDelta], series_edits: Sequence[PatchDelta]
) -> trees.Draft | None:
    """The tree of ``commit`` replayed on ``onto`` with its patches swapped; None to drop it."""
    store = ctx.store
    if not rewrite:
        changes = dict(commit.changes)
        series = changes.pop(ctx.patch_path(SERIES_FILE), None)
        new_tree = replay(store, onto, changes, scratch=ctx.scratch, commit=commit.sha)
        return _series(ctx, new_tree, series, series_edits)
    stripped = trees.Draft(commit.tree)
    restored: set[bytes] = set()
    for delta in rewrite:
        if delta.status == "metadata":
            continue
        # What the commit does apart from the old patch: revert the old
        # patch where it was applied, in the original history.
        assert delta.old is not None
        old_name = delta.previous_name or delta.name
        applied = apply_patch(
            store,
            stripped,
            delta.old,
            name=old_name,
            scratch=ctx.scratch,
            reverse=True,
            commit=commit.sha,
            parses=ctx.parses,
        )
        stripped = applied.tree
        restored.add(ctx.patch_path(old_name))
    changes = _stripped_changes(store, commit, stripped, restored)
    series = changes.pop(ctx.patch_path(SERIES_FILE), None)
    if rewrite and all(d.status == "removed" for d in rewrite) and not changes:
        return None
    new_tree = replay(store, onto, changes, scratch=ctx.scratch, commit=commit.sha)
    for delta in rewrite:
        if delta.status not in ("metadata", "removed"):
            assert delta.new is not None
            applied = apply_patch(
                store,
                new_tree,
                delta.new,
                name=delta.name,
                scratch=ctx.scratch,
                preimage_tree=stripped,
                commit=commit.sha,
                parses=ctx.parses,
            )
            new_tree = applied.tree
            ctx.note(delta.name, applied.method)
        if delta.status == "removed":
            continue
        new_tree = ctx.set_patch_file(new_tree, delta)
    return _series(ctx, new_tree, series, series_edits)


def _file(entry: TreeEntry | None) -> TreeEntry | None:
    return None if entry is None or entry.is_tree else entry


def _stripped_changes(
    store: ObjectStore, commit: RangeCommit, stripped: trees.Draft, restored: set[bytes]
) -> trees.Delta:
    """What ``stripped`` (the commit's tree, old patches reverted) changes against the commit's parent.

    The commit's own changes from ``git log --raw``, corrected where the
    revert touched a file; an old patch file counts as restored to the
    parent's version.  No tree of the parent is read: in a folder of
    thousands of patches that read (and a diff of it) per rewritten commit
    made a long branch's sync quadratic.
    """
    reverted = set(stripped.changes)
    touched = reverted | restored
    changes = {path: change for path, change in commit.changes.items() if path not in touched}
    for path in reverted - restored:
        old = commit.changes[path][0] if path in commit.changes else _file(trees.lookup(store, commit.tree, path))
        new = _file(stripped.changes[path])
        if old != new:
            changes[path] = (old, new)
    return changes


def _series(
    ctx: Context,
    tree: trees.Draft,
    change: tuple[TreeEntry | None, TreeEntry | None] | None,
    edits: Sequence[PatchDelta],
) -> trees.Draft:
    """``tree`` with a commit's own version of the series file, edited for the sync.

    Series files are never merged line by line: two commits appending
    after the same line would conflict for no reason.
    """
    if change is None:
        return tree
    path = ctx.patch_path(SERIES_FILE)
    new = change[1]
    if new is None:
        return tree.edit({path: None})
    content = ctx.store.blob(new.sha)
    for delta in edits:
        content = edit_series(content, delta, ctx.kotd_order)
    return tree.edit({path: TreeEntry(new.mode, ctx.store.write_blob(content))})


def _add(ctx: Context, head: str, tree: str, delta: PatchDelta, out: list[Commit]) -> tuple[str, str]:
    assert delta.new is not None
    applied = apply_patch(
        ctx.store, trees.Draft(tree), delta.new, name=delta.name, scratch=ctx.scratch, parses=ctx.parses
    )
    ctx.note(delta.name, applied.method)
    new_tree = ctx.set_patch_file(applied.tree, delta).write(ctx.store)
    subject = message.subject(
        ctx.target.subject_add, name=delta.name, previous_name=None, source=ctx.source, package=ctx.package
    )
    body = message.added_body(
        message.subject(
            message.BODIES["added"], name=delta.name, previous_name=None, source=ctx.source, package=ctx.package
        ),
        delta.new,
    )
    msg = message.new_message(subject, body, ctx.target, ctx.source, ctx.ids)
    sha = ctx.store.write_commit(new_tree, [head], author=ctx.ids.author, committer=ctx.ids.committer, message=msg)
    out.append(Commit(sha, subject, (delta.name,)))
    return sha, new_tree


__all__ = ["ConflictError", "Range", "plan", "read_range"]
