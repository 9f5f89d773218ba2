"""The text partner on the pretrained encoder's embeddings (engine/recipes/embedding_partner.py) and its place in
the selection: candidates, soft vote, equal-vote blend weight, storage without weights or pickle."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.partners import tfidf_lr
from engine.recipes import blend as sel
from engine.recipes import embedding_partner as ep
from engine.served import layout
from engine.served.model import ServedModel
from engine.served.partner import proba_in

# Each label's test questions share no content word with its training questions: only meaning links them.
TRAIN = {
    "card_arrival": ["my card has not arrived yet", "when will my new card be delivered", "still waiting for the card",
                     "how long does card delivery take"],
    "lost_card": ["i lost my card", "my card was stolen", "someone took my wallet with the card in it",
                  "i cannot find my card anywhere"],
    "exchange_rate": ["what exchange rate do you use", "how much is one euro in dollars",
                      "is the currency conversion rate fair", "which rate applies when converting money"],
    "top_up_failed": ["my top up failed", "adding money did not work", "the top-up was declined",
                      "why was my top up rejected"],
}
TEST = {
    "card_arrival": ["the plastic never showed up in the post", "is the shipment of it delayed"],
    "lost_card": ["a thief grabbed my purse", "misplaced it somewhere at the mall"],
    "exchange_rate": ["how many yen for a pound", "what do i get for fifty francs"],
    "top_up_failed": ["loading funds onto my account keeps erroring", "the deposit from my bank bounced"],
}


def _flat(d):
    return [t for ts in d.values() for t in ts], [k for k, ts in d.items() for _ in ts]


@pytest.fixture(autouse=True)
def _fresh():
    ep.clear()
    yield
    ep.clear()


def test_the_pretrained_embeddings_carry_meaning_that_tfidf_cannot_see():
    x, y = _flat(TRAIN)
    xt, yt = _flat(TEST)
    emb = ep.embedding_lr("minilm").fit(x, y)
    tf = tfidf_lr().fit(x, y)
    acc = lambda m: float(np.mean(m.predict(xt) == np.asarray(yt)))
    assert acc(emb) >= 0.75 and acc(emb) > acc(tf) + 0.25


def test_embeddings_are_memoised_and_the_encoder_never_changes(monkeypatch, tiny_bert):
    import engine.classifier as clf
    calls = []
    real = clf.embed
    monkeypatch.setattr(clf, "embed", lambda m, tok, texts, **kw: calls.append(list(texts)) or real(m, tok, texts, **kw))
    a = ep.embeddings(str(tiny_bert), ["one text", "two texts", "one text"])
    encoder, _ = ep._encoders[str(tiny_bert)]
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    b = ep.embeddings(str(tiny_bert), ["two texts", "one text"])
    assert calls == [["one text", "two texts"]]                  # each distinct text embedded once, then remembered
    np.testing.assert_allclose(a[0], a[2])
    np.testing.assert_allclose(b[1], a[0])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    ep.embedding_lr(str(tiny_bert)).fit(["one text", "two texts", "three", "four"], ["a", "b", "a", "b"])
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())


def test_text_selection_offers_both_partners_and_their_soft_vote(tmp_path, tiny_bert):
    rng = np.random.default_rng(0)
    x, y = _flat(TRAIN)
    x, y = x * 3, y * 3                                          # 12 per label: 5-fold CV on the training rows
    xv, yv = _flat(TEST)
    labels = sorted(TRAIN)
    ft_val = rng.dirichlet(np.ones(len(labels)), len(xv))
    chosen = sel.select(kind="text", labels=labels, train_texts=x, train_labels=y, val_texts=xv, val_labels=yv,
                        ft_val=ft_val, serve="baseline", encoder={"base": "minilm"})
    rec = chosen.record
    # four intents, no training rows held out: nothing reads out-of-fold scores, so no CV — the soft vote of both
    assert rec["partner"] == sel.AVERAGE and rec["partner_cv"] == {} and rec["partner_chosen_on"].startswith("rule")
    assert sorted(chosen.partner.named_estimators_) == ["embedding_lr", "tfidf_lr"]
    # no training rows held out from the transformer: an equal vote for every model in the blend
    assert rec["weight"] == sel.fixed_weight(rec["partner"], 2)
    assert sel.fixed_weight(sel.AVERAGE, 2) == pytest.approx(1 / 3, abs=1e-4) and sel.fixed_weight("tfidf_lr", 2) == 0.5
    # stored and loaded through skops (our transformer is a trusted type; its file holds settings, not weights)
    chosen.served_model(tmp_path).save()
    assert (tmp_path / layout.PARTNER).stat().st_size < 10_000_000      # MiniLM's weights alone are 90 MB
    ep.clear()                                                   # a fresh process: the encoder loads again
    loaded = ServedModel.load(tmp_path)
    np.testing.assert_allclose(loaded.baseline_proba(xv), proba_in(chosen.partner, xv, labels), atol=1e-6)



def test_two_class_text_still_cross_validates_both_partners_and_their_vote():
    """Two classes: a served partner's out-of-fold scores help choose the cost threshold, so the CV runs."""
    x, y = _flat(TRAIN)
    x, y = x * 3, ["card" if v in ("card_arrival", "lost_card") else "money" for v in y] * 3
    xv, yv = _flat(TEST)
    yv = ["card" if v in ("card_arrival", "lost_card") else "money" for v in yv]
    ft_val = np.tile([0.5, 0.5], (len(xv), 1))
    chosen = sel.select(kind="text", labels=["card", "money"], train_texts=x, train_labels=y, val_texts=xv,
                        val_labels=yv, ft_val=ft_val, serve="baseline", positive="card", encoder={"base": "minilm"})
    rec = chosen.record
    assert set(rec["partner_cv"]) == {"tfidf_lr", "embedding_lr", sel.AVERAGE} and rec["cv_folds"] == 5
    assert rec["partner_chosen_on"] == "5-fold cross-validation on the training rows"
    assert rec["extra_rows"] == len(x)            # served baseline: every training row scored out of fold


def test_the_probe_heads_embeddings_are_the_partners(tiny_bert, tmp_path):
    """Training's probe head embeds the training texts with the untouched encoder and writes them with the candidate;
    the report hands them to the partner's memo, so the partner does not embed them again, and they are the
    embeddings it would have computed itself."""
    import engine.classifier as clf
    from engine.train import train
    from engine.evaluation.report import _hand_over_probe_embeddings
    from tests.engine.train_helpers import config, dataset
    data = dataset(n_train=30, n_val=6)
    cfg = config(tiny_bert, head_init="probe", epochs=1, contrastive_epochs=0)   # the encoder reads texts as is
    ep.clear()
    res = train(cfg, data, tmp_path / "probe-run")
    assert res.status == "succeeded", res.error
    art = tmp_path / "probe-run"
    assert (art / layout.PROBE_EMBEDDINGS).exists()
    ep.clear()
    _hand_over_probe_embeddings(art, data)
    assert not (art / layout.PROBE_EMBEDDINGS).exists()          # a hand-over, not part of what is served
    texts = [e.text for e in data.train]
    handed = ep.embeddings(cfg.base, texts, cfg.pooling, cfg.max_length)
    assert len(ep._memo) == len(set(texts))       # all from the probe: nothing else was embedded
    ep.clear()
    own = ep.embeddings(cfg.base, texts, cfg.pooling, cfg.max_length)
    assert np.min(np.sum(handed * own, axis=1)) > 0.999          # cosine; bf16 batches may differ in the last bits
    calls = []
    real = clf.embed
    try:
        clf.embed = lambda *a, **kw: calls.append(1) or real(*a, **kw)
        ep.embeddings(cfg.base, texts, cfg.pooling, cfg.max_length)
    finally:
        clf.embed = real
    assert calls == []


def test_a_call_with_more_texts_than_the_memo_holds_still_answers(monkeypatch, tiny_bert):
    monkeypatch.setattr(ep, "MEMO_ROWS", 2)
    texts = ["one", "two", "three", "four", "five"]
    a = ep.embeddings(str(tiny_bert), texts)
    assert a.shape[0] == 5 and len(ep._memo) == 2
    np.testing.assert_allclose(ep.embeddings(str(tiny_bert), texts[::-1]), a[::-1], atol=1e-6)
