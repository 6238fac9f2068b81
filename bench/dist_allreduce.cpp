// The communicator's allreduce (dist/communicator.hpp), blocking and started-then-waited, beside
// Open MPI's own MPI_Allreduce in a bare loop on the same buffer, float32 sums from 1 KB to 100
// MB, on the ranks mpirun starts:
//
//   mpirun -np 2 stheno_dist_allreduce [--quick]
//
// Rounds alternate the three, so that a drifting machine treats them alike; each size reports the
// median round's time per allreduce and the bytes reduced per second (the buffer's size over
// that time). Rank 0 prints a markdown table. --quick: three sizes, few iterations.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "stheno/stheno.hpp"

using namespace stheno;

namespace {

// Seconds per allreduce over `iterations` calls, timed between two barriers.
template <class Fn>
double seconds_each(int iterations, Fn&& allreduce) {
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) allreduce();
  MPI_Barrier(MPI_COMM_WORLD);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / iterations;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string size_name(std::int64_t bytes) {
  if (bytes >= 1000000) return std::to_string(bytes / 1000000) + " MB";
  return std::to_string(bytes / 1000) + " KB";
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  dist::Communicator& comm = dist::world();  // initialises MPI under mpirun
  if (comm.backend() != "mpi") {
    std::fprintf(stderr, "stheno_dist_allreduce: start it with mpirun (this build %s MPI)\n",
                 dist::mpi_built() ? "has" : "has no");
    return 77;
  }
  const std::vector<std::int64_t> sizes =
      quick ? std::vector<std::int64_t>{1000, 1000000, 4000000}
            : std::vector<std::int64_t>{1000, 10000, 100000, 1000000, 10000000, 100000000};
  const int rounds = quick ? 3 : 7;
  if (comm.rank() == 0) {
    std::printf("%d ranks, float32 sums, median of %d rounds, rounds alternating the three\n\n", comm.size(), rounds);
    std::printf("| size | stheno allreduce (µs) | MPI_Allreduce (µs) | stheno started + waited (µs) | stheno GB/s | "
                "MPI GB/s | stheno ÷ MPI time |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
  }
  for (const std::int64_t bytes : sizes) {
    const Tensor t = Tensor::ones({bytes / 4});
    // As many calls as take about 0.05 s (quick) or 0.3 s a round, from a first timing: over TCP
    // a call takes a hundred times as long as over shared memory. Rank 0's count, on every rank.
    const double warm = seconds_each(3, [&] { comm.allreduce(t); });
    const Tensor count = Tensor::full({1}, std::clamp((quick ? 0.05 : 0.3) / warm, 3.0, 20000.0), DType::i32);
    comm.broadcast(count);
    const int iterations = count.data<std::int32_t>()[0];
    std::vector<double> ours, theirs, started;
    for (int round = 0; round < rounds; ++round) {
      ours.push_back(seconds_each(iterations, [&] { comm.allreduce(t); }));
      theirs.push_back(seconds_each(iterations, [&] {
        MPI_Allreduce(MPI_IN_PLACE, t.raw_data(), static_cast<int>(t.numel()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      }));
      started.push_back(seconds_each(iterations, [&] {
        comm.start_allreduce(t, dist::ReduceOp::sum);
        comm.wait_all();
      }));
    }
    const double a = median(ours), b = median(theirs), c = median(started);
    if (comm.rank() == 0)
      std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", size_name(bytes).c_str(), a * 1e6, b * 1e6,
                  c * 1e6, static_cast<double>(bytes) / a / 1e9, static_cast<double>(bytes) / b / 1e9, a / b);
  }
  return 0;
}
