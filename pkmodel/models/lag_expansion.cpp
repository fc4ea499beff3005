// M1b lag_expansion: stein2019 with a lag tlag before expansion (see biphasic_ck.hpp for the equations).
#include <memory>

#include "pkmodel/model_adapter.hpp"
#include "pkmodel/models/biphasic_ck.hpp"
#include "pkmodel/registry.hpp"

namespace cartpk::models {

namespace {
constexpr std::array<ParameterSpec, 8> with_lag() {
  std::array<ParameterSpec, 8> table{};
  for (std::size_t i = 0; i < kBiphasicParameters.size(); ++i) table[i] = kBiphasicParameters[i];
  table[kBiphasicParameters.size()] = kTlagSpec;
  return table;
}
}  // namespace

struct LagExpansion : BiphasicCk<true> {
  static constexpr std::string_view kName = "lag_expansion";
  static constexpr std::string_view kSource = "cartpk model specification, M1b: Stein 2019 with a lag (liso-cel-type CK)";
  static constexpr std::string_view kDescription =
      "Lag, exponential expansion from tlag to tmax, biphasic decline (liso-cel-type CK; stein2019 at tlag = 0)";
  static constexpr std::array<ParameterSpec, 8> kParameters = with_lag();
  static_assert(index_of(kParameters, "tlag") == BiphasicCk<true>::tlag);
  static constexpr std::array<std::string_view, 7> kDefaultEstimated{"foldx", "tmax", "cmax", "alpha",
                                                                     "fb",    "beta", "tlag"};
};

std::unique_ptr<Model> make_lag_expansion() { return std::make_unique<ModelAdapter<LagExpansion>>(); }

}  // namespace cartpk::models
