"""An LRU of question vectors, shared by every encoder (torch and ONNX)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np


class QueryVectorCache:
    """Thread-safe LRU from question text to its vector. Vectors are read-only: every caller shares them."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def get_or_encode(self, text: str, encode: Callable[[str], np.ndarray]) -> np.ndarray:
        with self._lock:
            hit = self._vectors.get(text)
            if hit is not None:
                self._vectors.move_to_end(text)
                return hit
        vector = encode(text)
        vector.flags.writeable = False  # shared by every caller of the cache: nobody may change it in place
        with self._lock:
            self._vectors[text] = vector
            if len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return vector
