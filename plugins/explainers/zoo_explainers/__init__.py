"""visionzoo explainers: class activation maps and gradient attributions, as a zoo plugin.

Import the method classes from their modules (``zoo_explainers.gradcam`` ...), or go through
``zoo.explain(model, images, method=...)``. Importing this package does not import torch.
"""
