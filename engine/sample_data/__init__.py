"""Sample data shipped with ftbot and the generators that wrote it (see README.md)."""
