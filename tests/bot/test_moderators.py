"""Who counts as a moderator: Manage Server, Administrator, or a configured moderator role."""

import pytest

from bot.moderators import ADMINISTRATOR, MANAGE_GUILD, is_moderator

MANAGE_MESSAGES = 1 << 13


@pytest.mark.parametrize(("permissions", "roles", "moderator_roles", "expected"), [
    (MANAGE_GUILD, [], [], True),
    (ADMINISTRATOR, [], [], True),
    (MANAGE_MESSAGES, [5], [], False),
    (MANAGE_MESSAGES, [5], [5], True),
    (0, [5, 6], [7, 6], True),
    (0, [], [5], False),
    (0, [5], [6], False),
])
def test_is_moderator(permissions: int, roles: list[int], moderator_roles: list[int], expected: bool) -> None:
    """Manage Server or Administrator suffices; otherwise one of the member's roles must be a moderator role."""
    assert is_moderator(permissions, roles, moderator_roles) is expected
