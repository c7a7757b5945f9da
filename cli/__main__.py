"""``python -m cli``: the ``pixsift`` command, for a child process started by pixsift itself
(the same interpreter and code, whatever PATH holds)."""

from pixsift.cli.main import run

run()
