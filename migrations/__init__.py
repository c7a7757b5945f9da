"""Alembic migrations of the pixsift library database.

Located as package data by search.storage.database.upgrade_database."""
