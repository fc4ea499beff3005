#!/usr/bin/python3
"""cartpk's M2 model (cart_cd19_bcma) against an independent SciPy solution of the spec's equations.

Usage: test_m2_scipy_reference.py <path to cartpk>

For four parameter sets (and each product preset at its defaults and at four random parameter sets), runs `cartpk simulate --model cart_cd19_bcma --rtol 1e-10 --atol-scale 1e-14 --states`
at 29 times from 0 to 730 days and compares all 11 states (and the 6 observables) with m2_reference.py (SciPy
LSODA, written from shared/spec/models.md alone): relative difference <= 1e-5 wherever the reference exceeds 1e-8
in magnitude, and an absolute difference <= 1e-10 below that. The defaults are also run at cartpk's default
atol-scale (1e-12), where 1e-5 relative is required above 1e-6 only (see CARTPK_ATOL_SCALE). The reference itself is first checked against a second SciPy
integrator (Radau) and against the spec's reference behaviour (flow peak, B-cell aplasia window, autoantibody
and hemoglobin at day 90 and two years), so a shared misreading of the spec would show up there.
Prints "N passed, M failed"; exit status 1 on any failure.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402
import m2_reference as m2  # noqa: E402

MODEL = "cart_cd19_bcma"
TIMES = [0, 0.5, 1, 2, 4, 6, 8, 10, 14, 21, 28, 35, 42, 53, 60, 75, 90, 120, 134, 150, 170, 211, 250, 300, 365,
         450, 540, 640, 730]
CASES = {
    "defaults": {},
    "cd19_only_slow": {"rho": 0.8, "kmaxbc": 0.0},
    "high_dose": {"dose_per_kg": 5e6, "fld_b": 0.5, "gam": 0.5},
    "bcma_only_no_ld": {"ld": 0.0, "fld_b": 1.0, "kmax19": 0.0},
}
CARTPK_RTOL = 1e-10
# cartpk's absolute tolerance is --atol-scale x each state's typical scale (default 1e-12). The CAR-T states
# fall to ~1e-8 cells/µL, 1e-9 of their peak, late in the two years; at the default atol-scale cartpk's error there
# is ~1e-5 relative (absolute ~1e-13, within what it was asked for), so the strict comparison asks for 1e-14. The
# default is checked separately (DEFAULT_ATOL_FLOOR).
CARTPK_ATOL_SCALE = 1e-14
DEFAULT_ATOL_FLOOR = 1e-6  # at the default atol-scale: 1e-5 relative where |reference| > this
REL_TOL = 1e-5        # cartpk vs reference where |reference| > FLOOR
FLOOR = 1e-8
ABS_TOL_SMALL = 1e-10  # cartpk vs reference where |reference| <= FLOOR
# The reference is solved much tighter than the comparison needs (LSODA at these settings agrees with Radau at
# rtol 1e-13 to ~1e-11 relative on these cases).
REF_RTOL, REF_ATOL = 1e-12, 1e-20

check = cli_checks.Checks()


def run_cartpk(exe, overrides, workdir, tag, atol_scale=CARTPK_ATOL_SCALE, product=None):
    table = os.path.join(workdir, f"{tag}.csv")
    cmd = [exe, "simulate", "--model", MODEL, "--times", ",".join(f"{t:g}" for t in TIMES),
           "--rtol", f"{CARTPK_RTOL:g}", "--states", "--table", table, "--out", os.path.join(workdir, f"{tag}.h5")]
    if atol_scale is not None:
        cmd += ["--atol-scale", f"{atol_scale:g}"]
    if product is not None:
        cmd += ["--product", product]
    for k, v in overrides.items():
        cmd += ["--param", f"{k}={float(v)!r}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return cli_checks.read_columns(table), " ".join(cmd)


compare = cli_checks.worst_difference


def crossing(t, y, level, direction, after=0.0):
    """First time >= after where y crosses `level` going down ('below') or up ('above'); linear interpolation."""
    for k in range(1, len(t)):
        if t[k] < after:
            continue
        a, b = y[k - 1] - level, y[k] - level
        if (direction == "below" and a >= 0 > b) or (direction == "above" and a < 0 <= b):
            return t[k - 1] + (t[k] - t[k - 1]) * a / (a - b)
    return float("nan")


def near(name, value, target, tol, unit=""):
    check(abs(value - target) <= tol, f"spec behaviour: {name} = {value:.4g}{unit} (spec ~ {target:g}, +/- {tol:g})")


# The spec's reference behaviour per product preset (v2), each figure with the tolerance its "≈" allows.
SPEC_BEHAVIOUR = {
    "cd19-bcma": {"flow peak": (11.6, 0.15), "day of flow peak": (8.0, 1.0), "qpcr peak": (3500, 60),
                  "start of B < 1": (8.0, 1.0), "end of B < 1": (53.0, 2.0), "B back above 10 cells/µL": (134.0, 2.0),
                  "B at 50 % of b0": (211.0, 2.0), "autoantibody at day 90": (0.054, 0.002),
                  "Hb at day 90": (112.8, 0.2), "Hb change at day 90": (33.0, 0.5), "Hb at day 730": (124.6, 0.2),
                  "flow below 0.01 cells/µL from day": (170.0, 10.0)},
    "cd19": {"flow peak": (7.6, 0.1), "day of flow peak": (7.0, 0.5), "start of B < 1": (7.8, 0.5),
             "end of B < 1": (42.8, 1.0), "B back above 10 cells/µL": (120.0, 2.0), "B at 50 % of b0": (197.5, 2.0),
             "Pl at day 90": (0.64, 0.01), "autoantibody at day 90": (0.40, 0.01), "Hb at day 90": (96.7, 0.2),
             "Hb at day 730": (122.3, 0.2)},
    "bcma": {"flow peak": (28.6, 0.2), "day of flow peak": (22.75, 0.5), "B never below 1 cell/µL": (1.0, 0.0),
             "autoantibody at day 90": (0.144, 0.002), "Hb at day 90": (109.3, 0.2), "Hb at day 730": (81.3, 0.2)},
}


def spec_figures(t, y, p):
    """The figures the spec states, from a solution y (11, len(t)) on a fine grid."""
    obs = m2.observables(y, p)
    flow, b, a, hb = obs["flow"], obs["bcell"], obs["autoab"], obs["hb"]
    ipk = int(np.argmax(flow))
    i90 = int(np.argmin(np.abs(t - 90)))
    start = crossing(t, b, 1.0, "below")
    end = crossing(t, b, 1.0, "above", after=start)
    figures = {"flow peak": flow[ipk], "day of flow peak": t[ipk], "qpcr peak": obs["qpcr"][ipk],
               "start of B < 1": start, "end of B < 1": end,
               "B back above 10 cells/µL": crossing(t, b, 10.0, "above", after=end),
               "B at 50 % of b0": crossing(t, b, 0.5 * p["b0"], "above", after=end),
               "B never below 1 cell/µL": float(np.all(b >= 1.0)),
               "Pl at day 90": y[8][i90], "autoantibody at day 90": a[i90], "Hb at day 90": hb[i90],
               "Hb change at day 90": hb[i90] - hb[0], "Hb at day 730": hb[-1]}
    # "CAR+ cells below 0.01 cells/µL from about day 170": the last time flow is >= 0.01
    above = np.nonzero(flow >= 0.01)[0]
    figures["flow below 0.01 cells/µL from day"] = t[above[-1]] if above.size else float("nan")
    return figures


def spec_behaviour():
    """The spec's reference behaviour of each product preset, from the SciPy solution alone."""
    t = np.round(np.arange(0.0, 730.0 + 1e-9, 0.05), 10)
    for preset, targets in SPEC_BEHAVIOUR.items():
        print(f"spec reference behaviour, preset {preset} (SciPy solution, 0.05-day grid)")
        p = m2.params(**m2.PRESETS[preset])
        figures = spec_figures(t, m2.solve(t, p, rtol=REF_RTOL, atol=REF_ATOL), p)
        for name, (target, tol) in targets.items():
            near(f"{preset}: {name}", figures[name], target, tol)

    # The spec's stated Hb steady state without autoantibody: Hb' = 0 at hb0*((krbc+khem)/krbc)^(1/(1+gam)).
    p = m2.params()
    hb_inf = p["hb0"] * ((p["krbc"] + p["khem"]) / p["krbc"]) ** (1.0 / (1.0 + p["gam"]))
    x = m2.initial_state(p)
    x[9], x[10] = 0.0, hb_inf
    dhb = m2.rhs(0.0, x, p)[10]
    check(abs(dhb) < 1e-12 * hb_inf, f"spec: Hb' = 0 at A = 0, Hb = {hb_inf:.4f} g/L (Hb' = {dhb:.2e})")
    # ... and the baseline is a steady state of the disease compartments (R = Ps = Pl = A = 1, Hb = hb0 at B = b0,
    # without CAR-T).
    x = m2.initial_state(p)
    x[0], x[4], x[5] = 0.0, 1.0, p["b0"]
    d = m2.rhs(0.0, x, p)
    check(np.all(np.abs(d[4:]) < 1e-12 * np.maximum(1.0, np.abs(x[4:]))),
          f"spec: untreated baseline is a steady state (max |x'| = {np.abs(d[4:]).max():.2e})")


def reference_self_check():
    """LSODA (the reference used below) against Radau: two integrators, same equations."""
    print("reference self-check: LSODA (rtol 1e-12) vs Radau (rtol 1e-10) at the defaults")
    p = m2.params()
    a = m2.solve(TIMES, p, rtol=REF_RTOL, atol=REF_ATOL)
    b = m2.solve(TIMES, p, rtol=1e-10, atol=1e-16, method="Radau")
    big = np.abs(a) > FLOOR
    rel = float(np.max(np.abs(a - b)[big] / np.abs(a)[big]))
    check(rel < 1e-7, f"LSODA vs Radau, max relative difference {rel:.2e} (< 1e-7)")


def compare_all(got, y, p, floor, abs_tol):
    """Check every state and observable of cartpk's table against the reference; return the worst relative diff.

    Observables use the floor of the states they are made of (qpcr's is kcp x floor, since qpcr = kcp x flow).
    """
    obs = m2.observables(y, p)
    worst = 0.0
    for name, ref in list(zip(m2.STATES, y)) + [(k, obs[k]) for k in m2.OBSERVABLES]:
        if name not in got:
            check(False, f"column {name} present in cartpk's table")
            continue
        scale = p["kcp"] if name == "qpcr" else 1.0
        rel, absd, i = compare(got[name], ref, floor * scale)
        worst = max(worst, rel)
        check(rel <= REL_TOL and absd <= abs_tol * scale,
              f"{name:6s} max rel diff {rel:.2e} (at day {TIMES[i]:g}: cartpk {got[name][i]:.10g}, "
              f"scipy {ref[i]:.10g}); max abs diff where |ref| <= {floor * scale:g}: {absd:.1e}")
    return worst


# Parameters perturbed in the random sets (the product's binders and kill rates stay as its preset sets them),
# each by a log-normal factor with this SD, fractions kept inside (0, 1).
RANDOM_SD = 0.3
FIXED_IN_RANDOM = {"arm19", "armbc", "kmax19", "kmaxbc", "ld", "kcp"}
FRACTIONS = {"fblood", "fld_b", "fpl"}


def random_sets(n, seed=20261125):
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n):
        ov = {}
        for k, v in m2.DEFAULTS.items():
            if k in FIXED_IN_RANDOM or v == 0.0:
                continue
            x = v * math.exp(RANDOM_SD * rng.standard_normal())
            ov[k] = min(x, 0.95) if k in FRACTIONS else x
        sets.append(ov)
    return sets


def compare_peak_relative(got, y, p, tag):
    """The issue's criterion: every state within 1e-5 relative wherever it exceeds 1e-4 of its own peak."""
    worst = 0.0
    for name, ref in zip(m2.STATES, y):
        rel, _, i = compare(got[name], ref, 1e-4 * np.max(np.abs(ref)))
        worst = max(worst, rel)
        check(rel <= REL_TOL, f"{tag}: {name:3s} max rel diff {rel:.2e} where above 1e-4 of its peak "
                              f"(day {TIMES[i]:g}: cartpk {got[name][i]:.10g}, scipy {ref[i]:.10g})")
    return worst


def presets_and_random_sets(exe, tmp):
    """All three presets, at the defaults and at 4 random parameter sets each, state by state."""
    times = np.asarray(TIMES, dtype=float)
    worst = 0.0
    for preset, preset_values in m2.PRESETS.items():
        for k, overrides in enumerate([{}] + random_sets(4, seed=7 + len(preset))):
            tag = f"{preset}_{'defaults' if k == 0 else f'random{k}'}"
            p = m2.params(**{**overrides, **preset_values})
            try:
                got, _ = run_cartpk(exe, overrides, tmp, tag, product=preset)
            except Exception as e:  # noqa: BLE001 - report and count as a failure
                check(False, f"cartpk ran ({tag}): {e}")
                continue
            y = m2.solve(times, p, rtol=REF_RTOL, atol=REF_ATOL)
            worst = max(worst, compare_peak_relative(got, y, p, tag))
    print(f"presets x random sets: worst relative difference {worst:.2e}")


def neither_arm(exe, tmp):
    """arm19 = armbc = 0 and no killing: B cells, plasma cells and autoantibody follow the no-CAR course, and the
    CAR-T grows on the lymphodepletion surge alone. With S = 0 the spec's equations give, with c = ndiv·ln 2 and
    u(t) = rhoh·ld·(1 − exp(−kld·t))/(kld·c): Q = 1/(1 + u), E = E0·(1 + u)^c·exp(−(kem + dele)·t), X = 0."""
    print("product with neither arm (arm19 = armbc = 0, kmax19 = kmaxbc = 0)")
    overrides = {"arm19": 0.0, "armbc": 0.0, "kmax19": 0.0, "kmaxbc": 0.0}
    got, _ = run_cartpk(exe, overrides, tmp, "neither_arm")
    times = np.asarray(TIMES, dtype=float)
    no_car = m2.solve(times, m2.params(fblood=0.0), rtol=REF_RTOL, atol=REF_ATOL)  # no CAR-T infused at all
    for i, name in enumerate(m2.STATES):
        if name in ("Bm", "B", "R", "Ps", "Pl", "A", "Hb"):
            rel, _, j = compare(got[name], no_car[i], 1e-12)
            check(rel <= REL_TOL, f"neither arm: {name} on its no-CAR course (max rel diff {rel:.2e}, day {TIMES[j]:g})")
    p = m2.params(**overrides)
    c = p["ndiv"] * math.log(2.0)
    u = p["rhoh"] * p["ld"] * (1.0 - np.exp(-p["kld"] * times)) / (p["kld"] * c)
    e0 = p["fblood"] * p["dose_per_kg"] / p["vblood"]
    e_surge = e0 * (1.0 + u) ** c * np.exp(-(p["kem"] + p["dele"]) * times)
    rel, _, j = compare(got["E"], e_surge, 1e-4 * e_surge.max())
    check(rel <= REL_TOL, f"neither arm: E = E0·(1+u)^c·exp(-(kem+dele)t), the surge alone, above 1e-4 of its peak "
                          f"(max rel diff {rel:.2e})")
    rel, _, _ = compare(got["Q"], 1.0 / (1.0 + u), 1e-12)
    check(rel <= REL_TOL, f"neither arm: Q = 1/(1+u) (max rel diff {rel:.2e})")
    check(np.all(got["X"] == 0.0), "neither arm: no exhaustion without antigen (X = 0)")
    peak = int(np.argmax(e_surge))
    check(0 < peak < len(TIMES) - 1 and e_surge[peak] > e0,
          f"neither arm: the surge alone expands E to {e_surge[peak]:.3g} at day {TIMES[peak]:g}, then it contracts")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    exe = sys.argv[1]
    spec_behaviour()
    reference_self_check()
    worst_overall = 0.0
    times = np.asarray(TIMES, dtype=float)
    with tempfile.TemporaryDirectory(prefix="m2_scipy_") as tmp:
        runs = [(tag, ov, CARTPK_ATOL_SCALE, FLOOR) for tag, ov in CASES.items()]
        runs.append(("defaults_default_atol", {}, None, DEFAULT_ATOL_FLOOR))
        for tag, overrides, atol_scale, floor in runs:
            p = m2.params(**overrides)
            print(f"case {tag}: {overrides or 'spec defaults'}; cartpk --rtol {CARTPK_RTOL:g} --atol-scale "
                  f"{'default' if atol_scale is None else f'{atol_scale:g}'}; 1e-5 relative above {floor:g}")
            try:
                got, cmd = run_cartpk(exe, overrides, tmp, tag, atol_scale)
            except Exception as e:  # noqa: BLE001 - report and count as a failure
                check(False, f"cartpk ran: {e}")
                continue
            print(f"  command: {cmd}")
            same_times = "time" in got and np.array_equal(got["time"], times)
            check(same_times, "output times are the requested ones")
            if not same_times:
                continue
            y = m2.solve(times, p, rtol=REF_RTOL, atol=REF_ATOL)
            worst = compare_all(got, y, p, floor, ABS_TOL_SMALL)
            if atol_scale is not None:
                worst_overall = max(worst_overall, worst)
        presets_and_random_sets(exe, tmp)
        neither_arm(exe, tmp)
    print(f"worst relative difference cartpk (atol-scale {CARTPK_ATOL_SCALE:g}) vs SciPy over all cases, states "
          f"and observables where the reference exceeds {FLOOR:g}: {worst_overall:.2e}")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
