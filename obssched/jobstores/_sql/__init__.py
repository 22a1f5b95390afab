"""The SQL job store's private parts: schema, row codec, queries, cluster leases, notifications."""
