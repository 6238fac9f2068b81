#pragma once
// ONNX in and out, at IR version 8 and opset 17: what Debian's onnx 1.12 checks and every current
// runtime reads.
//
//   io::save_onnx(graph, {x}, {logits}, "model.onnx");      // for onnxruntime and friends
//   io::OnnxModel m = io::load_onnx("model.onnx", 64);  // batch 64
//   TapeMachine machine(m.outputs[0]);                        // run it, or train m.parameters
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stheno/graph/graph.hpp"
#include "stheno/graph/ops.hpp"

namespace stheno::io {

inline constexpr int kOnnxIrVersion = 8;
inline constexpr int kOnnxOpset = 17;

// Writes what `outputs` compute from `inputs` as an ONNX model, atomically. Parameters and
// constants become initializers (never graph inputs); each layer recorded as a unit
// (graph/ops.hpp, LayerRecord) becomes one node: Conv, BatchNormalization (inference form, with
// the running statistics), AveragePool, LSTM, GRU, and dropout nothing at all (inference form).
// Axis 0 of every input is the symbolic batch "N", followed through the graph, so the model
// runs at any batch size. Value names are the nodes' names. A node with no ONNX form, an input
// the outputs need that is not in `inputs`, or a batch size fixed inside the graph is a
// ValueError naming the node and op.
void save_onnx(Graph& graph, const std::vector<Node>& inputs, const std::vector<Node>& outputs, const std::string& path);
// The serialised model, for callers that keep it in memory.
std::string onnx_bytes(Graph& graph, const std::vector<Node>& inputs, const std::vector<Node>& outputs);

struct OnnxImportOptions {
  OnnxImportOptions(std::int64_t batch_size = 1) : batch(batch_size) {}  // load_onnx(path, 64)
  // The size of an input's symbolic axis 0 (the batch), unless `dims` names it.
  std::int64_t batch = 1;
  // Sizes of other symbolic axes by name ("sequence": 35); one left unnamed is an error.
  std::map<std::string, std::int64_t> dims;
  Graph::Mode mode = Graph::Mode::deferred;
  // Build into this graph instead of a new one (OnnxModel::graph is then empty), taking the
  // inputs named in `bind` from existing nodes of the declared shape instead of making inputs.
  Graph* graph = nullptr;
  std::map<std::string, Node> bind;
  // Tensors to use, by their names in the file, for the parameters and running statistics it
  // holds (shared, not copied; recurrent weights in stheno's layout), each parameter's node
  // named `node_name` (empty: the file's name): how a model applied in several graphs trains one
  // set of weights (OnnxLayer). Each must have the shape and dtype the file implies.
  struct Weight {
    Tensor value;
    std::string node_name;
  };
  std::map<std::string, Weight> weights;
};

struct OnnxModel {
  std::unique_ptr<Graph> graph;
  // The graph inputs (initializers excluded) and outputs, in the file's order, under its names.
  // Integer inputs are int32 (stheno's index dtype), whatever width the file declares.
  std::vector<Node> inputs, outputs;
  // The float initializers the graph uses as operands (weights, biases, batch norm's scale and
  // shift), as parameter nodes under their initializer names: what fine-tuning trains.
  std::vector<Node> parameters;
  // One per BatchNormalization: its running statistics (named in `running_names`) in
  // evaluation mode; switch `training` on to fine-tune with batch statistics.
  std::vector<std::shared_ptr<BatchNormState>> norms;
  std::vector<std::string> running_names;  // "<mean initializer>", "<var initializer>" per norm
};

// Reads an ONNX model into a new graph, for the ops the CLI's models and torch.onnx.export's
// versions of them use: Gemm, MatMul, Add, Sub, Mul, Div, Relu, Sigmoid, Tanh, Exp, Log, Sqrt,
// Neg, Abs, Softmax, LogSoftmax, Conv, MaxPool, AveragePool, GlobalAveragePool,
// BatchNormalization, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Concat, Gather, LSTM, GRU,
// Constant, Identity, Dropout, Cast (between equal widths), and Shape arithmetic on known shapes.
// A malformed file, an unsupported op or attribute (named with the node and the opset), a name
// used before it is produced or produced twice, is an IOError naming the file.
OnnxModel load_onnx(const std::string& path, const OnnxImportOptions& options = {});
// The same from bytes in memory; `source` names them in errors.
OnnxModel parse_onnx(std::span<const std::uint8_t> bytes, std::string_view source, const OnnxImportOptions& options = {});

}  // namespace stheno::io
