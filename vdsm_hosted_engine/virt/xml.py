"""Safe XML parsing for domxml from anywhere (hooks, files, libvirt): no entities, no network."""

from __future__ import annotations

from lxml import etree

from vdsm_hosted_engine.errors import InvalidRequest


class BadDomxml(InvalidRequest):
    """The domxml is not well-formed or not a libvirt domain."""

    code = 9004


def parser() -> etree.XMLParser:
    # resolve_entities=False + no DTD loading: a billion-laughs or external-entity payload is refused.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def parse_domxml(text: str | bytes) -> etree._Element:
    data = text.encode("utf-8") if isinstance(text, str) else text
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise BadDomxml("domxml must not contain a DTD or entity declarations")
    try:
        root = etree.fromstring(data, parser())
    except etree.XMLSyntaxError as e:
        raise BadDomxml(f"domxml is not well-formed XML: {e}") from None
    if root.tag != "domain":
        raise BadDomxml(f"domxml root is <{root.tag}>, not <domain>")
    if root.getroottree().docinfo.internalDTD is not None or any(
        isinstance(node, etree._Entity) for node in root.iter()
    ):
        raise BadDomxml("domxml must not contain a DTD or entity references")
    return root


def to_string(root: etree._Element) -> str:
    return etree.tostring(root, encoding="unicode")
