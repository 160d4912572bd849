"""Finding the parts of Hugging Face encoders through their structure, and the errors for unknown models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mixup_core import MixPlan, create_mixer
from mixup_text import find_embeddings, find_head, find_input_embeddings, find_layers

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EXPECTED = {
    # arch: (embeddings module, first layer site, head)
    "bert": ("bert.embeddings", "bert.encoder.layer.0", "classifier"),
    "roberta": ("roberta.embeddings", "roberta.encoder.layer.0", "classifier.out_proj"),
    "distilbert": ("distilbert.embeddings", "distilbert.transformer.layer.0", "classifier"),
    "albert": ("albert.embeddings", "albert.encoder.albert_layer_groups.0#0", "classifier"),
    "electra": ("electra.embeddings", "electra.encoder.layer.0", "classifier.out_proj"),
    "deberta-v2": ("deberta.embeddings", "deberta.encoder.layer.0", "classifier"),
}


@pytest.mark.parametrize("arch", sorted(EXPECTED))
def test_parts_of_each_architecture(arch: str, make_tiny_model) -> None:
    model = make_tiny_model(arch)
    embeddings, first_layer, head = EXPECTED[arch]
    assert find_input_embeddings(model) is model.get_input_embeddings()
    module, name = find_embeddings(model)
    assert name == embeddings
    assert module is model.get_submodule(embeddings)
    sites = find_layers(model)
    assert len(sites) == 2
    assert sites[0].name == first_layer
    head_module, head_name = find_head(model)
    assert head_name == head
    assert isinstance(head_module, nn.Linear)
    assert head_module.out_features == 3


def test_albert_shared_layers_are_calls_of_one_group(make_tiny_model) -> None:
    model = make_tiny_model("albert", num_hidden_layers=4, num_hidden_groups=2)
    sites = find_layers(model)
    groups = model.albert.encoder.albert_layer_groups
    # AlbertTransformer: layer i runs group int(i / (4 / 2)) → groups 0, 0, 1, 1
    assert [s.module for s in sites] == [groups[0], groups[0], groups[1], groups[1]]
    assert [s.call for s in sites] == [0, 1, 0, 1]
    assert all(s.shared for s in sites)
    single = find_layers(make_tiny_model("albert", num_hidden_layers=3))
    assert [s.call for s in single] == [0, 1, 2]
    assert len({id(s.module) for s in single}) == 1


def test_paths_relative_to_the_model_or_its_base(make_tiny_model) -> None:
    model = make_tiny_model("bert")
    for path in ("encoder.layer", "bert.encoder.layer"):
        sites = find_layers(model, path)
        assert [s.module for s in sites] == list(model.bert.encoder.layer)
    assert find_embeddings(model, "embeddings")[0] is model.bert.embeddings
    assert find_head(model, "bert.pooler.dense")[1] == "bert.pooler.dense"
    with pytest.raises(
        ValueError, match=r"layers='encoder.layers' is not a submodule of BertForSequenceClassification"
    ):
        find_layers(model, "encoder.layers")
    with pytest.raises(ValueError, match=r"non-empty nn\.ModuleList"):
        find_layers(model, "bert.pooler")


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, h: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.lin(h))


class _OddModel(nn.Module):
    """A model none of whose parts have a Hugging Face name."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Embedding(20, 4)
        self.blocks = nn.ModuleList([_Block(), _Block()])
        self.out = nn.Linear(4, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.table(input_ids)
        for block in self.blocks:
            h = block(h, attention_mask)
        return self.out(h[:, 0])


def test_unknown_architecture_errors_name_the_class_and_the_override() -> None:
    model = _OddModel()
    with pytest.raises(ValueError, match=r"encoder layers of _OddModel.*pass layers='<dotted path"):
        find_layers(model)
    with pytest.raises(ValueError, match=r"embeddings module of _OddModel.*pass embeddings="):
        find_embeddings(model)
    with pytest.raises(ValueError, match=r"classification head of _OddModel.*pass head="):
        find_head(model)
    with pytest.raises(ValueError, match=r"_OddModel has no input embeddings"):
        find_input_embeddings(model)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        find_layers("bert")  # type: ignore[arg-type]
    ids = torch.randint(0, 20, (4, 5))
    y = torch.tensor([0, 1, 1, 0])
    for name in ("text:tmix", "text:embed-output", "text:sentence"):
        with pytest.raises(ValueError, match="_OddModel"):
            create_mixer(name).forward(model, ids, labels=y, num_classes=2)


def test_overrides_make_an_unknown_model_work() -> None:
    model = _OddModel()
    ids = torch.randint(0, 20, (4, 5))
    y = torch.tensor([0, 1, 1, 0])
    g = torch.Generator().manual_seed(0)
    res = create_mixer({"name": "text:tmix", "layers": "blocks", "layer": 1}).forward(
        model, ids, labels=y, num_classes=2, generator=g
    )
    assert res.layer == "blocks.0"
    assert res.logits.shape == (4, 2)
    res = create_mixer({"name": "text:embed-output", "embeddings": "table"}).forward(
        model, ids, labels=y, num_classes=2, generator=g
    )
    assert res.layer == "table"
    res = create_mixer({"name": "text:sentence", "head": "out"}).forward(
        model, ids, labels=y, num_classes=2, generator=g
    )
    # the head's input is the mixed [CLS] state: check against the mix done by hand
    h = model.table(ids)
    for block in model.blocks:
        h = block(h)
    plan: MixPlan = res.plan
    lam = plan.lam[:, None]
    torch.testing.assert_close(res.logits, model.out(lam * h[:, 0] + (1 - lam) * h[plan.index, 0]))
