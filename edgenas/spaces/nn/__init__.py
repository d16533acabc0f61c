"""The torch realisations of the spaces' genotypes (``space.build``), and the blocks they share.

Kept apart from the space definitions so that ``layers()`` (called for every candidate, before
any training) never imports torch, as timm keeps its reusable blocks in ``layers/``.
"""
