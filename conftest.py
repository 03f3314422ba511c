"""Settings for every test run (tests/ and the doctests of carto/): tests never reach the internet.

The maps open on the offline background only (``CARTO_TILES=off``): no request to the basemap server,
not even the probe of ``CARTO_TILES=auto``. Fixtures are in ``tests/conftest.py``.
"""

import os

os.environ["CARTO_TILES"] = "off"
