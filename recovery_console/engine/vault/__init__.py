"""File vaults: a folder streamed as a tar into a backup, and extracted back without escaping its folder."""
