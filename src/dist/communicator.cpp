#include "stheno/dist/communicator.hpp"

#include <cstdio>
#include <cstdlib>

#include "dist/collective_checks.hpp"

namespace stheno::dist {

#ifdef STHENO_HAS_MPI
std::unique_ptr<Communicator> make_mpi_communicator();  // mpi_communicator.cpp
#endif

namespace {

// One rank: a sum or mean over one process, a broadcast from itself and a gather of one leave
// the tensors as they are. The operands are checked as on MPI, so that a mistake shows in a
// single-process run too.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string_view backend() const override { return "single"; }
  void allreduce(const Tensor& t, ReduceOp op, std::string_view name) override {
    check_operand("allreduce", *this, t, name, op == ReduceOp::mean);
  }
  void start_allreduce(const Tensor& t, ReduceOp op, std::string_view name) override { allreduce(t, op, name); }
  void wait_all() override {}
  void broadcast(const Tensor& t, int root, std::string_view name) override {
    check_operand("broadcast", *this, t, name);
    if (root != 0)
      throw DistributedError(collective_at("broadcast", *this, t, name) + ": root " + std::to_string(root) +
                             " is not a rank");
  }
  void allgather(const Tensor& in, const Tensor& out, std::string_view name) override {
    check_gathered(*this, in, out, name);
    out.select(0, 0).copy_from(in);
  }
  void barrier() override {}

 protected:
  void abort_ranks(int) override {}
};

// Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx-based launchers set PMIX_RANK.
bool started_by_mpirun() { return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK"); }

}  // namespace

void Communicator::abort(int status) {
  std::fflush(nullptr);  // the error message this rank just wrote
  abort_ranks(status);
  std::_Exit(status);
}

std::unique_ptr<Communicator> single_process() { return std::make_unique<SingleProcess>(); }

bool mpi_built() {
#ifdef STHENO_HAS_MPI
  return true;
#else
  return false;
#endif
}

Communicator& world() {
  static const std::unique_ptr<Communicator> instance = [] {
    if (!started_by_mpirun()) return single_process();
#ifdef STHENO_HAS_MPI
    return make_mpi_communicator();
#else
    throw DistributedError("this process was started by mpirun, but this build of stheno has no MPI backend "
                           "(install libopenmpi-dev and build again)");
#endif
  }();
  return *instance;
}

}  // namespace stheno::dist
