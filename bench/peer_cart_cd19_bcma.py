#!/usr/bin/python3
"""Independent SciPy peer for the cart_cd19_bcma throughput benchmark (spec: shared/spec/models.md, M2).

  scipy_lsoda  one two-year simulation of the 11-state model at the spec's default parameters with
               scipy.integrate.solve_ivp(method="LSODA"), output at days 1, 2, ..., 730 (or --times), repeated
               --repeats times; the rate is solves / total wall time of the repeats.

The equations come from tests/python/m2_reference.py, a SciPy implementation written from the spec alone
(no code shared with cartpk), so agreement with it is a real cross-check.

The result is one JSON object on stdout:
  {"scipy_lsoda": {"solves", "seconds", "solves_per_second"},
   "check": {"times": [8, 53, 90, 211, 730], "flow": [...], "bcell": [...], "hb": [...]},
   "check_bench_tol": {... the same, from the timed solver settings ...},
   "meta": {...versions and solver settings...}}
"check" comes from a tight reference solve (LSODA rtol 1e-12, atol 1e-20; it agrees with Radau to ~1e-9
relative), because flow falls to ~4e-14 cells/µL by day 730, far below what the benchmark's absolute
tolerances resolve; "check_bench_tol" is the timed solve's own values, for information.
"""
import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
import m2_reference as m2  # noqa: E402

CHECK_TIMES = (8.0, 53.0, 90.0, 211.0, 730.0)
# Typical magnitude of each state (STATES order) at the defaults, from the spec: CAR-T peak ~10 cells/µL,
# fractions ~1, B cells ~b0 = 150 cells/µL, Hb ~hb0 = 80 g/L. Absolute tolerance = --atol-scale x these.
STATE_SCALES = np.array([10.0, 10.0, 10.0, 1.0, 1.0, 150.0, 1.0, 1.0, 1.0, 1.0, 80.0])
REF_RTOL, REF_ATOL = 1e-12, 1e-20


def pick(y, times, want):
    """Observables flow, bcell, hb of states y (11, len(times)) at the times `want` (which must be in `times`)."""
    idx = [int(np.nonzero(np.isclose(times, w, rtol=0, atol=1e-9))[0][0]) for w in want]
    obs = m2.observables(y[:, idx])
    return {"times": list(want), "flow": obs["flow"].tolist(), "bcell": obs["bcell"].tolist(),
            "hb": obs["hb"].tolist()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20, help="number of timed solves (default 20)")
    ap.add_argument("--times", default=None,
                    help="comma-separated output times in days, ascending (default 1,2,...,730)")
    ap.add_argument("--rtol", type=float, default=1e-8, help="LSODA relative tolerance (default 1e-8)")
    ap.add_argument("--atol-scale", type=float, default=1e-10,
                    help="LSODA absolute tolerance per unit of each state's typical scale (default 1e-10)")
    args = ap.parse_args()
    if args.repeats < 1:
        sys.exit("--repeats must be at least 1")

    if args.times is None:
        times = np.arange(1.0, 731.0)
    else:
        times = np.array([float(s) for s in args.times.split(",")])
        if times.size == 0 or np.any(np.diff(times) <= 0) or times[0] < 0:
            sys.exit("--times must be non-negative and strictly ascending")
    p = m2.params()
    atol = args.atol_scale * STATE_SCALES

    y = None
    t0 = time.perf_counter()
    for _ in range(args.repeats):
        y = m2.solve(times, p, rtol=args.rtol, atol=atol, method="LSODA")
    seconds = time.perf_counter() - t0

    check_times = np.array(CHECK_TIMES)
    ref = m2.solve(check_times, p, rtol=REF_RTOL, atol=REF_ATOL, method="LSODA")
    result = {
        "scipy_lsoda": {"solves": args.repeats, "seconds": seconds,
                        "solves_per_second": args.repeats / seconds if seconds > 0 else None},
        "check": pick(ref, check_times, CHECK_TIMES),
    }
    if all(np.any(np.isclose(times, w, rtol=0, atol=1e-9)) for w in CHECK_TIMES):
        result["check_bench_tol"] = pick(y, times, CHECK_TIMES)
    else:  # the timed grid lacks a check time: solve once more (untimed) at the check times
        result["check_bench_tol"] = pick(m2.solve(check_times, p, rtol=args.rtol, atol=atol), check_times,
                                         CHECK_TIMES)
    result["meta"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "parameters": "spec defaults",
        "times": {"n": int(times.size), "first": float(times[0]), "last": float(times[-1])},
        "lsoda": {"rtol": args.rtol, "atol": atol.tolist(), "atol_scale": args.atol_scale,
                  "state_scales": dict(zip(m2.STATES, STATE_SCALES.tolist()))},
        "check_reference": {"method": "LSODA", "rtol": REF_RTOL, "atol": REF_ATOL},
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
