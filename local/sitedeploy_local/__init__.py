"""The local stack: sitedeploy on one machine with no AWS account and no Docker.

moto's server stands in for DynamoDB, S3, Secrets Manager and KMS (provisioned from template.yaml),
a gateway on loopback stands in for API Gateway and its JWT authorizer, a stream pump stands in for
Lambda's DynamoDB event source mappings (TTL deletions included), each function runs in worker
processes of its own, with the environment the template gives it, and loopback emulators of the
Cloudflare and Amplify APIs (``emulators``) stand in for the hosting platforms and serve what was
deployed to them.
"""
