"""Thread defaults: OMP_NUM_THREADS when pinned, else the usable cores up to a cap; explicit counts win."""

from __future__ import annotations

import pytest
import torch

from crossomics import settings


@pytest.fixture
def restore_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("omp", "cores", "expected"), [("3", 16, 3), ("", 2, 2), (None, 32, 8), ("x", 4, 4), ("0", 4, 4)]
)
def test_default_threads(monkeypatch, omp, cores, expected):
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    monkeypatch.setattr(settings, "usable_cores", lambda: cores)
    assert settings.default_threads() == expected


def test_set_threads(monkeypatch, restore_torch_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert settings.set_threads() == 2 == torch.get_num_threads()
    assert settings.set_threads(1) == 1 == torch.get_num_threads()
    monkeypatch.setattr(settings, "usable_cores", lambda: 2)
    assert settings.set_threads(0) == 2 == torch.get_num_threads()
