#pragma once
#include <memory>
#include <vector>

#include "stheno/graph/ops.hpp"

namespace stheno {

// Records the nodes of outputs' graph made since id `first` as one layer; the caller fills in the
// layer's attributes.
inline LayerRecord& record_layer(LayerKind kind, std::vector<Node> inputs, std::vector<Node> outputs, int first) {
  auto layer = std::make_shared<LayerRecord>();
  Graph& graph = outputs.front().graph();
  layer->kind = kind;
  layer->inputs = std::move(inputs);
  layer->outputs = std::move(outputs);
  layer->first_node = first;
  layer->end_node = graph.size();
  graph.record_layer(layer);
  return *layer;
}

}  // namespace stheno
