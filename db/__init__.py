"""The edit log: SQLAlchemy models, named migrations and the repository. Imports only core types and errors."""
