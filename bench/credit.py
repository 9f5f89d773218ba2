"""German Credit: the fine-tuned serialized-text model against scikit-learn on the raw columns.

Split: german_credit.csv (700 rows, target `risk`, positive = 'bad') → seeded stratified 70 % train / 30 % TEST
(seed 42; with --vary-split each seed draws its own). Inside the 70 %: a seeded stratified validation part
(--val-fraction of it, 20 % as the product splits a registered dataset) for early stopping, model selection and the
cost threshold; the test part is only scored. ftbot runs as a user's run does: train, report (selection), refit on
train + validation (refit=auto: ≤ 2,000 rows). Baselines (logistic regression, histogram gradient boosting, random
forest, sklearn's depth-3 gradient boosting) are fitted on the same inner training part, thresholded on the same
validation part, then refitted on training + validation like ftbot's served models.

Figures on the test part: ROC AUC, KS, accuracy (argmax / 0.5 decision), and expected cost per applicant under the
5:1 matrix (bad predicted good costs 5, good predicted bad costs 1) at the threshold chosen on validation.

    python bench/credit.py --data german --runs lora:0 --seeds 42,1,2 --vary-split --threads 1 --json
    python bench/credit.py --scale --threads 1 --json              # Taiwan: 2k, 5k, 10k, 21k rows
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


def figures(is_pos_val, score_val, is_pos_test, score_test, pred_test_argmax=None, threshold=None) -> dict:
    """Test figures at the cost threshold `threshold` (the product's, or the baselines' chosen on validation +
    out-of-fold training rows as the product does), else the one chosen on the validation scores alone."""
    import numpy as np
    from engine.evaluation.costs import GERMAN_CREDIT, best_threshold, expected_cost
    from engine.metrics import binary_scores
    t, val_cost = best_threshold(is_pos_val, score_val, GERMAN_CREDIT)
    if threshold is not None:
        t, val_cost = threshold, expected_cost(is_pos_val, np.asarray(score_val) >= threshold, GERMAN_CREDIT)
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


def baselines(d, test_rows, test_y, positive: str, refit: bool = True) -> dict:
    """The simple baselines on the raw columns, fitted on the same training rows, thresholded on the same validation
    rows: the engine's logistic regression, histogram gradient boosting and random forest, and sklearn's classic
    gradient boosting (depth 3, lr 0.05, 200 trees: the issue's "strongest simple baseline"). With `refit` (as
    ftbot refits small datasets) each is fitted again on training + validation rows before scoring the test part,
    keeping the threshold chosen before — so both sides learn from the same rows. The cost threshold is chosen as
    ftbot chooses its own: on the validation rows plus the training rows scored out of fold (5-fold CV)."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from engine.evaluation.costs import best_threshold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from engine.data.values import numeric_columns
    from engine.partners import frame as _frame, tabular_gb, tabular_lr
    from engine.partners import random_forest
    cols = list(d.feature_columns)
    numeric = set(numeric_columns(list(d.raw_train) + list(d.raw_validation), cols))
    X_tr, X_va, X_te = (_frame(r, cols, numeric) for r in (d.raw_train, d.raw_validation, test_rows))
    y_tr = [e.label for e in d.train]
    num = [j for j, c in enumerate(cols) if c in numeric]
    cat = [j for j, c in enumerate(cols) if c not in numeric]

    def gb3():
        pre = ColumnTransformer([("num", SimpleImputer(strategy="median"), num),
                                 ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)])
        return make_pipeline(pre, GradientBoostingClassifier(max_depth=3, learning_rate=0.05, n_estimators=200,
                                                             random_state=0))
    out = {}
    for name, make in (("logistic_regression", lambda: tabular_lr(cols, numeric)),
                       ("gradient_boosting", lambda: tabular_gb(cols, numeric)),
                       ("random_forest", lambda: random_forest(cols, numeric)),
                       ("sklearn_gb_depth3", gb3)):
        t = time.perf_counter()
        m = make().fit(X_tr, y_tr)
        k = list(m.classes_).index(positive)
        sv = m.predict_proba(X_va)[:, k]
        oof = cross_val_predict(make(), X_tr, y_tr, method="predict_proba",
                                cv=StratifiedKFold(5, shuffle=True, random_state=0))[:, sorted(set(y_tr)).index(positive)]
        is_pos_va = np.array([e.label == positive for e in d.validation])
        t_cost, _ = best_threshold(np.concatenate([is_pos_va, np.asarray(y_tr) == positive]), np.concatenate([sv, oof]))
        if refit:   # as ftbot's served models (engine/refit.py): threshold from the first fit, then all rows
            m = make().fit(np.vstack([X_tr, X_va]), y_tr + [e.label for e in d.validation])
            k = list(m.classes_).index(positive)
        st = m.predict_proba(X_te)[:, k]
        out[name] = figures(is_pos_va, sv, np.array([y == positive for y in test_y]), st, m.predict(X_te) == positive,
                            threshold=t_cost)
        out[name]["fit_rows"] = len(y_tr) + (len(d.validation) if refit else 0)
        out[name]["fit_s"] = round(time.perf_counter() - t, 2)
    return out


def load(name: str, seed: int = 42, test_fraction: float = 0.3, rows: int | None = None):
    """german: german_credit.csv; taiwan: taiwan_credit/train.csv as it is (its identical rows are kept and each
    group stays on one side of the split: engine/data), optionally a stratified `rows`-row sample; written to a temp
    CSV outside the repo, then prepared as `ftbot dataset add` prepares it."""
    from engine.data import prepare_dataset
    if name == "german":
        return common.german_credit(seed=seed, test_fraction=test_fraction)
    path = taiwan_csv(rows, seed)
    return prepare_dataset(path, label_column="default_next_month", val_fraction=test_fraction, seed=seed)


def taiwan_csv(rows: int | None, seed: int = 42) -> Path:
    """The Taiwan table, or a stratified sample of `rows` of its rows, as a CSV in a temp folder."""
    import csv
    import tempfile
    src = common.DATA / "taiwan_credit" / "train.csv"
    with open(src, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        body = list(reader)
    if rows and rows < len(body):
        from sklearn.model_selection import train_test_split
        y = [r[-1] for r in body]
        keep, _ = train_test_split(list(range(len(body))), train_size=rows, random_state=seed, stratify=y)
        body = [body[i] for i in sorted(keep)]
    out = Path(tempfile.mkdtemp(prefix="ftbot-bench-")) / f"taiwan_{len(body)}.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(body)
    return out


def run_ours(cfg, d, test, positive, is_pos_val, is_pos_test) -> dict:
    """train → report (selection of finetuned / baseline / blend on validation) → test figures of each candidate."""
    import numpy as np
    from engine.evaluation.report import report
    from engine.inference import get_predictor
    from engine.recipes.refit import refit
    from engine.train import train
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        res = train(cfg, d, Path(tmp) / "run")
        train_s = time.perf_counter() - t
        if res.status != "succeeded":
            return {"error": res.error}
        t = time.perf_counter()
        rep = report(res.artifact_dir, d, measure_forgetting=False, plots=False)
        eval_s = time.perf_counter() - t
        pred = get_predictor(res.artifact_dir)
        k = pred.labels.index(positive)
        val_t, test_t = [e.text for e in d.validation], [e.text for e in test]
        whiches = ("finetuned", "baseline", "blend")
        # thresholds are chosen on validation predictions of the first fit, as the report does (qa.json), before
        # any refit: after it the validation rows are training rows
        val_p = {w: pred.predict_proba(val_t, which=w)[:, k] for w in whiches}
        t = time.perf_counter()
        refitted = refit(cfg, d, res.artifact_dir)
        refit_s = time.perf_counter() - t
        pred = get_predictor(res.artifact_dir)
        cands = {}
        for which in whiches:
            pt = pred.predict_proba(test_t, which=which)
            # the served candidate at the product's own threshold (qa.json: validation + honest training rows)
            cands[which] = figures(is_pos_val, val_p[which], is_pos_test, pt[:, k], pt.argmax(1) == k,
                                   threshold=rep["threshold"] if which == rep.get("served") else None)
        served = pred.served
    row = {"wall_s": round(train_s + eval_s + refit_s, 1), "train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
           "refit_s": round(refit_s, 1), "refitted": refitted,
           "best_step": res.best_step, "steps": res.steps, "served": served,
           "selection": {k2: v for k2, v in rep.get("selection", {}).items() if k2 != "weight_scores"},
           "candidates_test": cands, **cands[served]}
    return row


def main() -> None:
    p = common.parser("Credit data: ftbot (fine-tuned / baseline / blend, as served) vs sklearn on the raw columns")
    p.add_argument("--data", default="german", choices=("german", "taiwan"))
    p.add_argument("--rows", type=int, default=None, help="taiwan: a stratified sample of this many rows")
    p.add_argument("--runs", default="lora:0", help="comma-separated method:alpha")
    p.add_argument("--seeds", default="42", help="comma-separated training seeds (split fixed: seed 42, unless "
                   "--vary-split)")
    p.add_argument("--vary-split", action="store_true", help="each seed also draws its own 70/30 test split and "
                   "inner validation part (baselines per split)")
    p.add_argument("--epochs", type=float, default=None)
    p.add_argument("--options", default="", help="extra engine keys as JSON")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of the training part for validation (the "
                   "product's default split of a registered dataset)")
    p.add_argument("--scale", action="store_true", help="Taiwan credit at 2k, 5k, 10k, 21k rows: time and peak "
                   "RSS per phase (register, train, evaluate, baselines), each size in its own process")
    p.add_argument("--sizes", default=",".join(str(n) for n in SCALE_ROWS), help="--scale: the row counts")
    p.add_argument("--scale-one", type=int, default=None, help=argparse_hidden())
    p.add_argument("--tag", default="")
    args = p.parse_args()
    if args.scale:
        return scale(args)
    if args.scale_one:
        return scale_one(args)
    threads = common.setup_threads(args.threads)
    import numpy as np
    from engine.config import TrainConfig
    positive = "bad" if args.data == "german" else "yes"
    extra = json.loads(args.options) if args.options else {}
    seeds = [int(x) for x in args.seeds.split(",")]
    result = {"bench": "credit", "data": args.data, "machine": common.machine(), "threads": threads,
              "vary_split": args.vary_split, "positive": positive,
              "cost_matrix": {"bad_predicted_good": 5, "good_predicted_bad": 1}, "splits": {}, "ours": []}
    # one split (seed 42) for every run, or with --vary-split each seed its own test part, validation part and
    # baselines: the mean over seeds then also averages over which 30 % is held out
    split_seeds = seeds if args.vary_split else [42]
    for split_seed in split_seeds:
        data = load(args.data, seed=split_seed, rows=args.rows)
        d = inner_split(data, args.val_fraction, seed=split_seed)
        test = list(data.validation)
        test_rows, test_y = data.raw_validation, [e.label for e in test]
        is_pos_val = np.array([e.label == positive for e in d.validation])
        is_pos_test = np.array([y == positive for y in test_y])
        base = baselines(d, test_rows, test_y, positive)
        result["splits"][str(split_seed)] = {
            "train": len(d.train), "validation": len(d.validation), "test": len(test), "seed": split_seed,
            "trivial_costs_test": {"accept_all": float(5 * is_pos_test.mean()),
                                   "reject_all": float(1 - is_pos_test.mean())},
            "baselines": base}
        for k, v in base.items():
            common.log(f"split {split_seed} {k}: AUC {v['roc_auc']:.3f} cost {v['expected_cost']:.3f} ({v['fit_s']} s)")
        for spec in args.runs.split(","):
            method, alpha = spec.split(":") if ":" in spec else (spec, "0")
            for seed in ([split_seed] if args.vary_split else seeds):
                opts = {"method": method, "alpha": float(alpha), "threads": args.threads, "seed": seed, **extra}
                if args.epochs:
                    opts["epochs"] = args.epochs
                cfg = TrainConfig.from_options(opts, task_kind="tabular")
                row = {"method": method, "alpha": float(alpha), "seed": seed, "split_seed": split_seed,
                       "options": extra, **run_ours(cfg, d, test, positive, is_pos_val, is_pos_test)}
                result["ours"].append(row)
                if "error" in row:
                    common.log(f"ours {spec} seed {seed}: {row['error']}")
                    continue
                c = row["candidates_test"]
                common.log(f"ours {spec} seed {seed}: served {row['served']} AUC {row['roc_auc']:.3f} cost "
                           f"{row['expected_cost']:.3f} | finetuned {c['finetuned']['roc_auc']:.3f}/"
                           f"{c['finetuned']['expected_cost']:.3f} baseline({row['selection'].get('partner')}) "
                           f"{c['baseline']['roc_auc']:.3f}/{c['baseline']['expected_cost']:.3f} blend(w="
                           f"{row['selection'].get('weight')}) {c['blend']['roc_auc']:.3f}/"
                           f"{c['blend']['expected_cost']:.3f} ({row['train_s']} s train, {row['eval_s']} s eval, "
                           f"{row['refit_s']} s refit)")
    if not args.vary_split:   # the one split's figures at the top level, as before
        result.update({k: v for k, v in result["splits"]["42"].items() if k != "seed"})
    ok = [r for r in result["ours"] if "roc_auc" in r]
    if ok:
        mean = lambda key: float(np.mean([r[key] for r in ok]))
        # the best baseline of each run's own split, averaged over the runs
        names = list(next(iter(result["splits"].values()))["baselines"])
        base_mean = {n: {m: float(np.mean([result["splits"][str(r["split_seed"])]["baselines"][n][m] for r in ok]))
                         for m in ("roc_auc", "expected_cost")} for n in names}
        best_auc_name = max(base_mean, key=lambda n: base_mean[n]["roc_auc"])
        best_cost_name = min(base_mean, key=lambda n: base_mean[n]["expected_cost"])
        best_base_auc, best_base_cost = base_mean[best_auc_name]["roc_auc"], base_mean[best_cost_name]["expected_cost"]
        result["summary"] = {"served_mean_auc": mean("roc_auc"), "served_mean_cost": mean("expected_cost"),
                             "baselines_mean": base_mean, "best_baseline_auc": best_base_auc,
                             "best_baseline_auc_is": best_auc_name, "best_baseline_cost": best_base_cost,
                             "best_baseline_cost_is": best_cost_name, "runs": len(ok)}
        if args.data == "german":
            result["targets"] = {
                "auc_ge_0.82": {"measured": mean("roc_auc"), "met": mean("roc_auc") >= 0.82},
                "cost_le_0.47": {"measured": mean("expected_cost"), "met": mean("expected_cost") <= 0.47},
                "ahead_of_best_baseline_auc": {"measured": mean("roc_auc"), "baseline": best_base_auc,
                                               "met": mean("roc_auc") > best_base_auc},
                "ahead_of_best_baseline_cost": {"measured": mean("expected_cost"), "baseline": best_base_cost,
                                                "met": mean("expected_cost") < best_base_cost}}
        common.log("summary: " + json.dumps({k: v for k, v in result["summary"].items() if k != "baselines_mean"}))
    common.save("credit_" + args.data + (("_" + args.tag) if args.tag else ""), result)
    common.emit(result, args.json)


SCALE_ROWS = (2000, 5000, 10000, 21001)


def argparse_hidden():
    import argparse
    return argparse.SUPPRESS


def scale(args) -> None:
    out = {"bench": "credit_scale", "machine": common.machine(), "threads": args.threads, "sizes": []}
    for n in [int(x) for x in args.sizes.split(",")]:
        cmd = [str(Path(__file__).resolve()), "--scale-one", str(n), "--threads", str(args.threads), "--json"]
        if args.options:
            cmd += ["--options", args.options]
        row = common.run_child(cmd)
        out["sizes"].append(row)
        common.log(json.dumps({k: row[k] for k in ("rows", "phases_s", "cpu_s", "peak_rss_mib", "total_s", "auc")}))
    common.save("credit_scale" + (("_" + args.tag) if args.tag else ""), out)
    common.emit(out, args.json)


def scale_one(args) -> None:
    """One size, end to end as `ftbot dataset add` + `ftbot train` do it in the engine: prepare + save the dataset,
    train with the tabular defaults, report (which fits the baselines and chooses what is served)."""
    threads = common.setup_threads(args.threads)
    from engine.config import TrainConfig
    from engine.data import prepare_dataset, save_dataset
    from engine.evaluation.report import report
    from engine.train import train
    phases, rss, cpu = {}, {}, {}
    t_all = time.perf_counter()
    c = time.process_time()
    path = taiwan_csv(args.scale_one)
    with tempfile.TemporaryDirectory() as home:
        t = time.perf_counter()
        data = prepare_dataset(path, label_column="default_next_month")
        save_dataset(data, path, Path(home) / "datasets" / "taiwan")
        phases["register"], rss["register"] = time.perf_counter() - t, common.vm_kb("VmHWM") / 1024
        cpu["register"], c = time.process_time() - c, time.process_time()
        extra = json.loads(args.options) if args.options else {}
        cfg = TrainConfig.from_options({"threads": args.threads, **extra}, task_kind="tabular")
        t = time.perf_counter()
        def progress(pr):
            if pr.kind != "step":
                common.log(f"[{args.scale_one} rows, {time.perf_counter() - t:.0f} s] {pr.kind} step {pr.step}/"
                           f"{pr.total_steps}: {pr.message or ''}")
        res = train(cfg, data, Path(home) / "runs" / ".1.tmp", on_progress=progress)
        phases["train"], rss["train"] = time.perf_counter() - t, common.vm_kb("VmHWM") / 1024
        cpu["train"], c = time.process_time() - c, time.process_time()
        if res.status != "succeeded":
            raise SystemExit(f"training failed: {res.error}")
        t = time.perf_counter()
        rep = report(res.artifact_dir, data)
        phases["evaluate"], rss["evaluate"] = time.perf_counter() - t, common.vm_kb("VmHWM") / 1024
        cpu["evaluate"] = time.process_time() - c
    tm = rep.get("timings", {})
    phases["baselines"] = tm.get("baselines_s", 0.0) + tm.get("selection_s", 0.0)   # inside "evaluate"
    gb = rep["baseline"].get("gradient_boosting", {})
    row = {"rows": data.rows, "train_rows": len(data.train), "validation_rows": len(data.validation),
           "phases_s": {k: round(v, 1) for k, v in phases.items()}, "report_timings": tm,
           # CPU seconds of this process per phase: on a shared machine the wall time is inflated by other jobs,
           # while at 1 torch thread the CPU time is about the wall time the phase would take on a free core
           "cpu_s": {k: round(v, 1) for k, v in cpu.items()}, "cpu_total_s": round(sum(cpu.values()), 1),
           "peak_rss_mib": {k: round(v) for k, v in rss.items()},
           "total_s": round(time.perf_counter() - t_all, 1), "steps": res.steps,
           "train_examples_per_s": round(res.train_examples_per_s, 1),
           "auc": {"served": rep.get("roc_auc"), "served_is": rep.get("served"),
                   "finetuned": rep.get("finetuned", {}).get("roc_auc"), "gradient_boosting": gb.get("roc_auc"),
                   "tabular_lr": rep["baseline"].get("tabular_lr", {}).get("roc_auc")},
           "selection": {k: v for k, v in rep.get("selection", {}).items() if k != "weight_scores"},
           "load_avg_1m": round(__import__("os").getloadavg()[0], 2)}
    print(json.dumps(row, default=common._jsonable))


if __name__ == "__main__":
    main()
