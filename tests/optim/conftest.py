"""One intra-op thread for these tests: small linear algebra (QR, eigh, solves of 3–128
rows) runs up to 100× slower when two threads fight over a shared, loaded machine."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
