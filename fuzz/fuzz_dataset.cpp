// libFuzzer target: the NONMEM-style dataset reader must never crash, hang or read out of bounds on any
// input; bad input is an InputError and nothing else.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/dataset.hpp"
#include "pkmodel/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cartpk::io::DatasetOptions options;
  options.observables = {"qpcr", "flow", "bcell"};
  options.dvid_map = {{"1", "qpcr"}, {"2", "flow"}};
  try {
    const auto parsed = cartpk::io::parse_dataset(std::string(reinterpret_cast<const char*>(data), size), "fuzz.csv", options);
    (void)parsed;
  } catch (const cartpk::InputError&) {
  }
  return 0;
}
