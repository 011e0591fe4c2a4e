"""Train the LeNet-5 of architectures/lenet5.cnn on scikit-learn's handwritten digits.

    python examples/train_digits.py [--epochs 8] [--seed 0]
    torchrun --standalone --nproc_per_node 2 examples/train_digits.py    # data-parallel, 2 processes

The 1,797 8x8 images ship inside scikit-learn, so nothing is downloaded. They are upsampled to LeNet's
32x32 input; a quarter is held out for testing. A few epochs on the CPU reach about 98% test accuracy in
a few seconds.

Under torchrun (which sets WORLD_SIZE, RANK, LOCAL_RANK and the rendezvous address) the same file trains
with DistributedDataParallel: each process takes its shard of every epoch's shuffled training set, the
gradients are averaged across processes after each step (so N processes with batches of 32/N take the
same steps as one with 32), over NCCL on GPUs or gloo on CPUs. Process 0 prints the result.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import cnndsl

LENET = Path(__file__).resolve().parent.parent / "architectures" / "lenet5.cnn"
BATCH = 32


def digits(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train images, train labels, test images, test labels): 1x32x32 images, normalised with the
    training set's mean and standard deviation."""
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1)
    images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    labels = torch.tensor(data.target)
    train, test = train_test_split(range(len(labels)), test_size=0.25, random_state=seed, stratify=data.target)
    x_train, x_test = images[train], images[test]
    mean, std = x_train.mean(), x_train.std()
    return (x_train - mean) / std, labels[train], (x_test - mean) / std, labels[test]


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main(epochs: int = 8, seed: int = 0, verbose: bool = False) -> float:
    """Train for `epochs` epochs and return the accuracy on the held-out test images."""
    threads = torch.get_num_threads()
    # LeNet is too small to gain from a second thread, and on a busy machine threads that wait for each
    # other make training several times slower.
    torch.set_num_threads(1)
    try:
        return _train(epochs, seed, verbose)
    finally:
        torch.set_num_threads(threads)


def _train(epochs: int, seed: int, verbose: bool) -> float:
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    rank, world = (torch.distributed.get_rank(), torch.distributed.get_world_size()) if distributed else (0, 1)
    device = _device()
    torch.manual_seed(seed)  # the same initial weights in every process (DDP also broadcasts rank 0's)
    x_train, y_train, x_test, y_test = (t.to(device) for t in digits(seed))
    model = cnndsl.to_torch(cnndsl.load(LENET)).to(device)
    trained = model
    if distributed:
        ids = [device.index] if device.type == "cuda" else None
        trained = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    optimizer = torch.optim.Adam(trained.parameters(), lr=2e-3)
    batch_size = max(1, BATCH // world)  # the processes' batches together make one of BATCH
    shard = len(y_train) // world  # every process takes as many steps: DDP waits for all at each one
    if distributed and verbose:
        # one write, so that the processes' lines do not interleave
        sys.stdout.write(f"process {rank} of {world}: {shard} of the {len(y_train)} training images per epoch\n")
        sys.stdout.flush()
    for epoch in range(epochs):
        trained.train()
        # every process draws the same permutation and takes its own stride of it
        order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        mine = order[rank : shard * world : world].to(device)
        total = 0.0
        for i in range(0, len(mine), batch_size):
            batch = mine[i : i + batch_size]
            loss = F.cross_entropy(trained(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if verbose and rank == 0:
            test = accuracy(model, x_test, y_test)
            print(f"epoch {epoch + 1}: loss {total / len(mine):.3f}, test accuracy {test:.1%}", flush=True)
    return accuracy(model, x_test, y_test)


def _device() -> torch.device:
    """This process's GPU under torchrun (LOCAL_RANK), the GPU, or the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def run(epochs: int, seed: int) -> None:
    """Train as one process, or as one of torchrun's; process 0 prints the test accuracy."""
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        if torch.cuda.is_available():
            torch.cuda.set_device(_device())
        # NCCL between GPUs, gloo between CPU processes; torchrun's environment says where the others are
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        start = time.perf_counter()
        result = main(epochs, seed, verbose=True)
        world = torch.distributed.get_world_size() if distributed else 1
        if not distributed or torch.distributed.get_rank() == 0:
            seconds = time.perf_counter() - start
            print(f"accuracy: {result:.3f} ({epochs} epochs, {world} process{'es' * (world > 1)}, {seconds:.1f} s)")
    finally:
        if distributed:
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run(args.epochs, args.seed)
