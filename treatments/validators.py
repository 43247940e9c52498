"""Checks on uploaded files, shared by the model fields (so every service enforces them) and
the forms (so the message appears next to the upload)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from PIL import Image, UnidentifiedImageError


def validate_photo(value):
    """A follow-up photo: at most PHOTO_MAX_BYTES, and decodable as one of PHOTO_TYPES."""
    if value.size > settings.PHOTO_MAX_BYTES:
        raise ValidationError(
            "The photo is %(size)s MB; at most %(max)s MB.",
            code="photo_too_large",
            params={
                "size": round(value.size / 1024 / 1024, 1),
                "max": settings.PHOTO_MAX_BYTES // 1024 // 1024,
            },
        )
    try:
        value.seek(0)
        with Image.open(value) as image:
            kind = (image.format or "").lower()
            image.load()  # decode it all: what is stored is re-encoded from these pixels
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ):
        kind = ""
    finally:
        value.seek(0)
    if kind not in settings.PHOTO_TYPES:
        raise ValidationError("Upload a JPEG, PNG or WebP photo.", code="photo_type")
