"""One error hierarchy; each error says what failed and what to do next.

The CLI maps every subclass to an exit code (see README "Exit codes") and prints
``str(error)`` as one line on stderr.
"""

from __future__ import annotations


class ImgsecError(Exception):
    """Base of every error imgsec raises on purpose."""

    exit_code = 2


class InputError(ImgsecError):
    """Bad input: malformed reference, unreadable or hostile image, malformed file (exit 2)."""

    exit_code = 2


class UsageError(InputError):
    """Wrong combination of options or arguments (exit 2)."""


class InvalidReferenceError(InputError):
    """An image reference that the Docker reference grammar rejects."""


class DigestMismatchError(InputError):
    """Content whose sha256 does not equal the digest that named it."""


class UnsafeContentError(InputError):
    """A layer, archive or document that tries something hostile (path escape, bomb, ...)."""


class AuthenticationError(InputError):
    """The registry refused the credentials (wrong user or password)."""


class ExternalError(ImgsecError):
    """An external service failed: registry unreachable, timeout, 5xx (exit 3)."""

    exit_code = 3


class NotFoundError(InputError):
    """The image, tag, manifest or blob does not exist."""


class VerificationError(ImgsecError):
    """A signature, attestation or policy check failed (exit 1)."""

    exit_code = 1
