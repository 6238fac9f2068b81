#include "data_parallel.hpp"

#include <string>

#include "progress.hpp"

namespace stheno::cli {

void check_data_parallel(const dist::Communicator& comm, long long batch, const Device& device) {
  if (batch % comm.size() != 0)
    throw ValueError("--batch " + std::to_string(batch) + " (the global batch) does not split evenly over " +
                     std::to_string(comm.size()) + " ranks; use a multiple of " + std::to_string(comm.size()));
  if (comm.size() > 1 && !device.is_host())
    throw ValueError("data-parallel training (" + std::to_string(comm.size()) + " ranks) reduces gradients on the "
                     "host; --device " + device.str() + " is not supported under mpirun yet");
}

std::FILE* rank_log(const dist::Communicator& comm, bool json) {
  if (comm.rank() != 0) return null_log();
  return json ? stderr : stdout;
}

int run_on_ranks(dist::Communicator& comm, const std::function<int()>& train) {
  if (comm.size() == 1) return train();
  try {
    return train();
  } catch (const std::exception& e) {
    Progress::clear_interrupted();
    std::fprintf(stderr, "stheno train: error on rank %d of %d: %s\n", comm.rank(), comm.size(), e.what());
    comm.abort(1);
  }
}

GlobalLoss::GlobalLoss(dist::Communicator& comm) : comm_(comm), share_(Tensor::zeros({1}, DType::f64)) {}

double GlobalLoss::operator()(double this_ranks_loss) {
  if (comm_.size() == 1) return this_ranks_loss;
  share_.data<double>()[0] = this_ranks_loss;
  comm_.allreduce(share_, dist::ReduceOp::mean, "the step's loss");
  return share_.data<double>()[0];
}

}  // namespace stheno::cli
