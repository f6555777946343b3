"""errors: a usage error is one line, whatever user text it quotes."""

from __future__ import annotations

import pytest

from fetchbench.errors import InputError, UsageError, one_line


@pytest.mark.parametrize("typed", ["\n", "a\r\nb", "x\u2028y", "p\u2029q", "\x1b[31mred", "\x85",
                                   "\x0b\x0c\x1c\x1d\x1e", "tab\there"])
def test_usage_errors_quoting_line_breaks_stay_one_line(typed):
    for error in (UsageError(f"--urls: not an integer: '{typed}'"),
                  InputError(f"urls.txt:3: not a URL: {typed}")):
        message = str(error)
        assert len(message.splitlines()) == 1
        assert message.isprintable()


def test_printable_text_is_left_as_it_is():
    text = "--delay: '1 s' é 中 ~ \\n stays"
    assert one_line(text) == text
    assert str(UsageError(text)) == text
