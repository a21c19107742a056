"""URL canonicalization: one spelling per page, so copies can be recognised by URL.

Rules applied by :func:`canonicalize` to absolute http(s) URLs:

* scheme and host lowercased, a trailing dot on the host dropped, default ports
  (80 for http, 443 for https) dropped, an empty path becomes ``/``;
* the fragment is dropped;
* tracking parameters are dropped (``utm_*``, ``mc_*``, ``fbclid``, ``gclid``,
  ``_hsenc`` and friends, see ``_TRACKING_EXACT`` / ``_TRACKING_PREFIXES``);
  every other parameter is kept byte for byte (they may change content: ``id``,
  ``page``, ``p``, ``article``...) and the kept ones are sorted by name
  (stable, so repeated names keep their order);
* AMP variants map to the canonical page: ``amp`` path segments removed
  (``/amp/news/x``, ``/news/x/amp/`` -> ``/news/x/``; a trailing slash is kept
  only if the AMP URL had one), ``.amp.html`` becomes ``.html``, ``amp=1`` /
  ``amp`` / ``amp=true`` / ``outputType=amp`` dropped, and AMP cache URLs
  (``*.cdn.ampproject.org/c/s/...``, ``*.bing-amp.com/c/s/...``,
  ``www.google.com/amp/s/...``) unwrapped to the origin URL.

Anything that is not an absolute http(s) URL, or cannot be parsed, is returned
stripped of surrounding whitespace: the function never raises on odd strings.
``canonicalize`` is idempotent.

Not done on purpose: ``www.`` is not removed (it is another host), trailing
slashes are kept, percent escapes are not re-encoded, ``amp.`` subdomains are
left alone (there is no general rule for their canonical host).
"""

from __future__ import annotations

import functools
import re
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit, urlunsplit

from tld import get_fld

_DEFAULT_PORTS = {"http": 80, "https": 443}

_TRACKING_EXACT = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "mkt_tok", "_hsenc", "_hsmi",
        "__hstc", "__hssc", "__hsfp", "hsctatracking", "_ga", "_gl", "_openstat",
        "vero_id", "vero_conv", "oly_anon_id", "oly_enc_id", "wickedid", "rb_clickid",
        "s_cid", "ref_src", "ref_url", "sr_share", "cmpid", "ncid", "soc_src", "soc_trk",
    }
)
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "mtm_", "hsa_", "at_", "_bta_")
_AMP_PARAM_VALUES = frozenset({"", "1", "true", "yes", "on"})

# AMP cache path: /c/s/<host>/<path> (content over https), /c/<host>/... (http),
# also /v/ (viewer) and /i/ (images) prefixes. Google's viewer: /amp/s/<host>/...
_AMP_CACHE_PATH = re.compile(r"^/(?:[cvi]|amp)/(s/)?(?P<rest>[^/]+\.[^/]+(?:/.*)?)$")
_AMP_CACHE_HOSTS = ("cdn.ampproject.org", "bing-amp.com")
_AMP_HTML = re.compile(r"(?:\.amp)+(\.html?)$", re.IGNORECASE)
_TABS_AND_BREAKS = str.maketrans("", "", "\t\n\r")
_SPACE = re.compile(r"\s")


def canonicalize(url: str) -> str:
    """Return the canonical spelling of ``url`` (see the module docstring)."""
    text = url.strip() if isinstance(url, str) else ""
    for _ in range(8):  # rules can enable each other (an AMP cache URL unwraps to an AMP page): to a fixpoint
        following = _canonical_once(text)
        if following == text:
            break
        text = following
    return text


def _canonical_once(text: str) -> str:
    try:
        parts = urlsplit(text)
        if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
            return text
        unwrapped = _unwrap_amp_cache(parts)
        return unwrapped if unwrapped is not None else _rebuild(parts)
    except ValueError:  # bad port, bad IPv6 literal, ...
        return text


def prefer_canonical(link: str, page_canonical: str | None) -> str:
    """Choose between the item's link and the page's ``rel=canonical``.

    The page's canonical is accepted only when, once resolved against the link
    (relative hrefs are allowed, they cannot leave the site), it is an http(s)
    URL on the same registrable domain as the canonicalized link (the
    canonicalized link, so an AMP cache copy may point at its origin site).

    Cross-domain canonicals are refused, wire domains included: a syndication
    partner pointing at the wire copy would otherwise take the wire copy's
    identity, so the partner's copy would be dropped as "already seen" instead
    of being stored as a copy in the cluster (the content hash links them), and
    any page could claim another site's URL and suppress the real item.

    A canonical that is the site's home page (``/``, no query) names no article:
    it is refused for any other link. Themes that print one canonical on every
    page would give every item the home page's URL (and QR code).
    """
    base = canonicalize(link)
    if not page_canonical or not page_canonical.strip():
        return base
    try:
        candidate = canonicalize(urljoin(base, page_canonical.strip()))
    except ValueError:
        return base
    if not is_http_url(candidate):
        return base
    if _is_home_page(candidate) and not _is_home_page(base):
        return base
    same_site = registrable_domain(candidate) == registrable_domain(base)
    return candidate if same_site and registrable_domain(base) else base


def absolute_http(href: str | None, base: str) -> str | None:
    """A link's href made absolute against the page's URL, when that is an http(s) URL; None otherwise
    (empty, javascript:, mailto:, data:). Tabs and line breaks inside are dropped, as browsers drop them: a long
    URL wrapped in the markup is one URL, never one with a space where the line broke (the body's markup has
    its white space collapsed)."""
    if not href:
        return None
    href = href.strip().translate(_TABS_AND_BREAKS)
    if href.startswith(("https://", "http://")) and " " not in href:  # the common case, without urljoin
        return href
    absolute = urljoin(base, href)
    return absolute if urlsplit(absolute).scheme in ("http", "https") else None


def href_as_browsers_read(href: str) -> str:
    """`href` as browsers read it: white space at its ends stripped, tabs and line breaks inside dropped (long
    URLs wrapped in markup), other white space percent-encoded ("Q3 2025.html" -> "Q3%202025.html")."""
    return _SPACE.sub(lambda space: quote(space.group()), href.strip().translate(_TABS_AND_BREAKS))


def registrable_domain(url: str) -> str:
    """Registrable domain (public suffix + 1 label) of ``url``; the bare host
    for IP addresses and single-label hosts; ``""`` when there is no host."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".")
    except ValueError:
        return ""
    return _host_domain(host) if host else ""


@functools.lru_cache(maxsize=4096)
def _host_domain(host: str) -> str:
    """registrable_domain of a host name (cached: tld's lookup costs ~0.15 ms, and hosts repeat)."""
    fld = get_fld(f"http://{host}/", fail_silently=True)
    return fld.lower() if isinstance(fld, str) else host.lower()


def _is_public_host(netloc: str) -> bool:
    """A host name under a public suffix (``example.com``, not ``a.html`` or ``c``)."""
    return get_fld(f"http://{netloc}/", fail_silently=True) is not None


def _is_home_page(url: str) -> bool:
    """A canonicalized http(s) URL naming a site's root: path ``/``, no query."""
    parts = urlsplit(url)
    return parts.path == "/" and not parts.query


def is_http_url(url: str) -> bool:
    """An http(s) URL with a host, and a port (if any) from 0 to 65535."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number from 0 to 65535
    except ValueError:  # that, or "Invalid IPv6 URL"
        return False
    return parts.scheme in _DEFAULT_PORTS and bool(parts.hostname)


def _rebuild(parts: SplitResult) -> str:
    scheme = parts.scheme.lower()
    netloc = _netloc(parts, scheme)
    path = _strip_amp_path(parts.path or "/")
    query = _clean_query(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _netloc(parts: SplitResult, scheme: str) -> str:
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port  # raises ValueError on a bad port: handled by caller
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    return f"{userinfo}@{host}" if userinfo else host


def _strip_amp_path(path: str) -> str:
    segments = path.split("/")
    kept = [s for s in segments[1:] if s and s.lower() != "amp"]
    if len(kept) != len([s for s in segments[1:] if s]):
        trailing = "/" if kept and path.endswith("/") else ""
        path = "/" + "/".join(kept) + trailing
    return _AMP_HTML.sub(r"\1", path)


def _clean_query(query: str) -> str:
    pieces = [p for p in query.split("&") if p]
    kept = [p for p in pieces if not _is_dropped_param(p)]
    kept.sort(key=lambda p: p.partition("=")[0])
    return "&".join(kept)


def _is_dropped_param(piece: str) -> bool:
    raw_name, _, raw_value = piece.partition("=")
    name = unquote(raw_name.replace("+", " ")).strip().lower()
    value = unquote(raw_value.replace("+", " ")).strip().lower()
    if name in _TRACKING_EXACT or name.startswith(_TRACKING_PREFIXES):
        return True
    if name == "amp" and value in _AMP_PARAM_VALUES:
        return True
    return name in ("outputtype", "output") and value == "amp"


def _unwrap_amp_cache(parts: SplitResult) -> str | None:
    """Origin URL for an AMP cache / viewer URL, else ``None``."""
    host = (parts.hostname or "").rstrip(".")
    is_cache = any(host == h or host.endswith("." + h) for h in _AMP_CACHE_HOSTS)
    is_google_viewer = host in ("google.com", "www.google.com") and parts.path.startswith("/amp/")
    if not (is_cache or is_google_viewer):
        return None
    match = _AMP_CACHE_PATH.match(parts.path)
    if match is None or not _is_public_host(match.group("rest").split("/", 1)[0]):
        return None
    scheme = "https" if match.group(1) else "http"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{match.group('rest')}{query}"
