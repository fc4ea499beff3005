"""kill -9 at any moment of a cohort fit never leaves a partial output: each output path holds either the file
that was there before (byte for byte) or a complete new one (a valid HDF5 with every subject, a table with
every row). Kills are spread over the whole run, reading, fitting and writing, timed from an uninterrupted run.

Usage: test_kill.py <path to cartpk>
"""
import csv
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

import h5py

from cli_checks import finish

N_SUBJECTS = 120
TIMES = (1, 3, 7, 10, 14, 21, 28, 56, 90, 180)
KILLS = 20
OLD_H5 = b"previous result: must survive a killed run\n"
OLD_TABLE = b"ID,ofv\nprevious,0\n"


def write_cohort(path):
    rng = random.Random(7)
    with open(path, "w") as f:
        f.write("ID,TIME,EVID,AMT,DV,DVID,CENS,MDV\n")
        for sid in range(1, N_SUBJECTS + 1):
            peak, tmax = 2e4 * math.exp(rng.gauss(0, 0.5)), 9.0 * math.exp(rng.gauss(0, 0.2))
            for t in TIMES:
                c = peak * (t / tmax) ** 3 if t < tmax else peak * (0.99 * math.exp(-0.15 * (t - tmax)) +
                                                                     0.01 * math.exp(-0.004 * (t - tmax)))
                f.write(f"{sid},{t},0,.,{c * math.exp(rng.gauss(0, 0.3)):.6g},qpcr,0,0\n")


def check_outputs(out, table):
    """'old', 'new' or a description of what is wrong, for each of the two outputs."""
    with open(out, "rb") as f:
        h5_bytes = f.read()
    if h5_bytes == OLD_H5:
        h5_state = "old"
    else:
        try:
            with h5py.File(out, "r") as f:
                ids = f["fit/subject_ids"].asstr()[:]
                h5_state = "new" if len(ids) == N_SUBJECTS and all(f"fit/subjects/{s}" in f for s in ids) \
                    else f"HDF5 with {len(ids)} subjects"
        except Exception as e:  # noqa: BLE001 - any failure to read is the defect being tested for
            h5_state = f"unreadable HDF5 ({e})"
    with open(table, "rb") as f:
        table_bytes = f.read()
    if table_bytes == OLD_TABLE:
        table_state = "old"
    else:
        rows = list(csv.DictReader(table_bytes.decode().splitlines()))
        table_state = "new" if len(rows) == N_SUBJECTS and all(r["status"] for r in rows) \
            else f"table with {len(rows)} rows"
    return h5_state, table_state


def main():
    exe = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory(prefix="cartpk-kill-") as tmp:
        data = os.path.join(tmp, "data.csv")
        write_cohort(data)
        out, table = os.path.join(tmp, "fit.h5"), os.path.join(tmp, "fit.csv")
        cmd = [exe, "fit", "--model", "stein2019", "--data", data, "--threads", "1", "--starts", "4", "--quiet",
               "--out", out, "--table", table]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        duration = time.perf_counter() - t0
        print(f"uninterrupted run: {duration:.2f} s")
        seen = {}
        for k in range(KILLS):
            for path, content in ((out, OLD_H5), (table, OLD_TABLE)):
                with open(path, "wb") as f:
                    f.write(content)
            u = (k + 0.5) / KILLS  # denser towards the end, where the outputs are written and renamed
            delay = duration * (1.0 - (1.0 - u) ** 2) * 1.05  # the last may land after the end: then "new"
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            states = check_outputs(out, table)
            seen[states] = seen.get(states, 0) + 1
            print(f"kill after {delay:.3f} s (exit {proc.returncode}): HDF5 {states[0]}, table {states[1]}")
            if any(s not in ("old", "new") for s in states):
                failures.append(f"after {delay:.3f} s: {states}")
            leftovers = [n for n in os.listdir(tmp) if n not in ("data.csv", "fit.h5", "fit.csv")]
            for n in leftovers:  # a killed run can leave its hidden temporary file, never anything else
                if not (n.startswith(".fit.h5.tmp-") or n.startswith(".fit.csv.tmp-")):
                    failures.append(f"after {delay:.3f} s: unexpected file {n}")
                os.remove(os.path.join(tmp, n))
                print(f"  left behind: {n} (the killed run's temporary file)")
        if ("old", "old") not in seen:
            failures.append("no kill landed before the outputs were committed (the test did not test)")
    return finish(failures, f"{KILLS} kills, {len(failures)} failures; outcomes {seen}")


if __name__ == "__main__":
    sys.exit(main())
