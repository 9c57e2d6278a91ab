"""Cloudflare Workers Static Assets: ``platform.CloudflarePlatform`` (what the flows use), ``assets``
(the upload protocol wrangler speaks), ``api`` (the v4 client), ``credentials`` and ``requests``."""
