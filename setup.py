"""Installed names: the source folders search/, indexer/, web/, cli/ and migrations/ install as
pixsift.search, pixsift.indexer, ... so that pixsift owns no generic top-level name another
distribution could overwrite (docs/packaging.md). Everything else is in pyproject.toml; this file
exists only because [tool.setuptools.packages.find] cannot add the prefix."""

from setuptools import find_packages, setup

FOLDERS = ("search", "indexer", "web", "cli", "migrations")

FOUND = find_packages(include=[f"{folder}{tail}" for folder in FOLDERS for tail in ("", ".*")])

setup(
    packages=[f"pixsift.{name}" for name in FOUND],
    package_dir={f"pixsift.{folder}": folder for folder in FOLDERS},
)
