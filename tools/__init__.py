"""Developer tools that are not part of the installed product: README screenshots and the app benchmark.

Run them from the repository root: ``python -m tools.screenshots ...``, ``python -m tools.app_bench ...``.
"""
