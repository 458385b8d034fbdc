"""normlab application layer: the Gradio web UI (``python -m app``) and the ``normlab`` command line."""
