#pragma once
// Embeddings and recurrent layers. Sequences are batch-first, (N, T, features). A layer unrolls
// the T steps into the graph: a deferred graph compiles one fixed length for the tape machine,
// an eager graph takes a new length with every input.
//
//   nn::Embedding embed(vocab, 64, gen);
//   nn::LSTM lstm(64, 128, gen);
//   Node h = lstm(embed(tokens));            // tokens int32 (N, T) -> h (N, T, 128)
#include "stheno/nn/module.hpp"

namespace stheno::nn {

// int32 indices (any shape) -> their rows of a (vocabulary, dim) table: (indices..., dim).
// With TableGradient::rows the table's gradient is row-sparse (graph/ops.hpp): the rows a step
// looked up, for an optimizer that updates those alone (optim::SGD, AdaGrad, SparseAdam).
class Embedding final : public Module {
 public:
  Embedding(std::int64_t vocabulary, std::int64_t dim, Generator& gen, DType dtype = DType::f32,
            TableGradient gradient = TableGradient::dense);
  Node forward(const Node& indices) override;
  std::vector<Parameter*> parameters() override { return {&weight_}; }
  Parameter& weight() { return weight_; }

 private:
  Parameter weight_;
  TableGradient gradient_;
};

// Bags of rows of a (vocabulary, dim) table, each reduced to one row: the sum or the mean of its
// rows, each weighted by its per-sample weight. A bag-of-words layer: a (batch, vocabulary)
// sparse input times the table, without forming the dense input.
//  - forward(indices): int32 (bags, length), one bag per row, all weights 1.
//  - forward(bags): a sparse (bags, vocabulary) matrix (graph/ops.hpp, CsrNode), row i holding bag
//    i's indices as columns and their per-sample weights as values; bags may differ in length,
//    and an empty bag gives a zero row.
// Both give (bags, dim). Mean is the weighted mean, Σ w·row / Σ w: with unit weights, the bag's
// average over its entries, repeats included (CsrMatrix stores a repeated index once, with the
// weights summed, so dividing by the stored entries would be wrong).
class EmbeddingBag final : public Module {
 public:
  enum class Mode { sum, mean };
  EmbeddingBag(std::int64_t vocabulary, std::int64_t dim, Generator& gen, Mode mode = Mode::sum,
               DType dtype = DType::f32, TableGradient gradient = TableGradient::dense);
  Node forward(const Node& indices) override;
  Node forward(const CsrNode& bags);
  using Module::operator();
  Node operator()(const CsrNode& bags) { return forward(bags); }
  std::vector<Parameter*> parameters() override { return {&weight_}; }
  Parameter& weight() { return weight_; }

 private:
  std::string describe() const;
  Parameter weight_;
  Mode mode_;
  TableGradient gradient_;
};

// Long short-term memory: weight_ih (input, 4·hidden), weight_hh (hidden, 4·hidden), bias
// (4·hidden), gates in the order input, forget, cell, output.
class LSTM final : public Module {
 public:
  LSTM(std::int64_t input, std::int64_t hidden, Generator& gen, DType dtype = DType::f32);
  // x (N, T, input) -> every step's h, (N, T, hidden), from a zero state.
  Node forward(const Node& x) override;
  // As above from `state` (undefined parts: zeros); `state` receives the last step's state.
  Node forward(const Node& x, RecurrentState& state);
  std::vector<Parameter*> parameters() override { return {&weight_ih_, &weight_hh_, &bias_}; }
  std::int64_t hidden() const { return hidden_; }

 private:
  Parameter weight_ih_, weight_hh_, bias_;
  std::int64_t input_, hidden_;
};

// Gated recurrent unit: weight_ih (input, 3·hidden), weight_hh (hidden, 3·hidden), bias_ih and
// bias_hh (3·hidden), gates in the order reset, update, new.
class GRU final : public Module {
 public:
  GRU(std::int64_t input, std::int64_t hidden, Generator& gen, DType dtype = DType::f32);
  Node forward(const Node& x) override;
  Node forward(const Node& x, RecurrentState& state);
  std::vector<Parameter*> parameters() override { return {&weight_ih_, &weight_hh_, &bias_ih_, &bias_hh_}; }
  std::int64_t hidden() const { return hidden_; }

 private:
  Parameter weight_ih_, weight_hh_, bias_ih_, bias_hh_;
  std::int64_t input_, hidden_;
};

}  // namespace stheno::nn
