"""Renderers: turn SBOMs and findings into tables and documents for people and tools."""
