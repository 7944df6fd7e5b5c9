"""A plain PyTorch training script in SageMaker script mode: run unchanged by ``tuner run``.

It reads what the SageMaker training toolkit gives a script: the hyperparameters as
command-line arguments (``--lr 0.01 --hidden 16 --epochs 12``), the data channels'
folders in ``SM_CHANNEL_TRAIN`` / ``SM_CHANNEL_VALIDATION`` (CSV, label first, no header, as
``examples/make_datasets.py`` writes them) and where to save the model in ``SM_MODEL_DIR``.
It prints its metrics once per epoch; the tuning job's MetricDefinitions find them there.
Nothing here knows about the tuner.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn


def load_channel(folder: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every CSV file of a channel folder, label in the first column."""
    files = sorted(Path(folder).glob("*.csv"))
    data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    return torch.tensor(data[:, 1:], dtype=torch.float32), torch.tensor(data[:, 0:1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "model"))
    args, _ = parser.parse_known_args()  # the toolkit may pass more than a script reads

    torch.manual_seed(0)
    torch.set_num_threads(1)
    x_train, y_train = load_channel(os.environ["SM_CHANNEL_TRAIN"])
    x_val, y_val = load_channel(
        os.environ.get("SM_CHANNEL_VALIDATION", os.environ["SM_CHANNEL_TRAIN"])
    )
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_val = (x_train - mean) / std, (x_val - mean) / std

    model = nn.Sequential(
        nn.Linear(x_train.shape[1], args.hidden), nn.ReLU(), nn.Linear(args.hidden, 1)
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(1, args.epochs + 1):
        model.train()
        for batch in torch.randperm(len(x_train)).split(64):
            optimiser.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            train_loss = loss_fn(model(x_train), y_train).item()
            logits = model(x_val)
            val_loss = loss_fn(logits, y_val).item()
            accuracy = ((logits > 0).float() == y_val).float().mean().item()
        print(
            f"epoch {epoch}: train_loss={train_loss:.5f} "
            f"val_loss={val_loss:.5f} val_acc={accuracy:.4f}"
        )

    Path(args.model_dir).mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), Path(args.model_dir) / "model.pt")


if __name__ == "__main__":
    main()
