"""Terreau: actor-mapping workbench of Région Occitanie's communities of citizen engagement."""

__version__ = "0.1.0"
