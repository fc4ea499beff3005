#!/usr/bin/python3
"""cartpk's singh2021_idecel (BCMA CAR-T ide-cel, Singh et al. 2021) against an independent SciPy solution.

Usage: test_singh2021_idecel_reference.py <path to cartpk>

1. The reference (singh2021_idecel_reference.py, written from shared/spec/published-models.md P2 alone, Radau
   with its hand-derived Jacobian) is checked against a second integrator (LSODA) and against the typical-value
   figures nlmixr2lib's vignette reports for its own (rxode2) implementation of the model: the blood-transgene
   peak after day 1 and the deepest M-protein change per CRB-401 dose.
2. `cartpk simulate --rtol 1e-10 --atol-scale 1e-14 --states` at 28 times from 0 to 365 days, at the four
   CRB-401 dose levels (50, 150, 450, 800 x 10^6 CAR+ cells) and two random parameter sets, against the
   reference: every observable within 1e-5 relative wherever the reference exceeds its floor (FLOORS below),
   and the states above 1e-6 of their own peak.
3. Dose response: the transgene Cmax (cartpk's transgene_cmax metric, day 0 included) rises with dose, and the
   expansion peak after day 1 stays flat (the paper's finding; nlmixr2lib's figures).
4. Solver work per dose (steps, error-test failures from the HDF5 /simulation attributes) at the comparison's
   tolerances and at cartpk's defaults: error-test failures below 10 % of the steps.
5. The published values (tests/published_values/singh2021_idecel.csv) equal the reference's DEFAULTS and the
   table `cartpk models singh2021_idecel` prints.
Prints "N passed, M failed"; exit status 1 on any failure.
"""
import csv
import math
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cli_checks  # noqa: E402
import singh2021_idecel_reference as ref  # noqa: E402

MODEL = "singh2021_idecel"
PUBLISHED = os.path.join(HERE, "..", "published_values", "singh2021_idecel.csv")
TIMES = [0, 0.02, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7, 10, 12, 14, 16, 18, 21, 28, 35, 42, 56, 67, 90, 120, 150, 180, 240,
         300, 365]
DOSES = (50e6, 150e6, 450e6, 800e6)  # CRB-401 dose levels, CAR+ cells
CARTPK_RTOL, CARTPK_ATOL_SCALE = 1e-10, 1e-14
REF_RTOL = 1e-12
REF_ATOL = 1e-16 * ref.TYPICAL
REL_TOL = 1e-5
# Floors: relative agreement is asked where the reference exceeds these. At the comparison's tolerances cartpk's
# absolute tolerance is 1e-8 cells for each CAR-T pool (atol-scale 1e-14 x typical scale 1e6), i.e. 4e-12
# copies/µg of transgene (TransC/Vb = 4e-4 copies/µg per blood cell), 1e-5 myeloma cells/L, 1e-15 g/L of
# M-protein and 1e-12 ng/mL of sBCMA. Each floor is >= 1e6 times that, and far below what is measured: 1e-3
# copies/µg is 2.5 CAR-T cells in the whole blood volume (qPCR's LLOQ is ~5 copies/µg); 1 myeloma cell per L of
# marrow; 1e-6 g/L of M-protein (assays resolve ~1 g/L); 1e-6 ng/mL of sBCMA (assays resolve ~1 ng/mL).
FLOORS = {"transgene": 1e-3, "tumor": 1.0, "mprotein": 1e-6, "sbcma": 1e-6}
STATE_FLOOR_OF_PEAK = 1e-6  # states: relative agreement above 1e-6 of their own peak
ABS_TOL_BELOW_FLOOR = 1e-7  # below the floor: |cartpk - reference| <= this x the floor

# nlmixr2lib's vignette (Singh_2021_idecabtageneVicleucel.Rmd): typical values solved by rxode2 on the grid
# seq(0, 2, 0.02) U seq(2, 365, 0.5); Cmax = max transgene over time > 1 and the M-protein nadir in % change,
# printed to the digits below.
VIGNETTE_GRID = np.unique(np.round(np.concatenate([np.arange(0, 2.0 + 1e-9, 0.02), np.arange(2, 365 + 1e-9, 0.5)]), 10))
VIGNETTE_CMAX = {50e6: 37411.0, 150e6: 36479.0, 450e6: 35743.0, 800e6: 35484.0}
VIGNETTE_MNADIR = {50e6: -92.5, 150e6: -92.4, 450e6: -92.3, 800e6: -92.3}

check = cli_checks.Checks()


def run_cartpk(exe, workdir, tag, dose, overrides=None, times=TIMES, rtol=CARTPK_RTOL, atol_scale=CARTPK_ATOL_SCALE):
    """cartpk's table (dict of columns) and its /simulation attributes."""
    table = os.path.join(workdir, f"{tag}.csv")
    h5 = os.path.join(workdir, f"{tag}.h5")
    cmd = [exe, "simulate", "--model", MODEL, "--times", ",".join(f"{t:g}" for t in times), "--states",
           "--table", table, "--out", h5, "--param", f"dose={dose!r}"]
    if rtol is not None:
        cmd += ["--rtol", f"{rtol:g}", "--atol-scale", f"{atol_scale:g}"]
    for k, v in (overrides or {}).items():
        cmd += ["--param", f"{k}={float(v)!r}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    with open(table) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(table, delimiter=",", skiprows=1, ndmin=2)
    with h5py.File(h5, "r") as f:
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f["simulation"].attrs.items()}
    return {h: data[:, i] for i, h in enumerate(header)}, attrs, proc.stdout


def printed_metric(stdout, name):
    """A metric's value from `cartpk simulate`'s summary (a line `  name  value unit ...`)."""
    m = re.search(rf"^\s+{re.escape(name)}\s+(\S+)", stdout, re.MULTILINE)
    return float(m.group(1)) if m else float("nan")


def rel_diff(got, want, floor):
    """(worst relative difference where |want| > floor, worst |got - want| where |want| <= floor, index)."""
    big = np.abs(want) > floor
    rel = np.where(big, np.abs(got - want) / np.where(big, np.abs(want), 1.0), 0.0)
    absd = np.where(~big, np.abs(got - want), 0.0)
    return float(rel.max()), float(absd.max()), int(np.argmax(rel))


def compare(got, y, p, tag):
    """Every observable above its floor, every state above 1e-6 of its peak; the worst relative difference."""
    obs = ref.observables(y, p)
    worst = {}
    for name in ref.OBSERVABLES:
        rel, absd, i = rel_diff(got[name], obs[name], FLOORS[name])
        worst[name] = rel
        check(rel <= REL_TOL and absd <= ABS_TOL_BELOW_FLOOR * FLOORS[name],
              f"{tag}: {name:9s} max rel diff {rel:.2e} above {FLOORS[name]:g} (day {TIMES[i]:g}: cartpk "
              f"{got[name][i]:.10g}, scipy {obs[name][i]:.10g}); max abs diff below it {absd:.1e}")
    for k, name in enumerate(ref.STATES):
        floor = STATE_FLOOR_OF_PEAK * np.max(np.abs(y[k]))
        rel, _, i = rel_diff(got[name], y[k], floor)
        worst[name] = rel
        check(rel <= REL_TOL, f"{tag}: state {name:5s} max rel diff {rel:.2e} above {floor:.3g} (day {TIMES[i]:g})")
    return worst


def reference_self_check():
    print("reference: Radau (rtol 1e-12) vs LSODA (rtol 1e-11), 150e6 cells")
    p = ref.params()
    a = ref.solve(TIMES, p, 150e6, rtol=REF_RTOL, atol=REF_ATOL)
    b = ref.solve(TIMES, p, 150e6, rtol=1e-11, atol=REF_ATOL, method="LSODA")
    oa, ob = ref.observables(a, p), ref.observables(b, p)
    worst = max(rel_diff(ob[k], oa[k], FLOORS[k])[0] for k in ref.OBSERVABLES)
    check(worst < 1e-7, f"Radau vs LSODA: worst relative difference of the observables {worst:.2e} (< 1e-7)")

    print("reference vs nlmixr2lib's vignette (rxode2, typical values)")
    for dose in DOSES:
        y = ref.solve(VIGNETTE_GRID, p, dose, rtol=1e-10, atol=1e-14 * ref.TYPICAL)
        o = ref.observables(y, p)
        cmax = o["transgene"][VIGNETTE_GRID > 1].max()
        m0 = o["mprotein"][0]
        nadir = (o["mprotein"].min() - m0) * 100.0 / m0
        check(abs(cmax - VIGNETTE_CMAX[dose]) <= 0.5 + 1e-4 * VIGNETTE_CMAX[dose],
              f"{dose / 1e6:g}e6 cells: transgene peak after day 1 {cmax:.1f} copies/µg (nlmixr2lib {VIGNETTE_CMAX[dose]:g})")
        check(abs(nadir - VIGNETTE_MNADIR[dose]) <= 0.05 + 1e-9,
              f"{dose / 1e6:g}e6 cells: M-protein nadir {nadir:.3f} % (nlmixr2lib {VIGNETTE_MNADIR[dose]:g} %)")
    m0, s0 = ref.steady_biomarkers(p)
    d = ref.rhs(0.0, ref.initial_state(p, 0.0), p)
    check(abs(d[6]) < 1e-15 * m0 and abs(d[7]) < 1e-12 * s0,
          f"M-protein {m0:.6g} g/L and sBCMA {s0:.6g} ng/mL at rest at t = 0 (rates {d[6]:.1e}, {d[7]:.1e})")


# Random sets: every parameter but the dose times a log-normal factor with this SD.
RANDOM_SD = 0.3


def random_sets(n, seed=20210401):
    rng = np.random.default_rng(seed)
    return [{k: v * math.exp(RANDOM_SD * rng.standard_normal()) for k, v in ref.DEFAULTS.items() if k != "dose"}
            for _ in range(n)]


def published_values(exe):
    print("published values (tests/published_values/singh2021_idecel.csv)")
    rows = []
    with open(PUBLISHED) as f:
        for row in csv.DictReader(line for line in f if not line.startswith("#")):
            rows.append(row)
    typical = {r["parameter"]: float(r["value"]) for r in rows if not r["parameter"].startswith("omega2:")}
    omega2 = {r["parameter"][7:]: float(r["value"]) for r in rows if r["parameter"].startswith("omega2:")}
    check(set(typical) == set(ref.DEFAULTS) - {"dose"},
          f"the file lists every model parameter but the dose ({len(typical)} values)")
    bad = [k for k, v in typical.items() if ref.DEFAULTS.get(k) != v]
    check(not bad, "the reference's DEFAULTS equal the published values" + (f" (differ: {bad})" if bad else ""))
    out = subprocess.run([exe, "models", MODEL], capture_output=True, text=True, timeout=60).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0] in ref.DEFAULTS:
            try:
                table[parts[0]] = (float(parts[2]), None if parts[5] == "-" else float(parts[5]))
            except ValueError:
                pass
    for name, value in typical.items():
        got = table.get(name, (float("nan"), None))[0]
        check(math.isclose(got, value, rel_tol=5e-6),  # `cartpk models` prints 6 significant digits
              f"cartpk models: {name} = {got:g} (published {value:g})")
    for name, value in omega2.items():
        got = table.get(name, (None, None))[1]
        check(got is not None and math.isclose(got, value, rel_tol=5e-6),
              f"cartpk models: omega2 of {name} = {got} (published {value:g})")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    exe = sys.argv[1]
    reference_self_check()
    published_values(exe)
    times = np.asarray(TIMES, dtype=float)
    worst_all = {}
    work = []
    with tempfile.TemporaryDirectory(prefix="singh2021_") as tmp:
        cases = [(f"dose_{d / 1e6:g}e6", d, {}) for d in DOSES]
        cases += [(f"random{k + 1}_dose_{d / 1e6:g}e6", d, ov)
                  for k, (d, ov) in enumerate(zip((450e6, 50e6), random_sets(2)))]
        for tag, dose, overrides in cases:
            print(f"case {tag}: cartpk --rtol {CARTPK_RTOL:g} --atol-scale {CARTPK_ATOL_SCALE:g} vs SciPy Radau")
            p = ref.params(dose=dose, **overrides)
            try:
                got, attrs, _ = run_cartpk(exe, tmp, tag, dose, overrides)
            except Exception as e:  # noqa: BLE001 - report and count as a failure
                check(False, f"cartpk ran: {e}")
                continue
            same_times = "time" in got and np.array_equal(got["time"], times)
            check(same_times, f"{tag}: output times are the requested {len(TIMES)} times from 0 to 365 days")
            if not same_times:
                continue
            y = ref.solve(times, p, dose, rtol=REF_RTOL, atol=REF_ATOL)
            for name, rel in compare(got, y, p, tag).items():
                worst_all[name] = max(worst_all.get(name, 0.0), rel)
            if not overrides:
                work.append((dose, "tight", attrs))

        print("dose response (cartpk, the vignette's grid, default tolerances)")
        cmax, peak_after_day1 = [], []
        for dose in DOSES:
            got, attrs, stdout = run_cartpk(exe, tmp, f"grid_{dose:g}", dose, times=VIGNETTE_GRID, rtol=None)
            work.append((dose, "default", attrs))
            cmax.append(printed_metric(stdout, "transgene_cmax"))
            peak_after_day1.append(got["transgene"][VIGNETTE_GRID > 1].max())
            check(abs(peak_after_day1[-1] - VIGNETTE_CMAX[dose]) <= 0.5 + 1e-4 * VIGNETTE_CMAX[dose],
                  f"{dose / 1e6:g}e6 cells: cartpk's transgene peak after day 1 {peak_after_day1[-1]:.1f} copies/µg "
                  f"(nlmixr2lib {VIGNETTE_CMAX[dose]:g})")
        check(all(b > a for a, b in zip(cmax, cmax[1:])),
              "transgene_cmax rises with dose: " + ", ".join(f"{c:.6g}" for c in cmax) + " copies/µg")
        ratio = peak_after_day1[-1] / peak_after_day1[0]
        check(0.9 < ratio < 1.0,
              f"the expansion peak (after day 1) is flat across the 16-fold dose range (800e6/50e6 = {ratio:.3f}): "
              "antigen-limited expansion, the paper's finding; above 50e6 cells the infusion itself (TransC·dose/Vb "
              "at day 0) is the Cmax")

        print("solver work per dose (HDF5 /simulation attributes)")
        for dose, kind, a in work:
            frac = a["error_test_failures"] / max(a["steps"], 1)
            check(frac < 0.10, f"{dose / 1e6:g}e6 cells, {kind:7s} tolerances (rtol {a['rtol']:g}, atol-scale "
                               f"{a['atol_scale']:g}): {a['steps']} steps, {a['rhs_evaluations']} rhs evaluations, "
                               f"{a['jacobian_evaluations']} Jacobians, {a['error_test_failures']} error-test failures "
                               f"({100 * frac:.1f} % of steps), {a['nonlinear_failures']} nonlinear failures")
    print("worst relative difference cartpk vs SciPy over all cases: "
          + ", ".join(f"{k} {v:.2e}" for k, v in worst_all.items()))
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
