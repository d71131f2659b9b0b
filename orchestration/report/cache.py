"""A small content-addressed file cache for the review's costly pieces (font subsets, charts).

An entry's name is a hash of everything its content depends on, so a stale entry is never read:
it just stops being asked for, and the oldest entries beyond `keep` are deleted. Writes are
atomic (a temporary file renamed), so concurrent renders share the folder safely.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path


def cache_key(parts: Iterable[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def cached_bytes(
    cache_dir: Path | None, key: str, suffix: str, keep: int, produce: Callable[[], bytes]
) -> bytes:
    """`produce()`, or what it produced before for `key` (`cache_dir` None: no cache)."""
    if cache_dir is None:
        return produce()
    cached = cache_dir / f"{key}{suffix}"
    if cached.exists():
        cached.touch()  # recently used: pruned last
        return cached.read_bytes()
    content = produce()
    cache_dir.mkdir(parents=True, exist_ok=True)
    temporary = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, cached)
    entries = sorted(cache_dir.glob(f"*{suffix}"), key=lambda p: p.stat().st_mtime)
    for old in entries[:-keep]:
        old.unlink(missing_ok=True)
    return content
