#!/usr/bin/python3
"""`make figures`: renders every notebook on the demo's outputs to PNGs under BUILD/figures/.

usage: scripts/figures.py BUILD_DIR      (after `make demo`, which writes BUILD_DIR/demo/*.h5)
Each notebook's code cells run in order, headless, with its inputs pointed at the demo files and its figure
written to BUILD_DIR/figures/<notebook>.png (notebooks that draw several figures add suffixes to that name).
"""
import glob
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
# The demo file each notebook plots (plot_models simulates every model itself).
INPUTS = {
    "plot_simulation": {"CARTPK_H5": "demo/cart_cd19_bcma.h5"},
    "plot_fit": {"CARTPK_H5": "demo/fit_stein2019.h5"},
    "plot_vpop": {"CARTPK_H5": "demo/vpop_cart_cd19_bcma.h5"},
    "plot_population": {"CARTPK_H5": "demo/popfit_stein2019.h5", "CARTPK_H5_VPC": "demo/vpc_stein2019.h5"},
    "plot_trial": {"CARTPK_H5": "demo/trial_registered.h5", "CARTPK_H5_DESIGN": "demo/design_oc_grid.h5"},
    "plot_models": {},
}


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
    figures = os.path.join(build, "figures")
    os.makedirs(figures, exist_ok=True)
    os.environ["CARTPK_BIN"] = os.path.join(build, "cartpk")
    for notebook in sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))):
        name = os.path.splitext(os.path.basename(notebook))[0]
        for variable, relative in INPUTS.get(name, {}).items():
            path = os.path.join(build, relative)
            if not os.path.exists(path):
                sys.exit(f"figures: {path} is missing (run `make demo` first)")
            os.environ[variable] = path
        os.environ["CARTPK_PNG"] = os.path.join(figures, name + ".png")
        scope = {}
        for cell in json.load(open(notebook))["cells"]:
            if cell["cell_type"] == "code":
                exec("".join(cell["source"]), scope)
        for variable in INPUTS.get(name, {}):
            del os.environ[variable]
        matplotlib.pyplot.close("all")
    for png in sorted(glob.glob(os.path.join(figures, "*.png"))):
        print("figure:", os.path.relpath(png, ROOT))


if __name__ == "__main__":
    main()
