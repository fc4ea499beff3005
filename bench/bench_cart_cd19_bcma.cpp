// Throughput of a two-year cart_cd19_bcma simulation (daily outputs), without and with forward sensitivities
// w.r.t. six parameters (rho, rhoh, dele, kem, fblood, kmax19). Prints one JSON object on stdout for
// bench/run_bench.py, which sets it beside a scipy LSODA peer.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk;

int main(int argc, char** argv) {
  int repeats = 200;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--repeats") repeats = std::stoi(argv[i + 1]);
  const Model& model = find_model("cart_cd19_bcma");
  SimulationRequest request{model.default_parameters(), {}, {}, {{0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter}}};
  for (int day = 0; day <= 730; ++day) request.times_day.push_back(day);
  std::vector<int> six;
  for (const char* name : {"rho", "rhoh", "dele", "kem", "fblood", "kmax19"}) six.push_back(model.parameter_index(name));

  OdeSolver solver(model);  // one workspace, re-initialised per solve
  SimulationResult result;
  auto time_case = [&](const std::vector<int>& sens) {
    request.sensitivity_parameters = sens;
    solver.solve(request, result);  // warm-up
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < repeats; ++r) solver.solve(request, result);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const double t_plain = time_case({});
  const long steps_plain = result.stats.steps;
  const double t_sens = time_case(six);
  const long steps_sens = result.stats.steps;

  request.sensitivity_parameters.clear();
  solver.solve(request, result);
  const int check_days[] = {8, 53, 90, 211, 730};
  auto check = [&](const char* observable) {
    const int j = model.observable_index(observable);
    std::string out = "[";
    for (int d : check_days) {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%s%.17g", out.size() > 1 ? ", " : "", result.observables(d, j));
      out += buffer;
    }
    return out + "]";
  };
  std::printf("{\n");
  std::printf("  \"ode\": {\"solves\": %d, \"seconds\": %.6g, \"solves_per_second\": %.6g, \"steps\": %ld},\n", repeats,
              t_plain, repeats / t_plain, steps_plain);
  std::printf("  \"ode_sens6\": {\"solves\": %d, \"seconds\": %.6g, \"solves_per_second\": %.6g, \"steps\": %ld},\n",
              repeats, t_sens, repeats / t_sens, steps_sens);
  std::printf("  \"check\": {\"times\": [8, 53, 90, 211, 730], \"flow\": %s, \"bcell\": %s, \"hb\": %s}\n}\n",
              check("flow").c_str(), check("bcell").c_str(), check("hb").c_str());
  return 0;
}
