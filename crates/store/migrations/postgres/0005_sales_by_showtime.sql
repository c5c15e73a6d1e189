-- The box office's sales-over-time chart and the showtime cancellation read a showtime's
-- orders: an index instead of a scan of every order.
CREATE INDEX orders_by_showtime ON orders (showtime_id, created_at);
