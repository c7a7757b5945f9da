"""Alembic migrations of the pixsift library database (see search.database.upgrade_database)."""
