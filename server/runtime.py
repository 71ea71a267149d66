"""Process-wide thread settings for serving; applied before the encoder's backend starts.

A server runs many calls at once, so its parallelism comes from concurrent calls: an encoder
or a Faiss search that also spreads one call over every core only fights the other calls
for the same cores (and OpenMP's spinning threads burn CPU the decoders need).
"""

from __future__ import annotations

import logging
import os
import sys

from lookalike.encoder.xla_flags import add_xla_flags

logger = logging.getLogger(__name__)

SINGLE_THREADED_XLA = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")


def limit_threads(encoder_threads: int, search_threads: int) -> None:
    """Pins the encoder (XLA) and Faiss (OpenMP) to one thread per call when given 1; 0
    keeps their own defaults. Both read their settings when they load: call this before
    either is imported. Settings the operator gives in XLA_FLAGS or OMP_NUM_THREADS win.

    OpenMP's thread count is an environment default plus a per-thread override, so
    `faiss.omp_set_num_threads` here would only reach this thread, not the threads that
    serve calls; the environment variable reaches every thread.
    """
    if encoder_threads == 1:
        add_xla_flags(*SINGLE_THREADED_XLA)
    if search_threads > 0 and "OMP_NUM_THREADS" not in os.environ:
        if "faiss" in sys.modules:
            logger.warning("Faiss is already loaded: --search-threads %d does not apply",
                           search_threads)
        os.environ["OMP_NUM_THREADS"] = str(search_threads)
