// Odeon's code-cell editor: CodeMirror 6 with a small Rhai mode.
//
// `cargo xtask build` bundles this file (esbuild, minified ESM) into
// dist/editor.js, which web/index.html loads as a module script before the
// app, so the global below exists when the app starts. The app falls back to
// a plain <textarea> when it does not.
//
// Contract (what the app may rely on):
//
//   window.OdeonEditor.create(parent, doc, callbacks) -> handle
//     parent     an element; the editor is appended to it
//     doc        the initial text (string)
//     callbacks  { onChange(text), onRun(), onRunAdvance(), ariaLabel? }, all optional
//       onChange(text)  after every edit made in the editor (typing, paste,
//                       undo/redo, ...) with the whole new text; NOT called
//                       for changes made through handle.setDoc
//       onRun()         Ctrl+Enter (Cmd+Enter on macOS): run this cell
//       onRunAdvance()  Shift+Enter: run this cell and move to the next
//       ariaLabel       accessible name of the text box (e.g. "Cell train")
//
//   handle.getDoc()      the current text
//   handle.setDoc(text)  replace the text when it differs (one ordinary,
//                        undoable transaction that changes only the part that
//                        differs, so the cursor stays where it can); no-op
//                        when equal
//   handle.focus()       move keyboard focus into the editor
//   handle.destroy()     remove the editor from the page and free it
//
// The editor's outer element has the class `cell-editor` (besides
// CodeMirror's `cm-editor`); its text box is `.cell-editor .cm-content`
// (contenteditable, role=textbox). Mod-Enter and Shift-Enter take precedence
// over every other binding. Tab indents; press Escape first to let Tab move
// focus out of the editor (CodeMirror's tab-focus mode).

import { EditorState, Prec, Annotation } from '@codemirror/state';
import {
  EditorView, keymap, lineNumbers, highlightActiveLineGutter, highlightSpecialChars,
  drawSelection, highlightActiveLine,
} from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import {
  StreamLanguage, HighlightStyle, syntaxHighlighting, bracketMatching, indentOnInput,
  indentUnit,
} from '@codemirror/language';
import { closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
import { tags as t } from '@lezer/highlight';

// ---------------------------------------------------------------------------
// Rhai tokenizer (a StreamLanguage: a line-by-line tokenizer with a state).

const CONTROL = new Set([
  'if', 'else', 'for', 'in', 'while', 'loop', 'do', 'until', 'return', 'break',
  'continue', 'switch', 'throw', 'try', 'catch',
]);
const DEFINITION = new Set(['let', 'const', 'fn']);
const MODULE = new Set(['import', 'export', 'as', 'private']);

const NUMBER = /^(?:0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d[\d_]*)?)/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;
const OPERATOR = /^(?:\.\.=?|\?\?|\?\.|\?\[|=>|->|&&|\|\||\*\*=?|<<=?|>>=?|[-+*/%&|^=!<>]=?|[?~@$])/;
const CHAR = /^'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^'\\])'/;
const ESCAPE = /^\\(?:u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.)/;
const TEMPLATE = -1; // stack entry for an open `template string`

/** The tokenizer's state between lines. */
function startState() {
  return {
    comment: 0, // depth of nested /* */ comments (Rhai nests them)
    string: false, // inside a "string" continued with a trailing backslash
    stack: [], // TEMPLATE, or the brace depth inside a ${...} interpolation
    depth: 0, // open ( [ { outside strings, for indentation
    prev: '', // the previous significant token: 'fn', '.', or ''
  };
}

function copyState(s) {
  return { ...s, stack: s.stack.slice() };
}

function blockComment(stream, state) {
  while (!stream.eol()) {
    if (stream.match('/*')) state.comment++;
    else if (stream.match('*/')) {
      state.comment--;
      if (state.comment === 0) break;
    } else stream.next();
  }
  return 'blockComment';
}

function stringBody(stream, state) {
  // Escapes get tokens of their own so they stand out.
  if (stream.peek() === '\\') {
    if (stream.match(ESCAPE)) return 'escape';
    stream.next(); // a backslash at the end of the line: the string goes on
    return 'string';
  }
  while (!stream.eol()) {
    const ch = stream.peek();
    if (ch === '\\') return 'string';
    stream.next();
    if (ch === '"') {
      state.string = false;
      return 'string';
    }
  }
  state.string = false; // unterminated: it ends with the line
  return 'string';
}

function templateBody(stream, state) {
  if (stream.match('${')) {
    state.stack.push(0);
    return 'punctuation.special';
  }
  if (stream.eat('`')) {
    state.stack.pop();
    return 'string.special';
  }
  while (!stream.eol() && stream.peek() !== '`' && !stream.match('${', false)) stream.next();
  return 'string.special';
}

function token(stream, state) {
  if (state.comment > 0) return blockComment(stream, state);
  if (state.string) return stringBody(stream, state);
  const top = state.stack.length ? state.stack[state.stack.length - 1] : null;
  if (top === TEMPLATE) return templateBody(stream, state);
  if (stream.eatSpace()) return null;

  const prev = state.prev;
  state.prev = '';
  if (stream.match('//')) {
    stream.skipToEnd();
    return 'lineComment';
  }
  if (stream.match('/*')) {
    state.comment = 1;
    return blockComment(stream, state);
  }
  const ch = stream.peek();
  if (ch === '"') {
    stream.next();
    state.string = true;
    return stream.peek() === '\\' ? 'string' : stringBody(stream, state);
  }
  if (ch === '`') {
    stream.next();
    state.stack.push(TEMPLATE);
    return 'string.special';
  }
  if (ch === "'") {
    if (stream.match(CHAR)) return 'character';
    stream.next();
    return 'invalid';
  }
  if (ch === '#' && stream.string.charAt(stream.pos + 1) === '{') {
    stream.next();
    return 'meta'; // the `#` of a #{ ... } map literal
  }
  if (stream.match(NUMBER)) return 'number';
  const word = stream.match(IDENT);
  if (word) {
    const w = word[0];
    if (w === 'true' || w === 'false') return 'bool';
    if (w === 'this') return 'self';
    if (CONTROL.has(w)) return 'controlKeyword';
    if (DEFINITION.has(w)) {
      if (w === 'fn') state.prev = 'fn';
      return 'definitionKeyword';
    }
    if (MODULE.has(w)) return 'moduleKeyword';
    if (prev === 'fn') return 'variableName.function.definition';
    if (stream.match('::', false)) return 'namespace';
    const call = stream.match(/^\s*\(/, false);
    if (prev === '.') return call ? 'propertyName.function' : 'propertyName';
    return call ? 'variableName.function' : 'variableName';
  }
  if (/[()[\]{}]/.test(ch)) {
    stream.next();
    const inner = state.stack.length ? state.stack.length - 1 : -1;
    if (ch === '{' || ch === '(' || ch === '[') {
      state.depth++;
      if (inner >= 0 && ch === '{') state.stack[inner]++;
    } else {
      if (inner >= 0 && ch === '}') {
        if (state.stack[inner] === 0) {
          state.stack.pop(); // back into the template string
          return 'punctuation.special';
        }
        state.stack[inner]--;
      }
      state.depth = Math.max(0, state.depth - 1);
    }
    return 'bracket';
  }
  if (stream.match('::')) return 'punctuation';
  if (stream.match(OPERATOR)) {
    if (stream.current() === '?.') state.prev = '.';
    return 'operator';
  }
  if (ch === '.') {
    stream.next();
    state.prev = '.';
    return 'derefOperator';
  }
  if (ch === ',' || ch === ';' || ch === ':') {
    stream.next();
    return 'punctuation';
  }
  stream.next();
  return 'invalid';
}

function indent(state, textAfter, cx) {
  if (state.comment > 0 || state.string || state.stack.length) return null;
  const closing = /^\s*[}\])]/.test(textAfter) ? 1 : 0;
  return Math.max(0, state.depth - closing) * cx.unit;
}

/** Rhai as a CodeMirror language. */
const rhai = StreamLanguage.define({
  name: 'rhai',
  startState,
  copyState,
  token,
  indent,
  languageData: {
    commentTokens: { line: '//', block: { open: '/*', close: '*/' } },
    closeBrackets: { brackets: ['(', '[', '{', '"', '`'] },
    indentOnInput: /^\s*[}\])]$/,
  },
});

// ---------------------------------------------------------------------------
// Looks: the page's palette (web/style.css custom properties, with the same
// values as fallbacks), on the code background of the old textarea.

const highlight = HighlightStyle.define([
  { tag: t.keyword, color: '#7b2c9e' },
  { tag: [t.bool, t.self, t.null, t.atom], color: '#9c4600' },
  { tag: t.number, color: '#0b6a6a' },
  { tag: [t.string, t.character], color: '#2d6a1f' },
  { tag: [t.special(t.string), t.special(t.punctuation)], color: '#1f6f52' },
  { tag: t.escape, color: '#9c4600' },
  { tag: t.comment, color: 'var(--muted, #6b6b70)', fontStyle: 'italic' },
  { tag: t.definition(t.function(t.variableName)), color: 'var(--accent, #3b5bdb)', fontWeight: '600' },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: '#2f4ac0' },
  { tag: t.propertyName, color: '#364152' },
  { tag: t.namespace, color: '#8a3a12' },
  { tag: t.meta, color: '#9c4600', fontWeight: '600' },
  { tag: [t.operator, t.derefOperator], color: '#55555c' },
  { tag: t.invalid, color: 'var(--bad, #c92a2a)', textDecoration: 'underline wavy' },
]);

const theme = EditorView.theme({
  '&.cell-editor': {
    padding: '0',
    border: '0',
    resize: 'none',
    background: 'var(--code-bg, #f3f1ec)',
    color: 'var(--fg, #1d1d1f)',
    fontSize: '0.85rem',
  },
  '&.cm-focused': {
    outline: '2px solid var(--accent, #3b5bdb)',
    outlineOffset: '-2px',
  },
  '.cm-scroller': {
    fontFamily: 'ui-monospace, "SF Mono", Menlo, monospace',
    lineHeight: '1.45',
  },
  '.cm-content': {
    padding: '0.6rem 0',
    caretColor: 'var(--fg, #1d1d1f)',
  },
  '.cm-line': { padding: '0 0.8rem 0 0.4rem' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--fg, #1d1d1f)' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, .cm-content ::selection':
    { background: '#c5d3fb' },
  '.cm-gutters': {
    background: 'var(--code-bg, #f3f1ec)',
    color: 'var(--muted, #6b6b70)',
    border: '0',
    borderRight: '1px solid var(--line, #e2e0da)',
  },
  '.cm-lineNumbers .cm-gutterElement': { padding: '0 0.5rem 0 0.7rem', minWidth: '2ch' },
  '.cm-activeLine': { background: 'transparent' },
  '&.cm-focused .cm-activeLine': { background: 'rgba(59, 91, 219, 0.05)' },
  '.cm-activeLineGutter': { background: 'transparent' },
  '&.cm-focused .cm-activeLineGutter': { background: 'rgba(59, 91, 219, 0.08)', color: 'var(--fg, #1d1d1f)' },
  '&.cm-focused .cm-matchingBracket': {
    background: 'rgba(59, 91, 219, 0.18)',
    outline: '1px solid rgba(59, 91, 219, 0.5)',
  },
  '&.cm-focused .cm-nonmatchingBracket': {
    background: 'rgba(201, 42, 42, 0.15)',
    color: 'var(--bad, #c92a2a)',
  },
}, { dark: false });

// ---------------------------------------------------------------------------
// The editor.

/** Marks transactions made by handle.setDoc (they do not call onChange). */
const external = Annotation.define();

function create(parent, doc, callbacks = {}) {
  const call = (name, ...args) => {
    const f = callbacks[name];
    if (typeof f === 'function') f(...args);
    return true;
  };
  const runKeys = Prec.highest(keymap.of([
    { key: 'Mod-Enter', run: () => call('onRun'), preventDefault: true },
    { key: 'Shift-Enter', run: () => call('onRunAdvance'), preventDefault: true },
  ]));
  const contentAttributes = { 'aria-multiline': 'true' };
  if (callbacks.ariaLabel) contentAttributes['aria-label'] = String(callbacks.ariaLabel);

  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: String(doc ?? ''),
      extensions: [
        runKeys,
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        drawSelection(),
        highlightActiveLine(),
        indentUnit.of('    '),
        EditorState.tabSize.of(4),
        indentOnInput(),
        rhai,
        syntaxHighlighting(highlight),
        bracketMatching(),
        closeBrackets(),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        theme,
        EditorView.editorAttributes.of({ class: 'cell-editor' }),
        EditorView.contentAttributes.of(contentAttributes),
        EditorView.updateListener.of((update) => {
          if (!update.docChanged) return;
          if (update.transactions.every((tr) => tr.annotation(external))) return;
          call('onChange', update.state.doc.toString());
        }),
      ],
    }),
  });

  return {
    getDoc() {
      return view.state.doc.toString();
    },
    setDoc(text) {
      const next = String(text ?? '');
      const current = view.state.doc.toString();
      if (next === current) return;
      // Replace only the differing middle part.
      let from = 0;
      const max = Math.min(current.length, next.length);
      while (from < max && current.charCodeAt(from) === next.charCodeAt(from)) from++;
      let end = 0;
      while (
        end < max - from
        && current.charCodeAt(current.length - 1 - end) === next.charCodeAt(next.length - 1 - end)
      ) end++;
      view.dispatch({
        changes: { from, to: current.length - end, insert: next.slice(from, next.length - end) },
        annotations: external.of(true),
      });
    },
    focus() {
      view.focus();
    },
    destroy() {
      view.destroy();
    },
  };
}

window.OdeonEditor = Object.freeze({ create });
