"""Runs a notebook's code cells in order (a stand-in for nbconvert --execute), with matplotlib off-screen.

usage: run_notebook.py NOTEBOOK.ipynb CARTPK_BINARY [CARTPK ARGUMENTS...]
It first runs cartpk with the given arguments ({h5} stands for an HDF5 file in a temporary folder; default:
simulate stein2019 with sensitivities), points the notebook at the result through CARTPK_H5, and checks that
the figure was written. Several commands run in turn when separated by "::"; {h5:NAME} stands for a second file,
given to the notebook as CARTPK_H5_NAME (e.g. {h5:design} -> CARTPK_H5_DESIGN).
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")

notebook, cartpk = sys.argv[1], sys.argv[2]
arguments = sys.argv[3:] or ["simulate", "--model", "stein2019", "--sens", "all", "--out", "{h5}"]
with tempfile.TemporaryDirectory() as tmp:
    h5 = os.path.join(tmp, "result.h5")
    commands = [[]]
    for a in arguments:
        if a == "::":
            commands.append([])
        else:
            commands[-1].append(a)

    def named(match):
        path = os.path.join(tmp, match.group(1) + ".h5")
        os.environ["CARTPK_H5_" + match.group(1).upper()] = path
        return path

    for command in commands:
        expanded = [re.sub(r"\{h5:(\w+)\}", named, a.replace("{h5}", h5)) for a in command]
        subprocess.run([cartpk] + expanded, check=True, stdout=subprocess.DEVNULL)
    os.environ["CARTPK_H5"] = h5
    os.environ["CARTPK_PNG"] = png = os.path.join(tmp, "figure.png")
    scope = {}
    for cell in json.load(open(notebook))["cells"]:
        if cell["cell_type"] == "code":
            exec("".join(cell["source"]), scope)
    assert os.path.getsize(png) > 10_000, "the notebook did not draw its figure"
print("1 passed, 0 failed")
