#pragma once
// Prior files (TOML) for MAP / empirical-Bayes fitting: log-normal priors ln θ ~ N(ln typical, ω²).
//
//   iiv = "variance"      # how `omega` is read: "variance" (ω², as nlmixr2lib enters Stein 2019) or "sd" (ω)
//   [foldx]
//   typical = 3900
//   omega = 2.4
//
// Unknown keys are errors with a did-you-mean; every error names the file, line and key.
#include <filesystem>
#include <string>
#include <vector>

#include "io/did_you_mean.hpp"

namespace cartpk::io {

struct PriorEntry {
  std::string parameter;
  double typical = 0.0;
  double omega2 = 0.0;  // always a variance here, whatever the file's reading
  int line = 0;
};

std::vector<PriorEntry> read_prior_file(const std::filesystem::path& path, const std::vector<std::string>& parameters);
std::vector<PriorEntry> parse_prior_text(const std::string& text, const std::string& name,
                                         const std::vector<std::string>& parameters);

}  // namespace cartpk::io
