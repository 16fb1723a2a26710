// The one request wrapper of the mini-program: every call to Kaika's /api/v1 goes through here.
//
// - attaches `Authorization: Bearer <token>` (the token from POST /api/v1/sessions, kept in wx storage);
// - logs in first when there is no token, and logs in again and retries once on `invalid_session`;
// - turns every failure into an ApiError whose `message` is a friendly sentence from the catalogue
//   (i18n/) and whose `code` is the server's stable code (or `network`, `login_failed`, `bad_response`);
// - POST /api/v1/activations: asks again while the server answers 202 `activation_in_progress`,
//   waiting Retry-After seconds between attempts.
// Every method returns a promise that either resolves or rejects with an ApiError; callers catch.
//
// The same file runs in Node for tests (tests/contract drives it against a real `kaika serve`): it only
// touches the `wx` object it is given.
const config = require('../config.js');
const i18n = require('./i18n.js');
const constants = require('./constants.js');

/** The fields the mini-program reads from each response; tests/contract checks them against the server. */
const SHAPES = {
  session: { token: 'string', expires_at: 'string', openid: 'string' },
  cardOffer: {
    card_id: 'string',
    title: 'string',
    brand_name: 'string',
    color: 'string',
    color_hex: 'string',
    logo_url: 'string',
    held: 'boolean'
  },
  activationParams: { app_id: 'string', extra_data: 'object' },
  extraData: { encrypt_card_id: 'string', outer_str: 'string', biz: 'string' },
  memberCard: {
    card_id: 'string',
    title: 'string',
    brand_name: 'string',
    color_hex: 'string',
    logo_url: 'string',
    membership_number: 'string?',
    code: 'string',
    points: 'number',
    balance_cents: 'number',
    level: 'string?',
    status: 'string',
    form_answers: 'any',
    activated_at: 'string?'
  },
  // GET /api/v1/me/cards/{card_id}/ledger: one page, newest first; next_cursor is null on the last page.
  ledgerPage: { entries: 'array', next_cursor: 'string?' },
  ledgerEntry: {
    id: 'number',
    member_id: 'number',
    kind: 'string',
    amount: 'number',
    resulting_total: 'number',
    reason: 'string',
    note: 'string?',
    actor: 'string',
    idempotency_key: 'string',
    reverses_id: 'number?',
    created_at: 'string'
  }
};

/** The problems of `value` against one of SHAPES (an empty list when it fits). */
function shapeProblems(value, shape, where) {
  const at = where || 'value';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return [at + ' is not an object'];
  }
  const problems = [];
  Object.keys(shape).forEach(function (key) {
    const want = shape[key];
    const optional = want.charAt(want.length - 1) === '?';
    const type = optional ? want.slice(0, -1) : want;
    const v = value[key];
    if (type === 'any') {
      if (!(key in value)) problems.push(at + '.' + key + ' is missing');
      return;
    }
    if (v === undefined) {
      problems.push(at + '.' + key + ' is missing');
    } else if (v === null) {
      if (!optional) problems.push(at + '.' + key + ' is null');
    } else if (type === 'array' ? !Array.isArray(v) : type === 'object' ? typeof v !== 'object' || Array.isArray(v) : typeof v !== type) {
      problems.push(at + '.' + key + ' should be ' + type);
    }
  });
  return problems;
}

/** An API failure with a friendly message. */
class ApiError extends Error {
  constructor(code, options) {
    const opts = options || {};
    super(messageFor(code));
    this.name = 'ApiError';
    this.code = code;
    this.status = opts.status || 0;
    // The server's own sentence (English, for logs), not shown to members.
    this.detail = opts.detail || '';
  }
}

/** The friendly sentence for an error code. */
function messageFor(code) {
  return i18n.text('errors.' + code) || i18n.text('errors.unknown');
}

/** Codes the client makes up itself; every other code in i18n `errors` is one the server answers. */
const CLIENT_CODES = ['network', 'login_failed', 'bad_component', 'bad_response', 'unknown'];

/** Codes worth a "try again" button. */
const RETRYABLE = ['network', 'login_failed', 'wechat_unavailable', 'activation_in_progress', 'internal', 'unknown', 'bad_response'];

function isRetryable(err) {
  return !!err && RETRYABLE.indexOf(err.code) >= 0;
}

function headerValue(headers, name) {
  if (!headers) return undefined;
  const wanted = name.toLowerCase();
  const keys = Object.keys(headers);
  for (let i = 0; i < keys.length; i++) {
    if (keys[i].toLowerCase() === wanted) return headers[keys[i]];
  }
  return undefined;
}

/** Retry-After in milliseconds, kept between 1 and 10 seconds (2 when absent or not a number). */
function retryAfterMs(headers) {
  const seconds = parseInt(headerValue(headers, 'Retry-After'), 10);
  if (!(seconds > 0)) return 2000;
  return Math.min(Math.max(seconds, 1), 10) * 1000;
}

function defaultSleep(ms) {
  return new Promise(function (resolve) {
    setTimeout(resolve, ms);
  });
}

/**
 * A client bound to a `wx` object.
 * options: { wx, baseUrl, appId, sleep, maxInProgressPolls, timeoutMs, sandboxUser }
 */
function createClient(options) {
  const wxApi = options.wx;
  const baseUrl = String(options.baseUrl || '').replace(/\/+$/, '');
  const appId = options.appId || '';
  const sleep = options.sleep || defaultSleep;
  const maxPolls = options.maxInProgressPolls || 8;
  const timeoutMs = options.timeoutMs || 15000;
  const sandboxUser = options.sandboxUser || '';
  let session = null;
  let loggingIn = null;

  function loadSession() {
    if (session) return session;
    try {
      const stored = wxApi.getStorageSync(constants.SESSION_KEY);
      if (stored && typeof stored.token === 'string') session = stored;
    } catch (e) {
      session = null;
    }
    return session;
  }

  function saveSession(s) {
    session = s;
    try {
      wxApi.setStorageSync(constants.SESSION_KEY, s);
    } catch (e) {
      // Storage full or unavailable: the session still lives in memory.
    }
  }

  function clearSession() {
    session = null;
    try {
      wxApi.removeStorageSync(constants.SESSION_KEY);
    } catch (e) {
      // nothing stored
    }
  }

  function validToken() {
    const s = loadSession();
    if (!s) return null;
    const expires = Date.parse(s.expires_at);
    // Renew a minute early rather than send a token that dies in flight.
    if (!isNaN(expires) && expires - 60000 <= Date.now()) return null;
    return s.token;
  }

  /** wx.request as a promise of {status, data, headers}; rejects only with ApiError('network'). */
  function send(method, path, body, token) {
    return new Promise(function (resolve, reject) {
      const header = { Accept: 'application/json' };
      if (body !== undefined) header['Content-Type'] = 'application/json';
      if (token) header.Authorization = 'Bearer ' + token;
      wxApi.request({
        url: baseUrl + path,
        method: method,
        data: body,
        header: header,
        dataType: 'json',
        timeout: timeoutMs,
        success: function (res) {
          resolve({ status: res.statusCode, data: res.data, headers: res.header || {} });
        },
        fail: function (res) {
          reject(new ApiError('network', { detail: (res && res.errMsg) || 'request failed' }));
        }
      });
    });
  }

  function errorFrom(res) {
    const data = res.data;
    if (data && typeof data === 'object' && typeof data.code === 'string') {
      return new ApiError(data.code, { status: res.status, detail: data.message || '' });
    }
    return new ApiError(res.status >= 500 ? 'internal' : 'unknown', { status: res.status, detail: 'HTTP ' + res.status });
  }

  /**
   * Sandbox only: a login code minted by the `kaika serve` simulator for a made-up user, because a real
   * wx.login code (from DevTools or a phone) cannot be exchanged by the simulator. Never set in production.
   */
  function sandboxLoginCode() {
    return send('GET', '/sim/control/accounts', undefined, null)
      .then(function (res) {
        const account = res.status === 200 && Array.isArray(res.data) ? res.data.filter(function (a) {
          return a && a.mini_program;
        })[0] : null;
        if (!account) throw new ApiError('login_failed', { status: res.status, detail: 'no sandbox simulator at ' + baseUrl });
        return send('POST', '/sim/control/login-codes', { app_id: account.app_id, user: sandboxUser }, null);
      })
      .then(function (res) {
        if (res.status !== 200 || !res.data || typeof res.data.code !== 'string') {
          throw new ApiError('login_failed', { status: res.status, detail: 'the simulator minted no code' });
        }
        return res.data.code;
      });
  }

  function wxLogin() {
    if (sandboxUser) return sandboxLoginCode();
    return new Promise(function (resolve, reject) {
      wxApi.login({
        success: function (res) {
          if (res && res.code) resolve(res.code);
          else reject(new ApiError('login_failed', { detail: 'wx.login gave no code' }));
        },
        fail: function (res) {
          reject(new ApiError('login_failed', { detail: (res && res.errMsg) || 'wx.login failed' }));
        }
      });
    });
  }

  /** wx.login → POST /api/v1/sessions; concurrent callers share one login. */
  function login() {
    if (loggingIn) return loggingIn;
    loggingIn = wxLogin()
      .then(function (code) {
        const body = { code: code };
        if (appId) body.app_id = appId;
        return send('POST', '/api/v1/sessions', body, null);
      })
      .then(function (res) {
        if (res.status !== 200) throw errorFrom(res);
        if (shapeProblems(res.data, SHAPES.session).length) {
          throw new ApiError('bad_response', { status: res.status, detail: 'session' });
        }
        // The openid is kept for testers: it is what the merchant puts on the test whitelist.
        saveSession({ token: res.data.token, expires_at: res.data.expires_at, openid: res.data.openid });
        return res.data;
      })
      .then(
        function (s) {
          loggingIn = null;
          return s;
        },
        function (err) {
          loggingIn = null;
          throw err;
        }
      );
    return loggingIn;
  }

  /** An authenticated call; resolves {status, data, headers} for any 2xx. */
  function call(method, path, body) {
    function attempt(retried) {
      const token = validToken();
      const ready = token ? Promise.resolve(token) : login().then(function (s) {
        return s.token;
      });
      return ready
        .then(function (t) {
          return send(method, path, body, t);
        })
        .then(function (res) {
          if (res.status >= 200 && res.status < 300) return res;
          const err = errorFrom(res);
          if (err.code === 'invalid_session' && !retried) {
            clearSession();
            return attempt(true);
          }
          throw err;
        });
    }
    return attempt(false);
  }

  function data(res) {
    return res.data;
  }

  function checked(shape, what) {
    return function (value) {
      const problems = shapeProblems(value, shape, what);
      if (problems.length) throw new ApiError('bad_response', { detail: problems.join('; ') });
      return value;
    };
  }

  function checkedList(shape, what) {
    return function (value) {
      if (!Array.isArray(value)) throw new ApiError('bad_response', { detail: what + ' is not a list' });
      value.forEach(function (item, i) {
        checked(shape, what + '[' + i + ']')(item);
      });
      return value;
    };
  }

  /** GET /api/v1/cards: the merchant's cards, each with `held`. */
  function getCards() {
    return call('GET', '/api/v1/cards').then(data).then(checkedList(SHAPES.cardOffer, 'cards'));
  }

  /** GET /api/v1/cards/{card_id}/activation-params?channel=…: {app_id, extra_data}. */
  function getActivationParams(cardId, channel) {
    let path = '/api/v1/cards/' + encodeURIComponent(cardId) + '/activation-params';
    if (channel) path += '?channel=' + encodeURIComponent(channel);
    return call('GET', path)
      .then(data)
      .then(checked(SHAPES.activationParams, 'activation-params'))
      .then(function (params) {
        checked(SHAPES.extraData, 'extra_data')(params.extra_data);
        return params;
      });
  }

  /**
   * POST /api/v1/activations with what App.onShow received. Resolves the member card; while the server
   * answers 202 it waits Retry-After and asks again (the server is idempotent per ticket).
   */
  function activate(ticket) {
    const body = {
      activate_ticket: ticket.activate_ticket,
      card_id: ticket.card_id,
      encrypt_code: ticket.encrypt_code
    };
    function poll(n) {
      return call('POST', '/api/v1/activations', body).then(function (res) {
        if (res.status !== 202) return checked(SHAPES.memberCard, 'member')(res.data);
        if (n + 1 >= maxPolls) throw new ApiError('activation_in_progress', { status: 202 });
        return sleep(retryAfterMs(res.headers)).then(function () {
          return poll(n + 1);
        });
      });
    }
    return poll(0);
  }

  /** GET /api/v1/me/cards. */
  function myCards() {
    return call('GET', '/api/v1/me/cards').then(data).then(checkedList(SHAPES.memberCard, 'me/cards'));
  }

  /** GET /api/v1/me/cards/{card_id}; rejects with `membership_not_found` when not held. */
  function myCard(cardId) {
    return call('GET', '/api/v1/me/cards/' + encodeURIComponent(cardId)).then(data).then(checked(SHAPES.memberCard, 'member'));
  }

  /**
   * GET /api/v1/me/cards/{card_id}/ledger?cursor=&limit=: one page of the member's points and balance
   * history, newest first: {entries, next_cursor}. Pass the previous page's next_cursor for the next one;
   * next_cursor is null on the last page. Rejects with `membership_not_found`, `invalid_cursor`, ….
   */
  function ledger(cardId, cursor, limit) {
    const query = [];
    if (cursor) query.push('cursor=' + encodeURIComponent(cursor));
    if (limit) query.push('limit=' + encodeURIComponent(limit));
    const path = '/api/v1/me/cards/' + encodeURIComponent(cardId) + '/ledger' + (query.length ? '?' + query.join('&') : '');
    return call('GET', path)
      .then(data)
      .then(checked(SHAPES.ledgerPage, 'ledger'))
      .then(function (page) {
        checkedList(SHAPES.ledgerEntry, 'ledger.entries')(page.entries);
        return page;
      });
  }

  return {
    login: login,
    clearSession: clearSession,
    getCards: getCards,
    getActivationParams: getActivationParams,
    activate: activate,
    myCards: myCards,
    myCard: myCard,
    ledger: ledger
  };
}

let shared = null;

/** The app's client, bound to the global `wx` and config.js. */
function client() {
  if (!shared) {
    shared = createClient({
      wx: wx,
      baseUrl: config.apiBaseUrl,
      appId: config.miniAppId,
      timeoutMs: config.requestTimeoutMs,
      sandboxUser: config.sandboxUser
    });
  }
  return shared;
}

/** Forgets the shared client (tests). */
function resetClient() {
  shared = null;
}

module.exports = {
  ApiError,
  CLIENT_CODES,
  SHAPES,
  createClient,
  client,
  resetClient,
  isRetryable,
  messageFor,
  retryAfterMs,
  shapeProblems
};
