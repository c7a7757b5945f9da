"""The model: which open_clip architecture and weights, and the towers that embed images and
texts. Knows nothing of the database."""
