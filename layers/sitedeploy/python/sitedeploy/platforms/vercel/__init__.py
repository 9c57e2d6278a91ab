"""Vercel: ``platform.VercelPlatform`` (what the flows use), ``deploy`` (the file-upload deployment
protocol ``vercel deploy`` speaks), ``routing`` (``_redirects`` / ``_headers`` as Vercel's config),
``api`` (the REST client), ``credentials`` and ``requests``."""
