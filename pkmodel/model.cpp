#include "pkmodel/model.hpp"

#include "pkmodel/fast_integrator.hpp"

#include <cmath>

namespace cartpk {

namespace {
template <class Table>
int find_name(const Table& table, std::string_view name) {
  for (std::size_t i = 0; i < table.size(); ++i)
    if (table[i].name == name) return static_cast<int>(i);
  return -1;
}
}  // namespace

std::unique_ptr<FastIntegrator> Model::make_fast_integrator() const { return nullptr; }

int Model::parameter_index(std::string_view name) const { return find_name(parameters(), name); }
int Model::observable_index(std::string_view name) const { return find_name(observables(), name); }

std::vector<double> Model::default_parameters() const {
  std::vector<double> values;
  for (const auto& spec : parameters()) values.push_back(spec.default_value);
  return values;
}

std::string_view domain_name(Domain domain) {
  switch (domain) {
    case Domain::positive: return "a positive number";
    case Domain::nonnegative: return "a number >= 0";
    case Domain::fraction: return "a fraction in (0, 1)";
    case Domain::real: return "a finite number";
  }
  return "a finite number";
}

bool in_domain(Domain domain, double value) {
  if (!std::isfinite(value)) return false;
  switch (domain) {
    case Domain::positive: return value > 0.0;
    case Domain::nonnegative: return value >= 0.0;
    case Domain::fraction: return value > 0.0 && value < 1.0;
    case Domain::real: return true;
  }
  return false;
}

}  // namespace cartpk
