"""The resizer workbench: datasets, quality metrics, the quality sweep, the chooser and the cost model.

Imported by the notebooks and lazily by `resizer bench`; never by the `resizer` runtime modules.
"""
