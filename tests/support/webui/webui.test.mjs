// Drives the gateway's web UI in headless Chromium, as an operator would, against a running
// `chitin gateway`. Run by tests/all/webui.rs (which sets up the gateway, a fake model provider
// and a pending pairing request); by hand:
//
//   node tests/support/webui/webui.test.mjs <gatewayUrl> <token> <expectedReply> <expectedToolOutput>
//
// The gateway is expected to have the agent `main` with `require_approval = ["echo"]`, the `echo`
// tool plugin and the `openai` provider plugin (granted `http://127.0.0.1:<port>`), a model that
// first calls `echo` and then streams <expectedReply> in several pieces, and one pending pairing
// request from "Alice". CHROMIUM names the browser (default /usr/bin/chromium). On failure the
// page is saved to target/webui-failure.png and the script exits 1.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [url, token, expectedReply, expectedToolOutput] = process.argv.slice(2);
if (!url || !token || !expectedReply || !expectedToolOutput) {
  console.error('usage: node webui.test.mjs <gatewayUrl> <token> <expectedReply> <expectedToolOutput>');
  process.exit(2);
}
const SCREENSHOT = fileURLToPath(new URL('../../../target/webui-failure.png', import.meta.url));
const STEP_TIMEOUT_MS = 15000;
const PROMPT = 'Please echo this through the echo tool.';

const tid = (id) => `[data-testid="${id}"]`;
const problems = []; // console errors and uncaught page errors

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

let browser;
let page;
let passed = 0;

async function step(name, body) {
  const started = Date.now();
  try {
    await Promise.race([
      body(),
      new Promise((_, reject) => {
        setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS).unref();
      }),
    ]);
  } catch (err) {
    console.log(`not ok - ${name}: ${err.message}`);
    try {
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`screenshot: ${SCREENSHOT}`);
    } catch (shotErr) {
      console.log(`(no screenshot: ${shotErr.message})`);
    }
    if (problems.length) console.log(`console errors so far:\n  ${problems.join('\n  ')}`);
    throw err;
  }
  passed += 1;
  console.log(`ok - ${name} (${Date.now() - started} ms)`);
}

/** Text of the last assistant bubble: its text segments, without tool cards. */
function lastAssistantText() {
  const bubbles = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
  const last = bubbles[bubbles.length - 1];
  if (!last) return null;
  return [...last.querySelectorAll('[data-testid="message-text"]')].map((n) => n.textContent).join('');
}

async function main() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage', '--no-proxy-server',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));

  await step('1. the gateway serves the UI', async () => {
    const response = await page.goto(url);
    assert(response && response.ok(), `GET ${url} answered ${response && response.status()}`);
    const csp = response.headers()['content-security-policy'] || '';
    assert(csp.includes("default-src 'self'"), `the page has no strict CSP header: "${csp}"`);
    await page.locator(tid('token-input')).waitFor({ state: 'visible' });
    await page.locator(tid('connect')).waitFor({ state: 'visible' });
  });

  await step('2. a wrong token shows an authentication error', async () => {
    await page.fill(tid('token-input'), 'not-the-token');
    await page.click(tid('connect'));
    const error = page.locator(tid('login-error'));
    await error.waitFor({ state: 'visible' });
    const text = (await error.textContent()).trim();
    assert(text.length > 0, 'the login error is empty');
    assert(!/connected to/i.test(await page.textContent(tid('conn-status'))), 'connected with a wrong token');
    assert(await page.locator(tid('view-chat')).isHidden(), 'the chat view opened with a wrong token');
    console.log(`   login error: ${text}`);
  });

  await step('3. the right token connects', async () => {
    await page.fill(tid('token-input'), token);
    await page.click(tid('connect'));
    await page.locator(`${tid('conn-status')}[data-state="connected"]`).waitFor();
    await page.locator(tid('view-chat')).waitFor({ state: 'visible' });
    await page.locator(`${tid('messages')}[data-loaded="agent:main:main"]`).waitFor({ state: 'attached' });
    await page.waitForFunction(() => document.querySelector('[data-testid="status-line"]').textContent.includes('agent'));
    const agents = await page.locator(`${tid('agent-select')} option`).allTextContents();
    assert(agents.some((a) => a.startsWith('main')), `the agent picker does not list main: ${JSON.stringify(agents)}`);
    assert(await page.locator(tid('login-error')).isHidden(), 'the login error is still shown');
  });

  await step('4. a message is sent from the composer', async () => {
    // Record every distinct text of the last assistant bubble, to prove the reply streamed.
    await page.evaluate(() => {
      window.snapshots = [];
      const list = document.querySelector('[data-testid="messages"]');
      const record = () => {
        const bubbles = list.querySelectorAll('[data-testid="message"][data-role="assistant"]');
        const last = bubbles[bubbles.length - 1];
        if (!last) return;
        const text = [...last.querySelectorAll('[data-testid="message-text"]')].map((n) => n.textContent).join('');
        if (window.snapshots[window.snapshots.length - 1] !== text) window.snapshots.push(text);
      };
      new MutationObserver(record).observe(list, { childList: true, subtree: true, characterData: true });
    });
    await page.fill(tid('composer'), PROMPT);
    await page.press(tid('composer'), 'Enter');
    const user = page.locator(`${tid('message')}[data-role="user"]`).last();
    await user.waitFor();
    assert((await user.locator(tid('message-text')).textContent()) === PROMPT, 'the user bubble does not show the message');
    assert((await page.inputValue(tid('composer'))) === '', 'the composer was not cleared');
    await page.locator(tid('abort')).waitFor({ state: 'visible' });
  });

  await step('5. the tool call waits for approval, inline and in the Approvals tab', async () => {
    const card = page.locator(`${tid('tool-card')}[data-tool="echo"]`).last();
    await card.locator(tid('approve-inline')).waitFor({ state: 'visible' });
    const badge = page.locator(tid('approvals-badge'));
    await badge.waitFor({ state: 'visible' });
    assert((await badge.textContent()) === '1', `the approvals badge says ${await badge.textContent()}`);
    await page.click(tid('tab-approvals'));
    const item = page.locator(tid('approval-item'));
    await item.first().waitFor();
    assert((await item.count()) === 1, `${await item.count()} approvals listed`);
    assert((await item.locator(tid('approval-tool')).textContent()) === 'echo', 'the approval is not for echo');
    const args = await item.locator(tid('approval-args')).textContent();
    assert(args.includes(expectedToolOutput), `the approval's arguments do not show the call: ${args}`);
    await page.click(tid('tab-chat'));
    await card.locator(tid('approve-inline')).click();
    await page.locator(tid('approval-decision')).last().waitFor();
    await badge.waitFor({ state: 'hidden' });
  });

  await step("6. the tool card shows the tool's output", async () => {
    const card = page.locator(`${tid('tool-card')}[data-tool="echo"][data-state="ok"]`).last();
    await card.waitFor();
    const output = await card.locator(tid('tool-output')).textContent();
    assert(output === expectedToolOutput, `tool output ${JSON.stringify(output)}, expected ${JSON.stringify(expectedToolOutput)}`);
    const args = await card.locator(tid('tool-args')).textContent();
    assert(args.includes(expectedToolOutput), `the tool card's arguments are ${JSON.stringify(args)}`);
  });

  await step('7. the assistant reply streams in', async () => {
    await page.locator(`${tid('message')}[data-role="assistant"][data-state="done"]`).last().waitFor();
    const text = await page.evaluate(lastAssistantText);
    assert(text === expectedReply, `the reply is ${JSON.stringify(text)}, expected ${JSON.stringify(expectedReply)}`);
    const snapshots = await page.evaluate(() => window.snapshots);
    const partial = snapshots.filter((s) => s && s !== expectedReply);
    assert(partial.length >= 1, `the reply was not streamed: snapshots ${JSON.stringify(snapshots)}`);
    for (const s of partial) {
      assert(expectedReply.startsWith(s), `snapshot ${JSON.stringify(s)} is not a prefix of the reply`);
    }
    assert(await page.locator(tid('abort')).isHidden(), 'the Stop button is still shown after the run');
    assert(await page.locator(tid('message-error')).count() === 0, 'an error is shown in the chat');
    console.log(`   ${snapshots.filter(Boolean).length} snapshots: ${JSON.stringify(snapshots.filter(Boolean))}`);
  });

  await step('8. the Plugins tab lists the plugins with their grants and budgets', async () => {
    await page.click(tid('tab-plugins'));
    const echo = page.locator(`${tid('plugin-card')}[data-plugin-id="echo"]`);
    await echo.waitFor();
    const echoText = await echo.textContent();
    for (const want of ['Echo', 'tool', 'rust', 'No capabilities', '10,000,000 instructions', '16 MiB']) {
      assert(echoText.includes(want), `the echo card lacks "${want}": ${echoText}`);
    }
    const openai = page.locator(`${tid('plugin-card')}[data-plugin-id="openai"]`);
    await openai.waitFor();
    const outbound = await openai.locator(tid('grant-outbound')).textContent();
    assert(outbound.includes('http://127.0.0.1:'), `the openai card's outbound grant is ${JSON.stringify(outbound)}`);
  });

  await step('9. the Pairing tab approves a pending request', async () => {
    const badge = page.locator(tid('pairing-badge'));
    assert((await badge.textContent()) === '1' && (await badge.isVisible()), 'the pairing badge does not say 1');
    await page.click(tid('tab-pairing'));
    const item = page.locator(tid('pairing-item'));
    await item.first().waitFor();
    assert((await item.count()) === 1, `${await item.count()} pairing requests listed`);
    const text = await item.textContent();
    assert(text.includes('Alice') && text.includes('telegram'), `the pairing request reads ${JSON.stringify(text)}`);
    await item.locator(tid('pairing-approve')).click();
    await item.first().waitFor({ state: 'detached' });
    await badge.waitFor({ state: 'hidden' });
    await page.locator(tid('pairing-empty')).waitFor({ state: 'visible' });
  });

  await step('10. no console errors', async () => {
    assert(problems.length === 0, `the page logged errors:\n  ${problems.join('\n  ')}`);
  });
}

try {
  await main();
  console.log(`webui: all ${passed} steps passed`);
  await browser.close();
} catch (err) {
  console.log(`webui: failed after ${passed} steps`);
  console.error(err.stack || String(err));
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}
