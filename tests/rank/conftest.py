"""Rank tests run many tiny matmuls: one torch thread avoids oversubscribing the shared 2-core machine."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
