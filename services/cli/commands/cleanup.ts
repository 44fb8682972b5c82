// cleanup [--older-than 7d]: deletes old events (/api/security/cleanup).
import { printable } from '../table.js';
import { CONNECTION, durationSeconds, positionals, type ApiCommand } from './common.js';

export const cleanup: ApiCommand = {
  options: [...CONNECTION, 'older-than'],
  async run(api, args, opts, io) {
    positionals(args, 0, 0, 'cleanup [--older-than 7d]');
    const body = opts['older-than'] === undefined ? {} : { older_than: durationSeconds(opts['older-than'], 'older-than') };
    const r = await api.call<{ cutoff?: number; rows_deleted?: number; rows_dropped?: number; partitions_dropped?: string[] }>('POST', '/api/security/cleanup', { body });
    if (opts.json) return io.out(`${JSON.stringify(r)}\n`);
    const d = r.data;
    const parts = [d.partitions_dropped?.length ? `${d.partitions_dropped.length} partitions dropped` : '', d.rows_dropped ? `${d.rows_dropped} rows in them` : '', d.rows_deleted !== undefined ? `${d.rows_deleted} rows deleted` : ''].filter(Boolean);
    io.out(`${printable(r.message ?? 'cleaned up')}${parts.length ? ` (${parts.join(', ')})` : ''}\n`);
  },
};
