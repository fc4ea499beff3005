#pragma once
// popfit over MPI ranks: every rank runs the same population algorithm; at each step rank r computes the subjects
// i with i mod size = r, rank 0 gathers the encoded results and sends every rank all of them. Each subject's
// numbers depend only on its index, and every reduction runs in subject order on every rank, so the fit equals the
// single-process fit bit for bit.
#include <cstddef>
#include <vector>

#include "fitting/population_fit.hpp"
#include "parallel/mpi_session.hpp"
#include "pkmodel/byte_codec.hpp"

namespace cartpk::cli {

class MpiSubjectExchange final : public fitting::SubjectExchange {
 public:
  explicit MpiSubjectExchange(const parallel::MpiSession& mpi) : mpi_(mpi) {}

  [[nodiscard]] bool distributed() const override { return mpi_.distributed(); }
  [[nodiscard]] bool owns(std::size_t subject) const override {
    return static_cast<int>(subject % static_cast<std::size_t>(mpi_.size())) == mpi_.rank();
  }
  [[nodiscard]] bool any(bool flag) const override { return !mpi_.all_agree(!flag); }

  [[nodiscard]] std::vector<std::vector<std::byte>> exchange(std::vector<std::vector<std::byte>> own) const override {
    enum Tag : int { kGather = 41, kAll = 42 };
    if (mpi_.rank() != 0) {
      ByteWriter out;
      std::size_t count = 0;
      for (std::size_t i = 0; i < own.size(); ++i) count += owns(i);
      out.put(count);
      for (std::size_t i = 0; i < own.size(); ++i)
        if (owns(i)) {
          out.put(i);
          out.put_vector(own[i]);
        }
      mpi_.send(0, kGather, out.bytes());
      const auto message = mpi_.receive_any();  // rank 0's answer: only it sends to this rank
      ByteReader in(message.bytes);
      std::vector<std::vector<std::byte>> all(in.get<std::size_t>());
      for (auto& bytes : all) bytes = in.get_vector<std::byte>();
      return all;
    }
    for (int k = 1; k < mpi_.size(); ++k) {
      const auto message = mpi_.receive_any();
      ByteReader in(message.bytes);
      const auto count = in.get<std::size_t>();
      for (std::size_t c = 0; c < count; ++c) {
        const auto i = in.get<std::size_t>();
        own.at(i) = in.get_vector<std::byte>();
      }
    }
    ByteWriter all;
    all.put(own.size());
    for (const auto& bytes : own) all.put_vector(bytes);
    for (int r = 1; r < mpi_.size(); ++r) mpi_.send(r, kAll, all.bytes());
    return own;
  }

 private:
  const parallel::MpiSession& mpi_;
};

}  // namespace cartpk::cli
