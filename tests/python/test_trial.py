#!/usr/bin/python3
"""`cartpk trial` end to end, against references computed here, independently of cartpk's code.

Usage: test_trial.py <path to cartpk>

- Independent events with known rates: a stein2019 pool (closed form), response = qpcr_cmax above the pool's
  median (so the responders in the pool are counted here from the vpop file), toxicity with a fixed probability.
  Replicates draw without replacement from a finite pool, so the exact reference is hypergeometric for the
  responders and binomial for the toxicities, enumerated here (math.comb): P(stop after stage 1), P(success),
  E(N), the mean responders and toxicities and every bin of their distributions must lie within 4 Monte-Carlo
  standard errors, for both wordings (responders over all n / over stage 2) and a final toxicity rule. cartpk's
  own exact columns (binomial, independent) equal a brute enumeration here to 1e-12.
- Association: response and toxicity from the same metric (qpcr_cmax: threshold and logistic link); the pool's
  response rate, mean P(toxicity), its split by response and the odds ratio equal the values computed here from the
  vpop file with the link's formula; the simulated OC agree with the exact ones at the pool's cells within 4 SE.
- Determinism: --threads 1 and 2 write identical numbers; a pool simulated in-process (the vpop options) gives the
  same numbers as the same vpop read from its file; mpirun -np 2 (when built with MPI) as one process.
- A vpop interrupted by SIGINT (marked partial): its complete patients are the pool, and the trial file says so.
- Bad input: exit 2, a message naming the option or file:line:key and what was expected, nothing written.
Prints "N passed, M failed".
"""
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402

EXAMPLES = os.path.join(cli_checks.SOURCE_ROOT, "examples")
REPLICATES = 20000
check = cli_checks.Checks()


def cartpk(exe, *args, **kw):
    return subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=300, **kw)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def design_text(n1=8, n=24, tox1=5, resp=4, frm="all", final=None):
    text = (f"[design]\nn1 = {n1}\nn = {n}\nmax_tox_stage1 = {tox1}\nmin_responders = {resp}\n"
            f"responders_from = \"{frm}\"\n")
    return text + (f"max_tox_final = {final}\n" if final is not None else "")


def trial_table(path):
    """{column: array over scenarios} and the distributions, from the /trial group."""
    with h5py.File(path, "r") as f:
        g = f["trial"]
        out = {k: g[k][()] for k in g if g[k].ndim == 1 and g[k].dtype.kind in "fiu"}
        for k in ("responders_distribution", "toxicities_distribution"):
            out[k] = g[k][()]
        out["attrs"] = dict(g.attrs)
    return out


numbers = cli_checks.h5_numbers  # every numeric dataset of a file
identical = cli_checks.identical_numbers


# ---- independent references ------------------------------------------------------------------------------------

def binom(n, p):
    return [math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]


def hypergeom(N, K, m):
    """P(k responders among m drawn without replacement from N patients of whom K respond)."""
    total = math.comb(N, m)
    return [math.comb(K, k) * math.comb(N - K, m - k) / total if 0 <= m - k <= N - K else 0.0 for k in range(m + 1)]


def finite_pool_reference(N, K, pt, n1, n, tox1, resp, frm, final):
    """Exact OC of the design for a pool of N patients with K responders (drawn without replacement) and toxicity
    independent Bernoulli(pt): stop, success, E(N), mean responders/toxicities and their distributions."""
    t1, t2 = binom(n1, pt), binom(n - n1, pt)
    stop = sum(t1[tox1 + 1:])
    # Responders counted for success: among all n, or among the n - n1 stage-2 patients (marginally hypergeometric).
    counted = hypergeom(N, K, n if frm == "all" else n - n1)
    p_resp_ok = sum(counted[resp:])
    tox_ok = sum(t1[a] * t2[b] for a in range(tox1 + 1) for b in range(n - n1 + 1) if final is None or a + b <= final)
    success = tox_ok * p_resp_ok
    resp_dist = np.zeros(n + 1)
    resp_dist[:n1 + 1] += stop * np.array(hypergeom(N, K, n1))
    resp_dist += (1 - stop) * np.array(hypergeom(N, K, n))
    tox_dist = np.zeros(n + 1)
    for a in range(n1 + 1):
        if a > tox1:
            tox_dist[a] += t1[a]
        else:
            for b in range(n - n1 + 1):
                tox_dist[a + b] += t1[a] * t2[b]
    k = np.arange(n + 1)
    return {"p_stop_stage1": stop, "p_success": success, "expected_n": n1 + (n - n1) * (1 - stop),
            "mean_responders": float(k @ resp_dist), "mean_toxicities": float(k @ tox_dist),
            "responders_distribution": resp_dist, "toxicities_distribution": tox_dist}


def binomial_exact(pr, pt, n1, n, tox1, resp, frm, final):
    """The same design with independent Bernoulli patients (an infinite pool), by brute enumeration of the counts
    of both stages: what cartpk's exact_* columns are."""
    r1, t1, r2, t2 = binom(n1, pr), binom(n1, pt), binom(n - n1, pr), binom(n - n1, pt)
    stop = success = 0.0
    for a in range(n1 + 1):
        for c in range(n1 + 1):
            p1 = r1[a] * t1[c]
            if c > tox1:
                stop += p1
                continue
            for b in range(n - n1 + 1):
                for d in range(n - n1 + 1):
                    responders = (a + b) if frm == "all" else b
                    if responders >= resp and (final is None or c + d <= final):
                        success += p1 * r2[b] * t2[d]
    return {"p_stop_stage1": stop, "p_success": success, "expected_n": n1 + (n - n1) * (1 - stop)}


# ---- tests -------------------------------------------------------------------------------------------------------

def make_pool(exe, tmp):
    pool = os.path.join(tmp, "stein_pool.h5")
    r = cartpk(exe, "vpop", "--quiet", "--model", "stein2019", "--n", "3000", "--seed", "11", "--end", "120",
               "--step", "1", "--out", pool)
    assert r.returncode == 0, r.stderr
    with h5py.File(pool, "r") as f:
        metrics = f["/vpop/scenarios/base/metrics"]
        columns = list(metrics.attrs["columns"])
        values = metrics[()]
        status = f["/vpop/scenarios/base/status"][:, 0]
    cmax = values[status == 0, columns.index("qpcr_cmax")]
    return pool, cmax, int(np.count_nonzero(status != 0))


def independent_events(exe, tmp, pool, cmax):
    print("independent Bernoulli response and toxicity: simulated OC vs the exact finite-pool reference (4 MC SE)")
    threshold = float(np.median(cmax))
    N, K, pt = len(cmax), int(np.count_nonzero(cmax > threshold)), 0.3
    rule = ("[[response.condition]]\nmetric = \"qpcr_cmax\"\ncomparison = \">\"\n"
            f"threshold = {threshold!r}\n[toxicity]\nprobability = {pt}\n")
    for label, d in (("registered design, responders over all 24", dict(frm="all", final=None)),
                     ("responders over stage 2 only, at most 9 toxicities in all", dict(frm="stage2", final=9)),
                     ("n1 5, n 15, stop if > 1 toxicity, >= 6 responders", dict(n1=5, n=15, tox1=1, resp=6, frm="all", final=None))):
        p = dict(n1=8, n=24, tox1=5, resp=4)
        p.update(d)
        path = write(os.path.join(tmp, "indep.toml"), design_text(p["n1"], p["n"], p["tox1"], p["resp"], p["frm"], p["final"]) + rule)
        outs = []
        for threads in ("1", "2"):
            out = os.path.join(tmp, f"indep_{threads}.h5")
            r = cartpk(exe, "trial", "--vpop", pool, "--design", path, "--replicates", str(REPLICATES), "--seed", "5",
                       "--threads", threads, "--out", out)
            check(r.returncode == 0, f"{label}: ran with --threads {threads} (exit {r.returncode}) {r.stderr.strip()[-300:]}")
            outs.append(out)
        ok, detail = identical(numbers(outs[0]), numbers(outs[1]))
        check(ok, f"{label}: --threads 1 and 2 identical ({detail})")
        t = trial_table(outs[0])
        check(int(t["pool_patients"][0]) == N and abs(t["pool_p_resp"][0] - K / N) < 1e-15,
              f"{label}: pool of {N} with response rate {K}/{N} as counted here")
        ref = finite_pool_reference(N, K, pt, p["n1"], p["n"], p["tox1"], p["resp"], p["frm"], p["final"])
        for key in ("p_stop_stage1", "p_success", "expected_n", "mean_responders", "mean_toxicities"):
            got, se = float(t[key][0]), float(t[key + "_se"][0])
            z = abs(got - ref[key]) / se if se > 0 else (0.0 if abs(got - ref[key]) < 1e-12 else math.inf)
            check(z < 4, f"{label}: {key} {got:.5f} vs exact {ref[key]:.5f} (SE {se:.5f}, z {z:.2f})")
        for key in ("responders_distribution", "toxicities_distribution"):
            sim, exact = t[key][0], ref[key]
            se = np.sqrt(exact * (1 - exact) / REPLICATES)
            z = np.where(se > 0, np.abs(sim - exact) / np.where(se > 0, se, 1), np.abs(sim - exact) * 1e12)
            check(float(z.max()) < 4.5, f"{label}: every bin of the {key.split('_')[0]} distribution within 4.5 SE "
                                        f"(worst z {float(z.max()):.2f} of {len(z)} bins)")
        exact = binomial_exact(K / N, pt, p["n1"], p["n"], p["tox1"], p["resp"], p["frm"], p["final"])
        worst = max(abs(float(t["exact_" + k][0]) - v) for k, v in exact.items())
        check(worst < 1e-12, f"{label}: cartpk's exact columns equal the brute enumeration (max diff {worst:.1e})")
        worst = max(abs(float(t["exact_assoc_" + k][0]) - float(t["exact_" + k][0])) for k in exact)
        check(worst < 1e-12 and abs(t["pool_odds_ratio"][0] - 1) < 1e-9,
              f"{label}: a fixed P(toxicity) gives odds ratio 1 and the same exact OC with association ({worst:.1e})")


def association(exe, tmp, pool, cmax):
    print("association: response and toxicity from the same metric; the pool's cells and odds ratio vs NumPy")
    threshold, a, b = float(np.median(cmax)), -6.0, 1.5
    text = (design_text() + "[[response.condition]]\nmetric = \"qpcr_cmax\"\ncomparison = \">=\"\n"
            f"threshold = {threshold!r}\n[toxicity]\nmetric = \"qpcr_cmax\"\nintercept = {a}\nslope = {b}\n")
    path = write(os.path.join(tmp, "assoc.toml"), text)
    out = os.path.join(tmp, "assoc.h5")
    r = cartpk(exe, "trial", "--vpop", pool, "--design", path, "--replicates", str(REPLICATES), "--out", out)
    check(r.returncode == 0, f"ran (exit {r.returncode}) {r.stderr.strip()[-300:]}")
    t = trial_table(out)
    resp = cmax >= threshold
    p = 1 / (1 + np.exp(-(a + b * np.log10(cmax))))
    p11, p10 = np.mean(resp * p), np.mean(resp * (1 - p))
    p01, p00 = np.mean(~resp * p), np.mean(~resp * (1 - p))
    want = {"pool_p_resp": resp.mean(), "pool_mean_p_tox": p.mean(), "pool_p_tox_responders": p[resp].mean(),
            "pool_p_tox_nonresponders": p[~resp].mean(), "pool_odds_ratio": p11 * p00 / (p10 * p01)}
    worst = max(abs(float(t[k][0]) - v) / abs(v) for k, v in want.items())
    check(worst < 1e-12, f"pool summaries equal NumPy's (odds ratio {want['pool_odds_ratio']:.3f}; max rel diff {worst:.1e})")
    for key in ("p_stop_stage1", "p_success", "expected_n"):
        got, se, exact = float(t[key][0]), float(t[key + "_se"][0]), float(t["exact_assoc_" + key][0])
        z = abs(got - exact) / se if se > 0 else 0.0
        check(z < 4, f"{key}: simulated {got:.4f} vs exact at the pool's association {exact:.4f} (z {z:.2f})")


def pool_sources(exe, tmp):
    print("the same population from its file and simulated in-process give identical trials; MPI as one process")
    design = os.path.join(EXAMPLES, "trial_design.toml")
    iiv = os.path.join(EXAMPLES, "iiv_cart_cd19_bcma.toml")
    population = ["--model", "cart_cd19_bcma", "--iiv", iiv, "--n", "60", "--dose-per-kg", "0.5e6,2e6",
                  "--end", "100", "--step", "1"]
    vpop = os.path.join(tmp, "m2_pool.h5")
    r = cartpk(exe, "vpop", "--quiet", *population, "--seed", "3", "--out", vpop)
    check(r.returncode == 0, f"vpop ran (exit {r.returncode})")
    common = ["--design", design, "--replicates", "2000", "--seed", "3"]  # in-process: also the population's seed
    from_file, in_process = os.path.join(tmp, "from_file.h5"), os.path.join(tmp, "in_process.h5")
    r1 = cartpk(exe, "trial", "--vpop", vpop, *common, "--out", from_file)
    r2 = cartpk(exe, "trial", "--quiet", *population, *common, "--threads", "2", "--out", in_process)
    check(r1.returncode == 0 and r2.returncode == 0, f"both ran (exit {r1.returncode}, {r2.returncode}) {r2.stderr[-300:]}")
    check("less than 20 x the trial size" in r1.stderr, "a pool below 20 x n is flagged on stderr")
    ok, detail = identical(numbers(from_file), numbers(in_process))
    check(ok, f"file pool and in-process pool identical ({detail})")
    launcher, why = cli_checks.mpi_launcher(exe)
    if launcher is None:
        print(f"  MPI skipped: {why}")
        return
    ranks = os.path.join(tmp, "ranks.h5")
    r = subprocess.run(launcher + [exe, "trial", "--quiet", *population, *common, "--threads", "1", "--out", ranks],
                       capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, f"mpirun -np 2 ran (exit {r.returncode}) {r.stderr[-300:]}")
    if r.returncode == 0:
        ok, detail = identical(numbers(in_process), numbers(ranks))
        check(ok, f"mpirun -np 2 identical to one process ({detail})")


def partial_pool(exe, tmp):
    print("a vpop interrupted by SIGINT (marked partial): its complete patients are the pool, and the file says so")
    import signal
    import time
    vpop = os.path.join(tmp, "partial_pool.h5")
    proc = subprocess.Popen([exe, "vpop", "--quiet", "--model", "stein2019", "--n", "5000000", "--threads", "1",
                             "--out", vpop], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    check(proc.returncode == 130, f"vpop interrupted (exit {proc.returncode})")
    with h5py.File(vpop, "r") as f:
        written = int(f["/vpop/progress"][:, 0].max())
    design = write(os.path.join(tmp, "partial.toml"), design_text() + "[[response.condition]]\nmetric = \"qpcr_cmax\"\n"
                   "comparison = \">\"\nthreshold = 20000\n[toxicity]\nprobability = 0.3\n")
    out = os.path.join(tmp, "partial_trial.h5")
    r = cartpk(exe, "trial", "--vpop", vpop, "--design", design, "--replicates", "500", "--out", out)
    check(r.returncode == 0 and "partial" in r.stderr, f"trial ran on it and said so (exit {r.returncode}): {r.stderr.strip()[:200]}")
    if r.returncode == 0:
        t = trial_table(out)
        check(int(t["pool_patients"][0]) == written and int(t["attrs"]["pool_complete"]) == 0,
              f"pool = the {written} patients written, pool_complete = 0")


def bad_input(exe, tmp, pool):
    print("bad input: exit 2, the option or file:line:key named, nothing written")
    ok_rule = "[[response.condition]]\nmetric = \"qpcr_cmax\"\ncomparison = \">\"\nthreshold = 1000\n[toxicity]\nprobability = 0.3\n"
    good = write(os.path.join(tmp, "good.toml"), design_text() + ok_rule)
    small = os.path.join(tmp, "small_pool.h5")
    cartpk(exe, "vpop", "--quiet", "--model", "stein2019", "--n", "20", "--out", small)
    short = os.path.join(tmp, "short_pool.h5")
    cartpk(exe, "vpop", "--quiet", "--model", "cart_cd19_bcma", "--iiv", os.path.join(EXAMPLES, "iiv_cart_cd19_bcma.toml"),
           "--n", "30", "--end", "30", "--step", "1", "--out", short)
    not_h5 = write(os.path.join(tmp, "not_h5.h5"), "text\n")
    cases = [
        ("replicates 0", ["--vpop", pool, "--design", good, "--replicates", "0"], ["--replicates 0"]),
        ("replicates negative", ["--vpop", pool, "--design", good, "--replicates", "-5"], ["--replicates -5"]),
        ("replicates not a number", ["--vpop", pool, "--design", good, "--replicates", "many"], ["--replicates", "many"]),
        ("replicates missing", ["--vpop", pool, "--design", good], ["--replicates"]),
        ("unknown metric in a rule, listing the pool's",
         ["--vpop", pool, "--design", write(os.path.join(tmp, "m.toml"), design_text() + ok_rule.replace("qpcr_cmax", "qpcr_cmx"))],
         ["m.toml:8", "response.condition.metric", "qpcr_cmx", "did you mean 'qpcr_cmax'", "flow_auc_0_28"]),
        ("unknown metric in the link",
         ["--vpop", pool, "--design", write(os.path.join(tmp, "l.toml"), design_text() + ok_rule.split("[toxicity]")[0] +
                                            "[toxicity]\nmetric = \"il6_peak\"\nintercept = -1\nslope = 1\n")],
         ["l.toml:12", "toxicity.metric", "il6_peak", "qpcr_cmax"]),
        ("a link coefficient that is not a number",
         ["--vpop", pool, "--design", write(os.path.join(tmp, "c.toml"), design_text() + ok_rule.split("[toxicity]")[0] +
                                            "[toxicity]\nintercept = -2\nslope = \"steep\"\n")],
         ["c.toml:13", "toxicity.slope", "steep", "a number"]),
        ("a vpop without the metrics the default rule needs", ["--vpop", pool, "--design", write(os.path.join(tmp, "d.toml"), design_text())],
         ["d.toml", "hb_change_day90", "not in the pool", "qpcr_cmax"]),
        ("n1 >= n", ["--vpop", pool, "--design", write(os.path.join(tmp, "n.toml"), design_text(n1=24, n=24, tox1=5) + ok_rule)],
         ["n.toml:2", "design.n1", "n1 < n"]),
        ("max_tox_stage1 > n1", ["--vpop", pool, "--design", write(os.path.join(tmp, "t.toml"), design_text(tox1=9) + ok_rule)],
         ["t.toml:4", "design.max_tox_stage1", "9"]),
        ("responders_from misspelt", ["--vpop", pool, "--design", write(os.path.join(tmp, "f.toml"), design_text(frm="stage-2") + ok_rule)],
         ["f.toml:6", "responders_from", "stage2"]),
        ("a comparison that is not one", ["--vpop", pool, "--design", write(os.path.join(tmp, "q.toml"), design_text() + ok_rule.replace('">"', '"=>"'))],
         ["q.toml:9", "response.condition.comparison", "=>"]),
        ("a fixed probability above 1", ["--vpop", pool, "--design", write(os.path.join(tmp, "p.toml"), design_text() + ok_rule.replace("0.3", "1.5"))],
         ["p.toml:12", "toxicity.probability", "1.5"]),
        ("an unknown key in the design file", ["--vpop", pool, "--design", write(os.path.join(tmp, "k.toml"), design_text() + "min_responder = 3\n" + ok_rule)],
         ["k.toml:7", "design.min_responder", "did you mean 'min_responders'"]),
        ("design file missing", ["--vpop", pool, "--design", os.path.join(tmp, "nope.toml")], ["nope.toml"]),
        ("--vpop not an HDF5 file", ["--vpop", not_h5, "--design", good], ["--vpop", "not_h5.h5"]),
        ("--vpop missing", ["--vpop", os.path.join(tmp, "gone.h5"), "--design", good], ["--vpop", "gone.h5"]),
        ("--vpop with a vpop option", ["--vpop", pool, "--model", "stein2019", "--design", good], ["--vpop", "--model"]),
        ("no patients at all", ["--design", good], ["--vpop", "--model"]),
        ("a pool smaller than the trial", ["--vpop", small, "--design", good], ["small_pool.h5", "20 evaluable", "24"]),
        ("a response metric no patient reached",
         ["--vpop", short, "--design", write(os.path.join(tmp, "h.toml"), design_text())], ["h.toml", "hb_change_day90", "not reached"]),
        ("in-process pool with N <= 0", ["--model", "stein2019", "--n", "0", "--design", good], ["--n 0"]),
        ("output is the design file", ["--vpop", pool, "--design", good, "--out-same"], ["--out"]),
    ]
    for name, args, require in cases:
        out, table = os.path.join(tmp, "bad.h5"), os.path.join(tmp, "bad.csv")
        if "--out-same" in args:
            args = [a for a in args if a != "--out-same"] + ["--replicates", "10", "--out", good]
        else:
            args = args + (["--replicates", "100"] if not any(a.startswith("--replicates") for a in args) and name != "replicates missing" else [])
            args = args + ["--out", out, "--table", table]
        r = cartpk(exe, "trial", "--quiet", *args)
        problems = [] if r.returncode == 2 else [f"exit {r.returncode}, expected 2"]
        problems += cli_checks.check_message(r.stderr, require, True, [])
        leftovers = [p for p in os.listdir(tmp) if p.startswith("bad.")]
        if leftovers:
            problems.append(f"wrote {leftovers}")
        check(not problems, f"{name}: {r.stderr.strip()}" + (f" -- {problems}" if problems else ""))


def main():
    exe = cli_checks.binary_argument(__file__)
    if exe is None:
        return 2
    with tempfile.TemporaryDirectory(prefix="trial_") as tmp:
        pool, cmax, failed_patients = make_pool(exe, tmp)
        print(f"pool: {len(cmax)} stein2019 patients ({failed_patients} not simulated)")
        independent_events(exe, tmp, pool, cmax)
        association(exe, tmp, pool, cmax)
        pool_sources(exe, tmp)
        partial_pool(exe, tmp)
        bad_input(exe, tmp, pool)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
