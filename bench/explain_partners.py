"""Reasons for the sklearn partners on Taiwan credit: cost, faithfulness, stability, and how far the fast paths are
from exact tree SHAP (engine/explain).

Split: taiwan_credit/train.csv (21,001 rows, target `default_next_month`, adverse = 'yes') → seeded stratified
80 % training (16,800 rows) / 20 % held out. The three table partners and their soft vote are fitted on the
training rows as the product builds them; the reference (engine/explain/reference.py) is fitted on the same rows.

Figures:
- seconds to explain n rows (3,000 / 10,000: the held-out rows, then training rows to make up the number), per
  member and for the vote, with the defaults the product uses (logistic regression exact on all reference rows,
  gradient boosting interventional tree SHAP on the first 20 reference rows, random forest path contributions
  centred on all reference rows), plus turning the declined rows' attributions into words; and what scoring
  needs, reasons for the declined rows only (declined at 0.5 and at the rate-matched threshold);
- faithfulness on the held-out rows declined at 0.5 and at the rate-matched threshold (the share of the training
  rows labelled 'yes'): setting the top reason to its typical value among repaid training rows lowers P(yes) more
  than setting a non-reason column (drawn with a seed), than their mean, than every one;
- stability: the same rows explained twice give identical attributions and reasons;
- on a sample of declined held-out rows: agreement of the fast paths with exact interventional tree SHAP against all
  reference rows (top reason equal, top reason among the exact top four, Jaccard of the four), and the same figures
  for exact SHAP against two halves of the reference (how much the reference itself moves the answer);
- the counterfactual search, seconds per applicant.

    python bench/explain_partners.py --json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TAIWAN = common.DATA / "taiwan_credit" / "train.csv"
TARGET, ADVERSE, FAVOURABLE = "default_next_month", "yes", "no"


def product_partners():
    """The table partners and the soft vote as the product builds them (their module is being moved)."""
    try:
        from engine.partners import average_of, frame, table_models
    except ImportError:
        from engine.evaluation.baseline import _frame as frame
        from engine.evaluation.selection import average_of, partner_factories
        return (lambda cols, num: partner_factories("tabular", cols, num)), average_of, frame
    return table_models, average_of, frame


def load(seed: int):
    from sklearn.model_selection import train_test_split
    from engine.data.values import numeric_columns
    with TAIWAN.open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    columns = [c for c in table[0] if c != TARGET]
    labels = np.asarray([r[TARGET] for r in table])
    tr, ho = train_test_split(np.arange(len(table)), test_size=0.2, random_state=seed, stratify=labels)
    train = [table[i] for i in tr]
    numeric = set(numeric_columns(train, columns))
    return columns, numeric, train, labels[tr], [table[i] for i in ho]


def tops(a: np.ndarray, chosen) -> tuple[np.ndarray, list[set]]:
    picked = [chosen(r) for r in a]
    return np.asarray([p[0] for p in picked]), [set(p) for p in picked]


def agreement(fast: np.ndarray, exact: np.ndarray) -> dict:
    from engine.explain import reason_columns
    t_fast, s_fast = tops(fast, reason_columns)
    t_exact, s_exact = tops(exact, reason_columns)
    return {"top_equal": round(float(np.mean(t_fast == t_exact)), 4),
            "top_in_exact_four": round(float(np.mean([t in s for t, s in zip(t_fast, s_exact)])), 4),
            "jaccard_four": round(float(np.mean([len(a & b) / len(a | b) for a, b in zip(s_fast, s_exact)])), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout at the end")
    p.add_argument("--sizes", default="3000,10000", help="rows to explain, comma-separated")
    p.add_argument("--sample", type=int, default=100, help="declined rows compared with exact tree SHAP")
    p.add_argument("--reference", type=int, default=200, help="reference rows (Reference sample size)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not TAIWAN.exists():
        sys.exit(f"{TAIWAN} is missing: set FTBOT_BENCH_DATA to the folder that holds taiwan_credit/train.csv")
    from engine.explain import Reference, faithfulness, partner_attributions, reasons, smallest_flip
    table_models, average_of, frame = product_partners()
    log = common.log
    out: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                             "load_avg_1m_start": round(os.getloadavg()[0], 2)}}

    columns, numeric, train, y, held = load(args.seed)
    t = time.perf_counter()
    vote = average_of(table_models(columns, numeric)).fit(frame(train, columns, numeric), y)
    out["fit_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    ref = Reference.fit(train, y, columns, sorted(numeric), FAVOURABLE, sample_size=args.reference, seed=args.seed)
    out["reference"] = {"rows": len(ref.sample), "fit_s": round(time.perf_counter() - t, 2),
                        "json_kb": round(len(json.dumps(ref.to_dict())) / 1024, 1)}
    R = frame(ref.sample, columns, numeric)
    members = dict(vote.named_estimators_)
    pos = list(vote.classes_).index(ADVERSE)                         # members were fitted on encoded labels
    log(f"fitted in {out['fit_s']} s; columns {len(columns)} ({len(numeric)} numeric); reference {len(R)} rows")

    def predict(model, encoded: bool):
        col = pos if encoded else list(model.classes_).index(ADVERSE)
        return lambda rows: model.predict_proba(frame(rows, columns, numeric))[:, col]

    pool = held + train
    out["timing"] = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        rows = pool[:n]
        t = time.perf_counter()
        X = frame(rows, columns, numeric)
        P = vote.predict_proba(X)[:, pos]
        row = {"frame_and_score_s": round(time.perf_counter() - t, 2)}
        for name, m in members.items():
            t = time.perf_counter()
            partner_attributions(m, X, R, [0, 1], pos)
            row[f"{name}_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        A = partner_attributions(vote, X, R, list(vote.classes_), ADVERSE)
        row["vote_s"] = round(time.perf_counter() - t, 2)
        declined = np.flatnonzero(P >= 0.5)
        t = time.perf_counter()
        words = [reasons(A[i], rows[i], ref) for i in declined]
        row.update(declined=int(len(declined)), reasons_s=round(time.perf_counter() - t, 2),
                   max_reasons=max(map(len, words)) if words else 0, min_reasons=min(map(len, words)) if words else 0)
        row["total_s"] = round(row["frame_and_score_s"] + row["vote_s"] + row["reasons_s"], 2)
        # what scoring needs: reasons for the declined rows only (at 0.5, and at the share labelled 'yes')
        for tag, cut in (("even", 0.5), ("rate_matched", float(np.quantile(P, 1 - np.mean(y == ADVERSE))))):
            chosen = np.flatnonzero(P >= cut)
            t = time.perf_counter()
            A_d = partner_attributions(vote, X[chosen], R, list(vote.classes_), ADVERSE)
            [reasons(A_d[k], rows[i], ref) for k, i in enumerate(chosen)]
            row[f"declined_only_{tag}"] = {"rows": int(len(chosen)), "s": round(time.perf_counter() - t, 2),
                                           "total_s": round(time.perf_counter() - t + row["frame_and_score_s"], 2)}
        out["timing"][str(n)] = row
        log(f"{n} rows: {row}")

    # faithfulness, on held-out rows only
    rows = held[:3000]
    X = frame(rows, columns, numeric)
    rate_threshold = float(np.quantile(vote.predict_proba(X)[:, pos], 1 - float(np.mean(y == ADVERSE))))
    out["thresholds"] = {"even": 0.5, "rate_matched": round(rate_threshold, 4)}
    out["faithfulness"] = {}
    A_vote = partner_attributions(vote, X, R, list(vote.classes_), ADVERSE)
    cases = {"vote": (A_vote, predict(vote, False))}
    for name, m in members.items():
        cases[name] = (partner_attributions(m, X, R, [0, 1], pos), predict(m, True))
    for name, (A, f) in cases.items():
        out["faithfulness"][name] = {k: faithfulness(f, rows, A, columns, ref.typical, thr, seed=args.seed)
                                     for k, thr in out["thresholds"].items()}
        log(f"faithfulness {name}: {out['faithfulness'][name]}")

    # stability
    again = partner_attributions(vote, X.copy(), R.copy(), list(vote.classes_), ADVERSE)
    P = vote.predict_proba(X)[:, pos]
    same_words = all(reasons(A_vote[i], rows[i], ref) == reasons(again[i], rows[i], ref)
                     for i in np.flatnonzero(P >= 0.5))
    out["stability"] = {"identical_attributions": bool(np.array_equal(A_vote, again)),
                        "identical_reasons": bool(same_words)}

    # the fast paths against exact tree SHAP, on a sample of declined rows
    sample = np.flatnonzero(P >= 0.5)[:args.sample]
    Xs = X[sample]
    half = len(R) // 2
    rf, gb = members["random_forest"], members["gradient_boosting"]
    exact = {}
    t = time.perf_counter()
    exact["rf"] = partner_attributions(rf, Xs, R, [0, 1], pos, forest="interventional")
    rf_exact_s = time.perf_counter() - t
    t = time.perf_counter()
    rf_saabas = partner_attributions(rf, Xs, R, [0, 1], pos)
    rf_saabas_s = time.perf_counter() - t
    t = time.perf_counter()
    rf_path = partner_attributions(rf, Xs, R, [0, 1], pos, forest="path")
    rf_path_s = time.perf_counter() - t
    t = time.perf_counter()
    exact["gb"] = partner_attributions(gb, Xs, R, [0, 1], pos, boosting_rows=None)
    gb_exact_s = time.perf_counter() - t
    halves = {k: [partner_attributions(m, Xs, part, [0, 1], pos, **kw) for part in (R[:half], R[half:])]
              for k, m, kw in (("rf", rf, {"forest": "interventional"}), ("gb", gb, {"boosting_rows": None}))}
    lr_all = partner_attributions(members["tabular_lr"], Xs, R, [0, 1], pos)
    vote_exact = (lr_all + exact["gb"] + exact["rf"]) / 3
    fast_vote = A_vote[sample]
    per_row = lambda s: round(1000 * s / max(len(sample), 1), 2)      # noqa: E731
    out["vs_exact"] = {
        "rows": int(len(sample)),
        "random_forest": {
            "saabas": agreement(rf_saabas, exact["rf"]),
            "path_dependent": agreement(rf_path, exact["rf"]),
            "exact_on_two_reference_halves": agreement(*halves["rf"]),
            "ms_per_row": {"saabas": per_row(rf_saabas_s), "path_dependent": per_row(rf_path_s),
                           "interventional": per_row(rf_exact_s)}},
        "gradient_boosting": {
            "first_20_reference_rows": agreement(partner_attributions(gb, Xs, R, [0, 1], pos), exact["gb"]),
            "exact_on_two_reference_halves": agreement(*halves["gb"]),
            "ms_per_row_all_reference_rows": per_row(gb_exact_s)},
        "vote": agreement(fast_vote, vote_exact),
    }
    f_vote = predict(vote, False)
    sample_rows = [rows[i] for i in sample]
    out["vs_exact"]["vote_faithfulness"] = {
        "fast": faithfulness(f_vote, sample_rows, fast_vote, columns, ref.typical, 0.5, seed=args.seed),
        "exact": faithfulness(f_vote, sample_rows, vote_exact, columns, ref.typical, 0.5, seed=args.seed)}
    log(f"vs exact: {out['vs_exact']}")

    # counterfactual, a few declined applicants
    t = time.perf_counter()
    flips = [smallest_flip(f_vote, rows[i], columns, ref, 0.5) for i in sample[:10]]
    out["counterfactual"] = {"applicants": len(flips), "s_per_applicant": round((time.perf_counter() - t) / 10, 3),
                             "flipped": sum(f is not None for f in flips),
                             "example": next((f["change_words"] for f in flips if f), None)}
    out["example_reasons"] = reasons(A_vote[sample[0]], rows[sample[0]], ref) if len(sample) else []
    out["machine"]["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    log(json.dumps(out["counterfactual"]))
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
