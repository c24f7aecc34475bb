"""Build real git repositories shaped like a target tree, for tests.

A tree is built with the git command line (not GitPython) so the code under
test reads repositories made by the real tool.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    """Run git in ``repo``; its stdout, stripped."""
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=input,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode("utf-8", "surrogateescape").strip()


def init(repo: Path, *, bare: bool = False) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main", *(["--bare"] if bare else []))
    return repo


def commit_files(
    repo: Path,
    files: Mapping[str, bytes | None],
    message: str,
    *,
    branch: str = "main",
) -> str:
    """Commit ``files`` (path -> bytes, ``None`` deletes) on ``branch``, without a checkout.

    Uses a temporary index, so it works in bare repositories and never
    touches a working tree.
    """
    fd, index_name = tempfile.mkstemp(prefix="test-index-")
    os.close(fd)
    env_index = Path(index_name)
    env_index.unlink()
    env = {"GIT_INDEX_FILE": str(env_index)}
    parent = _rev(repo, f"refs/heads/{branch}")
    run_env = _env(env)
    if parent:
        subprocess.run(["git", "read-tree", parent], cwd=repo, env=run_env, check=True)
    else:
        subprocess.run(["git", "read-tree", "--empty"], cwd=repo, env=run_env, check=True)
    for path, data in files.items():
        if data is None:
            subprocess.run(["git", "update-index", "--force-remove", "--", path], cwd=repo, env=run_env, check=True)
            continue
        blob = (
            subprocess.run(
                ["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )
        subprocess.run(
            ["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"],
            cwd=repo,
            env=run_env,
            check=True,
        )
    tree = (
        subprocess.run(["git", "write-tree"], cwd=repo, env=run_env, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    env_index.unlink(missing_ok=True)
    args = ["git", "commit-tree", tree, "-m", message]
    if parent:
        args += ["-p", parent]
    sha = subprocess.run(args, cwd=repo, capture_output=True, check=True).stdout.decode().strip()
    git(repo, "update-ref", f"refs/heads/{branch}", sha)
    return sha


def _rev(repo: Path, ref: str) -> str:
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], cwd=repo, capture_output=True, check=False)
    return done.stdout.decode().strip()


def _env(extra: Mapping[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
