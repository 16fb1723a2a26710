// A scripted stand-in for Kaika's /api/v1 behind the fake wx.request. Each route can be overridden per
// test; it checks the bearer token like the real server does.
const { reply } = require('./fake-wx.js');
const fx = require('./fixtures.js');

function createFakeServer(overrides) {
  const state = {
    sessions: 0,
    validTokens: {},
    routes: Object.assign(
      {
        cards: function () {
          return reply(200, [fx.offer, fx.otherOffer]);
        },
        params: function () {
          return reply(200, fx.params);
        },
        activations: function () {
          return reply(200, fx.member);
        },
        myCards: function () {
          return reply(200, [fx.member]);
        },
        myCard: function () {
          return reply(200, fx.member);
        },
        // The pages of fx.ledgerPages, by cursor ('' → the first).
        ledger: function (req) {
          const cursor = new URL(req.url).searchParams.get('cursor') || '';
          const at = cursor ? fx.ledgerPages.findIndex((p, i) => i > 0 && fx.ledgerPages[i - 1].next_cursor === cursor) : 0;
          if (at < 0) return reply(400, { code: 'invalid_cursor', message: 'use next_cursor of the previous page' });
          return reply(200, fx.ledgerPages[at]);
        }
      },
      overrides || {}
    )
  };

  function authorised(req) {
    const h = req.header.Authorization || '';
    return h.indexOf('Bearer ') === 0 && state.validTokens[h.slice(7)];
  }

  state.handle = function (req) {
    const path = req.path.split('?')[0];
    if (req.method === 'POST' && path === '/api/v1/sessions') {
      if (state.routes.sessions) return state.routes.sessions(req);
      state.sessions += 1;
      const s = fx.session(state.sessions);
      state.validTokens[s.token] = true;
      return reply(200, s);
    }
    if (!authorised(req)) {
      return reply(401, { code: 'invalid_session', message: 'log in again: the session is missing, unknown or expired' });
    }
    if (req.method === 'GET' && path === '/api/v1/cards') return state.routes.cards(req);
    if (req.method === 'GET' && /^\/api\/v1\/cards\/[^/]+\/activation-params$/.test(path)) return state.routes.params(req);
    if (req.method === 'POST' && path === '/api/v1/activations') return state.routes.activations(req);
    if (req.method === 'GET' && path === '/api/v1/me/cards') return state.routes.myCards(req);
    if (req.method === 'GET' && /^\/api\/v1\/me\/cards\/[^/]+$/.test(path)) return state.routes.myCard(req);
    if (req.method === 'GET' && /^\/api\/v1\/me\/cards\/[^/]+\/ledger$/.test(path)) return state.routes.ledger(req);
    return reply(404, { code: 'not_found', message: 'no route ' + path });
  };
  return state;
}

module.exports = { createFakeServer };
