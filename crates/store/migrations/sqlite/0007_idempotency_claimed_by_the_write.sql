-- An Idempotency-Key is claimed by the write it belongs to, in that write's transaction
-- (a hold, a payment attempt, a refund), instead of in a commit of its own before it.
-- owner: the request working on the key (random per request); NULL once it let go of it
--        after a server error, so that a retry may take over at once.
-- resource: what that request wrote (hold:ID, payment:ID, refund:ORDER_ID): a retry whose
--        answer was lost learns the outcome from it instead of running again.
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
ALTER TABLE idempotency_keys ADD COLUMN resource TEXT;
