"""Shared fixtures. Tests never reach the network: Slack is a fake on 127.0.0.1, models are tiny or bundled."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
os.environ["no_proxy"] = "127.0.0.1,localhost"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    from tests.fixtures.models import make_tiny_bert
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_bert_nohead(tmp_path_factory) -> Path:
    from tests.fixtures.models import make_tiny_bert
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert-nohead"), mlm_head=False)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory) -> Path:
    from tests.fixtures.models import make_tiny_gpt2
    return make_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """A fresh FTBOT_HOME."""
    h = tmp_path / "ftbot-home"
    monkeypatch.setenv("FTBOT_HOME", str(h))
    return h
