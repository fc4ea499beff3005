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

// Each model file pkmodel/models/NAME.cpp defines `std::unique_ptr<Model> models::make_NAME()`; the build
// lists the files (CMakeLists.txt), so a new model registers itself by being there.
}  // namespace cartpk
