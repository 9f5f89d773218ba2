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

Timing: every detector (card, IBAN, e-mail, phone, and find_pii as a whole) on adversarial messages and a realistic
long customer message of 1,000, 10,000 and 40,000 characters (best of 3; ms, and the ratio 40k/1k: linear growth
gives about 40, a fixed per-message budget less). The detector before normalisation and linear scans
(PREVIOUS_COMMIT) runs on the same inputs in the same run, each call stopped after OLD_CAP_S.

    python bench/pii.py [--json] [--scale 1.0] [--no-timing]
"""
from __future__ import annotations

import csv
import random
import signal
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
PREVIOUS_COMMIT = "e1bf85c"          # library-based, before normalisation and linear candidate scans
TARGETS = {"card": 1.0, "iban": 1.0, "email": 0.99, "phone": 0.97}
MAX_NEGATIVES_CHANGED = 0.005
MAX_MS_AT_40K = 50
SIZES = (1_000, 10_000, 40_000)
OLD_CAP_S = 1.0


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


def old_detector(commit: str = OLD_COMMIT):
    """engine/data/pii.py as it was at `commit`, loaded from git history (None without git)."""
    try:
        src = subprocess.run(["git", "show", f"{commit}:engine/data/pii.py"], cwd=common.REPO,
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    name = f"pii_{commit}"
    mod = types.ModuleType(name)
    sys.modules[name] = mod                 # dataclasses look their module up
    exec(compile(src, f"{name}.py", "exec"), mod.__dict__)   # noqa: S102 - our own file from our own history
    return mod


# ---- timing ----------------------------------------------------------------------------------------------------
def adversarial_inputs(texts: list[str], corpus) -> dict:
    """name -> function(n) giving an n-character message."""
    rng = random.Random(0)

    def cycle(unit: str):
        return lambda n: (unit * (n // len(unit) + 1))[:n]

    mixed = "".join(rng.choice("0123456789 -./,_") for _ in range(max(SIZES)))
    runs = " ".join(rng.choice("0123456789") * rng.randint(5, 30) for _ in range(max(SIZES) // 10))
    parts, planted_texts = [], [p.text for p in corpus]
    for i, t in enumerate(texts or planted_texts):   # a long customer message: real texts, a value now and then
        parts.append(t)
        if i % 25 == 0 and planted_texts:
            parts.append(planted_texts[i % len(planted_texts)])
    realistic = " ".join(parts)
    realistic = (realistic * (max(SIZES) // max(1, len(realistic)) + 1))
    return {
        '"1 " * N': cycle("1 "), '"!" * N + "@"': lambda n: "!" * (n - 1) + "@", "long digit runs": lambda n: runs[:n],
        '"a@" * N': cycle("a@"), '"+1 " * N': cycle("+1 "), "mixed digits and separators": lambda n: mixed[:n],
        '"4111…" unseparated': cycle("4111111111111111"), '"a@b.cd " * N': cycle("a@b.cd "),
        '"DE00" * N': cycle("DE00"), 'zero-width "4\u200b" * N': cycle("4\u200b"),
        "Arabic-Indic pairs": cycle("٤١ "), "phone numbers": cycle("+44 20 7946 0958 "),
        "realistic long message": lambda n: realistic[:n],
    }


def new_detectors() -> dict:
    from engine.data import pii

    def on_normalised(fn):
        return lambda text: fn(pii.normalize(text).text)

    return {"card": on_normalised(pii._cards), "iban": on_normalised(pii._ibans),
            "email": on_normalised(pii._emails), "phone": on_normalised(pii._phones), "find_pii": pii.find_pii}


def previous_detectors(old) -> dict:
    """The same four detectors in the previous module (its own candidate loops)."""
    def cards(text):
        return [old._cards_in_run(text, r) for r in old._DIGIT_RUN.finditer(text)]

    def ibans(text):
        pos, out = 0, []
        while m := old._IBAN.search(text, pos):
            end, valid = old._iban_at(text, m)
            out.append(valid)
            pos = end if valid else m.start() + 1
        return out

    def emails(text):
        return [m for m in old._EMAIL.finditer(text) if old._email_ok(m.group(0))]

    return {"card": cards, "iban": ibans, "email": emails, "phone": old._phones, "find_pii": old.find_pii}


class _Stopped(Exception):
    pass


def _timed(fn, text: str, cap: float | None, repeats: int) -> float | None:
    """Best wall time in ms; None when a call ran past `cap` seconds (stopped by a timer signal)."""
    from engine.data import pii

    def stop(*_):
        raise _Stopped

    best = float("inf")
    for _ in range(repeats):
        pii._PHONE_CACHE.clear()
        pii._EMAIL_CACHE.clear()
        if cap:
            old_handler = signal.signal(signal.SIGALRM, stop)
            signal.setitimer(signal.ITIMER_REAL, cap)
        try:
            t0 = time.perf_counter()
            fn(text)
            best = min(best, time.perf_counter() - t0)
        except _Stopped:
            return None
        finally:
            if cap:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old_handler)
    return round(best * 1000, 2)


def timings(texts: list[str], corpus) -> dict:
    inputs = adversarial_inputs(texts, corpus)
    new = new_detectors()
    prev = old_detector(PREVIOUS_COMMIT)
    old = previous_detectors(prev) if prev is not None else {}
    out = {}
    for name, make in inputs.items():
        row = {}
        for det, fn in new.items():
            ms = [_timed(fn, make(n), None, 3) for n in SIZES]
            entry = {"ms": dict(zip(map(str, SIZES), ms)), "ratio_40k_1k": round(ms[-1] / max(ms[0], 0.01), 1)}
            if det in old:
                old_ms, stopped = [], False
                for n in SIZES:                  # once a size runs past the cap, larger ones are not tried
                    old_ms.append(None if stopped else _timed(old[det], make(n), OLD_CAP_S, 1))
                    stopped = old_ms[-1] is None
                entry["previous_ms"] = dict(zip(map(str, SIZES), old_ms))
            row[det] = entry
        out[name] = row
    worst = max(e["ms"][str(max(SIZES))] for row in out.values() for e in row.values())
    return {"inputs": out, "worst_ms_at_40k": worst, "target_ms_at_40k": MAX_MS_AT_40K,
            "previous_commit": PREVIOUS_COMMIT if prev is not None else None,
            "previous_cap_ms": OLD_CAP_S * 1000, "met": worst <= MAX_MS_AT_40K}


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
    p.add_argument("--no-timing", action="store_true", help="skip the adversarial timings")
    args = p.parse_args()
    out = run(args.scale)
    out["stored_files"] = stored_files_clean(planted(args.scale))
    if not args.no_timing:
        out["timing"] = timings(banking77_texts(), planted(args.scale))
        out["targets_met"] = out["targets_met"] and out["timing"]["met"]
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
    if "timing" in out:
        _print_timing(out["timing"])
    print("targets met" if out["targets_met"] else "TARGETS NOT MET")


def _print_timing(t: dict) -> None:
    def ms(v):
        return f"> {t['previous_cap_ms']:.0f}" if v is None else f"{v:.1f}"

    sizes = [str(n) for n in SIZES]
    print(f"\ntimings, ms at {' / '.join(f'{int(n) // 1000}k' for n in sizes)} characters (best of 3), ratio 40k/1k"
          + (f"; previous detector ({t['previous_commit']}, stopped after {t['previous_cap_ms']:.0f} ms)"
             if t["previous_commit"] else ""))
    for name, row in t["inputs"].items():
        print(f"  {name}")
        for det, e in row.items():
            line = f"    {det:<9}{' / '.join(ms(e['ms'][n]) for n in sizes):>26}   ×{e['ratio_40k_1k']:<6}"
            if "previous_ms" in e:
                line += f"previous {' / '.join(ms(e['previous_ms'][n]) for n in sizes)}"
            print(line)
    print(f"worst at 40k: {t['worst_ms_at_40k']:.1f} ms (target at most {t['target_ms_at_40k']} ms)")


if __name__ == "__main__":
    main()
