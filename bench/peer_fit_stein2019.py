#!/usr/bin/python3
"""SciPy peer of `cartpk fit --model stein2019`: per-subject maximum-likelihood fits, multi-start L-BFGS-B.

Written from the spec (shared/spec/models.md: M1 closed form; "Error models and censoring") and cartpk's
documented conventions, sharing no code with cartpk:

  model        stein2019 closed form: C(t) = R0·exp(rho·t) for t < tmax (R0 = cmax/foldx, rho = ln(foldx)/tmax),
               cmax·((1 − fb)·exp(−alpha·(t − tmax)) + fb·exp(−beta·(t − tmax))) for t >= tmax;
               qpcr = C, flow = C/kcp (kcp fixed, default 300).
  likelihood   log-normal residual error per observable (qpcr, and flow if present), each with its own SD s:
               ln L = ln N(ln y; ln f, s) (no −ln y Jacobian, as cartpk); a censored record (CENS = 1, limit =
               LLOQ column if given, else DV) enters by M3: ln Φ((ln LLOQ − ln f)/s). OFV = −2·ln L with 2π terms.
  estimates    foldx, tmax, cmax, alpha, beta on log scale, fb on logit scale, each s on log scale; bounds as
               cartpk's (`cartpk models stein2019`; s in [1e-4, 20]). alpha <= beta is rejected (cartpk's
               identifiability ordering): the objective returns a large value (1e10) with a zero gradient there.
  optimiser    scipy.optimize.minimize(method="L-BFGS-B") with the analytic gradient, --maxfun evaluations per
               start (cartpk's default 4000); starts: the model's typical values (s = 0.5) first, then Latin-
               hypercube points in the transformed box (NumPy RNG, not cartpk's points).

Usage:
  peer_fit_stein2019.py DATA.csv [--dvid 1=qpcr,2=flow] [--starts 10] [--seed 1] [--ids 1,2] [--kcp 300]
                        [--out result.json]
Output (stdout, or --out): one JSON object
  {"subjects": [{"id", "ofv", "estimates": {name: value}, "n_obs", "n_blq", "start_ofvs", "infeasible_starts",
                 "nfev", "seconds"}],
   "seconds": wall time of all fits (reading the data excluded), "meta": {...}}

The module also provides simulate_cohort() (a qPCR-only cohort with BLQ records from known true parameters),
used by tests/python/test_fit_vs_scipy.py and bench/run_bench.py.
"""
import argparse
import json
import math
import platform
import sys
import time

import numpy as np
import scipy
from scipy.optimize import minimize
from scipy.special import log_ndtr
from peer_common import number, read_records  # noqa: E402

NAMES = ("foldx", "tmax", "cmax", "alpha", "fb", "beta")
TYPICAL = {"foldx": 3900.0, "tmax": 9.3, "cmax": 24000.0, "alpha": 0.16, "fb": 0.0079, "beta": 0.0032}
BOUNDS = {"foldx": (1.0, 1e7), "tmax": (0.5, 60.0), "cmax": (1.0, 1e7), "alpha": (1e-3, 10.0),
          "fb": (1e-6, 0.999), "beta": (1e-6, 1.0)}
SIGMA_BOUNDS = (1e-4, 20.0)
SIGMA_INIT = 0.5
OBSERVABLES = ("qpcr", "flow")
LN2PI = math.log(2.0 * math.pi)
REJECTED = 1e10  # objective where alpha <= beta


def logit(p):
    return math.log(p / (1.0 - p))


def to_z(name, v):
    return logit(v) if name == "fb" else math.log(v)


# --------------------------------------------------------------------------------------------------------------
# Data

def read_dataset(path, dvid_map):
    """Subjects in file order: list of (id, dict of arrays t, obs (0 qpcr / 1 flow), y (limit if censored), cens)."""
    header, rows = read_records(path)
    if header is None:
        sys.exit(f"{path}: empty file")
    num = number

    subjects, order = {}, []
    for r in rows:
        evid = int(num(r, "EVID", 0))
        mdv = int(num(r, "MDV", evid))
        if evid == 1 or mdv == 1:
            continue
        dvid = r.get("DVID", "")
        if dvid in ("", "."):
            if len(dvid_map) != 1 or None not in dvid_map:
                sys.exit(f"{path}: a record without DVID needs --dvid NAME")
            obs = dvid_map[None]
        else:
            obs = dvid_map.get(dvid, dvid)
        if obs not in OBSERVABLES:
            sys.exit(f"{path}: observable '{obs}' (DVID {dvid}) is not one of {', '.join(OBSERVABLES)}")
        cens = int(num(r, "CENS", 0))
        y = num(r, "LLOQ") if cens == 1 and num(r, "LLOQ") is not None else num(r, "DV")
        sid = r["ID"]
        if sid not in subjects:
            subjects[sid] = []
            order.append(sid)
        subjects[sid].append((float(r["TIME"]), OBSERVABLES.index(obs), y, cens))
    out = []
    for sid in order:
        a = np.array(subjects[sid], dtype=float)
        out.append((sid, {"t": a[:, 0], "obs": a[:, 1].astype(int), "lny": np.log(a[:, 2]),
                          "cens": a[:, 3].astype(bool)}))
    return out


# --------------------------------------------------------------------------------------------------------------
# Objective with analytic gradient

class Objective:
    def __init__(self, d, kcp):
        self.t = d["t"]
        self.lny = d["lny"]
        self.cens = d["cens"]
        self.unc = ~self.cens
        present = sorted(set(d["obs"].tolist()))
        self.sigma_obs = [OBSERVABLES[j] for j in present]        # one estimated s per observable present
        self.sig_index = np.searchsorted(present, d["obs"])        # record -> position in the s vector
        self.offset = np.where(d["obs"] == 1, -math.log(kcp), 0.0)  # ln flow = ln qpcr - ln kcp
        self.n = 6 + len(present)
        self.masks = [self.sig_index == k for k in range(len(present))]

    def __call__(self, z):
        lf, ltm, lc, la, zf, lb = z[:6]
        tmax, alpha, beta = math.exp(ltm), math.exp(la), math.exp(lb)
        if alpha <= beta:
            return REJECTED, np.zeros(self.n)
        ls = z[6:][self.sig_index]
        s = np.exp(ls)
        t = self.t
        growth = t < tmax
        d = np.where(growth, 0.0, t - tmax)
        # log fb and log(1 - fb) from the logit without cancellation
        log_fb = -np.logaddexp(0.0, -zf)
        log_1mfb = -np.logaddexp(0.0, zf)
        fb = math.exp(log_fb)
        ln_a = log_1mfb - alpha * d
        ln_b = log_fb - beta * d
        ln_s = np.logaddexp(ln_a, ln_b)
        w_a = np.exp(ln_a - ln_s)
        w_b = np.exp(ln_b - ln_s)
        u = t / tmax
        lnf = np.where(growth, lc + lf * (u - 1.0), lc + ln_s) + self.offset
        J = np.empty((t.size, 6))  # d ln f / d z
        J[:, 0] = np.where(growth, u - 1.0, 0.0)
        J[:, 1] = np.where(growth, -lf * u, tmax * (alpha * w_a + beta * w_b))
        J[:, 2] = 1.0
        J[:, 3] = np.where(growth, 0.0, -alpha * d * w_a)
        J[:, 4] = np.where(growth, 0.0, (1.0 - fb) * w_b - fb * w_a)
        J[:, 5] = np.where(growth, 0.0, -beta * d * w_b)

        r = (self.lny - lnf) / s
        ll = np.empty_like(r)
        dll_dlnf = np.empty_like(r)
        dll_dls = np.empty_like(r)
        uc, c = self.unc, self.cens
        ll[uc] = -0.5 * (LN2PI + r[uc] ** 2) - ls[uc]
        dll_dlnf[uc] = r[uc] / s[uc]
        dll_dls[uc] = r[uc] ** 2 - 1.0
        if c.any():
            rc = r[c]
            lcdf = log_ndtr(rc)
            mills = np.exp(-0.5 * (LN2PI + rc ** 2) - lcdf)  # phi(z)/Phi(z)
            ll[c] = lcdf
            dll_dlnf[c] = -mills / s[c]
            dll_dls[c] = -mills * rc
        g = np.empty(self.n)
        g[:6] = -2.0 * (dll_dlnf @ J)
        for k, m in enumerate(self.masks):
            g[6 + k] = -2.0 * dll_dls[m].sum()
        return -2.0 * ll.sum(), g


def box(n_sigma):
    lo = [to_z(n, BOUNDS[n][0]) for n in NAMES] + [math.log(SIGMA_BOUNDS[0])] * n_sigma
    hi = [to_z(n, BOUNDS[n][1]) for n in NAMES] + [math.log(SIGMA_BOUNDS[1])] * n_sigma
    return np.array(lo), np.array(hi)


def latin_hypercube(lo, hi, n, rng):
    dim = lo.size
    u = (np.array([rng.permutation(n) for _ in range(dim)]).T + rng.random((n, dim))) / n
    return lo + (hi - lo) * u


def fit_subject(d, kcp, starts, rng, maxfun, ftol, gtol):
    obj = Objective(d, kcp)
    lo, hi = box(len(obj.sigma_obs))
    z0 = np.clip([to_z(n, TYPICAL[n]) for n in NAMES] + [math.log(SIGMA_INIT)] * len(obj.sigma_obs), lo, hi)
    points = [z0] + (list(latin_hypercube(lo, hi, starts - 1, rng)) if starts > 1 else [])
    best, start_ofvs, nfev, infeasible = None, [], 0, 0
    for z in points:
        if obj(z)[0] >= REJECTED:
            infeasible += 1  # alpha <= beta at the start: cartpk's rejected region (L-BFGS-B cannot leave it)
        res = minimize(obj, z, jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi)),
                       options={"maxfun": maxfun, "ftol": ftol, "gtol": gtol})
        nfev += int(res.nfev)
        start_ofvs.append(float(res.fun))
        if res.fun < REJECTED and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        return {"ofv": None, "estimates": None, "start_ofvs": start_ofvs, "nfev": nfev,
                "infeasible_starts": infeasible, "n_obs": int(d["t"].size), "n_blq": int(d["cens"].sum())}
    z = best.x
    est = {n: (1.0 / (1.0 + math.exp(-z[k])) if n == "fb" else math.exp(z[k])) for k, n in enumerate(NAMES)}
    for k, obs in enumerate(obj.sigma_obs):
        est[f"sigma_{obs}"] = math.exp(z[6 + k])
    return {"ofv": float(best.fun), "estimates": est, "start_ofvs": start_ofvs, "nfev": nfev,
            "infeasible_starts": infeasible, "n_obs": int(d["t"].size), "n_blq": int(d["cens"].sum())}


# --------------------------------------------------------------------------------------------------------------
# Simulated cohorts (used by tests/python/test_fit_vs_scipy.py and bench/run_bench.py; independent of cartpk)

SIM_TIMES = (1.0, 4.0, 7.0, 9.0, 11.0, 14.0, 21.0, 28.0, 56.0, 90.0, 180.0, 365.0)  # days
# Between-patient spread of the simulated truths: SD of the log parameter (a moderate spread, so that 12 samples
# identify most parameters), and clips that keep every truth well inside cartpk's bounds with alpha > 3*beta.
SIM_LOG_SD = {"foldx": 0.6, "tmax": 0.3, "cmax": 0.5, "alpha": 0.4, "fb": 0.5, "beta": 0.5}
SIM_CLIP = {"foldx": (50.0, 1e6), "tmax": (3.0, 25.0), "cmax": (1e3, 1e6), "alpha": (0.03, 2.0),
            "fb": (1e-4, 0.2), "beta": (1e-4, 0.05)}


def qpcr_closed_form(t, p):
    """stein2019 closed form (spec M1), copies/µg, at times t (array) for parameter dict p."""
    t = np.asarray(t, dtype=float)
    rho = math.log(p["foldx"]) / p["tmax"]
    dt = np.maximum(t - p["tmax"], 0.0)
    growth = p["cmax"] / p["foldx"] * np.exp(rho * np.minimum(t, p["tmax"]))
    decline = p["cmax"] * ((1.0 - p["fb"]) * np.exp(-p["alpha"] * dt) + p["fb"] * np.exp(-p["beta"] * dt))
    return np.where(t < p["tmax"], growth, decline)


def simulate_cohort(path, n_patients, seed, sigma=0.3, lloq=50.0, times=SIM_TIMES):
    """Write a qPCR-only stein2019 dataset (DVID qpcr; BLQ below `lloq` as CENS = 1, DV = LLOQ) to `path`.

    Returns the true parameters: list of dicts (ID = 1..n_patients, in order)."""
    rng = np.random.default_rng(seed)
    truths = []
    lines = ["ID,TIME,DV,DVID,CENS,LLOQ"]
    for i in range(1, n_patients + 1):
        p = {}
        for n in NAMES:
            lo, hi = SIM_CLIP[n]
            p[n] = float(np.clip(TYPICAL[n] * math.exp(SIM_LOG_SD[n] * rng.standard_normal()), lo, hi))
        p["alpha"] = max(p["alpha"], 3.0 * p["beta"])
        truths.append(p)
        y = qpcr_closed_form(times, p) * np.exp(sigma * rng.standard_normal(len(times)))
        for t, v in zip(times, y):
            if v < lloq:
                lines.append(f"{i},{t:g},{lloq:.17g},qpcr,1,{lloq:.17g}")
            else:
                lines.append(f"{i},{t:g},{v:.17g},qpcr,0,.")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return truths


def parse_dvid(text):
    if not text:
        return {}
    if "=" not in text:
        return {None: text.strip()}
    out = {}
    for item in text.split(","):
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="NONMEM-style CSV (docs/dataset-format.md)")
    ap.add_argument("--dvid", default="", help="numeric DVIDs to observables, e.g. 1=qpcr,2=flow; or one name")
    ap.add_argument("--starts", type=int, default=10, help="starts per subject (default 10)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the Latin-hypercube starts (default 1)")
    ap.add_argument("--ids", default="", help="fit only these subject IDs, comma-separated")
    ap.add_argument("--kcp", type=float, default=300.0, help="qPCR copies/µg per CAR+ cell/µL (default 300)")
    ap.add_argument("--maxfun", type=int, default=4000, help="objective evaluations per start (default 4000)")
    ap.add_argument("--ftol", type=float, default=2.220446049250313e-09, help="L-BFGS-B ftol (SciPy default)")
    ap.add_argument("--gtol", type=float, default=1e-5, help="L-BFGS-B gtol (SciPy default)")
    ap.add_argument("--out", default="", help="write the JSON here instead of stdout")
    args = ap.parse_args()
    if args.starts < 1:
        sys.exit("--starts must be at least 1")

    subjects = read_dataset(args.data, parse_dvid(args.dvid))
    if args.ids:
        keep = set(s.strip() for s in args.ids.split(","))
        subjects = [s for s in subjects if s[0] in keep]
    results = []
    t_all = time.perf_counter()
    for i, (sid, d) in enumerate(subjects):
        rng = np.random.default_rng([args.seed, i])
        t0 = time.perf_counter()
        r = fit_subject(d, args.kcp, args.starts, rng, args.maxfun, args.ftol, args.gtol)
        r["seconds"] = time.perf_counter() - t0
        r["id"] = sid
        results.append(r)
    seconds = time.perf_counter() - t_all
    out = {"subjects": results, "seconds": seconds,
           "meta": {"peer": "scipy L-BFGS-B, analytic gradient, closed-form stein2019", "starts": args.starts,
                    "seed": args.seed, "maxfun": args.maxfun, "ftol": args.ftol, "gtol": args.gtol,
                    "kcp": args.kcp, "python": platform.python_version(), "numpy": np.__version__,
                    "scipy": scipy.__version__}}
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
