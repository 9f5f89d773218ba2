"""Generate credit_sample.csv: 400 synthetic loan applications with a `risk` label (good/bad), about 30 % bad.

Written for ftbot; no real applicant is described. Seeded numpy (SEED), so the file is reproducible.

Columns and how they are drawn
    checking_account   none | below 0 EUR | 0 to 200 EUR | 200 EUR or more      (p = .39 .27 .27 .07)
    duration_months    one of 6 9 12 15 18 24 30 36 42 48 60
    credit_amount      EUR, log-normal around 150·duration + 800 (σ = 0.5), rounded to 50, 250 … 18 000
    age                normal(36, 11) rounded, clipped to 19 … 75
    purpose            new car | used car | furniture | radio/television | education | business | repairs
    savings            below 100 EUR | 100 to 500 EUR | 500 to 1000 EUR | 1000 EUR or more | unknown
    employment_since   unemployed | below 1 year | 1 to 4 years | 4 to 7 years | 7 years or more
    housing            own | rent | free

The rule (a logistic model plus noise)
    z = INTERCEPT (-1.1)
        + CHECKING[checking_account]  (none -0.9, below 0 EUR +1.0, 0 to 200 EUR +0.4, 200 EUR or more -0.4)
        + 0.035 · (duration_months − 20)
        + 0.00012 · (credit_amount − 3000)
        − 0.02 · (age − 35)
        + PURPOSE[purpose]            (new car +0.3, used car -0.4, furniture +0.1, radio/television -0.2,
                                       education +0.5, business +0.2, repairs +0.3)
        + SAVINGS[savings]            (below 100 +0.3, 100 to 500 +0.1, 500 to 1000 -0.3, 1000 or more -0.6,
                                       unknown -0.3)
        + EMPLOYMENT[employment_since] (unemployed +0.5, below 1 year +0.3, 1 to 4 years 0, 4 to 7 years -0.3,
                                        7 years or more -0.4)
        + HOUSING[housing]            (own -0.3, rent +0.2, free +0.3)
        + ε,  ε ~ normal(0, 0.5)
    risk = "bad" with probability sigmoid(z), else "good".

    python -m engine.sample_data.generate_credit        # rewrites engine/sample_data/credit_sample.csv
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SEED = 20240
N = 400
INTERCEPT = -1.1
OUT = Path(__file__).with_name("credit_sample.csv")

CHECKING = {"none": -0.9, "below 0 EUR": 1.0, "0 to 200 EUR": 0.4, "200 EUR or more": -0.4}
CHECKING_P = [0.39, 0.27, 0.27, 0.07]
DURATIONS = [6, 9, 12, 15, 18, 24, 30, 36, 42, 48, 60]
DURATION_P = [0.07, 0.06, 0.2, 0.08, 0.12, 0.2, 0.05, 0.11, 0.04, 0.05, 0.02]
PURPOSE = {"new car": 0.3, "used car": -0.4, "furniture": 0.1, "radio/television": -0.2, "education": 0.5,
           "business": 0.2, "repairs": 0.3}
PURPOSE_P = [0.23, 0.11, 0.18, 0.28, 0.06, 0.1, 0.04]
SAVINGS = {"below 100 EUR": 0.3, "100 to 500 EUR": 0.1, "500 to 1000 EUR": -0.3, "1000 EUR or more": -0.6,
           "unknown": -0.3}
SAVINGS_P = [0.6, 0.1, 0.06, 0.05, 0.19]
EMPLOYMENT = {"unemployed": 0.5, "below 1 year": 0.3, "1 to 4 years": 0.0, "4 to 7 years": -0.3,
              "7 years or more": -0.4}
EMPLOYMENT_P = [0.06, 0.17, 0.34, 0.17, 0.26]
HOUSING = {"own": -0.3, "rent": 0.2, "free": 0.3}
HOUSING_P = [0.71, 0.18, 0.11]
COLUMNS = ["checking_account", "duration_months", "credit_amount", "age", "purpose", "savings", "employment_since",
           "housing", "risk"]


def _pick(rng: np.random.Generator, table: dict, p: list[float], n: int) -> np.ndarray:
    return rng.choice(np.array(list(table)), size=n, p=p)


def generate(seed: int = SEED, n: int = N) -> list[dict]:
    rng = np.random.default_rng(seed)
    checking = _pick(rng, CHECKING, CHECKING_P, n)
    duration = rng.choice(DURATIONS, size=n, p=DURATION_P)
    amount = np.exp(rng.normal(np.log(150 * duration + 800), 0.5))
    amount = np.clip(np.round(amount / 50) * 50, 250, 18000).astype(int)
    age = np.clip(np.round(rng.normal(36, 11, size=n)), 19, 75).astype(int)
    purpose = _pick(rng, PURPOSE, PURPOSE_P, n)
    savings = _pick(rng, SAVINGS, SAVINGS_P, n)
    employment = _pick(rng, EMPLOYMENT, EMPLOYMENT_P, n)
    housing = _pick(rng, HOUSING, HOUSING_P, n)

    z = (INTERCEPT
         + np.array([CHECKING[c] for c in checking])
         + 0.035 * (duration - 20)
         + 0.00012 * (amount - 3000)
         - 0.02 * (age - 35)
         + np.array([PURPOSE[p] for p in purpose])
         + np.array([SAVINGS[s] for s in savings])
         + np.array([EMPLOYMENT[e] for e in employment])
         + np.array([HOUSING[h] for h in housing])
         + rng.normal(0, 0.5, size=n))
    bad = rng.random(n) < 1 / (1 + np.exp(-z))
    return [dict(zip(COLUMNS, (checking[i], int(duration[i]), int(amount[i]), int(age[i]), purpose[i], savings[i],
                               employment[i], housing[i], "bad" if bad[i] else "good")))
            for i in range(n)]


def write(path: Path = OUT) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(generate())
    return path


if __name__ == "__main__":
    print(write())
