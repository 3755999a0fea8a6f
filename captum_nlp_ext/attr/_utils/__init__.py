"""Engines of the attribution methods (the faces are in ``attr/_core``)."""
