"""Where bytes live: origins (folder or S3), derived keys written create-only, warm, purge, intermediates."""
