"""Selectors of per-source extraction rules: CSS (through cssselect, when installed) or XPath.

A selector that starts with "/" or "(" is XPath; anything else is CSS. Both end up as a compiled
lxml XPath, so a bad selector is found when the config is loaded, not in the middle of a poll.
"""

from __future__ import annotations

from functools import lru_cache

from lxml import etree

try:  # cssselect is optional: without it only XPath selectors are accepted
    from cssselect import GenericTranslator, SelectorError as _CssError
except ImportError:  # pragma: no cover - exercised only where cssselect is not installed
    GenericTranslator = None
    _CssError = ValueError


class SelectorError(ValueError):
    """A selector that is neither valid CSS nor valid XPath (the message says why)."""


def is_xpath(selector: str) -> bool:
    return selector.lstrip().startswith(("/", "("))


@lru_cache(maxsize=256)
def compile_selector(selector: str) -> etree.XPath:
    """The selector as a compiled XPath over an lxml HTML tree; SelectorError when it cannot be."""
    selector = selector.strip()
    if not selector:
        raise SelectorError("empty selector")
    expression = selector if is_xpath(selector) else _css_to_xpath(selector)
    try:
        return etree.XPath(expression)
    except etree.XPathSyntaxError as exc:
        raise SelectorError(f"invalid XPath {selector!r}: {exc}") from exc


def _css_to_xpath(selector: str) -> str:
    if GenericTranslator is None:
        raise SelectorError(f"CSS selector {selector!r} needs the cssselect package; "
                            "install it or write the selector as XPath (starting with '/')")
    try:
        return GenericTranslator().css_to_xpath(selector)
    except _CssError as exc:
        raise SelectorError(f"invalid CSS selector {selector!r}: {exc}") from exc


def select(tree: etree._Element, selector: str) -> list[etree._Element]:
    """The elements the selector matches (text or attribute results are ignored)."""
    return [el for el in compile_selector(selector)(tree) if isinstance(el, etree._Element)]
