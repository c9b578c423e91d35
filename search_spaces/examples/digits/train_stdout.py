"""Softmax regression on scikit-learn's 8x8 digits (offline) in plain numpy, with no hpo import:
it reports by printing one JSON line per epoch on stdout, which is all a worker reads
(search_spaces/examples/digits_stdout.yaml). By hand:

    python train_stdout.py --lr 0.5 --l2 1e-4 --epochs 20
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.datasets import load_digits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(args.seed).permutation(len(X))
    X, y = X[order] / 16.0, y[order]
    n_val = len(X) // 5
    x_val, y_val, x_train, y_train = X[:n_val], y[:n_val], X[n_val:], y[n_val:]
    weights = np.zeros((X.shape[1], 10))
    onehot = np.eye(10)[y_train]
    for epoch in range(args.epochs):
        logits = x_train @ weights
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(len(y_train)), y_train] + 1e-12).mean()
        gradient = x_train.T @ (probs - onehot) / len(y_train) + args.l2 * weights
        weights -= args.lr * gradient
        accuracy = float(((x_val @ weights).argmax(axis=1) == y_val).mean())
        print(json.dumps({"step": epoch, "val_accuracy": accuracy, "train_loss": float(loss)}))


if __name__ == "__main__":
    main()
