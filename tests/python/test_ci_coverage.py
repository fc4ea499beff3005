#!/usr/bin/python3
"""Honest profile intervals on sparse data: coverage of the 95 % profile-likelihood intervals.

Usage: test_ci_coverage.py <path to cartpk>

A simulated stein2019 cohort (48 patients, 12 qPCR samples each, log-normal residual SD 0.56, LLOQ 50, individual
parameters log-normal around the published typical values) is fitted with the residual SD estimated and 5
kinetic estimates profiled (240 intervals). With the default calibration (auto: the small-sample F calibration
when a residual SD is estimated) the intervals must cover the true values 90-99 % of the time; the asymptotic
chi-square calibration covers less (with 7 estimates from 12 records the ML residual SD is biased low). The
F threshold written to the file equals n ln(1 + t_{0.975,nu}^2 / nu), nu = n - p, computed here with scipy.
Prints "N passed, M failed".
"""
import csv
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from scipy import stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402

TYPICAL = dict(foldx=3900.0, tmax=9.3, cmax=24000.0, alpha=0.16, fb=0.0079, beta=0.0032)
TIMES = [1, 4, 7, 9, 11, 14, 21, 28, 56, 90, 180, 365]
PROFILED = ["tmax", "cmax", "alpha", "beta", "foldx"]
passed = failed = 0


def check(ok, msg):
    global passed, failed
    passed, failed = passed + bool(ok), failed + (not ok)
    print(("  ok    " if ok else "  FAIL  ") + msg)


def stein(t, foldx, tmax, cmax, alpha, fb, beta):  # spec M1, written here
    t = np.asarray(t, dtype=float)
    rho = np.log(foldx) / tmax
    return np.where(t < tmax, cmax / foldx * np.exp(rho * t),
                    (1 - fb) * cmax * np.exp(-alpha * (t - tmax)) + fb * cmax * np.exp(-beta * (t - tmax)))


def cohort(path, seed=7, n=48):
    rng = np.random.default_rng(seed)
    rows, truth = [], {}
    for s in range(1, n + 1):
        p = {k: v * np.exp(rng.normal(0.0, 0.3)) for k, v in TYPICAL.items()}
        if p["alpha"] <= p["beta"]:
            p["alpha"] = 3 * p["beta"]
        truth[str(s)] = p
        rows.append([s, 0, 1, "1e8", ".", ".", 0, 1, 70])
        for t, q in zip(TIMES, stein(TIMES, **p)):
            dv = q * np.exp(rng.normal(0.0, 0.56))
            rows.append([s, t, 0, ".", f"{50.0 if dv < 50 else dv:.8g}", 1, int(dv < 50), 0, 70])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ID", "TIME", "EVID", "AMT", "DV", "DVID", "CENS", "MDV", "WT"])
        w.writerows(rows)
    return truth


def coverage(table, truth):
    hit = total = 0
    for r in csv.DictReader(open(table)):
        for k in PROFILED:
            lo = float(r[f"ci95_lower_{k}"]) if r[f"ci95_lower_{k}"] else -np.inf  # empty: not reached in the box
            hi = float(r[f"ci95_upper_{k}"]) if r[f"ci95_upper_{k}"] else np.inf
            total += 1
            hit += lo <= truth[r["ID"]][k] <= hi
    return hit, total


def main():
    exe = cli_checks.binary_argument(__file__)
    if exe is None:
        return 2
    with tempfile.TemporaryDirectory(prefix="ci_coverage_") as tmp:
        data = os.path.join(tmp, "data.csv")
        truth = cohort(data)
        results = {}
        for calibration in ("auto", "chi2"):
            h5, table = os.path.join(tmp, f"{calibration}.h5"), os.path.join(tmp, f"{calibration}.csv")
            r = subprocess.run([exe, "fit", "--model", "stein2019", "--data", data, "--dvid", "1=qpcr",
                                "--profile", ",".join(PROFILED), "--ci-calibration", calibration, "--quiet",
                                "--out", h5, "--table", table], capture_output=True, text=True, timeout=600)
            check(r.returncode in (0, 3), f"fit --ci-calibration {calibration} ran (exit {r.returncode})")
            results[calibration] = coverage(table, truth)
            with h5py.File(h5, "r") as f:
                results[calibration + "_name"] = f["/fit"].attrs["ci_calibration"]
                g = f["/fit/subjects/1"]
                n, p = int(g.attrs["n_obs"]), len(g["names"][:])
                results[calibration + "_threshold"] = (g["profiles/tmax"].attrs["threshold"], n, p)
        hit, total = results["auto"]
        check(total >= 200 and 0.90 <= hit / total <= 0.99,
              f"default (small-sample F) calibration: {hit}/{total} = {hit / total:.3f} of the intervals cover the truth (90-99 %)")
        chi_hit, chi_total = results["chi2"]
        check(chi_hit / chi_total < hit / total,
              f"chi-square calibration covers less: {chi_hit}/{chi_total} = {chi_hit / chi_total:.3f}")
        name = results["auto_name"]
        check((name.decode() if isinstance(name, bytes) else name) == "f_small_sample", "the file says which calibration")
        threshold, n, p = results["auto_threshold"]
        nu = n - p
        expected = n * np.log1p(stats.t.ppf(0.975, nu) ** 2 / nu)
        check(abs(threshold - expected) < 1e-9 * expected,
              f"F threshold {threshold:.6f} = n ln(1 + t^2/nu) with n = {n}, p = {p} ({expected:.6f})")
        chi_threshold = results["chi2_threshold"][0]
        check(abs(chi_threshold - stats.chi2.ppf(0.95, 1)) < 1e-12, f"chi-square threshold {chi_threshold:.6f}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
