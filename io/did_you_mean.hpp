#pragma once
// Suggestions for misspelt names (parameters, keys, options): the closest candidate by edit distance.
#include <string>
#include <vector>

namespace cartpk::io {

// The closest of `candidates` to `word` (edit distance), or "" when none is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)", or "" when no candidate is close.
std::string did_you_mean_hint(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace cartpk::io
