"""visionzoo bridge to timm: every timm architecture registered as ``timm/<arch>``.

Importing this package must stay cheap (the zoo imports ``zoo_timm.plugin`` to list models):
torch and timm are imported only by :mod:`zoo_timm.models` and :mod:`zoo_timm.build_index`.
"""
