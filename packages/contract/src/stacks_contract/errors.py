"""Errors every layer raises, so the CLI can print one clear sentence for each."""


class StacksError(Exception):
    """Base class. ``str(err)`` is one sentence meant for the user; secrets already masked.

    ``transient``: the failure may pass on its own (the warehouse restarted, a connection
    dropped): orchestrators retry it with backoff; anything else fails at once
    (:func:`stacks_core.retry.is_transient` decides for any exception)."""

    transient: bool = False


class ConfigError(StacksError):
    """Bad configuration or input: a malformed URL, an unknown stack, a bad project path."""


class WarehouseUnreachable(StacksError):
    """The warehouse did not accept a connection."""


class StepFailed(StacksError):
    """A step of a stack failed; the message names the step and carries the tool's message."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"Step {step!r} failed: {message}")
        self.step = step
        self.detail = message


class RunLocked(StacksError):
    """Another run of the same stack into the same warehouse holds the run lock."""


class RunLockLost(StacksError):
    """The run lost its run lock while it ran (another run took it over): it stops at the next
    step boundary rather than go on unprotected."""


class TransientError(StepFailed):
    """A step failed for a reason that passes (connection lost, the warehouse restarting): every
    orchestrator retries it with backoff. The message keeps the database's own sentence."""

    transient = True
