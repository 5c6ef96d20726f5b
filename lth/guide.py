"""The user guide: quick start, writing a claim, the property-test strategies, certifying your own
network, scaling out (``docs/guide.md``, rendered by ``make docs`` beside the API reference).

.. include:: ../docs/guide.md
"""
