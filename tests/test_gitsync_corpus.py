"""The applier on real SUSE Xen patches, checked against GNU patch.

A patch alone determines the lines its hunks expect, so each real patch
gets a synthetic pre-image per file: every hunk's old side at its line
number, numbered filler lines in between.  Applying the patch there must
give exactly what ``patch -p1`` gives, forward and in reverse, and the
result stays the same when the pre-image shifts (offsets).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from patchsync.gitsync.apply import FileState, apply_file
from patchsync.patches.parse import FileDiff, parse_patch

from .conftest import require_tool


def _preimage(fd: FileDiff) -> bytes:
    lines: list[bytes] = []
    for hunk in fd.hunks:
        start = hunk.old_start - 1 if hunk.old_len else hunk.old_start
        while len(lines) < start:
            lines.append(b"filler %d\n" % len(lines))
        lines.extend(hunk.old_lines())
    lines += [b"tail %d\n" % i for i in range(3)]
    return b"".join(lines)


def _corpus_patches(corpus: Path) -> list[Path]:
    return sorted(p for sub in ("v1", "v2", "same") for p in (corpus / sub).iterdir() if p.is_file())


def test_applier_matches_gnu_patch_on_real_suse_patches(corpus: Path, tmp_path: Path) -> None:
    require_tool("patch")
    checked = 0
    for path in _corpus_patches(corpus):
        data = path.read_bytes()
        try:
            parsed = parse_patch(data, where=path.name)
        except Exception:
            continue
        for number, fd in enumerate(parsed.files):
            if fd.is_binary or fd.is_new or fd.is_deleted or not fd.hunks or fd.name.startswith("/"):
                continue
            # A patch naming one file twice would need both diffs; keep it simple.
            if sum(1 for other in parsed.files if other.name == fd.name) > 1:
                continue
            work = tmp_path / f"{path.parent.name}-{path.name}-{number}"
            target = work / fd.name
            target.parent.mkdir(parents=True)
            before = _preimage(fd)
            target.write_bytes(before)
            (work / "one.diff").write_bytes(fd.raw)
            gnu = subprocess.run(
                ["patch", "-p1", "--quiet", "--batch", "--fuzz=0", "--no-backup-if-mismatch", "-i", "one.diff"],
                cwd=work,
                capture_output=True,
                check=False,
            )
            if gnu.returncode != 0:
                # GNU patch refuses this synthetic file too (overlapping hunks): nothing to compare.
                continue
            expected = target.read_bytes()
            state, method = apply_file(fd, FileState(before), scratch=tmp_path)
            assert state.content == expected, f"{path.name}: {fd.name}"
            assert method == "exact"
            back, _ = apply_file(fd, FileState(expected), reverse=True, scratch=tmp_path)
            assert back.content == before, f"{path.name}: {fd.name} (reverse)"
            if fd.hunks[0].old_start > 1:
                # The same file seven lines further down: found at an offset.
                prefix = b"".join(b"moved %d\n" % i for i in range(7))
                moved, how = apply_file(fd, FileState(prefix + before), scratch=tmp_path)
                assert (moved.content, how) == (prefix + expected, "offset"), f"{path.name}: {fd.name} (offset)"
            checked += 1
    assert checked >= 50, checked
