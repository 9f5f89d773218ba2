"""Predictor behaviour on a keyword model (no training): answers, fallback, no-answer intents, cache and threads."""
from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from engine import inference
from engine.inference import Answer, get_predictor

LABELS = ["balance", "card_lost", "transfer"]


class KeywordModel(torch.nn.Module):
    """logit of a label = 4 × occurrences of its keyword's token id: a keyword → ~96 % confident, none → uniform."""

    def __init__(self, ids):
        super().__init__()
        self.register_buffer("ids", torch.tensor(ids))

    def forward(self, input_ids, attention_mask=None, **_):
        hits = (input_ids[:, :, None] == self.ids[None, None, :]) & attention_mask[:, :, None].bool()
        return SimpleNamespace(logits=4.0 * hits.sum(1).float())


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer
    from tests.fixtures.models import bundled_model_dir
    return AutoTokenizer.from_pretrained(bundled_model_dir())


@pytest.fixture()
def artifact(tmp_path, tokenizer, monkeypatch):
    root = tmp_path / "run1"
    (root / "model").mkdir(parents=True)
    (root / "label_map.json").write_text(json.dumps({"labels": LABELS}))
    (root / "qa.json").write_text(json.dumps({
        "threshold": 0.7,
        "answers": {"balance": "Your balance is in the app under Accounts.", "card_lost": "Freeze the card in the app."},
        "fallback": "Not sure — reply 'human' for a colleague."}))
    ids = [tokenizer.convert_tokens_to_ids(w) for w in ("balance", "card", "transfer")]
    loads = []

    def fake_load(path):
        loads.append(path)
        time.sleep(0.05)          # make concurrent first calls overlap
        trained = SimpleNamespace(model=KeywordModel(ids).eval(), tokenizer=tokenizer, labels=LABELS,
                                  config={"max_length": 32})
        return inference.Predictor(trained, path)

    monkeypatch.setattr(inference, "_load", fake_load)
    inference.clear_cache()
    yield SimpleNamespace(root=root, loads=loads)
    inference.clear_cache()


def test_confident_intent_gets_its_answer(artifact):
    a = get_predictor(artifact.root).answer("what is my balance today")
    assert isinstance(a, Answer) and not a.fallback
    assert a.intent == "balance" and a.answer == "Your balance is in the app under Accounts."
    assert a.confidence > 0.9 and [lab for lab, _ in a.top][0] == "balance" and len(a.top) == 3
    assert sum(p for _, p in a.top) == pytest.approx(1.0)


def test_below_threshold_offers_a_human(artifact):
    a = get_predictor(artifact.root).answer("hello there")      # no keyword: uniform 1/3
    assert a.fallback and a.answer == "Not sure — reply 'human' for a colleague."
    assert a.confidence == pytest.approx(1 / 3, abs=1e-4)


def test_intent_without_answer_text_names_it_and_offers_a_human(artifact):
    a = get_predictor(artifact.root).answer("transfer money to my friend")
    assert a.intent == "transfer" and a.fallback
    assert "transfer" in a.answer and "human" in a.answer


def test_qa_json_changes_are_picked_up_without_reload(artifact):
    p = get_predictor(artifact.root)
    assert p.answer("hello").fallback
    qa = json.loads((artifact.root / "qa.json").read_text())
    qa["threshold"] = 0.2
    (artifact.root / "qa.json").write_text(json.dumps(qa))
    import os
    st = os.stat(artifact.root / "qa.json")
    os.utime(artifact.root / "qa.json", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert get_predictor(artifact.root) is p and not p.answer("balance").fallback
    assert len(artifact.loads) == 1


def test_predict_proba_batches_match_single(artifact):
    p = get_predictor(artifact.root)
    texts = ["card card lost", "balance", "a much longer question about a transfer to another bank", "hi"]
    batch = p.predict_proba(texts)
    single = np.vstack([p.predict_proba([t]) for t in texts])
    assert batch.shape == (4, 3) and np.allclose(batch, single, atol=1e-6)
    assert list(batch.argmax(1)[:3]) == [1, 0, 2]
    assert p.predict_proba([]).shape == (0, 3)


def test_second_call_reuses_cached_model(artifact):
    a = get_predictor(artifact.root)
    b = get_predictor(str(artifact.root) + "/")
    assert a is b and len(artifact.loads) == 1
    assert inference.cache_info()["hits"] >= 1


def test_concurrent_first_calls_load_once(artifact):
    got = []
    threads = [threading.Thread(target=lambda: got.append(get_predictor(artifact.root))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(artifact.loads) == 1 and all(g is got[0] for g in got)


def test_lru_evicts_oldest(artifact, tmp_path, monkeypatch):
    monkeypatch.setattr(inference, "CACHE_SIZE", 2)
    roots = []
    for i in range(3):
        r = tmp_path / f"r{i}"
        (r / "model").mkdir(parents=True)
        roots.append(r)
    for r in roots:
        get_predictor(r)
    assert inference.cache_info()["size"] == 2 and str(roots[0].resolve()) not in inference.cache_info()["keys"]
    get_predictor(roots[0])
    assert len(artifact.loads) == 4


def test_missing_artifact_is_not_found(tmp_path):
    from engine.errors import NotFound
    with pytest.raises(NotFound):
        get_predictor(tmp_path / "nope")


def test_answers_from_many_threads_at_once(artifact):
    p = get_predictor(artifact.root)
    errors, got = [], []

    def ask():
        try:
            for q in ("my card is lost", "what is my balance", "hello") * 10:
                got.append(p.answer(q).intent)
        except Exception as e:     # e.g. the fast tokenizer's "Already borrowed"
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 240


def test_inputs_the_model_does_not_take_are_dropped(tokenizer, tmp_path):
    class Strict(torch.nn.Module):
        def forward(self, input_ids, attention_mask):       # no token_type_ids
            return torch.zeros(input_ids.shape[0], 3)

    p = inference.Predictor(SimpleNamespace(model=Strict(), tokenizer=tokenizer, labels=LABELS, config={}), tmp_path)
    assert p.predict_proba(["a b", "c"]) == pytest.approx(np.full((2, 3), 1 / 3))
