"""Process-wide thread settings for serving; applied before the encoder's backend starts.

A server runs many calls at once, so its parallelism comes from concurrent calls: an encoder
or a Faiss search that also spreads one call over every core only fights the other calls
for the same cores (and OpenMP's spinning threads burn CPU the decoders need).
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

SINGLE_THREADED_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def limit_threads(encoder_threads: int, search_threads: int) -> None:
    """Pins the encoder (XLA) and Faiss (OpenMP) to one thread per call when given 1; 0
    keeps their own defaults. XLA reads its flags when its backend starts: call this first.
    An operator's own XLA_FLAGS are left alone."""
    if encoder_threads == 1 and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = SINGLE_THREADED_XLA
    if search_threads > 0:
        import faiss

        faiss.omp_set_num_threads(search_threads)
