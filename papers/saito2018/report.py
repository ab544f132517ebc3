#!/usr/bin/env python3
"""Report of papers/saito2018: MCD at each n beside source-only and DANN (mean ± sd and 95%
t-interval over seeds, the model each run ends with), the paired differences the paper's claims are
about, each claim's verdict decided from those numbers, and MCD's discrepancy per epoch.

usage: report.py RESULTS.db REPORT_DIR"""
import json
import math
import os
import sqlite3
import statistics
import sys

SUITE = "saito2018-mcd"
PAPER = {"source-only": "67.1", "dann": "71.1", "mcd, n = 2": "94.2 ± 2.6", "mcd, n = 3": "95.9 ± 0.5",
         "mcd, n = 4": "96.2 ± 0.4"}
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def label(method, hparams):
    return f"mcd, n = {json.loads(hparams)['num_k']}" if method == "mcd" else method


def interval(xs):
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, float("nan"), float("nan")
    sd = statistics.stdev(xs)
    half = T95.get(len(xs) - 1, 1.96) * sd / math.sqrt(len(xs))
    return m, sd, half


def load(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    acc, disc = {}, {}
    q = ("SELECT r.key, r.task, r.method, r.seed, r.hparams FROM runs r "
         "WHERE r.suite = ? AND r.status = 'done' ORDER BY r.method, r.seed")
    for key, task, method, seed, hp in con.execute(q, (SUITE,)):
        name = label(method, hp)
        row = con.execute("SELECT target_test FROM metrics WHERE key = ? ORDER BY epoch DESC LIMIT 1", (key,)).fetchone()
        if row is None:
            sys.exit(f"report.py: {db}: run {key} ({task} {name} seed {seed}) is done but has no metrics")
        acc.setdefault(name, {})[seed] = 100.0 * row[0]
        for epoch, value in con.execute("SELECT epoch, value FROM method_metrics WHERE key = ? AND name = 'discrepancy' "
                                        "ORDER BY epoch", (key,)):
            disc.setdefault(name, {}).setdefault(epoch, []).append(value)
    con.close()
    return acc, disc


def paired(acc, a, b):
    seeds = sorted(set(acc.get(a, {})) & set(acc.get(b, {})))
    return [acc[a][s] - acc[b][s] for s in seeds]


def fmt_diff(d):
    if not d:
        return "no paired seeds"
    m, _, half = interval(d)
    if math.isnan(half):
        return f"{m:+.2f} (one seed)"
    return f"{m:+.2f} [{m - half:+.2f}, {m + half:+.2f}] over {len(d)} seeds"


def verdict_above(d):
    if len(d) < 2:
        return "undecided (fewer than 2 paired seeds)"
    m, _, half = interval(d)
    if m - half > 0:
        return "reproduces"
    if m > 0:
        return "at (positive mean, the interval holds zero)"
    return "does not reproduce"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    db, out = sys.argv[1], sys.argv[2]
    if not os.path.exists(db):
        sys.exit(f"report.py: {db}: no such results store (run papers/saito2018/run.sh first)")
    acc, disc = load(db)
    order = [m for m in ["source-only", "dann", "mcd, n = 2", "mcd, n = 3", "mcd, n = 4"] if m in acc]
    if not order:
        sys.exit(f"report.py: {db}: no finished run of suite {SUITE}")
    lines = ["# Saito et al. 2018 (MCD) on MNIST -> MNIST-M: Ferry's runs", "",
             "Target-test accuracy (%) of the model each run ends with; the paper's column is SVHN -> MNIST "
             "(Table 1), another digit shift (expected.md).", "",
             "| method | seeds | mean ± sd | 95% interval | per seed | paper (SVHN→MNIST) |", "|---|---|---|---|---|---|"]
    for m in order:
        xs = [acc[m][s] for s in sorted(acc[m])]
        mean, sd, half = interval(xs)
        iv = "—" if math.isnan(half) else f"[{mean - half:.2f}, {mean + half:.2f}]"
        sds = "—" if math.isnan(sd) else f"{sd:.2f}"
        per = ", ".join(f"{acc[m][s]:.2f}" for s in sorted(acc[m]))
        lines.append(f"| {m} | {len(xs)} | {mean:.2f} ± {sds} | {iv} | {per} | {PAPER[m]} |")

    d_src, d_dann = paired(acc, "mcd, n = 4", "source-only"), paired(acc, "mcd, n = 4", "dann")
    d_n = paired(acc, "mcd, n = 4", "mcd, n = 2")
    means = [statistics.fmean(acc[m].values()) for m in ["mcd, n = 2", "mcd, n = 3", "mcd, n = 4"] if m in acc]
    rising = len(means) == 3 and means[0] < means[1] < means[2]
    if len(d_n) < 2:
        v3 = "undecided (fewer than 2 paired seeds)"
    elif rising:
        v3 = "reproduces"
    elif d_n and statistics.fmean(d_n) > 0:
        v3 = "partly (n = 4 above n = 2, the means not rising at every step)"
    else:
        v3 = "does not reproduce"
    lines += ["", "## The paper's claims", "",
              "| claim | paper | Ferry (paired over seeds, 95% t-interval) | verdict |", "|---|---|---|---|",
              f"| MCD (n = 4) beats source-only | +29.1 | {fmt_diff(d_src)} | {verdict_above(d_src)} |",
              f"| MCD (n = 4) beats DANN | +25.1 | {fmt_diff(d_dann)} | {verdict_above(d_dann)} |",
              f"| accuracy rises with n (2 < 3 < 4) | 94.2 < 95.9 < 96.2 | means "
              + " < ".join(f"{x:.2f}" for x in means) + f"; n = 4 − n = 2: {fmt_diff(d_n)} | {v3} |"]
    if disc:
        epochs = sorted({e for m in disc for e in disc[m]})
        lines += ["", "## MCD's discrepancy d(x_t) before each step C, per epoch (mean over seeds)", "",
                  "| n | " + " | ".join(f"epoch {e}" for e in epochs) + " |", "|---|" + "---|" * len(epochs)]
        for m in sorted(disc):
            cells = [f"{statistics.fmean(disc[m][e]):.4f}" if e in disc[m] else "—" for e in epochs]
            lines.append(f"| {m[len('mcd, n = '):]} | " + " | ".join(cells) + " |")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "report.md")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)
    print("\n".join(lines))
    print(f"\nreport: {path}")


if __name__ == "__main__":
    main()
