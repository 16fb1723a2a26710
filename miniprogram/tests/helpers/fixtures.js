// Response bodies shaped like the server's (tests/unit/fixtures.test.js checks them against
// utils/api.js SHAPES, and tests/contract checks SHAPES against the real server).
const CARD_ID = 'pZI8Fj2vKq0CkB1sMmY4dXc7Re9A';
const OTHER_CARD_ID = 'pZI8FjQ3wErTyUiOpAsDfGhJkL0z';

const offer = {
  card_id: CARD_ID,
  title: '开卡会员卡',
  brand_name: 'Kaika 咖啡',
  color: 'Color010',
  color_hex: '#63b359',
  logo_url: 'https://example.invalid/logo.png',
  held: false
};

const otherOffer = Object.assign({}, offer, {
  card_id: OTHER_CARD_ID,
  title: '储值卡',
  color: 'Color040',
  color_hex: '#cc463d',
  held: true
});

const params = {
  app_id: 'wxeb490c6f9b154ef9',
  extra_data: {
    encrypt_card_id: '3+m9vVGt9YzgCphZE8Z28dUux7i0jgCUWu32QayFZsscPd7oyXGsHp9HoOjH9ML+',
    outer_str: 'store_front',
    biz: 'MzU2ODQzMDM1MQ=='
  }
};

const member = {
  card_id: CARD_ID,
  title: '开卡会员卡',
  brand_name: 'Kaika 咖啡',
  color_hex: '#63b359',
  logo_url: 'https://example.invalid/logo.png',
  membership_number: 'KK00000042',
  code: '226009850808',
  points: 1280,
  balance_cents: 123456,
  level: '金卡',
  status: 'active',
  form_answers: { common_field_list: [{ name: 'USER_FORM_INFO_FLAG_MOBILE', value: '13800138000' }] },
  activated_at: '2026-11-26T10:00:00Z'
};

const extraData = {
  activate_ticket: 'fDZv9eMQAFfrNr3XBoqhb8eUX67DFb6h8yXDelGSMDLfg2OAIGQcU7mEKecnWZBK++vm/tZxZJrbRkdJB/UmpVoJkEsbeH+OefcntAsYDKA=',
  card_id: CARD_ID,
  code: 'XXIzTtMqCxwOaawoE91+VJdsFmv7b8g0VZIZkqf4GWA60Fzpc8ksZ/5ZZ0DVkXdE'
};

/** A ledger entry like the server's LedgerEntryDto; `over` replaces fields. */
function ledgerEntry(over) {
  return Object.assign(
    {
      id: 1,
      member_id: 42,
      kind: 'points',
      amount: 100,
      resulting_total: 100,
      reason: 'welcome',
      note: null,
      actor: 'system',
      idempotency_key: 'welcome:42',
      reverses_id: null,
      created_at: '2026-11-26T10:00:00.123456Z'
    },
    over || {}
  );
}

/** The history of `member` (newest first): two pages of two entries, then one. */
const ledgerPages = [
  {
    entries: [
      ledgerEntry({ id: 5, kind: 'balance', amount: -1250, resulting_total: 123456, reason: 'purchase', note: '拿铁 ×2', actor: 'api_key:pos', idempotency_key: 'pos-5' }),
      ledgerEntry({ id: 4, kind: 'points', amount: 1180, resulting_total: 1280, reason: 'adjustment', actor: 'admin:lin', idempotency_key: 'adj-4' })
    ],
    next_cursor: '4'
  },
  {
    entries: [
      ledgerEntry({ id: 3, kind: 'balance', amount: 124706, resulting_total: 124706, reason: 'import', actor: 'admin:lin', idempotency_key: 'imp-3' }),
      ledgerEntry({ id: 2, kind: 'points', amount: 0, resulting_total: 100, reason: 'brand_new_reason', idempotency_key: 'x-2' })
    ],
    next_cursor: '2'
  },
  { entries: [ledgerEntry()], next_cursor: null }
];

function session(n) {
  return { token: 'token-' + (n || 1), expires_at: '2099-01-01T00:00:00Z', openid: 'o-mini-' + (n || 1) };
}

module.exports = { CARD_ID, OTHER_CARD_ID, offer, otherOffer, params, member, extraData, ledgerEntry, ledgerPages, session };
