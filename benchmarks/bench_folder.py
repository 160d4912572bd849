"""Does streaming ``image:folder`` feed the small CNN as fast as the in-memory Fashion-MNIST path?

Writes N Fashion-MNIST training images (IDX files of the Debian package ``dataset-fashion-mnist``,
the class-stratified subset that ``image:fashion-mnist`` keeps) as PNG files in class folders in a
temporary folder, loads them with ``image:folder`` (20 % held out, as ``mixup init`` would), then
times one training epoch of ``image:small-cnn`` (forward, cross-entropy, backward, Adam step) over
the **same training images with the same batch size**, fed

* from memory: the float tensors of ``image:fashion-mnist`` (a ``LabeledTensors``), PyTorch's
  default collate (the reference);
* from ``image:folder``: each PNG decoded per item (torchvision), ``uint8`` items, normalised in the
  collate function, with 0 and with 2 DataLoader workers (persistent, as ``mixup compare`` runs
  them).

A second in-memory case, identical to the reference, shows how far a ratio strays by noise alone
(other jobs on the machine). Two more cases iterate the folder's DataLoader without training (the
data path alone). The cases run round-robin (one epoch of each per round in a shuffled order, after a
warm-up round that also starts the workers); the ratio folder / in-memory of images per second is
taken within each round, and the table gives the median with the min–max over rounds.

    python benchmarks/bench_folder.py                 # 5,000 images, batch 64, 9 rounds
    python benchmarks/bench_folder.py --quick         # 1,000 images, 3 rounds (a smoke run)
    python benchmarks/bench_folder.py --device cuda   # the model on a GPU (data from the CPU)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import DataLoader

from mixup_core.data import LabeledTensors, stratified_subset
from mixup_image.lab import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    load_fashion_mnist_task,
    load_folder_task,
    read_idx,
    small_cnn,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _harness.py lies next to this script
from _harness import Case, run_rounds


def write_pngs(root: Path, n: int, seed: int) -> None:
    """The training subset of ``load_fashion_mnist_task(train_size=n, split_seed=seed)`` as ``root/<class>/<k>.png``."""
    images = read_idx(Path(FASHION_MNIST_DIR) / "train-images-idx3-ubyte.gz")
    labels = read_idx(Path(FASHION_MNIST_DIR) / "train-labels-idx1-ubyte.gz")
    keep = stratified_subset(labels, n, (seed, 0))  # the loader's own draw
    for k, i in enumerate(keep):
        folder = root / f"{labels[i]}-{FASHION_MNIST_CLASSES[labels[i]].replace('/', '-')}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"{k:06d}.png")  # k: the position in the loader's subset


def train_epoch(loader: DataLoader, model: torch.nn.Module, opt: torch.optim.Optimizer, device: torch.device) -> None:
    model.train()
    for x, y in loader:
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def data_epoch(loader: DataLoader) -> None:
    for _x, _y in loader:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="Fashion-MNIST images written as PNG (default 5000)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--workers", type=int, default=2, help="the DataLoader workers of the streaming case")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="1,000 images, 3 rounds (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n, rounds = (1000, 3) if args.quick else (args.n, args.rounds)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {device}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, {n} images, batch {args.batch}, "
          f"{rounds} rounds\n")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_pngs(root, n, seed=0)
        t_write = time.perf_counter() - t0
        t0 = time.perf_counter()
        memory = load_fashion_mnist_task(train_size=n, test_size=100, split_seed=0)
        t_memory = time.perf_counter() - t0
        t0 = time.perf_counter()
        folder = load_folder_task(root=root, test_fraction=0.2, split_seed=0)  # cache: auto (in memory here)
        t_folder = time.perf_counter() - t0
        t0 = time.perf_counter()
        streamed = load_folder_task(root=root, test_fraction=0.2, split_seed=0, cache=False)
        t_streamed = time.perf_counter() - t0
        assert folder.train.cached
        assert not streamed.train.cached
        # the in-memory path trains on exactly the folder's training images
        positions = [int(Path(p).stem) for p in folder.train.paths]
        same = LabeledTensors(memory.train.inputs[positions], memory.train.labels[positions])
        assert same.labels.tolist() == folder.train.labels.tolist()
        n_train = len(same)

        def loader(ds: object, workers: int, collate: object = None) -> DataLoader:
            return DataLoader(ds, batch_size=args.batch, shuffle=True, generator=torch.Generator().manual_seed(0),
                              collate_fn=collate, num_workers=workers, persistent_workers=workers > 0)

        def trainer(dl: DataLoader) -> object:
            torch.manual_seed(0)
            model = small_cnn(folder).to(device)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            return lambda: train_epoch(dl, model, opt, device)

        w = args.workers
        reference = Case("in-memory image:fashion-mnist (reference)", trainer(loader(same, 0)))
        cases = [reference, Case("in-memory again: the same as the reference (the noise of a ratio)",
                                 trainer(loader(same, 0)))]
        for label, data in (("decoded once (cache: auto)", folder), ("streamed (cache: false)", streamed)):
            cases += [Case(f"image:folder {label}, workers {k}", trainer(loader(data.train, k, data.collate_fn)))
                      for k in (0, w)]
        data_only = loader(streamed.train, w, streamed.collate_fn)
        cases.append(
            Case(f"image:folder streamed, workers {w}, data only (no training)", lambda: data_epoch(data_only))
        )
        run_rounds(cases, rounds, device, warmup=1)

    print(f"Setup: writing {n} PNGs {t_write:.1f} s; loading image:fashion-mnist {t_memory:.2f} s; loading "
          f"image:folder {t_folder:.2f} s decoded once ({folder.info['cache']}), {t_streamed:.2f} s streamed "
          f"(scan, header check of every file, statistics of "
          f"{folder.info['normalise']['computed_on'].split(' training')[0]} training images).\n")
    print(f"### One training epoch of image:small-cnn over the same {n_train} images, batch {args.batch}\n")
    print("| case | median s per epoch | images/s (median) | ratio of images/s to in-memory (median, min–max) |")
    print("|---|---:|---:|---:|")
    for case in cases:
        ratios = [r / t for t, r in zip(case.times, reference.times, strict=True)]
        med = statistics.median(case.times) / 1e3
        print(f"| {case.name} | {med:.2f} | {n_train / med:,.0f} | "
              f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
