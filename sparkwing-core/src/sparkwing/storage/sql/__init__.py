"""The SQL state schema shared by the SQLite and PostgreSQL state stores.

* :mod:`.schema`: the tables, described once as plain data (no SQLAlchemy
  import), with SQLite DDL generation and :func:`~.schema.to_sqlalchemy`.
* :mod:`.migrations`: the ordered schema versions and how a SQLite
  database is brought up to date (or refused when it is newer).
* :mod:`.rows`: turning records into column values and rows back into records.
"""
