#include "stheno/nn/recurrent.hpp"

#include <cmath>

namespace stheno::nn {

namespace {

// U(±1/sqrt(hidden)), the usual recurrent initialisation: keeps the gates away from saturation.
Tensor recurrent_uniform(const Shape& shape, std::int64_t hidden, Generator& gen, DType dtype) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  return Tensor::uniform(shape, gen, -bound, bound, dtype);
}

std::string layer_name(const char* kind, std::int64_t input, std::int64_t hidden) {
  return std::string(kind) + "(" + std::to_string(input) + " -> " + std::to_string(hidden) + ")";
}

void check_sizes(const char* kind, std::int64_t input, std::int64_t hidden) {
  if (input < 1 || hidden < 1) throw ShapeError(layer_name(kind, input, hidden) + ": sizes must be positive");
}

// Runs the layer's graph function, putting the layer's name in front of any shape error.
template <class Fn>
Node named(const char* kind, std::int64_t input, std::int64_t hidden, Fn&& fn) {
  try {
    return fn();
  } catch (const ShapeError& e) {
    throw ShapeError(layer_name(kind, input, hidden) + ": " + e.what());
  }
}

}  // namespace

Embedding::Embedding(std::int64_t vocabulary, std::int64_t dim, Generator& gen, DType dtype, TableGradient gradient)
    : gradient_(gradient) {
  if (vocabulary < 1 || dim < 1)
    throw ShapeError("Embedding(" + std::to_string(vocabulary) + ", " + std::to_string(dim) + "): sizes must be positive");
  weight_ = {"weight", Tensor::normal({vocabulary, dim}, gen, 0.0, 1.0, dtype)};
}

Node Embedding::forward(const Node& indices) {
  if (indices.dtype() != DType::i32)
    throw DTypeError("Embedding(" + std::to_string(weight_.value.shape()[0]) + ", " +
                     std::to_string(weight_.value.shape()[1]) + "): indices " + indices.describe() + " must be int32");
  return embedding(node_of(weight_, indices), indices, gradient_);
}

EmbeddingBag::EmbeddingBag(std::int64_t vocabulary, std::int64_t dim, Generator& gen, Mode mode, DType dtype,
                           TableGradient gradient)
    : mode_(mode), gradient_(gradient) {
  if (vocabulary < 1 || dim < 1)
    throw ShapeError("EmbeddingBag(" + std::to_string(vocabulary) + ", " + std::to_string(dim) +
                     "): sizes must be positive");
  weight_ = {"weight", Tensor::normal({vocabulary, dim}, gen, 0.0, 1.0, dtype)};
}

std::string EmbeddingBag::describe() const {
  return "EmbeddingBag(" + std::to_string(weight_.value.shape()[0]) + ", " + std::to_string(weight_.value.shape()[1]) +
         ", " + (mode_ == Mode::sum ? "sum" : "mean") + ")";
}

Node EmbeddingBag::forward(const Node& indices) {
  if (indices.dtype() != DType::i32 || indices.rank() != 2)
    throw DTypeError(describe() + ": indices " + indices.describe() + " must be int32 (bags, length)");
  const Node rows = embedding(node_of(weight_, indices), indices, gradient_);
  return mode_ == Mode::sum ? sum(rows, 1) : mean(rows, 1);
}

Node EmbeddingBag::forward(const CsrNode& bags) {
  const Tensor& table = weight_.value;
  if (!bags.values.defined() || bags.cols != table.shape()[0] || bags.values.dtype() != table.dtype())
    throw ShapeError(describe() + ": the bags must be a sparse matrix of " + std::to_string(table.shape()[0]) +
                     " columns with " + std::string(dtype_name(table.dtype())) + " weights, got " +
                     std::to_string(bags.cols) + " columns and weights " +
                     (bags.values.defined() ? bags.values.describe() : std::string("undefined")));
  const Node summed = sparse_matmul(bags, node_of(weight_, bags.values), gradient_);
  if (mode_ == Mode::sum) return summed;
  // Each bag's total weight (its length, with unit weights), as the bag matrix times a column of
  // ones; an empty bag divides its zero row by 1.
  const Node total = sparse_matmul(bags, bags.values.graph().constant(Tensor::ones({bags.cols, 1}, table.dtype())));
  return summed / (total + (1.0 - sign(abs(total))));
}

LSTM::LSTM(std::int64_t input, std::int64_t hidden, Generator& gen, DType dtype) : input_(input), hidden_(hidden) {
  check_sizes("LSTM", input, hidden);
  weight_ih_ = {"weight_ih", recurrent_uniform({input, 4 * hidden}, hidden, gen, dtype)};
  weight_hh_ = {"weight_hh", recurrent_uniform({hidden, 4 * hidden}, hidden, gen, dtype)};
  bias_ = {"bias", recurrent_uniform({4 * hidden}, hidden, gen, dtype)};
}

Node LSTM::forward(const Node& x) {
  RecurrentState state;
  return forward(x, state);
}

Node LSTM::forward(const Node& x, RecurrentState& state) {
  return named("LSTM", input_, hidden_, [&] {
    return lstm(x, node_of(weight_ih_, x), node_of(weight_hh_, x), node_of(bias_, x), state);
  });
}

GRU::GRU(std::int64_t input, std::int64_t hidden, Generator& gen, DType dtype) : input_(input), hidden_(hidden) {
  check_sizes("GRU", input, hidden);
  weight_ih_ = {"weight_ih", recurrent_uniform({input, 3 * hidden}, hidden, gen, dtype)};
  weight_hh_ = {"weight_hh", recurrent_uniform({hidden, 3 * hidden}, hidden, gen, dtype)};
  bias_ih_ = {"bias_ih", recurrent_uniform({3 * hidden}, hidden, gen, dtype)};
  bias_hh_ = {"bias_hh", recurrent_uniform({3 * hidden}, hidden, gen, dtype)};
}

Node GRU::forward(const Node& x) {
  RecurrentState state;
  return forward(x, state);
}

Node GRU::forward(const Node& x, RecurrentState& state) {
  return named("GRU", input_, hidden_, [&] {
    return gru(x, node_of(weight_ih_, x), node_of(weight_hh_, x), node_of(bias_ih_, x), node_of(bias_hh_, x), state);
  });
}

}  // namespace stheno::nn
