// The dashboard in headless Chromium, as the page tests drive it: what went
// wrong on the page, and signing in with a token.
import type { Page } from 'playwright-core';

/** Collects the page's console errors, uncaught errors and failed (4xx/5xx) responses: a test asserts the list is empty. */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
  });
  return problems;
}

/** Opens the dashboard at `base` and signs in with `token`; resolves once the page has loaded its data. */
export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/dashboard/`);
  await page.fill('#token', token);
  await page.click('#login-form button');
  await page.waitForSelector('body[data-loaded="true"]');
}
