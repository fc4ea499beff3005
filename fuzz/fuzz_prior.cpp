// libFuzzer target: the TOML prior-file reader must never crash on any input; bad input is an InputError.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/prior_file.hpp"
#include "pkmodel/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto parsed = cartpk::io::parse_prior_text(std::string(reinterpret_cast<const char*>(data), size),
                                                     "fuzz.toml", {"foldx", "tmax", "cmax", "alpha", "fb", "beta"});
    (void)parsed;
  } catch (const cartpk::InputError&) {
  }
  return 0;
}
