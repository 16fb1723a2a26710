// The files DevTools reads, the string catalogues, and the vendored code's provenance.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const ROOT = path.resolve(__dirname, '../..');
const read = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const json = (p) => JSON.parse(read(p));

describe('DevTools project files', () => {
  test('app.json: the three pages exist, and the card component is in navigateToMiniProgramAppIdList', () => {
    const app = json('app.json');
    expect(app.pages).toEqual(['pages/index/index', 'pages/member/member', 'pages/ledger/ledger']);
    app.pages.forEach((page) => {
      ['.js', '.json', '.wxml', '.wxss'].forEach((ext) => expect(fs.existsSync(path.join(ROOT, page + ext))).toBe(true));
    });
    expect(app.navigateToMiniProgramAppIdList).toEqual(['wxeb490c6f9b154ef9']);
    expect(fs.existsSync(path.join(ROOT, app.sitemapLocation))).toBe(true);
  });

  test('project.config.json: a miniprogram project with a placeholder AppID, tests not uploaded', () => {
    const project = json('project.config.json');
    expect(project.compileType).toBe('miniprogram');
    expect(project.appid).toBe('touristappid');
    const ignored = project.packOptions.ignore.map((i) => i.value);
    expect(ignored).toEqual(expect.arrayContaining(['tests', 'node_modules', 'package.json']));
  });

  test('the navigator is the <navigator> component, never the deprecated wx.navigateToMiniProgram', () => {
    const files = ['app.js', 'pages/index/index.js', 'pages/member/member.js', 'pages/ledger/ledger.js', 'utils/api.js'];
    files.forEach((f) => expect(read(f)).not.toMatch(/navigateToMiniProgram\s*\(/));
    expect(read('pages/index/index.wxml')).toMatch(/<navigator id="open-card"[^>]*target="miniProgram"[^>]*app-id="\{\{appId\}\}"[^>]*extra-data="\{\{extraData\}\}"[^>]*version="release"/);
  });
});

test('config.js ships without a sandbox user (it would break login on a real server)', () => {
  const config = require('../../config.js');
  expect(config.sandboxUser).toBe('');
  expect(config.locale).toBe('zh-CN');
});

describe('string catalogues', () => {
  const zh = require('../../i18n/zh-CN.js');
  const en = require('../../i18n/en.js');

  function keys(obj, prefix) {
    return Object.keys(obj).reduce((acc, k) => {
      const p = prefix ? prefix + '.' + k : k;
      return typeof obj[k] === 'object' ? acc.concat(keys(obj[k], p)) : acc.concat([p]);
    }, []);
  }

  test('en has exactly the keys of zh-CN, none empty', () => {
    expect(keys(en).sort()).toEqual(keys(zh).sort());
    keys(zh).forEach((k) => {
      const get = (cat) => k.split('.').reduce((o, part) => o[part], cat);
      expect([k, typeof get(zh), get(zh).length > 0]).toEqual([k, 'string', true]);
      expect([k, get(en).length > 0]).toEqual([k, true]);
    });
  });

  test('every server error code documented for /api/v1 has a message', () => {
    const codes = ['invalid_session', 'invalid_login_code', 'ticket_invalid', 'ticket_expired', 'ticket_conflict', 'code_invalid',
      'card_not_found', 'channel_not_found', 'channel_archived', 'card_not_approved', 'wechat_unavailable', 'activation_in_progress',
      'membership_not_found', 'account_not_found', 'app_id_required', 'mini_program_not_configured', 'card_misconfigured',
      'invalid_request', 'internal', 'invalid_cursor', 'invalid_limit'];
    codes.forEach((c) => expect([c, typeof zh.errors[c]]).toEqual([c, 'string']));
  });

  test('no Chinese text in WXML or page scripts: every string comes from a catalogue', () => {
    const cjk = /[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]/;
    const files = ['pages/index/index', 'pages/member/member', 'pages/ledger/ledger']
      .reduce((acc, p) => acc.concat([p + '.wxml', p + '.js', p + '.json']), ['app.js', 'app.json', 'utils/api.js', 'utils/format.js']);
    files.forEach((f) => {
      const withoutComments = read(f).replace(/<!--[\s\S]*?-->/g, '').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      expect([f, cjk.test(withoutComments)]).toEqual([f, false]);
    });
  });

  test('every {{t.key}} used in a page exists in its catalogue section', () => {
    const i18n = require('../../utils/i18n.js');
    ['index', 'member', 'ledger'].forEach((page) => {
      const section = i18n.section(page);
      const used = read('pages/' + page + '/' + page + '.wxml').match(/\bt\.[A-Za-z]+/g) || [];
      expect(used.length).toBeGreaterThan(0);
      used.forEach((u) => expect([page, u, typeof section[u.slice(2)]]).toEqual([page, u, 'string']));
    });
  });

  test('config.locale picks the catalogue', () => {
    const i18n = require('../../utils/i18n.js');
    expect(i18n.text('index.open', 'en')).toBe(en.index.open);
    expect(i18n.text('index.open', 'zh-CN')).toBe(zh.index.open);
    expect(i18n.text('index.nope')).toBeUndefined();
  });
});

describe('vendored code', () => {
  test('qrcode-generator is the recorded, unchanged copy, with its licence', () => {
    const src = fs.readFileSync(path.join(ROOT, 'vendor/qrcode-generator/qrcode.js'));
    expect(crypto.createHash('sha256').update(src).digest('hex')).toBe('18ae399f81182bc9de916e9c77b195df20cc58d6f2d55a62b085a299f1bf1780');
    expect(read('vendor/qrcode-generator/LICENSE')).toMatch(/MIT License[\s\S]*Kazuhiko Arase/);
    expect(read('vendor/README.md')).toContain('18ae399f81182bc9de916e9c77b195df20cc58d6f2d55a62b085a299f1bf1780');
  });

  test('code128 has its licence', () => {
    expect(read('vendor/code128/LICENSE')).toMatch(/Apache License[\s\S]*Version 2\.0/);
  });
});
