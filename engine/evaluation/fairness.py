"""Group fairness of a model's decisions over one protected attribute: approval rates, the adverse impact ratio
(the four-fifths rule) and equal opportunity, each ratio with a bootstrap interval so small groups are not
over-read. Per-group figures come from fairlearn's MetricFrame.

Conventions: "approved" means the decision is the favourable label (credit: "good"). For the rates the favourable
label is the positive class: TPR is the approval rate among rows whose true outcome was favourable (equal
opportunity: creditworthy applicants approved alike in every group), FPR the approval rate among rows whose true
outcome was unfavourable. Rows whose attribute is missing are reported as the group "missing" but take no part
in the ratios: they are not a protected group; nor do groups of fewer than MIN_GROUP_ROWS rows, while two larger
groups remain to compare.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
from fairlearn.metrics import MetricFrame, count, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import roc_auc_score

from engine.data.protected import MISSING_GROUP, Protected
from engine.evaluation.costs import GERMAN_CREDIT, CostMatrix, expected_cost

FOUR_FIFTHS = 0.8        # adverse impact ratio below this is the conventional sign of disparate impact
MIN_GROUP_ROWS = 10      # a smaller group is shown but not compared, while at least two larger ones can be: one
                         # approval more or less in a group of 3 moves its rate by 33 points


def _num(x) -> float | None:
    """A JSON-ready float: NaN/inf → None."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _positives(y_true, y_pred) -> float:
    return float(np.sum(y_true))


def _negatives(y_true, y_pred) -> float:
    return float(np.sum(1 - np.asarray(y_true)))


def _auc(y_true, y_score) -> float:
    y_true = np.asarray(y_true)
    return float(roc_auc_score(y_true, y_score)) if 0 < y_true.sum() < y_true.size else float("nan")


def _by_group(fav_true: np.ndarray, approved: np.ndarray, groups: np.ndarray, score: np.ndarray | None) -> dict:
    """{group: {n, approval_rate, tpr, fpr[, mean_score, auc]}} from MetricFrame; a rate with no rows to rate
    (e.g. TPR of a group with no truly favourable rows) is None."""
    mf = MetricFrame(metrics={"n": count, "approval_rate": selection_rate, "tpr": true_positive_rate,
                              "fpr": false_positive_rate, "fav": _positives, "unfav": _negatives},
                     y_true=fav_true.astype(int), y_pred=approved.astype(int), sensitive_features=groups)
    table = mf.by_group
    extra = None
    if score is not None:
        # The score is P(unfavourable); its AUC is read against the unfavourable outcome within each group.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            extra = MetricFrame(metrics={"mean_score": lambda t, s: float(np.mean(s)), "auc": _auc},
                                y_true=(~fav_true).astype(int), y_pred=score, sensitive_features=groups).by_group
    out = {}
    for g, row in table.iterrows():
        rec = {"n": int(row["n"]), "approval_rate": _num(row["approval_rate"]),
               "tpr": _num(row["tpr"]) if row["fav"] > 0 else None,
               "fpr": _num(row["fpr"]) if row["unfav"] > 0 else None}
        if extra is not None:
            rec.update(mean_score=_num(extra.loc[g, "mean_score"]), auc=_num(extra.loc[g, "auc"]))
        out[str(g)] = rec
    order = sorted(out, key=lambda g: (g == MISSING_GROUP, -out[g]["n"], g))
    return {g: out[g] for g in order}


def _interval(samples: np.ndarray) -> list[float] | None:
    """Percentile 95 % interval of the defined resamples; None when fewer than half of them are defined (a group
    too small to appear in most resamples says nothing about its rate)."""
    ok = samples[np.isfinite(samples)]
    if ok.size < max(1, samples.size // 2):
        return None
    lo, hi = np.percentile(ok, [2.5, 97.5])
    return [float(lo), float(hi)]


def _bootstrap(fav_true, approved, codes, k, pair_air, pair_eod, n_boot, seed):
    """Bootstrap samples of the two ratios for fixed pairs of groups (from the point estimate).

    Resampling n rows with replacement only changes how many rows fall in each (group, truth, decision) cell,
    so the cell counts are drawn from the multinomial directly: the same distribution, at a cost that does not
    grow with n. A resample in which a group of the pair has no rows to rate leaves that ratio undefined (NaN);
    those resamples are dropped from the interval.
    """
    cell = codes * 4 + fav_true.astype(int) * 2 + approved.astype(int)
    p = np.bincount(cell, minlength=4 * k) / cell.size
    draws = np.random.default_rng(seed).multinomial(cell.size, p, size=n_boot).reshape(n_boot, k, 2, 2)
    n = draws.sum(axis=(2, 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = draws[:, :, :, 1].sum(axis=2) / n                         # approval rate per group
        tpr = draws[:, :, 1, 1] / draws[:, :, 1, :].sum(axis=2)          # approval among truly favourable
        air = eod = np.full(n_boot, np.nan)
        if pair_air:
            low, high = pair_air
            air = rate[:, low] / rate[:, high]
        if pair_eod:
            high, low = pair_eod
            eod = tpr[:, high] - tpr[:, low]
    return air, eod


def _note(air, interval, flagged, low, high, rates) -> str:
    if air is None:
        return "adverse impact ratio undefined: " + (
            "fewer than two groups with rows" if low is None else "no group was approved at all")
    where = f"; approval {low} {rates[low]:.2f} vs {high} {rates[high]:.2f}"
    if interval is None:
        return f"adverse impact ratio {air:.2f} (no interval: groups too small to resample){where}; not flagged"
    head = f"adverse impact ratio {air:.2f} (95 % {interval[0]:.2f}–{interval[1]:.2f})"
    if flagged:
        verdict = f"below {FOUR_FIFTHS} and so is the whole interval; flagged"
    elif air < FOUR_FIFTHS:
        verdict = f"below {FOUR_FIFTHS} but the interval reaches {FOUR_FIFTHS}; not flagged"
    else:
        verdict = f"at or above {FOUR_FIFTHS}; not flagged"
    return f"{head}: {verdict}{where}"


def compared_groups(sizes: dict[str, int]) -> list[str]:
    """The groups whose rates the ratios compare, from {group: rows}: never the missing group; not groups under
    MIN_GROUP_ROWS while two larger ones remain. The report and the threshold sweep both choose with this."""
    rated = [g for g in sizes if g != MISSING_GROUP]
    large = [g for g in rated if sizes[g] >= MIN_GROUP_ROWS]
    return large if len(large) >= 2 else rated


def fairness_report(y_true: Sequence, decision: Sequence, groups: Sequence[str], *, favourable,
                    score: Sequence[float] | None = None, n_boot: int = 1000, seed: int = 0) -> dict:
    """Fairness of `decision` (the model's label per row) across `groups` (one protected attribute).

    Returns {groups: {name: {n, approval_rate, tpr, fpr[, mean_score, auc]}}, adverse_impact_ratio,
    air_interval, equal_opportunity_difference, eod_interval, flagged, note, favourable, reference_group,
    lowest_group}. The adverse impact ratio is the lowest group approval rate ÷ the highest (`reference_group`);
    the equal-opportunity difference the largest gap in TPR between groups. Their 95 % intervals are percentile
    bootstrap intervals (`n_boot` resamples of the rows, seeded) of the same comparison between the same two
    groups, so they may pass 1 (or 0) when the order of the groups could reverse. `flagged`: the ratio is below
    0.8 and so is the whole interval. `score`, if given, is the model's probability of the unfavourable label;
    it adds each group's mean score and ROC AUC.
    """
    fav = str(favourable)
    fav_true = np.asarray([str(v) == fav for v in y_true], dtype=bool)
    approved = np.asarray([str(v) == fav for v in decision], dtype=bool)
    groups = np.asarray([str(g) for g in groups], dtype=object)
    if not (fav_true.size == approved.size == groups.size):
        raise ValueError(f"y_true, decision and groups differ in length: "
                         f"{fav_true.size}, {approved.size}, {groups.size}")
    scores = None if score is None else np.asarray(score, dtype=float)
    table = _by_group(fav_true, approved, groups, scores) if groups.size else {}

    names = list(table)
    rated = compared_groups({g: table[g]["n"] for g in names})
    small = [g for g in names if g != MISSING_GROUP and g not in rated]
    rates = {g: table[g]["approval_rate"] for g in rated}
    high = low = None
    air = None
    if len(rated) >= 2:
        high = max(rated, key=lambda g: rates[g])
        low = min((g for g in rated if g != high), key=lambda g: rates[g])
        air = rates[low] / rates[high] if rates[high] > 0 else None
    tprs = {g: table[g]["tpr"] for g in rated if table[g]["tpr"] is not None}
    eod, eod_pair = None, None
    if len(tprs) >= 2:
        t_high = max(tprs, key=tprs.get)
        t_low = min((g for g in tprs if g != t_high), key=tprs.get)
        eod, eod_pair = tprs[t_high] - tprs[t_low], (t_high, t_low)

    air_interval = eod_interval = None
    if n_boot > 0 and (air is not None or eod is not None):
        index = {g: i for i, g in enumerate(names)}
        codes = np.asarray([index[g] for g in groups])
        air_s, eod_s = _bootstrap(fav_true, approved, codes, len(names),
                                  (index[low], index[high]) if air is not None else None,
                                  tuple(index[g] for g in eod_pair) if eod_pair else None, n_boot, seed)
        air_interval = _interval(air_s) if air is not None else None
        eod_interval = _interval(eod_s) if eod is not None else None

    flagged = bool(air is not None and air_interval is not None and air < FOUR_FIFTHS
                   and air_interval[1] < FOUR_FIFTHS)
    return {
        "groups": table,
        "adverse_impact_ratio": _num(air),
        "air_interval": air_interval,
        "equal_opportunity_difference": _num(eod),
        "eod_interval": eod_interval,
        "flagged": flagged,
        "note": _note(air, air_interval, flagged, low, high, rates) + (
            f"; not compared (under {MIN_GROUP_ROWS} rows): {', '.join(small)}" if small else ""),
        "not_compared": small,
        "favourable": fav,
        "reference_group": high,
        "lowest_group": low,
        "n_boot": int(n_boot),
    }


def fairness_reports(protected: Sequence[Protected], rows: Sequence[dict], y_true: Sequence, decision: Sequence,
                     favourable, *, score: Sequence[float] | None = None, n_boot: int = 1000,
                     seed: int = 0) -> dict:
    """{attribute name: fairness_report} for each protected attribute; `rows` hold the protected columns."""
    return {p.name: fairness_report(y_true, decision, p.groups(rows), favourable=favourable, score=score,
                                    n_boot=n_boot, seed=seed)
            for p in protected}


def threshold_sweep(is_adverse_true: Sequence[bool], score_adverse: Sequence[float], groups: Sequence[str],
                    costs: CostMatrix = GERMAN_CREDIT, thresholds: Sequence[float] | None = None) -> list[dict]:
    """Expected cost and adverse impact ratio at each threshold (default 0.01…0.99), to show what a threshold
    trades. `score_adverse` is P(adverse label); a row is approved when its score < threshold, i.e. predicted
    adverse at score ≥ threshold as in engine.evaluation.costs. Returns [{threshold, expected_cost,
    adverse_impact_ratio, approval_rate}]; the ratio is None where nobody is approved."""
    is_adverse = np.asarray(is_adverse_true, dtype=bool)
    score = np.asarray(score_adverse, dtype=float)
    groups = np.asarray([str(g) for g in groups], dtype=object)
    names, sizes = np.unique(groups, return_counts=True)
    rated = np.isin(groups, compared_groups(dict(zip(names.tolist(), sizes.tolist()))))
    if thresholds is None:
        thresholds = np.round(np.arange(1, 100) / 100, 2)
    thresholds = [float(t) for t in thresholds]
    ratios = [None] * len(thresholds)
    if len(set(groups[rated])) >= 2:
        # One MetricFrame for the whole sweep: the approval rate at each threshold is one metric; ratio() is the
        # lowest group's rate over the highest's (NaN where nobody is approved).
        mf = MetricFrame(metrics={i: (lambda _, s, t=t: float(np.mean(s < t))) for i, t in enumerate(thresholds)},
                         y_true=is_adverse[rated], y_pred=score[rated], sensitive_features=groups[rated])
        ratios = [_num(x) for x in mf.ratio()]
    return [{"threshold": t, "expected_cost": expected_cost(is_adverse, score >= t, costs),
             "adverse_impact_ratio": ratios[i],
             "approval_rate": float(np.mean(score < t)) if score.size else 0.0}
            for i, t in enumerate(thresholds)]
