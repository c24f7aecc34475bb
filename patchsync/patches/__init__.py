"""Patch tarballs, patch parsing, series.conf and comparison."""
