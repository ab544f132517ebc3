#!/usr/bin/env python3
"""Report of papers/yosinski2014: the table (mean ± sd over seeds per treatment and n), the figure
(accuracy against n, four curves and the base, as PNG and SVG through gnuplot) and, for each of the
paper's findings, whether Ferry's measurement reproduces it, decided from the numbers below.

usage: report.py RESULTS.csv REPORT_DIR"""
import csv
import math
import os
import statistics
import subprocess
import sys

TREATMENTS = ["BnB", "BnB+", "AnB", "AnB+"]
NAMES = {"fashion": "Fashion-MNIST", "mnist": "MNIST"}
# two-sided 95% Student t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def mean_sd(xs):
    m = statistics.fmean(xs)
    return m, (statistics.stdev(xs) if len(xs) > 1 else float("nan"))


def interval(xs):
    """Mean and 95% t-interval of paired differences (nan half-width with one seed)."""
    m, sd = mean_sd(xs)
    k = len(xs)
    half = T95.get(k - 1, 1.96) * sd / math.sqrt(k) if k > 1 else float("nan")
    return m, m - half, m + half


def fmt_iv(iv):
    m, lo, hi = iv
    if math.isnan(lo):
        return f"{m:+.2f} (one seed, no interval)"
    return f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def load(path):
    runs = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            runs[(r["dataset"], int(r["seed"]), r["treatment"], int(r["n"]))] = r
    return runs


def acc(runs, ds, seed, tr, n):
    r = runs.get((ds, seed, tr, n))
    return float(r["test_accuracy"]) if r else None


def paired(runs, ds, seeds, f):
    """Per seed f(get) where get(tr, n) is that seed's accuracy; seeds lacking a run are left out."""
    out = []
    for s in seeds:
        def get(tr, n):
            v = acc(runs, ds, s, tr, n)
            if v is None:
                raise KeyError
            return v

        try:
            out.append(f(get))
        except KeyError:
            pass
    return out


def verdict(ok, partial=False):
    return "**reproduces**" if ok else ("**partly**" if partial else "**does not reproduce**")


# Finding 1 is "partly" when the middle drop holds but BnB+ does not recover it (a recovery without a
# drop proves nothing); finding 2 when one of its two parts holds.


def findings(runs, ds, seeds, L):
    ns = list(range(1, L))
    middle = [n for n in ns if 1 < n < L - 1]
    ends = [1, L - 1]
    out = []

    # 1. BnB: fragile co-adaptation in the middle layers, which fine-tuning (BnB+) removes
    drop = {n: interval(paired(runs, ds, seeds, lambda g, n=n: g("baseB", 0) - g("BnB", n))) for n in ns}
    dropp = {n: interval(paired(runs, ds, seeds, lambda g, n=n: g("baseB", 0) - g("BnB+", n))) for n in ns}
    worst = max(middle, key=lambda n: drop[n][0])
    worst_end = max(ends, key=lambda n: drop[n][0])
    ok = drop[worst][0] > drop[worst_end][0] and drop[worst][1] > 0
    recovered = all(dropp[n][1] <= 0 for n in ns)  # BnB+ never significantly below the base
    lines = [f"base B − BnB(n), points (95% interval over seeds): "
             + "; ".join(f"n={n}: {fmt_iv(drop[n])}" for n in ns) + ".",
             (f"The largest drop in the middle (n={worst}, {drop[worst][0]:+.2f}) is "
              f"{'larger' if drop[worst][0] > drop[worst_end][0] else 'not larger'} than at the ends "
              f"(largest n={worst_end}, {drop[worst_end][0]:+.2f}) and its interval "
              f"{'excludes' if drop[worst][1] > 0 else 'includes'} 0."
              if drop[worst][0] > 0 else
              f"BnB is at or above base B at every n: no layer shows a drop (the middle's largest, n={worst}, "
              f"is {drop[worst][0]:+.2f}; a negative drop is BnB above the base)."),
             f"BnB+ (fine-tuned): base B − BnB+(n) "
             + "; ".join(f"n={n}: {fmt_iv(dropp[n])}" for n in ns)
             + f" — {'never' if recovered else 'sometimes'} significantly below the base."]
    out.append(("BnB drops in the middle layers (fragile co-adaptation); fine-tuning (BnB+) recovers it",
                verdict(ok and recovered, ok), lines))

    # 2. AnB: performance falls with n, more than BnB's at the top (specificity)
    fall = interval(paired(runs, ds, seeds, lambda g: g("AnB", 1) - g("AnB", L - 1)))
    spec = {n: interval(paired(runs, ds, seeds, lambda g, n=n: g("BnB", n) - g("AnB", n))) for n in ns}
    means = [statistics.fmean(paired(runs, ds, seeds, lambda g, n=n: g("AnB", n))) for n in ns]
    steps_down = sum(b < a for a, b in zip(means, means[1:]))
    ok_fall = fall[1] > 0
    ok_spec = spec[L - 1][1] > 0 and spec[L - 1][0] > spec[1][0]
    lines = [f"AnB(n) means: " + ", ".join(f"n={n}: {m:.2f}" for n, m in zip(ns, means))
             + f" ({steps_down} of {len(ns) - 1} steps down).",
             f"AnB(1) − AnB({L - 1}): {fmt_iv(fall)}.",
             f"Specificity BnB(n) − AnB(n): " + "; ".join(f"n={n}: {fmt_iv(spec[n])}" for n in ns) + "."]
    out.append(("AnB falls with n: the top layers are specific to A (specificity, plus co-adaptation)",
                verdict(ok_fall and ok_spec, ok_fall or ok_spec), lines))

    # 3. AnB+: at or above the base network (transfer plus fine-tuning generalises better)
    gain = {n: interval(paired(runs, ds, seeds, lambda g, n=n: g("AnB+", n) - g("baseB", 0))) for n in ns}
    avg = interval(paired(runs, ds, seeds, lambda g: statistics.fmean(g("AnB+", n) for n in ns) - g("baseB", 0)))
    vs_self = interval(paired(runs, ds, seeds,
                              lambda g: statistics.fmean(g("AnB+", n) - g("BnB+", n) for n in ns)))
    at_or_above = not (avg[2] < 0)
    above = avg[1] > 0
    lines = [f"AnB+(n) − base B: " + "; ".join(f"n={n}: {fmt_iv(gain[n])}" for n in ns) + ".",
             f"Averaged over n = 1..{L - 1}: {fmt_iv(avg)} "
             f"({'above the base' if above else 'at the base: the interval includes 0' if at_or_above else 'below the base'}"
             f"; the paper: +1.6 over n = 1..7). AnB+ − BnB+ averaged over n: {fmt_iv(vs_self)} (the paper: +1.4)."]
    out.append(("AnB+ at or above the base (transferred features plus fine-tuning help generalisation)",
                verdict(at_or_above), lines))
    return out


def write_plot(rdir, ds, rows, base, L):
    dat = f"accuracy-{ds}.dat"
    with open(os.path.join(rdir, dat), "w") as f:
        f.write("# n " + " ".join(f"{t}_mean {t}_sd" for t in TREATMENTS) + " baseB_mean baseB_sd\n")
        for n in range(1, L):
            f.write(f"{n} " + " ".join(f"{rows[(t, n)][0]:.4f} {nz(rows[(t, n)][1]):.4f}" for t in TREATMENTS)
                    + f" {base[0]:.4f} {nz(base[1]):.4f}\n")
    style = {"BnB": ("BnB (frozen)", "#1f77b4", 7, -0.09), "BnB+": ("BnB+ (fine-tuned)", "#1f77b4", 6, -0.03),
             "AnB": ("AnB (frozen)", "#d62728", 5, 0.03), "AnB+": ("AnB+ (fine-tuned)", "#d62728", 4, 0.09)}
    plots = []
    for k, t in enumerate(TREATMENTS):
        title, colour, pt, dx = style[t]
        dash = "" if t.endswith("+") else " dt 2"
        plots.append(f"'{dat}' using ($1{dx:+.2f}):{2 + 2 * k}:{3 + 2 * k} with yerrorlines lw 2{dash} "
                     f"lc rgb '{colour}' pt {pt} ps 1.3 title '{title}'")
    plots.append(f"'-' using 1:2:3 with yerrorbars lc rgb 'black' pt 7 ps 1.6 lw 2 title 'base B'")
    plots.append(f"{base[0]:.4f} with lines dt 3 lc rgb 'black' notitle")
    for kind, term in (("png", "pngcairo size 1000,650"), ("svg", "svg size 1000,650 dynamic")):
        gp = f"accuracy-{ds}-{kind}.gp"
        with open(os.path.join(rdir, gp), "w") as f:
            f.write(f"set terminal {term}\nset output 'accuracy-{ds}.{kind}'\n"
                    f"set title '{NAMES.get(ds, ds)} halves: accuracy on B after copying the first n layers "
                    f"(mean and sd over seeds)' noenhanced\n"
                    f"set xlabel 'n: layers copied (frozen, or fine-tuned: +)'\nset ylabel 'test accuracy on B (%)'\n"
                    f"set xrange [-0.4:{L - 1 + 0.4}]\nset xtics 0,1,{L - 1}\nset grid\nset key bottom left noenhanced\n"
                    "plot " + ", \\\n     ".join(plots) + f"\n0 {base[0]:.4f} {nz(base[1]):.4f}\ne\n")
        r = subprocess.run(["gnuplot", gp], cwd=rdir, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"report.py: gnuplot {gp}: {r.stderr.strip()}")


def nz(x):
    return 0.0 if math.isnan(x) else x


def pm(ms):
    m, sd = ms
    return f"{m:.2f}" if math.isnan(sd) else f"{m:.2f} ± {sd:.2f}"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    runs = load(sys.argv[1])
    rdir = sys.argv[2]
    os.makedirs(rdir, exist_ok=True)
    datasets = [d for d in ("fashion", "mnist") if any(k[0] == d for k in runs)]
    md = ["# Yosinski et al. 2014 on Ferry: how transferable are LeNet's layers between halves of a data set?",
          "",
          "Generated by `papers/yosinski2014/report.py` from `results.csv` (`papers/yosinski2014/run.sh`);",
          "the runs are described in `config.sh`, the paper's findings in `expected.md`.",
          "",
          "Halves: A = classes 0-4, B = classes 5-9 (`ferry train --data 'fashion{5,6,7,8,9}'`). LeNet's",
          "layers in forward order: 1 conv1 (`features.0`), 2 conv2 (`features.3`), 3 fc1 (`classifier.0`),",
          "4 fc2 (`classifier.2`), 5 the classifier (`classifier.4`). AnB: the first n layers copied from base",
          "A (`--init baseA --transfer-layers n`) and frozen (`--freeze-layers n`), the rest freshly",
          "initialised, trained on B; BnB the same from base B; a + fine-tunes every layer. Test accuracy (%)",
          "on B's test half after the last epoch, mean ± sd over seeds.",
          ""]
    for ds in datasets:
        seeds = sorted({k[1] for k in runs if k[0] == ds})
        L = 1 + max(k[3] for k in runs if k[0] == ds)
        ns = range(1, L)
        complete = [s for s in seeds if all((ds, s, t, n) in runs for t in TREATMENTS for n in ns)
                    and (ds, s, "baseB", 0) in runs]
        rows = {}
        for t in TREATMENTS:
            for n in ns:
                xs = [acc(runs, ds, s, t, n) for s in complete]
                rows[(t, n)] = mean_sd(xs) if xs else (float("nan"), float("nan"))
        base = mean_sd([acc(runs, ds, s, "baseB", 0) for s in complete])
        base_a = [acc(runs, ds, s, "baseA", 0) for s in complete if (ds, s, "baseA", 0) in runs]
        budget = {(runs[k]["epochs"], runs[k].get("iters_per_epoch", "0")) for k in runs if k[0] == ds}
        budget = "; ".join(f"{e} epoch(s)" + (f" of {i} steps" if i != "0" else " (full passes)") for e, i in sorted(budget))
        secs = sum(int(runs[k]["seconds"]) for k in runs if k[0] == ds)
        md += [f"## {NAMES.get(ds, ds)}", "",
               f"Seeds {', '.join(map(str, complete))} ({len(complete)} complete"
               + (f"; incomplete: {', '.join(str(s) for s in seeds if s not in complete)}" if len(complete) < len(seeds) else "")
               + f"), {budget} per run, batch 64, {len([k for k in runs if k[0] == ds])} runs, "
               f"{secs / 60:.0f} minutes of training on 2 CPU threads.", "",
               "| n | BnB | BnB+ | AnB | AnB+ |", "|---|---|---|---|---|",
               f"| 0 (base B) | {pm(base)} | {pm(base)} | {pm(base)} | {pm(base)} |"]
        md += [f"| {n} | " + " | ".join(pm(rows[(t, n)]) for t in TREATMENTS) + " |" for n in ns]
        md += ["", f"Base A on A's test half: {pm(mean_sd(base_a))}.", "",
               f"![accuracy against n](accuracy-{ds}.png) (also `accuracy-{ds}.svg`)", "",
               "### The paper's findings, measured", ""]
        if len(complete) < 2:
            md += ["Fewer than two complete seeds: no intervals, no verdicts.", ""]
        else:
            for k, (claim, v, lines) in enumerate(findings(runs, ds, complete, L), 1):
                md += [f"{k}. {claim}: {v}.", ""] + [f"   {x}" for x in lines] + [""]
        write_plot(rdir, ds, rows, base, L)
    md += ["Verdicts: a drop or gain counts when its 95% t-interval over seeds (paired by seed) excludes 0;",
           "\"partly\": one of a finding's two parts holds. Ferry's LeNet has 5 layers where the paper's",
           "network has 8, so its \"middle\" is n = 2..3 and its top is n = 4; its halves have 5 classes",
           "of 28×28 grey images where the paper's have 500 ImageNet classes each.", ""]
    with open(os.path.join(rdir, "report.md"), "w") as f:
        f.write("\n".join(md))
    print(f"wrote {os.path.join(rdir, 'report.md')}")


if __name__ == "__main__":
    main()
