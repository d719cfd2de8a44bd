"""The shop database: exact ingestion of Magento order snapshots, the import, training input.

Modules: `db` (engines, sessions, retried transactions), `models` (tables), `snapshot` (the
event schema the webhook validates), `ingestion` (the newest-snapshot rule), `magento_import`
(`dmfrec import magento`), `training_data` (`load_interactions`), `schema` (Alembic from
code), `upsert` (dialect upserts).

Settings (environment, prefix DMFREC_; see config/settings.py):

- DATABASE_URL (sqlite:///var/dmfrec.db): our database; for MariaDB/MySQL
  `mysql+pymysql://user:pass@host/db` (utf8mb4 and READ COMMITTED are set by storage.db).
- UNCOUNTED_STATES (pending_payment,payment_review,holded): order states that do not count yet.
- GUEST_POLICY (hash): guests count under a salted hash of their email, or `skip`.
- GUEST_SALT (dmfrec): HMAC key of that hash; changing it re-keys guests (re-ingest needed).
  Services refuse to start with the default: set a random secret salt.
- SKU_LEVEL (simple): count leaf lines (a configurable's simple child) or `parent` lines.
- WINDOW_DAYS (92): training window of `load_interactions` (0: all history).
- IMPORT_CHUNK_SIZE (500): orders per transaction in `dmfrec import magento`.

UNCOUNTED_STATES, GUEST_POLICY and SKU_LEVEL are applied when pairs are recomputed: after
changing them run `storage.ingestion.rebuild_interactions` once.
"""
