"""A small, contract-abiding plugin: a segmenter, a classifier, a Mask R-CNN and two explainers."""
