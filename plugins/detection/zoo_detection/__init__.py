"""visionzoo detection plugin: ``maskrcnn_mini`` (instance segmentation).

The model code lives in :mod:`zoo_detection.maskrcnn_mini` and is imported only when a model
is built; :mod:`zoo_detection.plugin` holds the specs and imports nothing but ``zoo``.
"""
