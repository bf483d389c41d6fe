"""User-facing errors: one clear line naming the file, key or column and the fix."""


class ValuegraphError(Exception):
    """An error caused by input the user can fix; the CLI prints it as one line and exits 2."""


class ConfigError(ValuegraphError):
    """The configuration is invalid (names the key, the expected type or value)."""


class DataError(ValuegraphError):
    """A data file is invalid (names the file, row and column)."""


class ModelUnavailableError(ValuegraphError):
    """A model or SAE cannot be loaded (offline, missing revision, wrong shape)."""
