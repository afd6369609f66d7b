// The CodeMirror code-cell editor bundle (dist/editor.js, from editor/) on its
// own: the `window.OdeonEditor` contract, Rhai highlighting, keys, history;
// and its line numbers in a shipped notebook. The app's use of it is tested
// with the notebook.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, openPage, screenshot, closePage, assertNoErrors } from '../lib.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const SOURCE = [
  '// train the model',
  'let steps = if profile == "ci" { 150 } else { 2_000 };',
  'const lr = 1e-3;',
  'fn twice(x) { return x * 2; } /* block */',
  'let m = #{ name: `run ${steps}`, c: \'x\', ok: true };',
  'print(m.name.len());',
].join('\n');

/** Mounts an editor in a fresh box; records the callbacks in window.__ed. */
async function mount(page, doc = SOURCE) {
  await page.evaluate((text) => {
    const box = document.createElement('div');
    box.id = 'editor-box';
    box.style.cssText = 'max-width: 860px; margin: 1rem auto; background: #fff;';
    document.body.prepend(box);
    const ed = { changes: [], runs: 0, advances: 0 };
    ed.handle = window.OdeonEditor.create(box, text, {
      onChange: (t) => ed.changes.push(t),
      onRun: () => { ed.runs += 1; },
      onRunAdvance: () => { ed.advances += 1; },
      ariaLabel: 'Cell test',
    });
    window.__ed = ed;
  }, doc);
  return page.locator('#editor-box .cell-editor .cm-content');
}

const state = (page) => page.evaluate(() => ({
  doc: window.__ed.handle.getDoc(),
  changes: window.__ed.changes.slice(),
  runs: window.__ed.runs,
  advances: window.__ed.advances,
}));

/** Text -> computed colour of the highlighted spans in the editor. */
const colours = (page) => page.evaluate(() => {
  const out = {};
  for (const span of document.querySelectorAll('#editor-box .cm-line span')) {
    out[span.textContent] ??= getComputedStyle(span).color;
  }
  return out;
});

test('editor bundle: contract, classes and Rhai highlighting', async () => {
  const page = await openPage(browser, '');
  try {
    assert.equal(await page.evaluate(() => typeof window.OdeonEditor?.create), 'function');
    const content = await mount(page);
    await content.waitFor();
    const outer = page.locator('#editor-box > *');
    assert.equal(await outer.count(), 1);
    const classes = (await outer.getAttribute('class')).split(/\s+/);
    assert.ok(classes.includes('cell-editor') && classes.includes('cm-editor'), classes.join(' '));
    assert.equal(await content.getAttribute('contenteditable'), 'true');
    assert.equal(await content.getAttribute('role'), 'textbox');
    assert.equal(await content.getAttribute('aria-label'), 'Cell test');
    assert.equal(await page.locator('#editor-box .cm-lineNumbers .cm-gutterElement', { hasText: /^6$/ }).count(), 1, 'line numbers');
    assert.equal((await state(page)).doc, SOURCE);

    const c = await colours(page);
    const plain = await content.evaluate((el) => getComputedStyle(el).color);
    const expect = {
      'let': 'rgb(123, 44, 158)', 'if': 'rgb(123, 44, 158)', 'fn': 'rgb(123, 44, 158)', 'return': 'rgb(123, 44, 158)',
      '2_000': 'rgb(11, 106, 106)', '1e-3': 'rgb(11, 106, 106)', '150': 'rgb(11, 106, 106)',
      '"ci"': 'rgb(45, 106, 31)', "'x'": 'rgb(45, 106, 31)', 'true': 'rgb(156, 70, 0)',
      '#': 'rgb(156, 70, 0)', '`run ': 'rgb(31, 111, 82)', '${': 'rgb(31, 111, 82)',
      '// train the model': 'rgb(107, 107, 112)', '/* block */': 'rgb(107, 107, 112)',
      'twice': 'rgb(59, 91, 219)', 'print': 'rgb(47, 74, 192)', 'len': 'rgb(47, 74, 192)',
    };
    for (const [text, colour] of Object.entries(expect)) {
      assert.equal(c[text], colour, `colour of ${JSON.stringify(text)} (all: ${JSON.stringify(c)})`);
    }
    // Inside `...${steps}` the variable is code again (plain text, no string colour).
    assert.equal(c['}'], expect['${'], 'the interpolation closes');
    assert.ok(!Object.keys(c).some((k) => k.includes('steps')), `steps is not string-coloured: ${JSON.stringify(c)}`);
    assert.notEqual(plain, expect.let);
    await page.locator('#editor-box').screenshot({ path: (await screenshot(page, 'editor-bundle')).replace(/\.png$/, '-box.png') });
    assertNoErrors(page);
  } finally {
    await closePage(page);
  }
});

test('editor bundle: typing, keys, brackets, undo, setDoc, destroy', async () => {
  const page = await openPage(browser, '');
  try {
    const content = await mount(page, 'let a = 1;');
    await content.click();
    await page.keyboard.press('Control+End');
    await page.keyboard.press('Enter');
    await page.keyboard.type('f(');
    let s = await state(page);
    assert.equal(s.doc, 'let a = 1;\nf()', 'the bracket closes itself');
    assert.equal(s.changes.at(-1), s.doc, 'onChange gets the whole text');
    await page.keyboard.type('a)');
    assert.equal((await state(page)).doc, 'let a = 1;\nf(a)', 'typing the closer steps over it');
    // The cursor sits after `)`: both brackets are marked.
    assert.equal(await page.locator('#editor-box .cm-matchingBracket').count(), 2, 'bracket matching');

    // Run keys take precedence and do not edit the text.
    const before = (await state(page)).doc;
    await page.keyboard.press('Control+Enter');
    await page.keyboard.press('Shift+Enter');
    s = await state(page);
    assert.equal(s.runs, 1);
    assert.equal(s.advances, 1);
    assert.equal(s.doc, before, 'Mod-Enter / Shift-Enter insert nothing');

    // Tab indents (4 spaces) at the start of the line; Shift-Tab takes it back.
    await page.keyboard.press('Home');
    await page.keyboard.press('Tab');
    assert.equal((await state(page)).doc, 'let a = 1;\n    f(a)');
    await page.keyboard.press('Shift+Tab');
    assert.equal((await state(page)).doc, 'let a = 1;\nf(a)');

    // A new line inside braces is indented.
    await page.keyboard.press('Control+End');
    await page.keyboard.type('\nif a {');
    await page.keyboard.press('Enter');
    await page.keyboard.type('b');
    assert.equal((await state(page)).doc, 'let a = 1;\nf(a)\nif a {\n    b\n}');

    // Undo history.
    for (let i = 0; i < 20; i += 1) await page.keyboard.press('Control+z');
    assert.equal((await state(page)).doc, 'let a = 1;', 'undo back to the start');
    await page.keyboard.press('Control+Shift+z');
    assert.notEqual((await state(page)).doc, 'let a = 1;', 'redo');

    // setDoc: replaces when different, no onChange, undoable.
    const count = (await state(page)).changes.length;
    await page.evaluate(() => window.__ed.handle.setDoc('let z = 9;'));
    s = await state(page);
    assert.equal(s.doc, 'let z = 9;');
    assert.equal(s.changes.length, count, 'setDoc does not call onChange');
    await page.evaluate(() => window.__ed.handle.setDoc('let z = 9;'));
    await page.evaluate(() => window.__ed.handle.focus());
    assert.equal(await page.evaluate(() => !!document.activeElement?.closest('#editor-box .cell-editor')), true, 'focus()');
    await page.keyboard.press('Control+z');
    assert.notEqual((await state(page)).doc, 'let z = 9;', 'setDoc is one undoable step');

    await page.evaluate(() => window.__ed.handle.destroy());
    assert.equal(await page.locator('#editor-box .cell-editor').count(), 0, 'destroy removes the editor');
    assertNoErrors(page);
  } finally {
    await closePage(page);
  }
});

/** Two animation frames: the editors' measurements have run. */
const frames = (page) => page.evaluate(() => new Promise((done) => {
  requestAnimationFrame(() => requestAnimationFrame(done));
}));

/** Per code line of `editor`: its gutter number and that number's centre minus the line's centre (px). */
const gutterOffsets = (editor) => editor.evaluate((el) => {
  const centre = (e) => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; };
  // The gutter's first element is CodeMirror's invisible width spacer.
  const numbers = [...el.querySelectorAll('.cm-lineNumbers .cm-gutterElement')]
    .filter((n) => n.style.visibility !== 'hidden');
  return [...el.querySelectorAll('.cm-line')].map((line, i) => ({
    line: i + 1,
    number: numbers[i]?.textContent ?? null,
    offset: numbers[i] ? Math.round((centre(numbers[i]) - centre(line)) * 100) / 100 : null,
  }));
});

test('editor in a notebook: each line number sits beside its code line, in view and in full-page screenshots', async () => {
  const page = await openPage(browser, '#/nb/rectified-flow');
  try {
    await page.locator('.notebook .cell .cell-editor .cm-content').first().waitFor();
    await frames(page);
    // The longest cell whose editor starts below the fold: CodeMirror measures
    // an editor only in view, and a full-page screenshot never scrolls there.
    const cell = await page.evaluate(() => {
      let best = null;
      for (const c of document.querySelectorAll('.notebook .cell[data-cell]')) {
        const editor = c.querySelector('.cell-editor');
        const lines = c.querySelectorAll('.cm-line').length;
        if (editor && editor.getBoundingClientRect().top > innerHeight && lines > (best?.lines ?? 0)) {
          best = { name: c.getAttribute('data-cell'), lines };
        }
      }
      return best;
    });
    assert.ok(cell && cell.lines >= 10, `a cell of 10+ lines below the fold: ${JSON.stringify(cell)}`);
    const editor = page.locator(`[data-cell="${cell.name}"] .cell-editor`);
    // CodeMirror measures line heights only once an editor has been in view
    // (until then the gutter uses estimated heights); the screenshot helper
    // scrolls through the page first, so its captures show measured cells.
    for (const where of ['after a full-page screenshot', 'scrolled into view']) {
      if (where === 'after a full-page screenshot') {
        await screenshot(page, 'editor-line-numbers');
      } else {
        await editor.scrollIntoViewIfNeeded();
        await frames(page);
      }
      const lines = await gutterOffsets(editor);
      assert.equal(lines.length, cell.lines);
      const off = lines.filter((l) => l.number !== String(l.line) || !(Math.abs(l.offset) <= 2));
      assert.deepEqual(off, [], `cell ${cell.name}, ${where}: line numbers beside other lines (offset: number centre - line centre, px)`);
    }
    assertNoErrors(page);
  } finally {
    await closePage(page);
  }
});
