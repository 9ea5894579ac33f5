"""Set-up shared by every test: one intra-op thread.

The tests work on small tensors (states of a few dimensions, 8×8 maps, QR/eigh of 3–128 rows),
where torch's intra-op threads only add contention: on a shared, loaded machine they made
single tests up to 100× slower (one E-SympNet training test spent 200+ CPU s unfinished with
the default threads and 13 s with one). Tests that need other settings set them themselves
and put them back.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():  # noqa: ANN202
    # Session scope: set before any fixture of a wider scope builds and trains its models.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
