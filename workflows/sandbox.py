"""The sandbox every workflow runs and replays in: the SDK's, sharing the pure libraries the domain validates with."""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# Email addresses are checked by email-validator (and its idna) whenever a payload is decoded. Both are pure
# functions of their input; shared with the worker instead of imported afresh in every workflow's sandbox, they cost
# nothing per workflow. The validator also imports inside its function, which the sandbox would warn about each time.
SHARED_LIBRARIES = ("email_validator", "idna")

RUNNER = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*SHARED_LIBRARIES))
