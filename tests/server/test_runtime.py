import os
import subprocess
import sys

# Run in a fresh interpreter: the settings only apply before Faiss and XLA load.
PROBE = """
import os, threading
from lookalike.server.runtime import limit_threads
limit_threads(1, 1)
import faiss
seen = []
thread = threading.Thread(target=lambda: seen.append(faiss.omp_get_max_threads()))
thread.start(); thread.join()
print(faiss.omp_get_max_threads(), seen[0], os.environ["XLA_FLAGS"])
"""


def test_search_threads_reach_every_thread_not_just_the_caller():
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "XLA_FLAGS")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out[:2] == ["1", "1"]  # the main thread and a call-serving thread alike
    assert "--xla_cpu_multi_thread_eigen=false" in out[2:]
