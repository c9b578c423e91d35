"""PyTorch trainers: datasets, models and the training loop. Never imports hpo or optuna."""
