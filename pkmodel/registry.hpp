#pragma once
// The model library. Models are created once and shared read-only (they hold no state).
#include <memory>
#include <span>
#include <string_view>

#include "pkmodel/model.hpp"

namespace cartpk {

// Every registered model, in the order `cartpk models` lists them.
std::span<const Model* const> all_models();

// The model called `name`; throws InputError naming the known models when there is none.
const Model& find_model(std::string_view name);

namespace models {  // factories, one per model file
std::unique_ptr<Model> make_stein2019();
std::unique_ptr<Model> make_lag_expansion();
std::unique_ptr<Model> make_cart_cd19_bcma();
}  // namespace models

}  // namespace cartpk
