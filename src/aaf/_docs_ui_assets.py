"""The docs UIs' JavaScript and CSS: from an installed package (offline), else pinned CDN URLs
with Subresource Integrity hashes.

Offline sources (looked up without importing the package):

- Swagger UI: ``swagger-ui-bundle-v2`` (aaf's ``docs-ui`` extra; module ``swagger_ui_bundle``),
  kept by the connexion maintainers, Jinja2 its only dependency. Any Swagger UI 5 it ships is
  used (4.x cannot show OpenAPI 3.1).
- ReDoc: ``drf-spectacular-sidecar`` when it is installed (not an aaf extra: it requires
  Django); its files are read, the Django app is never imported.
- Scalar: no maintained package ships its bundle; CDN only.

The CDN versions and hashes below were computed from the npm packages' files (``sha384`` of
each file, as ``openssl dgst -sha384 -binary FILE | base64``). Update version and hash together.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

__all__ = ["UI_ASSETS", "Asset", "UIName", "package_dir"]

UIName: TypeAlias = Literal["swagger", "redoc", "scalar"]

_CDN = "https://cdn.jsdelivr.net/npm/"


@dataclass(frozen=True, slots=True)
class Asset:
    """One file a docs page loads: served at ``assets/<name>`` when a package ships it."""

    name: str
    kind: Literal["script", "style"]
    cdn_url: str
    integrity: str
    package: str | None = None  # the importable package that ships it offline
    glob: str = ""  # where the file is inside that package's directory

    def local_file(self) -> Path | None:
        """The file of the installed package, or None (not installed, or not a version we use)."""
        if self.package is None:
            return None
        root = package_dir(self.package)
        if root is None:
            return None
        found = sorted(root.glob(self.glob))
        return found[-1] if found else None  # several versions side by side: the newest


def package_dir(name: str) -> Path | None:
    """The directory of the installed package ``name``, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


_SWAGGER_DIR = "vendor/swagger-ui-5.*/"
_SIDECAR_REDOC = "static/drf_spectacular_sidecar/redoc/bundles/"

#: What each UI loads, in order (styles first).
UI_ASSETS: dict[UIName, tuple[Asset, ...]] = {
    "swagger": (
        Asset(
            "swagger-ui.css",
            "style",
            _CDN + "swagger-ui-dist@5.31.0/swagger-ui.css",
            "sha384-KX9Rx9vM1AmUNAn07bPAiZhFD4C8jdNgG6f5MRNvR+EfAxs2PmMFtUUazui7ryZQ",
            "swagger_ui_bundle",
            _SWAGGER_DIR + "swagger-ui.css",
        ),
        Asset(
            "swagger-ui-bundle.js",
            "script",
            _CDN + "swagger-ui-dist@5.31.0/swagger-ui-bundle.js",
            "sha384-cxafBeQ+zYROeFafGFxtFbnp1ICqeS9mG7+f0WWSHzhnrUvwg9Za5CCw6wgrHA7K",
            "swagger_ui_bundle",
            _SWAGGER_DIR + "swagger-ui-bundle.js",
        ),
    ),
    "redoc": (
        Asset(
            "redoc.standalone.js",
            "script",
            _CDN + "redoc@2.5.4/bundles/redoc.standalone.js",
            "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5",
            "drf_spectacular_sidecar",
            _SIDECAR_REDOC + "redoc.standalone.js",
        ),
    ),
    "scalar": (
        Asset(
            "scalar-standalone.js",
            "script",
            _CDN + "@scalar/api-reference@1.72.1/dist/browser/standalone.js",
            "sha384-U11tb2XnKvmwt8RlTvnwUnYgrN+ur4Xyh9htLhjajWNR/Oyl5AX5DEz00qRmlrmK",
        ),
    ),
}
