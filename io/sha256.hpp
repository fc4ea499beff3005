#pragma once
// SHA-256 (FIPS 180-4) of a file, so an output records exactly which data it was computed from.
#include <filesystem>
#include <string>

namespace cartpk::io {

std::string sha256_hex(const std::string& bytes);                 // lowercase hex digest
std::string sha256_file_hex(const std::filesystem::path& path);   // InputError when unreadable

}  // namespace cartpk::io
