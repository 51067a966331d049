"""Conflation: which records of different sources are one real place, and that place as one record.

`matcher` links records (spatial blocking, a kind gate, a distance per kind, name similarity);
`names` and `kinds` hold its rules; `merged` makes one record of each group of linked places.
"""

from areafetch.conflation.matcher import Link, MatchPlace, link_places

__all__ = ["Link", "MatchPlace", "link_places"]
