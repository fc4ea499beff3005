// Throughput of a two-year cart_cd19_bcma simulation (daily outputs), without and with forward sensitivities
// w.r.t. six parameters (rho, rhoh, dele, kem, fblood, kmax19). Prints one JSON object on stdout for
// bench/run_bench.py, which sets it beside a scipy LSODA peer.
//
// --population FILE.csv --doses D1,D2,… [--step DAYS]: also the bare solves of a virtual population's patients (one row each:
// WT and the individual parameters, named in the header, as `cartpk vpop` wrote them) at each dose in cells/kg,
// on days 0, DAYS, … ≤ 730 (default 1): the solves `cartpk vpop` makes for them, nothing else; for the population
// machinery's overhead.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk;

namespace {
std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
  return fields;
}

double number(const std::string& text, const std::string& where) {
  std::size_t used = 0;
  double value = 0.0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) throw std::runtime_error(where + ": '" + text + "' is not a number");
  return value;
}

// Seconds for every row × dose, and the first row's first-dose observables at the check days.
std::string time_population(const Model& model, const std::string& path, const std::string& doses_text, int step_day) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) throw std::runtime_error(path + ": cannot read the header");
  const auto header = split(line);
  if (header.empty() || header[0] != "WT") throw std::runtime_error(path + ": expected WT as the first column");
  std::vector<std::size_t> index;
  for (std::size_t c = 1; c < header.size(); ++c) {
    const int i = model.parameter_index(header[c]);
    if (i < 0) throw std::runtime_error(path + ":1: column '" + header[c] + "' is not a cart_cd19_bcma parameter");
    index.push_back(static_cast<std::size_t>(i));
  }
  std::vector<double> weights;
  std::vector<std::vector<double>> parameters;
  for (int row = 2; std::getline(in, line); ++row) {
    const auto fields = split(line);
    const auto where = path + ":" + std::to_string(row);
    if (fields.size() != header.size())
      throw std::runtime_error(where + ": " + std::to_string(fields.size()) + " fields, expected " +
                               std::to_string(header.size()));
    weights.push_back(number(fields[0], where + ", WT"));
    auto p = model.default_parameters();
    for (std::size_t c = 1; c < fields.size(); ++c) p[index[c - 1]] = number(fields[c], where + ", " + header[c]);
    parameters.push_back(p);
  }
  std::vector<double> doses;
  for (const auto& d : split(doses_text))
    if (doses.push_back(number(d, "--doses")); !(doses.back() > 0))
      throw std::runtime_error("--doses: " + d + ", expected cells/kg > 0");
  const int dose_parameter = model.parameter_index("dose_per_kg");
  OdeSolver solver(model);
  SimulationResult result, first;
  SimulationRequest request{{}, {}, {}, {{0.0, 1.0, 70.0, DoseUnit::fraction_of_dose_parameter}}};
  for (int day = 0; day <= 730; day += step_day) request.times_day.push_back(day);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < parameters.size(); ++k)
    for (std::size_t d = 0; d < doses.size(); ++d) {
      request.parameters = parameters[k];
      request.parameters[static_cast<std::size_t>(dose_parameter)] = doses[d];
      request.doses[0].weight_kg = weights[k];
      solver.solve(request, result);
    }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (parameters.empty()) throw std::runtime_error(path + ": no patients");
  request.parameters = parameters[0];  // the first patient at the first dose, for the check against cartpk vpop
  request.parameters[static_cast<std::size_t>(dose_parameter)] = doses[0];
  request.doses[0].weight_kg = weights[0];
  solver.solve(request, first);
  std::string out = "  \"population\": {\"patients\": " + std::to_string(parameters.size()) + ", \"solves\": " +
                    std::to_string(parameters.size() * doses.size()) + ", \"seconds\": " + std::to_string(seconds) +
                    ", \"first\": {";
  for (std::size_t j = 0; j < model.n_observables(); ++j) {
    out += (j ? "], \"" : "\"") + std::string(model.observables()[j].name) + "\": [";
    for (Eigen::Index t = 0; t < first.observables.rows(); ++t) {
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%s%.17g", t ? ", " : "", first.observables(t, static_cast<Eigen::Index>(j)));
      out += buffer;
    }
  }
  return out + "]}},\n";
}


int usage(const std::string& problem) {
  std::fprintf(stderr, "bench_cart_cd19_bcma: %s (options: --repeats N, --population FILE.csv, --doses D1,D2,..., "
                       "--step DAYS)\n", problem.c_str());
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  int repeats = 200;
  std::string population, doses = "1e6";
  int step_day = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string option = argv[i];
    const std::string value = argv[i + 1];
    if (option == "--repeats") repeats = static_cast<int>(number(value, "--repeats"));
    else if (option == "--population") population = value;
    else if (option == "--doses") doses = value;
    else if (option == "--step") step_day = static_cast<int>(number(value, "--step"));
    else return usage("unknown option " + option);
  }
  if (repeats < 1 || step_day < 1) return usage("--repeats and --step: expected whole numbers >= 1");
  const Model& model = find_model("cart_cd19_bcma");
  std::string population_json;  // first, so that bad input stops before anything is timed or printed
  if (!population.empty()) {
    try {
      population_json = time_population(model, population, doses, step_day);
    } catch (const std::exception& e) {
      return usage(e.what());
    }
  }
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
  if (!population_json.empty()) std::printf("%s", population_json.c_str());
  std::printf("  \"ode\": {\"solves\": %d, \"seconds\": %.6g, \"solves_per_second\": %.6g, \"steps\": %ld},\n", repeats,
              t_plain, repeats / t_plain, steps_plain);
  std::printf("  \"ode_sens6\": {\"solves\": %d, \"seconds\": %.6g, \"solves_per_second\": %.6g, \"steps\": %ld},\n",
              repeats, t_sens, repeats / t_sens, steps_sens);
  std::printf("  \"check\": {\"times\": [8, 53, 90, 211, 730], \"flow\": %s, \"bcell\": %s, \"hb\": %s}\n}\n",
              check("flow").c_str(), check("bcell").c_str(), check("hb").c_str());
  return 0;
}
