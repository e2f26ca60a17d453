"""The vision and values hub on the web: the bank of case studies and shared commitments, the
behaviours, and the archive of sent digests (``pages.py``; the views in ``views.py`` are pure
and tested without a browser; templates in ``templates/``)."""
