"""Site API keys: 256 random bits, URL-safe base64 (43 characters), stored only as a SHA-256 hash."""

import hashlib
import secrets

KEY_BYTES = 32


def key_generate() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
