import pytest
import torch

from vae_core.data import load_dataset


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture
def rng():
    return torch.Generator().manual_seed(0)
