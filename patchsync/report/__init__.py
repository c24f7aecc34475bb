"""Renderers: text, JSON and mail from results; no I/O."""


def next_step(patch: str) -> str:
    """What a maintainer does about a conflict on ``patch`` (sync's text output and the mail)."""
    return f"hold {patch} (the target's 'hold') or update it by hand on the branch, then sync again"
