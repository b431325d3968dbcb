"""User-facing errors: the CLI prints the message on one line and exits with status 1 (no traceback)."""


class LstmcError(Exception):
    """A problem with the user's input (model, option, data), with a message that says what is wrong."""
