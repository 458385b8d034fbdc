"""normlab models: VGG encoder, AdaIN style transfer, SPADE synthesis, their data, training and inference.

Models are built only from ``norms`` and torch; the normalizer is injected by name.
"""
