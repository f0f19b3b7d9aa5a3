"""Semantic segmentation architectures for visionzoo: UNet, SegNet and FCN-32s/16s/8s.

Importing this package is cheap; the model code lives in ``unet``, ``segnet`` and ``fcn`` and is
imported only when a model is built (through ``zoo.create``) or imported explicitly.
"""
