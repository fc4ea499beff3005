// Throughput of stein2019 simulation: closed form and CVODES ODE form, with and without sensitivities w.r.t.
// its six kinetic parameters, over the parameter sets and sampling times given by bench/run_bench.py.
// Prints one JSON object on stdout (the driver compares it with the NumPy and scipy peers).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "pkmodel/ode_solver.hpp"
#include "pkmodel/registry.hpp"

using namespace cartpk;

namespace {

std::vector<std::vector<double>> read_sets(const std::string& path, const Model& model) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::string line;
  std::getline(in, line);  // header: foldx,tmax,cmax,alpha,fb,beta (the model's own order)
  std::vector<std::vector<double>> sets;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto p = model.default_parameters();
    std::stringstream row(line);
    std::string cell;
    for (std::size_t i = 0; i < 6 && std::getline(row, cell, ','); ++i) p[i] = std::stod(cell);
    sets.push_back(std::move(p));
  }
  return sets;
}

std::vector<double> parse_times(const std::string& text) {
  std::vector<double> times;
  std::stringstream in(text);
  std::string cell;
  while (std::getline(in, cell, ',')) times.push_back(std::stod(cell));
  return times;
}

struct Timing {
  double seconds;
  std::size_t sets;
};

// Best of `repeats` runs of solving every set.
Timing time_all(const std::vector<std::vector<double>>& sets, int repeats,
                const std::function<void(const std::vector<double>&)>& solve_one) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (const auto& p : sets) solve_one(p);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return {best, sets.size()};
}

void print_case(const char* name, const Timing& t, bool last = false) {
  std::printf("  \"%s\": {\"sets\": %zu, \"seconds\": %.6g, \"sets_per_second\": %.6g}%s\n", name, t.sets, t.seconds,
              static_cast<double>(t.sets) / t.seconds, last ? "" : ",");
}

void print_rows(const char* name, const std::vector<std::vector<double>>& rows, bool last) {
  std::printf("    \"%s\": [", name);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::printf("%s[", r ? ", " : "");
    for (std::size_t k = 0; k < rows[r].size(); ++k) std::printf("%s%.17g", k ? ", " : "", rows[r][k]);
    std::printf("]");
  }
  std::printf("]%s\n", last ? "" : ",");
}

}  // namespace

int main(int argc, char** argv) {
  std::string sets_path, times_text;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--sets") sets_path = argv[i + 1];
    else if (flag == "--times") times_text = argv[i + 1];
  }
  if (sets_path.empty() || times_text.empty()) {
    std::fprintf(stderr, "usage: bench_stein2019 --sets FILE.csv --times t1,t2,...\n");
    return 2;
  }
  const Model& model = find_model("stein2019");
  const auto sets = read_sets(sets_path, model);
  const auto times = parse_times(times_text);
  const std::vector<int> six{0, 1, 2, 3, 4, 5};

  OdeSolver solver(model);             // one workspace, re-initialised per set
  ClosedFormSolver exact(model);
  SimulationResult result;             // reused: no allocation per set
  SimulationRequest request{{}, times, {}, {}};
  double sink = 0.0;  // keeps the work observable to the optimiser
  auto closed = [&](const std::vector<int>& sens) {
    return [&, sens](const std::vector<double>& p) {
      request.parameters = p;
      request.sensitivity_parameters = sens;
      exact.solve(request, result);
      sink += result.observables(0, 0);
    };
  };
  auto ode = [&](const std::vector<int>& sens) {
    return [&, sens](const std::vector<double>& p) {
      request.parameters = p;
      request.sensitivity_parameters = sens;
      solver.solve(request, result);
      sink += result.observables(0, 0);
    };
  };
  const auto t_closed = time_all(sets, 3, closed({}));
  const auto t_closed_sens = time_all(sets, 3, closed(six));
  const auto t_ode = time_all(sets, 1, ode({}));
  const auto t_ode_sens = time_all(sets, 1, ode(six));

  std::vector<std::vector<double>> check_closed, check_ode;
  for (std::size_t s = 0; s < std::min<std::size_t>(5, sets.size()); ++s) {
    const auto c = solve_closed_form(model, {sets[s], times, {}, {}});
    const auto o = solver.solve({sets[s], times, {}, {}});
    check_closed.emplace_back(c.observables.col(0).begin(), c.observables.col(0).end());
    check_ode.emplace_back(o.observables.col(0).begin(), o.observables.col(0).end());
  }

  std::printf("{\n");
  print_case("closed", t_closed);
  print_case("closed_sens", t_closed_sens);
  print_case("ode", t_ode);
  print_case("ode_sens", t_ode_sens);
  std::printf("  \"check\": {\n    \"times\": [");
  for (std::size_t k = 0; k < times.size(); ++k) std::printf("%s%.17g", k ? ", " : "", times[k]);
  std::printf("],\n");
  print_rows("closed", check_closed, false);
  print_rows("ode", check_ode, true);
  std::printf("  },\n  \"sink\": %.6g\n}\n", sink);
  return 0;
}
