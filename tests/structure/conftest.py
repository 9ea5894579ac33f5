"""Shared set-up of the structure tests."""

from __future__ import annotations

import torch

# The suite runs on two shared CPU cores: intra-op threads only add contention for the small
# tensors of these tests.
torch.set_num_threads(1)
