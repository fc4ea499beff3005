#pragma once
// The cohort executor over MPI ranks, dealing work dynamically (guided self-scheduling): rank 0 owns a counter over
// the items 0..n-1; its own threads claim blocks from it directly, and every other rank asks rank 0 for a range
// (a grant) by message, asking for the next while half of the one in hand is left, so it does not wait for the
// answer. A grant is a share of what is left (remaining / (2 x ranks), whole blocks, capped per thread), so there
// are few round trips while much is left and small grants at the end, which balance the ranks: rank 0, which also
// receives, decodes and sinks every item, simply claims fewer. Grants come from one counter, so items arrive at
// rank 0 roughly in index order. Each rank runs its items on its threads (run_claimed), and every finished item
// travels to rank 0, whose sink sees all items as if they had been computed locally. Each rank's per-thread
// accumulators are merged on that rank (finish), encoded, and merged on rank 0 (merge_remote). Item results depend
// on the item alone, so rank 0's output equals the single-process output exactly, whichever rank ran an item.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parallel/mpi_session.hpp"
#include "pkmodel/byte_codec.hpp"
#include "pkmodel/cohort.hpp"

namespace cartpk::parallel {

// Largest grant, in blocks per thread of the rank asking: bounds the items rank 0 holds out of order (InOrder
// sinks) while keeping a grant of cheap items (16 x 64 stein2019 patients: about 10 ms) far above a round trip.
inline constexpr std::size_t kGrantBlocksPerThread = 64;

// Items in a grant to a rank with `threads` threads: a share of what is left, in whole blocks of `block` items.
inline std::size_t grant_items(std::size_t remaining, std::size_t block, int ranks, unsigned threads) {
  const std::size_t blocks = remaining / (block * 2 * static_cast<std::size_t>(ranks));
  return block * std::clamp<std::size_t>(blocks, 1, kGrantBlocksPerThread * std::max(1u, threads));
}

// make, work, sink, finish: as run_cohort; sink runs on rank 0 only (for every item), finish on every rank for
// its own threads. encode(ByteWriter&, const Result&) / decode(ByteReader&) -> Result carry an item;
// payload(ByteWriter&) writes this rank's merged accumulators (ranks > 0, after their threads finished);
// merge_remote(ByteReader&) reads each of them on rank 0. Returns the number of items finished overall.
template <class Make, class Work, class Sink, class Finish, class Encode, class Decode, class Payload, class MergeRemote>
std::size_t run_distributed(const MpiSession& mpi, std::size_t n, const CohortOptions& options, Make make, Work work,
                            Sink sink, Finish finish, Encode encode, Decode decode, Payload payload,
                            MergeRemote merge_remote) {
  enum Tag : int { kItems = 1, kDone = 2, kRequest = 3, kGrant = 4 };
  // A batch goes when it holds 256 items or 1 MB, or 0.1 s after the last one: few messages for cheap items (each
  // message above MPI's eager size waits for rank 0's receiver to take it), and slow items still travel promptly.
  constexpr std::size_t kBatchItems = 256, kBatchBytes = std::size_t{1} << 20;
  constexpr auto kBatchAge = std::chrono::milliseconds(100);
  if (!mpi.distributed()) return run_cohort(all_items(n), options, make, work, sink, finish);
  const std::size_t block = std::max<std::size_t>(1, options.block);
  const auto cancelled = [&] { return options.cancel && options.cancel->load(); };
  if (mpi.rank() != 0) {
    std::mutex mpi_lock;  // MPI_THREAD_SERIALIZED: the sink's batches and the claims' requests, one call at a time
    // Finished items travel in batches (fewer, larger messages); the last batch goes before the final payload.
    // Two message buffers: a batch is sent without waiting for rank 0 to take it (the workers go on), and its
    // buffer is reused once the batch after next is ready (by then long delivered).
    ByteWriter batch;
    std::size_t in_batch = 0;
    auto last_send = std::chrono::steady_clock::now();
    ByteWriter messages[2];
    PendingSend in_flight[2];
    int slot = 0;
    const auto send_batch = [&] {  // under mpi_lock
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
    // Grants: `current` is claimed from, `next` is the one asked for ahead. Nothing here blocks in MPI (polls and
    // sleeps without the lock instead), so a thread waiting for a grant never holds up another's batch.
    ItemRange current, next;
    std::size_t current_size = 0;
    bool asked = false, exhausted = false;
    ByteWriter request;
    request.put(cohort_threads(options.threads, n));  // rank 0 sizes the grants by this rank's threads
    PendingSend request_send;
    Message grant;
    const auto receive_grant = [&] {  // under mpi_lock
      if (!asked || !mpi.poll(grant)) return;
      if (grant.tag != kGrant) throw MpiError("MPI: rank " + std::to_string(mpi.rank()) + " got tag " +
                                              std::to_string(grant.tag) + " from rank 0, expected a grant");
      ByteReader in(grant.bytes);
      ItemRange range;
      range.first = in.get<std::size_t>();
      range.last = in.get<std::size_t>();
      asked = false;
      if (range.empty()) exhausted = true;  // rank 0 has no more (or was interrupted)
      else next = range;
    };
    const auto claim = [&](std::size_t count) -> ItemRange {
      std::unique_lock<std::mutex> lock(mpi_lock);
      for (;;) {
        receive_grant();
        if (current.empty() && !next.empty()) {
          current = next;
          current_size = next.size();
          next = {};
        }
        const ItemRange range{current.first, std::min(current.last, current.first + count)};
        current.first = std::max(current.first, range.last);
        if (!asked && !exhausted && next.empty() && 2 * current.size() <= current_size) {  // half left: ask ahead
          request_send.wait();
          mpi.isend(0, kRequest, request.bytes(), request_send);
          asked = true;
        }
        if (!range.empty() || exhausted || cancelled()) return range;
        lock.unlock();  // the grant asked for is on its way (rank 0's receiver polls at least every 2 ms)
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        lock.lock();
      }
    };
    const std::size_t done = run_claimed(
        claim, n, options, make, work,
        [&](std::size_t i, auto&& result) {  // serialised by run_claimed; MPI only in send_batch, under mpi_lock
          batch.put(i);
          encode(batch, result);
          if (++in_batch == kBatchItems || batch.bytes().size() > kBatchBytes ||
              std::chrono::steady_clock::now() - last_send > kBatchAge) {
            std::lock_guard<std::mutex> lock(mpi_lock);
            send_batch();
          }
        },
        finish);
    // The workers are done: when interrupted, a request may still be open; take its answer (rank 0 answers every
    // request), so no message is left unreceived. Then the last batch and the final payload.
    while (asked) {
      receive_grant();
      if (asked) std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    send_batch();
    ByteWriter out;
    out.put(done);
    payload(out);
    mpi.send(0, kDone, out.bytes());  // after the batches in flight (MPI keeps a sender's messages in order)
    in_flight[0].wait();
    in_flight[1].wait();
    request_send.wait();
    return done;
  }
  ItemCounter counter(n);  // rank 0: the items not yet handed out, to its own threads and by grant to the others
  std::mutex serial;  // rank 0: local workers and the receiver share the sink
  std::size_t remote_done = 0;
  std::thread receiver([&] {
    try {
      Message message;  // one buffer for every message (no allocation per batch)
      ByteWriter reply;
      auto idle = std::chrono::microseconds(100);
      for (int finished_ranks = 0; finished_ranks < mpi.size() - 1;) {
        // Polled, not a blocking receive: MPI's blocking calls spin, and this thread shares rank 0's cores with
        // its workers. While nothing comes, it polls less often (0.1 ms doubling up to 2 ms): a poll costs tens of
        // µs of rank 0's CPU, and the other ranks ask for grants ahead, so they rarely wait for the answer.
        if (!mpi.poll(message)) {
          std::this_thread::sleep_for(idle);
          idle = std::min(2 * idle, decltype(idle)(2000));
          continue;
        }
        idle = std::chrono::microseconds(100);
        ByteReader in(message.bytes);
        if (message.tag == kRequest) {  // a grant, or an empty range when none is left or this run is interrupted
          const auto threads = in.get<unsigned>();
          const ItemRange range =
              cancelled() ? ItemRange{n, n} : counter.take(grant_items(counter.remaining(), block, mpi.size(), threads));
          reply.bytes().clear();
          reply.put(range.first);
          reply.put(range.last);
          mpi.send(message.source, kGrant, reply.bytes());
        } else if (message.tag == kItems) {
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
    } catch (const std::exception& e) {
      // A message that cannot be read, or a sink that fails: the other ranks would wait for grants forever, so say
      // why and stop every rank.
      std::fprintf(stderr, "cartpk: rank 0 stopped while taking the other ranks' items: %s\n", e.what());
      mpi.abort(1);
    }
  });
  std::size_t local = 0;
  try {
    local = run_claimed(
        [&](std::size_t count) { return counter.take(count); }, n, options, make, work,
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
  return local + remote_done;
}

}  // namespace cartpk::parallel
