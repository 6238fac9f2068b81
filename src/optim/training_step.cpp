#include "stheno/optim/training_step.hpp"

#include <algorithm>
#include <exception>

#include "stheno/dist/communicator.hpp"
#include "stheno/kernels/backend.hpp"
#include "stheno/kernels/linalg.hpp"
#include "stheno/kernels/sparse.hpp"
#include "stheno/kernels/threads.hpp"

namespace stheno::optim {

namespace {

// The operands of a rows form's values when they are Aᵀ·B at the row set (an embedding bag's
// table): A's three arrays and B. The program computes those, not the block, and the optimizer
// forms the block's rows as it updates (kernels/optim_update.hpp RowGradient).
std::vector<Node> product_operands(const std::optional<RowSparseNode>& form) {
  if (!form) return {};
  Node values = form->values;
  while (values.op() && values.op()->kind() == OpKind::laid_out) values = values.input(0);  // a layout, not a value
  if (!values.op() || values.op()->kind() != OpKind::csr_t_matmul_at_rows || values.input(4).id() != form->rows.id())
    return {};
  return {values.input(0), values.input(1), values.input(2), values.input(3)};
}

// The operands a and b when a dense gradient is the product a·b of two matrices (a weight's
// xᵀ·δ): the program stops at them and the optimizer adds the product into the parameter. Not
// when an operand is (a view of) a parameter: the updates run one after another, and an earlier
// one would change it under a later one.
std::vector<Node> matmul_operands(const Node& gradient) {
  Node g = gradient;
  while (g.op() && g.op()->kind() == OpKind::laid_out) g = g.input(0);
  if (!g.op() || g.op()->kind() != OpKind::matmul || g.input(0).rank() != 2 || g.input(1).rank() != 2) return {};
  for (Node source : {g.input(0), g.input(1)}) {
    while (source.op() && source.op()->is_view()) source = source.input(0);
    if (source.kind() == NodeKind::parameter) return {};
  }
  return {g.input(0), g.input(1)};
}

std::vector<Node> program_outputs(const Node& loss, const std::vector<Node>& gradients,
                                  const std::vector<std::optional<RowSparseNode>>& rows_forms,
                                  const std::vector<std::vector<Node>>& products, const std::vector<Node>& extra) {
  std::vector<Node> out{loss};
  for (std::size_t i = 0; i < gradients.size(); ++i) {
    if (!products[i].empty()) {
      out.insert(out.end(), products[i].begin(), products[i].end());
    } else if (const std::vector<Node> product = product_operands(rows_forms[i]); !product.empty()) {
      out.push_back(rows_forms[i]->rows);
      out.insert(out.end(), product.begin(), product.end());
    } else if (rows_forms[i]) {
      out.push_back(rows_forms[i]->rows);
      out.push_back(rows_forms[i]->values);
    } else {
      out.push_back(gradients[i]);
    }
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

}  // namespace

TrainingStep::TrainingStep(const Node& loss, const std::vector<Node>& parameters, Optimizer& optimizer,
                           const std::vector<Node>& extra_outputs, CompileOptions options)
    : loss_(loss), optimizer_(optimizer), recordable_(!options.profile && !options.watch_nan) {
  if (parameters.size() != optimizer.params().size())
    throw ValueError("TrainingStep: " + std::to_string(parameters.size()) + " parameter nodes but the optimizer holds " +
                     std::to_string(optimizer.params().size()) + " tensors");
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& held = optimizer.params()[i];
    if (parameters[i].kind() != NodeKind::parameter || !parameters[i].value().shares_storage(held) ||
        parameters[i].shape() != held.shape())
      throw ValueError("TrainingStep: " + parameters[i].describe() + " is not the parameter the optimizer holds at index " +
                       std::to_string(i));
  }
  optimizer.set_flush_subnormals(options.flush_subnormals);  // its updates follow the program's mode
  gradients_ = grad(loss, parameters);
  for (std::size_t i = 0; i < gradients_.size(); ++i) {
    rows_forms_.push_back(row_sparse_form(gradients_[i]));
    // The updates read gradients as dense arrays; one that is a strided view (of a parameter used
    // transposed, as ONNX's Gemm with transB uses its weight) is copied by the program, which plans
    // that copy like any instruction. Already contiguous, it stays the same memory.
    if (!rows_forms_.back()) gradients_[i] = laid_out(gradients_[i], Layout::contiguous);
    if (rows_forms_.back() && !optimizer.takes_row_sparse())
      throw ValueError("TrainingStep: " + parameters[i].describe() + " has a row-sparse gradient (TableGradient::rows), "
                       "which " + optimizer.name() + " cannot apply to the touched rows alone; use sgd, momentum, "
                       "adagrad or sparse_adam, or TableGradient::dense");
    products_.push_back(!rows_forms_.back() && optimizer.applies_products() ? matmul_operands(gradients_[i])
                                                                             : std::vector<Node>{});
  }
  machine_ = std::make_unique<TapeMachine>(loss.graph(),
                                           program_outputs(loss, gradients_, rows_forms_, products_, extra_outputs), options);
}

void TrainingStep::distribute(dist::Communicator& comm, BucketSizes buckets) {
  for (std::size_t i = 0; i < rows_forms_.size(); ++i)
    if (rows_forms_[i])
      throw ValueError("TrainingStep::distribute: " + gradients_[i].describe() + " is the row-sparse gradient of a "
                       "table (TableGradient::rows), which data-parallel training does not reduce yet; use "
                       "TableGradient::dense");
  if (!machine_->device().is_host())
    throw ValueError("TrainingStep::distribute: the program runs on " + machine_->device().str() +
                     "; data-parallel training reduces gradients on the host");
  if (buckets.first_bytes == 0 || buckets.bytes == 0)
    throw ValueError("TrainingStep::distribute: bucket sizes must be at least 1 byte");
  for (std::size_t i = 0; i < optimizer_.params().size(); ++i)
    comm.broadcast(optimizer_.params()[i], 0, "parameter " + std::to_string(i));
  for (const StateTensor& s : optimizer_.state()) comm.broadcast(s.value, 0, "optimizer state " + s.name);
  comm_ = &comm;
  if (buckets_.empty()) lay_out_buckets(buckets);
}

void TrainingStep::lay_out_buckets(BucketSizes sizes) {
  // The gradients in the order the program computes them.
  std::vector<std::size_t> order(gradients_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // A gradient given as a product is formed into its bucket once both operands are computed.
  std::vector<Node> ready(gradients_.size());
  for (std::size_t i = 0; i < ready.size(); ++i)
    ready[i] = products_[i].empty() ? gradients_[i]
               : machine_->instruction_of(products_[i][0]) > machine_->instruction_of(products_[i][1]) ? products_[i][0]
                                                                                                      : products_[i][1];
  std::vector<int> position(gradients_.size());
  for (std::size_t i = 0; i < order.size(); ++i) position[i] = machine_->instruction_of(ready[i]);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return position[a] < position[b]; });

  // Each gradient's bucket and offset there, in elements.
  struct Slot {
    std::size_t bucket;
    std::int64_t offset;
  };
  std::vector<Slot> slots(gradients_.size());
  std::vector<std::int64_t> elements;
  std::vector<DType> dtypes;
  std::size_t bytes_in_last = 0;
  for (const std::size_t i : order) {
    const Node& g = gradients_[i];
    const std::size_t bytes = static_cast<std::size_t>(g.shape().numel()) * itemsize(g.dtype());
    const std::size_t cap = elements.size() <= 1 ? sizes.first_bytes : sizes.bytes;
    const bool fits = !elements.empty() && dtypes.back() == g.dtype() && bytes_in_last + bytes <= cap;
    if (!fits) {
      elements.push_back(0);
      dtypes.push_back(g.dtype());
      bytes_in_last = 0;
    }
    slots[i] = {elements.size() - 1, elements.back()};
    elements.back() += g.shape().numel();
    bytes_in_last += bytes;
  }
  for (std::size_t b = 0; b < elements.size(); ++b) buckets_.push_back({Tensor::empty({elements[b]}, dtypes[b]), 0, 0});

  gradient_values_.clear();
  held_operands_.resize(gradients_.size());
  for (std::size_t i = 0; i < gradients_.size(); ++i) {
    const Slot s = slots[i];
    Bucket& bucket = buckets_[s.bucket];
    ++bucket.gradients;
    const Tensor slot = bucket.values.slice(0, s.offset, s.offset + gradients_[i].shape().numel()).reshape(gradients_[i].shape());
    gradient_values_.push_back(Gradient::of_dense(slot));
  }
  std::vector<std::size_t> last_in(buckets_.size());  // the gradient that completes each bucket
  for (const std::size_t i : order) last_in[slots[i].bucket] = i;
  for (const std::size_t i : order) {
    const std::size_t b = slots[i].bucket;
    const std::vector<Node>& product = products_[i];
    std::string label = (product.empty() ? "copy " + gradients_[i].name()
                                         : "form " + gradients_[i].name() + " = " + product[0].name() + "·" + product[1].name()) +
                        " into bucket " + std::to_string(b) + " at " + std::to_string(slots[i].offset);
    if (last_in[b] == i)
      label += "; start the allreduce of bucket " + std::to_string(b) + " (" + std::to_string(buckets_[b].gradients) +
               " gradients, " + std::to_string(buckets_[b].values.numel() * static_cast<std::int64_t>(itemsize(buckets_[b].values.dtype()))) +
               " bytes)";
    // A product's earlier operand is held as it is computed (instruction order puts that hook
    // first) and multiplied by the later one when it is.
    const bool later_is_b = !product.empty() && ready[i].id() == product[1].id();
    if (!product.empty())
      machine_->after(product[later_is_b ? 0 : 1], "hold " + product[later_is_b ? 0 : 1].name() + " for " + gradients_[i].name(),
                      [this, i](const Tensor& operand) { held_operands_[i] = operand; });
    machine_->after(ready[i], std::move(label), [this, i, b, later_is_b](const Tensor& gradient) {
      if (products_[i].empty())
        gradient_values_[i].dense.copy_from(gradient);
      else if (later_is_b)
        matmul(held_operands_[i], gradient, gradient_values_[i].dense);
      else
        matmul(gradient, held_operands_[i], gradient_values_[i].dense);
      Bucket& bucket = buckets_[b];
      if (--bucket.waiting == 0) comm_->start_allreduce(bucket.values, dist::ReduceOp::mean, "a gradient bucket");
      comm_->progress();
    });
  }
}

double TrainingStep::run() {
  launch();
  return finish();
}

namespace {
// Records the step on a device that can (from the second step: the first one grows scratch
// buffers, which waits for the device) and launches it as one when it goes out of scope.
class StepRecording {
 public:
  explicit StepRecording(Device device, bool wanted)
      : backend_(wanted && !device.is_host() ? &backend(device) : nullptr),
        recording_(backend_ && backend_->begin_step_record()),
        exceptions_(std::uncaught_exceptions()) {}
  ~StepRecording() noexcept(false) {
    // Launched unless the step threw (counted against the exceptions in flight when it began).
    if (recording_) backend_->end_step_record(std::uncaught_exceptions() == exceptions_);
  }
  StepRecording(const StepRecording&) = delete;
  StepRecording& operator=(const StepRecording&) = delete;

 private:
  Backend* backend_;
  bool recording_;
  int exceptions_;
};
}  // namespace

void TrainingStep::launch() {
  const FlushSubnormals flush(machine_->options().flush_subnormals && machine_->device().is_host());
  for (Bucket& b : buckets_) b.waiting = b.gradients;
  StepRecording recording(machine_->device(), recordable_ && clip_norm_ <= 0 && !comm_ && launched_++ > 0);
  machine_->run();
  if (comm_) comm_->wait_all();  // the buckets' allreduces, started as backward went
  if (gradient_values_.empty())  // the program's buffers stay put from run to run
    for (std::size_t i = 0; i < gradients_.size(); ++i) {
      const std::vector<Node> product = product_operands(rows_forms_[i]);
      if (!products_[i].empty())
        gradient_values_.emplace_back();  // set below, on every launch
      else if (!product.empty())
        gradient_values_.push_back(Gradient::of_product(
            machine_->value(rows_forms_[i]->rows), {machine_->value(product[0]), machine_->value(product[1]),
                                                    machine_->value(product[2]), machine_->value(product[3])}));
      else if (rows_forms_[i])
        gradient_values_.push_back(
            Gradient::of_rows(machine_->value(rows_forms_[i]->rows), machine_->value(rows_forms_[i]->values)));
      else
        gradient_values_.push_back(Gradient::of_dense(machine_->value(gradients_[i])));
    }
  // A product's operand may be (a view of) an input, bound to new memory for every batch.
  for (std::size_t i = 0; i < products_.size(); ++i)
    if (!products_[i].empty() && !comm_)
      gradient_values_[i] = Gradient::of_matmul(machine_->value(products_[i][0]), machine_->value(products_[i][1]));
  if (clip_norm_ <= 0) return optimizer_.step(gradient_values_);
  // Clipping needs every gradient's numbers, so here products are formed (into buffers made on
  // the first clipped step).
  if (clipped_values_.empty()) {
    clipped_values_ = gradient_values_;
    for (std::size_t i = 0; i < clipped_values_.size(); ++i) {
      RowGradient& g = clipped_values_[i].rows;
      if (g.rows.defined() && !g.values.defined())
        g.values = Tensor::empty({g.rows.numel(), g.product.dense.shape()[1]}, g.product.dense.dtype(),
                                 g.product.dense.device());
      if (clipped_values_[i].is_product()) {
        const Tensor& p = optimizer_.params()[i];
        clipped_values_[i] = Gradient::of_dense(Tensor::empty(p.shape(), p.dtype(), p.device()));
      }
      clipped_numbers_.push_back(clipped_values_[i].numbers());
    }
  }
  for (std::size_t i = 0; i < clipped_values_.size(); ++i) {
    if (const RowGradient& g = gradient_values_[i].rows; g.rows.defined() && !g.values.defined())
      csr_t_matmul_at_rows(g.product.row_offsets, g.product.columns, g.product.values, g.product.dense, g.rows,
                           rows_forms_[i]->table_rows, clipped_values_[i].rows.values);
    if (const ProductGradient& g = gradient_values_[i].product; g.a.defined()) matmul(g.a, g.b, clipped_values_[i].dense);
  }
  clip_grad_norm(clipped_numbers_, clip_norm_);
  optimizer_.step(clipped_values_);
}

double TrainingStep::finish() {
  const Tensor& loss = machine_->value(loss_);
  return loss.dtype() == DType::f64 ? loss.item<double>() : static_cast<double>(loss.item<float>());
}

}  // namespace stheno::optim
