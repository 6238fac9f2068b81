#pragma once
// What `stheno train` does the same way for every model under mpirun: the checks before
// training, where each rank's log goes, a step's loss over the ranks, and ending every rank
// when one fails.
#include <cstdio>
#include <functional>

#include "stheno/dist/communicator.hpp"
#include "stheno/tensor/device.hpp"

namespace stheno::cli {

// --batch is the global batch: it must split evenly over the ranks, and several ranks train on
// the host (ValueErrors saying so).
void check_data_parallel(const dist::Communicator& comm, long long batch, const Device& device);

// Rank 0 logs to stderr with --json (stdout holds the JSON), else stdout; the others to nowhere.
std::FILE* rank_log(const dist::Communicator& comm, bool json);

// Runs `train`. On several ranks, an error on one is printed naming the rank and ends them all:
// the others may be waiting for it in a collective.
int run_on_ranks(dist::Communicator& comm, const std::function<int()>& train);

// A step's loss averaged over the ranks, so that every rank logs and checks the same number.
// Allocation-free after construction.
class GlobalLoss {
 public:
  explicit GlobalLoss(dist::Communicator& comm);
  double operator()(double this_ranks_loss);

 private:
  dist::Communicator& comm_;
  Tensor share_;
};

}  // namespace stheno::cli
