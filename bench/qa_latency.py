"""Q&A latency: one question at a time through ftbot's path (engine.inference.get_predictor(...).answer) against a
transformers `pipeline("text-classification")` of the same size, in the same run.

Artifact: --artifact DIR, else a quick LoRA run trained on the shipped sample (engine.data.sample_path("banking")),
kept in bench/out/qa_artifact. The reference pipeline wraps an AutoModelForSequenceClassification built from the
same (merged) fine-tuned encoder weights with a classifier of the same shape: same encoder, same tokenizer, same
questions — it measures the plain transformers serving path, its predictions are not ours.

Variants (--variants): torch threads 1 vs all, and dynamic int8 quantisation of the Linear layers
(torch.ao.quantization.quantize_dynamic), the latter with its prediction agreement against fp32.

    python bench/qa_latency.py --questions 300 --variants --json
    python bench/qa_latency.py --artifact RUN_DIR --json   # an evaluated run: also the fine-tuned model alone, to
                                                       # show what serving its blend costs
    python bench/qa_latency.py --challenger --json     # with a challenger attached, and beside a training
                                                       # (bench/qa_challenger.py)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def make_artifact(path: Path) -> Path:
    if (path / "config.json").exists():
        return path
    from engine.config import TrainConfig
    from engine.data import prepare_dataset, sample_path
    from engine.train import train
    data = prepare_dataset(sample_path("banking"), dedupe=True)
    res = train(TrainConfig.from_options({"epochs": 3}), data, path)
    if res.status != "succeeded":
        raise RuntimeError(res.error)
    return path


def questions(n: int) -> list[str]:
    from engine.data import prepare_dataset
    data = prepare_dataset(common.BANKING77, dedupe=True, val_fraction=0.2, seed=42)
    qs = [e.text for e in common.stratified_sample(data.validation, n, seed=7)]
    return qs[:n]


def interleaved(fns: dict, qs, warmup: int = 10) -> dict:
    """Time several answer paths on the same questions, round-robin per question (rotating who goes first), so
    load from other processes on a shared machine hits all of them alike."""
    names = list(fns)
    for q in qs[:warmup]:
        for n in names:
            fns[n](q)
    ts = {n: [] for n in names}
    for i, q in enumerate(qs):
        for k in range(len(names)):
            n = names[(i + k) % len(names)]
            t = time.perf_counter()
            fns[n](q)
            ts[n].append(1000 * (time.perf_counter() - t))
    return {n: {"p50_ms": common.percentile(v, 50), "p90_ms": common.percentile(v, 90),
                "p99_ms": common.percentile(v, 99), "mean_ms": sum(v) / len(v), "n": len(v)} for n, v in ts.items()}


def accuracy(pred, examples) -> float:
    import numpy as np
    proba = pred.predict_proba([e.text for e in examples])
    return float(np.mean([pred.labels[i] == e.label for i, e in zip(proba.argmax(1), examples)]))


def reference_pipeline(pred):
    """pipeline('text-classification') on a BertForSequenceClassification holding the same encoder weights."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, pipeline
    from engine.base_models import resolve_base
    base = resolve_base(pred.trained.config.get("base", "minilm"))
    cfg = AutoConfig.from_pretrained(base, num_labels=len(pred.labels))
    model = AutoModelForSequenceClassification.from_config(cfg)
    enc_state = pred.model.encoder.state_dict()
    missing = model.base_model.load_state_dict(enc_state, strict=False)
    model.eval()
    return pipeline("text-classification", model=model, tokenizer=pred.tokenizer, device=-1), missing


def main() -> None:
    if "--challenger" in sys.argv:   # champion latency with a challenger attached and beside a training
        import qa_challenger
        return qa_challenger.main([a for a in sys.argv[1:] if a != "--challenger"])
    p = common.parser("p50/p99 latency of one question: ftbot vs transformers pipeline")
    p.add_argument("--artifact", default="", help="a run's artifact folder (default: train a quick one)")
    p.add_argument("--questions", type=int, default=300)
    p.add_argument("--variants", action="store_true", help="also threads=1/all and dynamic int8")
    p.add_argument("--quick", action="store_true", help="100 questions")
    args = p.parse_args()
    if args.quick:
        args.questions = 100
    threads = common.setup_threads(args.threads)
    import numpy as np
    import torch
    from engine.inference import get_predictor
    art = Path(args.artifact) if args.artifact else make_artifact(common.OUT / "qa_artifact")
    qs = questions(args.questions)
    t = time.perf_counter()
    pred = get_predictor(art)
    load_s = time.perf_counter() - t
    result = {"bench": "qa_latency", "machine": common.machine(), "threads": threads, "artifact": str(art),
              "questions": len(qs), "load_s": load_s}
    pipe, _ = reference_pipeline(pred)
    fns = {"ours": pred.answer, "reference_pipeline": lambda q: pipe(q)}
    result["served"] = pred.served
    if pred.served != "finetuned":   # what serving the blend or baseline costs over the fine-tuned model alone
        fns["ours_finetuned_only"] = lambda q: pred.predict_proba([q], which="finetuned")
        result["partner"] = pred.selection.record.get("partner")
    q_pred = None
    if args.variants:   # dynamic int8 Linear layers on a second Predictor sharing tokenizer and settings
        import copy
        q_pred = copy.copy(pred)
        q_pred.model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(pred.model), {torch.nn.Linear},
                                                              dtype=torch.qint8)
        fns["ours_int8_dynamic"] = q_pred.answer
    result.update(interleaved(fns, qs))
    for n in fns:
        common.log(f"{n}: {result[n]}")
    result["ratio_p50_reference_over_ours"] = result["reference_pipeline"]["p50_ms"] / result["ours"]["p50_ms"]
    result["ratio_p99_reference_over_ours"] = result["reference_pipeline"]["p99_ms"] / result["ours"]["p99_ms"]
    result["targets"] = {"p50_le_15ms": result["ours"]["p50_ms"] <= 15, "p99_le_50ms": result["ours"]["p99_ms"] <= 50}
    if args.variants:
        from engine.data import prepare_dataset, sample_path
        val = prepare_dataset(sample_path("banking"), dedupe=True).validation
        base_p, q_p = pred.predict_proba(qs), q_pred.predict_proba(qs)
        result["int8_dynamic"] = {"agreement_on_questions": float(np.mean(base_p.argmax(1) == q_p.argmax(1))),
                                  "sample_validation_examples": len(val),
                                  "accuracy_fp32": accuracy(pred, val), "accuracy_int8": accuracy(q_pred, val)}
        common.log(f"int8: {result['int8_dynamic']}")
        before = torch.get_num_threads()
        v = {}
        for n in sorted({1, common.os.cpu_count() or 1}):
            torch.set_num_threads(n)
            v[f"threads_{n}"] = interleaved({"ours": pred.answer}, qs[:150])["ours"]
            common.log(f"threads {n}: {v[f'threads_{n}']}")
        torch.set_num_threads(before)
        result["threads_variants"] = v
    common.save("qa_latency", result)
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
