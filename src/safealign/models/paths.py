"""Where safealign keeps converted checkpoints and other cached artefacts."""

from __future__ import annotations

import os
from pathlib import Path


def safealign_home() -> Path:
    """`$SAFEALIGN_HOME`, else `$XDG_CACHE_HOME/safealign`, else `~/.cache/safealign`."""
    if env := os.environ.get("SAFEALIGN_HOME"):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "safealign"
