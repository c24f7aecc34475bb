"""Released mode: new commits on top of the branch, history untouched."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import GitError
from ..model import Commit, PatchDelta
from . import message, trees
from .apply import paths as apply_paths
from .context import Context
from .treeapply import ConflictError, apply_patch

#: Which template names each status's commit (config ``subject_*``).
_TEMPLATE = {
    "metadata": "subject_update",
    "refreshed": "subject_update",
    "modified": "subject_update",
    "renamed": "subject_rename",
    "added": "subject_add",
    "removed": "subject_remove",
}


#: Given the deltas synced so far (including the failing one), the tree a
#: full in-memory replay of base..branch produces; None where there is no base.
Replayer = Callable[[list[PatchDelta]], str | None]


def plan(ctx: Context, branch_commit: str, deltas: list[PatchDelta], replayer: Replayer | None) -> list[Commit]:
    """Write one commit per changed patch on top of ``branch_commit``; raises ConflictError."""
    store = ctx.store
    parent = branch_commit
    tree = store.commit(branch_commit).tree
    done: list[PatchDelta] = []
    out: list[Commit] = []
    for delta in deltas:
        if delta.status not in _TEMPLATE:
            continue
        done.append(delta)
        new_tree = _commit_tree(ctx, tree, delta, done, replayer).write(store)
        template = getattr(ctx.target, _TEMPLATE[delta.status])
        subject, body = (
            message.subject(
                text, name=delta.name, previous_name=delta.previous_name, source=ctx.source, package=ctx.package
            )
            for text in (template, message.BODIES[delta.status])
        )
        if delta.status == "added" and delta.new is not None:
            body = message.added_body(body, delta.new)
        msg = message.new_message(subject, body, ctx.target, ctx.source, ctx.ids)
        sha = store.write_commit(new_tree, [parent], author=ctx.ids.author, committer=ctx.ids.committer, message=msg)
        out.append(Commit(sha, subject, (delta.name,)))
        parent, tree = sha, new_tree
    return out


def _commit_tree(
    ctx: Context, tree: str, delta: PatchDelta, done: list[PatchDelta], replayer: Replayer | None
) -> trees.Draft:
    store = ctx.store
    if delta.status == "metadata":
        return ctx.set_patch_file(trees.Draft(tree), delta)
    try:
        work = trees.Draft(tree)
        if delta.old is not None and delta.status != "added":
            applied = apply_patch(
                store,
                work,
                delta.old,
                name=delta.previous_name or delta.name,
                scratch=ctx.scratch,
                reverse=True,
                parses=ctx.parses,
            )
            work = applied.tree
            ctx.note(delta.previous_name or delta.name, applied.method)
        if delta.new is not None and delta.status != "removed":
            applied = apply_patch(store, work, delta.new, name=delta.name, scratch=ctx.scratch, parses=ctx.parses)
            work = applied.tree
            ctx.note(delta.name, applied.method)
        return ctx.set_patch_file(work, delta)
    except ConflictError as conflict:
        # Later patches on the branch may overlap this one, so the old
        # version does not revert cleanly on top.  A replay of the whole
        # series with the new version knows what these files must become.
        if replayer is None:
            raise
        try:
            full = replayer(done)
        except (ConflictError, GitError):
            # The patch's own failure is what the maintainer must see: the
            # replay is only a second try, and a range it cannot replay
            # (several commits touching one patch, as released mode's own
            # updates leave behind) is no reason to call it an error.
            raise conflict from None
        if full is None:
            raise
        return _take_from(ctx, tree, full, delta)


def _take_from(ctx: Context, tree: str, full: str, delta: PatchDelta) -> trees.Draft:
    """``tree`` with the files ``delta``'s patches touch taken from the replayed tree."""
    paths: set[bytes] = set()
    for data in (delta.old, delta.new):
        if data is not None:
            for fp in ctx.parses.parse(data, where=delta.name).files:
                paths.update(p for p in apply_paths(fp) if p is not None)
    changes = {path: trees.lookup(ctx.store, full, path) for path in paths}
    ctx.note(delta.name, "replay")
    return ctx.set_patch_file(trees.Draft(tree, changes), delta)
