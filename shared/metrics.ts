// The process-wide Prometheus registry. Each module declares its own metrics
// at its top (see STYLE.md: metrics live with the code that owns them).
import { Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
registry.setDefaultLabels({ app: 'logwarden' });
collectDefaultMetrics({ register: registry, prefix: 'logwarden_process_' });
