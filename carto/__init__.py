"""Terreau: actor-mapping workbench of Région Occitanie's communities of citizen engagement.

Modules are used by name, e.g. ``carto.geo.communes()`` or ``carto.maps.overview_map(...)``.
"""

__version__ = "0.1.0"

from carto import settings, _errors  # noqa: E402, F401  (ground floor)
from carto import geo, store  # noqa: E402
from carto import privacy  # noqa: E402
from carto import normalize, sources, ingest, linkage  # noqa: E402
from carto import themes, events, communities, evaluation, network, netmetrics  # noqa: E402
from carto import workspace  # noqa: E402
from carto import synth  # noqa: E402
from carto import maps, charts, printmap, netviz, export, widgets  # noqa: E402
from carto import demo  # noqa: E402

__all__ = [
    "__version__", "settings", "geo", "store", "privacy", "normalize", "sources", "ingest", "linkage", "themes",
    "events", "communities", "evaluation", "network", "netmetrics", "synth", "maps", "charts", "printmap", "netviz",
    "export", "widgets", "demo", "workspace",
]
