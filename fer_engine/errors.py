"""Exceptions whose message is written for the person using the tool.

The CLI prints them as one line and the pages show them with ``st.error``; neither
shows a traceback. Anything else that escapes is a bug.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """Base class: ``str(exc)`` is a complete sentence a non-programmer understands."""


class DatasetError(UserFacingError):
    """A dataset cannot be used at all (fatal validation problem)."""


class ImageError(UserFacingError):
    """An image cannot be decoded, is too large, or is not an image."""


class NoFaceError(UserFacingError):
    """No face was found and the caller did not allow a centre crop."""


class WeightsUnavailableError(UserFacingError):
    """Pretrained (ImageNet) weights could not be obtained."""


class ModelError(UserFacingError):
    """A model file or run folder cannot be loaded or does not fit the data."""


class TrainingCancelled(UserFacingError):
    """Training was stopped by the user; nothing was written as a complete run."""
