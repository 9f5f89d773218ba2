"""PII detection: recall per kind on a labelled corpus, and how many real customer texts it changes.

Positives: tests/fixtures/pii_corpus.py (generated deterministically: cards of ten brands in six separator styles,
valid IBANs of 14 countries written grouped/ungrouped/dashed/dotted/lower-case/two spaces, ASCII and
internationalised e-mails, national and international phone numbers of 12 countries), each inside a sentence.
A value counts as found when one match of its kind covers all of it (so redaction removes the whole value).
Negatives: every text of BANKING77 train.csv (read from ../shared/data, not copied) plus hand-made hard negatives
(amounts, dates, references, "card ending 1234"): the share whose redaction changes them.
Also: a table with planted values in four columns is registered with redaction on, and every stored file is
searched for the planted values.

The previous hand-written detector (engine/data/pii.py at commit OLD_COMMIT) runs on the same corpus in the same
run as the reference, when git history is available.

    python bench/pii.py [--json] [--scale 1.0]
"""
from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import time
import types
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from tests.fixtures.pii_corpus import HARD_NEGATIVES, planted  # noqa: E402

OLD_COMMIT = "9af906c"
TARGETS = {"card": 1.0, "iban": 1.0, "email": 0.99, "phone": 0.97}
MAX_NEGATIVES_CHANGED = 0.005


def recall(find, corpus) -> tuple[dict, dict, list]:
    hits, total, missed = defaultdict(int), defaultdict(int), []
    by_style = defaultdict(lambda: [0, 0])
    for p in corpus:
        a = p.text.index(p.value)
        b = a + len(p.value)
        ok = any(m.kind == p.kind and m.start <= a and m.end >= b for m in find(p.text))
        total[p.kind] += 1
        hits[p.kind] += ok
        by_style[f"{p.kind}: {p.style}"][0] += ok
        by_style[f"{p.kind}: {p.style}"][1] += 1
        if not ok:
            missed.append((p.kind, p.style, p.value))
    return ({k: hits[k] / total[k] for k in total}, {k: total[k] for k in total}, missed)


def negatives_changed(redact, texts) -> tuple[float, list]:
    changed = [(t, redact(t)) for t in texts if redact(t) != t]
    return len(changed) / max(1, len(texts)), changed


def banking77_texts(limit: int | None = None) -> list[str]:
    if not common.BANKING77.exists():
        return []
    with open(common.BANKING77, encoding="utf-8", newline="") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    return texts[:limit] if limit else texts


def stored_files_clean(corpus) -> dict:
    """Register a 4-column table holding planted values with redact=True; search every stored file for them."""
    from engine.data import prepare_dataset, save_dataset
    values = corpus[::max(1, len(corpus) // 200)][:200]      # every kind, every style
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "customers.csv"
        with open(src, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label", "customer_email", "note"])
            for i, p in enumerate(values):
                lab = "a" if i % 2 else "b"
                other = values[(i + 1) % len(values)]
                w.writerow([f"question {i}: {p.text}", lab, other.value, f"note {i}: {values[(i + 2) % len(values)].text}"])
        d = prepare_dataset(src, text_column="text", label_column="label", redact=True)
        save_dataset(d, src, Path(tmp) / "ds")
        stored = "".join(f.read_text(encoding="utf-8") for f in (Path(tmp) / "ds").iterdir())
        left = [p.value for p in values if p.value in stored or p.value.lower() in stored.lower()]
    return {"values": len(values), "columns": 3, "left_in_stored_files": len(left), "by_column": d.pii["by_column"]}


def old_detector():
    """The hand-written detector this one replaced, loaded from git history (None without git)."""
    try:
        src = subprocess.run(["git", "show", f"{OLD_COMMIT}:engine/data/pii.py"], cwd=common.REPO,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType("old_pii")
    sys.modules["old_pii"] = mod            # dataclasses look their module up
    exec(compile(src, "old_pii.py", "exec"), mod.__dict__)   # noqa: S102 - our own file from our own history
    return mod


def run(scale: float = 1.0, negatives: int | None = None) -> dict:
    from engine.data import pii
    corpus = planted(scale)
    t0 = time.perf_counter()
    rec, counts, missed = recall(pii.find_pii, corpus)
    texts = banking77_texts(negatives)
    neg_share, neg_changed = negatives_changed(pii.redact, texts)
    hard_share, hard_changed = negatives_changed(pii.redact, HARD_NEGATIVES)
    elapsed = time.perf_counter() - t0
    out = {
        "planted": len(corpus), "planted_by_kind": counts,
        "countries": {"iban": 14, "phone": 12},
        "recall": rec, "missed": missed[:20],
        "negatives": len(texts), "negatives_changed": neg_share, "negatives_changed_examples": neg_changed[:10],
        "hard_negatives": len(HARD_NEGATIVES), "hard_negatives_changed": hard_changed,
        "targets": {"recall": TARGETS, "negatives_changed_at_most": MAX_NEGATIVES_CHANGED},
        "seconds": round(elapsed, 2),
    }
    out["targets_met"] = (all(rec.get(k, 0) >= v for k, v in TARGETS.items()) and bool(texts)
                          and neg_share <= MAX_NEGATIVES_CHANGED and not hard_changed)
    old = old_detector()
    if old is not None:
        orec, _, _ = recall(old.find_pii, corpus)
        oshare, _ = negatives_changed(old.redact, texts)
        _, ohard = negatives_changed(old.redact, HARD_NEGATIVES)
        out["old_detector"] = {"commit": OLD_COMMIT, "recall": orec, "negatives_changed": oshare,
                               "hard_negatives_changed": len(ohard)}
    return out


def main() -> None:
    p = common.parser("PII detection recall and false alarms")
    p.add_argument("--scale", type=float, default=1.0, help="corpus size (1.0: about 600 planted values)")
    args = p.parse_args()
    out = run(args.scale)
    out["stored_files"] = stored_files_clean(planted(args.scale))
    if args.json:
        print(common.json.dumps(out, ensure_ascii=False, default=str))
        return
    print(f"planted values: {out['planted']} {out['planted_by_kind']}; negatives: {out['negatives']} BANKING77 "
          f"texts + {out['hard_negatives']} hard negatives ({out['seconds']} s)")
    old = out.get("old_detector")
    print(f"{'kind':<7}{'recall':>9}{'target':>9}" + (f"{'old':>9}" if old else ""))
    for k in ("card", "iban", "email", "phone"):
        line = f"{k:<7}{out['recall'].get(k, 0):>9.1%}{TARGETS[k]:>9.0%}"
        print(line + (f"{old['recall'].get(k, 0):>9.1%}" if old else ""))
    print(f"BANKING77 texts changed: {out['negatives_changed']:.2%} (target at most {MAX_NEGATIVES_CHANGED:.1%})"
          + (f"; old {old['negatives_changed']:.2%}" if old else ""))
    print(f"hard negatives changed: {len(out['hard_negatives_changed'])} of {out['hard_negatives']}"
          + (f"; old {old['hard_negatives_changed']}" if old else ""))
    sf = out["stored_files"]
    print(f"stored files after redaction: {sf['left_in_stored_files']} of {sf['values']} planted values left "
          f"(columns text, customer_email, note; found per column: {sf['by_column']})")
    for kind, style, value in out["missed"]:
        print(f"  missed {kind} ({style}): {value}")
    for before, after in out["negatives_changed_examples"] + out["hard_negatives_changed"]:
        print(f"  changed: {before!r} -> {after!r}")
    print("targets met" if out["targets_met"] else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
