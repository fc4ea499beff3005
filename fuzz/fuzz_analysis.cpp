// libFuzzer target: the TOML analysis-file reader must never crash on any input; bad input is an InputError.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/analysis_file.hpp"
#include "pkmodel/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto parsed = cartpk::io::parse_analysis_text(std::string(reinterpret_cast<const char*>(data), size),
                                                        "fuzz.toml", "fit", {"fit", "simulate"});
    (void)parsed;
  } catch (const cartpk::InputError&) {
  }
  return 0;
}
