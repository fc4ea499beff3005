#!/usr/bin/python3
"""SciPy peer of `cartpk fit --model cart_cd19_bcma`: per-subject ML fits with LSODA + L-BFGS-B.

The model equations are tests/python/m2_reference.py's (a SciPy implementation written from the spec alone, no
code shared with cartpk). Conventions follow cartpk's documentation:

  doses        dose records (EVID = 1, AMT CAR+ cells, WT kg from the row or the subject's first WT): before the
               first dose there is no CAR-T (E = M = X = 0); a dose adds fblood·(AMT/WT)/vblood cells/µL to E.
               An observation at a dose time is taken after the dose.
  likelihood   log-normal residual error per observable with a fixed SD (--error obs=s), ln L = ln N(ln y; ln f, s)
               (no Jacobian term); censored records (CENS = 1; limit = LLOQ column if given, else DV) by M3;
               OFV = −2·ln L with 2π terms.
  estimates    rho, rhoh, dele, kem, fblood, kmax19 (cartpk's default set) on cartpk's scales: log for rho, dele,
               kem; logit for fblood; identity for rhoh and kmax19 (lower bound 0); bounds as `cartpk models
               cart_cd19_bcma`. Every other parameter at its spec default.
  solver       scipy.integrate.solve_ivp(method="LSODA"), rtol 1e-8, atol 1e-12 × each state's typical scale
               (cartpk's defaults: 100 for B and Hb, 1 otherwise); a failed solve is a large objective (1e10).
  optimiser    scipy.optimize.minimize(method="L-BFGS-B") with its finite-difference gradient (forward
               differences, step --fd-eps on the estimation scale), starts: --starts-json (natural values per
               subject, e.g. cartpk's own starts) or the model defaults first, then Latin-hypercube points.

Usage:
  peer_fit_cart_cd19_bcma.py DATA.csv --error qpcr=0.3 --error flow=0.3 --error bcell=0.3 [--starts 3]
                             [--starts-json starts.json] [--ids 1,2] [--out result.json]
Output: one JSON object {"subjects": [{"id", "ofv", "estimates", "start_ofvs", "nfev", "solves", "seconds"}],
                         "seconds", "meta"}.

Also provides simulate_cohort() (used by bench/run_bench.py), which writes a noisy dataset from the reference.
"""
import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy.integrate import solve_ivp
from scipy.optimize import minimize
from scipy.special import log_ndtr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "python"))
import m2_reference as m2  # noqa: E402
from peer_common import number, read_records  # noqa: E402

# name: (lower, upper, transform) as cartpk's `models cart_cd19_bcma` and its transform rule
ESTIMATED = {"rho": (0.05, 5.0, "log"), "rhoh": (0.0, 3.0, "identity"), "dele": (0.01, 2.0, "log"),
             "kem": (1e-4, 1.0, "log"), "fblood": (1e-4, 0.5, "logit"), "kmax19": (0.0, 10.0, "identity")}
NAMES = tuple(ESTIMATED)
STATE_SCALES = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 100.0, 1.0, 1.0, 1.0, 1.0, 100.0])  # cartpk's typical scales
OBS_INDEX = {name: k for k, name in enumerate(m2.OBSERVABLES)}
LN2PI = math.log(2.0 * math.pi)
FAILED = 1e10


def to_z(name, v):
    t = ESTIMATED[name][2]
    return math.log(v) if t == "log" else math.log(v / (1.0 - v)) if t == "logit" else v


def from_z(name, z):
    t = ESTIMATED[name][2]
    return math.exp(z) if t == "log" else 1.0 / (1.0 + math.exp(-z)) if t == "logit" else z


def box():
    lo = np.array([to_z(n, ESTIMATED[n][0]) for n in NAMES])
    hi = np.array([to_z(n, ESTIMATED[n][1]) for n in NAMES])
    return lo, hi


# --------------------------------------------------------------------------------------------------------------
# Data

def read_dataset(path):
    header, rows = read_records(path)
    num = number

    subjects, order = {}, []
    for r in rows:
        sid = r["ID"]
        if sid not in subjects:
            subjects[sid] = {"doses": [], "obs": [], "wt": None}
            order.append(sid)
        s = subjects[sid]
        if s["wt"] is None and num(r, "WT") is not None:
            s["wt"] = num(r, "WT")
        evid = int(num(r, "EVID", 0))
        if evid == 1:
            s["doses"].append((float(r["TIME"]), num(r, "AMT"), num(r, "WT")))
            continue
        if int(num(r, "MDV", evid)) == 1:
            continue
        cens = int(num(r, "CENS", 0))
        y = num(r, "LLOQ") if cens == 1 and num(r, "LLOQ") is not None else num(r, "DV")
        s["obs"].append((float(r["TIME"]), r["DVID"], y, cens))
    out = []
    for sid in order:
        s = subjects[sid]
        doses = [(t, amt / (w if w is not None else s["wt"])) for t, amt, w in s["doses"]]  # (time, cells/kg)
        obs = s["obs"]
        out.append((sid, {"doses": doses, "t": np.array([o[0] for o in obs]),
                          "obs": np.array([OBS_INDEX[o[1]] for o in obs]),
                          "lny": np.log([o[2] for o in obs]), "cens": np.array([o[3] == 1 for o in obs])}))
    return out


# --------------------------------------------------------------------------------------------------------------
# Model solution at the observation times, with dose records

def solve_subject(p, doses, times, rtol, atol):
    """Observables (6, len(times)) at the sorted unique `times`; doses are (time, cells/kg)."""
    y = m2.initial_state(p)
    y[0:3] = 0.0  # no CAR-T before the first dose record
    dose_times = sorted(set(t for t, _ in doses))
    out = np.empty((11, times.size))
    t_now = 0.0
    k = 0  # next output index
    for seg_end in dose_times + [math.inf]:
        # outputs strictly before the dose at seg_end (an output at a dose time is after the dose)
        upto = int(np.searchsorted(times, seg_end, side="left"))
        if upto > k:
            t_end = float(times[upto - 1])
            if t_end > t_now:
                sol = solve_ivp(m2.rhs, (t_now, t_end), y, method="LSODA", t_eval=times[k:upto], args=(p,),
                                rtol=rtol, atol=atol)
                if not sol.success:
                    raise RuntimeError(sol.message)
                out[:, k:upto] = sol.y
                y = sol.y[:, -1].copy()
                t_now = t_end
            else:
                out[:, k:upto] = y[:, None]
            k = upto
        if seg_end == math.inf:
            break
        if seg_end > t_now:  # advance to the dose time
            sol = solve_ivp(m2.rhs, (t_now, seg_end), y, method="LSODA", args=(p,), rtol=rtol, atol=atol)
            if not sol.success:
                raise RuntimeError(sol.message)
            y = sol.y[:, -1].copy()
            t_now = seg_end
        for t, cells_per_kg in doses:
            if t == seg_end:
                y[0] += p["fblood"] * cells_per_kg / p["vblood"]
    obs = m2.observables(out, p)
    return np.array([obs[name] for name in m2.OBSERVABLES])


class Objective:
    def __init__(self, d, sigmas, rtol, atol):
        self.d = d
        self.times, self.idx = np.unique(d["t"], return_inverse=True)
        self.s = np.array([sigmas[m2.OBSERVABLES[j]] for j in d["obs"]])
        self.rtol, self.atol = rtol, atol
        self.solves = 0

    def natural(self, z):
        return {n: from_z(n, float(v)) for n, v in zip(NAMES, z)}

    def __call__(self, z):
        p = m2.params(**self.natural(z))
        self.solves += 1
        try:
            obs = solve_subject(p, self.d["doses"], self.times, self.rtol, self.atol)
        except RuntimeError:
            return FAILED
        f = obs[self.d["obs"], self.idx]
        if not np.all(np.isfinite(f)):
            return FAILED
        f = np.maximum(f, 1e-300)
        r = (self.d["lny"] - np.log(f)) / self.s
        c = self.d["cens"]
        ll = np.where(c, 0.0, -0.5 * (LN2PI + r * r) - np.log(self.s)).sum()
        if c.any():
            ll += log_ndtr(r[c]).sum()
        return float(-2.0 * ll)


def latin_hypercube(lo, hi, n, rng):
    u = (np.array([rng.permutation(n) for _ in range(lo.size)]).T + rng.random((n, lo.size))) / n
    return lo + (hi - lo) * u


def fit_subject(d, sigmas, starts_natural, n_starts, rng, args):
    obj = Objective(d, sigmas, args.rtol, args.atol_scale * STATE_SCALES)
    lo, hi = box()
    if starts_natural:
        points = [np.clip([to_z(n, s[n]) for n in NAMES], lo, hi) for s in starts_natural]
    else:
        defaults = m2.params()
        points = [np.clip([to_z(n, defaults[n]) for n in NAMES], lo, hi)]
        if n_starts > 1:
            points += list(latin_hypercube(lo, hi, n_starts - 1, rng))
    best, start_ofvs, nfev = None, [], 0
    for z in points:
        res = minimize(obj, z, method="L-BFGS-B", bounds=list(zip(lo, hi)),
                       options={"maxfun": args.maxfun, "eps": args.fd_eps})
        nfev += int(res.nfev)
        start_ofvs.append(float(res.fun))
        if res.fun < FAILED and (best is None or res.fun < best.fun):
            best = res
    return {"ofv": None if best is None else float(best.fun),
            "estimates": None if best is None else obj.natural(best.x),
            "start_ofvs": start_ofvs, "nfev": nfev, "solves": obj.solves, "n_starts": len(points),
            "n_obs": int(d["t"].size), "n_blq": int(d["cens"].sum())}


# --------------------------------------------------------------------------------------------------------------
# Simulated cohort (for run_bench.py)

SIM_CAR_TIMES = (1.0, 4.0, 7.0, 9.0, 11.0, 14.0, 21.0, 28.0, 56.0, 90.0, 180.0)   # qpcr and flow, days
SIM_BCELL_TIMES = (7.0, 14.0, 28.0, 56.0, 90.0, 180.0, 270.0, 365.0)             # bcell, days
SIM_LOG_SD = {"rho": 0.15, "rhoh": 0.3, "dele": 0.25, "kem": 0.3, "fblood": 0.3, "kmax19": 0.3}


def simulate_cohort(path, n_patients, seed, sigma=0.3):
    """Write a cart_cd19_bcma dataset (dose record AMT = 1e6·WT cells at t = 0, WT column; qpcr, flow, bcell
    with log-normal noise `sigma`) from the SciPy reference (tight tolerances) and return the true values."""
    rng = np.random.default_rng(seed)
    truths = []
    lines = ["ID,TIME,EVID,AMT,DV,DVID,MDV,WT"]
    for i in range(1, n_patients + 1):
        wt = float(np.round(rng.uniform(50.0, 100.0), 1))
        truth = {n: float(np.clip(m2.DEFAULTS[n] * math.exp(SIM_LOG_SD[n] * rng.standard_normal()),
                                  ESTIMATED[n][0], ESTIMATED[n][1])) for n in NAMES}
        truths.append(truth)
        p = m2.params(**truth)
        times = np.array(sorted(set(SIM_CAR_TIMES) | set(SIM_BCELL_TIMES)))
        obs = solve_subject(p, [(0.0, 1e6)], times, 1e-11, 1e-16 * STATE_SCALES)
        lines.append(f"{i},0,1,{1e6 * wt:.17g},.,.,1,{wt:g}")
        for k, t in enumerate(times):
            for name in ("qpcr", "flow", "bcell"):
                wanted = SIM_BCELL_TIMES if name == "bcell" else SIM_CAR_TIMES
                if t not in wanted:
                    continue
                v = obs[OBS_INDEX[name], k] * math.exp(sigma * rng.standard_normal())
                lines.append(f"{i},{t:g},0,.,{v:.17g},{name},0,{wt:g}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return truths


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="NONMEM-style CSV with DVID names (qpcr, flow, bcell, ...)")
    ap.add_argument("--error", action="append", default=[], help="OBS=SD of the fixed log-normal error (repeatable)")
    ap.add_argument("--starts", type=int, default=3, help="starts per subject without --starts-json (default 3)")
    ap.add_argument("--starts-json", default="", help="JSON {id: [{name: natural value}, ...]}: the starts to use")
    ap.add_argument("--seed", type=int, default=1, help="seed of the Latin-hypercube starts (default 1)")
    ap.add_argument("--ids", default="", help="fit only these subject IDs, comma-separated")
    ap.add_argument("--rtol", type=float, default=1e-8, help="LSODA relative tolerance (default 1e-8, as cartpk)")
    ap.add_argument("--atol-scale", type=float, default=1e-12,
                    help="LSODA absolute tolerance per unit of a state's typical scale (default 1e-12, as cartpk)")
    ap.add_argument("--fd-eps", type=float, default=1e-6,
                    help="finite-difference step of L-BFGS-B on the estimation scale (default 1e-6)")
    ap.add_argument("--maxfun", type=int, default=4000, help="objective evaluations per start (default 4000)")
    ap.add_argument("--out", default="", help="write the JSON here instead of stdout")
    args = ap.parse_args()

    sigmas = {}
    for e in args.error:
        name, v = e.split("=", 1)
        sigmas[name.strip()] = float(v)
    subjects = read_dataset(args.data)
    if args.ids:
        keep = [s.strip() for s in args.ids.split(",")]
        subjects = [s for s in subjects if s[0] in keep]
    missing = {m2.OBSERVABLES[j] for _, d in subjects for j in d["obs"]} - set(sigmas)
    if missing:
        sys.exit(f"--error needed for: {', '.join(sorted(missing))}")
    starts = json.loads(Path(args.starts_json).read_text()) if args.starts_json else {}

    results = []
    t_all = time.perf_counter()
    for i, (sid, d) in enumerate(subjects):
        t0 = time.perf_counter()
        r = fit_subject(d, sigmas, starts.get(sid), args.starts, np.random.default_rng([args.seed, i]), args)
        r["seconds"] = time.perf_counter() - t0
        r["id"] = sid
        results.append(r)
        print(f"peer_fit_cart_cd19_bcma: subject {sid}: OFV {r['ofv']}, {r['solves']} solves, "
              f"{r['seconds']:.1f} s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t_all
    out = {"subjects": results, "seconds": seconds,
           "meta": {"peer": "scipy solve_ivp LSODA + L-BFGS-B (finite-difference gradient)", "rtol": args.rtol,
                    "atol_scale": args.atol_scale, "state_scales": STATE_SCALES.tolist(), "fd_eps": args.fd_eps,
                    "maxfun": args.maxfun, "python": platform.python_version(), "numpy": np.__version__,
                    "scipy": scipy.__version__}}
    text = json.dumps(out, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
