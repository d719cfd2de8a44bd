"""The one exception type the CLI turns into a clean message and exit status 2."""


class CliError(Exception):
    """A user error: bad path, missing column, empty data. Printed without a traceback."""
