"""Tests of the local stack itself (the platform emulators, the gateway, the stream pump and its
filters), kept apart from the tests of the product that the local stack runs."""
