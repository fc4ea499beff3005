// Throughput of one model's simulation at its published typical values (the table's defaults), without and with
// forward sensitivities, for any registered model: the benchmark of the published model library (issue 14).
//
//   bench_models --model NAME [--repeats N] [--end DAYS] [--step DAYS] [--doses day:fraction,...|none]
//                [--sens estimated|all|p1,p2,...] [--rtol R] [--atol-scale A] [--check-times t1,t2,...]
//
// Doses are fractions of the model's dose parameter (as `cartpk simulate --doses`; default one dose at day 0 for a
// model that takes dose records). --sens defaults to the model's default estimates (what its paper estimated).
// Prints one JSON object on stdout for bench/run_bench.py, which sets it beside a SciPy peer:
//   {"model", "times", "sensitivity_parameters", "ode": {solves, seconds, solves_per_second, steps, rhs_evaluations},
//    "ode_sens": {...}, "check": {"times": [...], "<observable>": [...] ...}}
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk;

namespace {

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<double> numbers(const std::string& text) {
  std::vector<double> out;
  for (const auto& s : split(text)) out.push_back(std::stod(s));
  return out;
}

std::string json_list(const std::vector<double>& v) {
  std::string out = "[";
  char buffer[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buffer, sizeof buffer, "%s%.17g", i ? ", " : "", v[i]);
    out += buffer;
  }
  return out + "]";
}

struct Options {
  std::string model;
  int repeats = 200;
  double end_day = 60.0, step_day = 0.25;
  std::string doses, sens = "estimated", check_times;
  SolverOptions solver;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(key + ": expected a value");
    const std::string value = argv[++i];
    if (key == "--model") o.model = value;
    else if (key == "--repeats") o.repeats = std::stoi(value);
    else if (key == "--end") o.end_day = std::stod(value);
    else if (key == "--step") o.step_day = std::stod(value);
    else if (key == "--doses") o.doses = value;
    else if (key == "--sens") o.sens = value;
    else if (key == "--rtol") o.solver.rtol = std::stod(value);
    else if (key == "--atol-scale") o.solver.atol_scale = std::stod(value);
    else if (key == "--check-times") o.check_times = value;
    else throw std::invalid_argument(key + ": unknown option");
  }
  if (o.model.empty()) throw std::invalid_argument("--model NAME is required");
  if (o.repeats < 1 || !(o.step_day > 0.0) || !(o.end_day >= 0.0))
    throw std::invalid_argument("expected --repeats >= 1, --step > 0, --end >= 0");
  return o;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  const Model& model = find_model(o.model);
  SimulationRequest request{model.default_parameters(), {}, {}, {}};
  const auto n = static_cast<long>(o.end_day / o.step_day + 1e-9);
  for (long k = 0; k <= n; ++k) request.times_day.push_back(static_cast<double>(k) * o.step_day);
  if (model.accepts_doses() && o.doses != "none") {
    if (o.doses.empty()) {
      request.doses.push_back({0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter});
    } else {
      for (const auto& entry : split(o.doses)) {
        const auto colon = entry.find(':');
        if (colon == std::string::npos) throw std::invalid_argument("--doses: expected day:fraction");
        request.doses.push_back({std::stod(entry.substr(0, colon)), std::stod(entry.substr(colon + 1)), 70.0,
                                 DoseUnit::fraction_of_dose_parameter});
      }
    }
  }
  std::vector<int> sens;
  std::vector<std::string> sens_names;
  if (o.sens == "all") {
    for (const auto& spec : model.parameters()) sens_names.emplace_back(spec.name);
  } else if (o.sens == "estimated") {
    for (const auto name : model.default_estimated()) sens_names.emplace_back(name);
  } else {
    sens_names = split(o.sens);
  }
  for (const auto& name : sens_names) {
    const int i = model.parameter_index(name);
    if (i < 0) throw std::invalid_argument("--sens: model " + o.model + " has no parameter " + name);
    sens.push_back(i);
  }

  OdeSolver solver(model, o.solver);  // one workspace, re-initialised per solve
  SimulationResult result;
  auto time_case = [&](const std::vector<int>& which) {
    request.sensitivity_parameters = which;
    solver.solve(request, result);  // warm-up
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < o.repeats; ++r) solver.solve(request, result);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const auto report = [&](const char* name, double seconds, bool comma) {
    std::printf("  \"%s\": {\"solves\": %d, \"seconds\": %.6g, \"solves_per_second\": %.6g, \"steps\": %ld, "
                "\"rhs_evaluations\": %ld}%s\n",
                name, o.repeats, seconds, o.repeats / seconds, result.stats.steps, result.stats.rhs_evaluations,
                comma ? "," : "");
  };
  std::printf("{\n  \"model\": \"%s\",\n  \"times\": {\"end\": %.17g, \"step\": %.17g, \"count\": %zu},\n",
              o.model.c_str(), o.end_day, o.step_day, request.times_day.size());
  std::string names = "[";
  for (std::size_t i = 0; i < sens_names.size(); ++i) names += (i ? ", \"" : "\"") + sens_names[i] + "\"";
  std::printf("  \"sensitivity_parameters\": %s],\n", names.c_str());
  std::printf("  \"solver\": {\"rtol\": %.6g, \"atol_scale\": %.6g},\n", o.solver.rtol, o.solver.atol_scale);
  report("ode", time_case({}), true);
  report("ode_sens", time_case(sens), true);

  // Observables at the check times (a separate solve at exactly those times).
  SimulationRequest check = request;
  check.sensitivity_parameters.clear();
  check.times_day = o.check_times.empty() ? std::vector<double>{o.end_day} : numbers(o.check_times);
  const auto r = solver.solve(check);
  std::printf("  \"check\": {\"times\": %s", json_list(check.times_day).c_str());
  for (std::size_t j = 0; j < model.n_observables(); ++j) {
    const auto col = r.observables.col(static_cast<Eigen::Index>(j));
    std::printf(", \"%s\": %s", std::string(model.observables()[j].name).c_str(),
                json_list(std::vector<double>(col.begin(), col.end())).c_str());
  }
  std::printf("}\n}\n");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_models: %s\n", e.what());
  return 2;
}
