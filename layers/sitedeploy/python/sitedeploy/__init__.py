"""sitedeploy: publish a built static site to Cloudflare Workers Static Assets or AWS Amplify Hosting.

The library every Lambda function gets through the layer. It holds no HTTP-event code outside
``sitedeploy.api`` and no platform code in ``records``; handlers in ``functions/`` are wiring only.
"""

__version__ = "0.1.0"
