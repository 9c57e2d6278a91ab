"""AWS Amplify Hosting: ``platform.AmplifyPlatform`` (what the flows use), ``publisher`` (manual
zip deploys, job states), ``client`` (boto3 and errors), ``credentials`` and ``requests``."""
