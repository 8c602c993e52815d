"""Static files: fingerprinted and compressed (whitenoise), so browsers keep them for good.

``collectstatic`` writes each file under a name carrying a hash of its content
(``css/chorus.3f2a….css``) plus its gzip copy, and a manifest of the names; whitenoise then
serves those names with ``Cache-Control: max-age=315360000, public, immutable`` (ten years) and
gzip to browsers that accept it. A participant's browser fetches htmx, the CSS and the script
once per release, not on every page.

Where ``collectstatic`` has not run (a checkout served with ``DEBUG=0``, a benchmark's server
that fetches no static file), there is no manifest: the files are then linked by their own
names, as ``StaticFilesStorage`` does, instead of every page failing. A manifest that exists
but misses a file is still an error (a release that forgot ``collectstatic``).
"""

from __future__ import annotations

from django.contrib.staticfiles.storage import StaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class FingerprintedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    def url(self, name, force=False):
        if not self.hashed_files:  # no manifest (read at start, or written by collectstatic)
            return StaticFilesStorage.url(self, name)
        return super().url(name, force)
