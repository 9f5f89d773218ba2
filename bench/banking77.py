"""BANKING77 quality: the bundled 22M-parameter MiniLM tuned by ftbot, beside the published anchors.

Split: train.csv (4 duplicate texts dropped) → seeded stratified 80 % / 20 % (seed 42). The 20 % is our held-out
TEST part — it is *not* the official BANKING77 test set, so the anchors below (official test set) are context, not
a like-for-like comparison. From the 80 % part: a dev set of --dev-per-intent examples per intent (early stopping /
best checkpoint; never the test part) and the training examples: all the rest ("full") or --per-intent per intent
sampled seeded ("10").

Anchors (Casanueva et al. 2020, accuracy on the official test set): full data 93.66 % BERT-large fine-tuned,
93.36 % USE+ConveRT; 10 per intent 83.42 % and 85.19 %.

    python bench/banking77.py --setting 10 --runs lora:0,lora:0.1,lora:0.3,full:0 --json     # ~3 min per run, 1 core
    python bench/banking77.py --setting full --runs lora:0 --epochs 5 --json                  # ~25 min per epoch... see docs
    python bench/banking77.py --setting 10 --runs lora:0 --options '{"lr": 2e-3}' --json      # one tuning run
    python bench/banking77.py --setting 10 --registered --select --runs lora:0 --json         # as a user's run

--registered: the 10 per intent are split as the product splits a registered dataset (8 train / 2 validation per
intent, no extra dev rows); with --select the run then goes report → refit on all 10 (refit=auto), as a run does.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def splits(setting: str, per_intent: int, dev_per_intent: int, seed: int = 42, registered: bool = False,
           sample_seed: int = 42):
    data = common.banking77(seed)
    pool = list(data.train)
    if registered:
        # what a user who registers `per_intent` rows per intent gets: the product's own split of those rows
        # (engine/data/split.py, 20 % to validation), no extra dev rows
        from engine.data.split import split_indices
        rows = pool if setting == "full" else common.per_class(pool, per_intent, seed=sample_seed)
        tr, va = split_indices([e.text for e in rows], [e.label for e in rows], fraction=0.2, seed=42)
        return data, common.with_split(data, [rows[i] for i in tr], [rows[i] for i in va]), list(data.validation)
    dev = common.per_class(pool, dev_per_intent, seed=seed + 1)
    dev_ids = {id(e) for e in dev}
    rest = [e for e in pool if id(e) not in dev_ids]
    train = rest if setting == "full" else common.per_class(rest, per_intent, seed=seed)
    return data, common.with_split(data, train, dev), list(data.validation)


def score(artifact: Path, test, run_data=None, cfg=None) -> dict:
    """Test figures of what `get_predictor` serves. With `run_data`, `report` runs first (on the dev part, as a real
    run's evaluation does), so the selection of fine-tuned model / TF-IDF partner / blend decides what is served,
    then the refit on train + dev when the config asks for it (refit=auto: datasets up to 2,000 rows), as
    ops/execution.py does; the fine-tuned model alone is scored beside it."""
    from sklearn.metrics import accuracy_score, f1_score
    from engine.inference import get_predictor
    selection, refitted = None, None
    if run_data is not None:
        from engine.evaluation.report import report
        from engine.recipes.refit import refit
        selection = report(artifact, run_data, measure_forgetting=False, plots=False).get("selection")
        if cfg is not None:
            refitted = refit(cfg, run_data, artifact)
    pred = get_predictor(artifact)
    y = [e.label for e in test]
    out = {}
    for which in ([None, "finetuned"] if selection else [None]):
        proba = pred.predict_proba([e.text for e in test], which=which)
        y_pred = [pred.labels[i] for i in proba.argmax(1)]
        figs = {"accuracy": float(accuracy_score(y, y_pred)),
                "macro_f1": float(f1_score(y, y_pred, average="macro", labels=pred.labels, zero_division=0))}
        if which is None:
            out.update(figs)
        else:
            out["finetuned_only"] = figs
    if refitted:
        out["refitted"] = refitted
    if selection:
        out["served"] = selection.get("served")
        out["selection"] = {k: v for k, v in selection.items() if k != "weight_scores"}
    return out


def tfidf(train, test) -> dict:
    from sklearn.metrics import accuracy_score, f1_score
    from engine.partners import tfidf_lr
    m = tfidf_lr().fit([e.text for e in train], [e.label for e in train])
    p = m.predict([e.text for e in test])
    y = [e.label for e in test]
    return {"accuracy": float(accuracy_score(y, p)), "macro_f1": float(f1_score(y, p, average="macro"))}


def main() -> None:
    p = common.parser("BANKING77 accuracy / macro-F1 of ftbot runs on a held-out 20 % of train.csv")
    p.add_argument("--setting", choices=["10", "full"], default="10", help="10 per intent or all training data")
    p.add_argument("--per-intent", type=int, default=10)
    p.add_argument("--dev-per-intent", type=int, default=3, help="dev examples per intent (best checkpoint)")
    p.add_argument("--runs", default="lora:0,lora:0.1,lora:0.3",
                   help="comma-separated method:alpha, e.g. lora:0,full:0.1")
    p.add_argument("--epochs", type=float, default=None, help="override the task default")
    p.add_argument("--options", default="", help="extra engine keys as JSON, applied to every run")
    p.add_argument("--test-limit", type=int, default=0, help="score on a stratified sample of the test part")
    p.add_argument("--baseline", action="store_true", help="also TF-IDF + logistic regression")
    p.add_argument("--quick", action="store_true", help="5 per intent, 2 epochs, 770 test examples")
    p.add_argument("--tag", default="", help="name suffix of bench/out/banking77*.json")
    p.add_argument("--registered", action="store_true", help="the rows are split as the product splits a registered "
                   "dataset (20 %% validation, no extra dev rows): 10 per intent gives 8 to training, 2 to validation")
    p.add_argument("--sample-seed", type=int, default=42, help="--registered: which 10 per intent are drawn")
    p.add_argument("--select", action="store_true", help="run the evaluation report first, so what is scored is "
                   "what the engine serves (fine-tuned, TF-IDF baseline or their blend, chosen on the dev part)")
    args = p.parse_args()
    if args.quick:
        args.per_intent, args.epochs, args.test_limit = 5, args.epochs or 2, args.test_limit or 770
    threads = common.setup_threads(args.threads)
    data, run_data, test = splits(args.setting, args.per_intent, args.dev_per_intent, registered=args.registered,
                                  sample_seed=args.sample_seed)
    if args.test_limit:
        test = common.stratified_sample(test, args.test_limit, seed=42)
    setting = "full" if args.setting == "full" else str(args.per_intent)
    result = {"bench": "banking77", "setting": setting, "registered_split": args.registered, "machine": common.machine(), "threads": threads,
              "train_examples": len(run_data.train), "dev_examples": len(run_data.validation),
              "test_examples": len(test), "test_is": "seeded stratified 20 % of train.csv (seed 42), "
                                                    "NOT the official BANKING77 test set",
              "anchors_official_test": common.ANCHORS.get(setting, {}), "runs": []}
    from engine.config import TrainConfig
    from engine.train import train
    extra = json.loads(args.options) if args.options else {}
    for spec in args.runs.split(","):
        method, alpha = spec.split(":") if ":" in spec else (spec, "0")
        opts = {"method": method, "alpha": float(alpha), "threads": args.threads, **extra}
        if args.epochs:
            opts["epochs"] = args.epochs
        cfg = TrainConfig.from_options(opts, task_kind="text")
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            res = train(cfg, run_data, Path(d) / "run")
            wall = time.perf_counter() - t
            if res.status != "succeeded":
                result["runs"].append({"method": method, "alpha": float(alpha), "error": res.error})
                common.log(f"{spec}: FAILED {res.error}")
                continue
            sc = score(Path(res.artifact_dir), test, run_data if args.select else None, cfg if args.select else None)
        row = {"method": method, "alpha": float(alpha), "options": {**extra, **({"epochs": args.epochs} if args.epochs
                                                                                  else {})},
               "accuracy_pct": round(100 * sc["accuracy"], 2), "macro_f1_pct": round(100 * sc["macro_f1"], 2),
               "dev_accuracy_pct": round(100 * res.metrics["accuracy"], 2), "best_step": res.best_step,
               "steps": res.steps, "train_examples_per_s": round(res.train_examples_per_s, 1),
               "wall_s": round(wall, 1),
               **{k: sc[k] for k in ("served", "finetuned_only", "selection", "refitted") if k in sc},
               "config": {k: v for k, v in cfg.to_dict().items() if k in
                          ("lr", "head_lr", "epochs", "batch_size", "r", "lora_alpha", "target_modules", "pooling",
                           "label_smoothing", "freeze", "warmup_ratio", "pre_loss")}}
        result["runs"].append(row)
        common.log(f"{spec} {extra}: test acc {row['accuracy_pct']} macro-F1 {row['macro_f1_pct']} "
                   f"(dev {row['dev_accuracy_pct']}, {row['wall_s']} s)"
                   + (f"; served {row['served']}, fine-tuned alone {100 * row['finetuned_only']['accuracy']:.2f}"
                      if "served" in row else ""))
    if args.baseline:
        result["tfidf_lr"] = {k: round(100 * v, 2) for k, v in tfidf(run_data.train, test).items()}
    ok = [r for r in result["runs"] if "accuracy_pct" in r]
    if ok:
        best = max(ok, key=lambda r: r["accuracy_pct"])
        # issue 14: full data ≥ 93.0 % (an earlier issue asked 93.7), 10 per intent ≥ 86 %
        target = {"full": 93.0, "10": 86.0}.get(setting)
        result["best"] = {"accuracy_pct": best["accuracy_pct"], "method": best["method"], "alpha": best["alpha"],
                          "target_pct": target,
                          "target_met": None if target is None else best["accuracy_pct"] >= target}
        a0 = [r["accuracy_pct"] for r in ok if r["alpha"] == 0]
        ap = [r["accuracy_pct"] for r in ok if r["alpha"] > 0]
        if a0 and ap:
            result["alpha_gt_0_ahead"] = max(ap) > max(a0)
    common.save("banking77_" + setting + (("_" + args.tag) if args.tag else ""), result)
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
