"""Write stored items out: Hugo content files in the seed format, JSON lines, or an Atom feed.

Hugo: one `<slug>.html` file per item (Hugo renders .html content as is; the body is HTML), exactly
the seed 002 format: `+++`, the 12 seed keys in order, `+++`, a blank line, the sanitized body (the
[presswire] table of `items show` is left out: JSON lines and the API carry labels and reasons). A QR code
PNG is written where the `qrcode` key points when it is a relative path (not a URL).

Only the export directory is ever written: every path is resolved and checked to be inside it, and
file names come from `file_stem`, which never yields a path, a hidden file, a device name or a Hugo
special name. Writing is idempotent: a file whose content is unchanged is not touched (its mtime
stays), so make-style tools and Hugo do not rebuild; changed files are replaced atomically.

A story is exported as its canonical copy. When a later copy becomes canonical (a wire's copy arrives after
a partner's), the files an earlier export wrote for the other copies would stay and the site would show the
story twice: `superseded` names those copies, and their files are removed (only those, see
`_remove_superseded`).
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ingest.extract import clean_html
from ingest.frontmatter import presswire_table, render, seed_front
from ingest.model import StoredItem
from ingest.qr import fits, qr_png

EXTENSION = ".html"
MAX_STEM = 180
_CLEAN_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")
_WINDOWS_DEVICES = {"con", "prn", "aux", "nul", "conin$", "conout$",
                    *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
RESERVED_STEMS = _WINDOWS_DEVICES | {"index", "_index"}  # Hugo: a bundle's page, a section's page


@dataclass(frozen=True)
class ExportResult:
    written: int = 0  # files created or changed
    unchanged: int = 0  # files already holding this content, left alone
    skipped: tuple[str, ...] = ()  # what was not written, and why
    removed: int = 0  # files of superseded copies removed


def file_stem(item: StoredItem) -> str:
    """The file name (without extension) for an item: its url slug when that is a plain slug.

    Anything else (path separators, dots, capitals, reserved or empty names, too long) is reduced to
    [a-z0-9-] and suffixed with "_<article_id>": "_" never occurs in a plain slug, so the two kinds
    of names cannot collide, and article ids are unique.
    """
    slug = item.url
    if _CLEAN_SLUG.match(slug) and slug not in RESERVED_STEMS and len(slug) <= MAX_STEM:
        return slug
    base = _NOT_NAME.sub("-", slug.lower()).strip("-")[:MAX_STEM].strip("-") or "item"
    return f"{base}_{item.article_id}"


def hugo_document(item: StoredItem) -> str:
    """The item in the seed format, its body sanitized again (stored bodies may predate the rules)."""
    return render(seed_front(item), clean_html(item.body_html))


def export_hugo(items: Iterable[StoredItem], out: Path, *, qrcodes: bool = True,
                superseded: Iterable[StoredItem] = ()) -> ExportResult:
    """Write the items' files; then remove those of `superseded` (other copies of the exported stories)."""
    root = _root(out)
    written = unchanged = 0
    skipped: list[str] = []
    targets: set[str] = set()  # every file of this export: never removed (str: a Path weighs 3 times more)
    for item in items:
        files = [(f"{file_stem(item)}{EXTENSION}", hugo_document(item).encode())]
        if qrcodes and item.qrcode and "://" not in item.qrcode:
            if not fits(item.source_link):  # stored before such items got qrcode = ""
                skipped.append(f"item {item.article_id}: its link is too long for a QR code")
            elif _is_relative_file(item.qrcode):
                files.append((item.qrcode, qr_png(item.source_link)))
            else:
                skipped.append(f"item {item.article_id}: QR code path {item.qrcode!r} is not a plain relative path")
        for rel, content in files:
            target = inside(root, rel)
            if target is None:
                skipped.append(f"item {item.article_id}: {rel!r} is outside {root}")
                continue
            targets.add(str(target))
            try:
                changed = write_if_changed(target, content)
            except OSError as exc:
                skipped.append(f"item {item.article_id}: {rel!r}: {exc.strerror or exc}")
                continue
            written, unchanged = written + changed, unchanged + (not changed)
    removed = sum(_remove_superseded(root, item, targets, qrcodes, skipped) for item in superseded)
    return ExportResult(written, unchanged, tuple(skipped), removed)


def _remove_superseded(root: Path, item: StoredItem, keep: set[str], qrcodes: bool, skipped: list[str]) -> int:
    """Remove what an earlier export wrote for `item`, a copy that is not its story's canonical one (any
    more): its document and, when QR codes are exported, its QR code image, only if the image is that copy's
    own (another item may share the path). Never a file in `keep`, nor through a symbolic link. Returns how
    many files were removed."""
    files: list[tuple[str, bytes | None]] = [(f"{file_stem(item)}{EXTENSION}", None)]
    if qrcodes and item.qrcode and _is_relative_file(item.qrcode) and fits(item.source_link):
        files.append((item.qrcode, qr_png(item.source_link)))
    removed = 0
    for rel, content in files:
        target = inside(root, rel)
        if target is None or str(target) in keep or target != root / rel or not target.is_file():
            continue  # (target != root / rel: a symbolic link on the way)
        try:
            if content is None or target.read_bytes() == content:
                target.unlink()
                removed += 1
        except OSError as exc:
            skipped.append(f"item {item.article_id}: removing {rel!r}: {exc.strerror or exc}")
    return removed


def jsonl(items: Iterable[StoredItem]) -> Iterator[str]:
    """One JSON object per item, one line each, as the items come: the seed keys, the [presswire] table
    (label, scores, tickers, reasons; null when unclassified), then the sanitized body."""
    for i in items:
        yield json.dumps({**seed_front(i), "presswire": presswire_table(i) or None,
                          "body_html": clean_html(i.body_html)}, ensure_ascii=False) + "\n"


def write_lines(path: Path, lines: Iterable[str]) -> bool:
    """Write one output file (JSON lines, Atom), creating its folder, without holding it in memory (JSON
    lines of a whole store): the lines go to a temporary file beside `path` as they come, which replaces it
    only when their content differs, so an unchanged export leaves the file (and its mtime) alone. True
    when written."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".presswire-", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(lines)
        if _same_content(Path(tmp), path):
            Path(tmp).unlink()
            return False
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _same_content(new: Path, old: Path) -> bool:
    """Whether `old` is a regular file holding exactly `new`'s bytes (compared a block at a time)."""
    try:
        return old.is_file() and filecmp.cmp(new, old, shallow=False)
    except OSError:
        return False


def inside(root: Path, rel: str) -> Path | None:
    """root/rel resolved, or None when it would land outside root (or on root itself)."""
    if not rel or "\x00" in rel or os.path.isabs(rel):
        return None
    target = (root / rel).resolve()
    return target if target != root and target.is_relative_to(root) else None


def write_if_changed(path: Path, content: bytes) -> bool:
    """Replace path's content atomically unless it already is `content`; True when written."""
    try:
        if path.read_bytes() == content:
            return False
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".presswire-", suffix=".tmp")
    try:
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def _file_mode(path: Path) -> int:
    """The mode a plain write would leave `path` with: the replaced file's own, else 0666 less the umask.
    mkstemp makes its file 0600, and every exported file (documents, QR codes, feed.atom) was readable by
    its owner alone: a web server or a Hugo build running as another user could not read them."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mask = os.umask(0o077)  # the only way to read it: set it (to the strictest, for this instant) and back
        os.umask(mask)
        return 0o666 & ~mask


def _root(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    return out.resolve()


def _is_relative_file(qrcode: str) -> bool:
    """A path we may write our PNG to: relative, plain names only, ending in .png (never a document)."""
    parts = qrcode.split("/")
    return qrcode.lower().endswith(".png") and all(
        _PLAIN_NAME.match(p) and p.split(".")[0].lower() not in _WINDOWS_DEVICES for p in parts)

