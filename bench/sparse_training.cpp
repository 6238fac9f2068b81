// stheno's side of the S2 benchmark (bench/run_sparse.py): training steps of a bag-of-words
// classifier on random sparse batches. An embedding bag (the sparse input times a table, plus a
// bias), ReLU, a linear layer, cross-entropy and SGD; each step feeds the next batch into the
// compiled step and runs it. Prints one JSON object: steps per second and heap allocations per
// step, counted over the timed steps.
//
//   stheno_sparse_training [--features 50000] [--density 0.004] [--batch 128] [--hidden 128]
//                          [--classes 20] [--steps 200] [--threads 1] [--gradient rows|dense]
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "allocation_counter.hpp"
#include "stheno/stheno.hpp"

using namespace stheno;

namespace {

// Each entry stored with probability `density`; values (per-sample weights) uniform in (0, 1].
CsrMatrix random_batch(std::int64_t rows, std::int64_t cols, double density, std::mt19937_64& rng) {
  std::geometric_distribution<std::int64_t> gap(density);
  std::uniform_real_distribution<float> value(0, 1);
  std::vector<std::int32_t> offsets{0}, columns;
  std::vector<float> values;
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = gap(rng); c < cols; c += 1 + gap(rng)) {
      columns.push_back(static_cast<std::int32_t>(c));
      values.push_back(1.0f - value(rng));
    }
    offsets.push_back(static_cast<std::int32_t>(columns.size()));
  }
  return CsrMatrix::from_arrays(rows, cols, Tensor::from<std::int32_t>(offsets), Tensor::from<std::int32_t>(columns),
                                Tensor::from<float>(values));
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t features = 50000, batch = 128, hidden = 128, classes = 20, steps = 200;
  double density = 0.004;
  int threads = 1;
  TableGradient gradient = TableGradient::rows;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) throw ValueError("stheno_sparse_training: " + a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--features") features = std::stoll(next());
    else if (a == "--density") density = std::stod(next());
    else if (a == "--batch") batch = std::stoll(next());
    else if (a == "--hidden") hidden = std::stoll(next());
    else if (a == "--classes") classes = std::stoll(next());
    else if (a == "--steps") steps = std::stoll(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--gradient") gradient = next() == "dense" ? TableGradient::dense : TableGradient::rows;
    else throw ValueError("stheno_sparse_training: unknown argument " + a);
  }
  set_num_threads(threads);
  std::mt19937_64 rng(1);
  std::vector<CsrMatrix> batches;
  std::vector<Tensor> labels;
  std::int64_t capacity = 0;
  for (int b = 0; b < 16; ++b) {
    batches.push_back(random_batch(batch, features, density, rng));
    capacity = std::max(capacity, batches.back().nnz());
    std::vector<std::int32_t> y(static_cast<std::size_t>(batch));
    for (auto& label : y) label = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(classes));
    labels.push_back(Tensor::from<std::int32_t>(y));
  }

  Generator gen(2);
  nn::EmbeddingBag bag(features, hidden, gen, nn::EmbeddingBag::Mode::sum, DType::f32, gradient);
  nn::Linear head(hidden, classes, gen);
  Graph g;
  const CsrNode x = csr_input(g, "x", batch, features, capacity);
  const Node y = g.input("labels", {batch}, DType::i32);
  const Node bias = g.parameter("bias", Tensor::zeros({hidden}));
  const Node loss = nn::cross_entropy(head(relu(bag(x) + bias)), y);
  std::vector<nn::Parameter*> params = nn::parameters_of({&bag, &head});
  std::vector<Node> nodes = nn::nodes_of(g, params);
  std::vector<Tensor> values = nn::values_of(params);
  nodes.push_back(bias);
  values.push_back(bias.value());
  optim::SGD sgd(values, 0.1);
  optim::TrainingStep step(loss, nodes, sgd);

  const auto run_step = [&](std::int64_t i) {
    const auto b = static_cast<std::size_t>(i % 16);
    step.machine().let(x, batches[b]);
    step.machine().bind(y, labels[b]);
    return step.run();
  };
  for (int i = 0; i < 3; ++i) run_step(i);  // warm-up: buffers and scratch reach their size
  stheno::testing::AllocationCounter counter;
  const auto start = std::chrono::steady_clock::now();
  double last_loss = 0;
  for (std::int64_t i = 0; i < steps; ++i) last_loss = run_step(i);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stheno::testing::StepAllocations allocations(false);
  allocations.add(counter, steps);
  std::printf("{\"steps_per_s\": %.2f, %s", static_cast<double>(steps) / seconds, allocations.json().c_str());
  std::printf(", \"loss\": %.4f, \"gradient\": \"%s\", \"threads\": %d, \"nnz_per_batch\": %lld}\n", last_loss,
              gradient == TableGradient::rows ? "rows" : "dense", threads, static_cast<long long>(capacity));
}
