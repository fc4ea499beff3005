// M1 stein2019: Stein et al. 2019 tisagenlecleucel cellular kinetics (see biphasic_ck.hpp for the equations).
#include <memory>

#include "pkmodel/model_adapter.hpp"
#include "pkmodel/models/biphasic_ck.hpp"
#include "pkmodel/registry.hpp"

namespace cartpk::models {

struct Stein2019 : BiphasicCk<false> {
  static constexpr std::string_view kName = "stein2019";
  static constexpr std::string_view kSource =
      "Stein AM et al., CPT Pharmacometrics Syst Pharmacol 2019;8:285-295 (nlmixr2lib Stein_2019_Tisagenlecleucel)";
  static constexpr std::string_view kDescription =
      "Empirical piecewise CAR-T kinetics (Stein 2019, tisagenlecleucel): exponential expansion to cmax at "
      "tmax, then biphasic decline";
  static constexpr std::array<ParameterSpec, 7> kParameters = kBiphasicParameters;
  static constexpr std::array<std::string_view, 6> kDefaultEstimated{"foldx", "tmax", "cmax", "alpha", "fb", "beta"};
};

std::unique_ptr<Model> make_stein2019() { return std::make_unique<ModelAdapter<Stein2019>>(); }

}  // namespace cartpk::models
