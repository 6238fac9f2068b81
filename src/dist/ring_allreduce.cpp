#include "dist/ring_allreduce.hpp"

#include <bit>
#include <string>

#include "dist/mpi_common.hpp"

namespace stheno::dist {

namespace {

constexpr int kRingTag = 7101;
constexpr std::size_t kDoublingBytes = 64 << 10;

// Chunk c of R: elements [n·c/R, n·(c+1)/R).
std::int64_t chunk_begin(std::int64_t n, int chunk, int ranks) { return n * chunk / ranks; }

// into += from, then × scale (a mean's 1/R, on the chunk this rank finishes; else 1).
void add_into(DType dtype, void* into, const void* from, std::int64_t count, double scale) {
  visit_arithmetic(dtype, "allreduce", [&]<class T>() {
    T* out = static_cast<T*>(into);
    const T* in = static_cast<const T*>(from);
    if (scale == 1) {
      for (std::int64_t i = 0; i < count; ++i) out[i] += in[i];
    } else {
      const auto factor = static_cast<T>(scale);
      for (std::int64_t i = 0; i < count; ++i) out[i] = (out[i] + in[i]) * factor;
    }
  });
}

}  // namespace

RingAllreduce::RingAllreduce(MPI_Comm comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {
  queue_.reserve(64);  // a step's buckets; more only on the first step of a larger model
}

void RingAllreduce::start(const Tensor& t, bool mean, std::string_view name) {
  if (size_ == 1) return;  // the sum and the mean of one tensor
  const std::size_t bytes = static_cast<std::size_t>(t.numel()) * itemsize(t.dtype());
  const bool doubling = (size_ & (size_ - 1)) == 0 && bytes <= kDoublingBytes;
  const std::size_t received =
      doubling ? bytes : static_cast<std::size_t>((t.numel() + size_ - 1) / size_) * itemsize(t.dtype());
  if (scratch_.size() < received) {
    wait_all();  // a step in flight may be receiving into the scratch buffer: it must not move
    scratch_.resize(received);
  }
  if (idle()) {
    queue_.clear();
    head_ = 0;
  }
  Op& op = queue_.emplace_back();
  op.tensor = t;
  op.mean = mean;
  op.doubling = doubling;
  op.steps = doubling ? std::countr_zero(static_cast<unsigned>(size_)) : 2 * (size_ - 1);
  name.copy(op.name, sizeof op.name - 1);
  progress();
}

void RingAllreduce::post(Op& op) {
  const std::int64_t n = op.tensor.numel();
  const auto element = static_cast<std::int64_t>(itemsize(op.tensor.dtype()));
  auto* data = static_cast<unsigned char*>(op.tensor.raw_data());
  const MPI_Datatype type = mpi_type(op.tensor.dtype());
  if (op.doubling) {
    const int partner = rank_ ^ (1 << op.step);
    int code = MPI_Irecv(scratch_.data(), static_cast<int>(n), type, partner, kRingTag, comm_, &requests_[0]);
    if (code == MPI_SUCCESS) code = MPI_Isend(data, static_cast<int>(n), type, partner, kRingTag, comm_, &requests_[1]);
    if (code != MPI_SUCCESS) fail(op, code);
    in_flight_ = true;
    return;
  }
  const int right = (rank_ + 1) % size_, left = (rank_ + size_ - 1) % size_;
  const bool reducing = op.step < size_ - 1;
  const int k = reducing ? op.step : op.step - (size_ - 1);
  // Reduce-scatter: pass on chunk r - k, take in (and add) chunk r - k - 1. Allgather: pass on
  // the finished chunk r + 1 - k, take in the finished chunk r - k.
  const int send_chunk = ((reducing ? rank_ - k : rank_ + 1 - k) % size_ + size_) % size_;
  const int recv_chunk = ((reducing ? rank_ - k - 1 : rank_ - k) % size_ + size_) % size_;
  const std::int64_t send_from = chunk_begin(n, send_chunk, size_), recv_from = chunk_begin(n, recv_chunk, size_);
  const auto send_count = static_cast<int>(chunk_begin(n, send_chunk + 1, size_) - send_from);
  const auto recv_count = static_cast<int>(chunk_begin(n, recv_chunk + 1, size_) - recv_from);
  void* recv_into = reducing ? static_cast<void*>(scratch_.data()) : data + recv_from * element;
  int code = MPI_Irecv(recv_into, recv_count, type, left, kRingTag, comm_, &requests_[0]);
  if (code == MPI_SUCCESS)
    code = MPI_Isend(data + send_from * element, send_count, type, right, kRingTag, comm_, &requests_[1]);
  if (code != MPI_SUCCESS) fail(op, code);
  in_flight_ = true;
}

void RingAllreduce::advance() {
  Op& op = queue_[head_];
  in_flight_ = false;
  if (op.doubling) {
    add_into(op.tensor.dtype(), op.tensor.raw_data(), scratch_.data(), op.tensor.numel(),
             op.step + 1 == op.steps && op.mean ? 1.0 / size_ : 1.0);
  } else if (op.step < size_ - 1) {
    const std::int64_t n = op.tensor.numel();
    const int chunk = ((rank_ - op.step - 1) % size_ + size_) % size_;
    const std::int64_t from = chunk_begin(n, chunk, size_);
    // The last reduce step finishes this rank's chunk: a mean divides it here, once, before the
    // allgather hands it on, so every rank holds the same quotient.
    const bool finishing = op.step == size_ - 2;
    add_into(op.tensor.dtype(),
             static_cast<unsigned char*>(op.tensor.raw_data()) + from * static_cast<std::int64_t>(itemsize(op.tensor.dtype())),
             scratch_.data(), chunk_begin(n, chunk + 1, size_) - from, finishing && op.mean ? 1.0 / size_ : 1.0);
  }
  if (++op.step == op.steps) {
    op.tensor = Tensor();  // the caller's tensor is its own again
    ++head_;
  }
}

void RingAllreduce::progress() {
  while (!idle()) {
    if (!in_flight_) {
      post(queue_[head_]);
      continue;
    }
    int done = 0;
    const int code = MPI_Testall(2, requests_, &done, MPI_STATUSES_IGNORE);
    if (code != MPI_SUCCESS) fail(queue_[head_], code);
    if (!done) return;
    advance();
  }
}

void RingAllreduce::wait_all() {
  while (!idle()) {
    if (!in_flight_) post(queue_[head_]);
    const int code = MPI_Waitall(2, requests_, MPI_STATUSES_IGNORE);
    if (code != MPI_SUCCESS) fail(queue_[head_], code);
    advance();
  }
}

void RingAllreduce::fail(const Op& op, int code) const {
  std::string what = "allreduce of ";
  if (op.name[0]) what += std::string(op.name) + " ";
  what += op.tensor.shape().str() + " " + std::string(dtype_name(op.tensor.dtype())) + " on rank " +
          std::to_string(rank_) + " of " + std::to_string(size_) + " (step " + std::to_string(op.step + 1) + " of " +
          std::to_string(op.steps) + "): " + mpi_message(code);
  throw DistributedError(what);
}

}  // namespace stheno::dist
