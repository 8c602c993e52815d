"""Django's database session store, with its read (once per request) written as SQL.

Every participant request reads its session row; through the ORM that read cost ~0.6 ms of
CPU, as much as the engine's whole reservation statement (``bench/hotpath.py --profile``).
Here it is one hand-written statement on the hot-path cursor (``apps.core.hotsql``). Writes,
expiry and ``clearsessions`` stay Django's (``SESSION_ENGINE = "apps.core.sessions"``).
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.utils import timezone

from . import hotsql

_READ_SQL = "SELECT session_data FROM django_session WHERE session_key = %s AND expire_date > %s"


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        key = self.session_key  # None when the cookie's key is malformed
        row = None
        if key is not None:
            with hotsql.cursor() as cursor:
                cursor.execute(_READ_SQL, [key, hotsql.param(timezone.now())])
                row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return self.model(session_key=key, session_data=row[0])
