// The errors of blocklist feeds (LW_FEED_*). Each leaves the feed's last good
// set in force; the feed's status, its metric and a log line name the code.
import { def, defineErrors } from '../../shared/errors.js';

export const FEED_ERRORS = defineErrors('feed', {
  LW_FEED_UNREACHABLE: def('LW_FEED_UNREACHABLE', 'a feed\'s source could not be read (connection refused, DNS, no such file): the next refresh tries again', { retryable: true }),
  LW_FEED_TIMEOUT: def('LW_FEED_TIMEOUT', 'a feed\'s fetch took longer than its timeout', { retryable: true }),
  LW_FEED_HTTP_STATUS: def('LW_FEED_HTTP_STATUS', 'a feed\'s server answered other than 200 or 304', { retryable: true }),
  LW_FEED_TOO_LARGE: def('LW_FEED_TOO_LARGE', 'a feed\'s body is larger than its max_size: refused unread'),
  LW_FEED_PARSE_FAILED: def('LW_FEED_PARSE_FAILED', 'a feed\'s body is not a list of addresses in its format (over 10% of its lines are not, or none is)'),
});
