"""The database: ORM models, engine setup and migrations, reads and writes, bulk import.
Knows nothing of the model."""
