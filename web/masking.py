"""Every error leaving the API gets a code; unexpected ones are masked and logged.

A bug or a driver failure must not show the client a stack trace, a collection name or a
connection string: its message becomes "Internal server error" with the request id, and the
full exception goes to the log under that id. Errors our layers raise on purpose keep their
message (see ``web.error_codes``).
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from web.error_codes import ErrorCode, classify, is_unexpected
from web.request_id import current_request_id

logger = logging.getLogger("web.errors")

MASKED_MESSAGE = "Internal server error"


class CodedErrors(MaskErrors):
    """Strawberry's masking, plus a code on every error and a log line per masked one."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=MASKED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = current_request_id()
        original = error.original_error
        logger.error(
            "unexpected error at %s (request %s): %r",
            ".".join(str(p) for p in error.path or ()) or "<operation>",
            request_id,
            original,
            exc_info=(type(original), original, original.__traceback__) if original else None,
        )
        masked = super().anonymise_error(error)
        masked.extensions = {"code": ErrorCode.INTERNAL_SERVER_ERROR.value}
        if request_id is not None:
            masked.extensions["requestId"] = request_id
        return masked

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = super()._process_errors(errors)
        for error in processed:
            code = str(classify(error))
            if (error.extensions or {}).get("code") != code:
                error.extensions = {**(error.extensions or {}), "code": code}
        return processed
