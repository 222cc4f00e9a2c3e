"""The web pages in a real browser: Debian's Chromium driven by Playwright (a package, so
that its ``conftest`` does not shadow ``tests/conftest.py``)."""
