#!/usr/bin/python3
"""Read `cartpk simulate` output back with h5py (an independent HDF5 reader) and check it.

Usage: test_hdf5_readback.py /path/to/cartpk

Checks, for stein2019 (ODE solution, --sens all, --table with --states) and for lag_expansion (tlag = 2, closed
solution, --sens all, --table with --states):
  * root attributes layout_version (integer 1), cartpk_version (= `cartpk --version`), command_line, created_utc
    (ISO 8601 UTC, close to now) and model;
  * /parameters/names, values (the documented defaults, plus any --param) and units;
  * /simulation/time (units "day"), every state and observable dataset carries a `units` attribute;
  * /simulation/sensitivities/<obs> (and state_sensitivities/<state>) are [n_times x n_params] with a
    parameter_names attribute listing every parameter in table order;
  * the CSV table (%.17g) holds the same numbers as the HDF5 file (1e-15 relative);
  * the observables match an independent NumPy closed form (shared spec M1/M1b) to 1e-6 relative (ODE) or
    1e-12 relative (closed form);
  * d qpcr / d{cmax, alpha, tmax} (and tlag for lag_expansion) match central finite differences of that closed
    form to 1e-4 relative, skipping output times within 0.05 day of the kinks at tmax (and tlag).
    Sensitivities that are tiny compared with the largest value of their column (below 1e-5 of it; e.g.
    d qpcr/d alpha two hundred days after the peak, where the fast phase has decayed by e^-30) are compared
    against 1e-4 of that floor instead: there the finite difference of qpcr loses all digits to cancellation and
    the ODE sensitivity is only as accurate as the absolute tolerance.

Exit status 0 when everything matches; otherwise every mismatch is printed and the exit status is 1.
"""
import csv
import datetime as dt
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

FAILURES = []


def check(condition, message):
    if not condition:
        FAILURES.append(message)
        print("FAIL: " + message)
    return bool(condition)


def text(value):
    """h5py hands back str or bytes depending on where a string lives; normalise to str."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return text(value[()])
    return str(value)


def texts(values):
    return [text(v) for v in np.asarray(values).ravel()]


# Documented defaults (shared spec M1, `cartpk models stein2019`), typed in here rather than read back, so that a
# wrong default in the program shows up as a mismatch.
PARAM_NAMES = ["foldx", "tmax", "cmax", "alpha", "fb", "beta", "kcp"]
PARAM_DEFAULTS = {"foldx": 3900.0, "tmax": 9.3, "cmax": 24000.0, "alpha": 0.16, "fb": 0.0079, "beta": 0.0032,
                  "kcp": 300.0}
PARAM_UNITS = ["-", "day", "copies/µg", "1/day", "-", "1/day", "(copies/µg)/(cells/µL)"]
STATE_UNITS = {"E": "copies/µg", "M": "copies/µg"}
OBSERVABLE_UNITS = {"qpcr": "copies/µg", "flow": "cells/µL"}


def closed_form(t, p):
    """Independent NumPy closed form of M1 (stein2019) / M1b (lag_expansion): returns (qpcr, flow)."""
    t = np.asarray(t, dtype=float)
    tlag = p.get("tlag", 0.0)
    r0 = p["cmax"] / p["foldx"]
    rho = np.log(p["foldx"]) / (p["tmax"] - tlag)
    c = np.empty_like(t)
    lag = t < tlag
    grow = (t >= tlag) & (t < p["tmax"])
    decline = t >= p["tmax"]
    c[lag] = r0
    c[grow] = r0 * np.exp(rho * (t[grow] - tlag))
    s = t[decline] - p["tmax"]
    c[decline] = (1.0 - p["fb"]) * p["cmax"] * np.exp(-p["alpha"] * s) + p["fb"] * p["cmax"] * np.exp(-p["beta"] * s)
    return c, c / p["kcp"]


def run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        print("command failed (exit %d): %s\nstdout:\n%s\nstderr:\n%s" %
              (proc.returncode, " ".join(cmd), proc.stdout, proc.stderr))
    return proc


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    data = np.array([[float(x) for x in row] for row in rows[1:]], dtype=float)
    return header, data


def compare(label, actual, expected, rtol, floor=0.0):
    """|actual - expected| <= rtol * max(|expected|, floor) elementwise; report the worst point."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if not check(actual.shape == expected.shape, "%s: shape %s, expected %s" % (label, actual.shape, expected.shape)):
        return
    if not check(np.all(np.isfinite(actual)), "%s: non-finite values in the file" % label):
        return
    scale = np.maximum(np.abs(expected), floor)
    err = np.abs(actual - expected)
    bad = err > rtol * scale
    if bad.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(scale > 0, err / scale, np.inf)
        i = int(np.argmax(np.where(bad, rel, -1.0)))
        check(False, "%s: %d of %d values differ by more than %g relative; worst at index %d: %.17g vs %.17g "
              "(relative %.3g)" % (label, int(bad.sum()), bad.size, rtol, i, actual.flat[i], expected.flat[i],
                                   rel.flat[i]))


def check_file(binary, h5_path, csv_path, model, expected_params, argv, method, version, started, finished,
               fd_params):
    names = list(PARAM_NAMES) + (["tlag"] if model == "lag_expansion" else [])
    units = list(PARAM_UNITS) + (["day"] if model == "lag_expansion" else [])
    where = model + ": "
    with h5py.File(h5_path, "r") as f:
        # --- root attributes ---------------------------------------------------------------------------------
        attrs = f.attrs
        for key in ("layout_version", "cartpk_version", "command_line", "created_utc", "model"):
            check(key in attrs, where + "root attribute %r is missing" % key)
        if "layout_version" in attrs:
            lv = attrs["layout_version"]
            kind = attrs.get_id("layout_version").dtype.kind
            check(kind in "iu", where + "layout_version is stored as dtype kind %r, expected an integer" % kind)
            check(np.ndim(lv) == 0 and int(lv) == 1 and float(lv) == 1.0,
                  where + "layout_version = %r, expected 1" % (lv,))
        if "cartpk_version" in attrs:
            check(text(attrs["cartpk_version"]) == version,
                  where + "cartpk_version = %r, but `cartpk --version` prints %r" % (text(attrs["cartpk_version"]),
                                                                                    version))
        if "command_line" in attrs:
            line = text(attrs["command_line"])
            for piece in argv[1:]:
                check(piece in line, where + "command_line %r does not contain %r" % (line, piece))
        if "created_utc" in attrs:
            stamp = text(attrs["created_utc"])
            if check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp) is not None,
                     where + "created_utc %r is not YYYY-MM-DDTHH:MM:SSZ" % stamp):
                when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
                check(started - dt.timedelta(seconds=5) <= when <= finished + dt.timedelta(seconds=5),
                      where + "created_utc %s is not the time of the run (%s .. %s)" % (stamp, started, finished))
        if "model" in attrs:
            check(text(attrs["model"]) == model, where + "model attribute %r, expected %r" % (text(attrs["model"]),
                                                                                              model))

        # --- /parameters -------------------------------------------------------------------------------------
        for key in ("names", "values", "units"):
            check("parameters/" + key in f, where + "/parameters/%s is missing" % key)
        if "parameters/names" in f:
            got = texts(f["parameters/names"][()])
            check(got == names, where + "/parameters/names = %s, expected %s" % (got, names))
        if "parameters/units" in f:
            got = texts(f["parameters/units"][()])
            check(got == units, where + "/parameters/units = %s, expected %s" % (got, units))
        if "parameters/values" in f:
            got = np.asarray(f["parameters/values"][()], dtype=float)
            want = np.array([expected_params[n] for n in names])
            check(got.shape == want.shape and np.array_equal(got, want),
                  where + "/parameters/values = %s, expected %s" % (got.tolist(), want.tolist()))

        # --- /simulation ---------------------------------------------------------------------------------------
        if not check("simulation" in f, where + "/simulation is missing"):
            return
        sim = f["simulation"]
        if "method" in sim.attrs:
            check(text(sim.attrs["method"]) == method,
                  where + "/simulation method %r, expected %r" % (text(sim.attrs["method"]), method))
        else:
            check(False, where + "/simulation has no method attribute")
        if not check("time" in sim, where + "/simulation/time is missing"):
            return
        time = np.asarray(sim["time"][()], dtype=float)
        check("units" in sim["time"].attrs and text(sim["time"].attrs["units"]) == "day",
              where + "/simulation/time units %r, expected 'day'" % (text(sim["time"].attrs.get("units", "<none>"))))
        check(time.shape == (731,) and np.array_equal(time, np.arange(731.0)),
              where + "/simulation/time is not the default grid 0, 1, ..., 730 day")
        nt = time.size

        for group, expected_units in (("states", STATE_UNITS), ("observables", OBSERVABLE_UNITS)):
            if not check(group in sim, where + "/simulation/%s is missing" % group):
                continue
            members = sorted(sim[group].keys())
            check(members == sorted(expected_units), where + "/simulation/%s holds %s, expected %s" %
                  (group, members, sorted(expected_units)))
            for name in members:
                ds = sim[group][name]
                if check("units" in ds.attrs, where + "/simulation/%s/%s has no units attribute" % (group, name)):
                    got = text(ds.attrs["units"])
                    check(got == expected_units.get(name, got),
                          where + "/simulation/%s/%s units %r, expected %r" % (group, name, got,
                                                                                expected_units.get(name)))
                check(ds.shape == (nt,), where + "/simulation/%s/%s has shape %s, expected (%d,)" %
                      (group, name, ds.shape, nt))

        for group, members in (("sensitivities", OBSERVABLE_UNITS), ("state_sensitivities", STATE_UNITS)):
            if not check(group in sim, where + "/simulation/%s is missing (the run used --sens all)" % group):
                continue
            check(sorted(sim[group].keys()) == sorted(members), where + "/simulation/%s holds %s, expected %s" %
                  (group, sorted(sim[group].keys()), sorted(members)))
            for name in sim[group].keys():
                ds = sim[group][name]
                check(ds.shape == (nt, len(names)), where + "/simulation/%s/%s has shape %s, expected (%d, %d)" %
                      (group, name, ds.shape, nt, len(names)))
                check("units" in ds.attrs, where + "/simulation/%s/%s has no units attribute" % (group, name))
                if check("parameter_names" in ds.attrs,
                         where + "/simulation/%s/%s has no parameter_names attribute" % (group, name)):
                    got = texts(ds.attrs["parameter_names"])
                    check(got == names, where + "/simulation/%s/%s parameter_names = %s, expected %s" %
                          (group, name, got, names))

        def dataset(path):
            return np.asarray(f[path][()], dtype=float) if path in f else None

        qpcr = dataset("simulation/observables/qpcr")
        flow = dataset("simulation/observables/flow")
        series = {"time": time, "qpcr": qpcr, "flow": flow, "E": dataset("simulation/states/E"),
                  "M": dataset("simulation/states/M")}
        sens_qpcr = dataset("simulation/sensitivities/qpcr")
        sens_names = texts(f["simulation/sensitivities/qpcr"].attrs.get("parameter_names", [])) \
            if "simulation/sensitivities/qpcr" in f else []

    # --- CSV table = HDF5 ----------------------------------------------------------------------------------
    header, table = read_csv(csv_path)
    wanted = ["time", "qpcr", "flow", "E", "M"]
    check(header == wanted, where + "CSV header %s, expected %s" % (header, wanted))
    check(table.shape == (nt, len(header)), where + "CSV has %d rows x %d columns, expected %d x %d" %
          (table.shape[0], table.shape[1] if table.ndim == 2 else 0, nt, len(header)))
    if table.shape == (nt, len(header)):
        for j, column in enumerate(header):
            if series.get(column) is not None:
                compare(where + "CSV column %s vs HDF5" % column, table[:, j], series[column], 1e-15)

    # --- observables vs independent closed form --------------------------------------------------------------
    ref_qpcr, ref_flow = closed_form(time, expected_params)
    tol = 1e-12 if method == "closed" else 1e-6
    if qpcr is not None:
        compare(where + "qpcr vs NumPy closed form", qpcr, ref_qpcr, tol)
    if flow is not None:
        compare(where + "flow vs NumPy closed form", flow, ref_flow, tol)

    # --- sensitivities vs central finite differences of the closed form ------------------------------------
    if sens_qpcr is None:
        return
    kinks = [expected_params["tmax"]] + ([expected_params["tlag"]] if "tlag" in expected_params else [])
    keep = np.ones(nt, dtype=bool)
    for kink in kinks:
        keep &= np.abs(time - kink) > 0.05
    for name in fd_params:
        if not check(name in sens_names, where + "no sensitivity column for %s" % name):
            continue
        h = 1e-6 * max(abs(expected_params[name]), 1.0)
        plus, minus = dict(expected_params), dict(expected_params)
        plus[name] += h
        minus[name] -= h
        fd = (closed_form(time, plus)[0] - closed_form(time, minus)[0]) / (2.0 * h)
        column = sens_qpcr[:, sens_names.index(name)]
        floor = 1e-5 * np.max(np.abs(fd[keep]))
        compare(where + "d qpcr/d %s vs central finite difference (%d of %d times, |t - kink| > 0.05 day)" %
                (name, int(keep.sum()), nt), column[keep], fd[keep], 1e-4, floor)


def main():
    if len(sys.argv) != 2:
        print("usage: test_hdf5_readback.py /path/to/cartpk")
        return 2
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        print("not an executable: " + binary)
        return 2
    version_proc = run([binary, "--version"], cwd=None)
    version = version_proc.stdout.split()[0]  # "0.1.0 (MPI: yes)": the number
    check(version_proc.returncode == 0 and version != "", "`cartpk --version` printed nothing")

    stein = dict(PARAM_DEFAULTS)
    lag = dict(PARAM_DEFAULTS, tlag=2.0)
    cases = [
        ("stein2019", ["--model", "stein2019", "--sens", "all", "--table", "x.csv", "--states", "--out", "s.h5"],
         "s.h5", "x.csv", stein, "ode", ["cmax", "alpha", "tmax"]),
        ("lag_expansion", ["--model", "lag_expansion", "--param", "tlag=2", "--solution", "closed", "--sens", "all",
                           "--table", "l.csv", "--states", "--out", "l.h5"],
         "l.h5", "l.csv", lag, "closed", ["cmax", "alpha", "tmax", "tlag"]),
    ]
    with tempfile.TemporaryDirectory(prefix="cartpk-readback-") as tmp:
        for model, args, h5_name, csv_name, params, method, fd_params in cases:
            argv = [binary, "simulate"] + args
            started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            proc = run(argv, cwd=tmp)
            finished = dt.datetime.now(dt.timezone.utc)
            if not check(proc.returncode == 0, "%s: `cartpk simulate` exited %d" % (model, proc.returncode)):
                continue
            h5_path, csv_path = os.path.join(tmp, h5_name), os.path.join(tmp, csv_name)
            if not check(os.path.isfile(h5_path) and os.path.isfile(csv_path),
                         "%s: %s or %s was not written" % (model, h5_name, csv_name)):
                continue
            check_file(binary, h5_path, csv_path, model, params, argv, method, version, started, finished,
                       fd_params)
            print("%s: checked %s and %s (%d failed check(s) so far)" % (model, h5_name, csv_name, len(FAILURES)))

    if FAILURES:
        print("hdf5_readback: %d check(s) failed" % len(FAILURES))
        return 1
    print("hdf5_readback: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
