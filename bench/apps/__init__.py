"""The benchmark cases written for each framework; every module exposes ``build(case, routes)``."""
