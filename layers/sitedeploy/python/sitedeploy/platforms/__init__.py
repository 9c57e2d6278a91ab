"""Hosting platforms: each is a package here (its API client, credentials, request body, and the
``HostingPlatform`` the flows use) and a line in ``registry``."""
