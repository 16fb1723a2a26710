// The mini-program's own utils/api.js (and its return-trip reader) against a real `kaika serve` in
// sandbox mode: login codes minted by the simulator, the card opened through the simulator's component
// endpoint, then POST /api/v1/activations and the member card. The JS client and the server must agree
// on every field: the OpenAPI document, the real bodies and utils/api.js SHAPES are compared.
//
// The server binary: $KAIKA_BIN, else the newest of ../target/release/kaika and ../target/debug/kaika
// (scripts/test builds the release one just before it runs `npm test`). Without a binary the suite is
// skipped with a loud warning, and fails in CI (CI=true or CI=1, as scripts/test counts it).
const fs = require('fs');
const os = require('os');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');
const { createClient, CLIENT_CODES, SHAPES, shapeProblems } = require('../../utils/api.js');
const zh = require('../../i18n/zh-CN.js');
const en = require('../../i18n/en.js');
const { readReturn } = require('../../utils/return-trip.js');

const REPO = path.resolve(__dirname, '../../..');

function findBinary() {
  if (process.env.KAIKA_BIN) {
    if (!fs.existsSync(process.env.KAIKA_BIN)) throw new Error('KAIKA_BIN does not exist: ' + process.env.KAIKA_BIN);
    return process.env.KAIKA_BIN;
  }
  const candidates = ['release', 'debug']
    .map((p) => path.join(REPO, 'target', p, 'kaika'))
    .filter((p) => fs.existsSync(p))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return candidates[0] || null;
}

// The same rule as scripts/test's in_ci.
function inCi() {
  return process.env.CI === 'true' || process.env.CI === '1';
}

const BIN = findBinary();
if (!BIN) {
  const message = 'contract tests: no kaika binary (set KAIKA_BIN or run `cargo build -p kaika-server`)';
  if (inCi()) throw new Error(message);
  console.warn('\n*** SKIPPED: ' + message + ' ***\n');
}
const describeWithServer = BIN ? describe : describe.skip;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function getJson(url, init) {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A `wx` for Node: wx.request over fetch, wx.login through the simulator, storage in memory. */
function nodeWx(base, officialAppId, user) {
  const storage = {};
  const sent = [];
  return {
    sent,
    request(o) {
      sent.push({ method: o.method, url: o.url, data: o.data });
      fetch(o.url, { method: o.method, headers: o.header, body: o.data === undefined ? undefined : JSON.stringify(o.data) })
        .then(async (res) => {
          const text = await res.text();
          let data = text;
          try {
            data = JSON.parse(text);
          } catch (e) {
            // not JSON: passed on as text, as wx.request does
          }
          const header = {};
          res.headers.forEach((v, k) => {
            header[k] = v;
          });
          o.success({ statusCode: res.status, data, header });
        })
        .catch((err) => o.fail({ errMsg: 'request:fail ' + err.message }));
    },
    login(o) {
      getJson(base + '/sim/control/login-codes', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ app_id: officialAppId, user })
      }).then(
        (r) => (r.status === 200 ? o.success({ code: r.body.code }) : o.fail({ errMsg: 'login:fail ' + JSON.stringify(r.body) })),
        (err) => o.fail({ errMsg: 'login:fail ' + err.message })
      );
    },
    getStorageSync: (k) => (k in storage ? storage[k] : ''),
    setStorageSync: (k, v) => {
      storage[k] = v;
    },
    removeStorageSync: (k) => {
      delete storage[k];
    }
  };
}

describeWithServer('utils/api.js against kaika serve (sandbox)', () => {
  jest.setTimeout(60000);
  let child;
  let base;
  let dir;
  let log = '';
  let officialAppId;
  let openapi;

  beforeAll(async () => {
    const port = await freePort();
    base = 'http://127.0.0.1:' + port;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kaika-contract-'));
    const env = {};
    Object.keys(process.env).forEach((k) => {
      if (!k.startsWith('KAIKA__') && k !== 'DATABASE_URL' && k !== 'KAIKA_CONFIG') env[k] = process.env[k];
    });
    env.KAIKA__DATA_DIR = path.join(dir, 'data');
    child = spawn(BIN, ['serve', '--listen', '127.0.0.1:' + port], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => {
      log += d;
    });
    child.stderr.on('data', (d) => {
      log += d;
    });
    // Ready when the sandbox account and its demo card exist (the bootstrap runs after binding).
    const deadline = Date.now() + 45000;
    for (;;) {
      if (child.exitCode !== null) throw new Error('kaika exited early:\n' + log);
      try {
        const accounts = await getJson(base + '/sim/control/accounts');
        const account = accounts.status === 200 && accounts.body.find((a) => a.mini_program);
        if (account && /sandbox mode/.test(log)) {
          officialAppId = account.app_id;
          break;
        }
      } catch (e) {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error('kaika did not become ready:\n' + log);
      await sleep(200);
    }
    openapi = (await getJson(base + '/api/v1/openapi.json')).body;
  });

  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGTERM');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function client(user) {
    const wx = nodeWx(base, officialAppId, user);
    return { wx, api: createClient({ wx, baseUrl: base }) };
  }

  /** The OpenAPI schema and SHAPES name the same fields, with the same types and optionality. */
  function expectSchemaMatches(schemaName, shape) {
    const schema = openapi.components.schemas[schemaName];
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(shape).sort());
    Object.keys(shape).forEach((key) => {
      const want = shape[key];
      const optional = want.endsWith('?');
      const type = optional ? want.slice(0, -1) : want;
      const prop = schema.properties[key];
      const types = [].concat(prop.type || (prop.$ref ? 'object' : []));
      const expected = { string: ['string'], number: ['integer', 'number'], boolean: ['boolean'], object: ['object'], array: ['array'], any: ['object'] }[type];
      expect([schemaName, key, types.some((t) => expected.includes(t))]).toEqual([schemaName, key, true]);
      expect([schemaName, key, (schema.required || []).includes(key)]).toEqual([schemaName, key, !optional]);
      expect([schemaName, key, types.includes('null')]).toEqual([schemaName, key, optional]);
    });
  }

  test('the OpenAPI document and utils/api.js SHAPES agree on every field', () => {
    expectSchemaMatches('SessionResponse', SHAPES.session);
    expectSchemaMatches('CardOfferDto', SHAPES.cardOffer);
    expectSchemaMatches('ComponentParamsDto', SHAPES.activationParams);
    expectSchemaMatches('ExtraDataDto', SHAPES.extraData);
    expectSchemaMatches('MemberCardDto', SHAPES.memberCard);
    expectSchemaMatches('LedgerPageDto', SHAPES.ledgerPage);
    expectSchemaMatches('LedgerEntryDto', SHAPES.ledgerEntry);
    expect(openapi.components.schemas.LedgerPageDto.properties.entries.items.$ref).toBe('#/components/schemas/LedgerEntryDto');
  });

  test('the mini-program has a sentence for exactly the error codes its endpoints can answer', () => {
    const serverCodes = openapi.components.schemas.MemberErrorCode.enum.slice().sort();
    expect(openapi.components.schemas.ErrorBody.properties.code.$ref).toBe('#/components/schemas/ErrorCode');
    const allCodes = openapi.components.schemas.ErrorCode.enum;
    serverCodes.forEach((code) => expect(allCodes).toContain(code));
    for (const catalogue of [zh, en]) {
      const known = Object.keys(catalogue.errors).filter((code) => !CLIENT_CODES.includes(code));
      expect(known.sort()).toEqual(serverCodes);
    }
    CLIENT_CODES.forEach((code) => expect(allCodes).not.toContain(code));
  });

  test('the OpenAPI document describes GET /api/v1/me/cards/{card_id}/ledger as the client calls it', () => {
    const item = openapi.paths['/api/v1/me/cards/{card_id}/ledger'];
    expect(item).toBeDefined();
    const op = item.get;
    expect(op.parameters.map((p) => p.in + ':' + p.name).sort()).toEqual(['path:card_id', 'query:cursor', 'query:limit']);
    expect(op.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/LedgerPageDto');
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '404']);
  });

  test('the whole journey: login, cards, parameters, the component, the return trip, the member card', async () => {
    const { wx, api } = client('contract-alice');

    const session = await api.login();
    expect(shapeProblems(session, SHAPES.session)).toEqual([]);
    expect(session.token).toMatch(/^[0-9a-f]{64}$/);
    expect(Date.parse(session.expires_at)).toBeGreaterThan(Date.now());

    const cards = await api.getCards();
    expect(cards.length).toBeGreaterThan(0);
    const card = cards[0];
    expect(Object.keys(card).sort()).toEqual(Object.keys(SHAPES.cardOffer).sort());
    expect(card.card_id).toMatch(/^p[A-Za-z0-9_-]{27}$/);
    expect(card.color_hex).toMatch(/^#[0-9a-f]{6}$/i);
    expect(card.held).toBe(false);

    const params = await api.getActivationParams(card.card_id, 'store_front');
    expect(Object.keys(params).sort()).toEqual(['app_id', 'extra_data']);
    expect(params.app_id).toBe('wxeb490c6f9b154ef9');
    expect(Object.keys(params.extra_data).sort()).toEqual(Object.keys(SHAPES.extraData).sort());
    expect(params.extra_data.outer_str).toBe('store_front');
    // Decoded exactly once: base64 with its padding, no % left.
    expect(params.extra_data.encrypt_card_id).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(params.extra_data.biz).toMatch(/^[A-Za-z0-9+/]+==$/);

    // The member fills the form in the card-opening component (the simulator's JSON endpoint).
    const submitted = await getJson(base + '/sim/component/submit', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(
        Object.assign({}, params.extra_data, {
          user: 'contract-alice',
          answers: { USER_FORM_INFO_FLAG_MOBILE: '13800138000', USER_FORM_INFO_FLAG_NAME: '张三', 喜欢的咖啡: '拿铁' }
        })
      )
    });
    expect(submitted.status).toBe(200);
    expect(Object.keys(submitted.body).sort()).toEqual(['activate_ticket', 'card_id', 'code']);

    // App.onShow receives it; in DevTools as a string, on phones as an object: both read the same.
    const fromObject = readReturn({ scene: 1038, referrerInfo: { appId: 'wxeb490c6f9b154ef9', extraData: submitted.body } });
    const fromString = readReturn({ scene: 1038, referrerInfo: { appId: 'wxeb490c6f9b154ef9', extraData: JSON.stringify(submitted.body) } });
    expect(fromObject.kind).toBe('activate');
    expect(fromString).toEqual(fromObject);

    const member = await api.activate(fromObject.ticket);
    const post = wx.sent.filter((r) => r.url.endsWith('/api/v1/activations'));
    expect(Object.keys(post[0].data).sort()).toEqual(openapi.components.schemas.ActivationBody.required.slice().sort());
    expect(Object.keys(member).sort()).toEqual(Object.keys(SHAPES.memberCard).sort());
    expect(shapeProblems(member, SHAPES.memberCard)).toEqual([]);
    expect(member.card_id).toBe(card.card_id);
    expect(member.title).toBe(card.title);
    expect(member.color_hex).toBe(card.color_hex);
    expect(member.code).toMatch(/^\d{12}$/);
    expect(member.membership_number).toMatch(/^KK/);
    expect(member.points).toBe(100); // the sandbox card's welcome bonus
    expect(member.balance_cents).toBe(0);
    expect(member.status).toBe('active');
    expect(JSON.stringify(member.form_answers)).toContain('13800138000');

    // The same ticket again (onShow replayed before the app remembered it): the same member, not a second one.
    const again = await api.activate(fromObject.ticket);
    expect(again).toEqual(member);

    const mine = await api.myCards();
    expect(mine).toEqual([member]);
    expect(await api.myCard(card.card_id)).toEqual(member);
    expect((await api.getCards()).find((c) => c.card_id === card.card_id).held).toBe(true);

    // The history: the welcome bonus, the only entry, so the last page.
    const history = await api.ledger(card.card_id);
    expect(history.next_cursor).toBe(null);
    expect(history.entries).toHaveLength(1);
    const welcome = history.entries[0];
    expect(Object.keys(welcome).sort()).toEqual(Object.keys(SHAPES.ledgerEntry).sort());
    expect(shapeProblems(welcome, SHAPES.ledgerEntry)).toEqual([]);
    expect([welcome.kind, welcome.amount, welcome.resulting_total, welcome.reason]).toEqual(['points', 100, member.points, 'welcome']);
    expect(Date.parse(welcome.created_at)).not.toBeNaN();
    expect(await api.ledger(card.card_id, null, 1)).toEqual(history);
    // A cursor past the newest entry: the entries before it (none here).
    expect(await api.ledger(card.card_id, String(welcome.id))).toEqual({ entries: [], next_cursor: null });
    const badCursor = await api.ledger(card.card_id, 'not-a-cursor').catch((e) => e);
    expect([badCursor.code, badCursor.status]).toEqual(['invalid_cursor', 400]);
    const badLimit = await api.ledger(card.card_id, null, 500).catch((e) => e);
    expect([badLimit.code, badLimit.status]).toEqual(['invalid_limit', 400]);
  });

  test('a revoked token: the client logs in again by itself and the call succeeds', async () => {
    const { wx, api } = client('contract-bob');
    wx.setStorageSync('kaika.session', { token: 'f'.repeat(64), expires_at: '2099-01-01T00:00:00Z' });
    const cards = await api.getCards();
    expect(cards.length).toBeGreaterThan(0);
    expect(wx.sent.map((r) => r.method + ' ' + new URL(r.url).pathname)).toEqual([
      'GET /api/v1/cards',
      'POST /api/v1/sessions',
      'GET /api/v1/cards'
    ]);
  });

  test('config.sandboxUser: logs in through the simulator without wx.login', async () => {
    const wx = nodeWx(base, officialAppId, 'unused');
    wx.login = () => {
      throw new Error('wx.login must not be called in sandbox login');
    };
    const api = createClient({ wx, baseUrl: base, sandboxUser: 'contract-dave' });
    const cards = await api.getCards();
    expect(cards.length).toBeGreaterThan(0);
    expect(wx.sent.map((r) => r.method + ' ' + new URL(r.url).pathname)).toEqual([
      'GET /sim/control/accounts',
      'POST /sim/control/login-codes',
      'POST /api/v1/sessions',
      'GET /api/v1/cards'
    ]);
  });

  test('server error codes arrive as the client expects them', async () => {
    const { api } = client('contract-carol');
    const cards = await api.getCards();
    const missingChannel = await api.getActivationParams(cards[0].card_id, 'no_such_channel').catch((e) => e);
    expect([missingChannel.code, missingChannel.status]).toEqual(['channel_not_found', 404]);
    const unknownCard = await api.getActivationParams('pAAAAAAAAAAAAAAAAAAAAAAAAAAA', '').catch((e) => e);
    expect([unknownCard.code, unknownCard.status]).toEqual(['card_not_found', 404]);
    const notMember = await api.myCard(cards[0].card_id).catch((e) => e);
    expect([notMember.code, notMember.status]).toEqual(['membership_not_found', 404]);
    const noHistory = await api.ledger(cards[0].card_id).catch((e) => e);
    expect([noHistory.code, noHistory.status]).toEqual(['membership_not_found', 404]);
    const badTicket = await api
      .activate({ activate_ticket: 'bm90IGEgdGlja2V0', card_id: cards[0].card_id, encrypt_code: 'bm90IGEgY29kZQ==' })
      .catch((e) => e);
    expect(['ticket_invalid', 'code_invalid']).toContain(badTicket.code);
    expect(badTicket.status).toBe(422);
    expect(badTicket.message).not.toBe(badTicket.detail);
  });
});
