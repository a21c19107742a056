"""presswire's store: SQLAlchemy tables, engine set-up and the repository functions."""
