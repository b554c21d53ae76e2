class ApplicationError(Exception):
    """A rule of the application was broken by the caller; each API family renders it in its own shape."""

    def __init__(self, message: str, *, extra: dict | None = None, status: int = 400, code: str = "invalid_request"):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.status = status
        self.code = code
