"""The `all` group: every experiment that appears in a compare group, with every claim."""

from dlrun.config import GROUPS, Group, register_group

_variants = dict.fromkeys(v for g in list(GROUPS.values()) for v in g.variants)
register_group(Group(
    "all", "every lesson above in one table",
    tuple(_variants),
    tuple(c for g in list(GROUPS.values()) for c in g.claims),
))
