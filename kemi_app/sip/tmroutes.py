"""Names of the tm routes the SIP layer arms; each is a method of sip/routes.EdgeRoutes."""

BRANCH_ROUTE = "ksr_branch_media"  # per branch: hand-over signature, queue headers, media offer
REPLY_ROUTE = "ksr_onreply_media"  # replies of calls: ringing, queue answer, media answer
CALL_FAILURE_ROUTE = "ksr_call_failure"  # every branch of a call failed: count its final status
QUEUE_FAILURE_ROUTE = "ksr_queue_failure"  # a queue member did not take the call: the next one
GATEWAY_FAILURE_ROUTE = "ksr_gateway_failure"  # a carrier gateway failed: the next one
QUEUE_RESUME_ROUTE = "ksr_queue_resume"  # a parking request resumed: a member was handed to its call
