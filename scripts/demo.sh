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
