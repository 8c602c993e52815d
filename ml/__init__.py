"""Framework code for Chorus's models: plain Python + PyTorch + transformers, no Django."""
