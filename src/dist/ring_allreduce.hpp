#pragma once
// Allreduce as a ring over MPI's point-to-point messages: a reduce-scatter, then an allgather,
// 2(R - 1) steps each moving 1/R of the tensor to the next rank. Started allreduces queue up and
// run one after another; progress() moves them on without blocking, so a training step can
// call it between its instructions and the transfers go on while backward computes. Unlike
// MPI_Allreduce, which allocates a temporary as large as the tensor on every call, the ring
// receives into one scratch buffer that only grows: after the first step, nothing allocates.
// Every rank ends with the same bits: each chunk is summed on one rank, in ring order, and then
// copied to the others. A small tensor (64 KB or less) on a power-of-two number of ranks goes by
// recursive doubling instead: log2 R exchanges of the whole tensor with rank r xor 2^k, half
// the ring's latency on 2 ranks; both sides of an exchange add the same two numbers, and
// addition commutes, so the ranks still agree bit for bit.
#include <mpi.h>

#include <string_view>
#include <vector>

#include "stheno/dist/communicator.hpp"

namespace stheno::dist {

class RingAllreduce {
 public:
  RingAllreduce(MPI_Comm comm, int rank, int size);
  // Queues an in-place sum (or mean) of t; t must stay alive and untouched until it completes.
  // `name` (its first 63 characters) is for errors.
  void start(const Tensor& t, bool mean, std::string_view name);
  // Moves the queued allreduces on as far as they go without waiting.
  void progress();
  // Completes every queued allreduce.
  void wait_all();
  bool idle() const { return head_ == queue_.size(); }

 private:
  struct Op {
    Tensor tensor;
    bool mean = false;
    bool doubling = false;
    int step = 0, steps = 0;  // ring: below R - 1, the reduce-scatter
    char name[64] = {};
  };
  void post(Op& op);
  // After the head's current step has completed: its reduction, then the next step or the end.
  void advance();
  [[noreturn]] void fail(const Op& op, int code) const;

  MPI_Comm comm_;
  int rank_, size_;
  std::vector<Op> queue_;  // started, in order; those before head_ are done
  std::size_t head_ = 0;
  MPI_Request requests_[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
  bool in_flight_ = false;  // the head's step has been posted
  std::vector<unsigned char> scratch_;  // one received chunk; grows only when nothing is in flight
};

}  // namespace stheno::dist
