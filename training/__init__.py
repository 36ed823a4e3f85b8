"""Training-time code: the digit network's data, cell renderer and training script (not shipped)."""
