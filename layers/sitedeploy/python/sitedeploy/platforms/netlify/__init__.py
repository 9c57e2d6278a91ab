"""Netlify: ``platform.NetlifyPlatform`` (what the flows use), ``deploy`` (the file-digest deploy
netlify-cli speaks), ``routing`` (the generated ``_redirects`` / ``_headers``), ``api`` (the v1
client), ``credentials`` and ``requests``."""
