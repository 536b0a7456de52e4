-- pgbench baseline for command throughput: one event row per transaction, the same row shape
-- (aggregate key, payload and metadata of a placed order) that POST /api/orders stores.
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
VALUES ('Order', gen_random_uuid()::text, 1, 'OrderPlaced', '1',
  '{"type":"OrderPlaced","data":{"customer_id":"0193b5a1-7c2e-7d4a-9a51-3f1e2d4c5b6a","currency":"EUR","lines":[{"sku":"SKU-1","quantity":1,"unit_price":{"amount_minor":1250,"currency":"EUR"}},{"sku":"SKU-51","quantity":2,"unit_price":{"amount_minor":399,"currency":"EUR"}}],"total":{"amount_minor":2048,"currency":"EUR"},"placed_at":"2026-11-29T23:00:00.000000Z","deadline":"2026-11-29T23:01:00.000000Z"}}',
  '{"correlation_id":"0193b5a1-7c2e-7d4a-9a51-3f1e2d4c5b6b","caller":"anonymous","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}');
