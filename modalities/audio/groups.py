"""Group-wise splits moved to :mod:`mmdistill.modalities.groups` (they serve the audio, audio-visual and video
loaders); this module keeps their names importable from here."""

from __future__ import annotations

from ..groups import check_group_classes, group_no_test_reason, group_test_flags, groups_in_both

__all__ = ["check_group_classes", "group_no_test_reason", "group_test_flags", "groups_in_both"]
