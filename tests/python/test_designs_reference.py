#!/usr/bin/python3
"""`cartpk design` against independent Python implementations written from the definitions (scipy.stats.binom,
brute force), and its bad-input handling.

Usage: test_designs_reference.py /path/to/cartpk

  simon       13 settings (small --nmax): optimal and minimax designs equal a brute-force search over every
              (n, n1, r1) with the smallest r meeting alpha; r1, n1, r, n exactly, en0, pet0, alpha, power to 1e-12;
              settings without a design up to --nmax must exit 2 naming --nmax.
  bryant-day  5 settings (incl. the paper's worked example, --t-scale toxicity and alpha_t != alpha_r): designs
              equal a brute-force search over every (n, n1, cr1, ct1, cr, ct); attained alpha_r, alpha_t, power and
              the expected sizes to 1e-10.
  evaluate    the registered trial (n1 8, n 24, stop if > 5 toxicities in stage 1, >= 4 responders) with
              responders from all 24 and from stage 2, at 20 (p_resp, p_tox) pairs x 3 odds ratios, and once with a
              final toxicity rule: every column equals a brute enumeration of the multinomial counts of the four
              response/toxicity cells in each stage, to 1e-12; limiting cases (p_tox = 0 never stops; p_resp = 1
              succeeds whenever stage 2 runs); ranges such as 0.05:0.6:0.05.
  hdf5        /design of --out holds the same table as --table, and the inputs as attributes.
  bad input   exit 2, nothing on stdout, a message naming the option and what was expected, no file left behind.

Tie rules (docs/designs.md): expected sizes and powers within a relative 1e-12 are equal; Simon optimal = smallest
en0 then smaller (n, n1, r1), minimax = smallest n then en0 then (n1, r1); Bryant-Day optimal = smallest
max(E(N|r0,t1), E(N|r1,t0)) then smaller (n, n1, cr1, ct1), minimax = smallest n then that criterion then
(n1, cr1, ct1); per stage-1 rule the final (cr, ct) of largest power, then smaller cr, ct.
"""
import csv
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.stats import binom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_checks import binary_argument, check_message, report, summary  # noqa: E402

BINARY = None
TIE = 1e-12


def run(args, cwd=None):
    proc = subprocess.run([BINARY, "design"] + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def run_table(args):
    """Runs with --table into a temporary file; the rows as dicts of floats (text kept for 'design')."""
    with tempfile.TemporaryDirectory(prefix="cartpk-design-") as folder:
        path = os.path.join(folder, "t.csv")
        code, out, err = run(list(args) + ["--table", path])
        if code != 0:
            raise RuntimeError("cartpk design %s exited %d: %s" % (" ".join(map(str, args)), code, err.strip()))
        with open(path) as f:
            rows = list(csv.DictReader(f))
    return [{k: (v if k == "design" else float(v)) for k, v in r.items()} for r in rows]


def pick(candidates, value, key):
    """The candidate of smallest value (ties within TIE relative), then smallest key."""
    best = min(value(c) for c in candidates)
    return min((c for c in candidates if value(c) <= best + TIE * abs(best)), key=key)


# ---- Simon, from the definitions ------------------------------------------------------------------------------

def accept_table(n1, n2, p):
    """A[c1 + 1, c] = P(X1 > c1 and X1 + X2 > c) for -1 <= c1 < n1, 0 <= c < n1 + n2, X1 ~ Bin(n1, p),
    X2 ~ Bin(n2, p): the sum over x1 > c1 of P(X1 = x1) P(X2 > c - x1); and P(X1 > c1)."""
    x1 = np.arange(n1 + 1)
    c = np.arange(n1 + n2)
    terms = binom.pmf(x1, n1, p)[:, None] * binom.sf(c[None, :] - x1[:, None], n2, p)
    return np.cumsum(terms[::-1], axis=0)[::-1], binom.sf(np.arange(-1, n1), n1, p)


def simon_reference(p0, p1, alpha, beta, nmax):
    feasible = []
    for n in range(2, nmax + 1):
        for n1 in range(1, n):
            n2 = n - n1
            a0, _ = accept_table(n1, n2, p0)
            a1, _ = accept_table(n1, n2, p1)
            for r1 in range(-1, n1):
                first, last = max(r1, 0), min(n2 + r1, n - 1)
                within = np.nonzero(a0[r1 + 1, first:last + 1] <= alpha)[0]
                if not len(within):
                    continue
                r = first + int(within[0])  # the smallest r within alpha: the most powerful one
                if a1[r1 + 1, r] >= 1 - beta:
                    pet = float(binom.cdf(r1, n1, p0))
                    feasible.append(dict(r1=r1, n1=n1, r=r, n=n, en0=n1 + (1 - pet) * n2, pet0=pet,
                                         alpha=float(a0[r1 + 1, r]), power=float(a1[r1 + 1, r])))
    if not feasible:
        return None
    optimal = pick(feasible, lambda d: d["en0"], lambda d: (d["n"], d["n1"], d["r1"]))
    n_min = min(d["n"] for d in feasible)
    minimax = pick([d for d in feasible if d["n"] == n_min], lambda d: d["en0"], lambda d: (d["n1"], d["r1"]))
    return {"optimal": optimal, "minimax": minimax}


SIMON_SETTINGS = [  # p0, p1, alpha, beta, nmax
    (0.05, 0.25, 0.05, 0.20, 30), (0.10, 0.30, 0.05, 0.20, 35), (0.20, 0.40, 0.10, 0.10, 40),
    (0.30, 0.50, 0.05, 0.20, 40),  # optimal n is 46: the best design up to 40
    (0.10, 0.30, 0.10, 0.10, 40), (0.05, 0.25, 0.10, 0.10, 30), (0.20, 0.40, 0.10, 0.20, 30),
    (0.40, 0.60, 0.10, 0.20, 40), (0.50, 0.70, 0.10, 0.20, 40), (0.60, 0.80, 0.05, 0.20, 40),
    (0.15, 0.35, 0.10, 0.15, 40), (0.70, 0.90, 0.05, 0.10, 40), (0.02, 0.12, 0.10, 0.20, 40),
    (0.20, 0.40, 0.05, 0.10, 30),  # minimax n is 45: no design
]


def check_simon():
    for p0, p1, alpha, beta, nmax in SIMON_SETTINGS:
        name = "simon p0=%g p1=%g alpha=%g beta=%g nmax=%d" % (p0, p1, alpha, beta, nmax)
        ref = simon_reference(p0, p1, alpha, beta, nmax)
        args = ["simon", "--p0", p0, "--p1", p1, "--alpha", alpha, "--beta", beta, "--nmax", nmax]
        problems = []
        if ref is None:
            code, out, err = run(args)
            if code != 2:
                problems.append("reference finds no design; exit status %d, expected 2" % code)
            problems += check_message(err, ["--nmax", str(nmax)], True, ())
            report(name, problems, "no design: " + err.strip())
            continue
        rows = {r["design"]: r for r in run_table(args)}
        for which in ("optimal", "minimax"):
            got, want = rows[which], ref[which]
            for k in ("r1", "n1", "r", "n"):
                if got[k] != want[k]:
                    problems.append("%s %s: cartpk %g, reference %g" % (which, k, got[k], want[k]))
            for k in ("en0", "pet0", "alpha", "power"):
                if abs(got[k] - want[k]) > 1e-12:
                    problems.append("%s %s: cartpk %.15g, reference %.15g" % (which, k, got[k], want[k]))
        o, m = ref["optimal"], ref["minimax"]
        report(name, problems, "optimal %d/%d %d/%d, minimax %d/%d %d/%d" % (
            o["r1"], o["n1"], o["r"], o["n"], m["r1"], m["n1"], m["r"], m["n"]))


# ---- Bryant-Day, from the definitions -------------------------------------------------------------------------

def bryant_day_reference(r0, r1, t0, t1, alpha_r, alpha_t, power, nmin, nmax):
    """t0, t1: probabilities of NO toxicity. Every (n, n1, cr1, ct1, cr, ct) with the documented ranges."""
    groups = []
    for n in range(nmin, nmax + 1):
        for n1 in range(1, n):
            n2 = n - n1
            (ar0, cr0), (ar1, cr1_) = accept_table(n1, n2, r0), accept_table(n1, n2, r1)
            (at0, ct0), (at1, ct1_) = accept_table(n1, n2, t0), accept_table(n1, n2, t1)
            k = np.arange(n1 + 1)[:, None]  # c1 + 1
            c = np.arange(n)[None, :]
            valid = (c >= np.maximum(k - 1, 0)) & (c <= np.minimum(n2 + k - 1, n - 1))
            # Power needs each endpoint's own acceptance at H1 >= power (the other factor is <= 1).
            resp = list(zip(*np.nonzero(valid & (ar1 >= power))))
            tox = list(zip(*np.nonzero(valid & (at1 >= power))))
            by_stage1 = {}
            for kr, cr in resp:
                a0, a1 = ar0[kr, cr], ar1[kr, cr]
                for kt, ct in tox:
                    b0, b1 = at0[kt, ct], at1[kt, ct]
                    if a0 * b1 <= alpha_r and a1 * b0 <= alpha_t and a1 * b1 >= power:
                        by_stage1.setdefault((kr - 1, kt - 1), []).append(
                            dict(cr=int(cr), ct=int(ct), alpha_r=a0 * b1, alpha_t=a1 * b0, power=a1 * b1))
            for (cr1, ct1), finals in by_stage1.items():
                best = pick(finals, lambda d: -d["power"], lambda d: (d["cr"], d["ct"]))
                c_r0, c_r1, c_t0, c_t1 = cr0[cr1 + 1], cr1_[cr1 + 1], ct0[ct1 + 1], ct1_[ct1 + 1]
                d = dict(n1=n1, n=n, cr1=int(cr1), ct1=int(ct1), **best, en_r0t1=n1 + n2 * c_r0 * c_t1,
                         en_r1t0=n1 + n2 * c_r1 * c_t0, en_r0t0=n1 + n2 * c_r0 * c_t0)
                d["en_max"] = max(d["en_r0t1"], d["en_r1t0"])
                groups.append(d)
    if not groups:
        return None
    optimal = pick(groups, lambda d: d["en_max"], lambda d: (d["n"], d["n1"], d["cr1"], d["ct1"]))
    n_min = min(d["n"] for d in groups)
    minimax = pick([d for d in groups if d["n"] == n_min], lambda d: d["en_max"],
                   lambda d: (d["n1"], d["cr1"], d["ct1"]))
    return {"optimal": optimal, "minimax": minimax}


BD_SETTINGS = [  # r0, r1, t0, t1 (as given), alpha_r, alpha_t, power, nmax, t-scale
    (0.3, 0.5, 0.6, 0.8, 0.15, 0.15, 0.85, 34, "non-toxicity"),  # Bryant & Day's worked example (19/33)
    (0.1, 0.3, 0.3, 0.1, 0.1, 0.1, 0.8, 28, "toxicity"),  # EurosarcBayes' example inputs (toxicity probabilities)
    (0.2, 0.45, 0.5, 0.75, 0.1, 0.05, 0.8, 30, "non-toxicity"),
    (0.3, 0.5, 0.6, 0.8, 0.1, 0.1, 0.7, 30, "non-toxicity"),
    (0.3, 0.5, 0.6, 0.8, 0.1, 0.1, 0.8, 42, "non-toxicity"),  # minimax n 34, optimal n 40
]


def check_bryant_day():
    for r0, r1, t0, t1, ar, at, pw, nmax, scale in BD_SETTINGS:
        name = "bryant-day r %g/%g t %g/%g (%s) alpha %g/%g power %g nmax %d" % (r0, r1, t0, t1, scale, ar, at,
                                                                              pw, nmax)
        start = time.time()
        nt0, nt1 = (1 - t0, 1 - t1) if scale == "toxicity" else (t0, t1)
        ref = bryant_day_reference(r0, r1, nt0, nt1, ar, at, pw, 2, nmax)
        seconds = time.time() - start
        args = ["bryant-day", "--r0", r0, "--r1", r1, "--t0", t0, "--t1", t1, "--t-scale", scale, "--alpha-r", ar,
                "--alpha-t", at, "--power", pw, "--nmax", nmax]
        problems = []
        if ref is None:
            problems.append("the reference finds no design (choose another setting)")
            report(name, problems)
            continue
        rows = {r["design"]: r for r in run_table(args)}
        for which in ("optimal", "minimax"):
            got, want = rows[which], ref[which]
            for k in ("n1", "n", "cr1", "ct1", "cr", "ct"):
                if got[k] != want[k]:
                    problems.append("%s %s: cartpk %g, reference %g" % (which, k, got[k], want[k]))
            for k in ("alpha_r", "alpha_t", "power", "en_r0t1", "en_r1t0", "en_r0t0", "en_max"):
                if abs(got[k] - want[k]) > 1e-10:
                    problems.append("%s %s: cartpk %.15g, reference %.15g" % (which, k, got[k], want[k]))
            if got["max_tox_stage1"] != want["n1"] - want["ct1"] - 1 or got["max_tox_final"] != want["n"] - want["ct"] - 1:
                problems.append("%s: max_tox_stage1/final are not n1 - ct1 - 1 and n - ct - 1" % which)
        o, m = ref["optimal"], ref["minimax"]
        report(name, problems, "optimal n1 %d n %d (%d,%d,%d,%d), minimax n1 %d n %d; reference %.1f s" % (
            o["n1"], o["n"], o["cr1"], o["ct1"], o["cr"], o["ct"], m["n1"], m["n"], seconds))


# ---- design evaluate, by brute enumeration ----------------------------------------------------------------------

def cells(pr, pt, psi):
    """(p11, p10, p01, p00) from the marginals and the odds ratio (Plackett): the root of
    (psi-1) x^2 - (1 + (pr+pt)(psi-1)) x + psi pr pt = 0 inside the Frechet bounds."""
    if psi == 1 or pr in (0, 1) or pt in (0, 1):
        p11 = pr * pt
    else:
        a = 1 + (pr + pt) * (psi - 1)
        p11 = (a - math.sqrt(a * a - 4 * psi * (psi - 1) * pr * pt)) / (2 * (psi - 1))
    return p11, pr - p11, pt - p11, 1 - pr - pt + p11


def stage_outcomes(m, cell):
    """Every (k11, k10, k01, k00) summing to m: responders, toxicities and the multinomial probability."""
    r, t, p = [], [], []
    for k11 in range(m + 1):
        for k10 in range(m + 1 - k11):
            for k01 in range(m + 1 - k11 - k10):
                k00 = m - k11 - k10 - k01
                coef = math.factorial(m) // (math.factorial(k11) * math.factorial(k10) * math.factorial(k01)
                                             * math.factorial(k00))
                prob = coef
                for k, q in zip((k11, k10, k01, k00), cell):
                    prob *= q ** k if k else 1.0
                r.append(k11 + k10)
                t.append(k11 + k01)
                p.append(prob)
    return np.array(r), np.array(t), np.array(p)


def evaluate_reference(n1, n, max_tox1, min_resp, responders_from, max_tox_final, pr, pt, psi):
    cell = cells(pr, pt, psi)
    r1, t1, q1 = stage_outcomes(n1, cell)
    r2, t2, q2 = stage_outcomes(n - n1, cell)
    stop = t1 > max_tox1
    p_stop = float(np.sum(q1[stop]))
    go = ~stop
    responders = (r1[go][:, None] if responders_from == "all" else 0) + r2[None, :]
    ok = responders >= min_resp
    if max_tox_final is not None:
        ok &= (t1[go][:, None] + t2[None, :]) <= max_tox_final
    p_success = float(np.sum(q1[go][:, None] * q2[None, :] * ok))
    expected_n = n1 + (n - n1) * (1 - p_stop)
    return dict(p_stop_stage1=p_stop, p_success=p_success, expected_n=expected_n,
                expected_toxicities=pt * expected_n)


P_RESP = [0.05, 0.15, 0.3, 0.45, 0.6]
P_TOX = [0.05, 0.3, 0.55, 0.8]
ODDS = [0.25, 1.0, 4.0]
COLUMNS = ("p_stop_stage1", "p_success", "expected_n", "expected_toxicities")


def check_evaluate():
    base = ["evaluate", "--n1", 8, "--n", 24, "--max-tox-stage1", 5, "--min-responders", 4]
    grid = ["--p-resp", ",".join(map(str, P_RESP)), "--p-tox", ",".join(map(str, P_TOX)),
            "--odds-ratio", ",".join(map(str, ODDS))]
    for responders_from, max_tox_final in (("all", None), ("stage2", None), ("all", 10)):
        extra = [] if max_tox_final is None else ["--max-tox-final", max_tox_final]
        rows = run_table(base + ["--responders-from", responders_from] + grid + extra)
        problems, worst = [], 0.0
        expected = [(pr, pt, psi) for pr in P_RESP for pt in P_TOX for psi in ODDS]
        if [(r["p_resp"], r["p_tox"], r["odds_ratio"]) for r in rows] != expected:
            problems.append("rows are not p_resp x p_tox x odds_ratio in the order given")
        for row in rows:
            ref = evaluate_reference(8, 24, 5, 4, responders_from, max_tox_final, row["p_resp"], row["p_tox"],
                                     row["odds_ratio"])
            for k in COLUMNS:
                diff = abs(row[k] - ref[k])
                worst = max(worst, diff)
                if diff > 1e-12:
                    problems.append("p_resp %g p_tox %g OR %g %s: cartpk %.17g, reference %.17g" % (
                        row["p_resp"], row["p_tox"], row["odds_ratio"], k, row[k], ref[k]))
        report("evaluate registered trial, responders from %s%s: %d rows" % (
            responders_from, "" if max_tox_final is None else ", max-tox-final %d" % max_tox_final, len(rows)),
            problems[:8], "max |difference| %.2e" % worst)

    # Limiting cases, every wording and association.
    problems = []
    for responders_from in ("all", "stage2"):
        rows = run_table(base + ["--responders-from", responders_from, "--p-resp", "0,0.3,1", "--p-tox", "0,0.4,1",
                                 "--odds-ratio", "0.2,1,5"])
        for r in rows:
            tag = "%s p_resp %g p_tox %g OR %g" % (responders_from, r["p_resp"], r["p_tox"], r["odds_ratio"])
            if r["p_tox"] == 0 and (r["p_stop_stage1"] != 0 or r["expected_n"] != 24):
                problems.append(tag + ": p_tox = 0 but stage 1 stops (p %.3g)" % r["p_stop_stage1"])
            if r["p_resp"] == 1 and abs(r["p_success"] - (1 - r["p_stop_stage1"])) > 1e-14:
                problems.append(tag + ": p_resp = 1 but p_success %.17g != 1 - p_stop %.17g" % (
                    r["p_success"], 1 - r["p_stop_stage1"]))
            if r["p_resp"] == 0 and r["p_success"] != 0:
                problems.append(tag + ": p_resp = 0 but p_success %.3g" % r["p_success"])
            if r["p_tox"] == 1 and abs(r["p_stop_stage1"] - 1) > 1e-14:
                problems.append(tag + ": p_tox = 1 but stage 1 does not always stop")
    report("evaluate limiting cases (p_tox 0 never stops, p_resp 1 succeeds whenever stage 2 runs)", problems)

    # Ranges: 0.05:0.6:0.05 is 12 values, 0.05 .. 0.6, exactly the decimals.
    rows = run_table(base + ["--responders-from", "all", "--p-resp", "0.05:0.6:0.05", "--p-tox", "0.05:0.8:0.25,0.9"])
    p_resp = sorted({r["p_resp"] for r in rows})
    p_tox = sorted({r["p_tox"] for r in rows})
    want_resp = [round(0.05 * k, 12) for k in range(1, 13)]
    problems = []
    if p_resp != want_resp:
        problems.append("p_resp %s, expected %s" % (p_resp, want_resp))
    if p_tox != [0.05, 0.3, 0.55, 0.8, 0.9]:
        problems.append("p_tox %s, expected [0.05, 0.3, 0.55, 0.8, 0.9]" % p_tox)
    report("evaluate ranges 0.05:0.6:0.05 and 0.05:0.8:0.25,0.9", problems)


# ---- HDF5 ------------------------------------------------------------------------------------------------------

def check_hdf5():
    import h5py
    problems = []
    with tempfile.TemporaryDirectory(prefix="cartpk-design-h5-") as folder:
        table, out = os.path.join(folder, "s.csv"), os.path.join(folder, "s.h5")
        code, _, err = run(["simon", "--p0", 0.1, "--p1", 0.3, "--alpha", 0.05, "--beta", 0.2, "--nmax", 40,
                            "--table", table, "--out", out])
        if code != 0:
            report("hdf5 /design", ["exit status %d: %s" % (code, err.strip())])
            return
        with open(table) as f:
            rows = list(csv.DictReader(f))
        with h5py.File(out, "r") as f:
            g = f["design"]
            text = lambda v: v.decode() if isinstance(v, bytes) else str(v)
            if text(g.attrs["kind"]) != "simon":
                problems.append("/design@kind is %r" % g.attrs["kind"])
            for k, v in (("p0", 0.1), ("p1", 0.3), ("alpha", 0.05), ("beta", 0.2), ("nmax", 40)):
                if float(g.attrs[k]) != v:
                    problems.append("/design@%s is %r, expected %r" % (k, g.attrs[k], v))
            columns = [text(c) for c in g.attrs["columns"]]
            if columns != list(rows[0].keys()):
                problems.append("/design@columns %s differ from the CSV header %s" % (columns, list(rows[0])))
            for c in columns:
                values = [text(v) for v in g[c][:]] if c == "design" else [float(v) for v in g[c][:]]
                want = [r[c] if c == "design" else float(r[c]) for r in rows]
                if values != want:
                    problems.append("/design/%s %s differs from the CSV %s" % (c, values, want))
            if "units" not in g["en0"].attrs:
                problems.append("/design/en0 has no units attribute")
            if int(f.attrs["layout_version"]) < 1 or "design simon" not in text(f.attrs["command_line"]):
                problems.append("root attributes layout_version/command_line missing or wrong")
    report("hdf5 /design equals the CSV table", problems)


# ---- bad input -------------------------------------------------------------------------------------------------

SIMON = ["simon", "--p0", 0.1, "--p1", 0.3, "--alpha", 0.05, "--beta", 0.2]
BD = ["bryant-day", "--r0", 0.3, "--r1", 0.5, "--t0", 0.6, "--t1", 0.8, "--alpha-r", 0.15, "--power", 0.85,
      "--nmax", 40]
EVAL = ["evaluate", "--n1", 8, "--n", 24, "--max-tox-stage1", 5, "--min-responders", 4, "--responders-from", "all",
        "--p-resp", "0.1,0.3", "--p-tox", "0.2"]


def replace(args, option, value):
    out = list(args)
    out[out.index(option) + 1] = value
    return out


BAD = [  # name, args, pieces the message must contain
    ("simon p0 >= p1", replace(SIMON, "--p0", 0.3), ["--p0", "--p1", "0.3"]),
    ("simon p0 > p1", replace(SIMON, "--p0", 0.5), ["--p0", "--p1", "0.5"]),
    ("simon alpha 0", replace(SIMON, "--alpha", 0), ["--alpha", "0"]),
    ("simon alpha 1.5", replace(SIMON, "--alpha", 1.5), ["--alpha", "1.5"]),
    ("simon beta 1", replace(SIMON, "--beta", 1), ["--beta", "1"]),
    ("simon beta -0.2", replace(SIMON, "--beta", -0.2), ["--beta", "-0.2"]),
    ("simon p1 1", replace(SIMON, "--p1", 1), ["--p1", "1"]),
    ("simon no design within nmax", SIMON + ["--nmax", 20], ["--nmax", "20", "no simon design"]),
    ("simon nmax 1", SIMON + ["--nmax", 1], ["--nmax", "1"]),
    ("simon alpha not a number", replace(SIMON, "--alpha", "abc"), ["--alpha", "abc"]),
    ("bryant-day r0 >= r1", replace(BD, "--r0", 0.5), ["--r0", "--r1"]),
    ("bryant-day t0 >= t1 (non-toxicity)", replace(BD, "--t0", 0.9), ["--t0", "--t1", "toxicity"]),
    ("bryant-day toxicity scale t1 >= t0", BD + ["--t-scale", "toxicity"], ["--t1", "--t0", "toxicity"]),
    ("bryant-day unknown t-scale", BD + ["--t-scale", "tox"], ["--t-scale", "tox", "non-toxicity"]),
    ("bryant-day power 1", replace(BD, "--power", 1), ["--power", "1"]),
    ("bryant-day alpha-t 0", BD + ["--alpha-t", 0], ["--alpha-t", "0"]),
    ("bryant-day no design within nmax", replace(BD, "--nmax", 30), ["--nmax", "30", "no bryant-day design"]),
    ("bryant-day nmin > nmax", BD + ["--nmin", 50], ["--nmax", "--nmin"]),
    ("evaluate n1 = n", replace(EVAL, "--n1", 24), ["--n1", "--n", "24"]),
    ("evaluate n1 > n", replace(EVAL, "--n1", 30), ["--n1", "30"]),
    ("evaluate p_resp 1.2", replace(EVAL, "--p-resp", "0.1,1.2"), ["--p-resp", "1.2"]),
    ("evaluate p_tox -0.1", replace(EVAL, "--p-tox", "-0.1"), ["--p-tox", "-0.1"]),
    ("evaluate odds ratio 0", EVAL + ["--odds-ratio", "1,0"], ["--odds-ratio", "0"]),
    ("evaluate odds ratio -2", EVAL + ["--odds-ratio", "-2"], ["--odds-ratio", "-2"]),
    ("evaluate responders-from both", replace(EVAL, "--responders-from", "both"), ["--responders-from", "both"]),
    ("evaluate backwards range", replace(EVAL, "--p-resp", "0.6:0.05:0.05"), ["--p-resp", "0.6:0.05:0.05"]),
    ("evaluate zero step", replace(EVAL, "--p-resp", "0.05:0.6:0"), ["--p-resp", "step"]),
    ("evaluate malformed range", replace(EVAL, "--p-tox", "0.1:0.5"), ["--p-tox", "0.1:0.5"]),
    ("evaluate empty list entry", replace(EVAL, "--p-tox", "0.1,,0.2"), ["--p-tox", "empty"]),
    ("evaluate max-tox-stage1 > n1", replace(EVAL, "--max-tox-stage1", 9), ["--max-tox-stage1", "9"]),
    ("evaluate min-responders > stage 2 (16 patients)",
     replace(replace(EVAL, "--responders-from", "stage2"), "--min-responders", 17), ["--min-responders", "17", "stage-2"]),
    ("evaluate max-tox-final negative", EVAL + ["--max-tox-final", -1], ["--max-tox-final", "-1"]),
]


def check_bad_input():
    for name, args, require in BAD:
        problems = []
        with tempfile.TemporaryDirectory(prefix="cartpk-design-bad-") as folder:
            code, out, err = run(list(args) + ["--table", "t.csv", "--out", "t.h5"], cwd=folder)
            if code != 2:
                problems.append("exit status %d, expected 2" % code)
            if out.strip():
                problems.append("stdout is not empty: %r" % out.strip().splitlines()[0])
            problems += check_message(err, require, True, ())
            if os.listdir(folder):
                problems.append("files left behind: %s" % os.listdir(folder))
        report("bad input: " + name, problems, err.strip().replace("\n", " | "))


def main():
    global BINARY
    BINARY = binary_argument(sys.argv[0])
    if BINARY is None:
        return 2
    start = time.time()
    check_simon()
    check_bryant_day()
    check_evaluate()
    check_hdf5()
    check_bad_input()
    print("total %.1f s" % (time.time() - start))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
