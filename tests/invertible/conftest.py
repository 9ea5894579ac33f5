"""One intra-op thread for the invertible tests: small tensors, where torch's threads only add
contention on a shared machine (and timings in the memory tests stay comparable)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
