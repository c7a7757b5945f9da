"""A small world with a language: deterministic scenes of coloured shapes, captions from a
grammar, pictures and videos written in the formats users have, and a small open_clip model
trained on it (``benchmarks.world.train``). Data is generated, never committed; the trained
checkpoint is (tests/data/world/)."""
