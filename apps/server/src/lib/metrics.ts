import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of one server process (`/metrics`). A registry per app keeps tests independent. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    http: new Histogram({
      name: 'yamori_http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.02, 0.1, 0.5, 2, 10, 60],
      registers: [registry],
    }),
    events: new Counter({ name: 'yamori_events_ingested_total', help: 'Events committed from agents', registers: [registry] }),
    batches: new Counter({ name: 'yamori_event_batches_total', help: 'Event batches by result', labelNames: ['result'], registers: [registry] }),
    alertsCreated: new Counter({ name: 'yamori_alerts_created_total', help: 'New alerts (not dedup repeats)', registers: [registry] }),
    serverRuleBatches: new Histogram({
      name: 'yamori_server_rule_batch_seconds',
      help: 'Evaluating one committed event batch with the tenant server rules (after the ack), by result',
      labelNames: ['result'],
      buckets: [0.0005, 0.002, 0.01, 0.05, 0.2, 1, 5],
      registers: [registry],
    }),
    longPolls: new Gauge({ name: 'yamori_checkin_longpolls', help: 'Agent check-ins being held open', registers: [registry] }),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
