// Browser tests of the admin dashboard in real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core). Starts `target/debug/kaika serve` in sandbox mode on a free port in a temporary
// directory, reads the first owner's password from <data dir>/initial-admin-password (never in the log),
// and walks the scenario.
// Screenshots go to ./artifacts/. Exit code 0 when every step passed.
//
//   cargo build -p kaika-server && node web-admin/browser-tests/run.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const artifacts = join(here, 'artifacts');
mkdirSync(artifacts, { recursive: true });
const kaika = process.env.KAIKA_BIN || join(root, 'target/debug/kaika');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on('error', fail);
  });
}

async function startServer() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kaika-browser-'));
  const log = [];
  const child = spawn(kaika, ['serve', '--listen', `127.0.0.1:${port}`], {
    cwd: dir,
    env: {
      ...process.env,
      KAIKA__DATA_DIR: join(dir, 'data'),
      KAIKA__DATABASE__URL: `sqlite://${join(dir, 'data', 'kaika.db')}`,
      KAIKA__SANDBOX__MODE: 'auto',
      KAIKA__LOG__FORMAT: 'human',
      NO_COLOR: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk) => log.push(chunk.toString());
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  const passwordFile = join(dir, 'data', 'initial-admin-password');
  let password;
  while (Date.now() < deadline) {
    const text = log.join('');
    if (!password && existsSync(passwordFile)) password = readFileSync(passwordFile, 'utf8').trim() || undefined;
    const sandboxReady = /sandbox mode/.test(text);
    if (password && sandboxReady) break;
    if (child.exitCode !== null) throw new Error(`kaika exited:\n${text}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!password) throw new Error(`no first-owner password in ${passwordFile}:\n${log.join('')}`);
  if (log.join('').includes(password)) throw new Error('the first owner\'s password was written to the log');
  return { base, password, child, dir, log };
}

// A real 1×1 PNG for the logo upload.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

const steps = [];
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    steps.push({ name, ok: true, ms: Date.now() - started });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    steps.push({ name, ok: false });
    console.log(`FAIL ${name}\n${err.stack || err}`);
    throw err;
  }
}

const server = await startServer();
const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run'],
});
let failed = false;
try {
  const owner = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  // The simulator's media/uploadimg answers WeChat CDN URLs (mmbiz.qpic.cn), unreachable offline: the
  // browser gets the uploaded test image from them instead.
  await owner.route(/^https?:\/\/mmbiz\.qpic\.cn\//, (route) =>
    route.fulfill({ status: 200, contentType: 'image/png', body: PNG }));
  const page = await owner.newPage();
  const consoleErrors = [];
  // Errors on admin pages only (the sandbox and simulator pages are not ours to judge here).
  page.on('console', (msg) => {
    if (msg.type() === 'error' && new URL(page.url()).pathname.startsWith('/admin')) {
      consoleErrors.push(`${page.url()}: ${msg.text()} ${msg.location().url || ''}`);
    }
  });
  const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  const { base } = server;

  await step('log in as the first owner with the password from its file', async () => {
    await page.goto(`${base}/admin`);
    assert.match(page.url(), /\/admin\/login$/);
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    await shot('01-login');
    await page.fill('#username', 'admin');
    await page.fill('#password', server.password);
    await page.click('#login-form button[type=submit]');
    await page.waitForURL(`${base}/admin`);
    assert.equal(await page.locator('#sandbox-banner a').getAttribute('href'), '/sandbox');
    assert.equal(await page.locator('svg#daily-chart rect.bar').count(), 120);
    await shot('02-dashboard');
  });

  await step('create a card with a logo, watch the live preview, then design its form', async () => {
    await page.goto(`${base}/admin/cards/new`);
    await page.fill('#title', '金卡会员');
    assert.equal(await page.locator('#preview-title').textContent(), '金卡会员');
    await page.fill('#brand_name', '开卡咖啡');
    assert.equal(await page.locator('#preview-brand').textContent(), '开卡咖啡');
    await page.check('input[name=color][value=Color050]');
    assert.match(await page.locator('#card-preview').getAttribute('class'), /color-Color050/);
    await page.fill('#title', '一二三四五六七八九十');
    assert.match(await page.locator('.counter[data-for=title]').getAttribute('class'), /over/);
    await page.fill('#title', '金卡会员');
    const logo = join(server.dir, 'logo.png');
    writeFileSync(logo, PNG);
    await page.setInputFiles('#logo', logo);
    await page.fill('#notice', '出示会员码享会员价');
    await page.fill('#description', '仅限本店使用');
    await page.fill('#prerogative', '消费九折');
    await page.fill('#welcome_bonus', '50');
    await page.fill('#membership_prefix', 'GD');
    await shot('03-card-new');
    await page.click('#create-card');
    await page.waitForURL(/\/admin\/cards\/\d+\/form/);
    assert.match(await page.locator('.flash').textContent(), /已创建/);
    await page.check('tr[data-flag=USER_FORM_INFO_FLAG_MOBILE] input[value=required]');
    await page.check('tr[data-flag=USER_FORM_INFO_FLAG_NAME] input[value=required]');
    await page.check('tr[data-flag=USER_FORM_INFO_FLAG_BIRTHDAY] input[value=optional]');
    await page.fill('input[name=rich0_name]', '兴趣');
    await page.selectOption('select[name=rich0_place]', 'optional');
    await page.fill('textarea[name=rich0_values]', '咖啡\n茶');
    await page.fill('#service_name', '会员守则');
    await page.fill('#service_url', 'https://example.com/terms');
    await page.click('#save-form');
    await page.waitForURL(/done=form_saved/);
    assert.equal(await page.locator('#form-preview .pf.required').count(), 2);
    await shot('04-form-designer');
    await page.goto(`${base}/admin/cards`);
    assert.equal(await page.locator('tr.card-row').count(), 2);
    await shot('05-cards');
  });

  await step('create a channel and download its poster', async () => {
    await page.goto(`${base}/admin/channels`);
    await page.fill('#outer_str', 'mall_b2');
    await page.fill('#name', '商场 B2');
    await page.click('#create-channel');
    await page.waitForURL(/\/admin\/channels\/\d+\?done=channel_created/);
    assert.match(await page.locator('#mini-path').textContent(), /channel=mall_b2/);
    const loaded = await page.locator('#wxacode').evaluate((img) => img.complete && img.naturalWidth > 0);
    assert.ok(loaded, 'the mini-program code image loads');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-poster')]);
    const saved = join(artifacts, 'poster-mall_b2.svg');
    await download.saveAs(saved);
    assert.match(readFileSync(saved, 'utf8'), /data:image\/png;base64,/);
    await shot('06-channel');
  });

  await step('walk one member through the sandbox journey', async () => {
    await page.goto(`${base}/sandbox`);
    await page.fill('#user', 'browser_member');
    await page.selectOption('#channel', 'store_front');
    await page.click('form.panel button[type=submit]');
    await page.waitForSelector('form[action=component]');
    await page.evaluate(() => {
      const form = document.querySelector('form[action=component]');
      for (const input of form.querySelectorAll('input[type=text]')) {
        if (input.id === 'user' || input.value) continue;
        const label = (form.querySelector(`label[for="${input.id}"]`) || {}).textContent || input.name;
        input.value = /手机|MOBILE/i.test(label + input.name) ? '13800135678'
          : /生日|BIRTHDAY/i.test(label + input.name) ? '1990-01-01' : '张三丰';
      }
      const groups = new Set([...form.querySelectorAll('input[type=radio]')].map((r) => r.name));
      for (const name of groups) form.querySelector(`input[type=radio][name="${name}"]`).checked = true;
      for (const select of form.querySelectorAll('select')) if (select.options.length > 1) select.selectedIndex = 1;
    });
    await shot('07-sandbox-component');
    await page.click('form[action=component] button[type=submit]');
    await page.waitForURL(/\/sandbox/, { timeout: 20_000 });
    await page.waitForSelector('.card .number', { timeout: 20_000 });
    await shot('08-sandbox-member');
  });

  let memberPath;
  await step('find the member, credit points, see the entry and the synced state', async () => {
    await page.goto(`${base}/admin/members`);
    await page.fill('#q', '13800135678');
    await page.click('#search');
    await page.waitForURL(/q=13800135678/);
    assert.equal(await page.locator('tr.member-row').count(), 1);
    await shot('09-members');
    await page.click('tr.member-row a');
    memberPath = new URL(page.url()).pathname;
    const before = Number(await page.locator('#member-points').textContent());
    await page.fill('#amount', '88');
    await page.fill('#note', '浏览器测试');
    await page.click('#submit-ledger');
    await page.waitForURL(/done=ledger_saved/);
    assert.equal(Number(await page.locator('#member-points').textContent()), before + 88);
    assert.match(await page.locator('#ledger tr.entry').first().textContent(), /浏览器测试/);
    let synced = false;
    for (let i = 0; i < 30 && !synced; i++) {
      synced = (await page.locator('#sync-state .ok').count()) === 1;
      if (!synced) { await new Promise((r) => setTimeout(r, 500)); await page.reload(); }
    }
    assert.ok(synced, 'the ledger entry was synced to the WeChat card');
    await shot('10-member');
  });

  await step('export the filtered list as CSV', async () => {
    await page.goto(`${base}/admin/members?q=13800135678`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    const saved = join(artifacts, 'members.csv');
    await download.saveAs(saved);
    const csv = readFileSync(saved, 'utf8');
    assert.match(csv, /13800135678/);
    assert.equal(csv.trim().split('\n').length, 2);
  });

  await step('a viewer sees masked data and cannot change anything', async () => {
    await page.goto(`${base}/admin/admins`);
    await page.fill('#new-username', 'viewer');
    await page.fill('#new-password', 'viewer-password-1');
    await page.selectOption('#new-role', 'viewer');
    await page.click('#create-admin');
    await page.waitForURL(/done=admin_created/);
    const viewer = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const vpage = await viewer.newPage();
    await vpage.goto(`${base}/admin/login`);
    await vpage.fill('#username', 'viewer');
    await vpage.fill('#password', 'viewer-password-1');
    await vpage.click('#login-form button[type=submit]');
    await vpage.waitForURL(`${base}/admin`);
    await vpage.goto(`${base}/admin/members`);
    const mobile = await vpage.locator('tr.member-row .mobile').first().textContent();
    assert.equal(mobile, '138****5678');
    assert.ok(!(await vpage.content()).includes('13800135678'));
    await vpage.goto(`${base}${memberPath}`);
    assert.equal(await vpage.locator('#ledger-form').count(), 0);
    const status = await vpage.evaluate(async (path) => {
      const csrf = document.querySelector('input[name=csrf]').value;
      const body = new URLSearchParams({ csrf, nonce: 'x', amount: '1', note: 'x' });
      return (await fetch(`${path}/ledger`, { method: 'POST', body })).status;
    }, memberPath);
    assert.equal(status, 403);
    await vpage.goto(`${base}${memberPath}`);
    assert.equal(await vpage.locator('#ledger tr.entry').count(), 2, 'the refused post wrote nothing');
    await vpage.screenshot({ path: join(artifacts, '11-viewer-members.png'), fullPage: true });
    await viewer.close();
  });

  await step('a cross-site form post is refused', async () => {
    const attacker = await owner.newPage();
    await attacker.setContent(`<form method="post" action="${base}${memberPath}/ledger">
      <input name="csrf" value="guess"><input name="amount" value="1000"><input name="note" value="x">
      <button id="go">go</button></form>`);
    const [response] = await Promise.all([
      attacker.waitForNavigation(),
      attacker.click('#go'),
    ]);
    assert.equal(response.status(), 403);
    await page.goto(`${base}${memberPath}`);
    assert.equal(await page.locator('#ledger tr.entry').count(), 2, 'welcome + our credit only');
  });

  await step('edit the card face and options through card/update', async () => {
    await page.goto(`${base}/admin/cards`);
    await page.click('tr.card-row:has-text("金卡会员") a >> nth=0');
    await page.click('#edit-card');
    await page.waitForURL(/\/admin\/cards\/\d+\/edit$/);
    assert.equal(await page.locator('#offline').count(), 0, 'the form was read from WeChat');
    await page.fill('#cell_tips', '一二三四五六七');
    assert.match(await page.locator('.counter[data-for=cell_tips]').getAttribute('class'), /over/);
    await page.fill('#cell_tips', '就近服务');
    await page.fill('#cell_name', '附近门店');
    await page.fill('#cell_url', 'https://example.com/stores');
    await page.fill('#notice', '结账时出示会员码');
    await page.fill('#bonus_cost_money_unit', '100');
    await page.fill('#bonus_increase_bonus', '1');
    await shot('15-card-edit');
    await page.click('#save-card');
    await page.waitForURL(/\/admin\/cards\/\d+\?done=card_updated/);
    assert.match(await page.locator('.flash').textContent(), /已更新/);
  });

  await step('create an API key, see it once, revoke it', async () => {
    await page.goto(`${base}/admin/api-keys`);
    await page.fill('#key-name', '收银系统');
    await page.uncheck('#scopes input[value="ledger:write"]');
    await page.click('#create-api-key');
    const key = (await page.locator('#new-key-value').textContent()).trim();
    assert.match(key, /^kk_[0-9a-f]{64}$/);
    await shot('16-api-keys');
    await page.goto(`${base}/admin/api-keys`);
    assert.equal(await page.locator('#new-key').count(), 0, 'the key is shown only once');
    assert.ok(!(await page.content()).includes(key));
    const row = page.locator('tr.api-key-row[data-name="收银系统"]');
    assert.match(await row.textContent(), /members:read/);
    assert.doesNotMatch(await row.textContent(), /ledger:write/);
    const response = await page.request.get(`${base}/api/v1/integration/members?code=000000000000`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(response.status(), 200, 'the new key authenticates and may read members');
    assert.deepEqual(await response.json(), [], 'no member has that code');
    await row.locator('button.revoke').click();
    await page.waitForURL(/done=api_key_revoked/);
    assert.match(await page.locator('tr.api-key-row[data-name="收银系统"] .key-status').textContent(), /已吊销/);
    const after = await page.request.get(`${base}/api/v1/integration/members?code=000000000000`, {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(after.status(), 401, 'a revoked key is refused');
  });

  await step('the sync page shows the outbox and the last reconciliation', async () => {
    await page.click('#nav-sync');
    await page.waitForURL(`${base}/admin/sync`);
    assert.equal(await page.locator('#outbox-counts li').count(), 4);
    assert.ok(Number(await page.locator('#outbox-counts .count-sent strong').textContent()) >= 1,
      'the credit was sent to the card');
    assert.equal(await page.locator('#last-run, #no-run').count(), 1);
    await shot('17-sync');
  });

  await step('the go-live checklist of the sandbox account', async () => {
    await page.goto(`${base}/admin/accounts`);
    await page.locator('#accounts tr.account:has(.badge.sandbox) a.go-live').click();
    await page.waitForURL(/\/admin\/accounts\/[^/]+\/go-live$/);
    for (const id of ['public_url', 'server_url', 'message_mode', 'access_token', 'mini_program']) {
      assert.equal(await page.locator(`#checklist li.check[data-id="${id}"]`).count(), 1, id);
    }
    assert.ok((await page.locator('#checklist li.check[data-id="card"]').count()) >= 1, 'a line per card');
    assert.equal(await page.locator('li.check[data-id="access_token"]').getAttribute('data-state'), 'ok');
    assert.equal(await page.locator('li.check[data-id="public_url"]').getAttribute('data-state'), 'failed');
    assert.equal(await page.locator('#whitelist-form textarea').count(), 3);
    await shot('18-go-live');
  });

  await step('English rendering and the remaining pages', async () => {
    await page.goto(`${base}/admin/lang/en?next=/admin`);
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    assert.equal(await page.locator('h1').first().textContent(), 'Dashboard');
    await shot('12-dashboard-en');
    await page.goto(`${base}/admin/accounts`);
    const sandboxAccount = page.locator('#accounts tr.account:has(.badge.sandbox)');
    assert.equal(await sandboxAccount.count(), 1, 'the sandbox account is listed');
    const appId = await sandboxAccount.getAttribute('data-app-id');
    assert.ok((await sandboxAccount.locator('.callback-url').textContent()).trim()
      .endsWith(`/wechat/${appId}/callback`), 'the callback URL to paste into the WeChat console');
    await shot('13-accounts');
    await page.goto(`${base}/admin/audit`);
    assert.ok((await page.locator('tr.audit-row').count()) >= 5);
    await shot('14-audit');
    assert.deepEqual(consoleErrors, [], 'no console errors (CSP)');
  });
} catch (err) {
  failed = true;
} finally {
  await browser.close();
  server.child.kill('SIGTERM');
  writeFileSync(join(artifacts, 'server.log'), server.log.join(''));
  rmSync(server.dir, { recursive: true, force: true });
}
console.log(`\n${steps.filter((s) => s.ok).length}/${steps.length} steps passed; screenshots in ${artifacts}`);
process.exit(failed ? 1 : 0);
