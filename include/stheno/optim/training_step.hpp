#pragma once
// A training step compiled once: the gradients of a loss with respect to parameter nodes are
// added to the graph, loss and gradients are compiled into one tape-machine program, and every
// run() executes it and updates the parameters in place. After the first run nothing allocates.
//
//   Graph g;
//   Node x = g.input("x", {64, 784}), y = g.input("labels", {64}, DType::i32);
//   Node loss = nn::cross_entropy(net(x), y);
//   optim::Adam adam(values_of(params), 1e-3);
//   optim::TrainingStep step(loss, parameter_nodes, adam);
//   step.machine().bind(x, batch.inputs); step.machine().bind(y, batch.labels);
//   double l = step.run();
#include <memory>
#include <vector>

#include "stheno/exec/tape_machine.hpp"
#include "stheno/graph/ops.hpp"
#include "stheno/optim/optimizer.hpp"

namespace stheno::dist {
class Communicator;
}

namespace stheno::optim {

// How data-parallel training groups gradients for the allreduce: buckets of about `bytes`,
// filled in the order backward produces the gradients, the first one smaller so that the
// network has work while backward is still at the last layers. A gradient larger than a bucket
// has one of its own.
struct BucketSizes {
  std::size_t first_bytes = std::size_t{1} << 20;
  std::size_t bytes = std::size_t{4} << 20;
};

class TrainingStep {
 public:
  // `parameters` are parameter nodes of loss's graph, in the order of the optimizer's tensors.
  // `extra_outputs` are other nodes to compute in the same run (readable with machine().value()).
  TrainingStep(const Node& loss, const std::vector<Node>& parameters, Optimizer& optimizer,
               const std::vector<Node>& extra_outputs = {}, CompileOptions options = {});

  TapeMachine& machine() { return *machine_; }
  // Data-parallel training: every rank runs this step on its equal share of the global batch,
  // and the gradients are averaged over the ranks before each update, so the ranks take the
  // steps one process would take on the global batch (to rounding: sums run in another order).
  // Broadcasts the parameters and the optimizer's state from rank 0 now (call it after a resume
  // too); never averages them. run()'s loss is then this rank's share's.
  //
  // The first call lays the gradients out in buckets (`buckets`; later calls keep them): as
  // soon as backward has written a bucket's last gradient, the program copies it in and starts
  // the bucket's allreduce, which goes on while backward computes the rest; the update waits
  // for them all. The listing shows where each bucket starts; nothing allocates per step. The
  // program must run on the host. Row-sparse gradients are not reduced yet: a table with
  // TableGradient::rows is a ValueError naming it.
  void distribute(dist::Communicator& comm, BucketSizes buckets = {});
  // Before each update, scale the gradients so that their global L2 norm is at most max_norm
  // (0: never).
  void set_clip_norm(double max_norm) { clip_norm_ = max_norm; }
  // Runs the program, steps the optimizer and returns the loss.
  double run();
  // run() in two halves: launch() runs the program and the update (on a device: queues them and
  // returns), finish() returns the loss, waiting for it. Between the two, machine().stage() can
  // send the next batch while this step computes.
  void launch();
  double finish();
  // The gradient nodes grad() added, in parameter order, each laid out contiguous (a copy only
  // where grad() gave a strided view). Where one has a rows form
  // (graph/ops.hpp, TableGradient::rows) the program computes that form instead, and passes the
  // optimizer the row-sparse gradient: the dense node is not computed. Where the form's values
  // are a sparse product (an embedding bag's table), the program stops at the product's
  // operands and the optimizer forms the rows as it applies them (kernels/optim_update.hpp).
  // Likewise, where a dense gradient is a product of two matrices (a weight's xᵀ·δ) and the
  // optimizer applies products (Optimizer::applies_products), the program stops at the two
  // operands and the update adds their product straight into the parameter (or its velocity):
  // the gradient is never written out. With clipping or data-parallel training it is formed
  // first, since those need its numbers.
  const std::vector<Node>& gradients() const { return gradients_; }
  // The operands {a, b} when parameter i's gradient goes to the optimizer as the product a·b;
  // empty otherwise.
  const std::vector<Node>& product_form(std::size_t i) const { return products_[i]; }
  // The rows form of parameter i's gradient, if it has one.
  const std::optional<RowSparseNode>& rows_form(std::size_t i) const { return rows_forms_[i]; }

 private:
  Node loss_;
  Optimizer& optimizer_;
  std::vector<Node> gradients_;
  std::vector<std::optional<RowSparseNode>> rows_forms_;
  std::vector<std::vector<Node>> products_;
  std::unique_ptr<TapeMachine> machine_;
  std::vector<Gradient> gradient_values_;
  // With clipping: the gradients with each product's block formed, and what clipping scales.
  std::vector<Gradient> clipped_values_;
  std::vector<Tensor> clipped_numbers_;
  double clip_norm_ = 0;
  // Whether steps on a device that can record them (CUDA) go as one recorded launch: not while
  // profiling or watching for NaN (they time or read each instruction), nor with clipping (it
  // reads the gradients' norm mid-step).
  bool recordable_ = true;
  std::int64_t launched_ = 0;
  dist::Communicator* comm_ = nullptr;
  // Data-parallel: each bucket's tensor and how many of its gradients a run has yet to write.
  struct Bucket {
    Tensor values;
    int gradients = 0, waiting = 0;
  };
  std::vector<Bucket> buckets_;
  std::vector<Tensor> held_operands_;  // per gradient given as a product: its earlier operand this run
  void lay_out_buckets(BucketSizes sizes);
};

}  // namespace stheno::optim
