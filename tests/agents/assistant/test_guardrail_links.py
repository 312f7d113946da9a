"""Images always out; links only to allowed hosts, keeping their text."""

from __future__ import annotations

import pytest

from hushdesk.agents.assistant.guardrails.links import strip_links

ALLOWED = frozenset({"shop.example"})


def _strip(text: str) -> str:
    return strip_links(text, ALLOWED).text


def test_a_markdown_image_is_removed_whatever_its_host() -> None:
    result = strip_links(
        "See ![x](https://evil.example/p.png) and ![logo](https://shop.example/l.png).", ALLOWED
    )
    assert result.text == "See and."
    assert (result.images_removed, result.links_removed) == (2, 0)


@pytest.mark.parametrize(
    "image",
    [
        '<img src="https://evil.example/p.png">',
        "<IMG SRC=https://shop.example/p.png />",
        "![x][pic]\n[pic]: https://evil.example/p.png",
        "![pic]\n\n[pic]: https://evil.example/p.png",
        '![x](<https://evil.example/a b.png> "title")',
        "[![x](https://evil.example/p.png)](https://shop.example/)",
    ],
)
def test_every_form_of_image_is_removed(image: str) -> None:
    result = strip_links(f"Hello {image} bye", ALLOWED)
    assert result.images_removed >= 1
    assert "evil.example" not in result.text
    assert "p.png" not in result.text


def test_an_outside_markdown_link_keeps_its_text() -> None:
    result = strip_links("Please [click here](https://evil.example/login) now.", ALLOWED)
    assert result.text == "Please click here now."
    assert result.links_removed == 1


def test_a_link_to_an_allowed_host_survives_unchanged() -> None:
    text = 'Returns: [form](https://shop.example/returns "Form"), <https://shop.example/a> or https://SHOP.example/b.'
    result = strip_links(text, ALLOWED)
    assert result.text == text
    assert (result.images_removed, result.links_removed) == (0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Go to https://evil.example/login.", "Go to."),
        ("Go to www.evil.example/login now", "Go to now"),
        ("(see http://evil.example/a_(b))", "(see)"),
        ("Visit <https://evil.example/x> today", "Visit today"),
        ('<a href="https://evil.example">our site</a>', "our site"),
        ("<a href='https://shop.example.evil.example/'>shop</a>", "shop"),
        ("[shop](https://shop.example@evil.example/)", "shop"),
        ("[shop](https://evil.example\\@shop.example/)", "shop"),
        ("[shop](//evil.example/)", "shop"),
        ("[run](javascript:alert(1))", "run"),
        ("[x](data:text/html;base64,AAAA)", "x"),
        ("[shop](http://sub.shop.example/)", "shop"),
        ("[ref link][r]\n[r]: https://evil.example/", "ref link"),
        ("<a href=https://evil.example>unclosed", "unclosed"),
    ],
)
def test_outside_addresses_in_any_form_are_removed(text: str, expected: str) -> None:
    assert _strip(text) == expected


def test_an_email_address_is_not_a_link() -> None:
    text = "Write to warranty@shop.example or ada@evil.example."
    assert strip_links(text, ALLOWED) == strip_links(text, frozenset())
    assert _strip(text) == text


def test_citation_markers_are_left_alone() -> None:
    assert _strip("Thirty days [1]. Free returns [2]!") == "Thirty days [1]. Free returns [2]!"


def test_an_exclamation_before_a_citation_is_not_an_image() -> None:
    result = strip_links("That's great![1]", ALLOWED)
    assert result.text == "That's great![1]"
    assert result.images_removed == 0


def test_host_matching_ignores_case_and_a_trailing_dot_in_the_allow_list() -> None:
    assert strip_links("[a](https://Shop.Example/x)", frozenset({"SHOP.example."})).links_removed == 0
