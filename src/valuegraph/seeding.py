"""Deterministic seeds derived from the config's master seed and a tuple of names."""

import hashlib


def derive_seed(seed: int, *names: str) -> int:
    """A 63-bit seed from the master seed and names; stable across processes and platforms."""
    text = "\x1f".join([str(seed), *names])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1
