"""Compare the KOTD's patches with a target tree's copies: the drift of one target.

:func:`compare` is pure (bytes and names in, deltas out) so every rule can
be pinned in tests; :func:`compare_target` takes the KOTD series order
from series.conf and the tree's patches the caller read from git.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from .config import TargetConfig
from .errors import PatchError, TarballError
from .model import SERIES_FILE, PatchDelta, PatchSet, TargetDrift, TreePatches
from .names import path_problem
from .patches.classify import Classification, classify, has_changes, header_ids, refresh_key
from .patches.interdiff import file_diff, header_diff, interdiff, render
from .patches.order import order_changes
from .patches.parse import ParseCache, ParsedPatch, parse_patch, strip_path
from .patches.series import parse_series

log = logging.getLogger(__name__)

#: Rename levels, best first: identical bytes, identical diff part, same changes.
_RENAME_LEVELS = {"unchanged": 3, "metadata": 2, "refreshed": 1}


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found: every patch, the order changes, and warnings."""

    patches: tuple[PatchDelta, ...]
    order_changes: tuple[str, ...]
    warnings: tuple[str, ...]


def compare(  # noqa: PLR0912  one pass per side, in the order the result lists them
    kotd: Mapping[str, bytes],
    kotd_order: Sequence[str],
    tree: Mapping[str, bytes],
    tree_order: Sequence[str],
    hold: Collection[str] = (),
    *,
    details: bool = True,
    parses: ParseCache | None = None,
) -> Comparison:
    """Classify every patch name of either side.

    ``patches`` come in KOTD order (``kotd_order``, then KOTD names it
    lacks, by name), followed by the removed ones in tree order.  With
    ``details`` false no interdiff is computed (a quicker check).  The
    statuses are the same in both modes; whether an order change is drift
    is the target's business (:attr:`TargetDrift.in_sync`).  Patches are
    parsed through ``parses`` when given, so sync can reuse the parses.
    """
    held = set(hold)
    warnings: list[str] = []
    k_order = _full_order(kotd_order, kotd)
    t_order = _full_order(tree_order, tree)
    deltas: dict[str, PatchDelta] = {}

    for name in k_order:
        if name not in tree:
            continue
        old, new = tree[name], kotd[name]
        result = classify(old, new, name=name, parses=parses)
        if result.warning:
            warnings.append(result.warning)
        text = _describe(result, old, new, name) if details else ""
        if name in held:
            deltas[name] = PatchDelta(name, "held", old, new, interdiff=text, kotd_status=result.status)
        else:
            deltas[name] = PatchDelta(name, result.status, old, new, interdiff=text)

    added = [n for n in k_order if n not in tree]
    removed = [n for n in t_order if n not in kotd]
    renames = _find_renames(
        {n: kotd[n] for n in added if n not in held},
        {n: tree[n] for n in removed if n not in held},
        added,
        removed,
        warnings,
        parses=parses,
    )
    renamed_from = {old: new for new, old in renames.items()}

    for name in added:
        if name in held:
            deltas[name] = PatchDelta(name, "held", None, kotd[name], kotd_status="added")
        elif name in renames:
            prev = renames[name]
            old, new = tree[prev], kotd[name]
            text = ""
            if details:
                text = _describe(classify(old, new, name=name, parses=parses), old, new, name, old_name=prev)
            deltas[name] = PatchDelta(name, "renamed", old, new, previous_name=prev, interdiff=text)
        else:
            deltas[name] = PatchDelta(name, "added", None, kotd[name])
    removed_deltas: list[PatchDelta] = []
    for name in removed:
        if name in renamed_from:
            continue
        if name in held:
            removed_deltas.append(PatchDelta(name, "held", tree[name], None, kotd_status="removed"))
        else:
            removed_deltas.append(PatchDelta(name, "removed", tree[name], None))

    # Order: renamed patches count under their KOTD name; held ones are the
    # team's business and never drift.
    tree_seq = [renamed_from.get(n, n) for n in t_order if n not in held]
    kotd_seq = [n for n in k_order if n not in held]
    moved = order_changes(kotd_seq, tree_seq)
    patches = tuple(deltas[n] for n in k_order) + tuple(removed_deltas)
    return Comparison(patches=patches, order_changes=tuple(moved), warnings=tuple(warnings))


def _full_order(order: Sequence[str], files: Mapping[str, bytes]) -> list[str]:
    """``order`` restricted to ``files``, then the files it lacks, by name."""
    seen: set[str] = set()
    out: list[str] = []
    for name in order:
        if name in files and name not in seen:
            seen.add(name)
            out.append(name)
    out.extend(sorted(set(files) - seen))
    return out


def _parse_quietly(data: bytes, parses: ParseCache | None) -> ParsedPatch | None:
    try:
        return parses.parse(data) if parses is not None else parse_patch(data)
    except PatchError:
        return None


def _find_renames(
    added: Mapping[str, bytes],
    removed: Mapping[str, bytes],
    added_order: Sequence[str],
    removed_order: Sequence[str],
    warnings: list[str],
    *,
    parses: ParseCache | None,
) -> dict[str, str]:
    """New name -> old name for each removed patch whose diff an added one carries.

    Candidates must be equal at the ``refreshed`` level or better.  Among
    several, the ``Git-commit:`` (equal beats absent beats different), then
    a matching ``Subject:``, then the closer level, then KOTD order decide (removed patches are matched in
    tree order).
    """
    if not added or not removed:
        return {}
    by_key: dict[object, list[tuple[str, ParsedPatch | None]]] = {}
    by_bytes: dict[bytes, list[str]] = {}
    parsed_added: dict[str, ParsedPatch | None] = {}
    for name in added_order:
        if name not in added:
            continue
        data = added[name]
        by_bytes.setdefault(data, []).append(name)
        p = _parse_quietly(data, parses)
        parsed_added[name] = p
        if p is not None and has_changes(p):
            by_key.setdefault(refresh_key(p), []).append((name, p))
    position = {n: i for i, n in enumerate(added_order)}
    taken: set[str] = set()
    out: dict[str, str] = {}
    for old_name in removed_order:
        if old_name not in removed:
            continue
        data = removed[old_name]
        candidates: dict[str, int] = {n: _RENAME_LEVELS["unchanged"] for n in by_bytes.get(data, ()) if n not in taken}
        old_p = _parse_quietly(data, parses)
        if old_p is not None and has_changes(old_p):
            for new_name, new_p in by_key.get(refresh_key(old_p), ()):
                if new_name in taken or new_name in candidates:
                    continue
                lvl = "metadata" if new_p is not None and new_p.diff_part == old_p.diff_part else "refreshed"
                candidates[new_name] = _RENAME_LEVELS[lvl]
        if not candidates:
            continue
        old_ids = header_ids(old_p if old_p is not None else data)

        def score(
            new_name: str,
            old_ids: tuple[bytes | None, bytes | None] = old_ids,
            candidates: dict[str, int] = candidates,
        ) -> tuple[int, int, int, int]:
            p = parsed_added.get(new_name)
            new_ids = header_ids(p if p is not None else added[new_name])
            # Another upstream commit is evidence against; a missing tag is none.
            commit_match = 0 if old_ids[0] is None or new_ids[0] is None else 1 if old_ids[0] == new_ids[0] else -1
            subject_match = int(old_ids[1] is not None and old_ids[1] == new_ids[1])
            return (commit_match, subject_match, candidates[new_name], -position[new_name])

        best = max(candidates, key=score)
        if len(candidates) > 1:
            warnings.append(
                f"{old_name} matches several new patches ({', '.join(sorted(candidates))}); taken as renamed to {best}"
            )
        taken.add(best)
        out[best] = old_name
    return out


def _describe(result: Classification, old: bytes, new: bytes, name: str, *, old_name: str | None = None) -> str:
    """The text a report shows under a changed patch: header diff or interdiff."""
    old_label = f"a/{old_name or name}"
    if result.status == "unchanged":
        return ""
    if result.old is None or result.new is None:
        text = file_diff(old, new, old_label, f"b/{name}")
    elif result.status == "metadata":
        text = header_diff(result.old, result.new)
    else:
        items = interdiff(result.old, result.new)
        text = render(items) if items else b""
        if result.status == "modified" and not text:
            # Same changes per file, but something interdiff does not show
            # (modes, binary payload): show the patch files' difference.
            text = file_diff(old, new, old_label, f"b/{name}")
    return text.decode("utf-8", "backslashreplace")


def kotd_names(patchset: PatchSet, strip: int) -> dict[str, str]:
    """Tree name -> tarball path for every patch under the tarball's folder.

    This is where a tarball path becomes a patch name in ``patches_dir``,
    so every name is checked here (:mod:`patchsync.names`): a path git
    accepts, no control characters, and not a file patchsync manages
    there itself (the quilt ``series``).
    """
    prefix = patchset.top.strip("/") + "/" if patchset.top else ""
    out: dict[str, str] = {}
    for path in patchset.files:
        if prefix and not path.startswith(prefix):
            continue
        name = _strip(path, strip)
        problem = path_problem(name)
        if problem is None and name.split("/", 1)[0] == SERIES_FILE:
            problem = f"{name!r} collides with the quilt {SERIES_FILE!r} file patchsync keeps beside the patches"
        if problem:
            raise TarballError(f"patch name refused: {problem}", where=patchset.source.file or None)
        out[name] = path
    return out


def _strip(path: str, strip: int) -> str:
    if strip <= 0:
        return path
    stripped = strip_path(path, strip)
    return stripped if stripped is not None else path


def kotd_series_order(
    patchset: PatchSet,
    names: Mapping[str, str],
    symbols: Sequence[str],
    warnings: list[str],
    guarded_out: list[str] | None = None,
) -> list[str]:
    """The KOTD order of the tree names in ``names`` from series.conf (see issue 3, section 3).

    Guarded-out entries stay in place (the patch is still compared), are
    named in ``warnings`` and collected in ``guarded_out``; tarball patches
    series.conf does not list go last in name order, also with a warning.
    """
    by_path = {path: name for name, path in names.items()}
    order: list[str] = []
    seen: set[str] = set()
    if patchset.series_conf is None:
        warnings.append("the src.rpm has no series.conf; KOTD order is by name")
    else:
        series = parse_series(patchset.series_conf, symbols)
        prefix = patchset.top.strip("/") + "/" if patchset.top else ""
        for entry in series.entries:
            if prefix and not entry.name.startswith(prefix):
                continue
            name = by_path.get(entry.name)
            if name is None:
                if entry.active:
                    warnings.append(f"series.conf lists {entry.name}, which the tarball does not have")
                continue
            if name in seen:
                continue
            seen.add(name)
            order.append(name)
            if not entry.active:
                if guarded_out is not None:
                    guarded_out.append(name)
                warnings.append(
                    f"{entry.name} is guarded out in series.conf ({' '.join(entry.guards)}); compared anyway"
                )
        for name in sorted(set(names) - seen):
            warnings.append(f"{names[name]} is not in series.conf; ordered last")
    return order + sorted(set(names) - seen)


def compare_target(
    patchset: PatchSet,
    target: TargetConfig,
    tree: TreePatches,
    symbols: Sequence[str] = ("xen",),
    *,
    details: bool = True,
    parses: ParseCache | None = None,
) -> TargetDrift:
    """The drift of ``target``, whose branch carries ``tree``, against the KOTD ``patchset``.

    The drift carries ``parses`` on to sync, so a patch the comparison
    parsed is not parsed again there; without one (``check``, which never
    syncs) no parse outlives its comparison.
    """
    warnings: list[str] = []
    names = kotd_names(patchset, target.strip)
    kotd_files = {name: patchset.files[path] for name, path in names.items()}
    guarded_out: list[str] = []
    kotd_order = kotd_series_order(patchset, names, symbols, warnings, guarded_out)
    warnings.extend(tree.warnings)
    result = compare(kotd_files, kotd_order, tree.files, tree.order, target.hold, details=details, parses=parses)
    warnings.extend(result.warnings)
    for w in warnings:
        log.debug("%s: %s", target.name, w)
    return TargetDrift(
        target=target.name,
        mode=target.mode,
        branch_commit=tree.commit,
        patches=result.patches,
        kotd_order=tuple(kotd_order),
        tree_order=tuple(tree.order),
        order_changes=result.order_changes,
        warnings=tuple(warnings),
        guarded_out=tuple(guarded_out),
        parses=parses if parses is not None else ParseCache(),
    )
