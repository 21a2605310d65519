"""Optional integrations with peer libraries; each imports its peer lazily and names the extra to install."""
