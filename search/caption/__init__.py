"""Describing pictures in words: the captioner protocol and its open_clip CoCa implementation.
Model code only: it knows nothing of the database or the index."""
