#!/usr/bin/python3
"""The report columns of `cartpk fit` against independent computations from the file's own numbers and the data.

Usage: test_fit_report.py <path to cartpk>

- ofv_dv_scale = ofv_likelihood + 2·Σ ln DV over the subject's quantified records (all log-normal here), computed
  from the dataset read with the csv module;
- AIC = ofv_dv_scale + 2k and BIC = ofv_dv_scale + k·ln(n), k the estimated parameters, n the records;
- status_code: at_bound exactly when an estimate sits on its bound (from /fit/parameters/lower, upper),
  poorly_determined when an estimate is flagged, else ok;
- IWRES is NaN for every BLQ record and a number for every other;
- the file records the dataset's absolute path and its SHA-256 (hashlib), each parameter's unit, the error
  models, and each subject's doses.
Prints "N passed, M failed".
"""
import csv
import hashlib
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402

passed = failed = 0


def check(ok, msg):
    global passed, failed
    passed, failed = passed + bool(ok), failed + (not ok)
    print(("  ok    " if ok else "  FAIL  ") + msg)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    exe = cli_checks.binary_argument(__file__)
    if exe is None:
        return 2
    data = os.path.join(cli_checks.SOURCE_ROOT, "examples", "synthetic_stein2019_cohort.csv")
    ids = ["1", "2", "3", "4", "5", "6"]
    with tempfile.TemporaryDirectory(prefix="fit_report_") as tmp:
        h5, table = os.path.join(tmp, "fit.h5"), os.path.join(tmp, "fit.csv")
        r = subprocess.run([exe, "fit", "--model", "stein2019", "--data", data, "--dvid", "1=qpcr,2=flow",
                            "--ids", ",".join(ids), "--starts", "3", "--profile", "tmax", "--quiet",
                            "--out", h5, "--table", table], capture_output=True, text=True, timeout=300)
        check(r.returncode in (0, 3), f"fit ran (exit {r.returncode}) {r.stderr[-300:]}")
        rows = list(csv.DictReader(open(table)))
        records = {}
        with open(data, newline="") as f:
            lines = [line for line in f if not line.startswith("#")]  # the file's comment line
            for rec in csv.DictReader(lines):
                if rec["EVID"] == "0" and rec.get("MDV", "0") in ("0", ""):
                    records.setdefault(rec["ID"], []).append(rec)
        with h5py.File(h5, "r") as f:
            root = f.attrs
            check(text(root["data_sha256"]) == hashlib.sha256(open(data, "rb").read()).hexdigest(),
                  "data_sha256 equals hashlib's SHA-256 of the dataset")
            check(text(root["data_absolute_path"]) == os.path.abspath(data), "data_absolute_path")
            params = f["/fit/parameters"]
            lower, upper = params["lower"][:], params["upper"][:]
            est_names = [text(n) for n in params["estimated"][:]]
            check([text(u) for u in params["estimated_units"][:]] == ["-", "day", "copies/µg", "1/day", "-", "1/day"],
                  "estimated parameters' units recorded")
            check([text(t) for t in f["/fit/error_models/type"][:]] == ["lognormal", "lognormal"], "error models recorded")
            for row in rows:
                sid = row["ID"]
                g = f[f"/fit/subjects/{sid}"]
                recs = records[sid]
                quantified = [float(x["DV"]) for x in recs if x.get("CENS", "0") in ("0", "")]
                n = len(recs)
                k = int(float(row["n_estimated"]))
                ofv_dv = float(row["ofv_likelihood"]) + 2.0 * sum(math.log(v) for v in quantified)
                check(abs(float(row["ofv_dv_scale"]) - ofv_dv) < 1e-9 * max(1.0, abs(ofv_dv)),
                      f"subject {sid}: ofv_dv_scale = ofv_likelihood + 2 sum ln DV ({ofv_dv:.6f})")
                check(k == len(g["names"][:]) and n == int(float(row["n_obs"])), f"subject {sid}: k = {k}, n = {n}")
                check(abs(float(row["aic"]) - (ofv_dv + 2 * k)) < 1e-9 * abs(ofv_dv + 2 * k), f"subject {sid}: AIC")
                check(abs(float(row["bic"]) - (ofv_dv + k * math.log(n))) < 1e-9 * abs(ofv_dv + k * math.log(n)),
                      f"subject {sid}: BIC")
                estimates = g["estimates"][: len(est_names)]
                at_bound = bool(np.any(np.abs(estimates - lower) <= 1e-6 * np.abs(lower)) or
                                np.any(np.abs(upper - estimates) <= 1e-6 * np.abs(upper)))
                poorly = bool(np.any(g["poorly_determined"][:]))
                expected = "at_bound" if at_bound else "poorly_determined" if poorly else "ok"
                check(row["status_code"] == expected == text(g.attrs["status_code"]),
                      f"subject {sid}: status_code {row['status_code']} (expected {expected})")
                cens = g["observations/censored"][:]
                iwres = g["observations/iwres"][:]
                check(bool(np.all(np.isnan(iwres[cens == 1])) and np.all(np.isfinite(iwres[cens == 0]))),
                      f"subject {sid}: IWRES NaN for the {int(cens.sum())} BLQ records, a number for the others")
                check("doses" not in g or len(g["doses/time"][:]) >= 0, f"subject {sid}: doses group readable")
            check("ci95_lower_tmax" in rows[0] and "ci95_upper_tmax" in rows[0] and "ci95_lower_beta" not in rows[0],
                  "profile CI columns for the profiled estimate only")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
