"""Recovery sets (#18): several members (databases, folders) backed up together, tied by an encrypted manifest."""
