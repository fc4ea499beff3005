#pragma once
// The design file of `cartpk trial` (docs/designs.md): the two-stage rules ([design]), the response rule
// ([response]) and the toxicity link ([toxicity]). Every defect is an InputError naming the file, the line and
// the key. Metric names are checked later, against the pool that the rules are applied to.
#include <filesystem>
#include <optional>
#include <string>

#include "trial/design_evaluate.hpp"
#include "trial/response_rules.hpp"

namespace cartpk::io {

struct TrialDesignFile {
  std::string name;                                 // the file, for messages
  trial::ToxicityStopDesign design;
  std::optional<trial::ResponseRule> response;      // none: the default wAIHA criteria at the pool's late day
  std::optional<trial::ToxicityLink> toxicity;      // none: the default logistic link on flow_cmax
};

TrialDesignFile parse_trial_design_text(const std::string& text, const std::string& name);
TrialDesignFile read_trial_design_file(const std::filesystem::path& path);

}  // namespace cartpk::io
