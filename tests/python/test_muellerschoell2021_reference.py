#!/usr/bin/python3
"""cartpk's muellerschoell2021 against an independent SciPy solution of the spec's equations (P3).

Usage: test_muellerschoell2021_reference.py <path to cartpk>

1. The reference itself: LSODA against Radau (with the exact Jacobian), and, without tumour (tum0 = 0, where the
   CAR-T chain is linear), against the matrix exponential of the spec's rate matrix.
2. cartpk (`simulate --states --table`, --rtol 1e-10 --atol-scale 1e-16) against the reference at 23 times from
   day 0 to 365, every state and observable: <= 1e-5 relative wherever the reference exceeds FLOOR, and an
   absolute difference <= 1e-12 below it. Cases: the defaults (reference class), the preset low_expansion,
   prior_ASCT = 1, a CD4/CD8 ratio of 3 with the largest tumour of the cohort, no tumour, and two random
   parameter sets. The defaults are also run at cartpk's default tolerances (1e-5 relative above 1e-5).
3. `cartpk vpop --model muellerschoell2021 --n 200` with the published IIV (omega^2 of Vmax1_ref and Vmax5_TCM)
   runs, every patient solved, and the spread of cart_cmax follows the IIV of the expansion rate; the example
   scenarios (examples/scenarios_muellerschoell2021.toml: classes and covariates) order as the paper says.
Prints "N passed, M failed"; exit status 1 on any failure.

FLOOR: 1e-7 in each observable's unit. For the CAR-T phenotypes 1e-7 cells/µL is half a cell in the whole
circulation (5 L = 5e6 µL): below it a level is not a cell count any assay or biology can see, and after the
contraction (ke1..ke3 = 0.0104/day) the states fall to ~1e-17 cells/µL by day 365, where only an absolute
tolerance can be asked for. For the tumour 1e-7 mL is ~100 cells, far below the ~1 mL PET resolution.
"""
import csv
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy.linalg import expm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402
import muellerschoell2021_reference as ms  # noqa: E402

MODEL = "muellerschoell2021"
TIMES = [0, 0.5, 1, 2, 3, 5, 7, 10, 14, 17, 21, 28, 35, 42, 56, 70, 90, 120, 150, 180, 240, 300, 365]
CARTPK_RTOL = 1e-10
CARTPK_ATOL_SCALE = 1e-16  # x each state's typical scale (1 cell/µL, 100 mL)
REL_TOL = 1e-5
FLOOR = 1e-7
ABS_TOL_SMALL = 1e-12
DEFAULT_TOL_FLOOR = 1e-5  # at cartpk's default rtol 1e-8, atol-scale 1e-12
REF_RTOL, REF_ATOL = 1e-12, 1e-22

CASES = {
    "defaults": ({}, None),
    "low_expansion": ({}, "low_expansion"),
    "prior_ASCT": ({"prior_ASCT": 1.0}, None),
    "cd4cd8_3_big_tumour": ({"CD4CD8_ratio": 3.0, "tum0": 3555.0}, None),
    "no_tumour": ({"tum0": 0.0}, None),
}

check = cli_checks.Checks()


def run_cartpk(exe, overrides, workdir, tag, product=None, tight=True):
    table = os.path.join(workdir, f"{tag}.csv")
    cmd = [exe, "simulate", "--model", MODEL, "--times", ",".join(f"{t:g}" for t in TIMES), "--states",
           "--table", table, "--out", os.path.join(workdir, f"{tag}.h5")]
    if tight:
        cmd += ["--rtol", f"{CARTPK_RTOL:g}", "--atol-scale", f"{CARTPK_ATOL_SCALE:g}"]
    if product is not None:
        cmd += ["--product", product]
    for k, v in overrides.items():
        cmd += ["--param", f"{k}={float(v)!r}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return cli_checks.read_columns(table)


compare = cli_checks.worst_difference


def compare_all(got, y, p, floor, abs_tol, tag):
    obs = ms.observables(y, p)
    worst = 0.0
    for name, ref in list(zip(ms.STATES, y)) + [(k, obs[k]) for k in ms.OBSERVABLES]:
        if name not in got:
            check(False, f"{tag}: column {name} in cartpk's table")
            continue
        rel, absd, i = compare(got[name], ref, floor)
        worst = max(worst, rel)
        check(rel <= REL_TOL and absd <= abs_tol,
              f"{tag}: {name:5s} max rel diff {rel:.2e} (day {TIMES[i]:g}: cartpk {got[name][i]:.10g}, scipy "
              f"{ref[i]:.10g}); max abs diff where |ref| <= {floor:g}: {absd:.1e}")
    return worst


def random_sets(n, seed=20211125):
    """Log-normal perturbations: the published omega^2 for Vmax1_ref and Vmax5_TCM, SD 0.3 for the other rates;
    covariates drawn over the cohort's range (prior ASCT 0/1, CD4/CD8 ratio, baseline tumour 2.54-3555 mL)."""
    rng = np.random.default_rng(seed)
    omega2 = {"Vmax1_ref": 1.17865, "Vmax5_TCM": 2.3442}
    covariates = {"prior_ASCT", "CD4CD8_ratio", "tum0", "asct_effect", "cd4cd8_exp"}
    sets = []
    for _ in range(n):
        ov = {}
        for k, v in ms.DEFAULTS.items():
            if k in covariates or v == 0.0:
                continue
            ov[k] = v * math.exp(math.sqrt(omega2.get(k, 0.09)) * rng.standard_normal())
        ov["prior_ASCT"] = float(rng.integers(0, 2))
        ov["CD4CD8_ratio"] = math.exp(rng.uniform(math.log(0.0512), math.log(8.94)))
        ov["tum0"] = math.exp(rng.uniform(math.log(2.54), math.log(3555.0)))
        sets.append(ov)
    return sets


def reference_self_check():
    print("reference self-check")
    times = np.asarray(TIMES, dtype=float)
    for tag, ov in [("defaults", {}), ("prior_ASCT", {"prior_ASCT": 1.0})]:
        p = ms.params(**ov)
        a = ms.solve(times, p, rtol=REF_RTOL, atol=REF_ATOL)
        b = ms.solve(times, p, rtol=1e-11, atol=1e-22, method="Radau")
        big = np.abs(a) > FLOOR
        rel = float(np.max(np.abs(a - b)[big] / np.abs(a)[big]))
        check(rel < 1e-7, f"{tag}: LSODA (rtol 1e-12) vs Radau (rtol 1e-11), max relative difference {rel:.2e} "
                          f"above {FLOOR:g} (< 1e-7)")
    # Without tumour the CAR-T chain is linear, x' = A x, so x(t) = expm(A t) x0: the spec's rates alone.
    p = ms.params(tum0=0.0)
    A = np.array([
        [p["kp1"] - p["k12"] - p["ke1"], 0, 0, 0],
        [p["k12"], p["kp2"] - p["k23"] - p["ke2"], 0, 0],
        [0, p["k23"], p["kp3"] - p["k34"] - p["ke3"], 0],
        [0, 0, p["k34"], -p["ke4"]],
    ])
    x0 = np.array([p["tn0"], p["tcm0"], p["tem0"], p["teff0"]])
    exact = np.array([expm(A * t) @ x0 for t in times]).T
    y = ms.solve(times, p, rtol=REF_RTOL, atol=REF_ATOL)
    big = np.abs(exact) > FLOOR
    rel = float(np.max(np.abs(y[:4] - exact)[big] / np.abs(exact)[big]))
    check(rel < 1e-8 and np.all(y[4] == 0.0),
          f"no tumour: the chain equals expm(A t) x0 (max relative difference {rel:.2e} above {FLOOR:g}), "
          f"Tum stays 0")
    return exact


def vpop_check(exe, tmp):
    print("virtual population with the published IIV")
    out = os.path.join(tmp, "vpop.h5")
    table = os.path.join(tmp, "vpop.csv")
    cmd = [exe, "vpop", "--model", MODEL, "--n", "200", "--end", "365", "--step", "1", "--threads", "2",
           "--quiet", "--out", out, "--table", table]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    check(proc.returncode == 0, f"{' '.join(cmd[1:])}: exit {proc.returncode} {proc.stderr.strip()[:400]}")
    if proc.returncode != 0:
        return
    with open(table) as f:
        header = f.readline().strip().split(",")
    rows = np.genfromtxt(table, delimiter=",", skip_header=1, dtype=float, ndmin=2)
    check(rows.shape[0] == 200, f"200 patient rows in the table (got {rows.shape[0]})")
    for name in ("Vmax1_ref", "Vmax5_TCM", "cart_cmax", "tumor_nadir"):
        check(name in header, f"column {name} in the vpop table")
    if "Vmax1_ref" not in header or "cart_cmax" not in header:
        return
    vmax1 = rows[:, header.index("Vmax1_ref")]
    sd = float(np.std(np.log(vmax1), ddof=1))
    check(abs(sd - math.sqrt(1.17865)) < 0.25,
          f"SD of log(Vmax1_ref) over the patients {sd:.3f} (published omega {math.sqrt(1.17865):.3f})")
    others = [h for h in ("KM1", "k12", "ke4") if h in header]
    check(all(np.all(rows[:, header.index(h)] == ms.DEFAULTS[h]) for h in others),
          f"parameters without IIV at their typical values ({', '.join(others)})")
    cmax = rows[:, header.index("cart_cmax")]
    check(np.all(np.isfinite(cmax)) and np.all(cmax >= 0.4 * (1 - 1e-9)),
          f"every patient's cart_cmax finite and >= the initial 0.4 cells/µL (min {np.nanmin(cmax):.3g})")
    rho = float(np.corrcoef(np.log(vmax1), np.log(cmax))[0, 1])
    check(rho > 0.5, f"cart_cmax rises with Vmax1_ref (correlation of the logs {rho:.2f} > 0.5)")

    # The example scenarios (the paper's classes and covariates) on the same 100 patients.
    scenarios = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                             "scenarios_muellerschoell2021.toml")
    table = os.path.join(tmp, "vpop_scenarios.csv")
    cmd = [exe, "vpop", "--model", MODEL, "--n", "100", "--end", "365", "--step", "1", "--threads", "2", "--quiet",
           "--scenarios", scenarios, "--out", os.path.join(tmp, "vpop_scenarios.h5"), "--table", table]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    check(proc.returncode == 0, f"vpop with examples/scenarios_muellerschoell2021.toml: exit {proc.returncode} "
                                f"{proc.stderr.strip()[:400]}")
    if proc.returncode != 0:
        return
    with open(table) as f:
        rows = list(csv.DictReader(f))
    median = {}
    for name in sorted({r["scenario"] for r in rows}):
        median[name] = float(np.median([float(r["cart_cmax"]) for r in rows if r["scenario"] == name]))
    print("  median cart_cmax per scenario: " + ", ".join(f"{k} {v:.3g}" for k, v in median.items()))
    check(median["reference_prior_asct"] > median["reference"] > median["reference_cd4cd8_4"] >= 0.4
          and median["low_expansion"] < median["reference"] and median["reference_big_tumour"] > median["reference"]
          and median["low_expansion_prior_asct"] > median["low_expansion"],
          "scenario medians of cart_cmax: prior ASCT > reference > CD4/CD8 4; low_expansion < reference; "
          "a bigger tumour drives more expansion; ASCT raises the low class too")
    by_id = {(r["ID"], r["scenario"]): float(r["cart_cmax"]) for r in rows}
    ids = sorted({r["ID"] for r in rows})
    check(all(by_id[(i, "low_expansion")] <= by_id[(i, "reference")] * (1 + 1e-9) for i in ids),
          "every patient expands less in the low-expansion class than in the reference class")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    exe = sys.argv[1]
    expm_no_tumour = reference_self_check()
    times = np.asarray(TIMES, dtype=float)
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="muellerschoell2021_") as tmp:
        runs = [(tag, ov, product) for tag, (ov, product) in CASES.items()]
        runs += [(f"random{k + 1}", ov, None) for k, ov in enumerate(random_sets(2))]
        for tag, overrides, product in runs:
            p = ms.params(**{**overrides, **(ms.PRESETS[product] if product else {})})
            print(f"case {tag}: {overrides or ''} {('--product ' + product) if product else ''}")
            try:
                got = run_cartpk(exe, overrides, tmp, tag, product)
            except Exception as e:  # noqa: BLE001 - report and count as a failure
                check(False, f"{tag}: cartpk ran: {e}")
                continue
            if not ("time" in got and np.array_equal(got["time"], times)):
                check(False, f"{tag}: output times are the requested ones")
                continue
            y = ms.solve(times, p, rtol=REF_RTOL, atol=REF_ATOL)
            worst = max(worst, compare_all(got, y, p, FLOOR, ABS_TOL_SMALL, tag))
            if tag == "no_tumour":
                rel = max(compare(got[s], expm_no_tumour[i], FLOOR)[0] for i, s in enumerate(ms.STATES[:4]))
                check(rel <= REL_TOL, f"no tumour: cartpk equals expm(A t) x0 (max relative difference {rel:.2e})")
            if tag == "low_expansion":
                check(np.max(got["cart"]) <= got["cart"][0] and got["tumor"][-1] > got["tumor"][0],
                      "low_expansion: no expansion above the initial 0.4 cells/µL, the tumour keeps growing")
        print("defaults at cartpk's default tolerances")
        got = run_cartpk(exe, {}, tmp, "default_tol", tight=False)
        compare_all(got, ms.solve(times, ms.params(), rtol=REF_RTOL, atol=REF_ATOL), ms.params(),
                    DEFAULT_TOL_FLOOR, 1e-10, "default tolerances")
        vpop_check(exe, tmp)
    print(f"worst relative difference cartpk vs SciPy over all cases, states and observables above {FLOOR:g}: "
          f"{worst:.2e}")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
