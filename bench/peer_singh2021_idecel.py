#!/usr/bin/python3
"""Independent SciPy peer for the singh2021_idecel throughput benchmark (published model P2,
shared/spec/published-models.md).

  scipy_lsoda  one 365-day simulation of the 8-state model at its published typical values after 150e6 CAR+ cells
               into blood at day 0, outputs every --step days, with scipy.integrate.solve_ivp(method="LSODA", with
               the hand-derived Jacobian), repeated --repeats times; the rate is solves / total wall time of the
               repeats. Same tolerances as cartpk's defaults (rtol 1e-8, absolute 1e-12 x each state's typical
               scale: 1e6 for cells and complexes per L, 1e9 tumour cells per L, 0.1 g/L, 100 ng/mL).
               LSODA is the fastest of SciPy's stiff-capable methods here (BDF and Radau take 5-15x longer).

The equations come from tests/python/singh2021_idecel_reference.py, written from the spec alone (no code shared
with cartpk). Prints one JSON object on stdout:
  {"scipy_lsoda": {"solves", "seconds", "solves_per_second", "rhs_evaluations"},
   "check": {"times": [...], "transgene": [...], "tumor": [...], "mprotein": [...], "sbcma": [...]},
   "meta": {...}}
"check" comes from a tight reference solve (Radau rtol 1e-12; agrees with LSODA to ~1e-9).
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.integrate import solve_ivp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
import singh2021_idecel_reference as ref  # noqa: E402

REF_RTOL = 1e-12


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20, help="number of timed solves (default 20)")
    ap.add_argument("--dose", type=float, default=150e6, help="CAR+ cells at day 0 (default 150e6)")
    ap.add_argument("--end", type=float, default=365.0, help="last output day (default 365)")
    ap.add_argument("--step", type=float, default=0.25, help="output step in days (default 0.25)")
    ap.add_argument("--rtol", type=float, default=1e-8, help="LSODA relative tolerance (default 1e-8)")
    ap.add_argument("--atol-scale", type=float, default=1e-12,
                    help="absolute tolerance per unit of each state's typical scale (default 1e-12)")
    ap.add_argument("--check-times", default="1,14,28,67,180,365", help="comma-separated check days")
    args = ap.parse_args()
    if args.repeats < 1:
        sys.exit("--repeats must be at least 1")

    times = np.arange(0.0, args.end + 1e-9, args.step)
    p = ref.params(dose=args.dose)
    atol = args.atol_scale * ref.TYPICAL
    y0 = ref.initial_state(p, args.dose)
    nfev = 0
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        sol = solve_ivp(ref.rhs, (0.0, float(times[-1])), y0, method="LSODA", t_eval=times, args=(p,),
                        rtol=args.rtol, atol=atol, jac=ref.jacobian)
        if not sol.success:
            sys.exit(f"LSODA failed: {sol.message}")
        nfev = sol.nfev
    seconds = time.perf_counter() - t0

    check_times = np.array([float(s) for s in args.check_times.split(",")])
    obs = ref.observables(ref.solve(check_times, p, args.dose, rtol=REF_RTOL, atol=1e-16 * ref.TYPICAL), p)
    result = {
        "scipy_lsoda": {"solves": args.repeats, "seconds": seconds,
                        "solves_per_second": args.repeats / seconds if seconds > 0 else None,
                        "rhs_evaluations": int(nfev)},
        "check": {"times": check_times.tolist(), **{k: v.tolist() for k, v in obs.items()}},
        "meta": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                 "rtol": args.rtol, "atol_scale": args.atol_scale, "times": len(times), "dose": args.dose},
    }
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
