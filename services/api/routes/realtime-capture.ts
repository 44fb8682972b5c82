// /api/security/realtime-capture: the switch (FlatRun's PUT, and a GET) that
// makes the sink keep every request in ClickHouse `requests`, and the live
// tail of those requests over Server-Sent Events while it is on.
import type { FastifyInstance } from 'fastify';
import { accessRecordCodec } from '../../../shared/avro/codec.js';
import { ipInRange } from '../../../shared/ip.js';
import type { AccessRecord } from '../../../shared/records.js';
import { ApiError } from '../errors.js';
import { TopicStream } from '../stream.js';
import { actor, envelope, ipOrCidr, normalizedIpParam, sse, type RouteDeps } from './common.js';

const captureSchema = envelope({ type: 'object', required: ['enabled'], properties: { enabled: { type: 'boolean' } } });

export function registerRealtimeCapture(app: FastifyInstance, deps: RouteDeps): void {
  const { store } = deps.control;
  const requestStream = new TopicStream<AccessRecord>(deps.bus, deps.topics.access, accessRecordCodec, deps.config.kafka.client_id);
  app.addHook('onClose', () => requestStream.close());
  app.put<{ Body: { enabled: boolean } }>(
    '/api/security/realtime-capture',
    {
      config: { auth: 'admin' },
      schema: {
        summary: 'Turn real-time capture of every request (ClickHouse `requests`, live tail) on or off',
        body: { type: 'object', additionalProperties: false, required: ['enabled'], properties: { enabled: { type: 'boolean' } }, example: { enabled: true } },
        response: { 200: captureSchema },
      },
    },
    async (req) => {
      await store.putSetting('realtime_capture', req.body.enabled, actor(req));
      return { data: { enabled: req.body.enabled }, message: `real-time capture ${req.body.enabled ? 'on' : 'off'}` };
    },
  );
  app.get('/api/security/realtime-capture', { config: { auth: 'analyst' }, schema: { summary: 'Whether real-time capture is on', response: { 200: captureSchema } } }, () => ({ data: { enabled: deps.state.capture } }));
  app.get<{ Querystring: { ip?: string; status?: number } }>(
    '/api/security/requests/stream',
    {
      config: { auth: 'analyst' },
      schema: {
        summary: 'Live tail of requests while real-time capture is on (Server-Sent Events, event name request)',
        querystring: { type: 'object', additionalProperties: false, properties: { ip: ipOrCidr, status: { type: 'integer', minimum: 0, maximum: 999 } } },
        produces: 'text/event-stream',
        response: { 200: { type: 'string', description: 'text/event-stream' } },
      },
    },
    async (req, reply) => {
      if (!deps.state.capture) throw new ApiError('LW_API_CAPTURE_OFF');
      const range = req.query.ip === undefined ? undefined : normalizedIpParam(req.query.ip, 'ip');
      const status = req.query.status;
      await sse(req, reply, requestStream, 'request', (r) => deps.state.capture && (range === undefined || ipInRange(r.client_ip, range)) && (status === undefined || r.status === status));
    },
  );
}
