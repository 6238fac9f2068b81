#include "dist/ring_allreduce.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "stheno/kernels/optim_update.hpp"

namespace stheno::dist {

namespace {

constexpr int kRingTag = 7101;

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i32: return MPI_INT32_T;
    case DType::i64: return MPI_INT64_T;
  }
  return MPI_DATATYPE_NULL;
}

// Chunk c of R: elements [n·c/R, n·(c+1)/R).
std::int64_t chunk_begin(std::int64_t n, int chunk, int ranks) { return n * chunk / ranks; }

void add_into(DType dtype, void* into, const void* from, std::int64_t count) {
  visit_arithmetic(dtype, "allreduce", [&]<class T>() {
    T* out = static_cast<T*>(into);
    const T* in = static_cast<const T*>(from);
    for (std::int64_t i = 0; i < count; ++i) out[i] += in[i];
  });
}

}  // namespace

RingAllreduce::RingAllreduce(MPI_Comm comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {
  queue_.reserve(64);  // a step's buckets; more only on the first step of a larger model
}

void RingAllreduce::start(const Tensor& t, bool mean, std::string_view name) {
  if (size_ == 1) return;  // the sum and the mean of one tensor
  if (idle()) {
    queue_.clear();
    head_ = 0;
  }
  Op& op = queue_.emplace_back();
  op.tensor = t;
  op.mean = mean;
  const std::size_t length = std::min(name.size(), sizeof op.name - 1);
  std::memcpy(op.name, name.data(), length);
  const std::size_t chunk_bytes =
      static_cast<std::size_t>((t.numel() + size_ - 1) / size_) * itemsize(t.dtype());
  if (scratch_.size() < chunk_bytes) scratch_.resize(chunk_bytes);
  progress();
}

void RingAllreduce::post(Op& op) {
  const std::int64_t n = op.tensor.numel();
  const auto element = static_cast<std::int64_t>(itemsize(op.tensor.dtype()));
  auto* data = static_cast<unsigned char*>(op.tensor.raw_data());
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
  int code = MPI_Irecv(recv_into, recv_count, mpi_type(op.tensor.dtype()), left, kRingTag, comm_, &requests_[0]);
  if (code == MPI_SUCCESS)
    code = MPI_Isend(data + send_from * element, send_count, mpi_type(op.tensor.dtype()), right, kRingTag, comm_,
                     &requests_[1]);
  if (code != MPI_SUCCESS) fail(op, code);
  in_flight_ = true;
}

void RingAllreduce::advance() {
  Op& op = queue_[head_];
  in_flight_ = false;
  if (op.step < size_ - 1) {
    const std::int64_t n = op.tensor.numel();
    const int chunk = ((rank_ - op.step - 1) % size_ + size_) % size_;
    const std::int64_t from = chunk_begin(n, chunk, size_);
    add_into(op.tensor.dtype(),
             static_cast<unsigned char*>(op.tensor.raw_data()) + from * static_cast<std::int64_t>(itemsize(op.tensor.dtype())),
             scratch_.data(), chunk_begin(n, chunk + 1, size_) - from);
  }
  if (++op.step == 2 * (size_ - 1)) {
    if (op.mean) scale_gradient(op.tensor, 1.0 / size_);
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
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  std::string what = "allreduce of ";
  if (op.name[0]) what += std::string(op.name) + " ";
  what += op.tensor.shape().str() + " " + std::string(dtype_name(op.tensor.dtype())) + " on rank " +
          std::to_string(rank_) + " of " + std::to_string(size_) + " (ring step " + std::to_string(op.step + 1) +
          " of " + std::to_string(2 * (size_ - 1)) + "): " + std::string(text, static_cast<std::size_t>(length));
  throw DistributedError(what);
}

}  // namespace stheno::dist
