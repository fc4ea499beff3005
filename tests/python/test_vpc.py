#!/usr/bin/python3
"""`cartpk vpc` end to end, against an independent NumPy re-implementation of the visual predictive check.

Usage: test_vpc.py <path to cartpk>

A stein2019 population of 60 subjects with an LLOQ (popfit_population.py) is fitted by `cartpk popfit` (a short
SAEM), then checked by `cartpk vpc`:
- (a) the observed 5/50/95 % percentiles per bin equal NumPy's (type 7, BLQ ranked lowest, NaN when a percentile
  lands on a BLQ value) on the data with the file's bin edges, exactly; the automatic edges follow the documented rule;
- (b) the medians of the simulated percentiles agree with a NumPy simulation of the same fitted population (its
  own η ~ N(0, Ω), the stein2019 closed form of popfit_population.stein2019, log-normal residual error, censoring
  at the LLOQ) within Monte Carlo error;
- (c) the observed fraction BLQ is exact; the simulated fraction's median is close to NumPy's;
- (d) the observed median lies inside the simulated 95 % interval in most bins (the model is the true one);
- (e) the same numbers with --threads 1 and 2;
- pcVPC on data without BLQ: the prediction-corrected observed percentiles equal NumPy's;
- (f) bad input exits 2 naming the option or file, and writes nothing.
Prints "N passed, M failed".
"""
import csv
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402
import popfit_population as pp  # noqa: E402

check = cli_checks.Checks()
LLOQ = 40.0
REPLICATES = 200
PERCENTILES = (0.05, 0.5, 0.95)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def run(exe, args, expect=0):
    r = subprocess.run([exe] + args, capture_output=True, text=True, timeout=900)
    if r.returncode != expect:
        print(r.stdout, r.stderr)
    return r


def read_records(path):
    rows = list(csv.DictReader(open(path)))
    ids = np.array([int(r["ID"]) for r in rows])
    t = np.array([float(r["TIME"]) for r in rows])
    dv = np.array([float(r["DV"]) for r in rows])
    cens = np.array([r["CENS"] == "1" for r in rows])
    return ids, t, dv, cens


def bin_index(edges, t):
    """The documented rule: lower <= t < upper, the last bin also t = upper; -1 outside."""
    b = np.searchsorted(edges, t, side="right") - 1
    b[t == edges[-1]] = len(edges) - 2
    b[(t < edges[0]) | (t > edges[-1])] = -1
    return b


def censored_percentiles(values, blq):
    """Type 7 with BLQ values ranked lowest; NaN where the percentile is BLQ or there are no values."""
    if len(values) == 0:
        return np.full(3, np.nan)
    x = np.where(blq, -np.inf, values)
    with np.errstate(invalid="ignore"):
        q = np.quantile(x, PERCENTILES)
    return np.where(np.isfinite(q), q, np.nan)


def auto_edges(t):
    """min(max(3, ceil(n/40)), 15) count-balanced bins, edges halfway between distinct times."""
    u, counts = np.unique(t, return_counts=True)
    cum = np.cumsum(counts)
    n, m = len(t), len(u)
    k = min(min(max(3, math.ceil(n / 40)), 15), m)
    edges, previous = [u[0]], 0
    for j in range(1, k):
        target = j * n / k
        best = previous + int(np.argmin(np.abs(cum[previous:m - 1] - target)))
        edge = 0.5 * (u[best] + u[best + 1])
        if edge > edges[-1]:
            edges.append(edge)
            previous = best + 1
    edges.append(u[-1])
    return np.array(edges)


def numpy_vpc(fit, ids, t, edges, replicates, seed):
    """The same study simulated from the fitted population by NumPy: per replicate and bin the three percentiles
    (-inf where BLQ) and the fraction BLQ."""
    g = fit["popfit/population"]
    names = [text(x) for x in g["parameter_names"][()]]
    typical = dict(zip(names, g["typical"][()]))
    effects = [text(x) for x in g["random_effects"][()]]
    omega = g["omega"][()]
    sigma = fit["popfit/error_values"][()][0, 0]
    rng = np.random.default_rng(seed)
    subjects = np.unique(ids)
    b = bin_index(edges, t)
    n_bins = len(edges) - 1
    stats = np.full((replicates, n_bins, 4), np.nan)
    for r in range(replicates):
        eta = rng.multivariate_normal(np.zeros(len(effects)), omega, size=len(subjects))
        y = np.empty(len(t))
        for i, sid in enumerate(subjects):
            p = dict(typical)
            for k, name in enumerate(effects):
                p[name] = pp.from_scale(name, pp.to_scale(name, typical[name]) + eta[i, k])
            rows = np.nonzero(ids == sid)[0]
            f = np.array([pp.stein2019(p, t[j]) for j in rows])
            y[rows] = f * np.exp(sigma * rng.standard_normal(len(rows)))
        blq = y < LLOQ
        for k in range(n_bins):
            sel = b == k
            x = np.where(blq[sel], -np.inf, y[sel])
            with np.errstate(invalid="ignore"):
                q = np.quantile(x, PERCENTILES)
            stats[r, k, :3] = np.where(np.isnan(q), -np.inf, q)
            stats[r, k, 3] = blq[sel].mean()
    return stats


def across(values, p):
    with np.errstate(invalid="ignore"):
        q = np.quantile(values, p)
    return q if np.isfinite(q) else np.nan


def main():
    exe = cli_checks.binary_argument(__file__)
    if exe is None:
        return 2
    work = tempfile.mkdtemp(prefix="cartpk_vpc_")
    data = os.path.join(work, "stein60.csv")
    pp.simulate_stein(data, 60, seed=1960, lloq=LLOQ)
    fit = os.path.join(work, "fit.h5")
    r = run(exe, ["popfit", "--quiet", "--model", "stein2019", "--data", data, "--saem-iterations", "100,50",
                  "--is-samples", "100", "--threads", "2", "--out", fit])
    check(r.returncode == 0, "popfit (SAEM, short) runs")
    if r.returncode != 0:
        return check.summary()
    outs = {}
    for threads in ("2", "1"):
        outs[threads] = os.path.join(work, f"vpc{threads}.h5")
        r = run(exe, ["vpc", "--fit", fit, "--data", data, "--replicates", str(REPLICATES), "--seed", "11",
                      "--threads", threads, "--out", outs[threads]])
        check(r.returncode == 0, f"vpc --threads {threads} runs")
        if r.returncode != 0:
            return check.summary()
    print("\n".join("  " + line for line in r.stdout.splitlines()[:6]))
    same, what = cli_checks.identical_numbers(cli_checks.h5_numbers(outs["1"]), cli_checks.h5_numbers(outs["2"]))
    check(same, f"(e) identical numbers with --threads 1 and 2 ({what})")

    v = h5py.File(outs["2"], "r")["vpc"]
    g = v["qpcr"]
    edges = v["bin_edges"][()]
    ids, t, dv, cens = read_records(data)
    check(np.array_equal(edges, auto_edges(t)), f"automatic bin edges follow the rule ({len(edges) - 1} bins)")
    check(cens.sum() > 0, f"the data have BLQ records ({cens.sum()} of {len(cens)})")
    b = bin_index(edges, t)
    n_bins = len(edges) - 1

    # (a), (c) observed: exact.
    obs = np.array([censored_percentiles(dv[b == k], cens[b == k]) for k in range(n_bins)])
    check(np.array_equal(obs, g["observed"][()], equal_nan=True), "(a) observed 5/50/95 % percentiles equal NumPy's exactly")
    check(np.isnan(obs).any(), "(a) some observed percentiles are BLQ (NaN)")
    blq_obs = np.array([cens[b == k].mean() for k in range(n_bins)])
    check(np.array_equal(blq_obs, g["observed_blq"][()]), "(c) observed fraction BLQ exact")
    check(np.array_equal(g["n_observed"][()], [np.sum(b == k) for k in range(n_bins)])
          and np.array_equal(g["n_blq"][()], [np.sum(cens[b == k]) for k in range(n_bins)]), "records and BLQ counted per bin")

    # (b), (c) simulated: within Monte Carlo error of an independent simulation.
    f = h5py.File(fit, "r")
    stats = numpy_vpc(f, ids, t, edges, REPLICATES, seed=5)
    worst, mismatched_nan, compared = 0.0, 0, 0
    for q, name in enumerate(("simulated_p05", "simulated_p50", "simulated_p95")):
        sim = g[name][()]
        for k in range(n_bins):
            ref = across(stats[:, k, q], 0.5)
            got = sim[k, 1]
            if np.isnan(ref) or np.isnan(got):
                mismatched_nan += np.isnan(ref) != np.isnan(got)
                continue
            logs = np.log(stats[np.isfinite(stats[:, k, q]), k, q])
            se = 1.2533 * np.std(logs) / math.sqrt(len(logs)) * math.sqrt(2)  # two independent medians
            z = abs(math.log(got) - math.log(ref)) / max(se, 1e-12)
            worst = max(worst, z)
            compared += 1
    check(compared > 2 * n_bins and worst < 4.5 and mismatched_nan <= 2,
          f"(b) simulated percentile medians agree with NumPy's: {compared} compared, worst {worst:.2f} SE, "
          f"{mismatched_nan} differ in being BLQ")
    blq_sim = g["simulated_blq"][()]
    worst_blq = 0.0
    for k in range(n_bins):
        ref = np.median(stats[:, k, 3])
        se = 1.2533 * np.std(stats[:, k, 3]) / math.sqrt(REPLICATES) * math.sqrt(2)
        worst_blq = max(worst_blq, abs(blq_sim[k, 1] - ref) - 4 * se)
    n_per_bin = np.array([np.sum(b == k) for k in range(n_bins)])
    check(worst_blq <= 1.0 / n_per_bin.min() + 1e-12,
          f"(c) simulated fraction BLQ close to NumPy's (worst excess {worst_blq:.3f} beyond 4 SE, one record "
          f"{1.0 / n_per_bin.min():.3f})")

    # (d) a well-specified model: the observed median inside the simulated 95 % interval in most bins.
    med = g["simulated_p50"][()]
    inside = 0
    for k in range(n_bins):
        o, lo, hi = g["observed"][k, 1], med[k, 0], med[k, 2]
        if np.isnan(o):
            inside += bool(np.isnan(lo))  # a BLQ observed median is consistent with a BLQ lower limit
        else:
            inside += (np.isnan(lo) or lo <= o) and (np.isnan(hi) or o <= hi)
    check(inside >= 0.8 * n_bins, f"(d) observed median inside the simulated 95 % interval in {inside} of {n_bins} bins")
    blq_inside = sum(blq_sim[k, 0] <= blq_obs[k] <= blq_sim[k, 2] for k in range(n_bins))
    check(blq_inside >= 0.8 * n_bins, f"(d) observed fraction BLQ inside its simulated interval in {blq_inside} of {n_bins} bins")

    # pcVPC on data without BLQ records, with given edges: observed prediction-corrected percentiles exact to rounding.
    clean = os.path.join(work, "stein60_clean.csv")
    pp.simulate_stein(clean, 60, seed=1961)
    pc = os.path.join(work, "pcvpc.h5")
    given = "0.5,4,12,25,60,200,800"
    r = run(exe, ["vpc", "--fit", fit, "--data", clean, "--replicates", "50", "--pred-corrected", "--bins", given,
                  "--threads", "2", "--out", pc, "--quiet"])
    check(r.returncode == 0, "vpc --pred-corrected --bins e1,... runs")
    if r.returncode == 0:
        p = h5py.File(pc, "r")["vpc"]
        pc_edges = np.array([float(x) for x in given.split(",")])
        check(np.array_equal(p["bin_edges"][()], pc_edges) and text(p.attrs["binning"]) == "given", "given edges kept")
        g2 = f["popfit/population"]
        typical = dict(zip([text(x) for x in g2["parameter_names"][()]], g2["typical"][()]))
        ids2, t2, dv2, _ = read_records(clean)
        pred = np.array([pp.stein2019(typical, x) for x in t2])
        b2 = bin_index(pc_edges, t2)
        ref = []
        for k in range(len(pc_edges) - 1):
            sel = b2 == k
            pcdv = dv2[sel] * np.median(pred[sel]) / pred[sel]
            ref.append(np.quantile(pcdv, PERCENTILES))
        got = p["qpcr/observed"][()]
        rel = np.max(np.abs(got / np.array(ref) - 1))
        check(rel < 1e-9, f"pcVPC: observed prediction-corrected percentiles equal NumPy's (worst relative {rel:.1e})")
        check(np.all(np.isfinite(p["qpcr/simulated_p50"][()])), "pcVPC: simulated intervals finite")

    # (f) bad input: exit 2, the option or file named, nothing written.
    bad_out = os.path.join(work, "bad.h5")
    cases = [
        ("--replicates 0", ["--fit", fit, "--data", data, "--replicates", "0"], ["--replicates"]),
        ("--fit not a popfit result (a vpc result)", ["--fit", outs["1"], "--data", data, "--replicates", "5"],
         ["--fit", outs["1"], "popfit"]),
        ("--fit not HDF5", ["--fit", data, "--data", data, "--replicates", "5"], [data]),
        ("--pred-corrected with BLQ data", ["--fit", fit, "--data", data, "--replicates", "5", "--pred-corrected"],
         ["--pred-corrected", "BLQ"]),
        ("--bins in an unknown format", ["--fit", fit, "--data", data, "--replicates", "5", "--bins", "1;10;100"],
         ["--bins"]),
        ("--bins not increasing", ["--fit", fit, "--data", data, "--replicates", "5", "--bins", "1,100,10"],
         ["--bins", "increase"]),
        ("--data missing", ["--fit", fit, "--data", os.path.join(work, "none.csv"), "--replicates", "5"], ["none.csv"]),
    ]
    for name, args, require in cases:
        r = run(exe, ["vpc", "--quiet", "--out", bad_out] + args, expect=2)
        cli_checks.check_bad_input(check, "(f) " + name, r, require, bad_out)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
