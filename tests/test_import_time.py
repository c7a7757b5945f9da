"""A search imports only what it uses: opening a library whose schema is current never imports
Alembic, and a SQLite library never imports SQLAlchemy's PostgreSQL dialect. (Import times
themselves are measured in benchmarks.cli_query, not here.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from pixsift.search.library import Library
from pixsift.search.storage.database import alembic_config, migration_heads

CHECK = """
import sys
from pathlib import Path
import pixsift.cli.searching
from pixsift.search.library import Library
with Library.open(Path(sys.argv[1])) as library:
    library.store.model_id()
print(sorted(name for name in ("alembic", "sqlalchemy.dialects.postgresql") if name in sys.modules))
"""


def test_the_heads_read_from_the_scripts_are_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert migration_heads() == frozenset(script.get_heads())


def test_opening_a_current_library_imports_neither_alembic_nor_postgresql(tmp_path: Path) -> None:
    Library.open(tmp_path / "library").close()  # created and migrated here
    found = subprocess.run(
        [sys.executable, "-c", CHECK, str(tmp_path / "library")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert found.stdout.strip().splitlines()[-1] == "[]"


def test_a_new_library_is_still_migrated_in_a_fresh_process(tmp_path: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-c", CHECK, str(tmp_path / "fresh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "alembic" in found.stdout.strip().splitlines()[-1]
    with Library.open(tmp_path / "fresh") as library:
        assert library.store.model_id() is None
