// Replays the fuzz seed corpus and every input a fuzzer ever crashed on (fuzz/regressions/) through the
// readers: each must parse or raise InputError, nothing else.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/analysis_file.hpp"
#include "io/dataset.hpp"
#include "io/prior_file.hpp"
#include "pkmodel/errors.hpp"

namespace fs = std::filesystem;

namespace {
std::vector<std::string> inputs(const std::string& target) {
  std::vector<std::string> texts;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(CARTPK_SOURCE_DIR) / "fuzz" / kind / target;
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      std::stringstream s;
      s << in.rdbuf();
      texts.push_back(s.str());
    }
  }
  return texts;
}
}  // namespace

TEST_CASE("fuzz corpus and regressions: the dataset reader parses or raises InputError") {
  cartpk::io::DatasetOptions options;
  options.observables = {"qpcr", "flow", "bcell"};
  options.dvid_map = {{"1", "qpcr"}, {"2", "flow"}};
  const auto texts = inputs("dataset");
  REQUIRE(texts.size() >= 3);
  for (const auto& text : texts) {
    try {
      (void)cartpk::io::parse_dataset(text, "replay.csv", options);
    } catch (const cartpk::InputError&) {
    }
  }
}

TEST_CASE("fuzz corpus and regressions: the prior reader parses or raises InputError") {
  const auto texts = inputs("prior");
  REQUIRE(texts.size() >= 2);
  for (const auto& text : texts) {
    try {
      (void)cartpk::io::parse_prior_text(text, "replay.toml", {"foldx", "tmax", "beta"});
    } catch (const cartpk::InputError&) {
    }
  }
}

TEST_CASE("fuzz corpus and regressions: the analysis-file reader parses or raises InputError") {
  const auto texts = inputs("analysis");
  REQUIRE(texts.size() >= 2);
  for (const auto& text : texts) {
    try {
      (void)cartpk::io::parse_analysis_text(text, "replay.toml", "fit", {"fit", "simulate"});
    } catch (const cartpk::InputError&) {
    }
  }
}
