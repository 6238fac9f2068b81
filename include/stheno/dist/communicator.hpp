#pragma once
// Collectives across the processes of a data-parallel run, one process per rank: allreduce,
// broadcast, allgather and barrier on contiguous host tensors. Two backends: Open MPI, for a
// process started by mpirun, and a single process, where every collective leaves its tensors as
// they are, so that code written for N ranks runs unchanged in one. The interface has room for
// a device backend (NCCL on CUDA): tensors, not pointers, cross it.
//
//   dist::Communicator& comm = dist::world();
//   comm.allreduce(gradient, dist::ReduceOp::mean);  // every rank now holds the mean
#include <memory>
#include <string>
#include <string_view>

#include "stheno/tensor/tensor.hpp"

namespace stheno::dist {

// A collective that failed or cannot run: the message names the collective, the rank, the
// number of ranks and the tensor.
class DistributedError : public Error {
 public:
  using Error::Error;
};

enum class ReduceOp { sum, mean };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "mpi" or "single".
  virtual std::string_view backend() const = 0;

  // In place: t becomes the sum, or the mean, of t over the ranks; every rank passes a tensor of
  // the same shape and dtype (float32 or float64; int32 for sums). `name` is for errors. Every
  // rank ends with the same bits. Started allreduces complete first.
  virtual void allreduce(const Tensor& t, ReduceOp op = ReduceOp::sum, std::string_view name = {}) = 0;
  // The same, started and left to run while the caller goes on; wait_all() completes every
  // started one, in the order they were started, which must be the same on every rank. The
  // tensors must stay alive and untouched until then. progress() moves them on without waiting:
  // call it between pieces of other work (the training step does, between instructions), since
  // MPI moves data only inside its calls. After the first of a size, none allocates.
  virtual void start_allreduce(const Tensor& t, ReduceOp op, std::string_view name = {}) = 0;
  virtual void progress() {}
  virtual void wait_all() = 0;
  // In place: every rank's t becomes root's.
  virtual void broadcast(const Tensor& t, int root = 0, std::string_view name = {}) = 0;
  // out (size(), in's shape...): out[r] becomes rank r's `in`.
  virtual void allgather(const Tensor& in, const Tensor& out, std::string_view name = {}) = 0;
  virtual void barrier() = 0;
  // Ends every rank's process with `status`. For an error on one rank: the others, waiting in a
  // collective for it, would otherwise wait forever.
  [[noreturn]] void abort(int status);

 protected:
  // Asks the launcher to end every rank (MPI_Abort); abort() ends this process if it returns.
  virtual void abort_ranks(int status) = 0;
};

// This process's communicator, made on first use: Open MPI when the process was started by
// mpirun and this build has the MPI backend, one process otherwise. A process started by mpirun
// in a build without MPI gets a DistributedError saying so, rather than training alone.
Communicator& world();
// A communicator of one process, whatever launched this one.
std::unique_ptr<Communicator> single_process();
// Whether this build has the MPI backend.
bool mpi_built();

}  // namespace stheno::dist
