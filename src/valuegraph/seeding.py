"""The one seeding scheme: every random stream is seeded from the config's master seed and the
labels naming the stream (``derive_seed(seed, "bootstrap", "3")``), so a stream depends on what
it is for -- never on call order, worker process or platform.

* :func:`derive_seed` -- the 63-bit seed of a stream (SHA-256 of the seed and the labels);
* :func:`rng` -- a NumPy ``Generator`` on that seed (items, roles, simulated answers, bootstrap
  rows; side effects and SAE batches take a derived seed and build the same Generator);
* :func:`random_state` -- a legacy ``RandomState`` on it, for libraries that want one (DoWhy);
* :func:`global_rngs` -- Python's and NumPy's global generators seeded from it for the length of
  a block, then restored, for libraries that draw from them (causal-learn).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported on use: this module is also imported where it is absent
    import numpy as np


def derive_seed(seed: int, *names: str) -> int:
    """A 63-bit seed from the master seed and names; stable across processes and platforms."""
    text = "\x1f".join([str(seed), *names])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def rng(seed: int, *names: str) -> np.random.Generator:
    """``numpy.random.default_rng(derive_seed(seed, *names))``."""
    import numpy as np

    return np.random.default_rng(derive_seed(seed, *names))


def random_state(seed: int, *names: str) -> np.random.RandomState:
    """A legacy ``RandomState`` on ``derive_seed(seed, *names)`` (taken modulo 2**32)."""
    import numpy as np

    return np.random.RandomState(derive_seed(seed, *names) % 2**32)


@contextlib.contextmanager
def global_rngs(seed: int, *names: str) -> Iterator[None]:
    """Seed Python's ``random`` and NumPy's global generator from ``derive_seed(seed, *names)``
    inside the block; restore both states afterwards."""
    import random

    import numpy as np

    value = derive_seed(seed, *names)
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(value)
    np.random.seed(value % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
