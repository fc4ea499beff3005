#pragma once
// Extendable datasets written as results finish: a rows × columns dataset (chunked, unlimited rows) that grows by
// blocks of whole rows. Made by H5Group::create_rows / create_long_rows, with a `units` attribute and a `columns`
// attribute naming the columns; rows not yet written read as the fill value (NaN for doubles).
//
// Crash consistency (HDF5 1.10.8, measured by SIGKILLing a writer that appends batches of 1–300 rows to three
// datasets and flushes after each, at random moments): in a file from H5File::create_streaming after
// start_streaming() (SWMR), 130 of 130 kills left a file that opens (H5Reader; h5py with swmr=True) with every
// row either complete or fill, and the counter below never ahead of the data. A plain H5File flushed the same way
// was unreadable or had undecodable chunks after 11 of 90 kills (a kill inside a flush, with file space reused);
// a latest-format file without SWMR opened after none of 30 kills (not without `h5clear -s`). So: use streaming
// files for long runs; a kill before start_streaming() can still leave an unusable file (nothing computed is
// lost then).
//
// What a reader can trust after a kill: rows of the last batch may be present in one dataset and missing (or fill)
// in another. A writer that needs an exact count appends its batch to every dataset, calls H5File::flush(), then
// appends the number of complete rows to a one-column long rows dataset and flushes again; a reader takes the
// largest value there.
//
// Cost: a flush compresses and writes each partly filled chunk, and in a streaming file a chunk rewritten at the
// next flush cannot reuse its old space: flushing every 16 rows into 1024-row compressed chunks made a file 36×
// larger than needed (every 256 rows: 3.3×; whole chunks, or no compression: no growth). Flush per batch of
// about chunk_rows rows, or on a timer (e.g. every 10 s), not per row. A compressed flush costs ~0.35 ms for a
// 1024 × 20 chunk; uncompressed appends run at ~7 million 20-column rows per second.
#include "io/h5_file.hpp"

#include <cstddef>
#include <span>
#include <string>

namespace cartpk::io {

template <typename T>
class H5Rows {
 public:
  H5Rows(H5Rows&&) noexcept = default;
  H5Rows& operator=(H5Rows&&) noexcept = default;

  // Appends whole rows, given row after row (size a multiple of columns(), else std::invalid_argument); extends
  // the dataset and writes them. OutputError naming the dataset and the file when HDF5 fails.
  void append(std::span<const T> rows_row_major);
  [[nodiscard]] std::size_t rows() const { return rows_; }
  [[nodiscard]] std::size_t columns() const { return columns_; }
  [[nodiscard]] const std::string& path() const { return path_; }  // the dataset's path in the file
  void flush() const;  // this dataset's data and metadata to the file (H5Dflush)
  void close();        // closes the dataset (also done by the destructor, silently)

 private:
  friend class H5Group;
  H5Rows(H5Handle set, std::size_t columns, std::string path, std::string file);
  [[noreturn]] void fail(std::string_view what) const;

  H5Handle set_;
  std::size_t columns_;
  std::size_t rows_ = 0;
  std::string path_;
  std::string file_;
};

extern template class H5Rows<double>;
extern template class H5Rows<long>;

}  // namespace cartpk::io
