"""Renderers: text, JSON and mail from results; no I/O."""
