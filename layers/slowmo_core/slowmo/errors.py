"""Errors a user can act on. The message of every SlowmoError is one human-readable line."""


class SlowmoError(Exception):
    """A failure the user can understand and act on: printed as one line, never as a traceback."""


class InputError(SlowmoError):
    """The input (file, option or request) is unusable as given."""


class EngineUnavailableError(SlowmoError):
    """An interpolation engine cannot run here (missing extra, missing model weights)."""


class FFmpegError(SlowmoError):
    """ffmpeg failed; the message carries ffmpeg's own last error line."""


class ArgumentError(SlowmoError):
    """The command line is wrong (an unknown option, a bad value): the CLIs exit 2 with it."""
