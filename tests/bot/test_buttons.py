"""Buttons: custom_ids that fit Discord's limit and parse back to the same action, job and tile."""

import pytest

from bot.buttons import ACTIONS, JobButton, custom_id, grid_view, single_view


@pytest.mark.parametrize("action", ACTIONS)
def test_custom_id_round_trips_through_template(action: str) -> None:
    """The DynamicItem template parses every custom_id we make, even for the largest ids."""
    cid = custom_id(action, 2**63 - 1, 4)
    assert len(cid) <= 100
    match = JobButton.__discord_ui_compiled_template__.fullmatch(cid)
    assert match is not None
    assert (match["action"], int(match["job"]), int(match["tile"])) == (action, 2**63 - 1, 4)


def test_grid_view_has_u_v_reroll_info_and_delete() -> None:
    """U1-U4 and re-roll, then V1-V4, then Info and Delete."""
    view = grid_view(7)
    labels = [getattr(item.item, "label", None) for item in view.children]
    assert labels == ["U1", "U2", "U3", "U4", None, "V1", "V2", "V3", "V4", "Info", "Delete"]
    assert [item.item.custom_id for item in view.children][4] == "imagine:r:7:0"


def test_single_view_drops_upscale_at_the_size_cap() -> None:
    """Upscale 2x is offered only while the result stays under the configured maximum side."""
    assert len(single_view(3, can_upscale=True).children) == 13
    assert len(single_view(3, can_upscale=False).children) == 12


def test_unknown_action_is_refused() -> None:
    """A typo in an action never makes a button that nothing handles."""
    with pytest.raises(ValueError, match="'x'"):
        custom_id("x", 1, 1)


def test_single_view_offers_zoom_pan_and_make_square_by_label() -> None:
    """Under an upscaled image: Vary (Region), Zoom Out 2x/1.5x, Custom Zoom, Make Square if not square, the arrows."""
    labels = [item.item.label for item in single_view(3, can_upscale=True, square=False).children]
    assert labels[3] == "Vary (Region)"
    assert labels[4:13] == ["Zoom Out 2x", "Zoom Out 1.5x", "Custom Zoom", "Make Square", "⬅️", "➡️", "⬆️", "⬇️",
                            "Info"]
    assert "Make Square" not in [item.item.label for item in single_view(3, can_upscale=True).children]
