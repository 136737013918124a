"""Reusable test helpers that drive real external programs."""
