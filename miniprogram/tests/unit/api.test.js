const { createClient, ApiError, retryAfterMs, shapeProblems, SHAPES, isRetryable } = require('../../utils/api.js');
const { createFakeWx, reply } = require('../helpers/fake-wx.js');
const { createFakeServer } = require('../helpers/fake-server.js');
const fx = require('../helpers/fixtures.js');
const zh = require('../../i18n/zh-CN.js');

function setup(overrides, clientOptions) {
  const server = createFakeServer(overrides);
  const wx = createFakeWx({ server: server.handle });
  const sleeps = [];
  const client = createClient(
    Object.assign(
      {
        wx: wx,
        baseUrl: 'https://kaika.test/',
        sleep: function (ms) {
          sleeps.push(ms);
          return Promise.resolve();
        }
      },
      clientOptions || {}
    )
  );
  return { server, wx, client, sleeps };
}

describe('login and the session token', () => {
  test('logs in with wx.login on first use and sends the bearer token', async () => {
    const { wx, client } = setup();
    const cards = await client.getCards();
    expect(cards).toEqual([fx.offer, fx.otherOffer]);
    expect(wx.calls.login).toBe(1);
    const [login, get] = wx.calls.request;
    expect(login).toMatchObject({ method: 'POST', url: 'https://kaika.test/api/v1/sessions', data: { code: 'code-1' } });
    expect(login.header.Authorization).toBeUndefined();
    expect(get).toMatchObject({ method: 'GET', url: 'https://kaika.test/api/v1/cards' });
    expect(get.header.Authorization).toBe('Bearer token-1');
    expect(wx.getStorageSync('kaika.session')).toEqual(fx.session(1));
  });

  test('sends app_id with the login when configured', async () => {
    const { wx, client } = setup({}, { appId: 'wx1234567890abcdef' });
    await client.login();
    expect(wx.calls.request[0].data).toEqual({ code: 'code-1', app_id: 'wx1234567890abcdef' });
  });

  test('reuses a stored token without logging in again', async () => {
    const { server, wx, client } = setup();
    server.validTokens['token-stored'] = true;
    wx.setStorageSync('kaika.session', { token: 'token-stored', expires_at: '2099-01-01T00:00:00Z' });
    await client.getCards();
    expect(wx.calls.login).toBe(0);
    expect(wx.calls.request).toHaveLength(1);
    expect(wx.calls.request[0].header.Authorization).toBe('Bearer token-stored');
  });

  test('an expired stored token is renewed before the call', async () => {
    const { wx, client } = setup();
    wx.setStorageSync('kaika.session', { token: 'token-old', expires_at: '2000-01-01T00:00:00Z' });
    await client.getCards();
    expect(wx.calls.login).toBe(1);
    expect(wx.calls.request[1].header.Authorization).toBe('Bearer token-1');
  });

  test('invalid_session: logs in again and retries once', async () => {
    const { wx, client } = setup();
    wx.setStorageSync('kaika.session', { token: 'token-revoked', expires_at: '2099-01-01T00:00:00Z' });
    const cards = await client.getCards();
    expect(cards).toHaveLength(2);
    expect(wx.calls.request.map((r) => r.method + ' ' + r.path)).toEqual([
      'GET /api/v1/cards',
      'POST /api/v1/sessions',
      'GET /api/v1/cards'
    ]);
    expect(wx.calls.request[2].header.Authorization).toBe('Bearer token-1');
  });

  test('invalid_session twice in a row: gives up after one retry with a friendly error', async () => {
    const { server, wx, client } = setup({
      cards: () => reply(401, { code: 'invalid_session', message: 'log in again' })
    });
    void server;
    const err = await client.getCards().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('invalid_session');
    expect(err.message).toBe(zh.errors.invalid_session);
    expect(wx.calls.login).toBe(2);
    expect(wx.calls.request.filter((r) => r.path === '/api/v1/cards')).toHaveLength(2);
  });

  test('concurrent calls share one login', async () => {
    const { wx, client } = setup();
    await Promise.all([client.getCards(), client.myCards(), client.myCard(fx.CARD_ID)]);
    expect(wx.calls.login).toBe(1);
    expect(wx.calls.request.filter((r) => r.path === '/api/v1/sessions')).toHaveLength(1);
  });

  test('wx.login failing rejects with login_failed, and the next call tries again', async () => {
    const { wx, client } = setup();
    wx.loginFails = true;
    const err = await client.getCards().catch((e) => e);
    expect(err.code).toBe('login_failed');
    expect(err.message).toBe(zh.errors.login_failed);
    wx.loginFails = false;
    await expect(client.getCards()).resolves.toHaveLength(2);
  });

  test('a refused login code surfaces the server code', async () => {
    const { client } = setup({
      sessions: () => reply(400, { code: 'invalid_login_code', message: 'the wx.login code is invalid or was already used' })
    });
    const err = await client.getCards().catch((e) => e);
    expect(err.code).toBe('invalid_login_code');
    expect(err.status).toBe(400);
    expect(err.message).toBe(zh.errors.invalid_login_code);
    expect(err.detail).toBe('the wx.login code is invalid or was already used');
  });
});

describe('errors become friendly messages', () => {
  test.each([
    ['channel_archived', 410],
    ['channel_not_found', 404],
    ['card_not_approved', 409],
    ['wechat_unavailable', 503],
    ['ticket_expired', 422]
  ])('%s (%i)', async (code, status) => {
    const { client } = setup({ params: () => reply(status, { code, message: 'server words' }) });
    const err = await client.getActivationParams(fx.CARD_ID, 'store_front').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe(code);
    expect(err.status).toBe(status);
    expect(err.message).toBe(zh.errors[code]);
    expect(err.message).not.toMatch(/server words/);
  });

  test('an unknown code gets the generic message', async () => {
    const { client } = setup({ cards: () => reply(418, { code: 'teapot', message: 'short and stout' }) });
    const err = await client.getCards().catch((e) => e);
    expect(err.code).toBe('teapot');
    expect(err.message).toBe(zh.errors.unknown);
  });

  test('a non-JSON 502 becomes internal', async () => {
    const { client } = setup({ cards: () => reply(502, '<html>Bad Gateway</html>') });
    const err = await client.getCards().catch((e) => e);
    expect(err.code).toBe('internal');
    expect(err.message).toBe(zh.errors.internal);
  });

  test('a network failure becomes network', async () => {
    const { client } = setup({ cards: () => ({ fail: 'timeout' }) });
    const err = await client.getCards().catch((e) => e);
    expect(err.code).toBe('network');
    expect(err.message).toBe(zh.errors.network);
    expect(err.detail).toMatch(/timeout/);
    expect(isRetryable(err)).toBe(true);
  });

  test('a body that is not the documented shape is bad_response, not a crash later', async () => {
    const { client } = setup({ myCard: () => reply(200, Object.assign({}, fx.member, { points: '12' })) });
    const err = await client.myCard(fx.CARD_ID).catch((e) => e);
    expect(err.code).toBe('bad_response');
    expect(err.detail).toMatch(/member\.points should be number/);
  });

  test('ticket errors are not offered a retry', () => {
    expect(isRetryable(new ApiError('ticket_expired'))).toBe(false);
    expect(isRetryable(new ApiError('wechat_unavailable'))).toBe(true);
  });
});

describe('activation parameters', () => {
  test('path and channel are encoded; the body is returned as is', async () => {
    const { wx, client } = setup();
    const params = await client.getActivationParams(fx.CARD_ID, 'store_front');
    expect(params).toEqual(fx.params);
    expect(wx.calls.request[1].path).toBe('/api/v1/cards/' + fx.CARD_ID + '/activation-params?channel=store_front');
  });

  test('no channel: no query string', async () => {
    const { wx, client } = setup();
    await client.getActivationParams(fx.CARD_ID, '');
    expect(wx.calls.request[1].path).toBe('/api/v1/cards/' + fx.CARD_ID + '/activation-params');
  });
});

describe('POST /api/v1/activations', () => {
  const ticket = { activate_ticket: fx.extraData.activate_ticket, card_id: fx.CARD_ID, encrypt_code: fx.extraData.code };

  test('sends exactly activate_ticket, card_id and encrypt_code', async () => {
    const { wx, client } = setup();
    const member = await client.activate(Object.assign({ extra: 'dropped' }, ticket));
    expect(member).toEqual(fx.member);
    const post = wx.calls.request.find((r) => r.path === '/api/v1/activations');
    expect(post.method).toBe('POST');
    expect(post.data).toEqual(ticket);
    expect(post.header['Content-Type']).toBe('application/json');
  });

  test('202 activation_in_progress: waits Retry-After and asks again', async () => {
    let n = 0;
    const { wx, client, sleeps } = setup({
      activations: () => {
        n += 1;
        if (n < 3) return reply(202, { code: 'activation_in_progress', message: 'ask again' }, { 'retry-after': n === 1 ? '3' : '1' });
        return reply(200, fx.member);
      }
    });
    await expect(client.activate(ticket)).resolves.toEqual(fx.member);
    expect(sleeps).toEqual([3000, 1000]);
    const posts = wx.calls.request.filter((r) => r.path === '/api/v1/activations');
    expect(posts).toHaveLength(3);
    posts.forEach((p) => expect(p.data).toEqual(ticket));
  });

  test('202 for too long: rejects with activation_in_progress after maxInProgressPolls', async () => {
    const { wx, client, sleeps } = setup(
      { activations: () => reply(202, { code: 'activation_in_progress', message: 'ask again' }, { 'Retry-After': '2' }) },
      { maxInProgressPolls: 4 }
    );
    const err = await client.activate(ticket).catch((e) => e);
    expect(err.code).toBe('activation_in_progress');
    expect(err.message).toBe(zh.errors.activation_in_progress);
    expect(sleeps).toEqual([2000, 2000, 2000]);
    expect(wx.calls.request.filter((r) => r.path === '/api/v1/activations')).toHaveLength(4);
  });

  test('Retry-After is read case-insensitively and kept between 1 and 10 seconds', () => {
    expect(retryAfterMs({ 'Retry-After': '2' })).toBe(2000);
    expect(retryAfterMs({ 'retry-after': '60' })).toBe(10000);
    expect(retryAfterMs({ 'RETRY-AFTER': '0' })).toBe(2000);
    expect(retryAfterMs({})).toBe(2000);
    expect(retryAfterMs(undefined)).toBe(2000);
  });

  test('invalid_session during activation: logs in again and posts the same ticket', async () => {
    const { wx, client } = setup();
    wx.setStorageSync('kaika.session', { token: 'token-revoked', expires_at: '2099-01-01T00:00:00Z' });
    await expect(client.activate(ticket)).resolves.toEqual(fx.member);
    const posts = wx.calls.request.filter((r) => r.path === '/api/v1/activations');
    expect(posts).toHaveLength(2);
    expect(posts[1].data).toEqual(ticket);
  });
});

describe('shapes', () => {
  test('shapeProblems names every mismatch', () => {
    expect(shapeProblems(fx.member, SHAPES.memberCard)).toEqual([]);
    expect(shapeProblems(Object.assign({}, fx.member, { membership_number: null, level: null, activated_at: null }), SHAPES.memberCard)).toEqual([]);
    const bad = Object.assign({}, fx.member, { code: null });
    delete bad.points;
    expect(shapeProblems(bad, SHAPES.memberCard, 'm')).toEqual(['m.code is null', 'm.points is missing']);
    expect(shapeProblems([], SHAPES.cardOffer)).toEqual(['value is not an object']);
  });
});

describe('ledger', () => {
  test('GET /api/v1/me/cards/{card_id}/ledger with the bearer token; the cursor and limit in the query', async () => {
    const { wx, client } = setup();
    await expect(client.ledger(fx.CARD_ID)).resolves.toEqual(fx.ledgerPages[0]);
    await expect(client.ledger(fx.CARD_ID, '4', 2)).resolves.toEqual(fx.ledgerPages[1]);
    const gets = wx.calls.request.filter((r) => r.method === 'GET');
    expect(gets.map((r) => r.path)).toEqual([
      '/api/v1/me/cards/' + fx.CARD_ID + '/ledger',
      '/api/v1/me/cards/' + fx.CARD_ID + '/ledger?cursor=4&limit=2'
    ]);
    expect(gets[0].header.Authorization).toBe('Bearer token-1');
  });

  test('server errors arrive with their code and friendly message', async () => {
    const { client } = setup({ ledger: () => reply(404, { code: 'membership_not_found', message: 'you do not hold this card yet' }) });
    const err = await client.ledger(fx.CARD_ID).catch((e) => e);
    expect([err.code, err.status, err.message]).toEqual(['membership_not_found', 404, zh.errors.membership_not_found]);
    const bad = await setup().client.ledger(fx.CARD_ID, 'nope').catch((e) => e);
    expect([bad.code, bad.status, bad.message]).toEqual(['invalid_cursor', 400, zh.errors.invalid_cursor]);
  });

  test('a page without entries, or with a malformed entry, is bad_response', async () => {
    const noList = await setup({ ledger: () => reply(200, { entries: {}, next_cursor: null }) }).client.ledger(fx.CARD_ID).catch((e) => e);
    expect([noList.code, noList.detail]).toEqual(['bad_response', 'ledger.entries should be array']);
    const badEntry = await setup({ ledger: () => reply(200, { entries: [fx.ledgerEntry({ amount: '100' })], next_cursor: null }) })
      .client.ledger(fx.CARD_ID)
      .catch((e) => e);
    expect([badEntry.code, badEntry.detail]).toEqual(['bad_response', 'ledger.entries[0].amount should be number']);
  });

  test('the ledger fixtures fit SHAPES', () => {
    fx.ledgerPages.forEach((page) => {
      expect(shapeProblems(page, SHAPES.ledgerPage)).toEqual([]);
      page.entries.forEach((e) => expect(shapeProblems(e, SHAPES.ledgerEntry)).toEqual([]));
    });
    expect(shapeProblems({ entries: [], next_cursor: '7' }, SHAPES.ledgerPage)).toEqual([]);
    expect(shapeProblems({ next_cursor: 7 }, SHAPES.ledgerPage, 'p')).toEqual(['p.entries is missing', 'p.next_cursor should be string']);
  });
});
