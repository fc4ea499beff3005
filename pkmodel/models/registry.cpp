// The list of models: adding a model means one factory line here and its own file beside this one.
#include "pkmodel/registry.hpp"

#include <string>
#include <vector>

#include "pkmodel/errors.hpp"

namespace cartpk {

namespace {
struct Library {
  std::vector<std::unique_ptr<Model>> owned;
  std::vector<const Model*> views;
  Library() {
    owned.push_back(models::make_stein2019());
    owned.push_back(models::make_lag_expansion());
    owned.push_back(models::make_cart_cd19_bcma());
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
