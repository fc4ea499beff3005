// The list of models, generated from the model files present (pkmodel/model_list.inc, see CMakeLists.txt).
#include "pkmodel/registry.hpp"

#include <string>
#include <vector>

#include "pkmodel/errors.hpp"

namespace cartpk {

namespace models {
#define CARTPK_MODEL(name) std::unique_ptr<Model> make_##name();
#include "pkmodel/model_list.inc"
#undef CARTPK_MODEL
}  // namespace models

namespace {
// Models in file-name order.
struct Library {
  std::vector<std::unique_ptr<Model>> owned;
  std::vector<const Model*> views;
  Library() {
#define CARTPK_MODEL(name) owned.push_back(models::make_##name());
#include "pkmodel/model_list.inc"
#undef CARTPK_MODEL
    for (const auto& m : owned) views.push_back(m.get());
  }
};
const Library& library() {
  static const Library instance;
  return instance;
}
}  // namespace

std::span<const Model* const> all_models() { return library().views; }

const Model& find_model(std::string_view name) {
  std::string known;
  for (const Model* m : all_models()) {
    if (m->name() == name) return *m;
    known += (known.empty() ? "" : ", ") + std::string(m->name());
  }
  throw InputError("unknown model '" + std::string(name) + "' (expected one of: " + known + ")");
}

}  // namespace cartpk
