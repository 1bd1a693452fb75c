"""The one exception type users see for bad input."""


class TomoDrgnInputError(Exception):
    """Bad input: the message is one line naming the file, the row and the fix.

    The CLI prints ``str(err)`` and exits with status 2 instead of a traceback.
    """

    def __init__(self, message: str, *, path=None, row=None, fix=None):
        parts = []
        if path is not None:
            parts.append(f"{path}")
        if row is not None:
            parts.append(f"row {row}")
        where = ", ".join(parts)
        text = f"{where}: {message}" if where else message
        if fix:
            text += f" -> fix: {fix}"
        super().__init__(text.replace("\n", " "))
        self.path, self.row, self.fix = path, row, fix


def one_line(err: BaseException, limit: int = 200) -> str:
    """'Type: first line of the message' for a log line about a fallback (the full traceback helps no user)."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:limit]}" if lines else type(err).__name__
