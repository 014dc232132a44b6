"""Invite codes are typed on a command line and carried in a Telegram deep link."""

from __future__ import annotations

from core.services.members import hash_invite_code, new_invite_code
from courier.parser import build_parser


def test_a_code_is_twelve_letters_and_digits_and_never_read_as_an_option() -> None:
    # Url-safe base64 began one code in 64 with "-": 2,000 codes would show it.
    codes = [new_invite_code() for _ in range(2000)]
    assert all(len(code) == 12 and code.isascii() and code.isalnum() for code in codes)
    assert len(set(codes)) == len(codes)
    for code in codes[:50]:
        args = build_parser().parse_args(
            ["workspace", "join", code, "--telegram-id", "1001", "--name", "Marie"]
        )
        assert args.code == code


def test_a_code_is_found_by_its_hash_whatever_the_spaces_around_it() -> None:
    code = new_invite_code()
    assert hash_invite_code(f"  {code}\n") == hash_invite_code(code)
