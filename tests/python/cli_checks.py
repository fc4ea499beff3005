"""Shared checks of the command-line bad-input tests: is an error message complete, and reporting."""
import os
import re

SOURCE_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# Markers that a message says what was expected. Messages are compared case-insensitively.
EXPECTATION = ("expected", "must be", "choose", "use ", "did you mean")

RESULTS = []  # (name, [problems])


def listing(folder):
    return sorted(os.listdir(folder))


def check_message(stderr, require, expect, forbid):
    """Problems with an error message: empty, missing a required piece, no expectation, a forbidden phrase,
    an internal error, or a reference to documentation that does not exist."""
    problems = []
    low = stderr.lower()
    if not stderr.strip():
        problems.append("stderr is empty")
    for piece in require:
        alternatives = piece if isinstance(piece, tuple) else (piece,)
        if not any(a.lower() in low for a in alternatives):
            problems.append("stderr does not mention %s" % " or ".join(repr(a) for a in alternatives))
    if expect and not any(m in low for m in EXPECTATION):
        problems.append("stderr does not say what was expected (none of %s)" % ", ".join(repr(m) for m in EXPECTATION))
    for piece in forbid:
        if piece.lower() in low:
            problems.append("stderr says %r, which is wrong here" % piece)
    if "internal error" in low:
        problems.append("reported as an internal error")
    for doc in re.findall(r"docs/[A-Za-z0-9_.-]+\.md", stderr):
        if not os.path.isfile(os.path.join(SOURCE_ROOT, doc)):
            problems.append("stderr refers to %s, which does not exist in the source tree" % doc)
    return problems


def report(name, problems, detail=""):
    RESULTS.append((name, problems))
    if problems:
        print("FAIL %s\n     stderr: %s\n     %s" % (name, detail, "\n     ".join(problems)))
    else:
        print("ok   %s  [%s]" % (name, detail))


def finish(failures, summary):
    """Prints each failure and the summary; the exit status of a test script (1 if anything failed)."""
    for f in failures:
        print("FAIL", f)
    print(summary)
    return 1 if failures else 0


def binary_argument(script):
    """The cartpk executable named on the command line (absolute), or None after printing the usage."""
    import sys
    if len(sys.argv) != 2:
        print("usage: %s /path/to/cartpk" % script)
        return None
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print("not an executable: " + binary)
        return None
    return binary


def summary():
    """Prints the tally of report() results; the exit status of a test script (1 if any failed)."""
    failed = [name for name, problems in RESULTS if problems]
    print("%d passed, %d failed" % (len(RESULTS) - len(failed), len(failed)))
    for name in failed:
        print("  failed: " + name)
    return 1 if failed else 0


class Checks:
    """A tally of named checks for the reference tests: check(ok, message) prints ok/FAIL, summary() the closing
    "N passed, M failed" line and returns the exit status."""

    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, ok, msg):
        if ok:
            self.passed += 1
            print(f"  ok    {msg}")
        else:
            self.failed += 1
            print(f"  FAIL  {msg}")
        return ok

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def read_columns(path):
    """A numeric CSV table (cartpk simulate --table) as {column: array}."""
    import numpy as np
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {h: data[:, i] for i, h in enumerate(header)}


def worst_difference(got, ref, floor):
    """(worst relative difference where |ref| > floor, worst absolute difference where |ref| <= floor, index of the
    worst relative one): how the model reference tests compare cartpk with an independent solution."""
    import numpy as np
    big = np.abs(ref) > floor
    rel = np.where(big, np.abs(got - ref) / np.where(big, np.abs(ref), 1.0), 0.0)
    absd = np.where(~big, np.abs(got - ref), 0.0)
    return float(rel.max()), float(absd.max()), int(np.argmax(rel))


def h5_numbers(path, skip=()):
    """Every numeric dataset of an HDF5 file, {path: array}, except those whose name is in `skip`."""
    import h5py
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiu" and name.split("/")[-1] not in skip:
                out[name] = obj[()]
        f.visititems(visit)
    return out


def identical_numbers(a, b):
    """(True, what) when two h5_numbers() maps hold the same datasets bit for bit, else (False, the first that differs)."""
    import numpy as np
    if a.keys() != b.keys():
        return False, f"different datasets: {sorted(set(a) ^ set(b))}"
    for k in a:
        if a[k].shape != b[k].shape or not np.array_equal(a[k], b[k], equal_nan=True):
            return False, k
    return True, f"{len(a)} datasets"


def mpi_launcher(exe):
    """(mpirun command, reason): `mpirun --oversubscribe --mca pml ob1 -np 2` when cartpk is built with MPI and mpirun
    exists, else None and why not. (pml ob1: OpenMPI's default probes UCX first, 0.2 s per start; docs/scaling.md.)"""
    import shutil
    import subprocess
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    if "MPI: yes" not in version:
        return None, f"cartpk was built without MPI ({version.strip()})"
    if not shutil.which("mpirun"):
        return None, "mpirun not found"
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
    os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
    return ["mpirun", "--oversubscribe", "--mca", "pml", "ob1", "-np", "2"], ""


def check_bad_input(check, name, result, require, out_path):
    """A bad-input case of a command: exit 2, a complete message naming `require`, and nothing written at out_path."""
    problems = check_message(result.stderr, require, True, [])
    check(result.returncode == 2 and not problems and not os.path.exists(out_path),
          f"bad input, {name}: exit {result.returncode} {problems} {result.stderr.strip()[:160]}")
