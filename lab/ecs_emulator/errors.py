"""API errors with the codes, HTTP statuses and messages of the real service.

Where the public docs give a code/message it is used verbatim; guesses are marked.
"""


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__("%s: %s" % (code, message))
        self.status = status
        self.code = code
        self.message = message


def missing(name):
    return ApiError(400, "MissingParameter",
                    'The input parameter "%s" that is mandatory for processing this request is not supplied.' % name)


def invalid(name, code="InvalidParameter", status=400):
    return ApiError(status, code, 'The specified parameter "%s" is not valid.' % name)


def instance_not_found(instance_id=None):
    msg = "The specified InstanceId does not exist."
    if instance_id:
        # The real message does not echo the id; appending it helps when many ids are involved.
        msg = "The specified InstanceId does not exist. InstanceId: %s" % instance_id
    return ApiError(404, "InvalidInstanceId.NotFound", msg)


def incorrect_status(instance_id, status):
    # Real text is "The current status of the resource does not support this operation.";
    # the current status is appended so that callers and logs can see why.
    return ApiError(403, "IncorrectInstanceStatus",
                    "The current status of the resource does not support this operation. "
                    "InstanceId: %s, current status: %s" % (instance_id, status))


def dry_run_operation():
    return ApiError(400, "DryRunOperation", "Request validation has been passed with DryRun flag set.")


def dry_run_success():
    # Plural Start/Stop/Reboot/DeleteInstances use this code instead of DryRunOperation.
    return ApiError(400, "DRYRUN.SUCCESS", "This request is a dryrun request with successful result.")


def region_not_found():
    return ApiError(404, "InvalidRegionId.NotFound", "The specified RegionId does not exist.")


THROTTLING = (400, "Throttling", "Request was denied due to request throttling.")
SERVICE_UNAVAILABLE = (503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
INTERNAL_ERROR = (500, "InternalError",
                  "The request processing has failed due to some unknown error, exception or failure.")


_NAME_RULES = {
    "InstanceName": "2-128 characters that start with a letter or Chinese character and contain only letters, "
                    "digits, '.', '_', '-' and ':' (not http:// or https://)",
    "HostName": "2-64 characters: dot-separated parts of letters, digits and '-', with no '.' or '-' first, "
                "last or twice in a row",
    "HostName:windows": "2-15 characters of letters, digits and inner '-', not only digits",
}


def malformed_name(param, value, os_type="linux"):
    """InvalidInstanceName.Malformed / InvalidHostName.Malformed, naming the value and the rule."""
    kind = "InstanceName" if param == "InstanceName" else "HostName"
    rule = _NAME_RULES[kind + (":windows" if kind == "HostName" and os_type == "windows" else "")]
    return ApiError(400, "Invalid%s.Malformed" % kind,
                    'The specified parameter "%s" is not valid: %r; use %s.' % (param, value, rule))


def initializing(instance_id):
    # DeleteInstance on an instance that is still being created (Pending).
    return ApiError(403, "IncorrectInstanceStatus.Initializing",
                    "The specified instance status does not support this operation. InstanceId: %s, current "
                    "status: Pending (still initializing; try again once it is Running or Stopped)" % instance_id)


def operation_conflict(instance_id, running_action):
    # ECS common error; the action in progress is appended so that logs show what collided.
    return ApiError(409, "OperationConflict",
                    "Request was denied due to conflict with a previous request. InstanceId: %s is busy with %s."
                    % (instance_id, running_action))
