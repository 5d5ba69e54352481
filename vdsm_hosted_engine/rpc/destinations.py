"""The STOMP destinations vdsmd and vdsm-client use: requests go to one, events come from the other.

A module of its own so the client (every `hosted-engine` process) does not import the server.
"""

REQUEST_QUEUE = "jms.topic.vdsm_requests"
EVENT_QUEUE = "jms.queue.events"
