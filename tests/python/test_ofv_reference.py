#!/usr/bin/python3
"""OFV of `cartpk fit --maxeval 0` against an independent NumPy/SciPy computation, for every error model.

Usage: test_ofv_reference.py <path to cartpk>

A small hand-made stein2019 dataset (three subjects, qpcr and flow records, BLQ records with and without an LLOQ
column value, an LLOQ that takes precedence over DV, a BLQ record far in the lower tail of the normal
distribution) is written to a temporary directory and evaluated by cartpk at fixed parameter values
(--maxeval 0) with each error model on each observable. The reference below is written from the spec alone
(shared/spec/models.md: M1 closed form; "Error models and censoring"; fitting/error_model.hpp's definitions):

    OFV = -2 * sum over records of log L_i, with the 2*pi terms
    additive      SD = a            log L = log N(y; f, SD)            censored: log Phi((LLOQ - f)/SD)
    proportional  SD = b*f
    combined      SD = sqrt(a^2 + b^2 f^2)
    lognormal     SD = s on ln DV   log L = log N(ln y; ln f, s)       censored: log Phi((ln LLOQ - ln f)/s)
                  (no -ln y Jacobian term)

Each subject's OFV must agree to 1e-8 relative (absolute below |OFV| = 1). Prints "N passed, M failed" and
exits 1 on any failure.
"""
import csv
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import norm

REL_TOL = 1e-8
PARAM_NAMES = ("foldx", "tmax", "cmax", "alpha", "fb", "beta")

# Parameter sets (all inside cartpk's bounds, alpha > beta).
P_A = {"foldx": 3900.0, "tmax": 9.3, "cmax": 24000.0, "alpha": 0.16, "fb": 0.0079, "beta": 0.0032, "kcp": 300.0}
P_B = {"foldx": 1250.5, "tmax": 6.25, "cmax": 51234.0, "alpha": 0.41, "fb": 0.031, "beta": 0.012, "kcp": 250.0}


def qpcr_closed_form(t, p):
    """stein2019 closed form (spec M1), qpcr = E + M in copies/µg."""
    t = np.asarray(t, dtype=float)
    rho = math.log(p["foldx"]) / p["tmax"]
    r0 = p["cmax"] / p["foldx"]
    dt = np.maximum(t - p["tmax"], 0.0)
    growth = r0 * np.exp(rho * np.minimum(t, p["tmax"]))
    decline = p["cmax"] * ((1.0 - p["fb"]) * np.exp(-p["alpha"] * dt) + p["fb"] * np.exp(-p["beta"] * dt))
    return np.where(t < 0, r0, np.where(t < p["tmax"], growth, decline))


def prediction(obs, t, p):
    q = qpcr_closed_form(t, p)
    return q if obs == "qpcr" else q / p["kcp"]


# --------------------------------------------------------------------------------------------------------------
# The dataset. Each record: (ID, TIME, EVID, AMT, DV, DVID, CENS, LLOQ); None is written as '.'.
# DV of quantified records is made up (roughly the P_A prediction with noise); it only has to be fixed.

def make_records():
    rng = np.random.default_rng(4242)
    recs = []
    # Subject 101: a dose row (ignored by stein2019), qpcr and flow at the same times, BLQ with DV only
    # (day 0.5 and day 365), BLQ with LLOQ only (DV missing), BLQ with both (LLOQ takes precedence).
    recs.append((101, 0.0, 1, 7.0e7, None, None, 0, None))
    for t in (0.5, 2.0, 5.0, 9.3, 11.0, 14.0, 28.0, 56.0, 90.0, 180.0, 365.0):
        f = float(qpcr_closed_form(t, P_A))
        if t == 0.5:
            recs.append((101, t, 0, None, 50.0, "qpcr", 1, None))          # BLQ, limit in DV
        elif t == 180.0:
            recs.append((101, t, 0, None, None, "qpcr", 1, 45.0))          # BLQ, limit in LLOQ, DV missing
        elif t == 365.0:
            recs.append((101, t, 0, None, 10.0, "qpcr", 1, 60.0))          # BLQ, LLOQ (60) overrides DV (10)
        else:
            recs.append((101, t, 0, None, float(f"{f * math.exp(0.3 * rng.standard_normal()):.6g}"), "qpcr", 0, None))
        if t in (5.0, 14.0, 28.0, 90.0):
            ff = f / 300.0
            if t == 90.0:
                recs.append((101, t, 0, None, 0.5, "flow", 1, None))       # flow BLQ (DV limit)
            else:
                recs.append((101, t, 0, None, float(f"{ff * math.exp(0.25 * rng.standard_normal()):.6g}"), "flow", 0,
                             None))
    # Subject 102: sparse, qpcr and flow, an LLOQ column value on a quantified record (must be ignored there).
    for t, obs, dv, cens, lloq in ((3.0, "qpcr", 2100.0, 0, 50.0), (7.0, "flow", 31.0, 0, None),
                                   (7.0, "qpcr", 9800.0, 0, None), (10.0, "qpcr", 26500.0, 0, 50.0),
                                   (21.0, "flow", 12.5, 0, 0.2), (21.0, "qpcr", 3900.0, 0, None),
                                   (60.0, "qpcr", 30.0, 1, None), (60.0, "flow", None, 1, 0.3),
                                   (120.0, "qpcr", 140.0, 0, 50.0)):
        recs.append((102, t, 0, None, dv, obs, cens, lloq))
    # Subject 103: a BLQ record near the peak (prediction >> LLOQ): far in the lower tail of Phi for the
    # tighter error models (ln Phi(z) with z << -30 for lognormal s = 0.1).
    for t, obs, dv, cens, lloq in ((1.0, "qpcr", 120.0, 0, None), (8.0, "qpcr", 50.0, 1, None),
                                   (9.0, "flow", None, 1, 0.1), (30.0, "qpcr", 2500.0, 0, None)):
        recs.append((103, t, 0, None, dv, obs, cens, lloq))
    return recs


def write_csv(recs, path):
    fmt = lambda v: "." if v is None else (repr(v) if isinstance(v, float) else str(v))  # noqa: E731
    with open(path, "w") as f:
        f.write("ID,TIME,EVID,AMT,DV,DVID,CENS,MDV,LLOQ\n")
        for (i, t, evid, amt, dv, dvid, cens, lloq) in recs:
            f.write(",".join([str(i), fmt(t), str(evid), fmt(amt), fmt(dv), "." if dvid is None else dvid,
                              str(cens), str(evid), fmt(lloq)]) + "\n")


# --------------------------------------------------------------------------------------------------------------
# Reference likelihood

def record_loglik(model, y, f, censored):
    kind = model[0]
    if kind == "lognormal":
        s = model[1]
        if censored:
            return float(norm.logcdf((math.log(y) - math.log(f)) / s))
        return float(norm.logpdf(math.log(y), loc=math.log(f), scale=s))
    if kind == "additive":
        sd = model[1]
    elif kind == "proportional":
        sd = model[1] * f
    elif kind == "combined":
        sd = math.sqrt(model[1] ** 2 + model[2] ** 2 * f ** 2)
    else:
        raise ValueError(kind)
    if censored:
        return float(norm.logcdf((y - f) / sd))
    return float(norm.logpdf(y, loc=f, scale=sd))


def reference_ofv(recs, p, models):
    """dict ID -> (OFV, n_obs, n_blq)."""
    out = {}
    for (i, t, evid, amt, dv, dvid, cens, lloq) in recs:
        if evid == 1:
            continue
        y = lloq if (cens == 1 and lloq is not None) else dv
        f = float(prediction(dvid, t, p))
        ll = record_loglik(models[dvid], y, f, cens == 1)
        ofv, n, nb = out.get(i, (0.0, 0, 0))
        out[i] = (ofv - 2.0 * ll, n + 1, nb + cens)
    return out


def error_option(obs, model, fixed=True):
    return f"{obs}=" + ":".join([model[0]] + [repr(v) for v in model[1:]]) + (":fixed" if fixed else "")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_ofv_reference.py <cartpk>")
    exe = sys.argv[1]
    # (label, parameters, {obs: error model}, error parameters fixed?)
    runs = [
        ("qpcr lognormal / flow additive", P_A, {"qpcr": ("lognormal", 0.4), "flow": ("additive", 0.5)}, True),
        ("qpcr proportional / flow proportional", P_A,
         {"qpcr": ("proportional", 0.3), "flow": ("proportional", 0.25)}, True),
        ("qpcr combined / flow combined", P_A, {"qpcr": ("combined", 50.0, 0.2), "flow": ("combined", 0.1, 0.3)}, True),
        ("qpcr additive / flow lognormal", P_A, {"qpcr": ("additive", 800.0), "flow": ("lognormal", 0.6)}, True),
        ("qpcr lognormal s=0.1 / flow lognormal (tail), kcp 250", P_B,
         {"qpcr": ("lognormal", 0.1), "flow": ("lognormal", 0.15)}, True),
        ("qpcr combined / flow additive, other parameters", P_B,
         {"qpcr": ("combined", 20.0, 0.35), "flow": ("additive", 2.0)}, True),
        ("estimated (not fixed) error parameters, evaluated at their initial values", P_B,
         {"qpcr": ("lognormal", 0.56), "flow": ("combined", 0.05, 0.2)}, False),
    ]
    recs = make_records()
    passed = failed = 0
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="cartpk_ofv_") as tmp:
        data = Path(tmp) / "ofv_data.csv"
        write_csv(recs, data)
        for k, (label, p, models, fixed) in enumerate(runs):
            table = Path(tmp) / f"t{k}.csv"
            cmd = [exe, "fit", "--model", "stein2019", "--data", str(data), "--maxeval", "0", "--quiet",
                   "--threads", "1", "--out", str(Path(tmp) / f"o{k}.h5"), "--table", str(table)]
            for name in PARAM_NAMES:
                cmd += ["--init", f"{name}={p[name]!r}"]
            cmd += ["--fix", f"kcp={p['kcp']!r}"]
            for obs, m in models.items():
                cmd += ["--error", error_option(obs, m, fixed)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                print(f"FAIL [{label}]: cartpk did not finish within 60 s\n  {' '.join(cmd)}")
                failed += 1
                continue
            if proc.returncode != 0:
                print(f"FAIL [{label}]: cartpk exit {proc.returncode}\n  {' '.join(cmd)}\n  {proc.stderr.strip()}")
                failed += 1
                continue
            with open(table, newline="") as f:
                rows = {r["ID"]: r for r in csv.DictReader(f)}
            ref = reference_ofv(recs, p, models)
            for sid, (ofv_ref, n_obs, n_blq) in sorted(ref.items()):
                row = rows.get(str(sid))
                if row is None:
                    print(f"FAIL [{label}] subject {sid}: missing from the table")
                    failed += 1
                    continue
                ofv = float(row["ofv"])
                rel = abs(ofv - ofv_ref) / max(abs(ofv_ref), 1.0)
                worst = max(worst, rel)
                problems = []
                if not rel <= REL_TOL:
                    problems.append(f"OFV {ofv!r} vs reference {ofv_ref!r} (rel diff {rel:.3e})")
                if int(row["n_obs"]) != n_obs or int(row["n_blq"]) != n_blq:
                    problems.append(f"n_obs/n_blq {row['n_obs']}/{row['n_blq']} vs {n_obs}/{n_blq}")
                if not row["status"].startswith("ok"):
                    problems.append(f"status '{row['status']}'")
                # Error parameter columns echo the values used.
                for obs, m in models.items():
                    names = {"lognormal": [f"sigma_{obs}"], "additive": [f"a_{obs}"], "proportional": [f"b_{obs}"],
                             "combined": [f"a_{obs}", f"b_{obs}"]}[m[0]]
                    for name, v in zip(names, m[1:]):
                        if name in row and row[name] not in ("", "nan") and abs(float(row[name]) - v) > 1e-12 * v:
                            problems.append(f"{name} = {row[name]} vs {v}")
                if problems:
                    failed += 1
                    print(f"FAIL [{label}] subject {sid}: " + "; ".join(problems))
                else:
                    passed += 1
                    print(f"ok   [{label}] subject {sid}: OFV {ofv:.10g} (reference {ofv_ref:.10g}, rel {rel:.1e})")
    print(f"largest relative OFV difference: {worst:.2e} (tolerance {REL_TOL:g})")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
