"""Schemathesis hooks for scripts/fuzz-api.sh.

The positive_data_acceptance check fails a run when the server refuses a request the API
document says is valid: the document states every rule it can (bounds, enums, lengths,
patterns, one-of shapes). The refusals below are the ones no schema can foresee, each with its
reason. They are told apart by the problem document's stable `code` and a pattern of its
`detail`, so any other refusal of a valid request still fails the run. Schemathesis counts
what this drops ("dropped by `filter_failure`").
"""

import ast
import atexit
import collections
import re
import sys
import threading

import schemathesis

# CPython 3.11 builds syntax trees with state shared between threads: two threads parsing at
# once fail with "AST constructor recursion depth mismatch" (SystemError). Hypothesis parses
# source files to describe strategies, and the fuzzer runs two workers, so the examples phase
# failed now and then whatever the API said. Parsing one at a time avoids it.
_parse = ast.parse
_parsing = threading.Lock()


def _parse_alone(*args, **kwargs):
    with _parsing:
        return _parse(*args, **kwargs)


ast.parse = _parse_alone

# (problem code, pattern its detail matches from the start): why a valid request is refused.
EXPECTED_REFUSALS = {
    # Values only the API can give out.
    ("bad_request", r"cursor is not one this API gave out$"):
        "A cursor is opaque: only a `next_cursor` the API gave out is taken, and the fuzzer "
        "draws its own (the document gives their alphabet and length).",
    ("idempotency_key_reused", ""):
        "The server remembers every Idempotency-Key with its request; the fuzzer draws keys "
        "without regard to the ones it sent before, so it reuses one with another request.",
    # How JSON spells an integer. JSON Schema counts 1.0 as the integer 1; the server reads an
    # integer only when it is written as one (as JSON encoders write integers) and refuses a
    # fraction, even `.0`, as a malformed body (400). No schema keyword can say so.
    ("bad_request", r"Failed to deserialize the JSON body into the target type: .*"
                    r"invalid type: floating point `-?[0-9]+\.0`, expected [iu](8|16|32|64)\b"):
        "An integer written with a fraction.",
    # What exists: the fuzzer finds real ids in answers and combines them with drawn values.
    ("unknown_tickets", ""): "The tickets must be the showtime's.",
    ("invalid_request", r"the showtime has no section "): "The section must be the showtime's.",
    ("invalid_request", r"admins cannot change their own role or disable themselves$"):
        "Whether the user in the path is the caller.",
    ("invalid_request", r"ticket .* is not a live ticket of this order$"):
        "The tickets must be the order's.",
    ("invalid_request", r"(no price for category|the hall has no category) "):
        "A showtime's prices name exactly its hall's categories.",
    # The payment provider's say, and the clock's.
    ("invalid_payment_token", ""): "Which tokens exist is the payment provider's knowledge.",
    ("payment_declined", ""): "The payment provider declines some tokens (tok_chargeDeclined).",
    ("hold_expired", ""): "A hold runs out after its time.",
    ("invalid_request", r"starts_at .* is in the past"): "A new showtime starts in the future.",
    # Rules across fields, documented in words.
    ("invalid_request", r"a concert needs an artist$"): "`kind` and `artist` together.",
    ("invalid_request",
     r"(on_sale_from must be before on_sale_until|sales must end no later than the start)$"):
        "A showtime's sale window lies before its start.",
    ("invalid_request", r'row ".*" has no seat [0-9]+$'):
        "A row's overrides must name its seats (`first_number` and `seats`).",
    ("invalid_request", r"duplicate (section|row|seat) "):
        "Names of sections are unique in their hall, labels of rows in their section, and "
        "overrides in their row.",
    ("invalid_request", r"a hall may have at most [0-9]+ places$"): "The sum of a layout's places.",
}

# The failure code of positive_data_acceptance ("Schema-valid request rejected").
REJECTED_POSITIVE_DATA = "ST202"


# How many refusals of each kind were dropped, reported when the run ends.
dropped = collections.Counter()
counting = threading.Lock()


def expected_refusal(response):
    """The key of EXPECTED_REFUSALS the response is, or None."""
    try:
        problem = response.json()
    except ValueError:
        return None
    if not isinstance(problem, dict):
        return None
    code, detail = problem.get("code"), problem.get("detail") or ""
    for key in EXPECTED_REFUSALS:
        known, pattern = key
        if code == known and re.match(pattern, detail, re.DOTALL):
            return key
    return None


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keeps every failure but a refusal of valid data listed above."""
    if failure.code != REJECTED_POSITIVE_DATA:
        return True
    key = expected_refusal(response)
    if key is None:
        return True
    with counting:
        dropped[key] += 1
    return False


@atexit.register
def report():
    for (code, pattern), count in sorted(dropped.items(), key=lambda item: -item[1]):
        reason = EXPECTED_REFUSALS[(code, pattern)]
        print(f"valid but refused as expected: {count} x {code} {pattern!r}: {reason}", file=sys.stderr)
