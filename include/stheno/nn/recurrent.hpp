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
class Embedding final : public Module {
 public:
  Embedding(std::int64_t vocabulary, std::int64_t dim, Generator& gen, DType dtype = DType::f32);
  Node forward(const Node& indices) override;
  std::vector<Parameter*> parameters() override { return {&weight_}; }
  Parameter& weight() { return weight_; }

 private:
  Parameter weight_;
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
