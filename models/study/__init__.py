"""The normalizer study (`normlab study`): small tasks that test the claims of the papers behind the norms."""
