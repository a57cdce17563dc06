// Drives /docs in Debian's Chromium as a person would: the page lists the
// API's routes, "Authorize" takes a dev token, and "Try it out" -> "Execute"
// on GET /api/private shows 200. Fails on any Content-Security-Policy
// violation, page error, or request that leaves the server's origin.
//
// Environment: BASE_URL (the dev server), TOKEN (a dev token; never
// printed), SCREENSHOT (where to save the page).
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL;
const token = process.env.TOKEN;
const screenshot = process.env.SCREENSHOT;
if (!base || !token || !screenshot) {
  console.error('browser-check: set BASE_URL, TOKEN and SCREENSHOT');
  process.exit(2);
}
const origin = new URL(base).origin;
const ROUTES = ['/api/public', '/api/private', '/api/private-scoped', '/api/protected', '/api/profile'];
const STEP_MS = 15000;

// The whole check is bounded, whatever Chromium does.
const deadline = setTimeout(() => {
  console.error('browser-check: timed out after 90 s');
  process.exit(1);
}, 90000);

const problems = [];
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  timeout: 30000,
  // This machine's closed network: Chromium must not try to reach Google's
  // services, and runs as root, so without the sandbox.
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(STEP_MS);
  page.on('console', (message) => {
    if (/Content.Security.Policy|Refused to/i.test(message.text())) {
      problems.push(`CSP: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith('data:') && new URL(url).origin !== origin) {
      problems.push(`request left the origin: ${url}`);
    }
  });

  await page.goto(`${base}/docs`);
  await page.waitForSelector('.opblock-summary-path');
  const listed = await page.$$eval('.opblock-summary-path', (els) =>
    els.map((el) => el.getAttribute('data-path') || el.textContent.trim()));
  const missing = ROUTES.filter((route) => !listed.includes(route));
  if (missing.length) throw new Error(`/docs does not list ${missing.join(', ')} (lists ${listed.join(', ')})`);
  console.log(`browser-check: /docs lists ${listed.length} routes, the five /api routes among them`);

  // Authorize with the bearer scheme.
  await page.click('.auth-wrapper button.authorize');
  const dialog = page.locator('.modal-ux');
  await dialog.locator('input[aria-label="auth-bearer-value"]').fill(token);
  await dialog.locator('button.modal-btn.authorize').first().click();
  await dialog.locator('button.btn-done').first().click();

  // Try it out on GET /api/private.
  const operation = page.locator('#operations-messages-private');
  await operation.locator('.opblock-summary').first().click();
  await operation.locator('button.try-out__btn').click();
  await operation.locator('button.execute').click();
  const status = operation.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor();
  const shown = (await status.textContent()).trim();
  if (!shown.startsWith('200')) throw new Error(`"Execute" on GET /api/private shows ${shown}, not 200`);
  const body = await operation.locator('.live-responses-table .response-col_description pre').first().textContent();
  if (!body.includes('Hello from a private endpoint')) throw new Error('the response body is not the private greeting');
  console.log('browser-check: Authorize + Try it out -> Execute on GET /api/private shows 200');

  // From the top of the page to the end of the live response; the curl
  // command shows the token, so it is masked.
  // (A bounding box is relative to the viewport, a full-page clip to the page.)
  const table = await operation.locator('.live-responses-table').first().boundingBox();
  const scrollY = await page.evaluate(() => window.scrollY);
  await page.screenshot({
    path: screenshot,
    fullPage: true,
    clip: { x: 0, y: 0, width: 1280, height: Math.ceil(scrollY + table.y + table.height + 16) },
    mask: [operation.locator('.curl-command')],
    maskColor: '#41444e',
  });
  console.log(`browser-check: screenshot in ${screenshot}`);
} catch (error) {
  problems.push(error.message);
} finally {
  await browser.close();
  clearTimeout(deadline);
}
if (problems.length) {
  // The token is only typed into the page, but a tool's message could quote
  // it: never print it.
  for (const problem of problems) console.error(`browser-check: ${problem.split(token).join('<token>')}`);
  process.exit(1);
}
