"""German Credit: the fine-tuned serialized-text model against scikit-learn on the raw columns.

Split: german_credit.csv (700 rows, target `risk`, positive = 'bad') → seeded stratified 70 % train / 30 % TEST
(seed 42). Inside the 70 %: a seeded stratified validation part (--val-fraction of it) for early stopping and for
choosing the cost threshold; the test part is only scored. Baselines (logistic regression on one-hot + scaled
columns, histogram gradient boosting) are fitted on the same inner training part and thresholded on the same
validation part.

Figures on the test part: ROC AUC, KS, accuracy (argmax / 0.5 decision), and expected cost per applicant under the
5:1 matrix (bad predicted good costs 5, good predicted bad costs 1) at the threshold chosen on validation.

    python bench/credit.py --runs lora:0,full:0 --json
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def inner_split(data, val_fraction: float, seed: int = 42):
    from sklearn.model_selection import train_test_split
    idx = list(range(len(data.train)))
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=seed,
                              stratify=[e.label for e in data.train])
    tr, va = sorted(tr), sorted(va)
    d = common.with_split(data, [data.train[i] for i in tr], [data.train[i] for i in va])
    d.raw_train = [data.raw_train[i] for i in tr]
    d.raw_validation = [data.raw_train[i] for i in va]
    return d


def figures(is_pos_val, score_val, is_pos_test, score_test, pred_test_argmax=None) -> dict:
    import numpy as np
    from engine.evaluation.costs import GERMAN_CREDIT, best_threshold, expected_cost
    from engine.evaluation.metrics import binary_scores
    t, val_cost = best_threshold(is_pos_val, score_val, GERMAN_CREDIT)
    is_pos_test, score_test = np.asarray(is_pos_test), np.asarray(score_test)
    pred = score_test >= t
    plain = score_test >= 0.5 if pred_test_argmax is None else np.asarray(pred_test_argmax)
    bs = binary_scores(is_pos_test, score_test)
    return {"roc_auc": bs["roc_auc"], "ks": bs["ks"], "accuracy": float(np.mean(plain == is_pos_test)),
            "threshold": t, "validation_cost": val_cost,
            "expected_cost": expected_cost(is_pos_test, pred, GERMAN_CREDIT),
            "accuracy_at_threshold": float(np.mean(pred == is_pos_test)),
            "expected_cost_at_0.5": expected_cost(is_pos_test, score_test >= 0.5, GERMAN_CREDIT),
            # the threshold a calibrated P(bad) would use (1/6 under 5:1), needing no validation data to choose it
            "expected_cost_at_bayes": expected_cost(is_pos_test, score_test >= GERMAN_CREDIT.bayes_threshold(),
                                                    GERMAN_CREDIT)}


def baselines(d, test_rows, test_y, positive: str) -> dict:
    import numpy as np
    from engine.evaluation.baseline import _frame, numeric_columns, tabular_gb, tabular_lr
    cols = list(d.feature_columns)
    numeric = set(numeric_columns(list(d.raw_train) + list(d.raw_validation), cols))
    X_tr, X_va, X_te = (_frame(r, cols, numeric) for r in (d.raw_train, d.raw_validation, test_rows))
    y_tr = [e.label for e in d.train]
    out = {}
    for name, make in (("logistic_regression", lambda: tabular_lr(cols, numeric)),
                       ("gradient_boosting", lambda: tabular_gb(cols, numeric))):
        m = make().fit(X_tr, y_tr)
        k = list(m.classes_).index(positive)
        sv, st = m.predict_proba(X_va)[:, k], m.predict_proba(X_te)[:, k]
        out[name] = figures(np.array([e.label == positive for e in d.validation]), sv,
                            np.array([y == positive for y in test_y]), st, m.predict(X_te) == positive)
    return out


def main() -> None:
    p = common.parser("German Credit: ftbot vs sklearn (AUC, KS, accuracy, 5:1 expected cost)")
    p.add_argument("--runs", default="lora:0,full:0", help="comma-separated method:alpha")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--options", default="", help="extra engine keys as JSON")
    p.add_argument("--val-fraction", type=float, default=0.25, help="share of the training part for validation")
    p.add_argument("--quick", action="store_true", help="1 epoch, LoRA only (~3 min)")
    p.add_argument("--tag", default="")
    args = p.parse_args()
    if args.quick:
        args.epochs, args.runs = args.epochs or 1, "lora:0"
    threads = common.setup_threads(args.threads)
    import numpy as np
    data = common.german_credit(seed=42, test_fraction=0.3)
    positive = "bad"
    d = inner_split(data, args.val_fraction)
    test = list(data.validation)
    test_rows, test_y = data.raw_validation, [e.label for e in test]
    is_pos_val = np.array([e.label == positive for e in d.validation])
    is_pos_test = np.array([y == positive for y in test_y])
    result = {"bench": "credit", "machine": common.machine(), "threads": threads,
              "split": {"train": len(d.train), "validation": len(d.validation), "test": len(test), "seed": 42},
              "positive": positive, "cost_matrix": {"bad_predicted_good": 5, "good_predicted_bad": 1},
              "trivial_costs_test": {"accept_all": float(5 * is_pos_test.mean()),
                                     "reject_all": float(1 - is_pos_test.mean())}}
    result["baselines"] = baselines(d, test_rows, test_y, positive)
    for k, v in result["baselines"].items():
        common.log(f"{k}: AUC {v['roc_auc']:.3f} cost {v['expected_cost']:.3f}")
    from engine.config import TrainConfig
    from engine.inference import get_predictor
    from engine.train import train
    extra = json.loads(args.options) if args.options else {}
    result["ours"] = []
    for spec in args.runs.split(","):
        method, alpha = spec.split(":") if ":" in spec else (spec, "0")
        opts = {"method": method, "alpha": float(alpha), "threads": args.threads, "metric": "roc_auc", **extra}
        if args.epochs:
            opts["epochs"] = args.epochs
        cfg = TrainConfig.from_options(opts, task_kind="tabular")
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            res = train(cfg, d, Path(tmp) / "run")
            wall = time.perf_counter() - t
            if res.status != "succeeded":
                result["ours"].append({"method": method, "alpha": float(alpha), "error": res.error})
                continue
            pred = get_predictor(res.artifact_dir)
            k = pred.labels.index(positive)
            pv = pred.predict_proba([e.text for e in d.validation])
            pt = pred.predict_proba([e.text for e in test])
        row = {"method": method, "alpha": float(alpha), "options": extra, "wall_s": round(wall, 1),
               "scores_test": [round(float(v), 5) for v in pt[:, k]],   # for re-analysis without re-training
               "scores_validation": [round(float(v), 5) for v in pv[:, k]],
               "best_step": res.best_step, "steps": res.steps,
               "config": {k2: v for k2, v in cfg.to_dict().items() if k2 in ("lr", "epochs", "r", "batch_size",
                                                                            "max_length", "metric")},
               **figures(is_pos_val, pv[:, k], is_pos_test, pt[:, k], pt.argmax(1) == k)}
        result["ours"].append(row)
        common.log(f"ours {spec}: AUC {row['roc_auc']:.3f} KS {row['ks']:.3f} acc {row['accuracy']:.3f} "
                   f"cost {row['expected_cost']:.3f} (at 1/6: {row['expected_cost_at_bayes']:.3f}) ({row['wall_s']} s)")
    ok = [r for r in result["ours"] if "roc_auc" in r]
    if ok:
        best_auc = max(r["roc_auc"] for r in ok)
        best_cost = min(r["expected_cost"] for r in ok)
        result["targets"] = {"auc_ge_0.80": best_auc >= 0.80, "cost_le_0.50": best_cost <= 0.50,
                             "best_auc": best_auc, "best_cost": best_cost}
    common.save("credit" + (("_" + args.tag) if args.tag else ""), result)
    common.emit(result, args.json)


if __name__ == "__main__":
    main()
