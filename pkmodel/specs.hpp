#pragma once
// Parameters, states and observables are data: one table per model, read by the CLI, the solver, the fitter,
// the docs and the HDF5 writer. Names are looked up at compile time, so a typo in a model file fails the build.
#include <array>
#include <cstddef>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace cartpk {

// What values a parameter may take; the fitter picks its transform from this (log, logit, none).
enum class Domain { positive, nonnegative, fraction, real };

struct ParameterSpec {
  std::string_view name;
  std::string_view unit;  // "-" for dimensionless
  double default_value;
  double lower;  // plausible bounds, used to validate user values and as the default fitting box
  double upper;
  Domain domain;
  std::string_view meaning;
  std::string_view source;  // publication or rationale of the default
  double iiv_omega2 = 0.0;   // published inter-individual variance of log(parameter); 0 when none
};

// What an observable measures, so that the shared metrics (pkmodel/cart_metrics) find it by role, not by name.
enum class Role {
  none,
  car_t,         // CAR-T level (cells): Cmax, Tmax, AUC
  transgene,     // CAR transgene by qPCR: Cmax, Tmax, AUC and persistence above the qPCR LLOQ
  b_cells,       // B cells: aplasia start and duration, recovery
  autoantibody,  // value at the late read-out day
  hemoglobin,    // change and value at the late read-out day
  cytokine,      // peak and the day of the peak (e.g. IL-6 for CRS)
  tumor,         // value at the late read-out day, and its nadir
};

struct VariableSpec {  // a state or an observable
  std::string_view name;
  std::string_view unit;
  std::string_view meaning;
  double typical_scale = 1.0;  // magnitude used to scale the absolute tolerance of a state
  Role role = Role::none;      // observables: what the shared metrics compute from it
};

// A named set of parameter values, e.g. a product variant ("cd19": kmaxbc = 0).
struct Preset {
  std::string_view name;
  std::string_view description;
  std::array<std::pair<std::string_view, double>, 4> assignments{};  // unused entries have an empty name
};

template <std::size_t N>
constexpr int index_of(const std::array<ParameterSpec, N>& table, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i)
    if (table[i].name == name) return static_cast<int>(i);
  throw std::logic_error("name not in table");  // in a constant expression: a compile error
}

template <std::size_t N>
constexpr int index_of(const std::array<VariableSpec, N>& table, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i)
    if (table[i].name == name) return static_cast<int>(i);
  throw std::logic_error("name not in table");
}

// Every parameter a preset assigns is in the table; evaluated at compile time by ModelAdapter.
template <std::size_t N, std::size_t M>
constexpr bool presets_name_parameters(const std::array<Preset, M>& presets,
                                       const std::array<ParameterSpec, N>& table) {
  for (const auto& preset : presets)
    for (const auto& assignment : preset.assignments)
      if (!assignment.first.empty()) (void)index_of(table, assignment.first);
  return true;
}

std::string_view domain_name(Domain domain);
bool in_domain(Domain domain, double value);

}  // namespace cartpk
