"""Follow-up photos as the clinic stores and serves them.

An upload is decoded and written anew by Pillow before it is stored: what is kept is only the
picture (turned upright), never the uploader's bytes. That drops EXIF and GPS metadata a
phone adds, and anything a crafted file carries beside the image (a polyglot that is also
HTML or a script). The stored name is random with the extension of the format written, so
the content type served is the one of the bytes on disk.
"""

import uuid
from io import BytesIO

from django.core.files.base import ContentFile
from django.http.response import HttpResponseBase
from PIL import Image, ImageOps

from . import files

# Pillow format -> (extension, content type, save options)
FORMATS = {
    "jpeg": ("jpg", "image/jpeg", {"quality": 90, "optimize": True}),
    "png": ("png", "image/png", {"optimize": True}),
    "webp": ("webp", "image/webp", {"quality": 90}),
}
CONTENT_TYPES = {ext: content_type for ext, content_type, _ in FORMATS.values()}
CONTENT_TYPES["jpeg"] = "image/jpeg"  # photos stored before re-encoding kept their own name


def reencode(upload) -> ContentFile:
    """The photo decoded and re-encoded in its own format, without metadata."""
    upload.seek(0)
    with Image.open(upload) as original:
        kind = (original.format or "").lower()
        if kind not in FORMATS:
            raise ValueError(f"not a photo format the clinic stores: {kind or 'unknown'}")
        image = ImageOps.exif_transpose(original)
        image.load()
    if kind == "jpeg" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    extension, _, options = FORMATS[kind]
    out = BytesIO()
    image.save(out, format=kind.upper(), **options)  # no exif=, no pnginfo=: metadata dropped
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}.{extension}")


def photo_response(photo) -> HttpResponseBase:
    """A stored photo, inline, with the type of its bytes and a plain file name, to a request
    the view has let through (treatments/files.py: a short-lived signed URL or the bytes)."""
    extension = photo.image.name.rsplit(".", 1)[-1].lower()
    return files.serve(
        photo.image,
        filename=f"follow-up-photo-{photo.pk}.{extension}",
        content_type=CONTENT_TYPES.get(extension, "application/octet-stream"),
        inline=True,
    )
