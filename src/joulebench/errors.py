"""Errors a user can act on. Each names the file/key/line it is about."""


class JoulebenchError(Exception):
    """Base class: printed as one clear line, exits non-zero."""


class ConfigError(JoulebenchError):
    pass


class CaptureError(JoulebenchError):
    pass


class ParseError(JoulebenchError):
    def __init__(self, path, message, line=None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path, self.message, self.line = path, message, line

    def __reduce__(self):  # crosses process boundaries intact (the analysis runs in worker processes)
        return type(self), (self.path, self.message, self.line)
