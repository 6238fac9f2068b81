"""PyTorch's side of the S2 benchmark in bench/run_sparse.py: training steps of the same
bag-of-words classifier as bench/sparse_training.cpp (an embedding bag over a sparse batch plus a
bias, ReLU, a linear layer, cross-entropy, SGD), on random batches of the same size and density.
--form embedding_bag: nn.EmbeddingBag(mode="sum", sparse=True) with per-sample weights, the
sparse-gradient path; --form dense: the batch as a dense matrix times an nn.Linear. Prints one
JSON object.
"""
import argparse
import json
import time

import torch


def random_batch(rows, cols, density, g):
    lengths = torch.distributions.Binomial(cols, torch.full((rows,), density)).sample().long()
    columns = [torch.randperm(cols, generator=g)[: int(n)].sort().values for n in lengths]
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
    weights = 1.0 - torch.rand(int(lengths.sum()), generator=g)
    return torch.cat(columns), offsets, weights


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--features", type=int, default=50000)
    p.add_argument("--density", type=float, default=0.004)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--form", choices=["embedding_bag", "dense"], default="embedding_bag")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    g = torch.Generator().manual_seed(1)
    batches = [random_batch(a.batch, a.features, a.density, g) for _ in range(16)]
    labels = [torch.randint(0, a.classes, (a.batch,), generator=g) for _ in range(16)]
    head = torch.nn.Linear(a.hidden, a.classes)
    if a.form == "embedding_bag":
        bag = torch.nn.EmbeddingBag(a.features, a.hidden, mode="sum", sparse=True)
        bias = torch.nn.Parameter(torch.zeros(a.hidden))
        params = [bag.weight, bias, *head.parameters()]

        def forward(b):
            columns, offsets, weights = batches[b]
            return head(torch.relu(bag(columns, offsets, per_sample_weights=weights) + bias))
    else:
        layer = torch.nn.Linear(a.features, a.hidden)
        params = [*layer.parameters(), *head.parameters()]
        dense = []
        for columns, offsets, weights in batches:
            x = torch.zeros(a.batch, a.features)
            rows = torch.repeat_interleave(torch.arange(a.batch), torch.diff(offsets, append=torch.tensor([len(columns)])))
            x[rows, columns] = weights
            dense.append(x)

        def forward(b):
            return head(torch.relu(layer(dense[b])))
    opt = torch.optim.SGD(params, lr=0.1)

    def step(i):
        b = i % 16
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(b), labels[b])
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(3):
        step(i)
    start = time.perf_counter()
    for i in range(a.steps):
        loss = step(i)
    seconds = time.perf_counter() - start
    print(json.dumps({"steps_per_s": a.steps / seconds, "loss": loss, "form": a.form, "threads": a.threads,
                      "version": f"torch {torch.__version__}"}))


if __name__ == "__main__":
    main()
