// A kafkajs consumer's answer to a lost group coordinator (kept apart from kafka.ts; it
// needs no kafkajs import: kafkajs's errors are told by their name and type).

/**
 * kafkajs commits to the coordinator it joined through, retried by node id for minutes once
 * that broker is lost (NOT_COORDINATOR when it returns). As NOT_COORDINATOR_FOR_GROUP a
 * coordinator error makes kafkajs rejoin, looking the coordinator up again; the uncommitted
 * batch comes again (handlers are idempotent over a redelivery).
 */
export function coordinatorLost(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const type = (err as { type?: string }).type ?? '';
  if (!/^(NOT_COORDINATOR_FOR_GROUP|GROUP_COORDINATOR_NOT_AVAILABLE)$/.test(type) && !/Connection|BrokerNotFound|RequestTimeout/.test(err.name)) return err;
  return Object.assign(new Error(`the group coordinator is gone (${err.message}); rejoining`, { cause: err }), { type: 'NOT_COORDINATOR_FOR_GROUP' });
}
