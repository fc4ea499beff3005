#pragma once
// The cohort executor over MPI ranks: items are dealt to ranks in interleaved blocks (block b to rank b mod size,
// so rank 0 receives results roughly in item order), each rank runs its share on its threads (run_cohort), and
// every finished item travels to rank 0, whose sink sees all items as if they had been computed locally. Each
// rank's per-thread accumulators are merged on that rank (finish), encoded, and merged on rank 0 (merge_remote).
// Item results depend on the item alone, so rank 0's output equals the single-process output exactly.
#include <chrono>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "parallel/mpi_session.hpp"
#include "pkmodel/byte_codec.hpp"
#include "pkmodel/cohort.hpp"

namespace cartpk::parallel {

inline constexpr std::size_t kBlockItems = 16;  // items per block dealt to a rank

// The items of `rank` among `size` ranks.
inline std::vector<std::size_t> rank_items(std::size_t n, int rank, int size) {
  std::vector<std::size_t> items;
  for (std::size_t i = 0; i < n; ++i)
    if (static_cast<int>((i / kBlockItems) % static_cast<std::size_t>(size)) == rank) items.push_back(i);
  return items;
}

// make, work, sink, finish: as run_cohort; sink runs on rank 0 only (for every item), finish on every rank for
// its own threads. encode(ByteWriter&, const Result&) / decode(ByteReader&) -> Result carry an item;
// payload(ByteWriter&) writes this rank's merged accumulators (ranks > 0, after their threads finished);
// merge_remote(ByteReader&) reads each of them on rank 0. Returns the number of items finished overall.
template <class Make, class Work, class Sink, class Finish, class Encode, class Decode, class Payload, class MergeRemote>
std::size_t run_distributed(const MpiSession& mpi, std::size_t n, const CohortOptions& options, Make make, Work work,
                            Sink sink, Finish finish, Encode encode, Decode decode, Payload payload,
                            MergeRemote merge_remote) {
  enum Tag : int { kItems = 1, kDone = 2 };
  // A batch goes when it holds 256 items or 1 MB, or 0.1 s after the last one: few messages for cheap items (each
  // message above MPI's eager size waits for rank 0's receiver to take it), and slow items still travel promptly.
  constexpr std::size_t kBatchItems = 256, kBatchBytes = std::size_t{1} << 20;
  constexpr auto kBatchAge = std::chrono::milliseconds(100);
  const auto items = rank_items(n, mpi.rank(), mpi.size());
  if (!mpi.distributed()) return run_cohort(items, options, make, work, sink, finish);
  if (mpi.rank() != 0) {
    // Finished items travel in batches (fewer, larger messages); the last batch goes before the final payload.
    // Two message buffers: a batch is sent without waiting for rank 0 to take it (the workers go on), and its
    // buffer is reused once the batch after next is ready (by then long delivered).
    ByteWriter batch;
    std::size_t in_batch = 0;
    auto last_send = std::chrono::steady_clock::now();
    ByteWriter messages[2];
    PendingSend in_flight[2];
    int slot = 0;
    const auto send_batch = [&] {
      last_send = std::chrono::steady_clock::now();
      if (in_batch == 0) return;
      in_flight[slot].wait();
      ByteWriter& message = messages[slot];
      message.bytes().clear();
      message.put(in_batch);
      message.put_bytes(batch.bytes());
      mpi.isend(0, kItems, message.bytes(), in_flight[slot]);
      slot = 1 - slot;
      batch.bytes().clear();
      in_batch = 0;
    };
    const std::size_t done = run_cohort(
        items, options, make, work,
        [&](std::size_t i, auto&& result) {  // serialised by run_cohort: one MPI call at a time
          batch.put(i);
          encode(batch, result);
          if (++in_batch == kBatchItems || batch.bytes().size() > kBatchBytes ||
              std::chrono::steady_clock::now() - last_send > kBatchAge)
            send_batch();
        },
        finish);
    send_batch();
    ByteWriter out;
    out.put(done);
    payload(out);
    mpi.send(0, kDone, out.bytes());  // after the batches in flight (MPI keeps a sender's messages in order)
    in_flight[0].wait();
    in_flight[1].wait();
    return done;
  }
  std::mutex serial;  // rank 0: local workers and the receiver share the sink
  std::size_t remote_done = 0;
  std::exception_ptr receive_error;
  std::thread receiver([&] {
    try {
      Message message;  // one buffer for every message (no allocation per batch)
      for (int finished_ranks = 0; finished_ranks < mpi.size() - 1;) {
        // Polled, not a blocking receive: MPI's blocking calls spin, and this thread shares rank 0's cores with
        // its workers.
        if (!mpi.poll(message)) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          continue;
        }
        ByteReader in(message.bytes);
        if (message.tag == kItems) {
          for (auto count = in.get<std::size_t>(); count > 0; --count) {
            const auto i = in.get<std::size_t>();
            auto result = decode(in);
            std::lock_guard<std::mutex> lock(serial);
            sink(i, std::move(result));
          }
        } else {
          const auto done = in.get<std::size_t>();
          std::lock_guard<std::mutex> lock(serial);
          remote_done += done;
          merge_remote(in);
          ++finished_ranks;
        }
      }
    } catch (...) {
      receive_error = std::current_exception();
    }
  });
  std::size_t local = 0;
  try {
    local = run_cohort(
        items, options, make, work,
        [&](std::size_t i, auto&& result) {
          std::lock_guard<std::mutex> lock(serial);
          sink(i, std::move(result));
        },
        [&](auto& workspace) {
          std::lock_guard<std::mutex> lock(serial);
          finish(workspace);
        });
  } catch (...) {
    mpi.abort(1);  // the other ranks would wait for rank 0 forever
  }
  receiver.join();
  if (receive_error) std::rethrow_exception(receive_error);
  return local + remote_done;
}

}  // namespace cartpk::parallel
