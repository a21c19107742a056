"""QR codes for items' source links, generated locally with segno (PNG, no network, no Pillow)."""

from __future__ import annotations

import io
from pathlib import Path

import segno


def qr_png(link: str, scale: int = 4) -> bytes:
    out = io.BytesIO()
    segno.make(link or " ", error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def write_qrcode(directory: Path, url_slug: str, link: str) -> Path:
    """Write <directory>/<url_slug>.png atomically (a reader never sees half an image)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{url_slug}.png"
    tmp = path.with_suffix(".png.tmp")
    tmp.write_bytes(qr_png(link))
    tmp.replace(path)
    return path
