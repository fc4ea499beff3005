#!/usr/bin/python3
"""Bad-input tests for `cartpk simulate`.

Usage: test_cli_errors.py /path/to/cartpk

Every case runs the program twice, each time in a fresh temporary folder that is also the output folder:
  1. into an empty folder: the exit status must be 2, stderr must name what was wrong (the option or parameter and
     the offending value) and what was expected, and the folder must still be empty afterwards (no output file and
     no leftover temporary file such as .out.h5.tmp-XXXXXX);
  2. into a folder that already holds a good out.h5 (and out.csv) from an earlier successful run: after the failed
     run both files must be byte-identical and nothing else may have appeared.
Cases whose output path lies outside the folder (/dev/full, /proc/..., a missing folder) check instead that
nothing was created there. A positive control checks that a valid run exits 0 and writes its files.

Prints one line per case and a summary "N passed, M failed"; exit status 0 only when all cases pass.
"""
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



def run(args, cwd):
    proc = subprocess.run([BINARY, "simulate"] + args, cwd=cwd, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr




def good_files(folder):
    """A good out.h5 and out.csv from a valid run, created once and copied into the 'preserve' folders."""
    code, out, err = run(["--model", "stein2019", "--end", "20", "--out", "out.h5", "--table", "out.csv"], folder)
    if code != 0:
        raise SystemExit("could not produce the good reference output (exit %d):\n%s%s" % (code, out, err))
    return os.path.join(folder, "out.h5"), os.path.join(folder, "out.csv")




def bad_case(name, args, require, expect=True, forbid=(), outside=(), preserve=True):
    """args may use {dir} (the output folder, absolute), {out} = {dir}/out.h5 and {table} = {dir}/out.csv.

    outside: paths outside the folder that must not exist afterwards (globs allowed, e.g. leftover temporaries).
    """
    problems = []
    with tempfile.TemporaryDirectory(prefix="cartpk-bad-") as folder:
        subst = {"dir": folder, "out": os.path.join(folder, "out.h5"), "table": os.path.join(folder, "out.csv")}
        concrete = [a.format(**subst) for a in args]
        code, stdout, stderr = run(concrete, folder)
        shown = stderr.strip().replace("\n", " | ")
        if code != 2:
            problems.append("exit status %d, expected 2" % code)
        problems += check_message(stderr, [r.format(**subst) if isinstance(r, str) else r for r in require],
                                  expect, forbid)
        if "wrote" in stdout:
            problems.append("stdout claims a file was written: %r" % stdout.strip().splitlines()[-1])
        left = listing(folder)
        if left:
            problems.append("output folder is not empty afterwards: %s" % left)
        for pattern in outside:
            found = glob.glob(pattern)  # a pattern component starting with "." also matches hidden names
            if found:
                problems.append("created outside the folder: %s" % found)

    if preserve:
        with tempfile.TemporaryDirectory(prefix="cartpk-keep-") as folder:
            subst = {"dir": folder, "out": os.path.join(folder, "out.h5"), "table": os.path.join(folder, "out.csv")}
            shutil.copy2(GOOD_H5, subst["out"])
            shutil.copy2(GOOD_CSV, subst["table"])
            before = listing(folder)
            code, _, _ = run([a.format(**subst) for a in args], folder)
            if code != 2:
                problems.append("with existing output files: exit status %d, expected 2" % code)
            for path, good in ((subst["out"], GOOD_H5), (subst["table"], GOOD_CSV)):
                if not os.path.isfile(path):
                    problems.append("existing %s was removed" % os.path.basename(path))
                elif not filecmp.cmp(path, good, shallow=False):
                    problems.append("existing %s was changed by the failed run" % os.path.basename(path))
            if listing(folder) != before:
                problems.append("with existing output files, the folder now holds %s (was %s)" %
                                (listing(folder), before))
    report(name, problems, shown)




def positive_control():
    problems = []
    with tempfile.TemporaryDirectory(prefix="cartpk-good-") as folder:
        code, stdout, stderr = run(["--model", "stein2019", "--times", "0,1,9.3,30", "--out", "out.h5",
                                    "--table", "out.csv"], folder)
        if code != 0:
            problems.append("exit status %d, expected 0 (stderr: %s)" % (code, stderr.strip()))
        if listing(folder) != ["out.csv", "out.h5"]:
            problems.append("folder holds %s, expected out.csv and out.h5 only" % listing(folder))
        path = os.path.join(folder, "out.h5")
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                if handle.read(8) != b"\x89HDF\r\n\x1a\n":
                    problems.append("out.h5 is not an HDF5 file")
        if stderr.strip():
            problems.append("a valid run printed to stderr: %s" % stderr.strip())
    report("positive control: valid run writes out.h5 and out.csv", problems, "exit 0")


def main():
    global BINARY, GOOD_H5, GOOD_CSV
    BINARY = binary_argument("test_cli_errors.py")
    if BINARY is None:
        return 2

    reference = tempfile.mkdtemp(prefix="cartpk-ref-")
    try:
        GOOD_H5, GOOD_CSV = good_files(reference)
        run_cases()
    finally:
        shutil.rmtree(reference, ignore_errors=True)

    return summary()


def run_cases():
    positive_control()
    S = ["--model", "stein2019"]
    L = ["--model", "lag_expansion"]
    O = ["--out", "{out}"]

    # --- analysis file (--config), written beside the reference outputs ----------------------------------
    configs = os.path.dirname(GOOD_H5)

    def config(name, text):
        path = os.path.join(configs, name)
        with open(path, "w") as handle:
            handle.write(text)
        return path

    bad_case("analysis: unknown key (parm), did you mean",
             ["--config", config("a.toml", '[simulate]\nmodel = "stein2019"\nparm = ["cmax=5"]\n')] + O,
             ["a.toml:3", "parm", "did you mean 'param'"])
    bad_case("analysis: a value simulate rejects (param cmax=abc)",
             ["--config", config("b.toml", '[simulate]\nmodel = "stein2019"\nparam = ["cmax=abc"]\n')] + O,
             ["b.toml:3", "param", "cmax", "abc", "number"])
    # --- a dataset's doses (--data) and what conflicts with them ---------------------------------------------
    m2 = ["--model", "cart_cd19_bcma", "--end", "10"]
    doses = config("doses.csv", "ID,TIME,EVID,AMT,DV,DVID,WT\n1,0,1,7e7,.,.,70\n1,7,0,.,3500,1,70\n")
    bad_case("--data with --dose-per-kg (the dataset's AMT is the dose)", m2 + ["--data", doses, "--dose-per-kg", "1e6"] + O,
             ["--dose-per-kg", "--data", "AMT"])
    bad_case("--data with --weight (the dataset's WT is used)", m2 + ["--data", doses, "--weight", "80"] + O,
             ["--weight", "--data", "WT"])
    bad_case("--data with numeric DVIDs and no --dvid", m2 + ["--data", doses] + O, ["doses.csv:3", "DVID", "'1'", "--dvid"])
    bad_case("--data --sep pipe", m2 + ["--data", doses, "--sep", "pipe"] + O, ["--sep", "'pipe'", "semicolon"])
    bad_case("--data --ignore on a column the file lacks", m2 + ["--data", doses, "--dvid", "1=qpcr", "--ignore", "YTYPE==2"] + O,
             ["--ignore", "YTYPE==2", "no column YTYPE"])
    bad_case("--data --warnings some", m2 + ["--data", doses, "--dvid", "1=qpcr", "--warnings", "some"] + O,
             ["--warnings", "'some'", "summary"])
    bad_case("analysis: end = 'late' (not a number)",
             ["--config", config("c.toml", '[simulate]\nmodel = "stein2019"\nend = "late"\n')] + O,
             ["c.toml:3", "end", "'late'", "number"])

    # --- model and parameters ----------------------------------------------------------------------------
    bad_case("unknown model", ["--model", "nosuch"] + O, ["model", "nosuch", "stein2019"])
    bad_case("unknown parameter --param nosuch=1", S + ["--param", "nosuch=1"] + O, ["--param", "nosuch", "cmax"])
    bad_case("parameter of the other model (--param tlag=1 for stein2019)", S + ["--param", "tlag=1"] + O,
             ["--param", "tlag", "stein2019"])
    bad_case("assignment without '=' (--param cmax)", S + ["--param", "cmax"] + O, ["--param", "cmax", "name=value"])
    bad_case("empty value (--param cmax=)", S + ["--param", "cmax="] + O, ["--param", "cmax", "''", "number"])
    bad_case("non-numeric value (--param cmax=abc)", S + ["--param", "cmax=abc"] + O, ["cmax", "abc", "number"])
    bad_case("hexadecimal value (--param cmax=0x10)", S + ["--param", "cmax=0x10"] + O, ["cmax", "0x10", "number"])
    bad_case("trailing junk (--param cmax=5kg)", S + ["--param", "cmax=5kg"] + O, ["cmax", "5kg", "number"])
    bad_case("NaN (--param cmax=nan)", S + ["--param", "cmax=nan"] + O, ["cmax", "nan", "finite"])
    bad_case("infinity (--param cmax=inf)", S + ["--param", "cmax=inf"] + O, ["cmax", "inf", "finite"])
    bad_case("overflow (--param cmax=1e400)", S + ["--param", "cmax=1e400"] + O, ["cmax", "1e400", "finite"])
    bad_case("underflow (--param cmax=1e-400) must not be called 'not finite'", S + ["--param", "cmax=1e-400"] + O,
             ["cmax", "1e-400"], forbid=["not finite"])
    bad_case("negative rate (--param alpha=-1)", S + ["--param", "alpha=-1"] + O, ["alpha", "-1", "positive"])
    bad_case("zero rate (--param beta=0)", S + ["--param", "beta=0"] + O, ["beta", "=0", "positive"])
    bad_case("fraction above 1 (--param fb=1.5)", S + ["--param", "fb=1.5"] + O, ["fb", "1.5", "fraction"])
    bad_case("fraction at 0 (--param fb=0)", S + ["--param", "fb=0"] + O, ["fb", "=0", "fraction"])
    bad_case("negative lag (--param tlag=-1)", L + ["--param", "tlag=-1"] + O, ["tlag", "-1", ">= 0"])
    bad_case("tlag above tmax (lag_expansion --param tlag=10)", L + ["--param", "tlag=10"] + O,
             ["tlag", "tmax", "10", "9.3"])
    bad_case("tlag equal to tmax (lag_expansion --param tlag=5 --param tmax=5)",
             L + ["--param", "tlag=5", "--param", "tmax=5"] + O, ["tlag", "tmax", "5"])

    # --- time grid ---------------------------------------------------------------------------------------
    bad_case("empty time grid (--times '')", S + ["--times", ""] + O, ["--times", "''"])
    bad_case("empty entry (--times 1,,2)", S + ["--times", "1,,2"] + O, ["--times", "1,,2", "empty"])
    bad_case("negative time for a model that starts at the infusion (cart_cd19_bcma --times -1,2)",
             ["--model", "cart_cd19_bcma", "--times", "-1,2"] + O, ["time", "-1", ">= 0", "infusion"])
    bad_case("non-monotone times (--times 5,2)", S + ["--times", "5,2"] + O, ["time", "5", "2", "non-decreasing"])
    bad_case("non-monotone small times are shown legibly (--times 1e-7,5e-8)", S + ["--times", "1e-7,5e-8"] + O,
             ["time", ("5e-8", "5e-08", "0.00000005"), ("1e-7", "1e-07", "0.0000001")])
    bad_case("NaN time (--times nan)", S + ["--times", "nan"] + O, ["--times", "nan", "finite"])
    bad_case("--times combined with --end", S + ["--times", "1,2", "--end", "5"] + O, ["--times", "--end"])
    bad_case("non-positive end (--end -5)", S + ["--end", "-5"] + O, ["--end", "> 0"])
    bad_case("zero step (--step 0)", S + ["--step", "0"] + O, ["--step", "> 0"])
    bad_case("too many output times (--end 1e9)", S + ["--end", "1e9"] + O, ["--end", "--step", "10 million"])

    # --- sensitivities, solution method ------------------------------------------------------------------
    bad_case("unknown --sens name", S + ["--sens", "cmax,nosuch"] + O, ["--sens", "nosuch", "all"])
    bad_case("--sens lists a parameter twice", S + ["--sens", "cmax,cmax"] + O, ["--sens", "cmax", "twice"],
             expect=False)
    bad_case("--solution bogus", S + ["--solution", "bogus"] + O, ["--solution", "bogus", "ode", "closed"])

    # --- output paths ------------------------------------------------------------------------------------
    bad_case("output folder does not exist", S + ["--out", "{dir}/nonexistent/sub/out.h5"],
             ["--out", "{dir}/nonexistent/sub", "does not exist"], preserve=False)
    bad_case("output under a missing top-level folder", S + ["--out", "/nonexistent-cartpk-dir/out.h5"],
             ["--out", "/nonexistent-cartpk-dir", "does not exist"], preserve=False,
             outside=["/nonexistent-cartpk-dir"])
    bad_case("output where even root cannot create files (/proc/cartpk.h5)", S + ["--out", "/proc/cartpk.h5"],
             ["--out", "/proc/cartpk.h5"], expect=False, preserve=False,
             outside=["/proc/cartpk.h5", "/proc/.cartpk.h5.tmp-*"])
    bad_case("output path is a folder", S + ["--out", "{dir}"], ["--out", "{dir}", "not a regular file"],
             preserve=False)
    bad_case("output path with a trailing slash", S + ["--out", "{dir}/sub/"], ["--out", "file"], preserve=False)
    bad_case("empty output path (--out '')", S + ["--out", ""], ["--out", "empty"], preserve=False)
    full = os.stat("/dev/full") if os.path.exists("/dev/full") else None
    bad_case("/dev/full as output", S + ["--out", "/dev/full"], ["--out", "/dev/full", "regular file"],
             preserve=False, outside=["/dev/.full.tmp-*"])
    after = os.stat("/dev/full") if os.path.exists("/dev/full") else None
    if full is not None:
        ok = after is not None and stat.S_ISCHR(after.st_mode) and after.st_rdev == full.st_rdev \
            and after.st_ino == full.st_ino
        report("/dev/full is still the same character device afterwards", [] if ok else ["/dev/full was replaced"],
               "rdev %s" % (after.st_rdev if after else None))
    bad_case("/dev/full as --table", S + O + ["--table", "/dev/full"], ["--table", "/dev/full", "regular file"],
             outside=["/dev/.full.tmp-*"])
    bad_case("--table equal to --out", S + O + ["--table", "{out}"], ["--table", "{out}", "same file"])
    bad_case("--table is --out spelled differently ({dir}/./out.h5)", S + O + ["--table", "{dir}/./out.h5"],
             ["--table", "same file"])
    bad_case("--table where files cannot be created (/proc/cartpk.csv): --out must not be written either",
             S + O + ["--table", "/proc/cartpk.csv"], ["--table", "/proc/cartpk.csv"], expect=False,
             outside=["/proc/cartpk.csv", "/proc/.cartpk.csv.tmp-*"])


if __name__ == "__main__":
    sys.exit(main())
