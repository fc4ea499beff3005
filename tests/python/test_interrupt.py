"""SIGINT/SIGTERM during a cohort fit: cartpk writes what is complete (a valid HDF5 and table, unfinished
subjects marked not_run) and exits non-zero (130).

Usage: test_interrupt.py <path to cartpk>
"""
import csv
import os
import signal
import subprocess
import sys
import tempfile

import h5py

from cli_checks import finish

FLOW = [(1, 0.8), (3, 3.0), (7, 10.0), (10, 9.0), (14, 5.0), (28, 1.5), (60, 0.4), (90, 0.2), (180, 0.02)]


def main():
    exe = sys.argv[1]
    failures = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with tempfile.TemporaryDirectory(prefix="cartpk-interrupt-") as tmp:
            data = os.path.join(tmp, "data.csv")
            with open(data, "w") as f:
                f.write("ID,TIME,EVID,AMT,DV,DVID,WT\n")
                for sid in range(1, 13):  # cart_cd19_bcma fits take seconds each: time to interrupt
                    f.write(f"{sid},0,1,7e7,.,.,70\n")
                    for t, v in FLOW:
                        f.write(f"{sid},{t},0,.,{v * (1 + 0.05 * sid)},flow,70\n")
            out, table = os.path.join(tmp, "fit.h5"), os.path.join(tmp, "fit.csv")
            proc = subprocess.Popen([exe, "fit", "--model", "cart_cd19_bcma", "--data", data, "--threads", "1",
                                     "--starts", "2", "--out", out, "--table", table],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            first = proc.stderr.readline()  # progress: "cartpk fit: 1/12 subject 1: ok ..." once one is done
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=240)
            err = first + err
            name = signal.Signals(sig).name
            if proc.returncode != 130:
                failures.append(f"{name}: exit {proc.returncode}, expected 130; stderr {err!r}")
                continue
            with h5py.File(out, "r") as f:
                statuses = [f[f"fit/subjects/{s}"].attrs["status"] for s in f["fit/subject_ids"].asstr()[:]]
                if f["fit"].attrs["interrupted"] != 1:
                    failures.append(f"{name}: /fit@interrupted is not 1")
            with open(table, newline="") as t:
                rows = list(csv.DictReader(t))
            done = sum(s == "ok" for s in statuses)
            not_run = sum(s == "not_run" for s in statuses)
            print(f"{name}: {done} subjects fitted, {not_run} not run; table rows {len(rows)}")
            if not (done >= 1 and not_run >= 1 and done + not_run == 12 and len(rows) == 12):
                failures.append(f"{name}: expected some fitted and some not-run subjects, got {statuses}")
            if not all(r["status"].startswith("not run") for r in rows if r["status"] != "ok" and not r["status"].startswith("ok")):
                failures.append(f"{name}: unfinished rows not marked 'not run': {[r['status'] for r in rows]}")
    return finish(failures, f"{2 - len(failures)} passed, {len(failures)} failed")


if __name__ == "__main__":
    sys.exit(main())
