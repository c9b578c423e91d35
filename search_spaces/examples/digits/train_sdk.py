"""A plain PyTorch script on scikit-learn's 8x8 digits (offline), reporting through the SDK.

Under an hpo worker (search_spaces/examples/digits_sdk.yaml) it reads its params from the
worker, reports val_accuracy every epoch, stops when the pruner says so, keeps a checkpoint in
trial.checkpoint_dir (and resumes from one found there) and leaves the trained weights in
trial.output_dir. By hand it reads them from its command line and reports nothing:

    python train_sdk.py --lr 0.01 --width 64 --epochs 10
"""

from __future__ import annotations

import json

import torch
from sklearn.datasets import load_digits
from torch import nn

from hpo import trial


def data(seed: int) -> tuple[torch.Tensor, ...]:
    X, y = load_digits(return_X_y=True)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    X = torch.tensor(X, dtype=torch.float32)[order] / 16.0
    y = torch.tensor(y, dtype=torch.long)[order]
    n_val = len(X) // 5
    return X[n_val:], y[n_val:], X[:n_val], y[:n_val]


def main() -> None:
    params = trial.params
    lr, width = float(params.get("lr", 0.01)), int(params.get("width", 64))
    epochs, seed = int(params.get("epochs", 10)), int(params.get("seed", 0))
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    x_train, y_train, x_val, y_val = data(seed)
    model = nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    start = 0
    checkpoint = trial.checkpoint_dir / "last.pt"
    if trial.under_worker() and checkpoint.exists():  # requeued: go on from the last epoch
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"] + 1
    batches = torch.Generator().manual_seed(seed)
    accuracy = 0.0
    for epoch in range(start, epochs):
        model.train()
        for index in torch.randperm(len(x_train), generator=batches).split(64):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x_train[index]), y_train[index])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean().item()
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}
        torch.save(state, checkpoint)
        if trial.report(epoch, accuracy, train_loss=loss.item()):
            return  # pruned: the worker has what it needs
    torch.save(model.state_dict(), trial.output_dir / "model.pt")
    (trial.output_dir / "result.json").write_text(json.dumps({"val_accuracy": accuracy}))


if __name__ == "__main__":
    main()
