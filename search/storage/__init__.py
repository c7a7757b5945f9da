"""The database: ORM models, engine setup and migrations, reads and writes, bulk import.
Knows nothing of the model."""

# The account tables share the models' metadata: importing the package declares every table,
# so schema comparisons (migrations, tests) see them all.
from pixsift.search.storage import accounts as accounts
from pixsift.search.storage import albums as albums
from pixsift.search.storage import decisions as decisions
