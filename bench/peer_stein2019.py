#!/usr/bin/python3
"""Independent Python peers for the stein2019 throughput benchmark (spec: shared/spec/models.md, M1).

Two peers evaluate qpcr = E + M at the same sampling times for every parameter set:

  numpy_closed     the closed form, vectorised over all sets and times at once (the fastest thing a NumPy user
                   would write); timed as the best of --repeats runs.
  scipy_lsoda_ode  the ODE form with scipy.integrate.solve_ivp(method="LSODA") in a per-set Python loop, split
                   into two segments at tmax where the state is re-set (the way a user handles the discontinuity);
                   run on the first --ode-sets sets only, because it is slow, and reported per set.

Timings cover the computation only (not reading the CSV). The result is one JSON object on stdout:
  {"numpy_closed": {"sets", "seconds", "sets_per_second"}, "scipy_lsoda_ode": {...},
   "check": {"times": [...], "numpy_closed": [[qpcr at each time] x first 5 sets], "scipy_lsoda_ode": [...]},
   "meta": {...versions and solver settings...}}
This file is deliberately independent of cartpk (no shared code), so agreement with it is a real cross-check.
"""
import argparse
import json
import platform
import sys
import time

import numpy as np
import scipy
from scipy.integrate import solve_ivp

COLUMNS = ("foldx", "tmax", "cmax", "alpha", "fb", "beta")
N_CHECK = 5  # sets whose predictions are echoed for validation


def read_sets(path):
    """Parameter sets as a dict of 1-D float arrays keyed by column name (column order in the file is free)."""
    with open(path) as f:
        header = [h.strip() for h in f.readline().strip().split(",")]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        sys.exit(f"{path}: missing column(s) {', '.join(missing)}; header is {','.join(header)}")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {c: np.ascontiguousarray(data[:, header.index(c)]) for c in COLUMNS}


def numpy_closed(p, times):
    """qpcr for all sets (rows) at all times (columns) from the closed form."""
    t = times[None, :]
    foldx, tmax, cmax = p["foldx"][:, None], p["tmax"][:, None], p["cmax"][:, None]
    alpha, fb, beta = p["alpha"][:, None], p["fb"][:, None], p["beta"][:, None]
    rho = np.log(foldx) / tmax
    r0 = cmax / foldx
    # Both branches are evaluated everywhere and np.where picks one; clamping each branch's time to its own
    # phase keeps the unused branch finite (exp(rho*t) overflows far past the peak otherwise).
    growth = r0 * np.exp(rho * np.minimum(t, tmax))
    dt = np.maximum(t - tmax, 0.0)
    decline = (1.0 - fb) * cmax * np.exp(-alpha * dt) + fb * cmax * np.exp(-beta * dt)
    # t >= tmax takes the decline branch (the state at tmax is the post-reset one), as in the spec.
    return np.where(t < tmax, growth, decline)


def lsoda_one(foldx, tmax, cmax, alpha, fb, beta, times, rtol, atol):
    """qpcr at `times` for one set: integrate [0, tmax], re-set the state at the peak, integrate [tmax, tlast]."""
    out = np.empty(times.size)
    early = times < tmax
    late = ~early

    if early.any():
        rho = np.log(foldx) / tmax

        def growth(_t, x):
            return [rho * x[0], 0.0]

        sol = solve_ivp(growth, (0.0, tmax), [cmax / foldx, 0.0], method="LSODA", t_eval=times[early],
                        rtol=rtol, atol=atol)
        if not sol.success:
            raise RuntimeError(f"LSODA failed on the growth segment: {sol.message}")
        out[early] = sol.y[0] + sol.y[1]
    # The growth segment's end state is discarded: the model re-sets E and M at tmax, so it is skipped
    # entirely when no sampling time falls before the peak.

    if late.any():
        x_peak = [(1.0 - fb) * cmax, fb * cmax]
        t_late = times[late]
        tlast = t_late[-1]
        if tlast > tmax:

            def decline(_t, x):
                return [-alpha * x[0], -beta * x[1]]

            sol = solve_ivp(decline, (tmax, tlast), x_peak, method="LSODA", t_eval=t_late, rtol=rtol, atol=atol)
            if not sol.success:
                raise RuntimeError(f"LSODA failed on the decline segment: {sol.message}")
            out[late] = sol.y[0] + sol.y[1]
        else:  # every late time equals tmax (solve_ivp needs a non-empty span)
            out[late] = x_peak[0] + x_peak[1]
    return out


def scipy_lsoda_ode(p, times, n, rtol, atol):
    rows = []
    for i in range(n):
        rows.append(lsoda_one(p["foldx"][i], p["tmax"][i], p["cmax"][i], p["alpha"][i], p["fb"][i], p["beta"][i],
                              times, rtol, atol))
    return np.array(rows)


def timed(fn, repeats):
    """(best wall time over `repeats` calls, result of the last call)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def rate(n, seconds):
    return {"sets": int(n), "seconds": seconds, "sets_per_second": n / seconds if seconds > 0 else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", required=True, help="CSV with header foldx,tmax,cmax,alpha,fb,beta; one row per set")
    ap.add_argument("--times", required=True, help="comma-separated sampling times in days, ascending")
    ap.add_argument("--ode-sets", type=int, default=300, help="run the LSODA peer on the first N sets (default 300)")
    ap.add_argument("--repeats", type=int, default=3, help="best-of repeats for numpy_closed (default 3)")
    ap.add_argument("--ode-repeats", type=int, default=1, help="best-of repeats for scipy_lsoda_ode (default 1)")
    ap.add_argument("--rtol", type=float, default=1e-8, help="LSODA relative tolerance (default 1e-8)")
    # Absolute tolerances are 1e-10 x the state scales used by cartpk (E ~ 1e3, M ~ 1e2 copies/µg).
    ap.add_argument("--atol", default="1e-7,1e-8", help="LSODA absolute tolerance for E,M (default 1e-7,1e-8)")
    args = ap.parse_args()

    times = np.array([float(s) for s in args.times.split(",")])
    if times.size == 0 or np.any(np.diff(times) <= 0) or times[0] < 0:
        sys.exit("--times must be non-negative and strictly ascending")
    atol = [float(s) for s in args.atol.split(",")]
    if len(atol) != 2:
        sys.exit("--atol needs two values (E,M)")

    p = read_sets(args.sets)
    n = p["foldx"].size
    n_ode = max(0, min(args.ode_sets, n))

    closed_s, closed = timed(lambda: numpy_closed(p, times), max(1, args.repeats))
    result = {"numpy_closed": rate(n, closed_s)}

    if n_ode > 0:
        ode_s, ode = timed(lambda: scipy_lsoda_ode(p, times, n_ode, args.rtol, atol), max(1, args.ode_repeats))
        result["scipy_lsoda_ode"] = rate(n_ode, ode_s)
    else:
        ode = np.empty((0, times.size))
        result["scipy_lsoda_ode"] = rate(0, 0.0)
    n_check = min(N_CHECK, n)
    if ode.shape[0] < n_check:  # --ode-sets below N_CHECK: still produce the check rows (untimed)
        ode = scipy_lsoda_ode(p, times, n_check, args.rtol, atol)

    result["check"] = {
        "times": times.tolist(),
        "numpy_closed": closed[:n_check].tolist(),
        "scipy_lsoda_ode": ode[:n_check].tolist(),
    }
    result["meta"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "lsoda": {"rtol": args.rtol, "atol": atol},
        "repeats": {"numpy_closed": args.repeats, "scipy_lsoda_ode": args.ode_repeats},
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
