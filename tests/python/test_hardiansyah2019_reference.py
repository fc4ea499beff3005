#!/usr/bin/python3
"""cartpk's hardiansyah2019 (published model P1) against an independent SciPy solution of the spec's equations.

Usage: test_hardiansyah2019_reference.py <path to cartpk>

1. The reference itself: LSODA (rtol 1e-12) against Radau with the analytic Jacobian (rtol 1e-10), and that
   Jacobian against central differences of the right-hand side, so an integrator problem would show up there.
2. Published behaviour, from the SciPy solution alone (qualitative: the spec and the paper give no figures to hold
   to digits): after UPN3's split dose the CAR-T cells expand (blood peak weeks after the last dose), B cells are
   depleted by > 99 % by day 60, IL-6, IL-10 and IFN-gamma rise more than tenfold over baseline, peaking during
   the expansion (after the last dose and before the CAR-T peak, while antigen and effectors coexist), and return
   near baseline once the B cells are gone; the paper's conclusion that disease burden, not dose, sets expansion
   and cytokine release (a tenfold dose moves the IL-6 peak by < 10 %, a threefold burden by > 3x); and the
   corrected aE term conserves cells (CEpb -> CMpb).
3. cartpk (`simulate --states --table`, --rtol 1e-10 --atol-scale 1e-14) against the reference at 25 times over
   0-60 days, every state and observable: relative difference <= 1e-5 wherever |reference| > FLOOR (1e-12, i.e.
   1e-3 cells or 1e-12 pg/mL: every value that is not an exact zero; the only values below are the memory and
   tissue CAR-T at t = 0, exactly 0 in both), absolute difference <= 1e-15 below. Cases: UPN3's defaults and split
   dose; three random parameter sets (every estimated parameter and b0 log-normal, SD 0.3, and random split
   fractions); a small h, so that the antigen-dependent memory/effector switching (fB) matters; one dose of
   cells by a dataset record. And the defaults at cartpk's default tolerances (rtol 1e-8).
4. Virtual trial with a toxicity link driven by the simulated IL-6 peak: a small `cartpk vpop` pool
   (examples/iiv_hardiansyah2019.toml), `cartpk trial` with examples/trial_design_il6.toml runs, and its pool's
   mean P(toxicity) and response rate equal those computed here from the pool's il6_peak and
   bcell_aplasia_start with the link's formula.
Prints "N passed, M failed"; exit status 1 on any failure.
"""
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402
import hardiansyah2019_reference as hr  # noqa: E402

MODEL = "hardiansyah2019"
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(SOURCE_ROOT, "examples")
TIMES = [0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 7, 10, 12, 14, 17, 19, 21, 24, 28, 32, 35, 40, 45, 50, 55, 60]
CARTPK_RTOL, CARTPK_ATOL_SCALE = 1e-10, 1e-14
REL_TOL = 1e-5
FLOOR = 1e-12
ABS_TOL_SMALL = 1e-15
REF_RTOL, REF_ATOL = 1e-12, 1e-20

check = cli_checks.Checks()


def doses_text(doses):
    return ",".join(f"{d:g}:{f!r}" for d, f in doses)


def run_cartpk(exe, overrides, workdir, tag, doses=hr.UPN3_DOSES, tolerances=True, extra=()):
    table = os.path.join(workdir, f"{tag}.csv")
    cmd = [exe, "simulate", "--model", MODEL, "--times", ",".join(f"{t:g}" for t in TIMES), "--states",
           "--table", table, "--out", os.path.join(workdir, f"{tag}.h5")]
    if doses is not None:
        cmd += ["--doses", doses_text(doses)]
    if tolerances:
        cmd += ["--rtol", f"{CARTPK_RTOL:g}", "--atol-scale", f"{CARTPK_ATOL_SCALE:g}"]
    for k, v in overrides.items():
        cmd += ["--param", f"{k}={float(v)!r}"]
    cmd += list(extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return cli_checks.read_columns(table)


compare = cli_checks.worst_difference


def compare_all(tag, got, y, rel_tol=REL_TOL):
    """Every state and observable of cartpk's table against the reference; the worst relative difference."""
    obs = hr.observables(y)
    worst = 0.0
    for name, ref in list(zip(hr.STATES, y)) + [(k, obs[k]) for k in hr.OBSERVABLES]:
        if name not in got:
            check(False, f"{tag}: column {name} in cartpk's table")
            continue
        rel, absd, i = compare(got[name], ref, FLOOR)
        worst = max(worst, rel)
        check(rel <= rel_tol and absd <= ABS_TOL_SMALL,
              f"{tag}: {name:10s} max rel diff {rel:.2e} (day {TIMES[i]:g}: cartpk {got[name][i]:.10g}, "
              f"scipy {ref[i]:.10g}); max abs diff where |ref| <= {FLOOR:g}: {absd:.1e}")
    return worst


# ---- 1. the reference itself ------------------------------------------------------------------------------------

def reference_self_check():
    print("reference self-check: LSODA (rtol 1e-12) vs Radau with the analytic Jacobian (rtol 1e-10)")
    for tag, p in (("defaults", hr.params()), ("small h", hr.params(h=0.05))):
        a = hr.solve(TIMES, p, rtol=REF_RTOL, atol=REF_ATOL)
        b = hr.solve(TIMES, p, rtol=1e-10, atol=1e-16, method="Radau")
        big = np.abs(a) > FLOOR
        rel = float(np.max(np.abs(a - b)[big] / np.abs(a)[big]))
        check(rel < 1e-7, f"{tag}: LSODA vs Radau, max relative difference {rel:.2e} (< 1e-7)")
    p = hr.params(h=0.3)
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(5):
        x = np.abs(rng.normal(size=8)) * np.array([0.5, 0.05, 0.5, 0.05, 0.5, 30, 60, 60]) + 1e-3
        J = hr.jacobian(0.0, x, p)
        for j in range(8):
            step = 1e-6 * max(abs(x[j]), 1e-3)
            up, down = x.copy(), x.copy()
            up[j] += step
            down[j] -= step
            fd = (hr.rhs(0.0, up, p) - hr.rhs(0.0, down, p)) / (2 * step)
            worst = max(worst, float(np.max(np.abs(fd - J[:, j]) / np.maximum(np.abs(J[:, j]), 1.0))))
    check(worst < 1e-6, f"reference Jacobian vs central differences: max difference {worst:.1e} (< 1e-6)")


# ---- 2. published behaviour ---------------------------------------------------------------------------------

def published_behaviour():
    print("published behaviour (SciPy solution, UPN3 dosing, 0.05-day grid to day 60)")
    t = np.round(np.arange(0.0, 60.0 + 1e-9, 0.05), 10)
    p = hr.params()
    y = hr.solve(t, p, rtol=REF_RTOL, atol=REF_ATOL)
    obs = hr.observables(y)
    car, b = obs["cart_blood"], obs["bcell"]
    i_car = int(np.argmax(car))
    t_car = t[i_car]
    check(t_car > 14 and car[i_car] > 10 * 0.1 * p["dose"] * 1e-9,
          f"CAR-T in blood expand: peak {car[i_car]:.4g} (1e9 cells) at day {t_car:g}, > 10x the day-0 dose, "
          f"weeks after the last dose (day 2)")
    check(b[-1] / p["b0"] < 0.01, f"B cells depleted: {b[-1]:.3g} at day 60 = {100 * b[-1] / p['b0']:.2f} % of B(0) (< 1 %)")
    for name, base in (("il6", p["bIL6"]), ("il10", p["bIL10"]), ("ifng", p["bIFNg"])):
        c = obs[name]
        k = int(np.argmax(c))
        check(c[k] > 10 * base and 2.0 < t[k] < t_car,
              f"{name} peaks at {c[k]:.4g} pg/mL ({c[k] / base:.0f}x baseline) on day {t[k]:g}: during the expansion, "
              f"after the last dose and before the CAR-T peak (day {t_car:g})")
        check(c[-1] < 2 * base, f"{name} back near baseline at day 60 ({c[-1]:.3g} pg/mL, < 2x baseline {base:g})")

    # Burden, not dose, sets the expansion and cytokine release (the paper's conclusion).
    def il6_peak(**ov):
        q = hr.params(**ov)
        return float(hr.observables(hr.solve(t, q, rtol=1e-10, atol=1e-16))["il6"].max())
    base = il6_peak()
    dose10 = il6_peak(dose=10 * p["dose"])
    burden3 = il6_peak(b0=3 * p["b0"])
    check(abs(dose10 / base - 1) < 0.1 and burden3 / base > 3,
          f"IL-6 peak {base:.4g} pg/mL: x{dose10 / base:.3f} with a tenfold dose, x{burden3 / base:.2f} with a "
          f"threefold B-cell burden (burden, not dose, drives cytokine release)")

    # The corrected aE term moves cells from CEpb to CMpb: with no proliferation, death or killing of CAR-T cells
    # and h small enough for fB to matter, the total CAR-T count stays what was dosed.
    q = hr.params(rE=0.0, dE=0.0, rM=0.0, dM=0.0, h=0.5)
    yc = hr.solve(t[::20], q, rtol=1e-12, atol=1e-20)
    total = yc[1] + yc[2] + yc[3] + yc[4]
    dosed = sum(f for _, f in hr.UPN3_DOSES) * q["dose"] * 1e-9
    rel = float(np.max(np.abs(total[t[::20] >= 2] - dosed)) / dosed)
    check(rel < 1e-9, f"aE/aM terms conserve CAR-T cells (CEpb + CEt + CMpb + CMt = dose, max rel dev {rel:.1e})")


# ---- 3. cartpk against the reference --------------------------------------------------------------------------

RANDOM_SD = 0.3
RANDOM_PARAMETERS = hr.ESTIMATED + ("b0",)


def random_sets(n, seed=20190419):
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n):
        ov = {k: hr.DEFAULTS[k] * math.exp(RANDOM_SD * rng.standard_normal()) for k in RANDOM_PARAMETERS}
        fractions = rng.dirichlet([1.0, 2.0, 4.0])
        days = (0.0, float(np.round(rng.uniform(0.5, 1.5), 2)), float(np.round(rng.uniform(1.6, 3.0), 2)))
        sets.append((ov, tuple(zip(days, (float(f) for f in fractions)))))
    return sets


def cartpk_vs_reference(exe, tmp):
    times = np.asarray(TIMES, dtype=float)
    cases = [("defaults_upn3", {}, hr.UPN3_DOSES)]
    cases += [(f"random{k + 1}", ov, doses) for k, (ov, doses) in enumerate(random_sets(3))]
    cases += [("small_h", {"h": 0.05}, hr.UPN3_DOSES)]
    worst = 0.0
    for tag, overrides, doses in cases:
        print(f"case {tag}: {overrides or 'spec defaults'}; doses {doses_text(doses)}")
        try:
            got = run_cartpk(exe, overrides, tmp, tag, doses)
        except Exception as e:  # noqa: BLE001 - report and count as a failure
            check(False, f"{tag}: cartpk ran: {e}")
            continue
        check("time" in got and np.array_equal(got["time"], times), f"{tag}: output times are the requested ones")
        y = hr.solve(times, hr.params(**overrides), doses=doses, rtol=REF_RTOL, atol=REF_ATOL)
        worst = max(worst, compare_all(tag, got, y))

    print("case dataset_cells: one dose of 1.4e7 cells at day 0 from a NONMEM-style record (AMT in cells)")
    data = os.path.join(tmp, "cells.csv")
    with open(data, "w") as f:
        f.write("ID,TIME,EVID,AMT,DV,WT\n1,0,1,1.4e7,.,70\n")
    try:
        got = run_cartpk(exe, {}, tmp, "dataset_cells", doses=None, extra=("--data", data))
        y = hr.solve(times, hr.params(), doses=((0.0, 1.0),), rtol=REF_RTOL, atol=REF_ATOL)
        worst = max(worst, compare_all("dataset_cells", got, y))
    except Exception as e:  # noqa: BLE001
        check(False, f"dataset_cells: cartpk ran: {e}")

    print("case defaults at cartpk's default tolerances (rtol 1e-8, atol-scale 1e-12)")
    got = run_cartpk(exe, {}, tmp, "default_tolerances", tolerances=False)
    y = hr.solve(times, hr.params(), rtol=REF_RTOL, atol=REF_ATOL)
    compare_all("default tolerances", got, y)
    return worst


# ---- 4. a virtual trial whose toxicity follows the simulated IL-6 peak ---------------------------------------

def il6_trial(exe, tmp):
    print("virtual trial: toxicity link on the simulated IL-6 peak (examples/trial_design_il6.toml)")
    pool = os.path.join(tmp, "h_pool.h5")
    r = subprocess.run([exe, "vpop", "--quiet", "--model", MODEL, "--iiv", os.path.join(EXAMPLES, "iiv_hardiansyah2019.toml"),
                        "--n", "60", "--seed", "7", "--end", "60", "--step", "0.25", "--aplasia-threshold", "0.01",
                        "--threads", "1", "--out", pool], capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"cartpk vpop of 60 patients ran (exit {r.returncode}) {r.stderr.strip()[-300:]}")
    if r.returncode != 0:
        return
    design = os.path.join(EXAMPLES, "trial_design_il6.toml")
    out, table = os.path.join(tmp, "h_trial.h5"), os.path.join(tmp, "h_trial.csv")
    r = subprocess.run([exe, "trial", "--vpop", pool, "--design", design, "--replicates", "4000", "--seed", "3",
                        "--threads", "1", "--quiet", "--out", out, "--table", table], capture_output=True, text=True,
                       timeout=300)
    check(r.returncode == 0, f"cartpk trial with [toxicity] metric = \"il6_peak\" ran (exit {r.returncode}) "
                             f"{r.stderr.strip()[-300:]}")
    if r.returncode != 0:
        return
    with h5py.File(pool, "r") as f:
        scen = f["/vpop/scenarios"]
        name = list(scen.keys())[0]
        metrics = scen[name]["metrics"]
        columns = [c.decode() if isinstance(c, bytes) else str(c) for c in metrics.attrs["columns"]]
        values = metrics[()]
        status = scen[name]["status"][:, 0]
    ok = status == 0
    il6 = values[ok, columns.index("il6_peak")]
    aplasia = values[ok, columns.index("bcell_aplasia_start")]
    a, b = -6.0, 3.0  # the design file's link
    p_tox = 1.0 / (1.0 + np.exp(-(a + b * np.log10(il6))))
    resp = np.where(np.isnan(aplasia), False, aplasia <= 60)
    with open(table) as f:
        header = f.readline().strip().split(",")
        row = f.readline().strip().split(",")
    t = dict(zip(header, row))
    got_p, got_r = float(t["pool_mean_p_tox"]), float(t["pool_p_resp"])
    check(abs(got_p - p_tox.mean()) <= 1e-12 * p_tox.mean(),
          f"pool mean P(toxicity) {got_p:.6f} = mean of 1/(1+exp(-(-6 + 3 log10 il6_peak))) over the pool "
          f"({p_tox.mean():.6f}; IL-6 peaks {il6.min():.3g}-{il6.max():.3g} pg/mL, P {p_tox.min():.3f}-{p_tox.max():.3f})")
    check(abs(got_r - resp.mean()) <= 1e-12, f"pool response rate {got_r:.4f} = share with B < 1e7 cells by day 60 "
                                             f"({resp.mean():.4f})")
    hi, lo = il6 >= np.median(il6), il6 < np.median(il6)
    check(p_tox[hi].mean() > p_tox[lo].mean(), f"toxicity follows the IL-6 peak: mean P {p_tox[hi].mean():.3f} above "
                                                f"the median peak vs {p_tox[lo].mean():.3f} below")
    tox = float(t["mean_toxicities"]) / float(t["expected_n"])
    check(abs(tox - got_p) < 0.05, f"simulated toxicities per treated patient {tox:.3f} near the pool's mean P {got_p:.3f}")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    exe = sys.argv[1]
    reference_self_check()
    published_behaviour()
    with tempfile.TemporaryDirectory(prefix="hardiansyah2019_") as tmp:
        worst = cartpk_vs_reference(exe, tmp)
        il6_trial(exe, tmp)
    print(f"worst relative difference cartpk (rtol {CARTPK_RTOL:g}, atol-scale {CARTPK_ATOL_SCALE:g}) vs SciPy over all "
          f"cases, states and observables where |reference| > {FLOOR:g}: {worst:.2e}")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
