#!/usr/bin/python3
"""Bad-input tests for `cartpk fit`.

Usage: test_fit_cli_errors.py /path/to/cartpk

Every bad case writes its small input files (dataset, prior file) into a fresh temporary folder, which is also the
working and output folder, and runs the program there twice:
  1. with only the inputs present: the exit status must be 2, stdout must be empty, stderr must name what was wrong
     (the file and line, the column, key or option, the value found) and what was expected; afterwards the folder
     must hold exactly the inputs, unchanged (no output file, no leftover temporary such as .out.h5.tmp-XXXXXX or
     write probe);
  2. with a good out.h5 and out.csv from an earlier successful fit beside the inputs: after the failed run both
     must be byte-identical, the inputs unchanged, and nothing else may have appeared.
Cases whose output path lies outside the folder (/dev/full, /proc/...) check instead that nothing was created there.
Messages that point the reader to a document (docs/NAME.md) must point to one that exists in the source tree.

Positive cases: a valid fit exits 0 and writes both files; a dataset with a byte-order mark, CRLF line ends, a
comment line, a blank line and quoted fields (with "" and a comma inside an ID) gives the same estimates as the
plain file; a valid prior file fits and /fit/@prior_terms names the file.

Prints one line per case and a summary "N passed, M failed"; exit status 0 only when all cases pass.
"""
import csv
import filecmp
import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import binary_argument, check_message, listing, report, summary  # noqa: E402

BINARY = None
GOOD_H5 = GOOD_CSV = None


HEADER = "ID,TIME,EVID,AMT,DV,DVID,CENS,MDV,WT"
# Two subjects taken from examples/synthetic_stein2019_cohort.csv (qPCR, DVID 1; BLQ records with CENS = 1).
SUBJECT_1 = """1,0,1,8.52e+07,.,.,0,1,85.2
1,1,0,.,50,1,1,0,85.2
1,4,0,.,13443,1,0,0,85.2
1,7,0,.,18134.5,1,0,0,85.2
1,9,0,.,12409.3,1,0,0,85.2
1,11,0,.,8970.94,1,0,0,85.2
1,14,0,.,5816.93,1,0,0,85.2
1,21,0,.,1698.81,1,0,0,85.2
1,28,0,.,528.047,1,0,0,85.2
1,56,0,.,126.411,1,0,0,85.2
1,90,0,.,123.161,1,0,0,85.2
1,180,0,.,79.2235,1,0,0,85.2
1,365,0,.,50,1,1,0,85.2"""
SUBJECT_2 = """2,0,1,7.3e+07,.,.,0,1,73.0
2,1,0,.,50,1,1,0,73.0
2,4,0,.,50,1,1,0,73.0
2,7,0,.,687.343,1,0,0,73.0
2,9,0,.,2414.59,1,0,0,73.0
2,14,0,.,3021.7,1,0,0,73.0
2,28,0,.,612.9,1,0,0,73.0
2,90,0,.,140.2,1,0,0,73.0"""
GOOD_DATA = HEADER + "\n" + SUBJECT_1 + "\n" + SUBJECT_2 + "\n"
GOOD_PRIOR = 'iiv = "sd"\n\n[foldx]\ntypical = 3900\nomega = 1.5\n\n[tmax]\ntypical = 9.3\nomega = 0.5\n'

# `cartpk fit` for stein2019 on data.csv, HDF5 to out.h5 (relative to the case folder).
STEIN = ["--model", "stein2019", "--data", "data.csv", "--dvid", "1=qpcr,2=flow", "--quiet"]
OUT = ["--out", "out.h5"]


def dataset(*rows, header=HEADER):
    """A dataset: the header and the given record lines."""
    return header + "\n" + "".join(r + "\n" for r in rows)


DOSE = "1,0,1,8e7,.,.,0,1,80"


def run(args, cwd):
    proc = subprocess.run([BINARY, "fit"] + args, cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr




def write_inputs(folder, files):
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(data)


def check_inputs(folder, files):
    problems = []
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            problems.append("input %s was removed" % name)
        else:
            with open(path, "rb") as handle:
                if handle.read() != data:
                    problems.append("input %s was changed" % name)
    return problems




def bad_case(name, args, require, files=None, expect=True, forbid=(), outside=(), preserve=True, readonly_dirs=()):
    """Run `cartpk fit ARGS` in a folder holding FILES (name -> text or bytes; default: a good data.csv).

    args and require may use {dir} (the case folder, absolute). outside: paths outside the folder that must not
    exist afterwards (globs allowed; a component starting with "." matches hidden names). readonly_dirs: empty
    sub-folders created with mode 0555 before the run.
    """
    files = {"data.csv": GOOD_DATA} if files is None else files
    problems = []
    shown = ""
    with tempfile.TemporaryDirectory(prefix="cartpk-fitbad-") as folder:
        concrete = [a.format(dir=folder) for a in args]
        write_inputs(folder, files)
        for sub in readonly_dirs:
            os.mkdir(os.path.join(folder, sub), 0o555)
        code, stdout, stderr = run(concrete, folder)
        shown = stderr.strip().replace("\n", " | ")
        if code != 2:
            problems.append("exit status %d, expected 2" % code)
        problems += check_message(stderr, [r.format(dir=folder) if isinstance(r, str) else r for r in require],
                                  expect, forbid)
        if stdout.strip():
            problems.append("stdout is not empty: %r" % stdout.strip().splitlines()[0])
        extra = sorted(set(listing(folder)) - set(files) - set(readonly_dirs))
        for sub in readonly_dirs:
            inside = listing(os.path.join(folder, sub))
            if inside:
                problems.append("read-only folder %s holds %s afterwards" % (sub, inside))
        if extra:
            problems.append("folder holds more than the inputs afterwards: %s" % extra)
        problems += check_inputs(folder, files)
        for pattern in outside:
            found = glob.glob(pattern)
            if found:
                problems.append("created outside the folder: %s" % found)

    if preserve:
        with tempfile.TemporaryDirectory(prefix="cartpk-fitkeep-") as folder:
            write_inputs(folder, files)
            shutil.copy2(GOOD_H5, os.path.join(folder, "out.h5"))
            shutil.copy2(GOOD_CSV, os.path.join(folder, "out.csv"))
            before = listing(folder)
            code, _, _ = run([a.format(dir=folder) for a in args], folder)
            if code != 2:
                problems.append("with existing output files: exit status %d, expected 2" % code)
            for base, good in (("out.h5", GOOD_H5), ("out.csv", GOOD_CSV)):
                path = os.path.join(folder, base)
                if not os.path.isfile(path):
                    problems.append("existing %s was removed" % base)
                elif not filecmp.cmp(path, good, shallow=False):
                    problems.append("existing %s was changed by the failed run" % base)
            problems += ["with existing output files: " + p for p in check_inputs(folder, files)]
            if listing(folder) != before:
                problems.append("with existing output files, the folder now holds %s (was %s)" %
                                (listing(folder), before))
    report(name, problems, shown)




def read_table(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def fit_attributes(path):
    import h5py  # Debian's python3-h5py; imported here so that the bad cases run without it
    with h5py.File(path, "r") as f:
        attrs = dict(f["/fit"].attrs)
        ids = [x.decode() if isinstance(x, bytes) else str(x) for x in f["/fit/subject_ids"][()]]
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}, ids


def good_run(name, files, args, check):
    """A run that must succeed: exit 0, out.h5 (HDF5) and out.csv written, nothing else, nothing on stderr."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="cartpk-fitgood-") as folder:
        write_inputs(folder, files)
        code, stdout, stderr = run(args, folder)
        if code != 0:
            problems.append("exit status %d, expected 0 (stderr: %s)" % (code, stderr.strip()))
        expected = sorted(set(files) | {"out.h5", "out.csv"})
        if listing(folder) != expected:
            problems.append("folder holds %s, expected %s" % (listing(folder), expected))
        if stderr.strip():
            problems.append("a valid --quiet run printed to stderr: %s" % stderr.strip())
        h5 = os.path.join(folder, "out.h5")
        if os.path.isfile(h5):
            with open(h5, "rb") as handle:
                if handle.read(8) != b"\x89HDF\r\n\x1a\n":
                    problems.append("out.h5 is not an HDF5 file")
        if code == 0 and not problems:
            problems += check(folder)
    report(name, problems, "exit 0")


def positive_controls(reference):
    # The reference fit, whose outputs the bad cases must leave untouched.
    global GOOD_H5, GOOD_CSV
    write_inputs(reference, {"data.csv": GOOD_DATA})
    code, out, err = run(STEIN + OUT + ["--table", "out.csv"], reference)
    if code != 0:
        raise SystemExit("could not produce the good reference output (exit %d):\n%s%s" % (code, out, err))
    GOOD_H5, GOOD_CSV = os.path.join(reference, "out.h5"), os.path.join(reference, "out.csv")
    reference_rows = read_table(GOOD_CSV)

    def plain(folder):
        problems = []
        rows = read_table(os.path.join(folder, "out.csv"))
        if [r[0] for r in rows] != ["ID", "1", "2"]:
            problems.append("out.csv rows are %s, expected the header and subjects 1 and 2" % [r[0] for r in rows])
        attrs, ids = fit_attributes(os.path.join(folder, "out.h5"))
        if ids != ["1", "2"] or attrs.get("n_subjects") != 2:
            problems.append("/fit holds subjects %s (n_subjects %s), expected 1 and 2" % (ids, attrs.get("n_subjects")))
        if rows != reference_rows:
            problems.append("out.csv differs from the reference run of the same command")
        if not 0.0 < float(attrs.get("fit_seconds", -1.0)) < 60.0:  # the run takes well under a second
            problems.append("/fit@fit_seconds is %s, expected the fits' wall time" % attrs.get("fit_seconds"))
        if attrs.get("rtol") != 1e-6 or attrs.get("atol_scale") != 1e-12:  # the fit default (docs/fitting.md)
            problems.append("/fit@rtol, atol_scale are %s, %s, expected the defaults 1e-6, 1e-12" % (attrs.get("rtol"), attrs.get("atol_scale")))
        import h5py
        with h5py.File(os.path.join(folder, "out.h5"), "r") as f:
            solves = [int(f["/fit/subjects/%s" % i].attrs.get("solver_solves", 0)) for i in ("1", "2")]
        if not all(n > 10 for n in solves):  # a multistart fit solves the model many times per subject
            problems.append("/fit/subjects/*@solver_solves are %s, expected the number of solves" % solves)
        return problems

    good_run("positive control: a valid fit writes out.h5 and out.csv", {"data.csv": GOOD_DATA},
             STEIN + OUT + ["--table", "out.csv"], plain)

    # The same fit from an analysis file in a sub-folder (paths relative to it), and the command line winning.
    config = ('[fit]\nmodel = "stein2019"\ndata = "data.csv"\ndvid = { 1 = "qpcr", 2 = "flow" }\n'
              'starts = 1\nquiet = true\nout = "../out.h5"\ntable = "../out.csv"\n')
    with tempfile.TemporaryDirectory(prefix="cartpk-fitgood-") as folder:
        os.mkdir(os.path.join(folder, "analysis"))
        write_inputs(os.path.join(folder, "analysis"), {"data.csv": GOOD_DATA, "run.toml": config})
        code, _, err = run(["--config", "analysis/run.toml", "--starts", "10"], folder)
        problems = [] if code == 0 else ["exit status %d (stderr %s)" % (code, err.strip())]
        if not problems and read_table(os.path.join(folder, "out.csv")) != reference_rows:
            problems.append("the table differs from the same fit given on the command line")
        report("positive control: --config in a sub-folder (relative paths), --starts on the command line wins",
               problems, "exit %d" % code)

    # BOM, CRLF, a comment line, a blank line, quoted header and fields. The ID is quoted but the same as the
    # plain file's: each subject's random starts are seeded by its ID.
    quoted_id = '"1"'
    lines = ["\ufeff# SYNTHETIC test data", '"ID","TIME",EVID,AMT,"DV",DVID,CENS,MDV,"WT"', ""]
    for row in SUBJECT_1.splitlines():
        f = row.split(",")
        f[0] = quoted_id
        f[4] = '"%s"' % f[4]
        lines.append(",".join(f))
    lines += SUBJECT_2.splitlines()
    crlf = ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def same_estimates(folder):
        problems = []
        rows = read_table(os.path.join(folder, "out.csv"))
        want = [list(r) for r in reference_rows]
        if rows != want:
            problems.append("estimates differ from the plain file's (or the ID was not unquoted): %s" %
                            [r[:3] for r in rows])
        _, ids = fit_attributes(os.path.join(folder, "out.h5"))
        if ids != ["1", "2"]:
            problems.append("/fit/subject_ids is %s" % ids)
        return problems

    good_run("accepted: UTF-8 BOM, CRLF, comment and blank lines, quoted fields", {"data.csv": crlf},
             STEIN + OUT + ["--table", "out.csv"], same_estimates)

    def prior_named(folder):
        attrs, _ = fit_attributes(os.path.join(folder, "out.h5"))
        terms = attrs.get("prior_terms", "")
        return [] if "prior.toml" in terms else ["/fit/@prior_terms does not name prior.toml: %r" % terms]

    good_run("valid prior file: the fit runs and /fit/@prior_terms names it",
             {"data.csv": GOOD_DATA, "prior.toml": GOOD_PRIOR},
             STEIN + OUT + ["--table", "out.csv", "--prior", "prior.toml"], prior_named)


def main():
    global BINARY
    BINARY = binary_argument("test_fit_cli_errors.py")
    if BINARY is None:
        return 2

    reference = tempfile.mkdtemp(prefix="cartpk-fitref-")
    try:
        positive_controls(reference)
        run_cases()
    finally:
        shutil.rmtree(reference, ignore_errors=True)

    return summary()


def data_case(name, rows, require, header=HEADER, args=None, **kw):
    """A bad dataset (data.csv from header and rows) fitted with stein2019, unless args says otherwise."""
    bad_case(name, (STEIN if args is None else args) + OUT, ["data.csv"] + list(require),
             files={"data.csv": dataset(*rows, header=header)}, **kw)


def run_cases():
    S, O = STEIN, OUT
    OBS = "1,5,0,.,100,1,0,0,80"

    # --- dataset ------------------------------------------------------------------------------------------
    data_case("missing required column (no DV)", ["1,0,1,8e7,.,0,1,80", "1,5,0,.,1,0,0,80"],
              ["data.csv:1", "DV", "missing"], header="ID,TIME,EVID,AMT,DVID,CENS,MDV,WT")
    data_case("ragged row (too few fields)", [DOSE, "1,5,0,.,100,1,0,0"], ["data.csv:3", "8 fields", "9"])
    bad_case("empty file", S + O, ["data.csv", "empty"], files={"data.csv": ""})
    data_case("header only", [], ["data.csv:1", ("header only", "no records")])
    data_case("non-numeric DV (12x)", [DOSE, "1,5,0,.,12x,1,0,0,80"], ["data.csv:3", "column DV", "'12x'"])
    data_case("NaN DV", [DOSE, "1,5,0,.,nan,1,0,0,80"], ["data.csv:3", "column DV", "'nan'", "finite"])
    data_case("infinite TIME", [DOSE, "1,inf,0,.,100,1,0,0,80"], ["data.csv:3", "column TIME", "'inf'", "finite"])
    data_case("overflowing AMT (1e400)", ["1,0,1,1e400,.,.,0,1,80", OBS],
              ["data.csv:2", "column AMT", "'1e400'", "finite"])
    data_case("dose before the infusion (TIME -1 on a dose)", ["1,-1,1,8e7,.,.,0,1,80", OBS],
              ["data.csv:2", "column TIME", "'-1'", ">= 0"])
    data_case("decreasing TIME within a subject", [DOSE, OBS, "1,3,0,.,100,1,0,0,80"],
              ["data.csv:4", "column TIME", "'3'", "non-decreasing", "subject 1", "previous 5"])
    data_case("duplicate dose (same ID, TIME)", [DOSE, DOSE, OBS],
              ["data.csv:3", "duplicate", "dose", "subject 1", "TIME 0", "line 2"])
    data_case("EVID 3 (reset) is not supported", [DOSE, "1,2,3,.,.,.,0,1,80", OBS],
              ["data.csv:3", "column EVID", "'3'", "0", "1", "2", "not supported"])
    data_case("EVID 4 (reset and dose) is not supported", ["1,0,4,8e7,.,.,0,1,80", OBS],
              ["data.csv:2", "column EVID", "'4'", "not supported"])
    data_case("EVID out of range (7)", [DOSE, "1,2,7,.,.,.,0,1,80", OBS], ["data.csv:3", "column EVID", "'7'", "2"])
    data_case("MDV out of range (2)", [DOSE, "1,5,0,.,100,1,0,2,80"], ["data.csv:3", "column MDV", "'2'", "0 or 1"])
    data_case("CENS out of range (0.5)", [DOSE, "1,5,0,.,100,1,0.5,0,80"],
              ["data.csv:3", "column CENS", "'0.5'", "0 or 1"])
    data_case("CENS = 1 without a limit (DV '.', no LLOQ)", [DOSE, "1,5,0,.,.,1,1,0,80"],
              ["data.csv:3", "column DV", "'.'", "CENS = 1", ("limit", "LLOQ")])
    data_case("DV = 0 for the log-normal qpcr", [DOSE, "1,5,0,.,0,1,0,0,80"],
              ["data.csv:3", "column DV", ("'0'", "found 0"), "> 0", "log-normal", "qpcr"])
    data_case("DV = -2.5e-7 for the log-normal qpcr: the value found is shown as written",
              [DOSE, "1,5,0,.,-2.5e-7,1,0,0,80"],
              ["data.csv:3", "column DV", ("-2.5e-7", "-2.5e-07", "-0.00000025"), "> 0"], forbid=["-0.000000"])
    data_case("AMT = 0 on a dose", ["1,0,1,0,.,.,0,1,80", OBS], ["data.csv:2", "column AMT", "'0'", "> 0"])
    data_case("unknown DVID without --dvid (cd4)", [DOSE, "1,5,0,.,100,cd4,0,0,80"],
              ["data.csv:3", "column DVID", "'cd4'", "qpcr", "--dvid"], args=["--model", "stein2019", "--data", "data.csv", "--quiet"])
    data_case("only observation types --dvid does not map (7): the subject has none left", [DOSE, "1,5,0,.,100,7,0,0,80"],
              ["data.csv:2", "subject 1", "no observations", "types the model does not have"])
    data_case("subject without observations", [DOSE, OBS, "2,0,1,8e7,.,.,0,1,80"],
              ["data.csv:4", "subject 2", "no observations"])
    dosing = "ID,TIME,EVID,AMT,DV,DVID,CENS,MDV,WT,ADDL,II,RATE"
    data_case("RATE = -2 (duration modelled) on a dose", ["1,0,1,8e7,.,.,0,1,80,0,.,-2", OBS + ",.,.,."],
              ["data.csv:2", "column RATE", "'-2'", "not supported"], header=dosing)
    data_case("RATE on an observation", [DOSE + ",0,.,0", OBS + ",.,.,4"],
              ["data.csv:3", "column RATE", "'4'", "dose record"], header=dosing)
    data_case("SS = 1 (steady state)", [DOSE + ",0,.,0,1", OBS + ",.,.,.,."],
              ["data.csv:2", "column SS", "'1'", "not supported"], header=dosing + ",SS")
    data_case("both CENS and BLQ columns", [DOSE + ",0", OBS + ",0"], ["data.csv:1", "BLQ", "CENS"],
              header=HEADER + ",BLQ")
    data_case("semicolon file with a decimal comma", [DOSE.replace(",", ";"), "1;5;0;.;100,5;1;0;0;80"],
              ["data.csv:3", "column DV", "'100,5'"], header=HEADER.replace(",", ";"))
    data_case("--sep comma on a semicolon file", [DOSE.replace(",", ";"), OBS.replace(",", ";")],
              ["data.csv:1", "missing required column"], header=HEADER.replace(",", ";"), args=STEIN + ["--sep", "comma"])
    data_case("--accept ordering on a text column (SEX>=1)", [DOSE + ",M", OBS + ",M"],
              ["data.csv:2", "column SEX", "'M'", "--accept", "SEX>=1"], header=HEADER + ",SEX", args=STEIN + ["--accept", "SEX>=1"])
    C2 = ["--model", "cart_cd19_bcma", "--data", "data.csv", "--quiet"]
    data_case("cart_cd19_bcma: CMT 12 on a dose (11 states)", ["1,0,1,8e7,.,.,0,1,70,12", "1,5,0,.,3,flow,0,0,70,."],
              ["data.csv:2", "column CMT", "'12'", "1 to 11"], header=HEADER + ",CMT", args=C2)
    data_case("cart_cd19_bcma: only records before the infusion for a subject",
              ["1,-3,0,.,120,bcell,0,0,70", "1,0,1,8e7,.,.,0,1,70"],
              ["data.csv:2", "subject 1", "before", "infusion"], args=C2)
    data_case("ADDL = 2 without an interval II", ["1,0,1,8e7,.,.,0,1,80,2,.,0", OBS + ",.,.,."],
              ["data.csv:2", "column II", "ADDL = 2"], header=dosing)
    C = ["--model", "cart_cd19_bcma", "--data", "data.csv", "--quiet"]
    data_case("cart_cd19_bcma: dose without a weight (WT '.')", ["1,0,1,8e7,.,.,0,1,.", "1,5,0,.,3,flow,0,0,."],
              ["data.csv:2", "WT", "subject 1", "> 0"], args=C)
    data_case("cart_cd19_bcma: observation before the first dose",
              ["1,0,0,.,3,flow,0,0,70", "1,1,1,8e7,.,.,0,1,70", "1,5,0,.,3,flow,0,0,70"],
              ["data.csv:2", "subject 1", "first dose", "TIME", ("TIME 0", "'0'", "found 0")], args=C)

    # --- options ------------------------------------------------------------------------------------------
    bad_case("unknown model", ["--model", "nosuch", "--data", "data.csv"] + O, ["model", "nosuch", "stein2019"])
    bad_case("unknown parameter in --estimate (cmx)", S + ["--estimate", "cmx,tmax"] + O,
             ["--estimate", "cmx", "cmax"])
    bad_case("unknown parameter in --fix (cmx=5)", S + ["--fix", "cmx=5"] + O, ["--fix", "cmx", "cmax"])
    bad_case("unknown parameter in --init (cmx=5)", S + ["--init", "cmx=5"] + O, ["--init", "cmx", "cmax"])
    bad_case("unknown parameter in --bounds (cmx=1:5), did you mean", S + ["--bounds", "cmx=1:5"] + O,
             ["--bounds", "cmx", "did you mean 'cmax'"])
    bad_case("unknown parameter in --bounds far from any name (zzzzzz=1:5)", S + ["--bounds", "zzzzzz=1:5"] + O,
             ["--bounds", "zzzzzz", "cmax"])
    bad_case("value outside the domain (--fix alpha=-1)", S + ["--fix", "alpha=-1"] + O,
             ["--fix", "alpha", "-1", "positive"])
    bad_case("lower bound above upper bound (--bounds tmax=20:5)", S + ["--bounds", "tmax=20:5"] + O,
             ["--bounds", "tmax", "20", "5"])
    bad_case("parameter both fixed and estimated (--fix tmax=5 --estimate tmax,cmax)",
             S + ["--fix", "tmax=5", "--estimate", "tmax,cmax"] + O, ["--fix", "--estimate", "tmax", "fixed"])
    bad_case("unknown error model (--error qpcr=poisson)", S + ["--error", "qpcr=poisson"] + O,
             ["--error", "qpcr", "poisson", "lognormal"])
    bad_case("error model for an unknown observable (--error qpcx=lognormal)", S + ["--error", "qpcx=lognormal"] + O,
             ["--error", "qpcx", "qpcr"])
    bad_case("--starts 0", S + ["--starts", "0"] + O, ["--starts", ("'0'", "found 0", "got 0", "--starts 0"), "1"])
    bad_case("--threads -1", S + ["--threads", "-1"] + O, ["--threads", "-1"])
    bad_case("--rtol -1 (a negative tolerance)", S + ["--rtol", "-1"] + O, ["--rtol", "-1", "positive"])
    bad_case("--max-steps 0", S + ["--max-steps", "0"] + O, ["--max-steps", "0", "> 0"])
    bad_case("--integrator rk4 (unknown)", S + ["--integrator", "rk4"] + O,
             ["--integrator", "'rk4'", "cvodes, dopri5 or auto"])
    bad_case("--ci-calibration exact (unknown)", S + ["--ci-calibration", "exact"] + O,
             ["--ci-calibration", "'exact'", "auto, chi2 or f"])
    bad_case("--information hessian (unknown)", S + ["--information", "hessian"] + O,
             ["--information", "'hessian'", "'expected' or 'observed'"])
    bad_case("--ids naming a missing subject (99)", S + ["--ids", "1,99"] + O, ["--ids", "99", "data.csv"])
    bad_case("--sep pipe", S + ["--sep", "pipe"] + O, ["--sep", "'pipe'", "semicolon"])
    bad_case("--ignore without a comparison (DVID5)", S + ["--ignore", "DVID5"] + O, ["--ignore", "DVID5", "=="])
    bad_case("--accept on a column the file lacks (DAY<=365)", S + ["--accept", "DAY<=365"] + O,
             ["--accept", "DAY<=365", "data.csv", "no column DAY"])
    bad_case("--accept text with an ordering (SEX<M)", S + ["--accept", "SEX<M"] + O, ["--accept", "SEX<M", "number"])
    bad_case("--warnings some", S + ["--warnings", "some"] + O, ["--warnings", "'some'", "summary", "none"])
    bad_case("--dvid naming an observable the model lacks (1=crp)", ["--model", "stein2019", "--data", "data.csv",
             "--dvid", "1=crp"] + O, ["--dvid", "crp", "qpcr"])
    bad_case("--prior published on a model without published variability (cart_cd19_bcma)",
             ["--model", "cart_cd19_bcma", "--data", "data.csv", "--prior", "published"] + O,
             ["--prior published", "cart_cd19_bcma", "variability", "prior file"],
             files={"data.csv": dataset("1,0,1,8e7,.,.,0,1,70", "1,5,0,.,3,flow,0,0,70")})

    # --- prior file ---------------------------------------------------------------------------------------
    def prior_case(name, text, require, extra=()):
        bad_case(name, S + ["--prior", "prior.toml"] + list(extra) + O, ["prior.toml"] + list(require),
                 files={"data.csv": GOOD_DATA, "prior.toml": text})

    prior_case("prior: unknown top-level key [foldz]", "[foldz]\ntypical = 3900\nomega = 2.4\n",
               ["prior.toml:1", "foldz", "did you mean 'foldx'"])
    prior_case("prior: unknown field typicl", 'iiv = "variance"\n[foldx]\ntypicl = 3900\nomega = 2.4\n',
               ["prior.toml:3", "typicl", "did you mean 'typical'"])
    prior_case("prior: negative omega (-0.5)", "[foldx]\ntypical = 3900\nomega = -0.5\n",
               ["prior.toml:3", "omega", "-0.5", "> 0"])
    prior_case("prior: TOML syntax error on line 4", "[foldx]\ntypical = 3900\n\nomega = 2.4 2\n",
               ["prior.toml:4"])
    prior_case("prior on a fixed parameter (--fix tmax=9, [tmax])", "[tmax]\ntypical = 9.3\nomega = 0.1\n",
               ["prior.toml:1", "tmax", ("fixed", "not estimated")], extra=["--fix", "tmax=9"])

    # --- analysis file (--config) ---------------------------------------------------------------------------
    def config_case(name, text, require, extra=()):
        bad_case(name, ["--config", "run.toml"] + list(extra), ["run.toml"] + list(require),
                 files={"data.csv": GOOD_DATA, "run.toml": text})

    head = '[fit]\nmodel = "stein2019"\ndata = "data.csv"\ndvid = "1=qpcr,2=flow"\nout = "out.h5"\n'
    config_case("analysis: unknown key (stars), did you mean", head + "stars = 4\n",
                ["run.toml:6", "stars", "did you mean 'starts'"])
    config_case("analysis: unknown table [fitt]", "[fitt]\nmodel = 'stein2019'\n",
                ["run.toml:1", "fitt", "did you mean 'fit'"])
    config_case("analysis: no [fit] table", "[simulate]\nmodel = 'stein2019'\n", ["[fit]"])
    config_case("analysis: TOML syntax error on line 6", head + "starts = = 4\n", ["run.toml:6"])
    config_case("analysis: starts = 'many' (not an integer)", head + "starts = 'many'\n",
                ["run.toml:6", "starts", "'many'", "integer"])
    config_case("analysis: starts = 0 (rejected by fit)", head + "starts = 0\n",
                ["run.toml:6", "starts", "at least 1"])
    config_case("analysis: fix = { cmx = 5 } (unknown parameter)", head + "fix = { cmx = 5 }\n",
                ["run.toml:6", "fix", "cmx", "cmax"])
    config_case("analysis: bounds with a nested array", head + "bounds = { tmax = [[1], 30] }\n",
                ["run.toml:6", "bounds.tmax", "array"])
    config_case("analysis: model missing everywhere", '[fit]\ndata = "data.csv"\nout = "out.h5"\n',
                ["--model", "required", "model"])
    config_case("analysis: out = the analysis file itself", head.replace('out = "out.h5"', 'out = "run.toml"'),
                ["--out", "run.toml", "same file"])
    bad_case("analysis: --config naming a missing file", ["--config", "nosuch.toml"], ["nosuch.toml", "cannot open"])

    # --- outputs ------------------------------------------------------------------------------------------
    if os.geteuid() != 0:  # root may write into a read-only folder
        bad_case("unwritable --out (read-only folder)", S + ["--out", "{dir}/ro/out.h5"],
                 ["--out", "{dir}/ro", "writable"], preserve=False, readonly_dirs=["ro"])
    bad_case("unwritable --out (/proc/cartpk-fit.h5, not even root can create it)", S + ["--out", "/proc/cartpk-fit.h5"],
             ["--out", "/proc/cartpk-fit.h5"], preserve=False,
             outside=["/proc/cartpk-fit.h5", "/proc/.cartpk-fit.h5.tmp-*"])
    full = os.stat("/dev/full") if os.path.exists("/dev/full") else None
    bad_case("/dev/full as --out", S + ["--out", "/dev/full"], ["--out", "/dev/full", "regular file"],
             preserve=False, outside=["/dev/.full.tmp-*"])
    if full is not None:
        after = os.stat("/dev/full") if os.path.exists("/dev/full") else None
        ok = after is not None and stat.S_ISCHR(after.st_mode) and after.st_rdev == full.st_rdev \
            and after.st_ino == full.st_ino
        report("/dev/full is still the same character device afterwards", [] if ok else ["/dev/full was replaced"],
               "rdev %s" % (after.st_rdev if after else None))
    bad_case("--out equal to --data", S + ["--out", "data.csv"], ["--out", "data.csv", "same file"])
    bad_case("--out equal to --data spelled differently ({dir}/./data.csv)", S + ["--out", "{dir}/./data.csv"],
             ["--out", "data.csv", "same file"])
    bad_case("--out equal to --prior", S + ["--prior", "prior.toml", "--out", "prior.toml"],
             ["--out", "prior.toml", "same file"], files={"data.csv": GOOD_DATA, "prior.toml": GOOD_PRIOR})
    bad_case("--table equal to --out", S + O + ["--table", "out.h5"], ["--table", "out.h5", "same file"])
    bad_case("--table is --out spelled differently (./out.h5)", S + O + ["--table", "./out.h5"],
             ["--table", "out.h5", "same file"])
    bad_case("--table is --out spelled differently ({dir}/out.h5, absolute)", S + O + ["--table", "{dir}/out.h5"],
             ["--table", "out.h5", "same file"])


if __name__ == "__main__":
    sys.exit(main())
