#!/usr/bin/python3
"""Datasets written the way NONMEM, Monolix and nlmixr2 users export them, through `cartpk fit` and `simulate`.

Usage: test_dataset_variants.py /path/to/cartpk

Each accepted variant (semicolon, tab and whitespace separators, detected or chosen with --sep; CMT for DVID; BLQ
for CENS; DVID names in capitals; comment lines and a C column; EVID 2 rows; a text covariate; --ignore and
--accept) is fitted, and its table must equal the plain comma-separated file's, byte for byte, with nothing on
stderr. Records before the infusion: stein2019 fits them (one more record), cart_cd19_bcma leaves them out with
one note and fits exactly what the file without them fits. Warnings: summarised per kind (summary, all, none),
each plausibility warning fires on a constructed case, and the bundled example cohort raises none. simulate --data
takes --dvid and --sep. The refused variants are in test_fit_cli_errors.py and test_cli_errors.py.

Prints one line per case and a summary "N passed, M failed"; exit status 0 only when all cases pass.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import SOURCE_ROOT, binary_argument, report, summary  # noqa: E402

BINARY = None
EXAMPLE = os.path.join(SOURCE_ROOT, "examples", "synthetic_stein2019_cohort.csv")

HEADER = "ID,TIME,EVID,AMT,DV,DVID,CENS,MDV,WT"
ROWS = """1,0,1,8.52e+07,.,.,0,1,85.2
1,1,0,.,50,1,1,0,85.2
1,4,0,.,13443,1,0,0,85.2
1,7,0,.,18134.5,1,0,0,85.2
1,9,0,.,12409.3,1,0,0,85.2
1,14,0,.,5816.93,1,0,0,85.2
1,28,0,.,528.047,1,0,0,85.2
1,90,0,.,123.161,1,0,0,85.2
1,365,0,.,50,1,1,0,85.2
2,0,1,7.3e+07,.,.,0,1,73.0
2,1,0,.,50,1,1,0,73.0
2,4,0,.,50,1,1,0,73.0
2,7,0,.,687.343,1,0,0,73.0
2,9,0,.,2414.59,1,0,0,73.0
2,14,0,.,3021.7,1,0,0,73.0
2,28,0,.,612.9,1,0,0,73.0
2,90,0,.,140.2,1,0,0,73.0""".splitlines()
PLAIN = HEADER + "\n" + "\n".join(ROWS) + "\n"
FIT = ["fit", "--model", "stein2019", "--data", "data.csv", "--dvid", "1=qpcr,2=flow", "--starts", "3", "--quiet",
       "--threads", "1", "--out", "out.h5", "--table", "out.csv"]


def run(args, files):
    """Runs cartpk ARGS in a fresh folder holding FILES; returns (exit code, stderr, {output name: text})."""
    with tempfile.TemporaryDirectory(prefix="cartpk-variant-") as folder:
        for name, text in files.items():
            with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
                handle.write(text)
        proc = subprocess.run([BINARY] + args, cwd=folder, capture_output=True, text=True, timeout=120)
        outputs = {}
        for name in ("out.csv", "sim.csv"):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    outputs[name] = handle.read()
        return proc.returncode, proc.stderr, outputs


def same_fit(name, text, reference, extra=(), stderr_has=None):
    """A variant fitted like the plain file: exit 0, the same table, stderr empty (or holding stderr_has)."""
    code, err, out = run(FIT + list(extra), {"data.csv": text})
    problems = []
    if code != 0:
        problems.append("exit %d (stderr: %s)" % (code, err.strip()))
    elif out.get("out.csv") != reference:
        problems.append("table differs from the plain file's:\n%s" % out.get("out.csv"))
    if stderr_has is None and err.strip():
        problems.append("stderr is not empty: %s" % err.strip())
    if stderr_has is not None and (stderr_has not in err or len(err.strip().splitlines()) != 1):
        problems.append("stderr is not one line holding %r: %r" % (stderr_has, err))
    report(name, problems, err.strip().replace("\n", " | ") or "exit %d" % code)


def column(table, name):
    lines = table.strip().splitlines()
    header = lines[0].split(",")
    return [row.split(",")[header.index(name)] for row in lines[1:]]


def with_rows(edit):
    """PLAIN with each data row passed through edit(fields) -> list of rows (each a list of fields)."""
    out = [HEADER]
    for row in ROWS:
        out += [",".join(r) for r in edit(row.split(","))]
    return "\n".join(out) + "\n"


def accepted_variants(reference):
    same_fit("semicolon-separated, detected", PLAIN.replace(",", ";"), reference)
    same_fit("semicolon-separated, --sep semicolon", PLAIN.replace(",", ";"), reference, ["--sep", "semicolon"])
    same_fit("tab-separated, detected", PLAIN.replace(",", "\t"), reference)
    aligned = "\n".join(" ".join("%-10s" % f for f in line.split(",")) for line in PLAIN.splitlines()) + "\n"
    same_fit("whitespace-separated (aligned columns), detected", aligned, reference)
    same_fit("whitespace-separated, --sep whitespace", aligned, reference, ["--sep", "whitespace"])
    same_fit("CMT as the observation type (no DVID column)", PLAIN.replace("DVID", "CMT"), reference)
    same_fit("BLQ for CENS", PLAIN.replace("CENS", "BLQ"), reference)
    same_fit("DVID names in capitals (QPCR)", with_rows(lambda f: [f[:5] + (["QPCR"] if f[5] == "1" else [f[5]]) + f[6:]]),
             reference)
    commented = ("# exported by NONMEM\n@ IGNORE=@\n" + PLAIN).replace("2,0,1,", "C,a NONMEM comment row\n2,0,1,")
    same_fit("comment lines (#, @, C)", commented, reference)
    c_column = "C," + HEADER + "\n" + "\n".join("." + "," + r for r in ROWS) + "\nx,2,120,0,.,99,1,0,0,73.0\n"
    same_fit("a C column (IGNORE=C): a row with a value there is dropped", c_column, reference)
    same_fit("EVID 2 rows (other events) are read and skipped",
             with_rows(lambda f: [f] + ([[f[0], "2", "2", ".", ".", ".", ".", "1", f[8]]] if f[1] == "1" else [])), reference)
    same_fit("a text covariate (SEX = M/F) that no analysis uses", with_rows(lambda f: [f + ["M" if f[0] == "1" else "F"]])
             .replace(HEADER, HEADER + ",SEX"), reference)
    crp = with_rows(lambda f: [f] + ([[f[0], "3", "0", ".", "12.5", "5", "0", "0", f[8]]] if f[1] == "1" else []))
    same_fit("--ignore \"DVID==5\" drops the CRP records", crp, reference, ["--ignore", "DVID==5"])
    same_fit("observation types --dvid does not map (CRP, DVID 5) are skipped with one warning", crp, reference,
             stderr_has="2 observation(s) of types model stein2019 does not have are skipped: 5 (2 at lines 4, 14)")
    later = with_rows(lambda f: [f] + ([[f[0], "400", "0", ".", "30", "1", "0", "0", f[8]]] if f[1] == "365" else []))
    same_fit("--accept \"TIME<=365\" drops the later records", later, reference, ["--accept", "TIME<=365"])
    same_fit("--accept with NONMEM's form (TIME.LE.365) and a window", later, reference,
             ["--accept", "TIME.LE.365", "--accept", "TIME>=0"])


def before_infusion(reference):
    # stein2019 is defined before the infusion (its baseline R0): the record is fitted.
    baseline = with_rows(lambda f: ([[f[0], "-7", "0", ".", "8", "1", "0", "0", f[8]]] if f[1] == "0" else []) + [f])
    code, err, out = run(FIT, {"data.csv": baseline})
    problems = [] if code == 0 else ["exit %d (%s)" % (code, err.strip())]
    if code == 0:
        plain_n = [int(n) for n in column(reference, "n_obs")]
        n = [int(x) for x in column(out["out.csv"], "n_obs")]
        if n != [k + 1 for k in plain_n]:
            problems.append("n_obs %s, expected one more than the plain file's %s" % (n, plain_n))
        if err.strip():
            problems.append("stderr is not empty: %s" % err.strip())
    report("stein2019: a qPCR baseline at TIME -7 is fitted (C = R0 before the infusion)", problems, err.strip() or "exit 0")

    # cart_cd19_bcma starts at the infusion: its earlier records are left out, with one note, and the OFV equals
    # the file's without them.
    m2 = ["fit", "--model", "cart_cd19_bcma", "--data", "data.csv", "--maxeval", "0", "--quiet", "--threads", "1",
          "--out", "out.h5", "--table", "out.csv"]
    after = "ID,TIME,EVID,AMT,DV,DVID,WT\n1,0,1,7e7,.,.,70\n1,7,0,.,3,flow,70\n1,14,0,.,40,bcell,70\n" \
            "2,0,1,6e7,.,.,60\n2,7,0,.,2,flow,60\n"
    before = after.replace("1,0,1,", "1,-14,0,.,150,bcell,70\n1,-7,0,.,115,hb,70\n1,0,1,").replace(
        "2,0,1,", "2,-3,0,.,120,bcell,60\n2,0,1,")
    code_a, err_a, out_a = run(m2, {"data.csv": after})
    code_b, err_b, out_b = run(m2, {"data.csv": before})
    problems = []
    if code_a != 0 or code_b != 0:
        problems.append("exit %d / %d (%s %s)" % (code_a, code_b, err_a.strip(), err_b.strip()))
    elif out_a.get("out.csv") != out_b.get("out.csv"):
        problems.append("table differs from the file without the earlier records")
    notes = [line for line in err_b.splitlines() if line.strip()]
    want = "cartpk: note: data.csv: 3 record(s) before the infusion (TIME < 0) of 2 subject(s) are left out of the fit: " \
           "model cart_cd19_bcma starts at the infusion (lines 2, 3, 7)"
    if notes != [want]:
        problems.append("stderr is %r, expected the one note %r" % (notes, want))
    report("cart_cd19_bcma: records before the infusion left out of the fit with one note", problems,
           " | ".join(notes) or "no note")


def warnings():
    rows = ["%d,0,1,7e7,.,.,0,1,70\n%d,2,0,.,30,1,0,0,70\n%d,5,0,.,300,1,0,0,70" % (s, s, s) for s in range(1, 6)]
    text = "ID,TIME,EVID,AMT,DV,DVID,CENS,MDV,WT,LLOQ\n" + "\n".join(
        ",".join(line.split(",") + ["50"]) for block in rows for line in block.split("\n")) + "\n"
    base = ["fit", "--model", "stein2019", "--data", "data.csv", "--dvid", "1=qpcr", "--maxeval", "0", "--quiet",
            "--threads", "1", "--out", "out.h5"]
    for detail, count in (("summary", 1), ("all", 5), ("none", 0)):
        code, err, _ = run(base + ["--warnings", detail], {"data.csv": text})
        lines = [line for line in err.splitlines() if line.strip()]
        problems = [] if code == 0 else ["exit %d" % code]
        if len(lines) != count or not all("below its LLOQ" in line for line in lines):
            problems.append("%d stderr lines, expected %d warnings about values below the LLOQ: %s" % (len(lines), count, lines))
        if detail == "summary" and lines and "[5 warnings of this kind (quantified value below its LLOQ), at lines 3, 6, 9, ..." not in lines[0]:
            problems.append("the summary line lacks the count and first three lines: %s" % lines[0])
        report("--warnings %s: %d line(s) for 5 values below their LLOQ" % (detail, count), problems, " | ".join(lines) or "quiet")

    # Each plausibility warning on a constructed case (simulate --data reads the doses of subject --id).
    sim = ["simulate", "--model", "cart_cd19_bcma", "--end", "10", "--data", "data.csv", "--dvid", "1=qpcr,2=flow",
           "--out", "out.h5"]
    data = "ID,TIME,EVID,AMT,DV,DVID,WT\n1,-7,0,.,11.5,hb,70\n1,0,1,7e7,.,.,70\n1,0,0,.,150,bcell,70\n" \
           "2,0,1,2,.,.,70\n3,0,1,8e10,.,.,80\n"
    for name, args, want in (
        ("hemoglobin that looks like g/dL", ["--id", "1"], "data.csv:2: hemoglobin 11.5 of subject 1 looks like g/dL"),
        ("AMT that looks like cells/kg", ["--id", "2"], "data.csv:5: AMT 2 cells of subject 2 with WT 70 kg is 0.02857142857 cells/kg, below 1e3"),
        ("a dose above all white blood cells of a person", ["--id", "3"],
         "data.csv:6: AMT 8e+10 cells of subject 3 with WT 80 kg is 1000000000 cells/kg, more CAR+ cells than all white blood cells"),
    ):
        code, err, _ = run(sim + args, {"data.csv": data})
        problems = [] if code == 0 else ["exit %d (%s)" % (code, err.strip())]
        if want not in err:
            problems.append("stderr lacks %r" % want)
        if "dose time" in err:
            problems.append("a B-cell baseline at the dose time was warned about")
        report("warning: " + name, problems, err.strip().replace("\n", " | "))
    for name, args, want in (
        ("--doses fractions that do not sum to 1", ["--doses", "0:0.1,1:0.3"], "--doses '0:0.1,1:0.3': the fractions sum to 0.4, not 1"),
        ("--dose-per-kg above all white blood cells", ["--dose-per-kg", "2e9"], "--dose-per-kg 2000000000: more CAR+ cells than all white blood cells"),
    ):
        code, err, _ = run(["simulate", "--model", "cart_cd19_bcma", "--end", "10", "--out", "out.h5"] + args, {})
        problems = [] if code == 0 else ["exit %d (%s)" % (code, err.strip())]
        if want not in err:
            problems.append("stderr lacks %r" % want)
        report("warning: " + name, problems, err.strip().replace("\n", " | "))

    # None of them on the bundled example cohort, nor on a plain split schedule.
    with open(EXAMPLE, encoding="utf-8") as handle:
        example = handle.read()
    clean = []
    code, err, _ = run(base[:5] + ["--dvid", "1=qpcr,2=flow", "--maxeval", "0", "--quiet", "--threads", "1", "--out", "out.h5"],
                       {"data.csv": example})
    clean.append(("fit stein2019 on examples/synthetic_stein2019_cohort.csv", code, err))
    code, err, _ = run(["simulate", "--model", "cart_cd19_bcma", "--end", "10", "--data", "data.csv", "--dvid",
                        "1=qpcr,2=flow", "--out", "out.h5"], {"data.csv": example})
    clean.append(("simulate cart_cd19_bcma --data examples/synthetic_stein2019_cohort.csv", code, err))
    code, err, _ = run(["simulate", "--model", "cart_cd19_bcma", "--end", "10", "--doses", "0:0.1,1:0.3,2:0.6",
                        "--out", "out.h5"], {})
    clean.append(("simulate --doses 0:0.1,1:0.3,2:0.6", code, err))
    for name, code, err in clean:
        problems = [] if code == 0 else ["exit %d" % code]
        if err.strip():
            problems.append("stderr is not empty: %s" % err.strip())
        report("no warning: " + name, problems, "exit %d" % code)


def simulate_data():
    # simulate --data with numeric DVIDs (--dvid), and a semicolon file: the same simulation as the plain file.
    sim = ["simulate", "--model", "cart_cd19_bcma", "--end", "30", "--data", "data.csv", "--dvid", "1=qpcr,2=flow",
           "--out", "out.h5", "--table", "sim.csv"]
    text = "ID,TIME,EVID,AMT,DV,DVID,WT\n1,0,1,7e7,.,.,70\n1,7,0,.,3500,1,70\n1,9,0,.,3,2,70\n"
    code, err, plain = run(sim, {"data.csv": text})
    problems = [] if code == 0 and "sim.csv" in plain else ["exit %d (%s)" % (code, err.strip())]
    for label, variant, extra in (("semicolon", text.replace(",", ";"), []), ("tab --sep tab", text.replace(",", "\t"), ["--sep", "tab"]),
                                  ("CMT for DVID", text.replace("DVID", "CMT"), [])):
        code, err, out = run(sim + extra, {"data.csv": variant})
        if code != 0 or out.get("sim.csv") != plain.get("sim.csv"):
            problems.append("%s: exit %d, table %s (%s)" % (label, code, "same" if out.get("sim.csv") == plain.get("sim.csv") else "differs", err.strip()))
    report("simulate --data with numeric DVIDs (--dvid), semicolon, tab and CMT files: the same simulation", problems,
           "exit 0" if not problems else "")


def main():
    global BINARY
    BINARY = binary_argument("test_dataset_variants.py")
    if BINARY is None:
        return 2
    code, err, out = run(FIT, {"data.csv": PLAIN})
    if code != 0 or "out.csv" not in out:
        raise SystemExit("the plain file does not fit (exit %d): %s" % (code, err))
    report("positive control: the plain comma-separated file fits", [] if not err.strip() else [err.strip()], "exit 0")
    accepted_variants(out["out.csv"])
    before_infusion(out["out.csv"])
    warnings()
    simulate_data()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
