"""Do the reasons describe what the model does? For each declined row, set its top reason column to the typical value
of favourable training rows and, separately, a column that is not among its reasons: the first should lower
P(adverse) more. Reported as the share of declined rows where it does."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from engine.explain.occlusion import occlusion_attributions
from engine.explain.reasons import MAX_REASONS, reason_columns


def faithfulness(predict_pos: Callable[[list[dict]], np.ndarray], rows: Sequence[dict], attributions: np.ndarray,
                 columns: Sequence[str], typical: dict, threshold: float, *, k: int = MAX_REASONS,
                 seed: int = 0) -> dict:
    """{declined, share, share_vs_mean, share_vs_all, ties}: among rows with P ≥ threshold (that have a column
    outside their reasons), the share where moving the top reason to its typical favourable value lowers P more
    than moving one non-reason column (drawn with `seed`), than the non-reasons' mean, than every non-reason."""
    drops, p = occlusion_attributions(predict_pos, rows, columns, typical, with_scores=True)
    rng = np.random.default_rng(seed)
    vs_one, vs_mean, vs_all, ties, declined = [], [], [], 0, 0
    for i in np.flatnonzero(p >= threshold):
        chosen = reason_columns(attributions[i], k)
        others = [j for j in range(len(columns)) if j not in chosen]
        if not others:
            continue
        declined += 1
        top, other = drops[i, chosen[0]], drops[i, others[int(rng.integers(len(others)))]]
        ties += int(np.isclose(top, other))
        vs_one.append(top > other)
        vs_mean.append(top > float(np.mean(drops[i, others])))
        vs_all.append(top > float(np.max(drops[i, others])))
    share = (lambda v: round(float(np.mean(v)), 4) if v else None)
    return {"declined": declined, "share": share(vs_one), "share_vs_mean": share(vs_mean),
            "share_vs_all": share(vs_all), "ties": ties}
