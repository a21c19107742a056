"""Page metadata from a parsed HTML tree: title, publication date, image, canonical URL, language.

The cheap, explicit sources are read first (JSON-LD, OpenGraph and other <meta> tags, <link rel=canonical>,
<html lang>); htmldate's quick search over the page runs only when none of them gives a date (its
extensive search, which reads dates out of free text, costs more than the whole body extraction). This costs a
fraction of trafilatura's full metadata pass (which also hunts for authors, categories, licences, ...).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from lxml import etree

from ingest.urls import absolute_http, registrable_domain

_TITLE_SEPARATOR = re.compile(r"\s+(?:[|\u2013\u2014·»]|-|::)\s+")
# these are seldom inside a headline, unlike a dash ("Q3 Results - Revised", "Acme - the company that ...")
_STRONG_SEPARATOR = re.compile(r"\s+(?:[|·»]|::)\s+")
_NOT_ALNUM = re.compile(r"[\W_]+")
_LEADING_THE = re.compile(r"^\W*the\s+", re.IGNORECASE)  # the word, not "Theranos"
_LANG = re.compile(r"^[a-zA-Z]{2,3}(?=$|[-_])")
_NO_LANGUAGE = {"und", "mul", "zxx", "mis"}  # ISO 639 codes for undetermined, multiple, none, uncoded
_PUBLISHED = re.compile(r"(?:^|[\s_-])published(?:$|[\s_-])", re.IGNORECASE)  # not "unpublished"
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")

_DATE_META = ("article:published_time", "og:published_time", "datepublished", "date", "pubdate",
              "publishdate", "publish-date", "parsely-pub-date", "sailthru.date", "dc.date.issued",
              "dcterms.date", "dc.date", "dcterms.created", "bw-release-date", "article.published")
_IMAGE_META = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image", "twitter:image:src")
_LD_TYPES_WITH_DATE = ("article", "newsarticle", "blogposting", "reportagenewsarticle", "pressrelease",
                       "webpage", "analysisnewsarticle")


@dataclass(frozen=True)
class PageMeta:
    title: str = ""
    date: datetime | None = None
    image: str | None = None
    canonical: str | None = None
    description: str = ""
    language: str | None = None
    site_name: str = ""  # the first of _own_names


def page_metadata(tree: etree._Element, url: str) -> PageMeta:
    """Everything we read about the page itself, with URLs made absolute against `url`.
    The canonical URL is <link rel=canonical>, else og:url (OpenGraph's "canonical URL of your object")."""
    meta = _meta_tags(tree)
    ld = _json_ld(tree)
    return PageMeta(
        title=_title(tree, meta, ld, url),
        date=_date(tree, meta, ld, url),
        image=absolute_http(_first(meta, _IMAGE_META) or _ld_image(ld), url),
        canonical=_canonical(tree, meta, url),
        description=_norm(_first(meta, ("description", "og:description", "twitter:description")) or ""),
        language=_language(tree, meta),
        site_name=next((_norm(name) for name in _own_names(meta, ld) if isinstance(name, str) and name.strip()), ""),
    )


def _meta_tags(tree: etree._Element) -> dict[str, str]:
    """<meta> name/property/itemprop -> content (lowercased keys; the first occurrence wins)."""
    out: dict[str, str] = {}
    for el in tree.iter("meta"):
        key = el.get("property") or el.get("name") or el.get("itemprop") or el.get("http-equiv")
        content = (el.get("content") or "").strip()
        if key and content:
            out.setdefault(key.strip().lower(), content)
    return out


def _json_ld(tree: etree._Element) -> list[dict]:
    """The JSON-LD objects of the page, @graph and lists flattened; unreadable blocks are skipped."""
    found: list[dict] = []
    for script in tree.iter("script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            continue
        _flatten(data, found)
    return found


def _flatten(data: object, out: list[dict]) -> None:
    if isinstance(data, list):
        for part in data:
            _flatten(part, out)
    elif isinstance(data, dict):
        out.append(data)
        if "@graph" in data:
            _flatten(data["@graph"], out)


def _ld_articles(ld: list[dict]) -> list[dict]:
    def types(obj: dict) -> list[str]:
        raw = obj.get("@type", [])
        return [str(t).lower() for t in (raw if isinstance(raw, list) else [raw])]
    return [obj for obj in ld if any(t in _LD_TYPES_WITH_DATE for t in types(obj))]


def _title(tree: etree._Element, meta: dict[str, str], ld: list[dict], url: str) -> str:
    """The headline, without the site's name that og:title or <title> often add ("Acme wins | Business Wire")."""
    sites = _site_names(meta, ld, url)
    for obj in _ld_articles(ld):
        if isinstance(obj.get("headline"), str) and obj["headline"].strip():
            return without_site_name(_norm(obj["headline"]), sites)
    if title := meta.get("og:title"):
        return without_site_name(_norm(title), sites)
    h1s = [_norm("".join(h.itertext())) for h in tree.iter("h1")]
    if len(h1s) == 1 and h1s[0]:
        return h1s[0]
    if title := meta.get("twitter:title"):
        return without_site_name(_norm(title), sites)
    title_el = next(tree.iter("title"), None)
    text = without_site_name(_norm("".join(title_el.itertext())) if title_el is not None else "", sites)
    parts = _STRONG_SEPARATOR.split(text)  # "Headline | Section | Site" with a name we do not know
    return max(parts, key=lambda part: len(part.split()))  # the most words; a tie goes to the first part


def without_site_name(title: str, sites: set[str]) -> str:
    """`title` without a site's name (`sites`, squashed: site_names) before or after it: "Acme wins |
    Business Wire", "Acme wins - GlobeNewswire - Business Wire", "InvestorBrandNetwork | Acme wins". Only a
    whole first or last part that is such a name goes, so "Q3 Results - Revised" and "Acme - the company
    that ..." stay whole (a title left with a site's name is better than one cut short); so does a name before
    a colon, which is how headlines name their subject ("Acme: Q3 Results Beat Estimates" on acme.com)."""
    while (ends := list(_TITLE_SEPARATOR.finditer(title))) and _squash(title[ends[-1].end():]) in sites:
        title = title[:ends[-1].start()]
    while (end := _TITLE_SEPARATOR.search(title)) and _squash(title[:end.start()]) in sites:
        title = title[end.end():]
    return title


def site_names(url: str, *names: object) -> set[str]:
    """What a site calls itself (`names`: its og:site_name, a source's name ...) and its host's name
    ("wsj" and "wsj.com" for www.wsj.com), squashed; without_site_name drops them from titles."""
    domain = registrable_domain(url)
    return {_squash(name) for name in (*names, domain, domain.split(".")[0])
            if isinstance(name, str) and name.strip()} - {""}


def _site_names(meta: dict[str, str], ld: list[dict], url: str) -> set[str]:
    """What the page's site calls itself (_own_names) and its host's name, squashed."""
    return site_names(url, *_own_names(meta, ld))


def _own_names(meta: dict[str, str], ld: list[dict]) -> list[object]:
    """What the page's site calls itself: og:site_name, application-name, the JSON-LD publisher (not checked:
    any value may be missing or no string)."""
    names = [meta.get("og:site_name"), meta.get("application-name")]
    return names + [obj["publisher"].get("name") for obj in _ld_articles(ld) if isinstance(obj.get("publisher"), dict)]


def _squash(text: str) -> str:
    """Lowercase letters and digits only, "&" spelled out, without a leading "the" (hosts often drop it):
    "The Wall Street Journal" -> "wallstreetjournal", "Flour & Ledger" -> "flourandledger" (flourandledger.com)."""
    return _NOT_ALNUM.sub("", _LEADING_THE.sub("", text.replace("&", "and"))).lower()


def _date(tree: etree._Element, meta: dict[str, str], ld: list[dict], url: str) -> datetime | None:
    candidates = [obj.get("datePublished") for obj in _ld_articles(ld)]
    candidates += [meta.get(key) for key in _DATE_META]
    candidates += [el.get("datetime") for el in tree.iter("time") if _PUBLISHED.search(el.get("class") or "")]
    for value in candidates:
        if isinstance(value, str) and (parsed := parse_date(value)):
            return parsed
    from htmldate import find_date  # imported with trafilatura where pages are read (ingest.workers), not by
    # every process that imports this module (~0.1 s)
    found = find_date(tree, url=url, extensive_search=False, original_date=True)
    return parse_date(found) if found else None


def parse_date(value: str) -> datetime | None:
    """An ISO 8601 date or datetime (or YYYYMMDD) as an aware UTC datetime; None when unreadable."""
    value = value.strip()
    if match := _COMPACT_DATE.match(value):
        value = "-".join(match.groups())
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _ld_image(ld: list[dict]) -> str | None:
    for obj in _ld_articles(ld):
        image = obj.get("image")
        if isinstance(image, list) and image:
            image = image[0]
        if isinstance(image, dict):
            image = image.get("url")
        if isinstance(image, str) and image.strip():
            return image.strip()
    return None


def _canonical(tree: etree._Element, meta: dict[str, str], url: str) -> str | None:
    for link in tree.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and (href := (link.get("href") or "").strip()):
            return absolute_http(href, url)
    return absolute_http(meta.get("og:url"), url)


def _language(tree: etree._Element, meta: dict[str, str]) -> str | None:
    root = tree.getroottree().getroot()
    for value in (root.get("lang"), root.get("{http://www.w3.org/XML/1998/namespace}lang"),
                  meta.get("og:locale"), meta.get("content-language"), meta.get("language")):
        if value and (match := _LANG.match(value.strip())) and match.group(0).lower() not in _NO_LANGUAGE:
            return match.group(0).lower()
    return None


def _first(meta: dict[str, str], keys: tuple[str, ...]) -> str | None:
    return next((meta[k] for k in keys if meta.get(k)), None)


def _norm(text: str) -> str:
    return " ".join(text.split())
