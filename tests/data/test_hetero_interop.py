import torch
import torch.nn.functional as F
import torch_geometric.transforms as T
from torch_geometric.loader import DataLoader
from torch_geometric.nn import HGTConv, SAGEConv, global_mean_pool, to_hetero

from pyg_proda.data import NODE_TYPES


class _SAGE(torch.nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.conv1 = SAGEConv((-1, -1), hidden)
        self.conv2 = SAGEConv((-1, -1), hidden)

    def forward(self, x, edge_index):
        x = self.conv1(x, edge_index).relu()
        return self.conv2(x, edge_index)


def _batch(dataset):
    batch = next(iter(DataLoader(dataset, batch_size=4)))
    # Our edge types are one-directional: add the reverse types so that
    # every node type receives messages.
    return T.ToUndirected()(batch)


def _loss(out, batch, head):
    pooled = sum(global_mean_pool(out[nt], batch[nt].batch, size=4)
                 for nt in NODE_TYPES)
    return F.binary_cross_entropy_with_logits(head(pooled), batch.y)


def _check_grads(modules):
    params = [p for m in modules for p in m.parameters()]
    assert params
    for p in params:
        assert p.grad is not None
    assert any(float(p.grad.abs().sum()) > 0 for p in params)


def test_to_hetero_graphsage(synthetic_dataset):
    batch = _batch(synthetic_dataset)
    assert ('object', 'rev_attention', 'person') in batch.edge_types
    model = to_hetero(_SAGE(16), batch.metadata(), aggr='sum')
    head = torch.nn.Linear(16, synthetic_dataset.num_classes)
    out = model(batch.x_dict, batch.edge_index_dict)
    for nt in NODE_TYPES:
        assert out[nt].shape == (batch[nt].num_nodes, 16)
    _loss(out, batch, head).backward()
    _check_grads([model, head])


def test_hgtconv(synthetic_dataset):
    batch = _batch(synthetic_dataset)
    # As many channels as the node features, so the gated skip is used too.
    channels = batch['person'].x.size(-1)
    conv = HGTConv(-1, channels, batch.metadata(), heads=2)
    head = torch.nn.Linear(channels, synthetic_dataset.num_classes)
    out = conv(batch.x_dict, batch.edge_index_dict)
    _loss(out, batch, head).backward()
    _check_grads([conv, head])
