// cartpk's side of the solver benchmark against compiled LSODA (bench/run_bench.py --only solver, issue 12): one
// model's solve at several (integrator, rtol) levels, without and with forward sensitivities.
//
//   bench_solver --model NAME --times t1,t2,... [--set name=value,...] [--sens p1,p2,...|estimated]
//                [--levels integrator:rtol,...] [--mode values|time] [--repeats N] [--atol-scale A]
//
// values: per level, one solve with sensitivities (the observables and their sensitivities at the times) and one
// without (plain_observables).
// time: per level, seconds per solve without and with sensitivities (best of 3 rounds of N solves, one reused
// workspace), the steps and which integrator ran. A model that takes dose records gets one dose of its dose
// parameter at day 0. Prints one JSON object on stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk;

namespace {

std::vector<std::string> split(const std::string& text, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

void print_list(const double* v, std::size_t n) {
  std::printf("[");
  for (std::size_t i = 0; i < n; ++i) std::printf("%s%.17g", i ? ", " : "", v[i]);
  std::printf("]");
}

struct Level {
  Integrator integrator;
  double rtol;
};

}  // namespace

int main(int argc, char** argv) try {
  std::string model_name, times, set, sens = "estimated", levels_text = "cvodes:1e-8", mode = "values";
  int repeats = 200;
  double atol_scale = SolverOptions{}.atol_scale;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(key + ": expected a value");
    const std::string value = argv[++i];
    if (key == "--model") model_name = value;
    else if (key == "--times") times = value;
    else if (key == "--set") set = value;
    else if (key == "--sens") sens = value;
    else if (key == "--levels") levels_text = value;
    else if (key == "--mode") mode = value;
    else if (key == "--repeats") repeats = std::stoi(value);
    else if (key == "--atol-scale") atol_scale = std::stod(value);
    else throw std::invalid_argument(key + ": unknown option");
  }
  if (model_name.empty() || times.empty()) throw std::invalid_argument("--model and --times are required");
  if (mode != "values" && mode != "time") throw std::invalid_argument("--mode: expected values or time");
  const Model& model = find_model(model_name);
  SimulationRequest request{model.default_parameters(), {}, {}, {}};
  for (const auto& t : split(times)) request.times_day.push_back(std::stod(t));
  for (const auto& entry : split(set)) {
    const auto eq = entry.find('=');
    const int ip = eq == std::string::npos ? -1 : model.parameter_index(entry.substr(0, eq));
    if (ip < 0) throw std::invalid_argument("--set: expected name=value with a parameter of the model: " + entry);
    request.parameters[static_cast<std::size_t>(ip)] = std::stod(entry.substr(eq + 1));
  }
  if (model.accepts_doses()) request.doses.push_back({0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter});
  std::vector<int> which;
  std::vector<std::string> names;
  if (sens == "estimated") {
    for (const auto name : model.default_estimated()) names.emplace_back(name);
  } else {
    names = split(sens);
  }
  for (const auto& name : names) {
    const int ip = model.parameter_index(name);
    if (ip < 0) throw std::invalid_argument("--sens: no parameter " + name);
    which.push_back(ip);
  }
  std::vector<Level> levels;
  for (const auto& entry : split(levels_text)) {
    const auto colon = entry.find(':');
    if (colon == std::string::npos) throw std::invalid_argument("--levels: expected integrator:rtol, got " + entry);
    levels.push_back({parse_integrator(entry.substr(0, colon)), std::stod(entry.substr(colon + 1))});
  }

  std::printf("{\"model\": \"%s\", \"sensitivity_parameters\": [", model_name.c_str());
  for (std::size_t s = 0; s < names.size(); ++s) std::printf("%s\"%s\"", s ? ", " : "", names[s].c_str());
  std::printf("], \"parameter_names\": [");
  for (std::size_t i = 0; i < model.n_parameters(); ++i)
    std::printf("%s\"%s\"", i ? ", " : "", std::string(model.parameters()[i].name).c_str());
  std::printf("], \"parameters\": ");
  print_list(request.parameters.data(), request.parameters.size());
  std::printf(", \"atol\": [");
  for (std::size_t i = 0; i < model.n_states(); ++i)
    std::printf("%s%.17g", i ? ", " : "", atol_scale * model.states()[i].typical_scale);
  std::printf("], \"levels\": [");
  for (std::size_t l = 0; l < levels.size(); ++l) {
    SolverOptions options;
    options.rtol = levels[l].rtol;
    options.atol_scale = atol_scale;
    options.integrator = levels[l].integrator;
    OdeSolver solver(model, options);
    SimulationResult result;
    std::printf("%s{\"integrator\": \"%s\", \"rtol\": %.6g", l ? ", " : "", integrator_name(levels[l].integrator),
                levels[l].rtol);
    if (mode == "values") {
      request.sensitivity_parameters = which;
      solver.solve(request, result);
      std::printf(", \"used\": \"%s\", \"steps\": %ld, \"handovers\": %ld, \"observables\": {",
                  integrator_used(result.stats), result.stats.steps, result.stats.handovers);
      for (std::size_t j = 0; j < model.n_observables(); ++j) {
        const Eigen::VectorXd col = result.observables.col(static_cast<Eigen::Index>(j));
        std::printf("%s\"%s\": ", j ? ", " : "", std::string(model.observables()[j].name).c_str());
        print_list(col.data(), static_cast<std::size_t>(col.size()));
      }
      std::printf("}, \"sensitivities\": {");  // per observable: one list per sensitivity parameter
      for (std::size_t j = 0; j < model.n_observables(); ++j) {
        std::printf("%s\"%s\": [", j ? ", " : "", std::string(model.observables()[j].name).c_str());
        for (std::size_t s = 0; s < which.size(); ++s) {
          const Eigen::VectorXd col = result.observable_sensitivities[j].col(static_cast<Eigen::Index>(s));
          if (s) std::printf(", ");
          print_list(col.data(), static_cast<std::size_t>(col.size()));
        }
        std::printf("]");
      }
      std::printf("}, \"plain_observables\": {");  // a solve without sensitivities (its own error control)
      request.sensitivity_parameters.clear();
      solver.solve(request, result);
      for (std::size_t j = 0; j < model.n_observables(); ++j) {
        const Eigen::VectorXd col = result.observables.col(static_cast<Eigen::Index>(j));
        std::printf("%s\"%s\": ", j ? ", " : "", std::string(model.observables()[j].name).c_str());
        print_list(col.data(), static_cast<std::size_t>(col.size()));
      }
      std::printf("}, \"plain_steps\": %ld}", result.stats.steps);
    } else {
      auto time_case = [&](const std::vector<int>& w) {
        request.sensitivity_parameters = w;
        solver.solve(request, result);  // warm-up
        double best = std::numeric_limits<double>::infinity();
        for (int round = 0; round < 3; ++round) {
          const auto start = std::chrono::steady_clock::now();
          for (int r = 0; r < repeats; ++r) solver.solve(request, result);
          best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats);
        }
        std::printf("{\"seconds_per_solve\": %.6g, \"steps\": %ld, \"explicit_steps\": %ld, \"handovers\": %ld, "
                    "\"used\": \"%s\"}",
                    best, result.stats.steps, result.stats.explicit_steps, result.stats.handovers,
                    integrator_used(result.stats));
      };
      std::printf(", \"plain\": ");
      time_case({});
      std::printf(", \"sens\": ");
      time_case(which);
      std::printf("}");
    }
  }
  std::printf("]}\n");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_solver: %s\n", e.what());
  return 2;
}
