// Analysis files: each TOML value is flattened into the strings the command line would carry.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "io/analysis_file.hpp"
#include "pkmodel/errors.hpp"

using cartpk::io::parse_analysis_text;

namespace {
const std::vector<std::string> kCommands{"fit", "simulate"};
using Strings = std::vector<std::string>;
}  // namespace

TEST_CASE("analysis file: scalars, arrays and tables flatten to command-line values, with their lines") {
  const std::string text =
      "# a comment\n"
      "[fit]\n"
      "model = \"stein2019\"\n"
      "starts = 12\n"
      "rtol = 1e-9\n"
      "quiet = true\n"
      "estimate = [\"tmax\", \"cmax\"]\n"
      "fix = { kcp = 300, fb = 0.01 }\n"
      "bounds = { tmax = [1, 40.5] }\n"
      "[simulate]\n"
      "model = \"lag_expansion\"\n";
  const auto file = parse_analysis_text(text, "dir/run.toml", "fit", kCommands);
  CHECK(file.folder == "dir");
  REQUIRE(file.entries.size() == 7);
  const auto& e = file.entries;
  CHECK((e[0].key == "model" && e[0].values == Strings{"stein2019"} && e[0].line == 3 && !e[0].is_list));
  CHECK((e[1].key == "starts" && e[1].values == Strings{"12"}));
  CHECK((e[2].key == "rtol" && e[2].values == Strings{"1e-09"}));  // shortest round trip of the double
  CHECK((e[3].key == "quiet" && e[3].values == Strings{"true"}));
  CHECK((e[4].key == "estimate" && e[4].values == Strings{"tmax", "cmax"} && e[4].is_list && e[4].line == 7));
  CHECK((e[5].key == "fix" && e[5].values == Strings{"kcp=300", "fb=0.01"} && e[5].is_list));
  CHECK((e[6].key == "bounds" && e[6].values == Strings{"tmax=1:40.5"}));
  const auto sim = parse_analysis_text(text, "run.toml", "simulate", kCommands);
  REQUIRE(sim.entries.size() == 1);
  CHECK(sim.entries[0].values == Strings{"lag_expansion"});
}

TEST_CASE("analysis file defects name the file, line and key") {
  const struct {
    std::string text;
    const char* message;
  } cases[] = {
      {"[fit]\nmodel = \n", "run.toml:2:"},
      {"[fitt]\nmodel = 'x'\n", "run.toml:1: unknown key 'fitt' (did you mean 'fit'?)"},
      {"model = 'x'\n", "run.toml:1: unknown key 'model'"},
      {"fit = 3\n", "run.toml:1: key fit: found an integer, expected a table [fit]"},
      {"[simulate]\nmodel = 'x'\n", "run.toml: no [fit] table"},
      {"[fit]\nids = [[1, 2]]\n", "run.toml:2: key ids: found an array, expected a string, number or boolean"},
      {"[fit]\nfix = { kcp = { a = 1 } }\n", "run.toml:2: key fix.kcp: found a table"},
      {"[fit]\nwhen = 1979-05-27\n", "run.toml:2: key when: found a date"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    try {
      (void)parse_analysis_text(c.text, "run.toml", "fit", kCommands);
      FAIL("no error");
    } catch (const cartpk::InputError& e) {
      CHECK(std::string(e.what()).find(c.message) != std::string::npos);
    }
  }
}
