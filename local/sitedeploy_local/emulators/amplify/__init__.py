"""A loopback emulator of the AWS Amplify Hosting API (manual deploys) and of the sites it serves.

moto does not implement Amplify and LocalStack implements none of the deployment calls, yet the
Amplify adapter's hard parts are exactly the service's behaviour: one unfinished job per branch,
the zip PUT to a presigned URL, asynchronous job progress, branches that stay "deleting" for a
while, quotas of 25 apps and 50 branches, jobs beyond the concurrent-jobs quota waiting their turn,
throttling. This server speaks the REST-JSON protocol of botocore's ``amplify`` model (same URIs,
members, status codes and ``x-amzn-ErrorType`` errors), so the adapter runs unchanged against it
with ``endpoint_url=`` or ``AWS_ENDPOINT_URL_AMPLIFY``.

Modules: ``state`` (apps, branches, jobs and served sites, and the service's rules over them),
``jobs`` (a job's record, its lazily computed progress, unpacking its zip), ``api`` (dispatch,
errors, access keys, faults, the zip upload and job log doors), ``routes`` (the operations' route
table and handlers), ``sites`` (what a visitor of a branch gets: customRules, redirects,
customHeaders, content types), ``domains`` (custom domains: domain associations, their lifecycle
against the stack's DNS, and the hostnames served by Host), ``emulator`` (the lifecycle).
"""

from sitedeploy_local.emulators.amplify.api import JOB_LOG_ROUTE, ZIP_UPLOAD_ROUTE, RecordedRequest
from sitedeploy_local.emulators.amplify.emulator import AmplifyEmulator
from sitedeploy_local.emulators.amplify.jobs import DEPLOY_STEP, FINAL_STATUSES, VERIFY_STEP
from sitedeploy_local.emulators.amplify.routes import APPS_LIMIT_MESSAGE, OPERATIONS, ROUTES
from sitedeploy_local.emulators.amplify.state import AmplifyError

__all__ = [
    "APPS_LIMIT_MESSAGE",
    "DEPLOY_STEP",
    "FINAL_STATUSES",
    "JOB_LOG_ROUTE",
    "OPERATIONS",
    "ROUTES",
    "VERIFY_STEP",
    "ZIP_UPLOAD_ROUTE",
    "AmplifyEmulator",
    "AmplifyError",
    "RecordedRequest",
]
