"""visionzoo classification plugin: ``cnn_cam``."""
