"""The ``pixsift`` command line (uses search, indexer and web; nothing imports it)."""
