#!/usr/bin/env bash
# make demo: simulate the bundled scenarios and print their summaries.
set -euo pipefail
build=${1:-build}
out="$build/demo"
mkdir -p "$out"
echo "== stein2019 at its published defaults (Stein 2019, tisagenlecleucel), ODE form with sensitivities =="
"$build/cartpk" simulate --model stein2019 --end 730 --step 1 --sens all --out "$out/stein2019.h5" --table "$out/stein2019.csv"
echo
echo "== lag_expansion, tlag = 3 days, closed form =="
"$build/cartpk" simulate --model lag_expansion --param tlag=3 --solution closed --end 730 --step 1 --out "$out/lag_expansion.h5"
echo
echo "== cart_cd19_bcma: CD19/BCMA dual-target CAR-T, 1e6 CAR+ cells/kg after Flu/Cy (warm AIHA scenario) =="
"$build/cartpk" simulate --model cart_cd19_bcma --product cd19-bcma --dose-per-kg 1e6 --weight 70 --end 730 --step 0.25 \
  --sens rho,rhoh,dele,kem,fblood,kmax19 --out "$out/cart_cd19_bcma.h5" --table "$out/cart_cd19_bcma.csv"
echo
echo "== cartpk fit: the bundled SYNTHETIC cohort (examples/synthetic_stein2019_cohort.csv), stein2019, qPCR + flow,"
echo "   as written in the analysis file examples/stein2019_fit.toml =="
"$build/cartpk" fit --config examples/stein2019_fit.toml --out "$out/fit_stein2019.h5" --table "$out/fit_stein2019.csv"
echo
echo "== cartpk popfit and vpc: the same SYNTHETIC cohort's qPCR as a population (SAEM), then its visual predictive"
echo "   check, 500 replicates (docs/vpc.md; plots: notebooks/plot_population.ipynb) =="
"$build/cartpk" popfit --model stein2019 --data examples/synthetic_stein2019_cohort.csv --dvid 1=qpcr --warnings none \
  --quiet --out "$out/popfit_stein2019.h5"
"$build/cartpk" vpc --fit "$out/popfit_stein2019.h5" --data examples/synthetic_stein2019_cohort.csv --dvid 1=qpcr \
  --warnings none --replicates 500 --out "$out/vpc_stein2019.h5"
echo
echo "== cartpk vpop: 1,000 virtual cart_cd19_bcma patients (IIV: examples/iiv_cart_cd19_bcma.toml) at 0.5, 1 and"
echo "   2 x 10^6 CAR+ cells/kg, the same patients in every scenario; per scenario: median [5 - 95 %] of each metric"
echo "   (docs/vpop.md; plots: notebooks/plot_vpop.ipynb) =="
# Daily outputs over the first 60 days (expansion, aplasia onset), weekly to two years: the bands' memory grows
# with the number of output times, and the metrics are read off this grid.
vpop_times="$(seq -s, 0 1 59),$(seq -s, 60 7 725),730"
"$build/cartpk" vpop --model cart_cd19_bcma --iiv examples/iiv_cart_cd19_bcma.toml --n 1000 \
  --dose-per-kg 0.5e6,1e6,2e6 --times "$vpop_times" --keep-trajectories 20 --quiet \
  --out "$out/vpop_cart_cd19_bcma.h5" --table "$out/vpop_cart_cd19_bcma.csv"
echo
echo "== the registered trial's design (8 + 16 patients; stop if > 5 of 8 toxic; success with >= 4 responders of 24):"
echo "   exact operating characteristics at a few true rates (docs/designs.md) =="
"$build/cartpk" design evaluate --n1 8 --n 24 --max-tox-stage1 5 --min-responders 4 --responders-from all \
  --p-resp 0.1,0.3,0.5 --p-tox 0.2,0.5 --out "$out/design_registered_trial.h5"
echo
echo "== cartpk trial: the registered design run 10,000 times on each dose's 1,000 virtual patients above (response:"
echo "   the wAIHA hemoglobin criteria at day 90; toxicity: an ASSUMED logistic link on the CAR-T flow Cmax;"
echo "   examples/trial_design.toml, docs/designs.md): model-based P(success) at 0.5, 1 and 2 x 10^6 cells/kg =="
"$build/cartpk" trial --vpop "$out/vpop_cart_cd19_bcma.h5" --design examples/trial_design.toml --replicates 10000 \
  --out "$out/trial_registered.h5" --table "$out/trial_registered.csv"
# The design's exact operating characteristics over a grid of rates, for the heat maps of notebooks/plot_trial.ipynb.
"$build/cartpk" design evaluate --n1 8 --n 24 --max-tox-stage1 5 --min-responders 4 --responders-from all \
  --p-resp 0.05:0.95:0.05 --p-tox 0.05:0.8:0.05 --out "$out/design_oc_grid.h5" > /dev/null
