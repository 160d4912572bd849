"""G-Mixup: degree alignment, graphon estimators, mixed-graphon sampling, labels, features and errors."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch_geometric.transforms as T
from torch_geometric.data import Batch, Data
from torch_geometric.utils import coalesce, degree, is_undirected

from mixup_core import ConfigError, create_mixer, describe_mixer, list_mixers
from mixup_core.cli import main as cli_main
from mixup_graph import GMixup, align_graphs, estimate_graphon
from mixup_graph._graphon import collect_graphs, sample_graphs, sorted_smooth, tv_denoise, usvt

# Two classes whose blocks differ in expected degree, so that sorting the nodes by degree puts every
# block in one piece (communities of equal degree are indistinguishable by degree and get smeared:
# a property of the degree alignment G-Mixup uses, not of the estimators).
SIZES_A, P_A = [12, 28], torch.tensor([[0.8, 0.25], [0.25, 0.05]])  # expected degrees 16.6 and 4.4
SIZES_B, P_B = [8, 12, 20], torch.tensor([[0.5, 0.9, 0.1], [0.9, 0.1, 0.05], [0.1, 0.05, 0.08]])  # 16.3, 9.3, 2.9


def _block_probs(sizes: list[int], p: torch.Tensor) -> torch.Tensor:
    member = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return p[member][:, member]


def _sbm(sizes: list[int], p: torch.Tensor, label: int, g: torch.Generator, x: torch.Tensor | None = None) -> Data:
    probs = _block_probs(sizes, p)
    a = torch.bernoulli(probs, generator=g).triu(1)
    a = a + a.T
    data = Data(edge_index=a.nonzero().T.contiguous(), num_nodes=sum(sizes), y=torch.tensor([label]))
    if x is not None:
        data.x = x
    return data


def _expected_adjacency(sizes: list[int], p: torch.Tensor) -> torch.Tensor:
    return _block_probs(sizes, p).fill_diagonal_(0.0)


def _block_means(w: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    member = torch.nn.functional.one_hot(
        torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    ).double()
    member = member / member.sum(0)
    return member.T @ w.double() @ member


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # the graphs here are small: on a busy 2-core machine, torch's intra-op threads cost far more
    # than they save (each parallel op waits for a second core), so this module runs on one
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sbm_graphs() -> list[Data]:
    g = torch.Generator().manual_seed(0)
    graphs = []
    for _ in range(40):
        graphs.append(_sbm(SIZES_A, P_A, 0, g))
        graphs.append(_sbm(SIZES_B, P_B, 1, g))
    return graphs


@pytest.fixture(scope="module")
def fitted(sbm_graphs: list[Data]) -> GMixup:
    return GMixup().fit(sbm_graphs)


def _edge(*pairs: tuple[int, int]) -> torch.Tensor:
    e = torch.tensor(pairs, dtype=torch.long).T
    return torch.cat([e, e.flip(0)], dim=1)


# ---------------------------------------------------------------------------------------------- alignment
def test_align_graphs_sorts_by_degree_pads_and_truncates() -> None:
    # a star with centre 3 and a pendant edge 0-1: degrees 1, 2, 1, 3, 1 for nodes 0..4 (node 1 also links to 3)
    g = Data(edge_index=_edge((3, 0), (3, 1), (3, 4), (1, 2)), num_nodes=5)
    a = align_graphs([g], 6)[0]
    # sorted order: 3 (deg 3), 1 (deg 2), then 0, 2, 4 (deg 1, node order kept among ties); one padding node
    order = [3, 1, 0, 2, 4]
    dense = torch.zeros(5, 5)
    dense[g.edge_index[0], g.edge_index[1]] = 1
    expected = torch.zeros(6, 6)
    expected[:5, :5] = dense[order][:, order]
    torch.testing.assert_close(a, expected)
    # truncation keeps the 2 highest-degree nodes
    torch.testing.assert_close(align_graphs([g], 2)[0], expected[:2, :2])


def test_align_graphs_ignores_duplicates_and_self_loops() -> None:
    ei = torch.cat([_edge((0, 1), (1, 2)), _edge((0, 1)), torch.tensor([[2], [2]])], dim=1)
    a = align_graphs([Data(edge_index=ei, num_nodes=3)], 3)[0]
    assert a.max() == 1
    assert a.diagonal().sum() == 0
    assert a.sum() == 4


def test_class_means_in_fit_equal_aligned_adjacency_means(sbm_graphs: list[Data], fitted: GMixup) -> None:
    n = fitted.resolution_
    assert n == 40  # the median node count
    for label in (0, 1):
        members = [g for g in sbm_graphs if int(g.y) == label]
        w = estimate_graphon(align_graphs(members, n), "usvt", threshold=0.2)
        torch.testing.assert_close(fitted.graphons_[label], w, atol=1e-5, rtol=0)


def test_alignment_of_graphs_of_different_sizes() -> None:
    g = torch.Generator().manual_seed(1)
    graphs = [_sbm([n], torch.tensor([[0.5]]), 0, g) for n in (5, 9, 14)]
    a = align_graphs(graphs, 9)
    assert a.shape == (3, 9, 9)
    assert a[0, 5:].sum() == 0
    assert a[0, :, 5:].sum() == 0
    for k, graph in enumerate(graphs[:2]):
        assert a[k].sum() == graph.edge_index.shape[1]  # nothing lost when n <= N


# ---------------------------------------------------------------------------------------------- estimators
@pytest.mark.parametrize(("estimator", "kwargs", "tol"), [("usvt", {}, 0.05), ("sas", {"sas_block_size": 4}, 0.05)])
def test_graphons_recover_the_block_structure(sbm_graphs: list[Data], estimator: str, kwargs: dict, tol: float) -> None:
    gm = GMixup(estimator=estimator, **kwargs).fit(sbm_graphs)
    w_a, w_b = gm.graphons_
    truth_a, truth_b = _expected_adjacency(SIZES_A, P_A), _expected_adjacency(SIZES_B, P_B)
    # block averages of the estimate match those of the expected adjacency (diagonal 0)
    err_a = (_block_means(w_a, SIZES_A) - _block_means(truth_a, SIZES_A)).abs().max()
    err_b = (_block_means(w_b, SIZES_B) - _block_means(truth_b, SIZES_B)).abs().max()
    assert err_a < tol, err_a
    assert err_b < tol, err_b
    # entrywise the error is larger: sorting by the *observed* degree orders nodes within a block too
    assert (w_a - truth_a).abs().mean() < 0.08
    assert (w_b - truth_b).abs().mean() < 0.08
    # the two classes' graphons differ: each is far from the other class's block structure
    assert (_block_means(w_a, SIZES_B) - _block_means(truth_b, SIZES_B)).abs().max() > 0.3
    assert (_block_means(w_b, SIZES_A) - _block_means(truth_a, SIZES_A)).abs().max() > 0.08
    assert (w_a - w_b).abs().mean() > 0.05
    # probabilities, symmetric; the mean is the class's edge density
    assert bool((gm.graphons_ >= 0).all() and (gm.graphons_ <= 1).all())
    torch.testing.assert_close(gm.graphons_, gm.graphons_.transpose(1, 2))
    assert abs(float(w_a.mean()) - float(truth_a.mean())) < 0.02


def test_usvt_threshold_convention() -> None:
    n = 16
    m = torch.full((n, n), 0.5)  # one singular value, 0.5·N = 8 = 2·√N
    torch.testing.assert_close(usvt(m, threshold=1.99), m.double())
    torch.testing.assert_close(usvt(m, threshold=2.01), torch.zeros(n, n, dtype=torch.float64))
    # clipping to [0, 1] and no thresholding at 0
    torch.testing.assert_close(usvt(torch.full((3, 3), 1.7), threshold=0.0), torch.ones(3, 3, dtype=torch.float64))


def test_estimate_graphon_accepts_mean_or_stack() -> None:
    a = (torch.rand(5, 6, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    a = torch.maximum(a, a.transpose(1, 2))
    torch.testing.assert_close(estimate_graphon(a), estimate_graphon(a.mean(0)))
    with pytest.raises(ValueError, match="aligned must be a tensor of shape"):
        estimate_graphon(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="estimator must be 'usvt' or 'sas'"):
        estimate_graphon(a, "mc")  # type: ignore[arg-type]


def test_tv_denoise_and_sas_blocks() -> None:
    step = torch.zeros(8, 8)
    step[:, 4:] = 1.0
    torch.testing.assert_close(tv_denoise(step, 0.0), step.double())
    torch.testing.assert_close(tv_denoise(torch.full((5, 5), 0.3), 1.0), torch.full((5, 5), 0.3, dtype=torch.float64))
    light, heavy = tv_denoise(step, 0.05), tv_denoise(step, 50.0)
    assert (light - step).abs().max() < 0.1  # a small weight keeps the edge
    assert (heavy - 0.5).abs().max() < 0.05  # a large weight flattens to the mean
    torch.testing.assert_close(heavy.mean(), torch.tensor(0.5, dtype=torch.float64))  # TV denoising keeps the mean
    # SAS without smoothing is the block average, as a step function
    m = torch.arange(36, dtype=torch.float64).view(6, 6) / 36
    s = sorted_smooth(m, block_size=3, smoothing=0.0)
    torch.testing.assert_close(s[:3, :3], m[:3, :3].mean().expand(3, 3))
    torch.testing.assert_close(s[3:, :3], m[3:, :3].mean().expand(3, 3))


# ---------------------------------------------------------------------------------------------- sampling
def test_sample_graphs_density_follows_the_graphon() -> None:
    w = torch.zeros(1, 30, 30)
    w[0, :10, :10] = 0.6
    w[0, 10:, 10:] = 0.1
    s = sample_graphs(w, [400], generator=torch.Generator().manual_seed(0), drop_isolated=False)
    assert s.num_nodes.tolist() == [30] * 400
    a = torch.zeros(30, 30)
    a.index_put_((s.edge_index[0] % 30, s.edge_index[1] % 30), torch.ones(s.edge_index.shape[1]), accumulate=True)
    # edge_index holds local ids: the per-pair frequency over 400 graphs estimates W
    freq = a / 400
    assert abs(float(freq[:10, :10].sum() / 90) - 0.6) < 0.02
    assert abs(float(freq[10:, 10:].sum() / 380) - 0.1) < 0.01
    assert float(freq[:10, 10:].sum()) == 0.0
    assert float(freq.diagonal().sum()) == 0.0


def test_byte_bernoulli_is_exact_at_every_probability() -> None:
    # the byte-level sampler must give P(success) = p for any p, including the tie region U == k:
    # p = k/256 exactly (tie never succeeds), p just above/below a byte boundary, 0 and 1
    from mixup_graph._graphon import _bernoulli_flat, _byte_thresholds

    p = torch.tensor(
        [0.0, 1.0, 1 / 256, 255 / 256, 0.5, 1 / 512, 3 / 256 + 1e-3, 0.9999, 1e-4, 0.3], dtype=torch.float64
    )
    rows = 400_000
    flat = torch.from_numpy(_bernoulli_flat(_byte_thresholds(p), rows, torch.Generator().manual_seed(3)))
    assert bool((flat[1:] > flat[:-1]).all())  # ascending, no repeats
    hits = torch.bincount(flat % p.numel(), minlength=p.numel()).double()
    assert hits[0] == 0
    assert hits[1] == rows
    inner = (p > 0) & (p < 1)
    z = (hits[inner] / rows - p[inner]) / (p[inner] * (1 - p[inner]) / rows).sqrt()
    assert float(z.abs().max()) < 4.5, z
    # the plain form it replaces, ``torch.rand(rows, M) < p``, on the same probabilities: the same frequencies
    plain = (torch.rand(rows, p.numel(), generator=torch.Generator().manual_seed(4)) < p.float()).sum(0).double()
    var = 2 * p[inner] * (1 - p[inner]) / rows
    assert float(((hits[inner] - plain[inner]) / rows / var.sqrt()).abs().max()) < 4.5
    assert plain[0] == 0 and plain[1] == rows  # noqa: PT018
    # a probability on a byte boundary: with the float32 tie draw, P = k/256 + frac/256 exactly
    k8, frac = _byte_thresholds(torch.tensor([0.25, 1.0]))
    assert k8.tolist() == [64, 255]
    assert frac.tolist() == [0.0, 1.0]
    # deterministic under a generator
    first = _bernoulli_flat(_byte_thresholds(p), 1000, torch.Generator().manual_seed(5))
    again = _bernoulli_flat(_byte_thresholds(p), 1000, torch.Generator().manual_seed(5))
    other = _bernoulli_flat(_byte_thresholds(p), 1000, torch.Generator().manual_seed(6))
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()


def test_generated_data_objects_behave_like_pyg_data(fitted: GMixup) -> None:
    # generate() builds Data objects without Data.__init__ (see gmixup._data_factory): they must
    # behave like ordinary ones (own storage, attribute assignment, copy, batching)
    import copy

    graphs = fitted.generate(6, generator=torch.Generator().manual_seed(0))
    g, h = graphs[0], graphs[1]
    assert type(g) is Data
    assert g._store._parent() is g
    assert g.num_nodes == g.x.shape[0]
    assert g.num_edges == g.edge_index.shape[1]
    g.extra = torch.ones(1)
    assert "extra" in g
    assert "extra" not in h
    c = copy.copy(g)
    c.y = torch.zeros(1, 3)
    assert not torch.equal(g.y, c.y)
    assert c._store._parent() is c
    b = Batch.from_data_list(graphs[2:])
    assert b.num_graphs == 4
    assert b.x.shape[0] == sum(int(d.num_nodes) for d in graphs[2:])
    assert is_undirected(g.edge_index, num_nodes=g.num_nodes)


def test_mixed_graphon_density_is_linear_in_lambda(sbm_graphs: list[Data], fitted: GMixup) -> None:
    w_a, w_b = fitted.graphons_.double()
    n = fitted.resolution_
    iu = torch.triu_indices(n, n, 1)
    d_a, d_b = float(w_a[iu[0], iu[1]].mean()), float(w_b[iu[0], iu[1]].mean())
    gm = GMixup(lam_range=(0.3, 0.3), drop_isolated=False, aug_num=10).fit(sbm_graphs)
    new = gm.generate(800, generator=torch.Generator().manual_seed(1))
    assert len(new) == 800
    by_first: dict[int, list[float]] = {0: [], 1: []}
    for g in new:
        assert g.num_nodes == n
        y = g.y[0]
        first = 0 if abs(float(y[0]) - 0.3) < 1e-6 else 1  # the class weighted by λ = 0.3
        by_first[first].append(g.edge_index.shape[1] / 2 / (n * (n - 1) / 2))
    for first, dens in by_first.items():
        if not dens:
            continue
        lam_a = 0.3 if first == 0 else 0.7
        expected = lam_a * d_a + (1 - lam_a) * d_b
        assert abs(sum(dens) / len(dens) - expected) < 0.01, (first, sum(dens) / len(dens), expected)
    assert min(len(v) for v in by_first.values()) > 0  # both orders were drawn (10 draws)


def test_generated_graphs_are_simple_undirected_without_isolated_nodes(fitted: GMixup) -> None:
    new = fitted.generate(60, generator=torch.Generator().manual_seed(0))
    assert len(new) == 60
    for g in new:
        n = g.num_nodes
        assert g.x.shape == (n, fitted.max_degree_ + 1)
        assert n <= fitted.resolution_
        assert is_undirected(g.edge_index, num_nodes=n)
        assert not (g.edge_index[0] == g.edge_index[1]).any()
        assert coalesce(g.edge_index).shape == g.edge_index.shape  # no duplicates
        assert bool((degree(g.edge_index[0], n) > 0).all())  # no isolated nodes
        assert g.y.dtype == torch.float32
        assert g.y.shape == (1, 2)


def test_soft_labels(sbm_graphs: list[Data]) -> None:
    new = GMixup(lam_range=(0.3, 0.3)).fit_generate(sbm_graphs, generator=torch.Generator().manual_seed(0))
    assert len(new) == 10 * int(0.15 * len(sbm_graphs) / 10)  # the reference's count: 10 draws of 1
    for g in new:
        assert sorted(g.y[0].tolist()) == pytest.approx([0.3, 0.7])
    # three classes, default λ range: two non-zero weights, the first class's in [0.005, 0.01]
    g0 = torch.Generator().manual_seed(2)
    three = sbm_graphs + [_sbm([40], torch.tensor([[0.2]]), 2, g0) for _ in range(10)]
    gm = GMixup(num_classes=4).fit(three)
    assert gm.classes_.tolist() == [0, 1, 2]
    assert gm.num_classes_ == 4
    for g in gm.generate(50, generator=torch.Generator().manual_seed(3)):
        y = g.y[0]
        assert y.shape == (4,)
        assert y[3] == 0
        assert float(y.sum()) == pytest.approx(1.0)
        nz = y[y > 0]
        assert nz.numel() == 2
        assert 0.005 <= float(nz.min()) <= 0.01


def test_degree_features_line_up_with_the_real_graphs(sbm_graphs: list[Data], fitted: GMixup) -> None:
    assert fitted.feature_mode_ == "degree"
    max_deg = max(int(degree(g.edge_index[0], g.num_nodes).max()) for g in sbm_graphs)
    assert fitted.max_degree_ == max_deg
    new = fitted.generate(30, generator=torch.Generator().manual_seed(0))
    for g in new:
        deg = degree(g.edge_index[0], g.num_nodes, dtype=torch.long).clamp(max=max_deg)
        torch.testing.assert_close(g.x, torch.nn.functional.one_hot(deg, max_deg + 1).float())
    real = fitted.as_training_graphs(sbm_graphs[:5])
    for r, g in zip(real, sbm_graphs[:5], strict=True):
        torch.testing.assert_close(r.x, T.OneHotDegree(max_deg)(g.clone()).x)  # PyG's transform gives the same
        assert r.y.shape == (1, 2)
        assert r.y.dtype == torch.float32
        assert float(r.y[0, int(g.y)]) == 1.0
        assert g.x is None
        assert g.y.dtype == torch.long
    batch = Batch.from_data_list(real + new)  # real and generated graphs collate together
    assert batch.x.shape[1] == max_deg + 1
    assert batch.y.shape == (35, 2)


def test_normalized_degree_features(sbm_graphs: list[Data]) -> None:
    gm = GMixup(max_onehot_degree=5).fit(sbm_graphs)
    assert gm.feature_mode_ == "normalized-degree"
    deg = torch.cat([degree(g.edge_index[0], g.num_nodes) for g in sbm_graphs]).double()
    g = gm.generate(3, generator=torch.Generator().manual_seed(0))[0]
    d = degree(g.edge_index[0], g.num_nodes).double()
    torch.testing.assert_close(g.x, ((d - deg.mean()) / deg.std()).float().unsqueeze(1))


def test_dataset_features_are_mixed_with_the_same_lambda() -> None:
    g = torch.Generator().manual_seed(4)
    graphs = []
    for i in range(20):
        n_a, n_b = 30 + i % 7, 20 + i % 5  # different sizes: the feature mean must not count padding
        graphs.append(_sbm([n_a], torch.tensor([[0.4]]), 0, g, x=torch.tensor([[1.0, 0.0]]).expand(n_a, 2).clone()))
        graphs.append(_sbm([n_b], torch.tensor([[0.3]]), 1, g, x=torch.tensor([[0.0, 1.0]]).expand(n_b, 2).clone()))
    gm = GMixup(lam_range=(0.2, 0.4), resolution=40).fit(graphs)
    assert gm.feature_mode_ == "dataset"
    assert gm.features_ is not None
    assert gm.features_.shape == (2, 40, 2)
    torch.testing.assert_close(gm.features_[0, :30], torch.tensor([1.0, 0.0], dtype=torch.float64).expand(30, 2))
    for new in gm.generate(40, generator=torch.Generator().manual_seed(0)):
        # constant class features: every node's x is the soft label (same λ for features and labels)
        torch.testing.assert_close(new.x, new.y.expand(new.num_nodes, 2))
    with pytest.raises(ValueError, match=r"graphs\[0\]\.x is missing"):
        GMixup(node_features="dataset").fit([Data(edge_index=_edge((0, 1)), num_nodes=2, y=torch.tensor([0]))] * 4)
    assert GMixup(node_features="degree").fit(graphs).feature_mode_ == "degree"


def test_determinism_and_enabled(sbm_graphs: list[Data], fitted: GMixup) -> None:
    def run(seed: int) -> list[Data]:
        return fitted.generate(25, generator=torch.Generator().manual_seed(seed))

    a, b, c = run(7), run(7), run(8)
    assert len(a) == len(b)
    for ga, gb in zip(a, b, strict=True):
        assert torch.equal(ga.edge_index, gb.edge_index)
        assert torch.equal(ga.x, gb.x)
        assert torch.equal(ga.y, gb.y)
    assert any(not torch.equal(ga.edge_index, gc.edge_index) for ga, gc in zip(a, c, strict=False))
    off = GMixup(enabled=False).fit(sbm_graphs)
    assert off.generate(10, generator=torch.Generator().manual_seed(0)) == []


def test_edgeless_graphs_are_left_out_with_a_warning() -> None:
    graphs = [
        Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=4, y=torch.tensor([i % 2])) for i in range(6)
    ]
    gm = GMixup().fit(graphs)
    with pytest.warns(RuntimeWarning, match="no edge"):
        assert gm.generate(5, generator=torch.Generator().manual_seed(0)) == []


def test_directed_check_with_the_sorting_path(sbm_graphs: list[Data]) -> None:
    # the symmetry check above a memory budget uses sorted keys: same edges, same errors
    dense = collect_graphs(sbm_graphs[:6], need_y=True)
    sorted_path = collect_graphs(sbm_graphs[:6], need_y=True, dense_budget=0)
    key = lambda gs: sorted((gs.edge_index[0] * 10**6 + gs.edge_index[1]).tolist())  # noqa: E731
    assert key(dense) == key(sorted_path)
    torch.testing.assert_close(dense.edge_graph.sort().values, sorted_path.edge_graph.sort().values)
    bad = [*sbm_graphs[:3], Data(edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=3, y=torch.tensor([0]))]
    for budget in (1 << 24, 0):
        with pytest.raises(ValueError, match=r"graphs\[3\]\.edge_index is not symmetric: it has the edge \(0, 1\)"):
            collect_graphs(bad, need_y=True, dense_budget=budget)


# ---------------------------------------------------------------------------------------------- errors
def _pair(label: int, **fields: object) -> Data:
    return Data(edge_index=_edge((0, 1), (1, 2)), num_nodes=3, y=torch.tensor([label]), **fields)


@pytest.mark.parametrize(
    ("graphs", "error", "match"),
    [
        ([], ValueError, "graphs is empty"),
        ([_pair(0), _pair(1), Data(edge_index=_edge((0, 1)), num_nodes=2)], ValueError, r"graphs\[2\]\.y is missing"),
        (
            [_pair(0), Data(edge_index=_edge((0, 1)), num_nodes=2, y=torch.tensor([0.5]))],
            ValueError,
            r"graphs\[1\]\.y must be an integer",
        ),
        (
            [
                _pair(0),
                _pair(1),
                _pair(1),
                _pair(0),
                Data(edge_index=_edge((0, 1)), num_nodes=2, y=torch.tensor([0, 1])),
            ],
            ValueError,
            r"graphs\[4\]\.y must be an integer class label of shape",
        ),
        (
            [_pair(0), _pair(0), _pair(1)],
            ValueError,
            r"class 1 has 1 training graph\(s\) \(e\.g\. graphs\[2\]\.y = 1\)",
        ),
        ([_pair(0), _pair(1), _pair(-1)], ValueError, r"graphs\[2\]\.y must be a class index >= 0, got y=-1"),
        (
            [_pair(0), _pair(1), Data(edge_index=_edge((0, 1)), num_nodes=2, y="a")],
            ValueError,
            r"graphs\[2\]\.y must be an integer",
        ),
        ([_pair(0), _pair(0)], ValueError, r"only class\(es\) \[0\]"),
        (
            [
                _pair(0),
                _pair(0),
                _pair(1),
                Data(edge_index=torch.tensor([[0, 1], [1, 2]]), num_nodes=3, y=torch.tensor([1])),
            ],
            ValueError,
            r"graphs\[3\]\.edge_index is not symmetric: it has the edge \(0, 1\) but not \(1, 0\)",
        ),
        (
            [_pair(0, x=torch.ones(3, 4)), _pair(0, x=torch.ones(3, 4)), _pair(1, x=torch.ones(3, 5))],
            ValueError,
            r"graphs\[2\]\.x has 5 features .* graphs\[0\]\.x has 4",
        ),
        (
            [_pair(0, x=torch.ones(3, 4)), _pair(0), _pair(1)],
            ValueError,
            r"graphs\[0\] has node features x but graphs\[1\]\.x is missing",
        ),
        (
            [_pair(0, x=torch.ones(2, 4)), _pair(1)],
            ValueError,
            r"graphs\[0\]\.x must be a tensor of shape \(num_nodes=3, F\), got shape \(2, 4\)",
        ),
        (
            [_pair(0), Data(edge_index=torch.tensor([[0, 5], [5, 0]]), num_nodes=3, y=torch.tensor([1]))],
            ValueError,
            r"graphs\[1\]\.edge_index has the edge \(0, 5\) with a node id outside \[0, num_nodes=3\)",
        ),
        (
            [_pair(0), Data(edge_index=torch.zeros(3, 2, dtype=torch.long), num_nodes=3, y=torch.tensor([1]))],
            TypeError,
            r"graphs\[1\]\.edge_index must be an integer tensor of shape \(2, E\)",
        ),
        ([_pair(0), torch.zeros(3)], TypeError, r"graphs\[1\] must be a torch_geometric\.data\.Data"),
    ],
)
def test_bad_graphs(graphs: list, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        GMixup().fit(graphs)


def test_label_layouts_and_ignored_features() -> None:
    # y as a python int, a 0-d tensor or a (1,) tensor all count as the same class index
    graphs = [
        Data(edge_index=_edge((0, 1), (1, 2)), num_nodes=3, y=0),
        Data(edge_index=_edge((0, 1)), num_nodes=2, y=torch.tensor(1)),
        _pair(1),
        Data(edge_index=_edge((0, 2)), num_nodes=3, y=torch.tensor([0], dtype=torch.int32)),
    ]
    assert GMixup().fit(graphs).classes_.tolist() == [0, 1]
    # with node_features="degree", x is not read: partial or mismatched features are no error
    graphs[0].x = torch.ones(3, 7)
    assert GMixup(node_features="degree").fit(graphs).feature_mode_ == "degree"


def test_bad_parameters_and_calls(sbm_graphs: list[Data]) -> None:
    assert GMixup(min_graphs_per_class=1).fit([_pair(0), _pair(0), _pair(1)]).classes_.tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"graphs\[1\]\.y = 3 is not a class index below num_classes=2"):
        GMixup().fit([_pair(0), _pair(3), _pair(0), _pair(1)], num_classes=2)
    for bad in [(0.5, 0.2), (-0.1, 0.2), (0.2, 1.5)]:
        with pytest.raises(ValueError, match="lam_range must be"):
            GMixup(lam_range=bad)
        with pytest.raises(ConfigError, match="lam_range must be"):
            create_mixer({"name": "graph:gmixup", "lam_range": list(bad)})
    with pytest.raises(ValueError, match="p must be 1"):
        GMixup(p=0.5)
    with pytest.raises(ValueError, match="resolution"):
        GMixup(resolution=0)
    with pytest.raises(RuntimeError, match=r"call gm\.fit"):
        GMixup().generate(3)
    with pytest.raises(RuntimeError, match=r"call gm\.fit"):
        _ = GMixup().graphons_
    gm = GMixup().fit(sbm_graphs)
    with pytest.raises(ValueError, match="num_graphs must be"):
        gm.generate(-1)
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        gm.generate(3, generator=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"data-set level generator.*fit.*generate"):
        gm(torch.rand(4, 3), torch.arange(4))
    with pytest.raises(TypeError, match=r"data-set level generator"):
        gm.sample(torch.rand(4, 3))


# ---------------------------------------------------------------------------------------------- registry
def test_registry_create_and_describe(capsys: pytest.CaptureFixture[str]) -> None:
    info = {i.name: i for i in list_mixers("graph:*")}["graph:gmixup"]
    assert info.cost == "dataset"
    assert info.modality == "graph"
    assert "2202.07179" in info.paper
    gm = create_mixer({"name": "graph:gmixup", "estimator": "sas", "lam_range": [0.1, 0.2], "resolution": 30})
    assert isinstance(gm, GMixup)
    assert gm.lam_range == (0.1, 0.2)
    assert gm.resolution == 30
    assert create_mixer(gm.to_config()) == gm
    params = describe_mixer("graph:gmixup")["params"]
    assert params["lam_range"]["default"] == [0.005, 0.01]
    assert params["threshold"]["default"] == 0.2
    assert cli_main(["describe", "graph:gmixup"]) == 0
    out = capsys.readouterr().out
    assert "cost dataset" in out
    assert "resolution" in out
    assert "aug_ratio" in out


# ---------------------------------------------------------------------------------------------- benchmark
def test_benchmark_script_runs() -> None:
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_graph.py"
    spec = importlib.util.spec_from_file_location("bench_graph_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        res = module.run_benchmark(num_train=30, num_new=20, mean_nodes=12, rounds=1)
    finally:
        sys.modules.pop(spec.name, None)
    assert len(res["cases"]) == 5
    for case in res["cases"].values():
        assert case["median_ms"] > 0
        assert case["ratio_median"] > 0
    assert res["speedup"] > 0
    assert res["speedup_vs_lean_numpy"] > 0
