"""Retrieval evaluation: how well a library finds the pictures its captions describe."""
