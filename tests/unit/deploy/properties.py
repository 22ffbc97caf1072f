"""Reading back the Java ``.properties`` files the deploy code renders (shared by its tests)."""

from __future__ import annotations


def props(text: str) -> dict[str, str]:
    """``key=value`` lines as a dict; comments and blank lines skipped, the last key wins."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out
