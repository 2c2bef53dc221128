"""The email checks: client compatibility from caniemail's data, lint and links, with
known answers; the API route; the pytest helpers; the bundled data and its refresh."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from catcher import Email, assert_no_lint
from catcher.checks import MAX_HTML, RULES, Reports, check
from catcher.checks.caniemail import HERE as DATA_DIR
from catcher.checks.caniemail import data, latest
from catcher.checks.lint import contrast, lint
from catcher.checks.refresh import main as refresh_main
from catcher.mail import MailAssertionError
from catcher.parsing import parse
from catcher.server import Catcher

from .conftest import Http, deliver, send

HEAD = (
    "From: Shop <shop@example.com>\r\nTo: ada@example.com\r\nSubject: Offer\r\n"
    "Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
)


def html_message(html: str, headers: str = "", text: str | None = None) -> bytes:
    """A message with this HTML body (and a text alternative when ``text`` is given)."""
    if text is None:
        return f"{HEAD}{headers}Content-Type: text/html; charset=utf-8\r\n\r\n{html}".encode()
    return (
        f"{HEAD}{headers}Content-Type: multipart/alternative; boundary=b\r\n\r\n"
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        f"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--b--\r\n"
    ).encode()


def report(raw: bytes, platforms: str = "all") -> dict[str, Any]:
    return Email.from_raw(raw).check(platforms)


def finding(result: dict[str, Any], rule: str) -> dict[str, Any]:
    found = [f for f in result["findings"] if f["rule"] == rule]
    assert found, f"no {rule} finding in {[f['rule'] for f in result['findings']]}"
    return found[0]


def rules(result: dict[str, Any]) -> set[str]:
    return {f["rule"] for f in result["findings"]}


def feature(result: dict[str, Any], slug: str) -> dict[str, Any]:
    found = [f for f in result["compatibility"]["features"] if f["slug"] == slug]
    assert found, f"{slug} not among {[f['slug'] for f in result['compatibility']['features']]}"
    return found[0]


def support(entry: dict[str, Any], family: str, platform: str) -> str:
    return next(
        r["support"] for r in entry["results"] if (r["family"], r["platform"]) == (family, platform)
    )


CLEAN = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Your receipt</title>
<meta name="color-scheme" content="light dark">
<style>
@media (prefers-color-scheme: dark) { .card { background-color: #111111; color: #eeeeee } }
</style></head>
<body>
<table role="presentation" width="600"><tr><td class="card">
<p>Thanks for your order. <a href="https://shop.example.com/orders/42">See your order</a></p>
<img src="https://shop.example.com/logo.png" alt="Shop" width="120" height="40">
</td></tr></table>
</body></html>"""
CLEAN_TEXT = "Thanks for your order. See your order: https://shop.example.com/orders/42"

FEATURES = """<html lang="en"><head><title>Features</title><style>
.row { display: flex; }
.badge { position: absolute; top: 0; }
@media (prefers-color-scheme: dark) {
  .row { background-color: #000000; }
}
</style></head><body>
<div class="row"><span class="badge">New</span></div>
<video src="https://example.com/clip.mp4" width="320" height="240"></video>
<table role="presentation"><tr><td background="https://example.com/bg.png"
 style="background-image: url('https://example.com/bg.png')">Text</td></tr></table>
</body></html>"""


def test_features_used_are_found_with_their_lines_and_each_clients_support() -> None:
    result = report(html_message(FEATURES, text="Features"))
    flex = feature(result, "css-display-flex")
    assert flex["lines"] == [2] and flex["count"] == 1 and flex["title"] == "display:flex"
    assert support(flex, "outlook", "windows") == "no"
    assert support(flex, "apple-mail", "ios") == "yes"
    position = feature(result, "css-position")
    assert position["lines"] == [3]
    assert support(position, "gmail", "desktop-webmail") == "no"
    assert support(position, "apple-mail", "ios") == "partial"
    apple = next(r for r in position["results"] if r["client"] == "Apple Mail iOS")
    assert apple["notes"] and all(isinstance(n, str) and n for n in apple["notes"])
    video = feature(result, "html-video")
    assert video["lines"] == [9] and support(video, "outlook", "windows") == "no"
    dark = feature(result, "css-at-media-prefers-color-scheme")
    assert dark["lines"] == [4] and support(dark, "apple-mail", "ios") == "yes"
    assert support(dark, "gmail", "desktop-webmail") == "no"
    background = feature(result, "css-background-image")
    assert support(background, "outlook", "windows") == "no" and background["lines"] == [10]
    assert feature(result, "html-background")["lines"] == [10]
    assert feature(result, "css-left-right-top-bottom")["lines"] == [3]
    assert feature(result, "css-selector-class")["count"] == 3
    assert "dark-mode" not in rules(result)


def test_scores_per_family_and_overall_follow_the_supports() -> None:
    result = report(html_message(FEATURES, text="Features"))
    compat = result["compatibility"]
    families = {f["family"]: f for f in compat["families"]}
    outlook, apple = families["outlook"], families["apple-mail"]
    assert outlook["score"] < apple["score"]
    windows = next(c for c in outlook["clients"] if c["platform"] == "windows")
    tested = windows["supported"] + windows["partial"] + windows["unsupported"]
    assert windows["score"] == round(
        100 * (windows["supported"] + windows["partial"] / 2) / tested, 1
    )
    scores = [f["score"] for f in compat["families"] if f["score"] is not None]
    assert compat["score"] == round(sum(scores) / len(scores), 1)
    assert scores == sorted(scores)  # worst first
    assert compat["data"]["source"] == "caniemail" and compat["data"]["license"] == "MIT"
    assert compat["data"]["version"] == data().source["version"]


def test_platform_filter_keeps_only_those_platforms() -> None:
    raw = html_message(FEATURES, text="Features")
    mobile = report(raw, "mobile")["compatibility"]
    assert mobile["platforms"] == ["android", "ios"]
    platforms = {r["platform"] for f in mobile["features"] for r in f["results"]}
    assert platforms == {"android", "ios"}
    desktop = report(raw, "desktop,outlook-com")["compatibility"]
    assert {r["platform"] for f in desktop["features"] for r in f["results"]} <= {
        "desktop-app",
        "macos",
        "windows",
        "windows-mail",
        "outlook-com",
    }
    with pytest.raises(ValueError, match="unknown platform 'pager'"):
        report(raw, "pager")


def test_a_clean_template_has_no_errors_or_warnings() -> None:
    result = report(html_message(CLEAN, text=CLEAN_TEXT))
    assert [f for f in result["findings"] if f["severity"] != "info"] == []
    assert result["counts"] == {"error": 0, "warning": 0, "info": 0}
    assert_no_lint(Email.from_raw(html_message(CLEAN, text=CLEAN_TEXT)), "info")
    assert result["fetched"] is False
    assert [link["url"] for link in result["links"]] == [
        "https://shop.example.com/orders/42",
        "https://shop.example.com/logo.png",
    ]
    assert result["links"][0]["text"] == "See your order" and result["links"][0]["line"] == 9


def test_html_over_gmails_limit_is_an_error_with_its_exact_size() -> None:
    filler = "<p>" + "x" * 110_000 + "</p>"
    html = f'<html lang="en"><head><title>Big</title></head><body>{filler}</body></html>'
    result = report(html_message(html, text="Big"))
    size = len(html.encode())
    clipping = finding(result, "gmail-clipping")
    assert clipping["severity"] == "error"
    assert f"{size:,} bytes" in clipping["message"] and result["html"]["bytes"] == size
    assert "gmail-clipping" not in rules(report(html_message(CLEAN, text=CLEAN_TEXT)))


def test_images_without_alt_or_size_are_found_on_their_lines() -> None:
    html = (
        '<html lang="en"><head><title>Images</title></head><body>\n'
        '<img src="https://example.com/a.png" width="10" height="10">\n'
        '<img src="https://example.com/b.png" alt="">\n'
        '<img src="https://example.com/c.png" alt="C" width="5" height="5">\n'
        '<img src="https://example.com/d.png">\n'
        "</body></html>"
    )
    result = report(html_message(html, text="Images"))
    alt = finding(result, "img-alt")
    assert alt["severity"] == "error" and alt["count"] == 2 and alt["lines"] == [2, 5]
    assert alt["source"].startswith("https://www.w3.org/WAI/")
    sizes = finding(result, "image-dimensions")
    assert sizes["count"] == 2 and sizes["lines"] == [3, 5]


@pytest.mark.parametrize(
    ("header", "wanted"),
    [
        ("List-Unsubscribe: https://example.com/u\r\n", "not a list of <URI>s"),
        ("List-Unsubscribe: <ftp://example.com/u>\r\n", "only mailto: and http(s)"),
        ("List-Unsubscribe: <mailto:>\r\n", "names no address"),
        (
            "List-Unsubscribe: <mailto:u@example.com>\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            "needs an https: URI",
        ),
        (
            "List-Unsubscribe: <https://example.com/u>\r\nList-Unsubscribe-Post: yes\r\n",
            "must be exactly 'List-Unsubscribe=One-Click'",
        ),
        ("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", "without List-Unsubscribe"),
    ],
)
def test_bad_list_unsubscribe_headers_are_errors(header: str, wanted: str) -> None:
    result = report(html_message(CLEAN, header, CLEAN_TEXT))
    found = finding(result, "list-unsubscribe-malformed")
    assert found["severity"] == "error" and wanted in found["message"]
    assert "rfc8058" in found["source"]


def test_bulk_mail_wants_one_click_unsubscribe() -> None:
    bulk = "List-Id: <news.example.com>\r\n"
    assert "list-unsubscribe-missing" in rules(report(html_message(CLEAN, bulk, CLEAN_TEXT)))
    half = bulk + "List-Unsubscribe: <https://example.com/u?x=1>\r\n"
    assert (
        "one-click"
        in finding(report(html_message(CLEAN, half, CLEAN_TEXT)), "list-unsubscribe-missing")[
            "message"
        ]
    )
    good = half + "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    assert not rules(report(html_message(CLEAN, good, CLEAN_TEXT))) & {
        "list-unsubscribe-missing",
        "list-unsubscribe-malformed",
    }


LINKS = """<html lang="en"><head><title>Links</title></head><body>
<a href="javascript:alert(1)">Run</a>
<a href="http://localhost:8000/reset?t=1">Reset</a>
<a href="https://192.168.1.20/admin">Admin</a>
<a href="file:///etc/passwd">File</a>
<a href="mailto:bad@">Write</a>
<a href="/account">Account</a>
<a href="https://example.com/{{ user.id }}/verify">Verify</a>
<a href="https://exa mple.com/">Space</a>
<img src="http://example.com/pixel.gif" alt="" width="1" height="1">
<a href="https://example.com/ok"></a>
<a href="mailto:ok@example.com?subject=Hi">Fine</a>
</body></html>"""


def test_links_are_judged_by_their_text_and_each_is_listed() -> None:
    result = report(html_message(LINKS, text="Links"))
    expected = {
        "link-javascript": (2, "error"),
        "link-local": (3, "warning"),
        "link-file": (5, "error"),
        "mailto-invalid": (6, "error"),
        "link-relative": (7, "error"),
        "template-placeholder": (8, "error"),
        "insecure-resource": (10, "warning"),
        "link-text": (11, "warning"),
    }
    for rule, (line, severity) in expected.items():
        found = finding(result, rule)
        assert line in found["lines"] and found["severity"] == severity, (rule, found)
    assert finding(result, "link-local")["lines"] == [3, 4]
    assert "private address (192.168.1.20)" in " ".join(
        p["message"] for link in result["links"] for p in link["problems"]
    )
    assert 9 in finding(result, "link-malformed")["lines"]
    listed = {link["url"]: link for link in result["links"]}
    assert listed["https://example.com/ok"]["problems"] == []
    assert listed["mailto:ok@example.com?subject=Hi"]["problems"] == []
    assert listed["http://example.com/pixel.gif"]["kind"] == "image"
    assert listed["javascript:alert(1)"]["text"] == "Run"


def test_accessibility_lang_title_tables_and_contrast() -> None:
    html = """<html><head></head><body>
<table><tr><td>Layout</td></tr></table>
<table><tr><th>Head</th></tr><tr><td>Data</td></tr></table>
<p style="color:#777777;background-color:#888888">grey on grey</p>
<p style="color:#000;background:#fff">black on white</p>
<td bgcolor="#000000"><font color="#222222">dark on black</font></td>
<h1 style="color:#949494">large enough</h1>
</body></html>"""
    result = report(html_message(html, text="grey on grey black on white dark on black"))
    assert {"html-lang", "title", "table-role", "contrast"} <= rules(result)
    assert finding(result, "table-role")["lines"] == [2]
    low = finding(result, "contrast")
    assert low["lines"] == [4, 6] and "1.26:1" in low["message"]
    assert contrast((0, 0, 0), (1, 1, 1)) == pytest.approx(21)
    assert contrast((0.58, 0.58, 0.58), (1, 1, 1)) > 3  # the large heading passes at 3:1


def test_parts_text_alternative_and_headers() -> None:
    html = (
        '<html lang="en"><head><title>T</title></head><body>'
        '<img src="cid:logo@x" alt="Logo" width="1" height="1">'
        '<img src="cid:missing@x" alt="Gone" width="1" height="1">'
        "<p>One two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty twentyone</p>"
        '<a href="https://example.com/a">A</a></body></html>'
    )
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["To"] = "b@example.com"
    message["Subject"] = "Parts"
    message.set_content("Something else entirely, about apples.")
    message.add_alternative(html, subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(b"\x89PNG\r\n\x1a\n", "image", "png", cid="<logo@x>")
    html_part.add_related(b"GIF89a", "image", "gif", cid="<unused@x>")
    result = report(message.as_bytes())
    assert finding(result, "cid-missing")["message"].startswith("'cid:missing@x'")
    assert "unused@x" in finding(result, "cid-unused")["message"]
    differs = finding(result, "text-differs")
    assert "words" in differs["message"] or "links" in differs["message"]
    assert {"header-date", "header-message-id"} <= rules(result)
    assert "header-from" not in rules(result)
    assert feature(result, "image-png")["count"] == 1  # the cid: image's type, from its part
    only_html = report(html_message(CLEAN))
    assert "text-alternative" in rules(only_html)
    no_from = report(b"To: b@example.com\r\nSubject: x\r\n\r\nHello {{ name }}\r\n")
    assert finding(no_from, "header-from")["severity"] == "error"
    assert "text part" in finding(no_from, "template-placeholder")["message"]
    assert no_from["html"]["present"] is False and no_from["compatibility"]["features"] == []


GOOD_MAIL = """<html lang="en"><head><title>News</title>
<style>.dark { color: #ffffff } :root { color-scheme: light dark }</style></head><body>
<div style="display:none;max-height:0;color:#ffffff">Preheader text</div>
<table role="presentation"><tr><td bgcolor="#000000" class="dark">Welcome aboard</td></tr></table>
<img src="https://example.com/logo.png" alt="Logo" style="width:120px;height:auto">
<v:fill type="frame" src="cid:bg@x" />
<a href="mailto:?subject=Look&amp;body=https%3A%2F%2Fexample.com">Tell a friend</a>
<a href="mailto:info@example.xn--p1ai">Write</a>
<a href="mailto:Jane%20Doe%20%3Cjane@example.com%3E">Jane</a>
<a href="https://click.example.com/ls?upn=abc%3D%3D0&amp;r=https%3A%2F%2Fshop.example.com">Shop</a>
<div style="display:-webkit-flex">x</div>
</body></html>"""
GOOD_TEXT = "Welcome aboard. Shop: https://click.example.com/ls?upn=abc%3D%3D0&r=https%3A%2F%2Fshop.example.com"


def test_ordinary_good_mail_has_no_false_findings() -> None:
    message = EmailMessage()
    message["From"] = "news@example.com"
    message["To"] = "ada@example.com"
    message["Subject"] = "News"
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = "<n1@example.com>"
    message["List-Unsubscribe"] = (
        "<https://example.com/u?id=1> (Unsubscribe), <mailto:u@example.com>"
    )
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(GOOD_TEXT)
    message.add_alternative(GOOD_MAIL, subtype="html")
    message.get_payload()[1].add_related(b"GIF89a", "image", "gif", cid="<bg@x>")
    folded = message.as_bytes().replace(b"?id=1>", b"?id=\r\n 1>")  # white space inside is ignored
    result = report(folded)
    assert [(f["rule"], f["message"]) for f in result["findings"]] == []
    assert feature(result, "css-display-flex")["lines"] == [11]


def test_loopback_written_short_or_as_a_number_is_local() -> None:
    html = "".join(
        f'<a href="http://{host}/">x</a>'
        for host in ("127.1", "0177.0.0.1", "2130706433", "0x7f.0.0.1", "[::1]")
    )
    found = finding(report(html_message(html, text="x")), "link-local")
    assert found["count"] == 5 and "loopback" in found["message"]


def test_assert_no_lint_lists_each_finding_with_its_line() -> None:
    email = Email.from_raw(html_message(LINKS, text="Links"))
    with pytest.raises(MailAssertionError) as failure:
        assert_no_lint(email)
    text = str(failure.value)
    assert "error link-javascript (line 2): 'javascript:alert(1)' runs script" in text
    assert "error link-file (line 5)" in text and "warning" not in text
    ignored = [
        "link-javascript",
        "link-file",
        "mailto-invalid",
        "link-relative",
        "template-placeholder",
        "link-malformed",
    ]
    assert_no_lint(email, ignore=ignored)
    assert "link-file" not in {f["rule"] for f in email.lint(ignore="link-file")}
    assert email.check(None)["compatibility"]["platforms"] == "all"
    assert {f["severity"] for f in email.lint("warning")} == {"error", "warning"}
    with pytest.raises(ValueError, match="severity: expected one of error, warning, info"):
        email.lint("fatal")


def test_hostile_html_and_css_give_a_report(subtests: pytest.Subtests) -> None:
    # Each case, and what its report must still say.
    cases: dict[str, tuple[str, str]] = {
        "unclosed style": ("<style>a{color:red", "html-style"),
        "nested blocks": ("<style>" + "a{" * 20_000 + "</style>", "css-nesting"),
        "nested functions": ("<p style='color:" + "f(" * 20_000 + "'>x</p>", "html-p"),
        "nested media": (
            "<style>" + "@media (prefers-color-scheme:dark){" * 5_000 + "</style>",
            "css-at-media-prefers-color-scheme",
        ),
        "huge selector": (
            "<style>" + "a:hover>b~c+d.e#f[g]," * 5_000 + "{x:y}</style>",
            "css-pseudo-class-hover",
        ),
        "deep elements": ("<div style='color:#111'>x" * 20_000, "html-div"),
        "bad colours": ("<p style='color:rgb(1,2,3,4,5);background:hsl(x)'>x</p>" * 100, "css-rgb"),
        "control bytes": ("<a href='http://\x00\x01/'>\x00</a><img src='\x7f'>", "link-malformed"),
        "ipv6 host": (
            "<a href='http://[::1/'>x</a><a href='http://[fe80::1]/'>y</a>",
            "link-local",
        ),
        "over the cap": ("<p>" + "word " * (MAX_HTML // 4) + "</p>", "html-p"),
        "numbers past int()": (
            "<p style='width:" + "1" * 4400 + "px'>x</p><style>a{b:" + "1" * 4400 + "}</style>"
            "<font color='" + "1" * 5000 + "'>x</font><td bgcolor='" + "2" * 5000 + "'>y</td>",
            "html-p",
        ),
        "deep font-weight": ("<b style='font-weight:" + "(" * 600 + "'>x</b>", "css-font-weight"),
        "long port and zone": (
            "<a href='http://a:" + "x" * 100_000 + "/'>x</a>"
            "<a href='http://[fe80::1%25" + "z" * 30_000 + "]/'>y</a>",
            "link-malformed",
        ),
    }
    for name, (html, expected) in cases.items():
        with subtests.test(name):
            result = report(html_message(html))
            said = {f["slug"] for f in result["compatibility"]["features"]} | rules(result)
            assert expected in said
            assert all(len(f["message"]) < 400 for f in result["findings"])
            assert result["html"]["truncated"] is (name == "over the cap")
            json.dumps(result)


def test_reports_are_kept_within_their_bounds() -> None:
    reports = Reports(max_bytes=100, entries=3)
    for message_id in range(5):
        reports.put(message_id, None, b"x" * 30)
    assert [reports.get(i, None) is not None for i in range(5)] == [False, False, True, True, True]
    assert reports.bytes == 90
    reports.get(2, None)  # used, so kept over 3 when 5 arrives
    reports.put(5, None, b"y" * 40)
    assert reports.get(2, None) is not None and reports.get(3, None) is None
    assert reports.bytes <= 100
    reports.put(6, None, b"z" * 101)  # larger than everything: never kept
    assert reports.get(6, None) is None
    mobile = frozenset({"ios"})
    reports.put(2, mobile, b"m")
    assert reports.get(2, mobile) == b"m" and reports.get(2, None) is not None


def test_text_over_a_picture_or_a_styled_background_is_not_judged() -> None:
    html = """<html lang="en"><head><title>T</title><style>.hero{background:#000}</style></head>
<body><table role="presentation"><tr>
<td style="background-image:url(https://example.com/hero.jpg);color:#fff">On a photo</td>
<td background="https://example.com/hero.jpg"><font color="#ffffff">On a photo too</font></td>
<td class="hero" style="color:#fff">On a styled background</td>
</tr></table></body></html>"""
    assert "contrast" not in rules(report(html_message(html, text="On a photo")))


def test_a_findings_message_is_about_its_first_line() -> None:
    raw = html_message('<a href="https://example.com/{{ id }}">x</a>', "Subject: Hi {{ name }}\r\n")
    found = finding(report(raw), "template-placeholder")
    assert found["line"] == 1 and "{{ id }}" in found["message"]


def test_over_25_mb_is_an_error_and_over_10_a_warning() -> None:
    parsed = parse(b"From: a@example.com\r\n\r\nx\r\n")
    huge = {f["rule"]: f["severity"] for f in lint(parsed, 26 * 1024 * 1024, None, 0)}
    large = {f["rule"]: f["severity"] for f in lint(parsed, 11 * 1024 * 1024, None, 0)}
    assert huge["message-too-large"] == "error" and "message-size" not in huge
    assert large["message-size"] == "warning" and "message-too-large" not in large


def test_the_latest_test_of_a_client_is_the_newest_date() -> None:
    assert latest({"2024-04": "y", "2024-01": "n"}) == ("2024-04", "y")
    assert latest({"2019-10": "n", "16.80": "y"}) == ("16.80", "y")  # listed in test order


def test_every_corpus_message_gets_a_report(corpus_message: Path | None) -> None:
    assert corpus_message is not None
    raw = corpus_message.read_bytes()
    result = check(raw, parse(raw))
    assert set(result["counts"]) == {"error", "warning", "info"}
    assert sum(result["counts"].values()) == len(result["findings"])
    assert all(f["rule"] in RULES for f in result["findings"])
    json.dumps(result)


# -- over HTTP -------------------------------------------------------------------------


def test_the_api_answers_the_same_report_as_email_check(catcher: Catcher, http: Http) -> None:
    message_id = deliver(catcher, html_message(FEATURES, text="Features"))
    answered = http.get(f"/api/messages/{message_id}/check")
    stored = catcher.store.get(message_id)
    assert stored is not None
    assert answered == Email.from_raw(stored.raw, id=message_id).check()
    assert answered["id"] == message_id
    again = http.request("GET", f"/api/messages/{message_id}/check")[2]
    assert json.loads(again) == answered
    mobile = http.get(f"/api/messages/{message_id}/check?platform=mobile")
    assert mobile["compatibility"]["platforms"] == ["android", "ios"]
    # Narrowed from the report for every client, it is what a check for mobile makes.
    assert mobile == Email.from_raw(stored.raw, id=message_id).check("mobile")
    assert mobile["compatibility"]["score"] != answered["compatibility"]["score"]
    latest = http.get("/api/messages/latest/check")
    assert latest["id"] == message_id


def test_the_api_says_what_was_wrong(catcher: Catcher, http: Http) -> None:
    send(catcher)
    newest = catcher.store.latest()
    assert newest is not None
    status, body = http.json("GET", f"/api/messages/{newest.id}/check?platform=pager")
    assert status == 400 and "unknown platform 'pager'" in body["error"]
    assert "desktop, mobile, web" in body["error"]
    status, body = http.json("GET", "/api/messages/999/check")
    assert status == 404 and body == {"error": "no message with id 999"}
    plain = http.get(f"/api/messages/{newest.id}/check")
    assert plain["html"]["present"] is False and "text-alternative" not in rules(plain)


def test_the_route_is_in_the_openapi_document(catcher: Catcher, http: Http) -> None:
    document = http.get("/api/openapi.json")
    route = document["paths"]["/api/messages/{ident}/check"]["get"]
    assert "platform" in [p["name"] for p in route["parameters"]]
    assert document["components"]["schemas"]["Check"]["properties"]["fetched"] == {
        "const": False,
        "description": "always false: nothing is fetched",
    }


# -- the bundled data ----------------------------------------------------------------


def test_the_bundled_data_is_the_package_it_names() -> None:
    source = json.loads((DATA_DIR / "caniemail.source.json").read_text())
    content = (DATA_DIR / "caniemail.json").read_bytes()
    assert hashlib.sha256(content).hexdigest() == source["data_sha256"]
    assert source["package"] == "caniemail" and source["license"] == "MIT"
    assert "MIT License" in (DATA_DIR / "caniemail.LICENSE").read_text()
    assert len(data().features) == source["features"]


def test_refresh_copies_a_package_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content = (DATA_DIR / "caniemail.json").read_bytes()
    package = json.dumps({"name": "caniemail", "version": "9.9.9", "license": "MIT"}).encode()
    tarball = tmp_path / "caniemail-9.9.9.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name, body in [
            ("package/dist/data/caniemail.json", content),
            ("package/package.json", package),
            ("package/LICENSE", b"MIT License\n"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    out = tmp_path / "out"
    assert refresh_main(["--tarball", str(tarball), "--output", str(out)]) == 0
    assert (out / "caniemail.json").read_bytes() == content
    source = json.loads((out / "caniemail.source.json").read_text())
    assert (
        source["version"] == "9.9.9"
        and source["data_sha256"] == hashlib.sha256(content).hexdigest()
    )
    assert source["integrity"].startswith("sha512-")
    assert "caniemail 9.9.9: 307 features" in capsys.readouterr().out
