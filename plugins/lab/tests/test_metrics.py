"""mixup_lab.metrics against hand-computed cases (accuracy, NLL, macro-F1, ECE, recalls) and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mixup_lab.metrics import compute_metrics, metric_direction, reliability_bins

# 4 examples, 2 classes; predictions 0, 1, 0, 1 (the third is wrong)
PROBS = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
LABELS = np.array([0, 1, 1, 1])


def _two_class(conf: float, n: int, n_correct: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples predicted as class 0 with confidence ``conf``, the first ``n_correct`` truly class 0."""
    probs = np.tile([conf, 1 - conf], (n, 1))
    labels = np.array([0] * n_correct + [1] * (n - n_correct))
    return probs, labels


def test_hand_computed_four_examples() -> None:
    m = compute_metrics(PROBS, LABELS)
    assert m["accuracy"] == 0.75
    assert m["error_rate"] == 0.25
    # NLL: −(ln .9 + ln .8 + ln .4 + ln .7) / 4
    assert m["nll"] == pytest.approx((0.1053605 + 0.2231436 + 0.9162907 + 0.3566749) / 4, abs=1e-6)
    # class 0: TP 1, FP 1, FN 0 → F1 2/3; class 1: TP 2, FP 0, FN 1 → F1 4/5
    assert m["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert m["per_class_recall"] == pytest.approx([1.0, 2 / 3])
    # Brier: (.01+.01) + (.04+.04) + (.36+.36) + (.09+.09) = 1.0, over 4
    assert m["brier"] == pytest.approx(0.25)
    # every example alone in its bin: ECE = mean |correct − conf| = (.1 + .2 + .6 + .3) / 4
    assert m["ece"] == pytest.approx(0.3)
    assert m["n_samples"] == 4
    assert m["num_classes"] == 2
    assert m["absent_classes"] == []
    assert m["critical_recall"] is None
    assert m["critical_class_recall"] == {}


def test_results_are_json_ready() -> None:
    m = compute_metrics(PROBS.astype(np.float32), LABELS.astype(np.int32), critical_classes=[np.int64(1)])
    text = json.dumps(m, allow_nan=False)
    assert json.loads(text)["critical_class_recall"] == {"1": pytest.approx(2 / 3)}
    assert all(type(v) is float for k, v in m.items() if k in ("accuracy", "nll", "ece", "macro_f1", "brier"))


def test_ece_zero_when_confidence_matches_accuracy() -> None:
    probs, labels = _two_class(0.8, 10, 8)
    assert compute_metrics(probs, labels)["ece"] == pytest.approx(0.0, abs=1e-12)


def test_ece_overconfident() -> None:
    probs, labels = _two_class(0.9, 10, 6)
    assert compute_metrics(probs, labels)["ece"] == pytest.approx(0.3)


def test_ece_two_bins_by_hand() -> None:
    # 4 examples at confidence .9 with 3 correct (gap .15), 6 at .55 with 5 correct (gap .8333 − .55)
    p1, y1 = _two_class(0.9, 4, 3)
    p2, y2 = _two_class(0.55, 6, 5)
    probs, labels = np.vstack([p1, p2]), np.concatenate([y1, y2])
    expected = 0.4 * 0.15 + 0.6 * (5 / 6 - 0.55)
    assert compute_metrics(probs, labels)["ece"] == pytest.approx(expected)
    # one bin: |overall accuracy .8 − mean confidence .69|
    assert compute_metrics(probs, labels, n_bins=1)["ece"] == pytest.approx(0.11)

    bins = reliability_bins(probs, labels, 15)
    assert bins.edges.shape == (16,)
    assert bins.count.sum() == 10
    assert bins.count[13] == 4  # .9 lies in (13/15, 14/15]
    assert bins.count[8] == 6  # .55 lies in (8/15, 9/15]
    assert bins.accuracy[13] == pytest.approx(0.75)
    assert bins.confidence[13] == pytest.approx(0.9)
    assert bins.accuracy[8] == pytest.approx(5 / 6)
    assert bins.confidence[8] == pytest.approx(0.55)
    assert np.isnan(bins.accuracy[0])
    assert bins.ece == pytest.approx(expected)
    d = bins.to_dict()
    assert d["count"][13] == 4
    assert d["accuracy"][0] is None
    json.dumps(d, allow_nan=False)


@pytest.mark.parametrize("n_bins", [1, 5, 15])
def test_ece_matches_the_definition_written_out(n_bins: int) -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(200, 5)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = rng.integers(0, 5, 200)
    conf, pred = probs.max(1), probs.argmax(1)
    ece = 0.0
    for b in range(n_bins):  # Guo et al. 2017: bin B_m = (lo, hi]
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs((pred[inside] == labels[inside]).mean() - conf[inside].mean())
    assert compute_metrics(probs, labels, n_bins=n_bins)["ece"] == pytest.approx(ece, abs=1e-12)


def test_macro_f1_by_hand_with_unpredicted_and_absent_classes() -> None:
    # labels 0 0 1 2, predictions 0 0 0 2, four classes:
    # class 0: TP 2, FP 1 → F1 .8; class 1: never predicted → F1 0; class 2: F1 1; class 3 in neither → left out
    probs = np.eye(4)[[0, 0, 0, 2]] * 0.7 + 0.075
    m = compute_metrics(probs, np.array([0, 0, 1, 2]))
    assert m["macro_f1"] == pytest.approx((0.8 + 0 + 1) / 3)
    assert m["per_class_recall"] == [1.0, 0.0, 1.0, None]
    assert m["absent_classes"] == [3]


def test_macro_f1_matches_precision_and_recall_written_out() -> None:
    """The per-class F1 2PR/(P+R), averaged over the classes in the labels or the predictions
    (scikit-learn's ``f1_score(average="macro")``; importing scikit-learn here would cost seconds)."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(7), size=80)
    probs[:, [4, 6]] = 0  # classes 4 and 6 are never predicted
    probs /= probs.sum(1, keepdims=True)
    labels = rng.choice([0, 1, 2, 3, 4], size=80)  # classes 5 and 6 never occur
    pred = probs.argmax(1)
    assert 5 in pred
    f1s = []
    for k in sorted(set(labels) | set(pred)):
        tp = np.sum((pred == k) & (labels == k))
        precision = tp / max(np.sum(pred == k), 1)
        recall = tp / max(np.sum(labels == k), 1)
        f1s.append(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    assert len(f1s) == 6  # class 6 (in neither) is left out
    m = compute_metrics(probs, labels)
    assert m["macro_f1"] == pytest.approx(np.mean(f1s))
    assert m["accuracy"] == pytest.approx(np.mean(pred == labels))
    assert m["nll"] == pytest.approx(-np.mean(np.log(np.clip(probs[np.arange(80), labels], 1e-12, 1))))


def test_per_class_recall_absent_class_is_null_in_json() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2]])
    m = compute_metrics(probs, np.array([0, 1, 1]))
    assert m["per_class_recall"] == [1.0, 0.5, None]
    assert m["absent_classes"] == [2]
    assert json.loads(json.dumps(m, allow_nan=False))["per_class_recall"][2] is None


def test_critical_recall_pools_the_critical_classes() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 0, 2, 2])
    probs = np.full((6, 3), 0.1)
    probs[np.arange(6), pred] = 0.8
    m = compute_metrics(probs, labels, critical_classes=[2, 1, 2])
    assert m["critical_classes"] == [1, 2]
    assert m["critical_recall"] == pytest.approx(3 / 4)  # 1→1, 1→0, 2→2, 2→2
    assert m["critical_class_recall"] == {"1": 0.5, "2": 1.0}
    # not the mean of the class recalls when the classes have different sizes
    labels2 = np.array([0, 1, 2, 2, 2])
    probs2 = np.full((5, 3), 0.1)
    probs2[np.arange(5), [0, 0, 2, 2, 2]] = 0.8
    m2 = compute_metrics(probs2, labels2, critical_classes=[1, 2])
    assert m2["critical_recall"] == pytest.approx(3 / 4)
    assert m2["critical_class_recall"] == {"1": 0.0, "2": 1.0}


def test_critical_class_without_test_examples() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1]])
    m = compute_metrics(probs, np.array([0, 1]), critical_classes=[2])
    assert m["critical_recall"] is None
    assert m["critical_class_recall"] == {"2": None}


def test_nll_clips_zero_probability() -> None:
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    m = compute_metrics(probs, np.array([1, 1]))
    assert m["nll"] == pytest.approx(-math.log(1e-12) / 2)
    assert math.isfinite(m["nll"])


def test_ties_go_to_the_lower_class_index() -> None:
    m = compute_metrics(np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0, 1]))
    assert m["per_class_recall"] == [1.0, 0.0]


def test_float32_softmax_rows_are_accepted() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 10)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert compute_metrics(probs, rng.integers(0, 10, 50))["n_samples"] == 50


def test_metric_direction() -> None:
    assert metric_direction("accuracy") == "maximize"
    assert metric_direction("macro_f1") == "maximize"
    assert metric_direction("critical_recall") == "maximize"
    for m in ("error_rate", "nll", "ece", "brier"):
        assert metric_direction(m) == "minimize"
    with pytest.raises(KeyError, match="unknown metric 'speed'"):
        metric_direction("speed")


@pytest.mark.parametrize(
    ("probs", "labels", "kwargs", "message"),
    [
        (np.array([0.5, 0.5, 0.5, 0.5]), LABELS, {}, r"probs must be a 2-D array of shape \(N, C\), got shape \(4,\)"),
        (PROBS, LABELS[:3], {}, (r"labels must have shape \(N,\) = \(4,\) to match probs of shape "
                                 r"\(4, 2\), got shape \(3,\)")),
        (PROBS, LABELS[:, None], {}, r"got shape \(4, 1\)"),
        (PROBS * 0.5, LABELS, {}, (r"probs of shape \(4, 2\) must have rows summing to 1 .*row 0 "
                                   r"sums to 0.5 \(4 rows off\)")),
        (np.array([[2.0, -1.0], [0.5, 0.5]]), np.array([0, 1]), {}, (r"probabilities in \[0, 1\] "
                                                                     r"\(softmax outputs, not logits\)")),
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), np.array([0, 1]), {}, r"must be finite; row 0"),
        (np.ones((3, 1)), np.array([0, 0, 0]), {}, r"at least 2 classes .*shape \(3, 1\)"),
        (np.zeros((0, 2)), np.array([], dtype=int), {}, r"at least one example, got shape \(0, 2\)"),
        (PROBS, np.array([0, 1, 5, 1]), {}, r"labels must be class indices in \[0, 2\) .*labels\[2\] = 5"),
        (PROBS, np.array([0, -1, 1, 1]), {}, r"labels\[1\] = -1"),
        (PROBS, np.array([0.0, 1.0, 1.0, 1.0]), {}, r"labels must be integer class indices, got dtype float64"),
        (PROBS, LABELS, {"critical_classes": [7]}, r"critical_classes\[0\] = 7 is out of range \[0, 2\)"),
        (PROBS, LABELS, {"critical_classes": ["cat"]}, (r"critical_classes\[0\] must be an "
                                                        r"integer class index, got 'cat'")),
        (PROBS, LABELS, {"critical_classes": 1}, r"critical_classes must be a sequence of class indices, got 1"),
        (PROBS, LABELS, {"n_bins": 0}, r"n_bins must be a positive integer, got 0"),
    ],
)
def test_bad_input_names_the_argument(probs: np.ndarray, labels: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_metrics(probs, labels, **kwargs)


def test_reliability_bins_validates_too() -> None:
    with pytest.raises(ValueError, match=r"labels must have shape"):
        reliability_bins(PROBS, LABELS[:2])
    with pytest.raises(ValueError, match=r"n_bins must be a positive integer, got 2.5"):
        reliability_bins(PROBS, LABELS, 2.5)  # type: ignore[arg-type]
