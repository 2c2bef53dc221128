"""Raw mail bytes in, a frozen model out: addresses, headers, bodies, parts and defects.

Only the standard library: ``tree`` splits a message into its MIME tree, ``mime`` walks
it, ``charsets`` turns bytes into text, ``headers`` and ``addresses`` read the header
fields, ``htmltext`` reads HTML.
"""

from __future__ import annotations

from catcher.parsing.addresses import Address, addresses_text
from catcher.parsing.htmltext import Reading, Tag, html_text, read_html, snippet, tags
from catcher.parsing.mime import Parsed, Part, parse, part_content, part_contents, raw_headers
from catcher.parsing.tree import Entity, parse_tree

__all__ = [
    "Address",
    "Entity",
    "Parsed",
    "Part",
    "Reading",
    "Tag",
    "addresses_text",
    "html_text",
    "parse",
    "parse_tree",
    "part_content",
    "part_contents",
    "raw_headers",
    "read_html",
    "snippet",
    "tags",
]
