"""API keys (kept only as SHA-256 hashes) and per-key rate limits.

A key's id in logs and the audit table is the first 12 hex digits of its hash: enough to tell
keys apart, useless for recovering the key. Keys from `api_keys_file` are re-read whenever the
file changes, so removing a line revokes that key on the next request, with no restart.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from safealign.errors import ConfigError

HASH_PREFIX = "sha256:"
OPEN_KEY_ID = "open"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id(key_hash: str) -> str:
    return key_hash[:12]


def _as_hash(entry: str, origin: str) -> str:
    entry = entry.strip()
    if entry.startswith(HASH_PREFIX):
        digest = entry[len(HASH_PREFIX) :].lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError(f"{origin}: {HASH_PREFIX} entries need 64 hex digits.")
        return digest
    return hash_key(entry)


class KeyStore:
    """Hashed keys from config, env and an optional file that is re-read when it changes."""

    def __init__(self, keys: list[str], keys_file: str | None = None, env: str | None = None):
        env_value = os.environ.get("SAFEALIGN_API_KEYS", "") if env is None else env
        entries = [*keys, *(k for k in env_value.split(",") if k.strip())]
        self._fixed = {_as_hash(k, "api_keys") for k in entries if k.strip()}
        self._file = Path(keys_file) if keys_file else None
        self._file_hashes: set[str] = set()
        self._file_stamp: tuple[float, int] | None = None
        self._lock = threading.Lock()
        if self._file is not None and not self._file.is_file():
            raise ConfigError(
                f"{self._file}: api_keys_file not found. Create it with one key (or "
                f"{HASH_PREFIX}<hex>) per line."
            )
        self._reload()

    @property
    def open(self) -> bool:
        """No key configured anywhere: every request is accepted."""
        return not self._fixed and self._file is None

    def identify(self, presented: str | None) -> str | None:
        """The key id of a valid key, OPEN_KEY_ID in open mode, None when refused."""
        if self.open:
            return OPEN_KEY_ID
        if not presented:
            return None
        self._reload()
        digest = hash_key(presented)
        if digest in self._fixed or digest in self._file_hashes:
            return key_id(digest)
        return None

    def _reload(self) -> None:
        if self._file is None:
            return
        try:
            stat = self._file.stat()
        except OSError:  # a removed file revokes every key it held
            self._file_hashes = set()
            return
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._file_stamp:
            return
        with self._lock:
            lines = self._file.read_text().splitlines()
            hashes = {
                _as_hash(line, f"{self._file} line {i + 1}")
                for i, line in enumerate(lines)
                if line.strip() and not line.lstrip().startswith("#")
            }
            self._file_hashes, self._file_stamp = hashes, stamp


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """A token bucket per key: `burst` requests at once, refilled at `per_minute` / 60 per
    second. `check` returns 0 when the request may go, else the seconds until it could."""

    per_minute: int
    burst: int
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def check(self, key: str, now: float | None = None) -> float:
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        capacity = max(self.burst, 1)
        bucket = self._buckets.get(key) or _Bucket(float(capacity), now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        self._buckets[key] = bucket
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / rate


def retry_after_header(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
