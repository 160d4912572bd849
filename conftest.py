"""Repository-wide pytest settings.

Under pytest-xdist each worker is its own process; with the default torch thread count every worker
would use every core, and the workers would fight over them. One intra-op thread per worker keeps
the suite's wall time predictable on small machines.
"""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    torch.set_num_threads(1)
