// The Open MPI backend. MPI is initialised when the communicator is made and finalised when it
// is destroyed (at exit, for world()); its errors are returned, not fatal, and become
// DistributedErrors naming the collective, the rank and the tensor. Allreduce is a ring of MPI
// point-to-point messages (ring_allreduce.hpp); the other collectives are MPI's own.
#include <mpi.h>

#include <vector>

#include "dist/collective_checks.hpp"
#include "dist/mpi_common.hpp"
#include "dist/ring_allreduce.hpp"

namespace stheno::dist {

namespace {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // Collectives come from the thread that runs the training step only.
      if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        throw DistributedError("MPI_Init_thread failed: is this process started by a working mpirun?");
      owns_mpi_ = true;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    ring_ = std::make_unique<RingAllreduce>(comm_, rank_, size_);
  }

  ~MpiCommunicator() override {
    ring_.reset();
    MPI_Comm_free(&comm_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string_view backend() const override { return "mpi"; }

  // Ours, not MPI_Allreduce, which allocates a temporary the size of the tensor on every call
  // (ring_allreduce.hpp).
  void allreduce(const Tensor& t, ReduceOp op, std::string_view name) override {
    start_allreduce(t, op, name);
    ring_->wait_all();
  }

  void start_allreduce(const Tensor& t, ReduceOp op, std::string_view name) override {
    check_operand("allreduce", *this, t, name, op == ReduceOp::mean);
    ring_->start(t, op == ReduceOp::mean, name);
  }

  void progress() override { ring_->progress(); }

  void wait_all() override { ring_->wait_all(); }

  void broadcast(const Tensor& t, int root, std::string_view name) override {
    check_operand("broadcast", *this, t, name);
    if (root < 0 || root >= size_)
      throw DistributedError(collective_at("broadcast", *this, t, name) + ": root " + std::to_string(root) +
                             " is not a rank");
    const int code = MPI_Bcast(t.raw_data(), static_cast<int>(t.numel()), mpi_type(t.dtype()), root, comm_);
    if (code != MPI_SUCCESS) throw DistributedError(collective_at("broadcast", *this, t, name) + ": " + mpi_message(code));
  }

  void allgather(const Tensor& in, const Tensor& out, std::string_view name) override {
    check_gathered(*this, in, out, name);
    const int count = static_cast<int>(in.numel());
    const int code = MPI_Allgather(in.raw_data(), count, mpi_type(in.dtype()), out.raw_data(), count,
                                   mpi_type(in.dtype()), comm_);
    if (code != MPI_SUCCESS) throw DistributedError(collective_at("allgather", *this, in, name) + ": " + mpi_message(code));
  }

  void barrier() override {
    const int code = MPI_Barrier(comm_);
    if (code != MPI_SUCCESS)
      throw DistributedError("barrier on rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " +
                             mpi_message(code));
  }


 protected:
  void abort_ranks(int status) override { MPI_Abort(comm_, status); }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false;
  std::unique_ptr<RingAllreduce> ring_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace stheno::dist
